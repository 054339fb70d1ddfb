//! `datadir-bench-lab up DIR | down`: the data-dir benchmark's lab of one host (`labw1`, on
//! `etcdplaybr19`, 10.213.19.0/24). `up` boots it (reusing the default lab's base image and
//! SSH key), checks its network namespace exists, writes `DIR/hosts.yml` and prints one line
//! `NAME IP NETNS KEY` for the harness; `down` removes the lab (the base image stays).

use std::path::Path;
use std::process::ExitCode;

use etcdplay_lab::{netns_exists, write_inventory, LabConfig, LabManager};

const USAGE: &str = "usage: datadir-bench-lab up INVENTORY_DIR | datadir-bench-lab down";

/// Its own prefix, bridge and subnet, so `down` touches nothing of another lab.
fn config() -> LabConfig {
    LabConfig {
        host_prefix: "labw".to_owned(),
        bridge: "etcdplaybr19".to_owned(),
        subnet: [10, 213, 19],
        ..LabConfig::default()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(line) => {
            // The harness reads the host line on stdout, errors on stderr.
            #[allow(clippy::print_stdout)]
            {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("datadir-bench-lab: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &[String]) -> Result<String, String> {
    let manager = LabManager::new(config());
    match args {
        [cmd, dir] if cmd == "up" => {
            // A run killed earlier may have left the host; start from nothing.
            manager.down().await.map_err(|e| e.to_string())?;
            let lab = manager.up(1).await.map_err(|e| e.to_string())?;
            let host = lab.hosts.first().ok_or("the lab came up without a host")?;
            if !netns_exists(&host.netns) {
                return Err(format!("namespace {} of {} is missing", host.netns, host.name));
            }
            write_inventory(&Path::new(dir).join("hosts.yml"), &lab.hosts).map_err(|e| e.to_string())?;
            Ok(format!("{} {} {} {}", host.name, host.ip, host.netns, host.key_path.display()))
        }
        [cmd] if cmd == "down" => {
            let removed = manager.down().await.map_err(|e| e.to_string())?;
            Ok(format!("removed: {}", removed.join(" ")))
        }
        _ => Err(USAGE.to_owned()),
    }
}
