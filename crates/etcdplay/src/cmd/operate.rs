//! `etcdplay backup`, `etcdplay restore` and `etcdplay defrag`: operations on a running (or lost) cluster, each
//! a built-in playbook (`playbooks/etcd-backup.yml`, `etcd-restore.yml`, `etcd-defrag.yml`, sharing the cluster
//! playbook's variables) run by `apply`'s machinery, so inventories, connections, become and
//! `-e` work as for `apply`. The options become extra variables of the playbook; what the
//! operation did is printed after Ansible's stream, or alone as JSON with `--json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use etcdplay_transport::HostKeyChecking;
use serde_json::{json, Value};

use crate::cmd::apply::{self, ApplyArgs, ConnectionArgs};
use crate::default_playbook::Builtin;
use crate::exit::ExitCode;
use crate::output::operation::OperationReporter;

/// Options every operation takes, as `apply` does.
#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// Inventory file, directory or `host1,host2,` list; may be given several times.
    #[arg(short = 'i', long = "inventory")]
    inventory: Vec<String>,
    /// Extra variables of the built-in playbooks (`etcd_group=NAME`, `etcd_tls=false`, ...).
    #[arg(short = 'e', long = "extra-vars")]
    extra_vars: Vec<String>,
    /// Print only a JSON document of what was done (stdout).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// The inventory's vaulted values need the vault secrets, as for `apply`.
    #[command(flatten)]
    vault: crate::vault_args::VaultArgs,
    /// Seconds to wait for a host's SSH connection.
    #[arg(short = 'T', long, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: Option<u64>,
    /// How to treat host keys: ssh-config, strict, accept-new or off.
    #[arg(long, value_parser = apply::parse_host_key_checking)]
    host_key_checking: Option<HostKeyChecking>,
    /// known_hosts file for host keys (default: ssh's own).
    #[arg(long)]
    known_hosts: Option<PathBuf>,
    /// More output (-v shows results).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
}

/// Options of `etcdplay backup`.
#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Directory for the snapshot and its sidecar (default: `backups/` beside the inventory).
    #[arg(long)]
    dest: Option<PathBuf>,
    /// Keep only the newest N backups in the directory (default: all).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    keep: Option<u64>,
    /// Instead of a new snapshot, bring home the newest one the scheduled timer
    /// (`etcd_backup_schedule`) took on each member, verified, into `<dest>/<host>/`.
    #[arg(long)]
    collect: bool,
}

/// Options of `etcdplay restore`.
#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The snapshot file `etcdplay backup` wrote (its `.json` sidecar beside it).
    snapshot: PathBuf,
    /// Restore even though the cluster still has quorum (every write after the snapshot is lost).
    #[arg(long)]
    force: bool,
}

/// Options of `etcdplay defrag`.
#[derive(Debug, Args)]
pub(crate) struct DefragArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Skip members whose free pages are below this percentage of their backend.
    #[arg(long, default_value_t = 10.0)]
    threshold: f64,
}

/// `path` made absolute against the current directory (the playbook runs from elsewhere).
fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs `builtin` with `vars` added after the user's `-e` (the command's own options win).
async fn run_operation(common: CommonArgs, builtin: Builtin, name: &str, vars: Value) -> ExitCode {
    let report = Arc::new(OperationReporter::default());
    let mut extra_vars = common.extra_vars;
    extra_vars.push(vars.to_string());
    let apply_args = ApplyArgs {
        inventory: common.inventory,
        playbooks: Vec::new(),
        extra_vars,
        limit: None,
        tags: Vec::new(),
        skip_tags: Vec::new(),
        start_at_task: None,
        check: false,
        diff: false,
        forks: None,
        timeout: common.timeout,
        host_key_checking: common.host_key_checking,
        known_hosts: common.known_hosts,
        output: None,
        leftover_membership: etcdplay_engine::LeftoverMembership::Block,
        rotate_certs: false,
        rotate_ca: false,
        timing: false,
        no_read_ahead: false,
        list_hosts: false,
        list_tasks: false,
        list_tags: false,
        flush_cache: false,
        verbose: common.verbose,
        connection: common.connection,
        vault: common.vault,
        adhoc_module: None,
        builtin,
        operation: Some(report.clone()),
        quiet: common.json,
    };
    let code = apply::run(apply_args).await;
    if common.json {
        let doc = report.document(name, code.code());
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string())
        );
    } else {
        print!("{}", report.summary());
    }
    code
}

pub(crate) async fn backup(args: BackupArgs) -> ExitCode {
    let mut vars = json!({});
    if let Some(dest) = &args.dest {
        match absolute(dest) {
            Ok(d) => vars["etcd_backup_dest"] = json!(d),
            Err(e) => {
                eprintln!("ERROR: --dest {e}");
                return ExitCode::BadOptions;
            }
        }
    }
    if let Some(keep) = args.keep {
        vars["etcd_backup_keep"] = json!(keep);
    }
    if args.collect {
        vars["etcd_backup_collect"] = json!(true);
    }
    run_operation(args.common, Builtin::Backup, "backup", vars).await
}

pub(crate) async fn restore(args: RestoreArgs) -> ExitCode {
    let snapshot = match absolute(&args.snapshot) {
        Ok(s) if s.is_file() => s,
        Ok(s) => {
            eprintln!("ERROR: {} is not a file", s.display());
            return ExitCode::BadOptions;
        }
        Err(e) => {
            eprintln!("ERROR: {e}");
            return ExitCode::BadOptions;
        }
    };
    let vars = json!({
        "etcd_restore_snapshot": snapshot,
        "etcd_restore_force": args.force,
    });
    run_operation(args.common, Builtin::Restore, "restore", vars).await
}

pub(crate) async fn defrag(args: DefragArgs) -> ExitCode {
    if !(0.0..=100.0).contains(&args.threshold) {
        eprintln!("ERROR: --threshold must be a percentage from 0 to 100");
        return ExitCode::BadOptions;
    }
    let vars = json!({ "etcd_defrag_threshold": args.threshold });
    run_operation(args.common, Builtin::Defrag, "defrag", vars).await
}
