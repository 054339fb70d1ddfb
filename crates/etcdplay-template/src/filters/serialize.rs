//! `to_json`, `to_nice_json`, `to_yaml`, `to_nice_yaml`, `from_json`, `from_yaml`.

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind};

use super::ensure_defined;
use crate::pyjson::{dumps, JsonStyle};

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("to_json", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_nice_yaml", to_nice_yaml);
    env.add_filter("from_json", from_json);
    env.add_filter("from_yaml", from_yaml);
}

/// `to_json(indent=None, sort_keys=False)`: Python's `json.dumps`.
fn to_json(value: Value, kwargs: Kwargs) -> Result<String, Error> {
    ensure_defined(&value)?;
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    dumps(&value, JsonStyle { indent, sort_keys })
}

/// `to_nice_json(indent=4, sort_keys=True)`.
fn to_nice_json(value: Value, indent: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    ensure_defined(&value)?;
    let indent = match kwargs.get::<Option<usize>>("indent")? {
        Some(indent) => indent,
        None => indent.unwrap_or(4),
    };
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    dumps(
        &value,
        JsonStyle {
            indent: Some(indent),
            sort_keys,
        },
    )
}

/// `to_yaml`: PyYAML with `default_flow_style=None`.
fn to_yaml(value: Value, kwargs: Kwargs) -> Result<String, Error> {
    ensure_defined(&value)?;
    let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(2);
    let flow: Option<bool> = kwargs.get("default_flow_style")?;
    kwargs.assert_all_used()?;
    crate::pyyaml::dump(&value, flow.is_none(), indent)
}

/// `to_nice_yaml(indent=4)`: block style throughout.
fn to_nice_yaml(value: Value, indent: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    ensure_defined(&value)?;
    let indent = match kwargs.get::<Option<usize>>("indent")? {
        Some(indent) => indent,
        None => indent.unwrap_or(4),
    };
    kwargs.assert_all_used()?;
    crate::pyyaml::dump(&value, false, indent)
}

fn from_json(text: String) -> Result<Value, Error> {
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("from_json: {e}")))?;
    Ok(Value::from(minijinja::value::Serde(json)))
}

/// `from_yaml`. Note: YAML 1.2 scalars (`yes` stays a string), unlike PyYAML's YAML 1.1.
fn from_yaml(value: Value) -> Result<Value, Error> {
    ensure_defined(&value)?;
    let Some(text) = value.as_str() else {
        return Ok(value);
    };
    let json: serde_json::Value = serde_yaml_ng::from_str(text)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("from_yaml: {e}")))?;
    Ok(Value::from(minijinja::value::Serde(json)))
}
