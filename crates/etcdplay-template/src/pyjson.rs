//! Python's `json.dumps` for template values, and conversions between JSON and template values.
//!
//! `to_json`/`to_nice_json` must print exactly what Ansible prints: `", "`/`": "` separators,
//! `ensure_ascii` escapes, Python float text, `indent=4` with `sort_keys` for the nice form.
//! serde_json formats differently, so the writer is our own.

use std::fmt::Write;

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

use crate::pyrepr::float_repr;

/// Indentation beyond this is clamped.
const MAX_INDENT: usize = 64;

/// Options of Python's `json.dumps` that Ansible's filters use.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonStyle {
    /// `indent=N`: one item per line, N spaces per level.
    pub indent: Option<usize>,
    /// `sort_keys=True`.
    pub sort_keys: bool,
}

/// `json.dumps(value, ...)` with Python's default `ensure_ascii=True`.
pub fn dumps(value: &Value, style: JsonStyle) -> Result<String, Error> {
    // A huge indent from a template would only exhaust memory.
    let style = JsonStyle {
        indent: style.indent.map(|n| n.min(MAX_INDENT)),
        ..style
    };
    let mut out = String::new();
    write_value(&mut out, value, style, 0)?;
    Ok(out)
}

fn newline(out: &mut String, style: JsonStyle, level: usize) {
    if let Some(n) = style.indent {
        out.push('\n');
        out.push_str(&" ".repeat(n * level));
    }
}

fn write_value(
    out: &mut String,
    value: &Value,
    style: JsonStyle,
    level: usize,
) -> Result<(), Error> {
    if level > 200 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "value nested too deeply for JSON",
        ));
    }
    let item_sep = if style.indent.is_some() { "," } else { ", " };
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "cannot serialize an undefined value to JSON",
            ))
        }
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if value.is_integer() {
                out.push_str(&value.to_string());
            } else {
                let f = f64::try_from(value.clone()).unwrap_or(f64::NAN);
                out.push_str(&match float_repr(f).as_str() {
                    "nan" => "NaN".to_string(),
                    "inf" => "Infinity".to_string(),
                    "-inf" => "-Infinity".to_string(),
                    other => other.to_string(),
                });
            }
        }
        ValueKind::String => write_str(out, value.as_str().unwrap_or_default()),
        ValueKind::Bytes => write_str(
            out,
            &String::from_utf8_lossy(value.as_bytes().unwrap_or_default()),
        ),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, style, level + 1);
                write_value(out, &item.clone().validated()?, style, level + 1)?;
            }
            newline(out, style, level);
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = value.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if style.sort_keys {
                keys.sort();
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, style, level + 1);
                let key_text = match key.kind() {
                    ValueKind::String => key.as_str().unwrap_or_default().to_string(),
                    ValueKind::Bool => if key.is_true() { "true" } else { "false" }.to_string(),
                    ValueKind::None => "null".to_string(),
                    _ => key.to_string(),
                };
                write_str(out, &key_text);
                out.push_str(": ");
                let item = value.get_item(key)?.validated()?;
                write_value(out, &item, style, level + 1)?;
            }
            newline(out, style, level);
            out.push('}');
        }
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("Object of type {} is not JSON serializable", value.kind()),
            ))
        }
    }
    Ok(())
}

/// A JSON string with Python's `ensure_ascii=True` escapes.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Checks a value that came out of an iteration or lookup and may carry a deferred error.
pub(crate) trait Validated: Sized {
    fn validated(self) -> Result<Self, Error>;
}

impl Validated for Value {
    fn validated(self) -> Result<Value, Error> {
        if self.kind() != ValueKind::Invalid {
            return Ok(self);
        }
        // minijinja hands a carried error back out only through a checked iteration.
        let wrapper = Value::from(vec![self]);
        match wrapper.try_iter()?.checked().next() {
            Some(Err(err)) => Err(err),
            Some(Ok(value)) => Ok(value),
            None => Err(Error::new(ErrorKind::InvalidOperation, "invalid value")),
        }
    }
}

/// A template value as a JSON value (for results handed back to the engine).
pub fn to_json_value(value: &Value) -> Result<serde_json::Value, Error> {
    use serde_json::Value as J;
    Ok(match value.kind() {
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "undefined value in result",
            ))
        }
        ValueKind::None => J::Null,
        ValueKind::Bool => J::Bool(value.is_true()),
        ValueKind::Number => {
            if let Some(i) = value.as_i64() {
                J::from(i)
            } else if let Ok(u) = u64::try_from(value.clone()) {
                J::from(u)
            } else {
                let f = f64::try_from(value.clone()).unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(J::Number)
                    .unwrap_or(J::Null)
            }
        }
        ValueKind::String => J::String(value.as_str().unwrap_or_default().to_string()),
        ValueKind::Bytes => {
            J::String(String::from_utf8_lossy(value.as_bytes().unwrap_or_default()).into_owned())
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let mut items = Vec::new();
            for item in value.try_iter()? {
                items.push(to_json_value(&item.validated()?)?);
            }
            J::Array(items)
        }
        ValueKind::Map => {
            let mut map = serde_json::Map::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?.validated()?;
                let key = crate::pyrepr::py_str(&key);
                map.insert(key, to_json_value(&item)?);
            }
            J::Object(map)
        }
        _ => J::String(crate::pyrepr::py_str(value)),
    })
}

/// A JSON value as a plain (not lazily templated) template value.
pub fn from_json_value(value: &serde_json::Value) -> Value {
    Value::from(minijinja::value::Serde(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_json_dumps() {
        let v = Value::from(minijinja::value::Serde(
            serde_json::json!({"b": [1, 2.0, "é"], "a": {}}),
        ));
        assert_eq!(
            dumps(&v, JsonStyle::default()).unwrap(),
            r#"{"b": [1, 2.0, "\u00e9"], "a": {}}"#
        );
        let nice = dumps(
            &v,
            JsonStyle {
                indent: Some(4),
                sort_keys: true,
            },
        )
        .unwrap();
        assert_eq!(nice, "{\n    \"a\": {},\n    \"b\": [\n        1,\n        2.0,\n        \"\\u00e9\"\n    ]\n}");
    }
}
