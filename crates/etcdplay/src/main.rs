//! The `etcdplay` command: argument parsing and output at the edge, everything else in the
//! library crates. Each subcommand lives in its own module and returns an [`exit::ExitCode`].

// The CLI is the one place that prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod adapters;
mod ansible_cfg;
mod cmd;
mod default_playbook;
mod exit;
mod extra_vars;
mod lab;
mod limit;
mod open_files;
mod output;
mod ssh_args_check;
mod vault_args;

use clap::{Parser, Subcommand};
use exit::ExitCode;

/// Deploys and operates etcd clusters over SSH, from Ansible-style inventories and playbooks.
#[derive(Parser)]
#[command(name = "etcdplay", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run playbooks against an inventory (like ansible-playbook); with no playbook, deploy
    /// the etcd cluster: scale up and down, rolling restarts, upgrades one minor at a time
    /// (snapshot first; a downgrade or a skipped minor is refused before any member is
    /// touched), --rotate-certs re-issues certificates, --rotate-ca replaces the CA in three
    /// rolling phases without downtime.
    Apply(cmd::apply::ApplyArgs),
    /// Run one module on hosts (like `ansible PATTERN -m MODULE -a ARGS`).
    Run(cmd::run::RunArgs),
    /// Check every etcd member's health over the etcd API and print a status table (with
    /// raised alarms and each backend's size against its quota).
    Health(cmd::health::HealthArgs),
    /// Take a verified snapshot of the cluster from its most caught-up follower (over TLS)
    /// and keep it with a JSON sidecar under `backups/` beside the inventory; --collect brings
    /// home the newest snapshot the scheduled timer (etcd_backup_schedule) took on each member.
    Backup(cmd::operate::BackupArgs),
    /// Disaster recovery: restore every member from a snapshot `backup` made (refused while
    /// the cluster has quorum, unless --force); the old data dirs are kept aside.
    Restore(cmd::operate::RestoreArgs),
    /// Defragment the members one at a time, followers first and the leader last, skipping
    /// those with few free pages (--threshold, percent).
    Defrag(cmd::operate::DefragArgs),
    /// The cluster's alarms: `alarm list`, and `alarm disarm` to clear NOSPACE once space is
    /// reclaimed (compaction, then `defrag`); CORRUPT is never disarmed.
    #[command(subcommand)]
    Alarm(cmd::alarm::AlarmCommand),
    /// Show an inventory as ansible-inventory does (--list, --graph).
    Inventory(cmd::inventory::InventoryArgs),
    /// Parse and check inventory and playbooks without contacting any host.
    SyntaxCheck(cmd::syntax_check::SyntaxCheckArgs),
    /// The cluster's certificates (`pki show`).
    #[command(subcommand)]
    Pki(cmd::pki::PkiCommand),
    /// Encrypt and decrypt Ansible Vault files and strings (like ansible-vault).
    #[command(subcommand)]
    Vault(cmd::vault::VaultCommand),
    /// A local lab of real hosts (systemd-nspawn machines with sshd and systemd).
    Lab(lab::LabArgs),
    /// The modules etcdplay knows (hidden: for scripts such as `compat/targets/run`).
    #[command(hide = true)]
    Modules(cmd::modules::ModulesArgs),
}

/// A run may hold the cluster CA's private key and decrypted client keys in memory: no core
/// dump may write them to disk, and no other process of the same user may read this one's
/// memory through ptrace (a non-dumpable process). Best effort: a failure leaves the defaults.
fn forbid_core_dumps() {
    use rustix::process::{set_dumpable_behavior, setrlimit, DumpableBehavior, Resource, Rlimit};
    let none = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    let _ = setrlimit(Resource::Core, none);
    let _ = set_dumpable_behavior(DumpableBehavior::NotDumpable);
}

/// A run keeps each host's SSH connection open while it may still need the host (every host
/// of a `serial` batch while the batch runs), and each holds descriptors of this process (its
/// remote shells' mux sessions and pipes): a fleet of a thousand hosts needs several thousand,
/// beyond the usual soft limit of 1,024 open files while the hard limit is far higher. What a
/// run needs is checked against the raised limit before any host is touched (`open_files.rs`). The soft limit is raised to the hard
/// one, as Go programs do at start; an unlimited or unreadable hard limit leaves it as it was.
fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum) {
        if current < maximum {
            let raised = Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            };
            let _ = setrlimit(Resource::Nofile, raised);
        }
    }
}

fn main() {
    forbid_core_dumps();
    raise_open_file_limit();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::BadOptions
            } else {
                ExitCode::Ok
            };
            let _ = e.print();
            std::process::exit(code.code());
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ERROR: cannot start the async runtime: {e}");
            std::process::exit(ExitCode::Error.code());
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Apply(args) => cmd::apply::run(args).await,
            Command::Run(args) => cmd::run::run(args).await,
            Command::Health(args) => cmd::health::run(args).await,
            Command::Backup(args) => cmd::operate::backup(args).await,
            Command::Restore(args) => cmd::operate::restore(args).await,
            Command::Defrag(args) => cmd::operate::defrag(args).await,
            Command::Alarm(command) => cmd::alarm::run(command).await,
            Command::Inventory(args) => cmd::inventory::run(args),
            Command::SyntaxCheck(args) => cmd::syntax_check::run(args),
            Command::Pki(pki) => cmd::pki::run(pki),
            Command::Vault(vault) => cmd::vault::run(vault),
            Command::Modules(args) => cmd::modules::run(&args),
            Command::Lab(lab) => match lab::run(lab).await {
                Ok(()) => ExitCode::Ok,
                Err(e) => {
                    eprintln!("etcdplay lab: {e}");
                    ExitCode::Error
                }
            },
        }
    });
    std::process::exit(code.code());
}

#[cfg(test)]
mod open_file_limit_tests {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let before = getrlimit(Resource::Nofile);
        let (Some(_), Some(maximum)) = (before.current, before.maximum) else {
            return; // An unlimited hard limit: nothing to raise to.
        };
        // Start below the hard limit, as a login with the usual 1,024 does.
        let low = Rlimit {
            current: Some(maximum.min(256)),
            maximum: Some(maximum),
        };
        setrlimit(Resource::Nofile, low).expect("lower the soft limit");
        super::raise_open_file_limit();
        assert_eq!(getrlimit(Resource::Nofile).current, Some(maximum));
    }
}

#[cfg(test)]
mod core_dump_tests {
    #[test]
    fn the_process_cannot_dump_core() {
        super::forbid_core_dumps();
        let core = rustix::process::getrlimit(rustix::process::Resource::Core);
        assert_eq!((core.current, core.maximum), (Some(0), Some(0)));
        assert_eq!(
            rustix::process::dumpable_behavior().expect("prctl"),
            rustix::process::DumpableBehavior::NotDumpable
        );
    }
}
