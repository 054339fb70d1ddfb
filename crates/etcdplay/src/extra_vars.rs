//! `-e`/`--extra-vars` as Ansible reads it: `key=value` pairs (values stay strings), `@file`
//! (YAML or JSON), or an inline JSON/YAML mapping. Later `-e` options override earlier ones.

use std::path::Path;

use etcdplay_source::{load_yaml, load_yaml_file};
use serde_json::{Map, Value};

/// Parses every `-e` in order and merges them.
pub(crate) fn parse_all(items: &[String]) -> Result<Map<String, Value>, String> {
    let mut merged = Map::new();
    for item in items {
        merged.extend(parse_one(item)?);
    }
    Ok(merged)
}

fn parse_one(item: &str) -> Result<Map<String, Value>, String> {
    let trimmed = item.trim();
    if let Some(path) = trimmed.strip_prefix('@') {
        let node = load_yaml_file(Path::new(path), path).map_err(|d| format!("-e @{path}: {d}"))?;
        return mapping(node.to_json(), item);
    }
    if trimmed.starts_with('{') {
        let node =
            load_yaml(trimmed).map_err(|e| format!("-e '{item}': not valid JSON/YAML: {e}"))?;
        return mapping(node.to_json(), item);
    }
    parse_kv(trimmed).map_err(|m| format!("-e '{item}': {m}"))
}

fn mapping(value: Value, item: &str) -> Result<Map<String, Value>, String> {
    match value {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        other => Err(format!(
            "-e '{item}': expected a mapping of variables, got {other}"
        )),
    }
}

/// `a=1 b="two words" c='x'` → strings, as Ansible's `parse_kv` keeps them.
fn parse_kv(text: &str) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') || key.is_empty() {
            return Err(format!("expected key=value, found '{key}'"));
        }
        let mut value = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => value.push(c),
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c.is_whitespace() => break,
                None => value.push(c),
            }
            chars.next();
        }
        if quote.is_some() {
            return Err(format!("unterminated quote in the value of '{key}'"));
        }
        out.insert(key, Value::String(value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_values_json_and_override_order() {
        let m = parse_all(&[
            "etcd_tls=false name='a b'".into(),
            r#"{"n": 3, "name": "c"}"#.into(),
        ])
        .unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"etcd_tls": "false", "name": "c", "n": 3})
        );
    }

    #[test]
    fn errors_name_the_option() {
        assert!(parse_all(&["novalue".into()])
            .unwrap_err()
            .contains("-e 'novalue': expected key=value"));
        assert!(parse_all(&["{broken".into()])
            .unwrap_err()
            .contains("not valid JSON/YAML"));
        assert!(parse_all(&["@/nonexistent/vars.yml".into()])
            .unwrap_err()
            .contains("cannot read file"));
        assert!(parse_all(&["a='x".into()])
            .unwrap_err()
            .contains("unterminated quote"));
    }
}
