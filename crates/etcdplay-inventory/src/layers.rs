//! A host's inventory variables as separate layers, so that the engine can place them in its
//! precedence table. The order of [`HostVarLayers::ordered`] is Ansible's: file group vars,
//! `group_vars/all` (inventory, then playbook), other `group_vars` (inventory, then playbook),
//! file host vars, `host_vars` (inventory, then playbook).

use serde_json::{Map, Value};

use crate::vars_dirs::{merge, DirLayers};

/// Where one layer of a host's variables came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarSource {
    /// `[g:vars]` / `vars:` in inventory files: `all` first, then groups by depth, priority, name.
    InventoryFileGroups,
    InventoryGroupVarsAll,
    PlaybookGroupVarsAll,
    InventoryGroupVars,
    PlaybookGroupVars,
    /// Variables on the host line or host entry of inventory files.
    InventoryFileHost,
    InventoryHostVars,
    PlaybookHostVars,
}

/// One host's variables from the inventory sources and the `group_vars`/`host_vars` directories
/// next to them (several sources: each directory in source order, later wins).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostVarLayers {
    pub file_groups: Map<String, Value>,
    pub file_host: Map<String, Value>,
    /// The directories next to the inventory sources.
    pub dirs: DirLayers,
}

impl HostVarLayers {
    /// Every layer, lowest precedence first, with the playbook directory's layers slotted in.
    pub fn ordered<'a>(
        &'a self,
        playbook: Option<&'a DirLayers>,
    ) -> Vec<(VarSource, &'a Map<String, Value>)> {
        let mut out = vec![
            (VarSource::InventoryFileGroups, &self.file_groups),
            (VarSource::InventoryGroupVarsAll, &self.dirs.group_vars_all),
        ];
        if let Some(p) = playbook {
            out.push((VarSource::PlaybookGroupVarsAll, &p.group_vars_all));
        }
        out.push((VarSource::InventoryGroupVars, &self.dirs.group_vars));
        if let Some(p) = playbook {
            out.push((VarSource::PlaybookGroupVars, &p.group_vars));
        }
        out.push((VarSource::InventoryFileHost, &self.file_host));
        out.push((VarSource::InventoryHostVars, &self.dirs.host_vars));
        if let Some(p) = playbook {
            out.push((VarSource::PlaybookHostVars, &p.host_vars));
        }
        out
    }

    /// All layers merged (a later layer replaces whole top-level keys, Ansible's default).
    pub fn merged(&self, playbook: Option<&DirLayers>) -> Map<String, Value> {
        let mut all = Map::new();
        for (_, layer) in self.ordered(playbook) {
            merge(&mut all, layer);
        }
        all
    }
}
