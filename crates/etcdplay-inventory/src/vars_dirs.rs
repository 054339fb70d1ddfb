//! `group_vars/` and `host_vars/` directories, as Ansible's `host_group_vars` plugin reads them:
//! for each group or host `NAME`, the first of `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` that
//! exists; when that is a directory, every vars file under it in sorted order. The same loader
//! serves the directories next to inventory sources and the ones next to the playbook.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use etcdplay_source::{load_yaml_file, Diagnostic, Diagnostics, NodeValue};
use serde_json::{Map, Value};

use crate::model::{InventoryData, ALL};
use crate::pattern::LOCALHOST_NAMES;
use crate::Inventory;

const EXTENSIONS: [&str; 3] = ["yml", "yaml", "json"];

/// The variables found in one directory's `group_vars/` and `host_vars/`, by group and host name.
#[derive(Debug, Clone, Default)]
pub struct VarsDirs {
    groups: HashMap<String, Map<String, Value>>,
    hosts: HashMap<String, Map<String, Value>>,
}

/// One directory's contribution to one host's variables, split the way Ansible's precedence
/// table splits it (`group_vars/all` is below every other group's `group_vars`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirLayers {
    pub group_vars_all: Map<String, Value>,
    /// The other groups of the host merged in depth, priority, name order.
    pub group_vars: Map<String, Value>,
    pub host_vars: Map<String, Value>,
}

impl VarsDirs {
    /// Reads `dir/group_vars` and `dir/host_vars` for every group and host of `inventory`, e.g.
    /// the playbook's directory. A missing directory is not an error.
    pub fn load(dir: &Path, inventory: &Inventory) -> Result<VarsDirs, Diagnostics> {
        let mut diags = Diagnostics::new();
        let dirs = VarsDirs::load_for(dir, inventory.data(), &mut diags);
        diags.into_result(dirs)
    }

    pub(crate) fn load_for(dir: &Path, data: &InventoryData, diags: &mut Diagnostics) -> VarsDirs {
        let mut out = VarsDirs::default();
        for (sub, names, target) in [
            (
                "group_vars",
                data.groups
                    .iter()
                    .map(|g| g.name.as_str())
                    .collect::<Vec<_>>(),
                &mut out.groups,
            ),
            (
                "host_vars",
                data.hosts
                    .iter()
                    .map(|h| h.name.as_str())
                    .chain(LOCALHOST_NAMES.iter().copied())
                    .collect(),
                &mut out.hosts,
            ),
        ] {
            let base = dir.join(sub);
            if !base.is_dir() {
                if base.exists() {
                    diags.push(Diagnostic::whole_file(
                        shown(&base),
                        format!("{sub} is not a directory"),
                    ));
                }
                continue;
            }
            for name in names {
                let files = find_vars_files(&base, name);
                if files.is_empty() {
                    continue;
                }
                let mut vars = Map::new();
                for file in files {
                    load_vars_file(&file, &mut vars, diags);
                }
                target.insert(name.to_string(), vars);
            }
        }
        out
    }

    /// The variables of group `name` from `group_vars/`, if any file named it.
    pub fn group(&self, name: &str) -> Option<&Map<String, Value>> {
        self.groups.get(name)
    }

    /// The variables of host `name` from `host_vars/`, if any file named it.
    pub fn host(&self, name: &str) -> Option<&Map<String, Value>> {
        self.hosts.get(name)
    }

    /// This directory's layers for `host` (empty when the host is unknown to `inventory`).
    pub fn host_layers(&self, inventory: &Inventory, host: &str) -> DirLayers {
        self.layers_for(inventory.data(), host)
    }

    pub(crate) fn layers_for(&self, data: &InventoryData, host: &str) -> DirLayers {
        let mut layers = DirLayers::default();
        let known = data.host(host);
        // The implicit localhost belongs to no group but still gets `all` and its host_vars.
        if known.is_none() && !LOCALHOST_NAMES.contains(&host) {
            return layers;
        }
        if let Some(v) = self.group(&data.groups[ALL].name) {
            merge(&mut layers.group_vars_all, v);
        }
        for g in known.map(|h| data.sorted_groups_of(h)).unwrap_or_default() {
            if let Some(v) = self.group(&data.groups[g].name) {
                merge(&mut layers.group_vars, v);
            }
        }
        if let Some(v) = self.host(host) {
            merge(&mut layers.host_vars, v);
        }
        layers
    }
}

/// Ansible's default `hash_behaviour=replace`: a later value replaces the whole key.
pub(crate) fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        into.insert(k.clone(), v.clone());
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// The files that hold variables for `name` under `base` (Ansible's `find_vars_files`).
fn find_vars_files(base: &Path, name: &str) -> Vec<PathBuf> {
    // A name that is a path would escape the directory; Ansible skips absolute ones too.
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Vec::new();
    }
    let candidates = std::iter::once(base.join(name))
        .chain(EXTENSIONS.iter().map(|e| base.join(format!("{name}.{e}"))));
    for path in candidates {
        if path.is_dir() {
            let mut found = Vec::new();
            files_in_dir(&path, &mut found, 0);
            return found;
        }
        if path.exists() {
            return vec![path];
        }
    }
    Vec::new()
}

/// Vars files under `dir`, sorted, hidden and backup files skipped, subdirectories descended.
fn files_in_dir(dir: &Path, found: &mut Vec<PathBuf>, depth: usize) {
    if depth > 32 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        if n.starts_with('.') || n.ends_with('~') {
            continue;
        }
        let path = dir.join(&n);
        let ext = Path::new(&n)
            .extension()
            .map(|e| e.to_string_lossy().into_owned());
        if path.is_dir() && ext.is_none() {
            files_in_dir(&path, found, depth + 1);
        } else if path.is_file() && ext.as_deref().is_none_or(|e| EXTENSIONS.contains(&e)) {
            found.push(path);
        }
    }
}

fn load_vars_file(path: &Path, into: &mut Map<String, Value>, diags: &mut Diagnostics) {
    let name = shown(path);
    match load_yaml_file(path, &name) {
        Err(d) => diags.push(d),
        Ok(node) => match &node.value {
            NodeValue::Null => {}
            NodeValue::Map(_) => {
                if let Value::Object(m) = node.to_json() {
                    merge(into, &m);
                }
            }
            _ => diags.push(Diagnostic::new(
                name,
                node.pos.line,
                node.pos.col,
                format!(
                    "Invalid vars file: expected a mapping of variables, got a {}",
                    node.type_name()
                ),
            )),
        },
    }
}
