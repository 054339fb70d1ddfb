//! Python's `str()` and `repr()` of template values.
//!
//! Ansible runs on Python, so whatever a template prints is Python's text for the value:
//! `True`/`False`, `None`, `[1, 'a']`, `{'a': 1}`, floats like `0.1` and `1e+20`. minijinja's own
//! `Display` prints Rust/JSON-like text instead (`true`, `["a"]`), so every place that turns a
//! value into text (the output formatter, `string`, `join`, `~`-free concatenations in filters)
//! goes through [`py_str`].

use std::fmt::Write;

use minijinja::value::{Value, ValueKind};
use minijinja::Error;

use crate::pyjson::Validated;

/// Python's `str(value)`: strings as they are, everything else as [`py_repr`].
pub fn py_str(value: &Value) -> String {
    match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_string(),
        _ => py_repr(value),
    }
}

/// Python's `repr(value)`. Elements that fail to evaluate show as `<error: ...>`; use
/// [`try_py_repr`] where such a failure must be reported instead.
pub fn py_repr(value: &Value) -> String {
    let mut out = String::new();
    if let Err(err) = write_repr(&mut out, value, 0) {
        let _ = write!(out, "<error: {err}>");
    }
    out
}

/// Python's `str(value)`, failing if a (lazily templated) element fails.
pub fn try_py_str(value: &Value) -> Result<String, Error> {
    match value.kind() {
        ValueKind::String => Ok(value.as_str().unwrap_or_default().to_string()),
        _ => try_py_repr(value),
    }
}

/// Python's `repr(value)`, failing if a (lazily templated) element fails.
pub fn try_py_repr(value: &Value) -> Result<String, Error> {
    let mut out = String::new();
    write_repr(&mut out, value, 0)?;
    Ok(out)
}

/// Containers nested deeper than this are cut short instead of overflowing the stack.
const MAX_DEPTH: usize = 200;

fn write_repr(out: &mut String, value: &Value, depth: usize) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        out.push_str("...");
        return Ok(());
    }
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => out.push_str(&number_repr(value)),
        ValueKind::String => out.push_str(&str_repr(value.as_str().unwrap_or_default())),
        ValueKind::Bytes => {
            let bytes = value.as_bytes().unwrap_or_default();
            out.push('b');
            out.push_str(&str_repr(&String::from_utf8_lossy(bytes)));
        }
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &item.validated()?, depth + 1)?;
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &key, depth + 1)?;
                out.push_str(": ");
                let item = value.get_item(&key)?.validated()?;
                write_repr(out, &item, depth + 1)?;
            }
            out.push('}');
        }
        // Plain objects (functions, macros, invalid values) have no Python equivalent;
        // their own display text is the most useful thing to show.
        ValueKind::Invalid => {
            value.clone().validated()?;
        }
        _ => {
            let _ = write!(out, "{value}");
        }
    }
    Ok(())
}

/// Python's text for an int or a float.
pub fn number_repr(value: &Value) -> String {
    if value.is_integer() {
        return value.to_string();
    }
    match f64::try_from(value.clone()) {
        Ok(f) => float_repr(f),
        Err(_) => value.to_string(),
    }
}

/// Python's `repr()` of a float (one implementation, in etcdplay-source).
pub fn float_repr(f: f64) -> String {
    etcdplay_source::python_float_repr(f)
}

/// Python's `repr(str)`: single quotes unless the text holds a single quote and no double one.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (0x80..0xa0).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_follow_python_repr() {
        for (f, want) in [
            (1.5, "1.5"),
            (2.0, "2.0"),
            (1e20, "1e+20"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.0 / 3.0, "0.3333333333333333"),
            (-2.5e-7, "-2.5e-07"),
            (123456.789, "123456.789"),
        ] {
            assert_eq!(float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn strings_and_containers_follow_python_repr() {
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("a\nb'\""), "'a\\nb\\'\"'");
        let v = Value::from(minijinja::value::Serde(
            serde_json::json!({"a": [1, "x", true, null, 1.0]}),
        ));
        assert_eq!(py_repr(&v), "{'a': [1, 'x', True, None, 1.0]}");
        assert_eq!(py_str(&Value::from("plain")), "plain");
    }
}
