//! `etcdplay apply -i INV [PLAYBOOK...]`: parse everything, report every problem before any
//! host is contacted (exit 4), then run the plays and exit like `ansible-playbook` does.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use etcdplay_cluster::EtcdExtension;
use etcdplay_engine::{Engine, EngineCatalog, LeftoverMembership, Reporter, RunOptions, Stats};
use etcdplay_inventory::Inventory;
use etcdplay_playbook::{load_playbook, LoadOptions, Playbook};
use etcdplay_transport::HostKeyChecking;

use crate::adapters::{InventoryAdapter, SshConnector};
use crate::exit::ExitCode;
use crate::extra_vars;
use crate::output::json::{Fanout, JsonReporter};
use crate::output::progress::ProgressReporter;
use crate::output::stream::StreamReporter;

/// Options of `etcdplay apply`.
#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// Inventory file, directory or `host1,host2,` list; may be given several times.
    #[arg(short = 'i', long = "inventory", required = true)]
    pub(crate) inventory: Vec<String>,
    /// Playbooks to run, in order; none: the built-in etcd cluster playbook (on the group
    /// `etcd`, or `-e etcd_group=NAME`).
    pub(crate) playbooks: Vec<PathBuf>,
    /// Extra variables: `key=value`, `@file.yml` or a JSON mapping; may repeat.
    #[arg(short = 'e', long = "extra-vars")]
    pub(crate) extra_vars: Vec<String>,
    /// Further limit the hosts with a pattern.
    #[arg(short = 'l', long)]
    pub(crate) limit: Option<String>,
    /// Only run tasks with these tags (comma separated, may repeat).
    #[arg(short = 't', long = "tags", value_delimiter = ',')]
    pub(crate) tags: Vec<String>,
    /// Skip tasks with these tags.
    #[arg(long = "skip-tags", value_delimiter = ',')]
    pub(crate) skip_tags: Vec<String>,
    /// Report what would change; change nothing.
    #[arg(short = 'C', long)]
    pub(crate) check: bool,
    /// Show the differences in changed files.
    #[arg(short = 'D', long)]
    pub(crate) diff: bool,
    /// Hosts worked on in parallel.
    #[arg(short = 'f', long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) forks: u32,
    /// Seconds to wait for a host's SSH connection.
    #[arg(short = 'T', long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) timeout: u64,
    /// How to treat host keys: ssh-config (what your ssh configuration and the inventory's
    /// ssh args say; unknown hosts are refused by OpenSSH's default), strict, accept-new or off.
    #[arg(long, default_value = "ssh-config", value_parser = parse_host_key_checking)]
    pub(crate) host_key_checking: HostKeyChecking,
    /// known_hosts file for host keys (default: ssh's own).
    #[arg(long)]
    pub(crate) known_hosts: Option<PathBuf>,
    /// Write per task and host results as JSON: `--output json FILE`.
    #[arg(long, num_args = 2, value_names = ["FORMAT", "FILE"])]
    pub(crate) output: Option<Vec<String>>,
    /// When a data dir still holds membership that contradicts the plan: block (default),
    /// migrate (keep every key) or reset (back up, then start fresh).
    #[arg(long, default_value = "block", value_parser = parse_leftover)]
    pub(crate) leftover_membership: LeftoverMembership,
    /// Re-issue every member and client certificate.
    #[arg(long)]
    pub(crate) rotate_certs: bool,
    /// After the recap, show where the wall time went (connections, each task's slowest host).
    #[arg(long)]
    pub(crate) timing: bool,
    /// Send every task's probe in its own round trip instead of reading the probes of
    /// upcoming tasks ahead in one (for comparison; the results are the same).
    #[arg(long)]
    pub(crate) no_read_ahead: bool,
    /// More output (-v shows results).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

fn parse_leftover(s: &str) -> Result<LeftoverMembership, String> {
    match s {
        "block" => Ok(LeftoverMembership::Block),
        "migrate" => Ok(LeftoverMembership::Migrate),
        "reset" => Ok(LeftoverMembership::Reset),
        _ => Err(format!("'{s}' is not one of block, migrate, reset")),
    }
}

