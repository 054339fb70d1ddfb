//! [`Inventory`]: every `-i` source read and reconciled, with the `group_vars`/`host_vars`
//! directories next to the sources, and the queries the engine asks of it (hosts in order, groups,
//! `group_names`, the `groups` magic variable, per-host variable layers).

use etcdplay_source::{Diagnostic, Diagnostics};
use serde_json::{Map, Value};

use crate::layers::HostVarLayers;
use crate::model::{InventoryData, ALL, UNGROUPED};
use crate::sources::{parse_source, vars_basedir};
use crate::vars_dirs::{merge, VarsDirs};

/// A loaded inventory.
#[derive(Debug, Clone)]
pub struct Inventory {
    data: InventoryData,
    /// One per source that can have vars directories, in source order.
    vars_dirs: Vec<VarsDirs>,
    warnings: Vec<Diagnostic>,
}

impl Inventory {
    /// Reads every source (`-i` argument: file, directory or `a,b,` list) in order. Returns every
    /// problem found in any of them, or the inventory.
    pub fn load(sources: &[String]) -> Result<Inventory, Diagnostics> {
        let mut diags = Diagnostics::new();
        let mut warnings = Vec::new();
        let mut data = InventoryData::new();
        for source in sources {
            parse_source(source, &mut data, &mut diags, &mut warnings);
        }
        data.reconcile();
        let mut vars_dirs = Vec::new();
        for source in sources {
            if let Some(dir) = vars_basedir(source) {
                vars_dirs.push(VarsDirs::load_for(&dir, &data, &mut diags));
            }
        }
        for g in &data.groups {
            if data.host(&g.name).is_some() {
                warnings.push(Diagnostic::whole_file(
                    sources.join(","),
                    format!("Found both group and host with same name: {}", g.name),
                ));
            }
        }
        diags.sorted().into_result(Inventory {
            data,
            vars_dirs,
            warnings,
        })
    }

    pub(crate) fn data(&self) -> &InventoryData {
        &self.data
    }

    pub(crate) fn data_mut(&mut self) -> &mut InventoryData {
        &mut self.data
    }

    /// Things worth telling the user that did not stop the load (a skipped inventory script).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Every host, in Ansible's order for the pattern `all`.
    pub fn hosts(&self) -> Vec<String> {
        self.names(self.data.group_hosts(ALL))
    }

    /// Whether `name` is a host of the inventory.
    pub fn has_host(&self, name: &str) -> bool {
        self.data.host(name).is_some()
    }

    /// Every group name, `all` and `ungrouped` first, then in order of first appearance.
    pub fn groups(&self) -> Vec<String> {
        self.data.groups.iter().map(|g| g.name.clone()).collect()
    }

    /// The hosts of `group` and of its child groups, or `None` for an unknown group.
    pub fn group_hosts(&self, group: &str) -> Option<Vec<String>> {
        self.data
            .group(group)
            .map(|g| self.names(self.data.group_hosts(g)))
    }

    /// The `group_names` magic variable: the host's groups, sorted, without `all` (with
    /// `ungrouped` when the host is in no other group; empty for the implicit localhost). `None` for
    /// an unknown host.
    pub fn group_names_of(&self, host: &str) -> Option<Vec<String>> {
        if self.is_implicit_localhost(host) {
            return Some(Vec::new());
        }
        let h = self.data.host(host)?;
        let mut names: Vec<String> = self
            .data
            .host_groups(h)
            .into_iter()
            .filter(|&g| g != ALL)
            .map(|g| self.data.groups[g].name.clone())
            .collect();
        names.sort();
        Some(names)
    }

    /// The `groups` magic variable: every group with its hosts (children's hosts included).
    pub fn groups_map(&self) -> Map<String, Value> {
        (0..self.data.groups.len())
            .map(|g| {
                let hosts = self
                    .data
                    .group_hosts(g)
                    .into_iter()
                    .map(|h| Value::String(self.data.hosts[h].name.clone()));
                (
                    self.data.groups[g].name.clone(),
                    Value::Array(hosts.collect()),
                )
            })
            .collect()
    }

    /// A host's inventory variables as layers, or `None` for an unknown host.
    /// The implicit localhost (see [`Inventory::is_implicit_localhost`]) gets the `all` layers
    /// and `ansible_connection: local`, as in Ansible.
    pub fn host_layers(&self, host: &str) -> Option<HostVarLayers> {
        let h = self.data.host(host);
        if h.is_none() && !self.is_implicit_localhost(host) {
            return None;
        }
        let mut layers = HostVarLayers::default();
        merge(&mut layers.file_groups, &self.data.groups[ALL].vars);
        match h {
            Some(h) => {
                for g in self.data.sorted_groups_of(h) {
                    merge(&mut layers.file_groups, &self.data.groups[g].vars);
                }
                merge(&mut layers.file_host, &self.data.hosts[h].vars);
            }
            None => {
                layers
                    .file_host
                    .insert("ansible_connection".into(), Value::String("local".into()));
            }
        }
        for dirs in &self.vars_dirs {
            let d = dirs.layers_for(&self.data, host);
            merge(&mut layers.dirs.group_vars_all, &d.group_vars_all);
            merge(&mut layers.dirs.group_vars, &d.group_vars);
            merge(&mut layers.dirs.host_vars, &d.host_vars);
        }
        Some(layers)
    }

    /// A group's own variables (inventory files, then the inventory `group_vars` directories),
    /// as `ansible-inventory --graph --vars` shows them.
    pub fn group_vars(&self, group: &str) -> Option<Map<String, Value>> {
        let g = self.data.group(group)?;
        let mut vars = self.data.groups[g].vars.clone();
        for dirs in &self.vars_dirs {
            if let Some(v) = dirs.group(group) {
                merge(&mut vars, v);
            }
        }
        if self.data.groups[g].priority != 1 {
            vars.insert(
                "ansible_group_priority".into(),
                self.data.groups[g].priority.into(),
            );
        }
        Some(vars)
    }

    /// The `inventory_file` magic variable: the inventory file (as named on the command line,
    /// joined with the directory for directory sources) where `host` first appeared; `None` for
    /// hosts from an `a,b,` list or unknown hosts.
    pub fn inventory_file(&self, host: &str) -> Option<&str> {
        self.data.hosts[self.data.host(host)?].source.as_deref()
    }

    /// Whether `host` sits only in the implicit `ungrouped` group.
    pub fn is_ungrouped(&self, host: &str) -> bool {
        self.data
            .host(host)
            .is_some_and(|h| self.data.groups[UNGROUPED].hosts.contains(&h))
    }

    fn names(&self, hosts: Vec<usize>) -> Vec<String> {
        hosts
            .into_iter()
            .map(|h| self.data.hosts[h].name.clone())
            .collect()
    }
}
