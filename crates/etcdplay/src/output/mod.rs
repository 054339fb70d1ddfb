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
/// registered value carries (Ansible adds it after the callback has the result), and without
/// `exception` (a traceback, printed only at -vvv) and `warnings` (printed as `[WARNING]:`
/// lines).
pub(crate) fn displayed(result: &Value) -> Value {
    let mut shown = result.clone();
    if let Value::Object(m) = &mut shown {
        m.remove("exception");
        m.remove("warnings");
        if m.get("failed") == Some(&Value::Bool(false)) {
            m.remove("failed");
        }
    }
    shown
}
