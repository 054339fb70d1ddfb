//! What the engine needs from an inventory, as a trait, so that the engine does not care how the
//! inventory was written (INI, YAML, several sources) and tests can hand it a small one.

use std::path::Path;

use etcdplay_template::Precedence;
use serde_json::{Map, Value};

/// Why a host pattern is bad, in the inventory's own terms (the engine only shows it).
pub type PatternError = Box<dyn std::error::Error + Send + Sync>;

/// A parsed inventory as the engine uses it.
pub trait InventoryView: Send + Sync {
    /// Every host, in inventory order.
    fn hosts(&self) -> Vec<String>;
    /// Whether `host` is one of [`hosts`](Self::hosts). Asked for each `hostvars[..]` read and
    /// delegated task: an inventory should answer without listing every host.
    fn has_host(&self, host: &str) -> bool {
        self.hosts().iter().any(|h| h == host)
    }
    /// Hosts matching an Ansible host pattern, in inventory order; an error says why the
    /// pattern is bad (a pattern matching nothing is `Ok(vec![])`).
    fn select(&self, pattern: &str) -> Result<Vec<String>, PatternError>;
    /// The host's inventory-side variables, lowest precedence first: the inventory files,
    /// `group_vars/` and `host_vars/` beside the inventory and beside the playbook in
    /// `playbook_dir`, interleaved in Ansible's order (which is why it is one call).
    fn host_layers(&self, host: &str, playbook_dir: &Path)
        -> Vec<(Precedence, Map<String, Value>)>;
    /// The `groups` magic variable: every group name with its hosts.
    fn groups(&self) -> Map<String, Value>;
    /// The `group_names` magic variable for a host.
    fn group_names(&self, host: &str) -> Vec<String>;
    /// The inventory file that defines `host` (`inventory_file`, and its directory
    /// `inventory_dir`); `None` for hosts of a `a,b,` list.
    fn inventory_file(&self, host: &str) -> Option<std::path::PathBuf> {
        let _ = host;
        None
    }
    /// Applies a change the run makes to the inventory (`add_host`, `group_by`); says whether
    /// anything changed (the task's `changed`). An inventory that cannot change refuses.
    fn apply(&self, change: &InventoryChange) -> Result<bool, String> {
        let _ = change;
        Err("this inventory cannot change during a run".into())
    }
}

/// A change a task makes to the run's inventory, applied by [`InventoryView::apply`]; later
/// tasks and plays see it (`groups`, `group_names`, `hostvars`, play host patterns).
#[derive(Debug, Clone, PartialEq)]
pub enum InventoryChange {
    /// `add_host`: the host exists, with these variables merged over its own, in these groups.
    AddHost {
        name: String,
        groups: Vec<String>,
        vars: Map<String, Value>,
    },
    /// `group_by`: the host is in `group`, a child of each of `parents`.
    GroupBy {
        host: String,
        group: String,
        parents: Vec<String>,
    },
}
