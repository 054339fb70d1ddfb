//! Glue between the library crates: the parsed inventory as the engine's `InventoryView`, and
//! the connector that opens SSH (or local) transports with the command line's settings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use async_trait::async_trait;
use etcdplay_engine::{ConnectTarget, ConnectionKind, Connector, InventoryChange, InventoryView};
use etcdplay_inventory::{Inventory, VarsDirs};
use etcdplay_source::Diagnostics;
use etcdplay_template::Precedence;
use etcdplay_transport::{
    HostAgent, HostKeyChecking, LocalTransport, SshOptions, SshTransport, Transport, TransportError,
};
use serde_json::{Map, Value};

/// The inventory plus the `group_vars/`/`host_vars/` beside each playbook, loaded up front so
/// that their errors are reported before any host is contacted. The inventory is behind a lock
/// because `add_host` and `group_by` change it during the run.
pub(crate) struct InventoryAdapter {
    inventory: RwLock<Inventory>,
    playbook_dirs: HashMap<PathBuf, VarsDirs>,
}

impl InventoryAdapter {
    /// Wraps `inventory` and loads the variable directories beside each of `playbook_dirs`.
    pub(crate) fn new(
        inventory: Inventory,
        playbook_dirs: &[PathBuf],
    ) -> Result<Self, Diagnostics> {
        let mut diags = Diagnostics::new();
        let mut loaded = HashMap::new();
        for dir in playbook_dirs {
            if loaded.contains_key(dir) {
                continue;
            }
            match VarsDirs::load(dir, &inventory) {
                Ok(v) => {
                    loaded.insert(dir.clone(), v);
                }
                Err(d) => diags.extend(d),
            }
        }
        diags.into_result(InventoryAdapter {
            inventory: RwLock::new(inventory),
            playbook_dirs: loaded,
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Inventory> {
        self.inventory.read().unwrap_or_else(|p| p.into_inner())
    }
}

impl InventoryView for InventoryAdapter {
    fn hosts(&self) -> Vec<String> {
        self.read().hosts()
    }

    fn has_host(&self, host: &str) -> bool {
        self.read().has_host(host)
    }

    fn inventory_file(&self, host: &str) -> Option<PathBuf> {
        self.read().inventory_file(host).map(PathBuf::from)
    }

    fn select(&self, pattern: &str) -> Result<Vec<String>, etcdplay_engine::PatternError> {
        match self.read().select(pattern) {
            Ok(hosts) => Ok(hosts),
            Err(etcdplay_inventory::PatternError::NoMatch { .. }) => Ok(Vec::new()),
            Err(e) => Err(Box::new(e)),
        }
    }

    fn host_layers(
        &self,
        host: &str,
        playbook_dir: &Path,
    ) -> Vec<(Precedence, Map<String, Value>)> {
        let inventory = self.read();
        let Some(layers) = inventory.host_layers(host) else {
            return Vec::new();
        };
        let playbook = self
            .playbook_dirs
            .get(playbook_dir)
            .map(|d| d.host_layers(&inventory, host));
        // Every inventory-side layer sits between role defaults and facts; pushing them at one
        // precedence level in Ansible's order (which interleaves playbook and inventory
        // directories) keeps that order.
        layers
            .ordered(playbook.as_ref())
            .into_iter()
            .map(|(_, vars)| (Precedence::InventoryVars, vars.clone()))
            .collect()
    }

    fn groups(&self) -> Map<String, Value> {
        self.read().groups_map()
    }

    fn group_names(&self, host: &str) -> Vec<String> {
        self.read().group_names_of(host).unwrap_or_default()
    }

    fn apply(&self, change: &InventoryChange) -> Result<bool, String> {
        let mut inventory = self.inventory.write().unwrap_or_else(|p| p.into_inner());
        match change {
            InventoryChange::AddHost { name, groups, vars } => {
                Ok(inventory.add_dynamic_host(name, groups, vars))
            }
            InventoryChange::GroupBy {
                host,
                group,
                parents,
            } => inventory.add_dynamic_group(host, group, parents),
        }
    }
}

/// Opens SSH transports (or local ones for `ansible_connection: local`).
pub(crate) struct SshConnector {
    pub(crate) timeout: Duration,
    pub(crate) host_key_checking: HostKeyChecking,
    pub(crate) known_hosts: Option<PathBuf>,
    pub(crate) control_dir: PathBuf,
    /// Whether shells start the host agent (see `etcdplay_transport::HostAgent`) and may
    /// install it: `Some(may_install)`, or `None` to keep every host on the shell loop. The
    /// agent itself is loaded at the first SSH connection, not for runs without one.
    pub(crate) agent: Option<bool>,
}

impl SshConnector {
    /// The host agent setting of a run: off with `ETCDPLAY_HOST_AGENT=off`; installed on
    /// hosts except under `--check`, which writes nothing.
    pub(crate) fn host_agent(check: bool) -> Option<bool> {
        if std::env::var_os("ETCDPLAY_HOST_AGENT").is_some_and(|v| v == "off") {
            return None;
        }
        Some(!check)
    }
}

#[async_trait]
impl Connector for SshConnector {
    async fn connect(&self, target: &ConnectTarget) -> Result<Arc<dyn Transport>, TransportError> {
        if target.kind == ConnectionKind::Local {
            return Ok(Arc::new(LocalTransport::new(target.host.clone())));
        }
        let mut opts = SshOptions::new(target.host.clone(), target.address.clone());
        opts.port = target.port;
        opts.user = target.user.clone();
        opts.key_file = target.key_file.as_ref().map(|k| expand_home(k));
        opts.connect_timeout = self.timeout;
        opts.host_key_checking = self.host_key_checking;
        opts.known_hosts = self.known_hosts.clone();
        opts.control_dir = self.control_dir.clone();
        opts.extra_settings = target.ssh_settings.clone();
        opts.agent = self.agent.and_then(HostAgent::of_this_run);
        Ok(Arc::new(SshTransport::connect(opts).await?))
    }
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}
