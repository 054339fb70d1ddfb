//! Everything the CLI shows a user about a run: Ansible's stream, and Python-style JSON.

pub(crate) mod adhoc;
pub(crate) mod json;
pub(crate) mod operation;
pub(crate) mod progress;
pub(crate) mod pyjson;
pub(crate) mod redact;
pub(crate) mod stream;
pub(crate) mod timing;

use serde_json::Value;

/// A module result as Ansible's callbacks show it: without the `failed: false` that the
/// registered value carries (Ansible adds it after the callback has the result).
/// A module's `warnings` (strings as they are, anything else as JSON), which Ansible's
/// callbacks show as `[WARNING]:` lines and leave out of the result they print.
pub(crate) fn module_warnings(result: &Value) -> Vec<String> {
    let Some(Value::Array(warnings)) = result.get("warnings") else {
        return Vec::new();
    };
    warnings
        .iter()
        .map(|w| match w {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

pub(crate) fn displayed(result: &Value) -> Value {
    let mut shown = result.clone();
    if let Value::Object(m) = &mut shown {
        if m.get("failed") == Some(&Value::Bool(false)) {
            m.remove("failed");
        }
        // Shown as `[WARNING]:` lines instead, as Ansible's callback does.
        m.remove("warnings");
    }
    shown
}