fn parse_host_key_checking(s: &str) -> Result<HostKeyChecking, String> {
    HostKeyChecking::parse(s)
        .ok_or_else(|| format!("'{s}' is not one of ssh-config, strict, accept-new, off"))
}

/// What `apply` needs before touching a host: every file parsed, every problem found.
pub(crate) struct Prepared {
    pub(crate) inventory: Arc<InventoryAdapter>,
    pub(crate) playbooks: Vec<Playbook>,
}

/// Loads the inventory and playbooks; every problem is printed as `file:line:col: message`.
pub(crate) fn prepare(inventory: &[String], playbooks: &[PathBuf]) -> Result<Prepared, ExitCode> {
    let mut problems = etcdplay_source::Diagnostics::new();
    let inv = match Inventory::load(inventory) {
        Ok(inv) => Some(inv),
        Err(d) => {
            problems.extend(d);
            None
        }
    };
    let mut loaded = Vec::new();
    for path in playbooks {
        match load_playbook(path, &EngineCatalog, &LoadOptions::default()) {
            Ok(p) => loaded.push(p),
            Err(d) => problems.extend(d),
        }
    }
    let dirs: Vec<PathBuf> = loaded
        .iter()
        .flat_map(|p| p.plays.iter().map(|play| play.playbook_dir.clone()))
        .collect();
    let adapter = match inv {
        Some(inv) => match InventoryAdapter::new(inv, &dirs) {
            Ok(a) => Some(a),
            Err(d) => {
                problems.extend(d);
                None
            }
        },
        None => None,
    };
    match adapter {
        Some(a) if problems.is_empty() => Ok(Prepared {
            inventory: Arc::new(a),
            playbooks: loaded,
        }),
        _ => {
            eprintln!("{}", problems.sorted());
            Err(ExitCode::ParseError)
        }
    }
}

fn exit_code_of(stats: &Stats) -> ExitCode {
    if stats.values().any(|s| s.failed > 0) {
        ExitCode::HostFailed
    } else if stats.values().any(|s| s.unreachable > 0) {
        ExitCode::HostUnreachable
    } else {
        ExitCode::Ok
    }
}

