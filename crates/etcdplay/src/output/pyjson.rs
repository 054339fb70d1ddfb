//! JSON the way Python's `json.dumps` writes it (`", "` and `": "` separators, non-ASCII
//! escaped), which is what Ansible prints after `=>`. Users diff our output against Ansible's, so
//! the spacing matters. The writer is the template crate's (it serves `to_json` too).

use etcdplay_template::pyjson::{dumps as py_dumps, from_json_value, JsonStyle};
use serde_json::Value;

/// `json.dumps(value)` with Python's default separators.
pub(crate) fn dumps(value: &Value) -> String {
    py_dumps(&from_json_value(value), JsonStyle::default()).unwrap_or_else(|_| value.to_string())
}

/// `json.dumps(value, sort_keys=True)`: a result after `=>` on one line (`-v`).
pub(crate) fn dumps_sorted(value: &Value) -> String {
    py_dumps(
        &from_json_value(value),
        JsonStyle {
            indent: None,
            sort_keys: true,
        },
    )
    .unwrap_or_else(|_| value.to_string())
}

/// `json.dumps(value, indent=4, sort_keys=True)`, as Ansible's callback shows `debug:` output.
pub(crate) fn dumps_pretty(value: &Value) -> String {
    py_dumps(
        &from_json_value(value),
        JsonStyle {
            indent: Some(4),
            sort_keys: true,
        },
    )
    .unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_python_default_separators_and_escapes() {
        assert_eq!(
            dumps_pretty(&json!({"msg": "hi", "a": [1, {}]})),
            "{\n    \"a\": [\n        1,\n        {}\n    ],\n    \"msg\": \"hi\"\n}"
        );
        assert_eq!(
            dumps(&json!({"changed": false, "msg": "a\"b", "l": [1, "é"]})),
            r#"{"changed": false, "msg": "a\"b", "l": [1, "\u00e9"]}"#
        );
    }
}
