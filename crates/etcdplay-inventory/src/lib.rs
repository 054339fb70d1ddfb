//! Ansible inventories for etcdplay: INI and YAML files, directories of them and `a,b,` host
//! lists; the `group_vars`/`host_vars` directories next to them (and next to the playbook); host
//! patterns and `--limit`; and `ansible-inventory --list`/`--graph` output. Everything follows
//! ansible-core 2.x so that an existing Ansible inventory means the same hosts and variables
//! here. Parsers never touch the network and never execute inventory scripts.

mod address;
mod connection;
mod dynamic;
mod error;
mod ini;
mod inventory;
mod layers;
mod model;
mod output;
mod pattern;
mod pyliteral;
mod sources;
mod vars_dirs;
mod yaml_inventory;

pub use connection::ConnectionVars;
pub use error::{InventoryError, PatternError};
pub use inventory::Inventory;
pub use layers::{HostVarLayers, VarSource};
pub use pattern::LOCALHOST_NAMES;
pub use vars_dirs::{DirLayers, VarsDirs};
