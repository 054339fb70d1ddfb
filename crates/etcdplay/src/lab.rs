//! `etcdplay lab up [N] | down | status`: a local lab of real hosts to run playbooks against.
//! This module only parses arguments and prints; the work is in the `etcdplay-lab` crate.
//! Progress goes to stderr, results (the inventory path, the status table) to stdout.

// This is the CLI edge, the one place allowed to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;
use etcdplay_lab::{write_inventory, LabError, LabManager, DEFAULT_INVENTORY};

/// What `etcdplay lab` can do.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum LabCommand {
    /// Boot hosts lab1..labN (systemd-nspawn, Debian bookworm) and write an inventory for them.
    Up {
        /// Number of hosts, 1 to 100; hosts already up stay up.
        #[arg(default_value_t = 3)]
        count: u64,
        /// Where to write the YAML inventory.
        #[arg(long, default_value = DEFAULT_INVENTORY)]
        inventory: PathBuf,
    },
    /// Power all lab hosts off and remove their namespaces, links and overlays (keeps the base image).
    Down,
    /// List lab hosts with address, pid and whether SSH answers.
    Status,
}

/// Runs one `lab` subcommand.
pub(crate) async fn run(cmd: LabCommand) -> Result<(), LabError> {
    let manager = LabManager::default().with_progress(Arc::new(|event| eprintln!("lab: {event}")));
    match cmd {
        LabCommand::Up { count, inventory } => {
            let lab = manager.up(count).await?;
            write_inventory(&inventory, &lab.hosts)?;
            if !lab.also_running.is_empty() {
                eprintln!(
                    "lab: also running (not in the inventory): {}",
                    lab.also_running.join(", ")
                );
            }
            if let Some(first) = lab.hosts.first() {
                eprintln!("lab: log in with: ssh {}", first.ssh_args("root").join(" "));
            }
            println!("{}", inventory.display());
        }
        LabCommand::Down => {
            let removed = manager.down().await?;
            if removed.is_empty() {
                eprintln!("lab: nothing to take down");
            } else {
                eprintln!("lab: removed {}", removed.join(", "));
            }
        }
        LabCommand::Status => {
            let hosts = manager.status().await?;
            if hosts.is_empty() {
                println!("no lab hosts (start some with `etcdplay lab up`)");
            }
            for s in hosts {
                let pid = s.pid.map_or_else(|| "-".to_owned(), |p| p.to_string());
                let state = match (s.pid.is_some(), s.netns, s.ssh) {
                    (_, _, true) => "up",
                    (true, _, false) => "booting or unreachable",
                    (false, true, false) => "stopped (namespace left)",
                    (false, false, false) => "stopped",
                };
                println!(
                    "{:<7} {:<15} pid {:<8} ssh {:<3} {state}",
                    s.host.name,
                    s.host.ip,
                    pid,
                    if s.ssh { "yes" } else { "no" }
                );
            }
        }
    }
    Ok(())
}
