//! `etcdplay run PATTERN -m MODULE -a ARGS -i INV`: Ansible's ad-hoc command
//! (`ansible etcd -m shell -a 'systemctl status etcd'`). The task becomes a one-task playbook
//! in a private temporary directory, run by `apply`'s machinery (same checks before any host
//! is contacted, same engine), with the output of `ansible`'s minimal callback.

use std::path::PathBuf;

use clap::Args;
use etcdplay_transport::HostKeyChecking;

use crate::cmd::apply::{self, ApplyArgs, ConnectionArgs};
use crate::exit::ExitCode;

/// Options of `etcdplay run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The hosts: a pattern as in a play's `hosts:` (`all`, `etcd`, `lab1,lab2`, ...).
    pattern: String,
    /// Inventory file, directory or `host1,host2,` list; may be given several times.
    #[arg(short = 'i', long = "inventory")]
    inventory: Vec<String>,
    /// The module to run.
    #[arg(short = 'm', long = "module-name", default_value = "command")]
    module: String,
    /// The module's arguments: `k=v ...`, or the command line of command/shell.
    #[arg(short = 'a', long = "args", default_value = "")]
    args: String,
    /// Extra variables: `key=value`, `@file.yml` or a JSON mapping; may repeat.
    #[arg(short = 'e', long = "extra-vars")]
    extra_vars: Vec<String>,
    /// Further limit the hosts with a pattern (`@file`: one pattern per line of the file).
    #[arg(short = 'l', long, value_parser = crate::limit::limit_pattern)]
    limit: Option<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    vault: crate::vault_args::VaultArgs,
    /// Report what would change; change nothing.
    #[arg(short = 'C', long)]
    check: bool,
    /// Show the differences in changed files.
    #[arg(short = 'D', long)]
    diff: bool,
    /// Hosts worked on in parallel.
    #[arg(short = 'f', long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    forks: Option<u32>,
    /// Seconds to wait for a host's SSH connection.
    #[arg(short = 'T', long, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: Option<u64>,
    /// How to treat host keys: ssh-config, strict, accept-new or off.
    #[arg(long, value_parser = apply::parse_host_key_checking)]
    host_key_checking: Option<HostKeyChecking>,
    /// known_hosts file for host keys (default: ssh's own).
    #[arg(long)]
    known_hosts: Option<PathBuf>,
}

/// The one-task playbook of an ad-hoc command. Every user value is written as a JSON string,
/// which is YAML too, so no quoting of theirs can change its structure.
fn adhoc_playbook(args: &RunArgs) -> String {
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let mut text = format!(
        "- name: {}\n  hosts: {}\n  gather_facts: false\n",
        quote(&format!("Ansible Ad-Hoc ({})", args.module)),
        quote(&args.pattern)
    );
    let module_args = if args.args.trim().is_empty() {
        "{}".to_string()
    } else {
        quote(&args.args)
    };
    text.push_str(&format!(
        "  tasks:\n    - {}: {module_args}\n",
        quote(&args.module)
    ));
    text
}

pub(crate) async fn run(args: RunArgs) -> ExitCode {
    let dir = match tempfile::Builder::new()
        .prefix("etcdplay-adhoc-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("ERROR: cannot create a directory for the ad-hoc task: {e}");
            return ExitCode::Error;
        }
    };
    let playbook = dir.path().join("adhoc.yml");
    if let Err(e) = std::fs::write(&playbook, adhoc_playbook(&args)) {
        eprintln!("ERROR: cannot write the ad-hoc task: {e}");
        return ExitCode::Error;
    }
    let module = etcdplay_modules::canonical_name(&args.module)
        .unwrap_or(&args.module)
        .to_string();
    let apply_args = ApplyArgs {
        inventory: args.inventory,
        playbooks: vec![playbook],
        extra_vars: args.extra_vars,
        limit: args.limit,
        tags: Vec::new(),
        skip_tags: Vec::new(),
        start_at_task: None,
        check: args.check,
        diff: args.diff,
        forks: args.forks,
        timeout: args.timeout,
        host_key_checking: args.host_key_checking,
        known_hosts: args.known_hosts,
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
        verbose: 0,
        connection: args.connection,
        vault: args.vault,
        adhoc_module: Some(module),
        builtin: crate::default_playbook::Builtin::Cluster,
        operation: None,
        quiet: false,
    };
    let code = apply::run(apply_args).await;
    drop(dir);
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: RunArgs,
    }

    #[test]
    fn user_text_cannot_change_the_playbooks_shape() {
        let cli = Cli::parse_from([
            "run",
            "etcd",
            "-m",
            "shell",
            "-a",
            "echo \"x\"\n  become: yes",
            "-b",
        ]);
        let text = adhoc_playbook(&cli.args);
        assert_eq!(
            text,
            "- name: \"Ansible Ad-Hoc (shell)\"\n  hosts: \"etcd\"\n  gather_facts: false\n  \
             tasks:\n    - \"shell\": \"echo \\\"x\\\"\\n  become: yes\"\n"
        );
    }
}
