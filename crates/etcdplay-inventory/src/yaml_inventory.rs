//! The YAML inventory format (`all:` → `hosts:` / `children:` / `vars:`), walked as Ansible's
//! `yaml` plugin walks it. Where Ansible only warns (a misspelt `host:` key, a group that is a
//! list) this reports an error with the position and a suggestion, because a silently dropped
//! host is worse than a refused inventory.

use etcdplay_source::{did_you_mean, Diagnostic, Diagnostics, Node, NodeValue};
use serde_json::Value;

use crate::address::expand_host_pattern;
use crate::model::InventoryData;

const SECTIONS: [&str; 3] = ["vars", "children", "hosts"];

/// Parses a YAML inventory `root` (already known to be a mapping) from `file` into `data`.
pub(crate) fn parse_yaml_inventory(
    root: &Node,
    file: &str,
    data: &mut InventoryData,
    diags: &mut Diagnostics,
) {
    let mut p = YamlInventory { file, data, diags };
    if root.get("plugin").is_some_and(|v| !v.is_null()) {
        p.error(root, "Plugin configuration YAML file, not YAML inventory (inventory plugins are not supported)");
        return;
    }
    for (key, value) in last_wins(root.as_map().unwrap_or(&[])) {
        p.group(key, value);
    }
}

/// The entries of a mapping with duplicate keys dropped but the last, as a Python dict has them.
fn last_wins(entries: &[(Node, Node)]) -> Vec<(&Node, &Node)> {
    let keys: Vec<Option<String>> = entries.iter().map(|(k, _)| k.key_string()).collect();
    let mut last = std::collections::HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        last.insert(k.clone(), i);
    }
    entries
        .iter()
        .enumerate()
        .filter(|(i, _)| last.get(&keys[*i]) == Some(i))
        .map(|(_, (k, v))| (k, v))
        .collect()
}

struct YamlInventory<'a> {
    file: &'a str,
    data: &'a mut InventoryData,
    diags: &'a mut Diagnostics,
}

impl YamlInventory<'_> {
    fn error(&mut self, at: &Node, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(self.file, at.pos.line, at.pos.col, message));
    }

    /// One group definition; returns the group's index, or `None` when it could not be read.
    fn group(&mut self, key: &Node, value: &Node) -> Option<usize> {
        let Some(name) = key.key_string().filter(|n| !n.is_empty()) else {
            self.error(key, "group name must be a non-empty string");
            return None;
        };
        let entries: &[(Node, Node)] = match &value.value {
            NodeValue::Map(m) => m,
            NodeValue::Null => &[],
            _ => {
                self.error(
                    value,
                    format!(
                        "group '{name}' must be a mapping with hosts, children or vars (or empty), got a {}",
                        value.type_name()
                    ),
                );
                return None;
            }
        };
        let g = self.data.add_group(&name);
        for (k, v) in last_wins(entries) {
            let section = k.key_string().unwrap_or_default();
            if !SECTIONS.contains(&section.as_str()) {
                let hint = did_you_mean(&section, SECTIONS)
                    .map_or(String::new(), |s| format!(" (did you mean '{s}'?)"));
                self.error(
                    k,
                    format!("unexpected key '{section}' in group '{name}'{hint}; only vars, children and hosts are valid"),
                );
                continue;
            }
            match &v.value {
                NodeValue::Null => {}
                NodeValue::Map(items) => {
                    for (ik, iv) in last_wins(items) {
                        self.section_item(g, &name, &section, ik, iv);
                    }
                }
                // Ansible reads `hosts: web1` as `hosts: {web1: null}`.
                NodeValue::String(_) => self.section_item(g, &name, &section, v, &Node::new(v.pos, NodeValue::Null)),
                _ => self.error(
                    v,
                    format!(
                        "Invalid \"{section}\" entry for \"{name}\" group, requires a dictionary, found a {} instead.",
                        v.type_name()
                    ),
                ),
            }
        }
        Some(g)
    }

    fn section_item(&mut self, g: usize, group: &str, section: &str, key: &Node, value: &Node) {
        match section {
            "vars" => {
                let k = key.key_string().unwrap_or_default();
                if let Err(e) = self.data.set_group_var(g, &k, value.to_json()) {
                    self.error(value, e);
                }
            }
            "children" => {
                if let Some(child) = self.group(key, value) {
                    if let Err(e) = self.data.add_child(g, child) {
                        self.error(key, e);
                    }
                }
            }
            _ => self.host(g, group, key, value),
        }
    }

    fn host(&mut self, g: usize, group: &str, key: &Node, value: &Node) {
        let NodeValue::String(pattern) = &key.value else {
            let shown = key
                .as_scalar_string()
                .unwrap_or_else(|| key.type_name().to_string());
            return self.error(
                key,
                format!("Host pattern {shown} must be a string. Enclose integers/floats in quotation marks."),
            );
        };
        let vars: Vec<(String, Value)> = match &value.value {
            NodeValue::Null => Vec::new(),
            NodeValue::Map(entries) => {
                last_wins(entries).into_iter().map(|(k, v)| (k.key_string().unwrap_or_default(), v.to_json())).collect()
            }
            _ => {
                return self.error(
                    value,
                    format!(
                        "host '{pattern}' in group '{group}' must have a mapping of variables or nothing, got a {}",
                        value.type_name()
                    ),
                )
            }
        };
        let (names, port) = match expand_host_pattern(pattern) {
            Ok(x) => x,
            Err(e) => return self.error(key, format!("Invalid host pattern '{pattern}': {e}")),
        };
        if names.iter().any(String::is_empty) {
            return self.error(key, "Invalid empty host name provided");
        }
        for name in names {
            let existed = self.data.host(&name).is_some();
            let h = self.data.add_host(&name, Some(g));
            if let (false, Some(p)) = (existed, port.filter(|&p| p != 0)) {
                self.data.hosts[h]
                    .vars
                    .insert("ansible_port".into(), p.into());
            }
            for (k, v) in &vars {
                self.data.hosts[h].vars.insert(k.clone(), v.clone());
            }
        }
    }
}
