//! [`Vars`]: the raw (untemplated) variables of one host, plus where to find other hosts' variables.
//!
//! Values stay as written (`"{{ other }}"` is kept as text) and are templated only when a template
//! reads them, the way ansible-core 2.19 does. The engine builds one `Vars` per host from
//! [`VarLayers`](crate::VarLayers) and adds the magic variables (`groups`, `inventory_hostname`,
//! `play_hosts`, ...) with [`Vars::insert`]; `hostvars` comes from a [`HostVarsSource`].

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::precedence::VarLayers;

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
    values: Map<String, Json>,
    /// Names whose values are results, never templated again.
    literal: HashSet<String>,
    hostvars: Option<Arc<dyn HostVarsSource>>,
    /// Values every host of a play shares (`groups`, `ansible_play_hosts`, ...), below
    /// `values`. Shared rather than copied: they grow with the inventory, and a copy per host
    /// and task would make a run's cost grow with the square of its hosts.
    shared: Option<Arc<Map<String, Json>>>,
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
                values,
                literal: HashSet::new(),
                hostvars: None,
                shared: None,
            }),
        }
    }

    /// Variables merged from precedence layers (literal layers stay literal).
    pub fn from_layers(layers: &VarLayers) -> Self {
        let (values, literal) = layers.merged_with_literals();
        Vars {
            data: Arc::new(VarsData {
                values,
                literal,
                hostvars: None,
                shared: None,
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
    pub fn with_shared(mut self, shared: Arc<Map<String, Json>>) -> Self {
        let data = Arc::make_mut(&mut self.data);
        for name in shared.keys() {
            if data.values.remove(name).is_some() {
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
        data.values.insert(name, value);
    }

    /// Sets one variable to a value that is a result, not user text (a loop item after
    /// templating, a registered result): strings in it are never templated again.
    pub fn insert_literal(&mut self, name: impl Into<String>, value: Json) {
        let name = name.into();
        let data = Arc::make_mut(&mut self.data);
        data.literal.insert(name.clone());
        data.values.insert(name, value);
    }

    /// True if `name` holds a literal value (see [`insert_literal`](Self::insert_literal)).
    pub fn is_literal(&self, name: &str) -> bool {
        self.data.literal.contains(name) || self.shared_only(name).is_some()
    }

    /// The value as written, before templating.
    pub fn raw(&self, name: &str) -> Option<&Json> {
        self.data
            .values
            .get(name)
            .or_else(|| self.shared_only(name))
    }

    /// All variable names in definition order, then the shared ones (without `hostvars`).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let own = self.data.values.keys().map(String::as_str);
        let shared = self.data.shared.iter().flat_map(|m| m.keys());
        own.chain(
            shared
                .filter(|k| !self.data.values.contains_key(*k))
                .map(String::as_str),
        )
    }

    /// A shared value that this host's own variables do not override.
    fn shared_only(&self, name: &str) -> Option<&Json> {
        if self.data.values.contains_key(name) {
            return None;
        }
        self.data.shared.as_ref()?.get(name)
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
