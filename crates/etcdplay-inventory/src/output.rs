//! `ansible-inventory --list` and `--graph [--vars]` output, reproduced so that users can diff
//! etcdplay's view of an inventory against Ansible's. Host variables in `--list` are the merged
//! inventory layers (file vars and the `group_vars`/`host_vars` next to the sources).

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::model::ALL;
use crate::Inventory;

impl Inventory {
    /// The value `ansible-inventory --list` prints (object keys sorted, as Ansible prints them).
    pub fn to_list_json(&self) -> Value {
        let mut results = Map::new();
        let mut seen = HashSet::new();
        self.format_group(ALL, &mut seen, &mut results);
        let mut hostvars = Map::new();
        for name in self.hosts() {
            let vars = self
                .host_layers(&name)
                .map(|l| l.merged(None))
                .unwrap_or_default();
            if !vars.is_empty() {
                hostvars.insert(name, Value::Object(vars));
            }
        }
        results.insert(
            "_meta".into(),
            json!({"hostvars": hostvars, "profile": "inventory_legacy"}),
        );
        sort_keys(Value::Object(results))
    }

    /// [`Inventory::to_list_json`] as text, indented like Ansible's output.
    pub fn to_list_json_string(&self) -> String {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(
            &mut out,
            serde_json::ser::PrettyFormatter::with_indent(b"    "),
        );
        // Serialising a Value into memory cannot fail.
        let _ = serde::Serialize::serialize(&self.to_list_json(), &mut ser);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn format_group(&self, g: usize, seen: &mut HashSet<usize>, results: &mut Map<String, Value>) {
        let data = self.data();
        let group = &data.groups[g];
        let mut entry = Map::new();
        if g != ALL {
            let hosts: Vec<Value> = group
                .hosts
                .iter()
                .map(|&h| Value::String(data.hosts[h].name.clone()))
                .collect();
            if !hosts.is_empty() {
                entry.insert("hosts".into(), Value::Array(hosts));
            }
        }
        let mut children = Vec::new();
        for &c in &group.children {
            children.push(Value::String(data.groups[c].name.clone()));
            if seen.insert(c) {
                self.format_group(c, seen, results);
            }
        }
        if !children.is_empty() {
            entry.insert("children".into(), Value::Array(children));
        }
        if !entry.is_empty() {
            results.insert(group.name.clone(), Value::Object(entry));
        }
    }

    /// What `ansible-inventory --graph` prints (no trailing newline), or with `--vars`.
    pub fn to_graph(&self, with_vars: bool) -> String {
        let mut lines = Vec::new();
        self.graph_group(ALL, 0, with_vars, &mut lines);
        lines.join("\n")
    }

    fn graph_group(&self, g: usize, depth: usize, with_vars: bool, lines: &mut Vec<String>) {
        let data = self.data();
        let group = &data.groups[g];
        lines.push(graph_name(&format!("@{}:", group.name), depth));
        for &c in &group.children {
            self.graph_group(c, depth + 1, with_vars, lines);
        }
        if g != ALL {
            for &h in &group.hosts {
                let name = &data.hosts[h].name;
                lines.push(graph_name(name, depth + 1));
                if with_vars {
                    let vars = self
                        .host_layers(name)
                        .map(|l| l.merged(None))
                        .unwrap_or_default();
                    show_vars(&vars, depth + 2, lines);
                }
            }
        }
        if with_vars {
            show_vars(
                &self.group_vars(&group.name).unwrap_or_default(),
                depth + 1,
                lines,
            );
        }
    }
}

fn graph_name(name: &str, depth: usize) -> String {
    if depth == 0 {
        name.to_string()
    } else {
        format!("{}--{name}", "  |".repeat(depth))
    }
}

fn show_vars(vars: &Map<String, Value>, depth: usize, lines: &mut Vec<String>) {
    let mut keys: Vec<&String> = vars.keys().collect();
    keys.sort();
    for k in keys {
        lines.push(graph_name(
            &format!("{{{k} = {}}}", python_str(&vars[k])),
            depth,
        ));
    }
}

/// Python's `str()` of a value, which `--graph --vars` prints.
fn python_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

fn python_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            _ => n.to_string(),
        },
        Value::String(s) => etcdplay_source::python_str_repr(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    python_repr(&Value::String(k.clone())),
                    python_repr(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The value with every object's keys in sorted order (Ansible dumps with `sort_keys=True`).
fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}
