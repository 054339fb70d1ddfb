//! [`LazySeq`] and [`LazyMap`]: lists and dicts from variables whose elements are templated
//! when read, so `peers: ["{{ a }}", "{{ b }}"]` yields the values of `a` and `b`.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use serde_json::{Map, Value as Json};

use crate::scope::{resolve, Scope};

/// A list from a variable; element `i` is templated on access.
#[derive(Debug)]
pub(crate) struct LazySeq {
    scope: Arc<Scope>,
    path: String,
    items: Vec<Json>,
}

impl LazySeq {
    pub(crate) fn new_value(scope: Arc<Scope>, path: String, items: Vec<Json>) -> Value {
        Value::from_object(LazySeq { scope, path, items })
    }
}

impl Object for LazySeq {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let index = usize::try_from(key.clone()).ok()?;
        let raw = self.items.get(index)?;
        Some(resolve(
            &self.scope,
            &format!("{}[{index}]", self.path),
            raw,
        ))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.items.len())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.items.len())
    }
}

/// A dict from a variable; each value is templated on access, keys are used as written.
#[derive(Debug)]
pub(crate) struct LazyMap {
    scope: Arc<Scope>,
    path: String,
    map: Map<String, Json>,
}

impl LazyMap {
    pub(crate) fn new_value(scope: Arc<Scope>, path: String, map: Map<String, Json>) -> Value {
        Value::from_object(LazyMap { scope, path, map })
    }
}

impl Object for LazyMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        let raw = self.map.get(key)?;
        Some(resolve(&self.scope, &format!("{}.{key}", self.path), raw))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.map.keys().map(|k| Value::from(k.as_str())).collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.map.len())
    }
}
