//! A local lab of real hosts for etcdplay. `up N` boots hosts `lab1..labN`: systemd-nspawn
//! machines running real systemd from one shared Debian bookworm base (overlay per host), each in
//! its own network namespace on one bridge (10.213.7.0/24), reachable by SSH as `root` or
//! `deploy` with a lab key. `down` removes everything `up` created except the base image.
//! The CLI (`etcdplay lab`) and the end-to-end tests both drive it through [`LabManager`] or
//! the shortcuts below. The library never prints; progress goes to a [`Progress`] callback.

mod base;
mod cgroup;
mod cmd;
mod config;
mod error;
mod event;
mod host;
mod inventory;
mod limits;
mod lock;
mod machine;
mod manager;
mod mirror;
mod network;
mod prereq;
mod ssh;

pub use base::{DEPLOY_USER, PACKAGES};
pub use config::LabConfig;
pub use error::LabError;
pub use event::{quiet, LabEvent, Progress};
pub use host::{validate_count, LabHost, MAX_HOSTS};
pub use inventory::{render_inventory, write_inventory, DEFAULT_INVENTORY};
pub use machine::{nspawn_args, running_pid};
pub use manager::{HostStatus, Lab, LabManager};
pub use mirror::{parse_deb822, parse_sources_list, system_mirror};
pub use network::{link_exists, netns_exists};
pub use prereq::check as check_prerequisites;

/// Brings `lab1..labN` up with the default configuration (reusing hosts already running) and
/// returns them once each answers SSH. End-to-end tests call this once per test binary.
pub async fn ensure_up(n: u64) -> Result<Lab, LabError> {
    LabManager::default().up(n).await
}

/// Takes the default lab down; returns the names of the hosts removed.
pub async fn down() -> Result<Vec<String>, LabError> {
    LabManager::default().down().await
}

/// The hosts of the default lab and whether they answer.
pub async fn status() -> Result<Vec<HostStatus>, LabError> {
    LabManager::default().status().await
}