/// The directory of the first inventory source that is a path (`inventory_dir`).
fn inventory_dir(sources: &[String]) -> Option<PathBuf> {
    sources.iter().map(Path::new).find(|p| p.exists()).map(|p| {
        let dir = if p.is_dir() {
            p.to_path_buf()
        } else {
            p.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        // Absolute, so that paths built on it (the PKI directory) do not depend on where the
        // playbook is (the built-in one lives in a temporary directory).
        dir.canonicalize().unwrap_or(dir)
    })
}

/// A private directory (0700: tempfile's default follows the umask) for SSH control sockets
/// and generated ssh configs, short enough for the 108-byte socket limit.
fn control_dir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("etcdplay-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in("/tmp")
}

pub(crate) async fn run(args: ApplyArgs) -> ExitCode {
    let mut extra = match extra_vars::parse_all(&args.extra_vars) {
        Ok(e) => e,
        Err(message) => {
            eprintln!("ERROR: {message}");
            return ExitCode::BadOptions;
        }
    };
    if args.rotate_certs {
        // What the built-in playbook passes to etcd_pki's `rotate`.
        extra.insert("etcd_rotate_certs".into(), serde_json::Value::Bool(true));
    }
    // No playbook given: the built-in one, kept on disk until the run ends.
    let builtin = match args.playbooks.is_empty() {
        true => match crate::default_playbook::DefaultPlaybook::write(
            extra
                .get("etcd_group")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("etcd"),
        ) {
            Ok(p) => Some(p),
            Err(message) => {
                eprintln!("ERROR: {message}");
                return ExitCode::BadOptions;
            }
        },
        false => None,
    };
    let playbooks: Vec<PathBuf> = match &builtin {
        Some(p) => vec![p.path().to_path_buf()],
        None => args.playbooks.clone(),
    };
    let json_path = match args.output.as_deref() {
        None => None,
        Some([format, file]) if format == "json" => Some(PathBuf::from(file)),
        Some(other) => {
            eprintln!(
                "ERROR: --output takes 'json FILE', got '{}'",
                other.join(" ")
            );
            return ExitCode::BadOptions;
        }
    };
    if let Some(path) = &json_path {
        if let Err(e) = crate::output::json::check_writable(path) {
            eprintln!(
                "ERROR: --output json {}: the report cannot be written there: {e}",
                path.display()
            );
            return ExitCode::BadOptions;
        }
    }
    let prepared = match prepare(&args.inventory, &playbooks) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let dirs: Vec<PathBuf> = prepared
        .playbooks
        .iter()
        .flat_map(|p| p.plays.iter().map(|play| play.playbook_dir.clone()))
        .collect();
    let bad_ssh_args =
        crate::ssh_args_check::problems(prepared.inventory.as_ref(), &dirs, &extra, |h| {
            prepared.inventory.inventory_file(h)
        });
    if !bad_ssh_args.is_empty() {
        for p in &bad_ssh_args {
            eprintln!("ERROR: {p}");
        }
        return ExitCode::ParseError;
    }
    let control = match control_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("ERROR: cannot create a directory for SSH control sockets: {e}");
            return ExitCode::Error;
        }
    };
    let mut reporters: Vec<Arc<dyn Reporter>> = Vec::new();
    if std::io::stdout().is_terminal() {
        reporters.push(Arc::new(ProgressReporter::new(args.verbose)));
    } else {
        reporters.push(Arc::new(StreamReporter::new(
            std::io::stdout(),
            args.verbose,
        )));
    }
    let json_reporter = json_path.map(|path| Arc::new(JsonReporter::new(path)));
    if let Some(json) = &json_reporter {
        reporters.push(json.clone());
    }
    let connector = Arc::new(SshConnector {
        timeout: Duration::from_secs(args.timeout),
        host_key_checking: args.host_key_checking,
        known_hosts: args.known_hosts.clone(),
        control_dir: control.path().to_path_buf(),
    });
    let options = RunOptions {
        forks: args.forks as usize,
        check: args.check,
        diff: args.diff,
        limit: args.limit.clone(),
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        extra_vars: extra,
        verbosity: args.verbose,
        leftover_membership: args.leftover_membership,
        rotate_certs: args.rotate_certs,
        inventory_dir: inventory_dir(&args.inventory),
        read_ahead: !args.no_read_ahead,
    };
    let search_dirs: Vec<PathBuf> = playbooks
        .iter()
        .map(|p| p.parent().map(Path::to_path_buf).unwrap_or_default())
        .collect();
    let run_started = std::time::Instant::now();
    // The etcd layer (data-dir guard, cluster actions) plugs into the engine's extension seam.
    let engine = Engine::new(
        prepared.inventory.clone(),
        connector,
        Arc::new(Fanout(reporters)),
        options,
        search_dirs,
    )
    .with_extension(Arc::new(EtcdExtension));
    let code = tokio::select! {
        result = run_all(&engine, &prepared.playbooks) => result,
        _ = interrupted() => {
            eprintln!("\n[ERROR]: User interrupted execution");
            ExitCode::Interrupted
        }
    };
    // Every path closes the SSH masters and remote shells before exiting.
    engine.close().await;
    let mut code = code;
    if let Some(failure) = json_reporter.as_ref().and_then(|j| j.take_failure()) {
        eprintln!("ERROR: writing the JSON report: {failure}");
        if code == ExitCode::Ok {
            code = ExitCode::Error;
        }
    }
    if args.timing {
        print!(
            "{}",
            crate::output::timing::render(&engine.timings(), run_started.elapsed())
        );
    }
    drop(control);
    drop(builtin);
    code
}

async fn run_all(engine: &Engine, playbooks: &[Playbook]) -> ExitCode {
    let mut worst = ExitCode::Ok;
    for playbook in playbooks {
        match engine.run(playbook).await {
            Ok(stats) => {
                let code = exit_code_of(&stats);
                if code != ExitCode::Ok {
                    return code;
                }
            }
            Err(e) => {
                eprintln!("ERROR: {e}");
                worst = ExitCode::BadOptions;
                break;
            }
        }
    }
    worst
}

/// Resolves on SIGINT or SIGTERM.
async fn interrupted() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod control_dir_tests {
    #[test]
    fn the_control_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = super::control_dir().expect("control dir");
        let mode = std::fs::metadata(dir.path())
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
