//! The `environment:` keyword: the variables a task's module runs with on the host. Each
//! level that sets it (play, role, enclosing blocks, the task itself, outer first) is templated
//! with the task's variables and merged, inner levels winning, as Ansible does; every request
//! the task's module sends then carries them ([`WithEnvironment`]), so they reach the module's
//! commands and nothing else (Ansible too sets them only for the module's process).

use std::sync::Arc;

use async_trait::async_trait;
use etcdplay_template::{Templar, Vars};
use etcdplay_transport::{Become, ExecOutput, ExecRequest, PutRequest, Transport, TransportError};
use serde_json::Value;

use crate::error::TaskError;

/// The most variables one task's environment may set (a bound on input; Ansible has none).
const MAX_VARIABLES: usize = 4096;

/// The merged environment of the levels `layers` (outer first), templated with `vars`.
pub(crate) fn task_environment(
    templar: &Templar,
    layers: &[&Value],
    origin: &str,
    vars: &Vars,
) -> Result<Vec<(String, String)>, TaskError> {
    let mut merged: Vec<(String, String)> = Vec::new();
    for layer in layers.iter().filter(|l| !l.is_null()) {
        let value = templar.template_value(layer, origin, vars)?;
        // A list of mappings is merged in order, as a list of levels.
        let mappings = match value {
            Value::Array(items) => items,
            other => vec![other],
        };
        for mapping in mappings {
            let Value::Object(m) = mapping else {
                return Err(TaskError::Invalid(format!(
                    "{origin}: environment must be a dictionary, got {mapping}"
                )));
            };
            for (name, value) in m {
                merged.retain(|(n, _)| n != &name);
                merged.push((name, python_text(&value)));
            }
        }
    }
    if merged.len() > MAX_VARIABLES {
        return Err(TaskError::Invalid(format!(
            "{origin}: environment sets {} variables (at most {MAX_VARIABLES})",
            merged.len()
        )));
    }
    Ok(merged)
}

/// Python's `str()` of a value, as the host sees an environment value.
fn python_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// A transport whose every command runs with `env` added (after the request's own
/// variables, which it does not replace).
pub(crate) struct WithEnvironment {
    pub(crate) inner: Arc<dyn Transport>,
    pub(crate) env: Vec<(String, String)>,
}

impl WithEnvironment {
    /// Puts the task's variables in front of the request's own (which win).
    fn add_env(&self, request: &mut ExecRequest) {
        let own: Vec<String> = request.env.iter().map(|(n, _)| n.clone()).collect();
        let added = self.env.iter().filter(|(n, _)| !own.contains(n)).cloned();
        let mut env: Vec<(String, String)> = added.collect();
        env.append(&mut request.env);
        request.env = env;
    }
}

#[async_trait]
impl Transport for WithEnvironment {
    fn host(&self) -> &str {
        self.inner.host()
    }

    async fn exec(&self, mut request: ExecRequest) -> Result<ExecOutput, TransportError> {
        self.add_env(&mut request);
        self.inner.exec(request).await
    }

    async fn exec_reading(&self, mut request: ExecRequest) -> Result<ExecOutput, TransportError> {
        self.add_env(&mut request);
        self.inner.exec_reading(request).await
    }

    async fn exec_change(&self, mut request: ExecRequest) -> Result<ExecOutput, TransportError> {
        self.add_env(&mut request);
        self.inner.exec_change(request).await
    }

    async fn put(&self, request: PutRequest) -> Result<(), TransportError> {
        self.inner.put(request).await
    }

    /// The read runs with the task's environment, as [`WithEnvironment::exec`] gives it.
    async fn put_then_read(
        &self,
        request: PutRequest,
        mut after: ExecRequest,
    ) -> Result<ExecOutput, TransportError> {
        self.add_env(&mut after);
        self.inner.put_then_read(request, after).await
    }

    async fn get(&self, path: &str, become_: Option<&Become>) -> Result<Vec<u8>, TransportError> {
        self.inner.get(path, become_).await
    }

    async fn close(&self) -> Result<(), TransportError> {
        // The connection is the pool's, shared with other tasks: never closed from here.
        Ok(())
    }
}
