//! [`Scope`]: one host's variables seen as a minijinja object, templated lazily on access.
//!
//! Reading `x` templates `x`'s raw value right then (`"{{ other }}"` becomes `other`'s value,
//! natively: a list stays a list), and containers come back as [`LazySeq`]/[`LazyMap`] whose
//! elements are templated when read. That is ansible-core 2.19's model: an unused broken
//! variable is harmless, and a variable is resolved against the host whose variables are read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use serde_json::Value as Json;

use minijinja::Error;

use crate::error::NestedError;
use crate::hostvars::HostVarsObject;
use crate::lazy::{LazyMap, LazySeq};
use crate::render::{is_possibly_template, render_native};
use crate::session::Session;
use crate::vars::Vars;

#[derive(Debug)]
pub(crate) struct Scope {
    pub(crate) session: Arc<Session>,
    vars: Vars,
    /// Prefix that makes resolution keys unique across hosts (`hostvars['etcd2'].`).
    prefix: String,
    /// Resolved top-level variables; variables do not change during one session.
    cache: Mutex<HashMap<String, Value>>,
    hostvars: OnceLock<Option<Value>>,
}

impl Scope {
    pub(crate) fn new(session: Arc<Session>, vars: Vars, prefix: String) -> Arc<Self> {
        Arc::new(Scope {
            session,
            vars,
            prefix,
            cache: Mutex::new(HashMap::new()),
            hostvars: OnceLock::new(),
        })
    }

    /// The variables this scope resolves (before templating).
    pub(crate) fn vars(&self) -> &Vars {
        &self.vars
    }

    /// The same variables seen through another engine's session (other delimiters), with
    /// `vars` instead.
    pub(crate) fn with_vars(&self, session: Arc<Session>, vars: Vars) -> Arc<Self> {
        Scope::new(session, vars, self.prefix.clone())
    }

    fn hostvars_value(self: &Arc<Self>) -> Option<Value> {
        self.hostvars
            .get_or_init(|| {
                self.vars
                    .hostvars()
                    .map(|source| HostVarsObject::new_value(self.session.clone(), source.clone()))
            })
            .clone()
    }

    /// The templated value of variable `name`, or `None` if there is no such variable.
    /// Failures come back as minijinja "invalid values" that raise the error when used.
    pub(crate) fn lookup(self: &Arc<Self>, name: &str) -> Option<Value> {
        if name == "hostvars" {
            if let Some(value) = self.hostvars_value() {
                return Some(value);
            }
        }
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Some(hit.clone());
        }
        let value = if let Some(shared) = self.vars.shared_template_value(name) {
            shared
        } else if self.vars.is_literal(name) {
            let raw = self.vars.raw(name)?;
            Value::from(minijinja::value::Serde(raw))
        } else {
            resolve(self, name, self.vars.raw(name)?)
        };
        if value.kind() != minijinja::value::ValueKind::Invalid {
            self.cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_string(), value.clone());
        }
        Some(value)
    }
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.lookup(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let names: Vec<Value> = self.vars.names().map(Value::from).collect();
        Enumerator::Values(names)
    }
}

/// An error from templating variable `key`, re-created without a template location so that
/// the template that read the variable reports its own file and line; the original error
/// stays reachable as the source, behind a [`NestedError`] naming the variable.
fn rewrap_nested(err: Error, key: &str) -> Error {
    let kind = err.kind();
    let fresh = match err.detail() {
        Some(detail) => Error::new(kind, detail.to_string()),
        None => Error::from(kind),
    };
    fresh.with_source(NestedError {
        variable: key.to_string(),
        cause: err,
    })
}

/// Turns a raw variable value into a template value, templating strings that hold templates.
/// `path` names the value for cycle detection and error messages (`peers[0]`, `cfg.port`).
pub(crate) fn resolve(scope: &Arc<Scope>, path: &str, raw: &Json) -> Value {
    if let Some(message) = raw
        .as_str()
        .and_then(etcdplay_vault::session::undecryptable_message)
    {
        // A `!vault` value without its secret: an error only now that it is used (Ansible 2.19).
        return Value::from(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            message.to_string(),
        ));
    }
    match raw {
        Json::String(text) if is_possibly_template(text) => {
            let key = format!("{}{}", scope.prefix, path);
            if let Err(err) = scope.session.enter(&key) {
                return Value::from(err);
            }
            let name = format!("variable '{key}'");
            let result = render_native(scope, text, &name);
            scope.session.leave();
            match result {
                Ok(value) => value,
                Err(err) => Value::from(rewrap_nested(err, &key)),
            }
        }
        Json::String(text) => Value::from(text.as_str()),
        Json::Array(items) => LazySeq::new_value(scope.clone(), path.to_string(), items.clone()),
        Json::Object(map) => LazyMap::new_value(scope.clone(), path.to_string(), map.clone()),
        scalar => Value::from(minijinja::value::Serde(scalar)),
    }
}
