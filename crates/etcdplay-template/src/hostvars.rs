//! [`HostVarsObject`]: the `hostvars` magic variable. `hostvars[h]` is host `h`'s own
//! [`Scope`], so `hostvars[h]['x']` is `x` templated with `h`'s variables, as in Ansible.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};

use crate::scope::Scope;
use crate::session::Session;
use crate::vars::HostVarsSource;

#[derive(Debug)]
pub(crate) struct HostVarsObject {
    session: Arc<Session>,
    source: Arc<dyn HostVarsSource>,
    /// One scope per host, so each host's resolved variables are cached for the session.
    scopes: Mutex<HashMap<String, Arc<Scope>>>,
}

impl HostVarsObject {
    pub(crate) fn new_value(session: Arc<Session>, source: Arc<dyn HostVarsSource>) -> Value {
        Value::from_object(HostVarsObject {
            session,
            source,
            scopes: Mutex::new(HashMap::new()),
        })
    }
}

impl Object for HostVarsObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let host = key.as_str()?;
        let mut scopes = self.scopes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(scope) = scopes.get(host) {
            return Some(Value::from_dyn_object(scope.clone()));
        }
        let vars = self.source.host_vars(host)?;
        let scope = Scope::new(self.session.clone(), vars, format!("hostvars['{host}']."));
        scopes.insert(host.to_string(), scope.clone());
        Some(Value::from_dyn_object(scope))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.source
                .host_names()
                .into_iter()
                .map(Value::from)
                .collect(),
        )
    }
}
