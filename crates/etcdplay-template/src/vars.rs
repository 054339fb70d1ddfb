//! [`Vars`]: the raw (untemplated) variables of one host, plus where to find other hosts' variables.
//!
//! Values stay as written (`"{{ other }}"` is kept as text) and are templated only when a template
//! reads them, the way ansible-core 2.19 does. The engine builds one `Vars` per host from
//! [`VarLayers`](crate::VarLayers) and adds the magic variables (`groups`, `inventory_hostname`,
//! `play_hosts`, ...) with [`Vars::insert`]; `hostvars` comes from a [`HostVarsSource`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value as Json};

use crate::precedence::{Layer, VarLayers};

/// Gives access to every host's variables, for `hostvars[h]['x']`.
///
/// Implemented by the engine (which knows the inventory and facts); [`StaticHostVars`] is a
/// ready-made version holding a fixed map.
pub trait HostVarsSource: Send + Sync + fmt::Debug {
    /// Host names in inventory order (what iterating `hostvars` yields).
    fn host_names(&self) -> Vec<String>;
    /// The variables of `host`, or `None` when the host is not in the inventory.
    fn host_vars(&self, host: &str) -> Option<Vars>;
}

/// A fixed set of hosts and their variables.
#[derive(Debug, Clone, Default)]
pub struct StaticHostVars {
    hosts: Vec<(String, Vars)>,
}

impl StaticHostVars {
    /// No hosts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a host, keeping first-insertion order.
    pub fn insert(&mut self, host: impl Into<String>, vars: Vars) {
        let host = host.into();
        match self.hosts.iter_mut().find(|(name, _)| *name == host) {
            Some(slot) => slot.1 = vars,
            None => self.hosts.push((host, vars)),
        }
    }
}

impl HostVarsSource for StaticHostVars {
    fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|(name, _)| name.clone()).collect()
    }

    fn host_vars(&self, host: &str) -> Option<Vars> {
        self.hosts
            .iter()
            .find(|(name, _)| name == host)
            .map(|(_, vars)| vars.clone())
    }
}

#[derive(Debug, Clone, Default)]
struct VarsData {
    /// The host's variable layers, lowest precedence first, read in place: merging them into
    /// one map would copy every fact and inventory variable for each host and task.
    layers: Vec<Layer>,
    /// Variables set on top of the layers (magic variables, loop items); they win.
    own: Map<String, Json>,
    /// Names in `own` whose values are results, never templated again.
    literal: HashSet<String>,
    hostvars: Option<Arc<dyn HostVarsSource>>,
    /// Values every host of a play shares (`groups`, `ansible_play_hosts`, ...), between
    /// `own` and the layers. Shared rather than copied: they grow with the inventory, and a
    /// copy per host and task would make a run's cost grow with the square of its hosts.
    shared: Option<Arc<SharedVars>>,
}

/// Values every host of a play shares (see [`Vars::with_shared`]), with their template values
/// made once: `groups` holds every host, and converting it again for each host that reads it
/// would cost each host as much as the fleet is large.
#[derive(Debug, Default)]
pub struct SharedVars {
    values: Map<String, Json>,
    converted: Mutex<HashMap<String, minijinja::Value>>,
}

impl SharedVars {
    pub fn new(values: Map<String, Json>) -> Self {
        SharedVars {
            values,
            converted: Mutex::default(),
        }
    }

    /// The value as given.
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.values.get(name)
    }

    /// The template value of `name`, converted on first use.
    fn template_value(&self, name: &str) -> Option<minijinja::Value> {
        let raw = self.values.get(name)?;
        let mut converted = self.converted.lock().unwrap_or_else(|p| p.into_inner());
        let value = converted
            .entry(name.to_string())
            .or_insert_with(|| minijinja::Value::from(minijinja::value::Serde(raw)));
        Some(value.clone())
    }
}

/// The variables visible to templates for one host. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    data: Arc<VarsData>,
}

impl Vars {
    /// Variables from an already merged map.
    pub fn new(values: Map<String, Json>) -> Self {
        Vars {
            data: Arc::new(VarsData {
                own: values,
                ..VarsData::default()
            }),
        }
    }

    /// Variables from precedence layers (literal layers stay literal). The layers are shared,
    /// not copied.
    pub fn from_layers(layers: &VarLayers) -> Self {
        let layers = layers
            .ordered()
            .into_iter()
            .filter(|layer| !layer.vars.is_empty())
            .cloned()
            .collect();
        Vars {
            data: Arc::new(VarsData {
                layers,
                ..VarsData::default()
            }),
        }
    }

