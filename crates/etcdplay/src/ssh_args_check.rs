//! `ansible_ssh_common_args` and `ansible_ssh_extra_args` (and addresses and users that ssh would
//! read as options) checked for every host before any host
//! is contacted: the engine parses them only when it opens a host's connection, so a value ssh
//! cannot take would otherwise fail that one host at its first task while the others go on.
//! Values that are templates are left to the engine (they may depend on the play).

use std::path::{Path, PathBuf};

use etcdplay_engine::InventoryView;
use serde_json::{Map, Value};

const VARS: [&str; 2] = ["ansible_ssh_common_args", "ansible_ssh_extra_args"];

/// One message per host and variable whose value ssh cannot take, naming the inventory file
/// (`file_of`), the host and the variable. `extra` (`-e`) overrides the inventory.
pub(crate) fn problems(
    inventory: &dyn InventoryView,
    playbook_dirs: &[PathBuf],
    extra: &Map<String, Value>,
    file_of: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for host in inventory.hosts() {
        // ssh would read a destination or user starting with '-' as an option.
        let layers =
            inventory.host_layers(&host, playbook_dirs.first().map_or(Path::new(""), |d| d));
        let address = layers
            .iter()
            .rev()
            .find_map(|(_, vars)| vars.get("ansible_host"))
            .and_then(Value::as_str)
            .unwrap_or(&host);
        let user = layers
            .iter()
            .rev()
            .find_map(|(_, vars)| vars.get("ansible_user"))
            .and_then(Value::as_str);
        for (var, value) in [("ansible_host", Some(address)), ("ansible_user", user)] {
            if let Some(v) = value.filter(|v| v.starts_with('-')) {
                let file = file_of(&host).map(|f| format!("{f}: ")).unwrap_or_default();
                out.push(format!(
                    "{file}host {host}: {var}: '{v}' starts with '-', which ssh would take for an option"
                ));
            }
        }
        for var in VARS {
            let mut values: Vec<String> = Vec::new();
            match extra.get(var) {
                Some(v) => values.extend(v.as_str().map(str::to_string)),
                None => {
                    // The value this host gets with each playbook directory's group_vars.
                    let dirs: Vec<PathBuf> = if playbook_dirs.is_empty() {
                        vec![PathBuf::new()]
                    } else {
                        playbook_dirs.to_vec()
                    };
                    for dir in dirs {
                        let layers = inventory.host_layers(&host, &dir);
                        if let Some(text) = layers
                            .iter()
                            .rev()
                            .find_map(|(_, vars)| vars.get(var))
                            .and_then(Value::as_str)
                        {
                            values.push(text.to_string());
                        }
                    }
                }
            }
            values.dedup();
            for text in values
                .iter()
                .filter(|t| !t.contains("{{") && !t.contains("{%"))
            {
                if let Err(e) = etcdplay_transport::parse_ssh_args(text) {
                    let file = file_of(&host).map(|f| format!("{f}: ")).unwrap_or_default();
                    out.push(format!("{file}host {host}: {var}: {e}"));
                }
            }
        }
    }
    out
}
