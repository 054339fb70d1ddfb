//! What the engine's tests share: an inventory of hosts that are all this machine
//! (`ansible_connection: local`), each with a scratch directory in `workdir`.

use std::path::{Path, PathBuf};

use etcdplay_engine::{InventoryView, PatternError};
use etcdplay_template::Precedence;
use serde_json::{json, Map, Value};

/// Hosts in group `nodes`, all the local machine, each with `workdir` = `root/HOST`.
pub(crate) struct TinyInventory {
    pub(crate) hosts: Vec<String>,
    pub(crate) root: PathBuf,
}

impl InventoryView for TinyInventory {
    fn hosts(&self) -> Vec<String> {
        self.hosts.clone()
    }
    fn select(&self, pattern: &str) -> Result<Vec<String>, PatternError> {
        match pattern {
            "all" | "nodes" => Ok(self.hosts.clone()),
            p => Ok(self.hosts.iter().filter(|h| *h == p).cloned().collect()),
        }
    }
    fn host_layers(
        &self,
        host: &str,
        _playbook_dir: &Path,
    ) -> Vec<(Precedence, Map<String, Value>)> {
        let mut m = Map::new();
        m.insert(
            "workdir".into(),
            json!(self.root.join(host).display().to_string()),
        );
        m.insert("ansible_connection".into(), json!("local"));
        vec![(Precedence::InventoryVars, m)]
    }
    fn groups(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("all".into(), json!(self.hosts));
        m.insert("nodes".into(), json!(self.hosts));
        m
    }
    fn group_names(&self, _host: &str) -> Vec<String> {
        vec!["nodes".into()]
    }
}

/// Creates (once) a user with a home and `shell`; `false` without root.
#[allow(dead_code)] // not every test binary of the engine becomes another user
pub(crate) fn ensure_user(name: &str, shell: &str) -> bool {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    let exists = || {
        std::process::Command::new("id")
            .arg(name)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if root && !exists() {
        let _ = std::process::Command::new("useradd")
            .args(["-m", "-s", shell, name])
            .status();
    }
    root && exists()
}