    /// Makes `hostvars` available to templates.
    pub fn with_hostvars(mut self, source: Arc<dyn HostVarsSource>) -> Self {
        Arc::make_mut(&mut self.data).hostvars = Some(source);
        self
    }

    /// Adds values shared with other hosts (magic variables). They win over the variables
    /// set so far, as if inserted now, and are results, never templated again; a later
    /// [`insert`](Self::insert) of the same name wins over them.
    pub fn with_shared(mut self, shared: Arc<SharedVars>) -> Self {
        let data = Arc::make_mut(&mut self.data);
        for name in shared.values.keys() {
            if data.own.shift_remove(name).is_some() {
                data.literal.remove(name);
            }
        }
        data.shared = Some(shared);
        self
    }

    /// Sets one variable (magic variables such as `inventory_hostname`, or `item` in a loop).
    pub fn insert(&mut self, name: impl Into<String>, value: Json) {
        let name = name.into();
        let data = Arc::make_mut(&mut self.data);
        data.literal.remove(&name);
        data.own.insert(name, value);
    }

    /// Sets one variable to a value that is a result, not user text (a loop item after
    /// templating, a registered result): strings in it are never templated again.
    pub fn insert_literal(&mut self, name: impl Into<String>, value: Json) {
        let name = name.into();
        let data = Arc::make_mut(&mut self.data);
        data.literal.insert(name.clone());
        data.own.insert(name, value);
    }

    /// True if `name` holds a literal value (see [`insert_literal`](Self::insert_literal)).
    pub fn is_literal(&self, name: &str) -> bool {
        if self.data.own.contains_key(name) {
            return self.data.literal.contains(name);
        }
        if self.shared_only(name).is_some() {
            return true;
        }
        self.winning_layer(name).is_some_and(|layer| layer.literal)
    }

    /// The task's `ansible_search_path` (set with its variables) as paths; empty outside a
    /// task.
    pub fn search_path(&self) -> Vec<std::path::PathBuf> {
        match self.raw("ansible_search_path") {
            Some(Json::Array(dirs)) => dirs
                .iter()
                .filter_map(Json::as_str)
                .map(std::path::PathBuf::from)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The value as written, before templating.
    pub fn raw(&self, name: &str) -> Option<&Json> {
        self.data
            .own
            .get(name)
            .or_else(|| self.shared_only(name))
            .or_else(|| self.winning_layer(name)?.vars.get(name))
    }

    /// All variable names in definition order (a name keeps the place where a layer first
    /// defined it), then those set on top, then the shared ones (without `hostvars`).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let data = &*self.data;
        let mut seen: HashSet<&str> = HashSet::new();
        let mut out: Vec<&str> = Vec::new();
        for layer in &data.layers {
            for name in layer.vars.keys() {
                // Shared values replace a layer's as if set last (see `with_shared`).
                let replaced = self.shared_only(name).is_some();
                if !replaced && seen.insert(name) {
                    out.push(name);
                }
            }
        }
        let shared = data.shared.iter().flat_map(|s| s.values.keys());
        for name in data.own.keys().chain(shared) {
            if seen.insert(name) {
                out.push(name);
            }
        }
        out.into_iter()
    }

    /// A shared value that this host's own variables do not override.
    fn shared_only(&self, name: &str) -> Option<&Json> {
        if self.data.own.contains_key(name) {
            return None;
        }
        self.data.shared.as_ref()?.get(name)
    }

    /// The template value of a shared variable that this host does not override, converted
    /// once for all hosts (see [`SharedVars`]).
    pub(crate) fn shared_template_value(&self, name: &str) -> Option<minijinja::Value> {
        if self.data.own.contains_key(name) {
            return None;
        }
        self.data.shared.as_ref()?.template_value(name)
    }

    /// The highest layer that defines `name`.
    fn winning_layer(&self, name: &str) -> Option<&Layer> {
        self.data
            .layers
            .iter()
            .rev()
            .find(|layer| layer.vars.contains_key(name))
    }

    pub(crate) fn hostvars(&self) -> Option<&Arc<dyn HostVarsSource>> {
        self.data.hostvars.as_ref()
    }
}

impl From<Map<String, Json>> for Vars {
    fn from(values: Map<String, Json>) -> Self {
        Vars::new(values)
    }
}
