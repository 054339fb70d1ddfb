//! `etcdplay lab up [N] | down | status`: a local lab of real hosts to run playbooks against.
//! This module only parses arguments and prints; the work is in the `etcdplay-lab` crate.
//! Progress goes to stderr, results (the inventory path, the status table) to stdout.

// This is the CLI edge, the one place allowed to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use etcdplay_lab::{write_inventory, LabConfig, LabError, LabManager, DEFAULT_INVENTORY};

/// `etcdplay lab`: a subcommand and, hidden, which lab it acts on. Scripts that need a lab of
/// their own beside the default one (`compat/targets/run`) pass a host prefix, a bridge and the
/// third octet of the subnet, as the end-to-end tests' private labs do.
#[derive(Debug, Clone, Args)]
pub(crate) struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
    /// Hosts are named PREFIX1..PREFIXn.
    #[arg(long, global = true, hide = true, value_parser = parse_prefix)]
    prefix: Option<String>,
    /// The bridge the hosts plug into.
    #[arg(long, global = true, hide = true, value_parser = parse_bridge)]
    bridge: Option<String>,
    /// The lab's subnet is 10.213.OCTET.0/24.
    #[arg(long, global = true, hide = true)]
    octet: Option<u8>,
}

/// A host prefix: what a machine and namespace name may carry.
fn parse_prefix(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 8
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(text.to_owned())
    } else {
        Err("1 to 8 lowercase letters or digits, starting with a letter".to_owned())
    }
}

/// A bridge name: an interface name (at most 15 bytes).
fn parse_bridge(text: &str) -> Result<String, String> {
    let ok =
        !text.is_empty() && text.len() <= 15 && text.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(text.to_owned())
    } else {
        Err("1 to 15 letters or digits".to_owned())
    }
}

impl LabArgs {
    /// The lab these options name: the default one with what was given replaced.
    fn config(&self) -> LabConfig {
        let mut config = LabConfig::default();
        if let Some(prefix) = &self.prefix {
            config.host_prefix.clone_from(prefix);
        }
        if let Some(bridge) = &self.bridge {
            config.bridge.clone_from(bridge);
        }
        if let Some(octet) = self.octet {
            config.subnet[2] = octet;
        }
        config
    }
}

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
pub(crate) async fn run(args: LabArgs) -> Result<(), LabError> {
    let manager =
        LabManager::new(args.config()).with_progress(Arc::new(|event| eprintln!("lab: {event}")));
    match args.command {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_names_are_checked() {
        assert_eq!(parse_prefix("lharn"), Ok("lharn".to_owned()));
        assert!(parse_prefix("Lab").is_err());
        assert!(parse_prefix("9lab").is_err());
        assert!(parse_prefix("averylongprefix").is_err());
        assert_eq!(parse_bridge("etcdplaybr46"), Ok("etcdplaybr46".to_owned()));
        assert!(parse_bridge("bridge-with-dash").is_err());
        assert!(parse_bridge("etcdplaybridge46x").is_err());
    }
}
