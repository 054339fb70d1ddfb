//! Ansible's variable precedence, in one place, and [`VarLayers`] which merges by it.
//!
//! This table is the single statement of precedence for etcdplay; lowest first, a later row
//! replaces an earlier row's variable of the same name. Merging is top-level replace (Ansible's
//! default `hash_behaviour=replace`): a dict from a higher layer replaces the whole dict below,
//! it is not merged key by key.
//!
//! | # | [`Precedence`] | Ansible source |
//! |---|---|---|
//! | 1 | `RoleDefaults` | `roles/x/defaults/main.yml` |
//! | 2 | `InventoryVars` | vars written in the inventory file (`all`, group, then host level) |
//! | 3 | `InventoryGroupVars` | `group_vars/` next to the inventory (`all` first, then groups) |
//! | 4 | `InventoryHostVars` | `host_vars/` next to the inventory |
//! | 5 | `PlaybookGroupVars` | `group_vars/` next to the playbook |
//! | 6 | `PlaybookHostVars` | `host_vars/` next to the playbook |
//! | 7 | `Facts` | gathered facts (`ansible_default_ipv4`, ...) |
//! | 8 | `PlayVars` | `vars:` of the play |
//! | 9 | `VarsFiles` | `vars_files:` of the play |
//! | 10 | `RoleVars` | `roles/x/vars/main.yml` |
//! | 11 | `BlockVars` | `vars:` of enclosing blocks (outer first) |
//! | 12 | `TaskVars` | `vars:` of the task |
//! | 13 | `IncludeVars` | `include_vars` results |
//! | 14 | `SetFact` | `set_fact` and `register` results |
//! | 15 | `RoleParams` | role parameters (`roles: - {role: x, param: 1}`, `include_role` vars) |
//! | 16 | `IncludeParams` | parameters of `include_tasks` |
//! | 17 | `ExtraVars` | `-e` on the command line: always wins |
//!
//! Within one precedence level, layers pushed later win (e.g. group vars of a child group are
//! pushed after its parent's; Ansible orders groups by depth, then name, then priority).

use std::sync::Arc;

use serde_json::{Map, Value as Json};

/// One row of the precedence table in this module's documentation; lower values lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Precedence {
    RoleDefaults,
    InventoryVars,
    InventoryGroupVars,
    InventoryHostVars,
    PlaybookGroupVars,
    PlaybookHostVars,
    Facts,
    PlayVars,
    VarsFiles,
    RoleVars,
    BlockVars,
    TaskVars,
    IncludeVars,
    SetFact,
    RoleParams,
    IncludeParams,
    ExtraVars,
}

/// One source of variables. Shared, not copied: the same layers (inventory variables, facts,
/// role defaults) serve every task of a host, and [`Vars`](crate::Vars) reads them in place.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub(crate) precedence: Precedence,
    pub(crate) vars: Arc<Map<String, Json>>,
    /// Values that are results, not user text: never templated again (see `push_literal`).
    pub(crate) literal: bool,
}

/// Variable sources for one host, each tagged with its [`Precedence`].
#[derive(Debug, Clone, Default)]
pub struct VarLayers {
    layers: Vec<Layer>,
}

impl VarLayers {
    /// No variables at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a layer; among layers of equal precedence the one pushed last wins.
    pub fn push(&mut self, precedence: Precedence, vars: Map<String, Json>) {
        self.push_shared(precedence, Arc::new(vars));
    }

    /// [`push`](Self::push) of a layer that other hosts or tasks share (no copy is made).
    pub fn push_shared(&mut self, precedence: Precedence, vars: Arc<Map<String, Json>>) {
        self.layers.push(Layer {
            precedence,
            vars,
            literal: false,
        });
    }

    /// Adds a layer of values that are already results (registered task results, loop items
    /// after templating): strings in them that look like templates are kept as they are.
    pub fn push_literal(&mut self, precedence: Precedence, vars: Map<String, Json>) {
        self.push_literal_shared(precedence, Arc::new(vars));
    }

    /// [`push_literal`](Self::push_literal) of a shared layer (no copy is made).
    pub fn push_literal_shared(&mut self, precedence: Precedence, vars: Arc<Map<String, Json>>) {
        self.layers.push(Layer {
            precedence,
            vars,
            literal: true,
        });
    }

    /// Adds one variable as its own layer (e.g. a `register` result).
    pub fn set(&mut self, precedence: Precedence, name: impl Into<String>, value: Json) {
        let mut map = Map::new();
        map.insert(name.into(), value);
        self.push(precedence, map);
    }

    /// The layers ordered lowest precedence first, keeping push order within a level.
    pub(crate) fn ordered(&self) -> Vec<&Layer> {
        let mut ordered: Vec<_> = self.layers.iter().collect();
        // A stable sort keeps push order among layers of the same precedence.
        ordered.sort_by_key(|layer| layer.precedence);
        ordered
    }

    /// The winning value of one variable, without merging everything.
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.ordered()
            .into_iter()
            .rev()
            .find_map(|layer| layer.vars.get(name))
    }

    /// The precedence level the winning value of `name` comes from.
    pub fn source_of(&self, name: &str) -> Option<Precedence> {
        self.ordered()
            .into_iter()
            .rev()
            .find(|layer| layer.vars.contains_key(name))
            .map(|layer| layer.precedence)
    }

    /// All variables merged by precedence. Like Python's `dict.update`, a name keeps the
    /// position where it first appeared while its value comes from the highest layer.
    pub fn merged(&self) -> Map<String, Json> {
        let mut merged = Map::new();
        for layer in self.ordered() {
            for (name, value) in layer.vars.iter() {
                merged.insert(name.clone(), value.clone());
            }
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layer(value: Json) -> Map<String, Json> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn higher_precedence_wins_regardless_of_push_order() {
        let mut layers = VarLayers::new();
        layers.push(Precedence::ExtraVars, layer(json!({"port": 1})));
        layers.push(
            Precedence::PlayVars,
            layer(json!({"port": 2, "name": "play"})),
        );
        layers.push(
            Precedence::RoleDefaults,
            layer(json!({"port": 3, "name": "role", "only": true})),
        );
        let merged = layers.merged();
        assert_eq!(merged["port"], json!(1));
        assert_eq!(merged["name"], json!("play"));
        assert_eq!(merged["only"], json!(true));
        assert_eq!(layers.get("port"), Some(&json!(1)));
        assert_eq!(layers.source_of("name"), Some(Precedence::PlayVars));
        assert_eq!(layers.get("missing"), None);
    }

    #[test]
    fn dicts_are_replaced_not_merged_and_later_push_wins_within_a_level() {
        let mut layers = VarLayers::new();
        layers.push(
            Precedence::InventoryGroupVars,
            layer(json!({"cfg": {"a": 1, "b": 2}})),
        );
        layers.push(
            Precedence::InventoryGroupVars,
            layer(json!({"cfg": {"a": 9}})),
        );
        layers.set(Precedence::RoleDefaults, "cfg", json!({"c": 3}));
        assert_eq!(layers.merged()["cfg"], json!({"a": 9}));
    }

    #[test]
    fn table_order_matches_ansible() {
        use Precedence::*;
        let order = [
            RoleDefaults,
            InventoryVars,
            InventoryGroupVars,
            InventoryHostVars,
            PlaybookGroupVars,
            PlaybookHostVars,
            Facts,
            PlayVars,
            VarsFiles,
            RoleVars,
            BlockVars,
            TaskVars,
            IncludeVars,
            SetFact,
            RoleParams,
            IncludeParams,
            ExtraVars,
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]));
    }
}
