//! Filters on lists and dicts: `join`, `flatten`, `combine`, `dict2items`, `items2dict`,
//! `extract`.

use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

use super::ensure_defined;
use crate::pyrepr::try_py_str;

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("join", join);
    env.add_filter("flatten", flatten);
    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("extract", extract);
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Jinja2's `join(d='', attribute=None)` with Python's text for the items.
fn join(state: &State, value: Value, sep: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    ensure_defined(&value)?;
    let attribute: Option<String> = kwargs.get("attribute")?;
    kwargs.assert_all_used()?;
    let sep = sep.unwrap_or_default();
    if value.kind() == ValueKind::String {
        let text = value.as_str().unwrap_or_default();
        return Ok(text
            .chars()
            .map(String::from)
            .collect::<Vec<_>>()
            .join(&sep));
    }
    let mut parts = Vec::new();
    for item in value.try_iter()? {
        let item = match &attribute {
            Some(attr) => {
                attr.split('.')
                    .try_fold(item, |v, part| match part.parse::<usize>() {
                        Ok(i) if v.kind() == ValueKind::Seq => v.get_item(&Value::from(i)),
                        _ => v.get_attr(part),
                    })?
            }
            None => item,
        };
        if item.is_undefined() && state.undefined_behavior() == minijinja::UndefinedBehavior::Strict
        {
            ensure_defined(&item)?;
        }
        parts.push(try_py_str(&item)?);
    }
    Ok(parts.join(&sep))
}

/// Ansible's `flatten(levels=None, skip_nulls=True)`.
fn flatten(value: Value, levels: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    ensure_defined(&value)?;
    let skip_nulls = kwargs.get::<Option<bool>>("skip_nulls")?.unwrap_or(true);
    let levels: Option<i64> = match kwargs.get::<Option<i64>>("levels")? {
        Some(levels) => Some(levels),
        None => levels
            .filter(|v| !v.is_none())
            .map(i64::try_from)
            .transpose()?,
    };
    kwargs.assert_all_used()?;
    let mut out = Vec::new();
    flatten_into(&value, levels, skip_nulls, &mut out, 0)?;
    Ok(Value::from(out))
}

fn flatten_into(
    value: &Value,
    levels: Option<i64>,
    skip_nulls: bool,
    out: &mut Vec<Value>,
    depth: usize,
) -> Result<(), Error> {
    if depth > 100 {
        return Err(invalid("flatten: list nested too deeply"));
    }
    for item in value.try_iter()? {
        let is_null = item.is_none()
            || matches!(item.as_str(), Some("None" | "null")) && item.kind() == ValueKind::String;
        if skip_nulls && is_null {
            continue;
        }
        let is_seq = matches!(item.kind(), ValueKind::Seq | ValueKind::Iterable);
        match levels {
            _ if !is_seq => out.push(item),
            None => flatten_into(&item, None, skip_nulls, out, depth + 1)?,
            Some(n) if n >= 1 => flatten_into(&item, Some(n - 1), skip_nulls, out, depth + 1)?,
            Some(_) => out.push(item),
        }
    }
    Ok(())
}

/// An ordered dict as key/value pairs (keeps insertion order like a Python dict).
type Pairs = Vec<(Value, Value)>;

fn map_pairs(value: &Value) -> Result<Pairs, Error> {
    if value.kind() != ValueKind::Map {
        return Err(invalid(format!(
            "failed to combine variables, expected dicts but got a '{}'",
            super::python_type_name(value)
        )));
    }
    let mut pairs = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        pairs.push((key, item));
    }
    Ok(pairs)
}

fn pairs_to_value(pairs: Pairs) -> Value {
    Value::from_pairs(pairs)
}

/// Ansible's `merge_hash(low, high, recursive, list_merge)`: `high` wins.
fn merge(
    low: Pairs,
    high: Pairs,
    recursive: bool,
    list_merge: &str,
    depth: usize,
) -> Result<Pairs, Error> {
    if depth > 100 {
        return Err(invalid("combine: dicts nested too deeply"));
    }
    let mut out = low;
    for (key, high_value) in high {
        let slot = out.iter().position(|(k, _)| *k == key);
        let merged = match slot {
            None => high_value,
            Some(i) => {
                let low_value = &out[i].1;
                match (low_value.kind(), high_value.kind()) {
                    (ValueKind::Map, ValueKind::Map) if recursive => pairs_to_value(merge(
                        map_pairs(low_value)?,
                        map_pairs(&high_value)?,
                        recursive,
                        list_merge,
                        depth + 1,
                    )?),
                    (ValueKind::Seq, ValueKind::Seq) => {
                        merge_lists(low_value, &high_value, list_merge)?
                    }
                    _ => high_value,
                }
            }
        };
        match slot {
            Some(i) => out[i].1 = merged,
            None => out.push((key, merged)),
        }
    }
    Ok(out)
}

fn merge_lists(low: &Value, high: &Value, list_merge: &str) -> Result<Value, Error> {
    let low: Vec<Value> = low.try_iter()?.collect();
    let high: Vec<Value> = high.try_iter()?.collect();
    let out = match list_merge {
        "replace" => high,
        "keep" => low,
        "append" => low.into_iter().chain(high).collect(),
        "prepend" => high.into_iter().chain(low).collect(),
        "append_rp" => {
            let mut kept: Vec<Value> = low.into_iter().filter(|x| !high.contains(x)).collect();
            kept.extend(high);
            kept
        }
        "prepend_rp" => {
            let rest: Vec<Value> = low.into_iter().filter(|x| !high.contains(x)).collect();
            high.into_iter().chain(rest).collect()
        }
        other => {
            return Err(invalid(format!(
                "merge_hash: 'list_merge' argument can only be equal to 'replace', 'keep', 'append', 'prepend', 'append_rp' or 'prepend_rp', not '{other}'"
            )))
        }
    };
    Ok(Value::from(out))
}

/// Ansible's `combine(*dicts, recursive=False, list_merge='replace')`.
fn combine(value: Value, rest: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    ensure_defined(&value)?;
    let recursive = kwargs.get::<Option<bool>>("recursive")?.unwrap_or(false);
    let list_merge = kwargs
        .get::<Option<String>>("list_merge")?
        .unwrap_or_else(|| "replace".into());
    kwargs.assert_all_used()?;
    // `[d1, d2] | combine` is allowed: terms are flattened one level.
    let mut dicts = Vec::new();
    for term in std::iter::once(value).chain(rest.0) {
        if matches!(term.kind(), ValueKind::Seq | ValueKind::Iterable) {
            dicts.extend(term.try_iter()?);
        } else {
            dicts.push(term);
        }
    }
    let mut result: Pairs = Vec::new();
    for dict in &dicts {
        let pairs = map_pairs(dict)?;
        result = if !recursive && list_merge == "replace" {
            merge(result, pairs, false, "replace", 0)?
        } else {
            merge(result, pairs, recursive, &list_merge, 0)?
        };
    }
    Ok(pairs_to_value(result))
}

/// Ansible's `dict2items(key_name='key', value_name='value')`.
fn dict2items(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    ensure_defined(&value)?;
    let key_name = kwargs
        .get::<Option<String>>("key_name")?
        .unwrap_or_else(|| "key".into());
    let value_name = kwargs
        .get::<Option<String>>("value_name")?
        .unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    if value.kind() != ValueKind::Map {
        return Err(invalid(format!(
            "dict2items requires a dictionary, got <class '{}'> instead.",
            super::python_type_name(&value)
        )));
    }
    let mut out = Vec::new();
    for (key, item) in map_pairs(&value)? {
        out.push(Value::from_pairs([
            (Value::from(key_name.as_str()), key),
            (Value::from(value_name.as_str()), item),
        ]));
    }
    Ok(Value::from(out))
}

/// Ansible's `items2dict(key_name='key', value_name='value')`.
fn items2dict(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    ensure_defined(&value)?;
    let key_name = kwargs
        .get::<Option<String>>("key_name")?
        .unwrap_or_else(|| "key".into());
    let value_name = kwargs
        .get::<Option<String>>("value_name")?
        .unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    if !matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable) {
        return Err(invalid(format!(
            "items2dict requires a list, got <class '{}'> instead.",
            super::python_type_name(&value)
        )));
    }
    let mut pairs: Pairs = Vec::new();
    for item in value.try_iter()? {
        let key = item.get_attr(&key_name)?;
        let val = item.get_attr(&value_name)?;
        if key.is_undefined() || val.is_undefined() {
            return Err(invalid(format!(
                "items2dict requires each dictionary in the list to contain the keys '{key_name}' and '{value_name}'"
            )));
        }
        match pairs.iter().position(|(k, _)| *k == key) {
            Some(i) => pairs[i].1 = val,
            None => pairs.push((key, val)),
        }
    }
    Ok(pairs_to_value(pairs))
}

/// Ansible's `item | extract(container, morekeys=None)`.
fn extract(item: Value, container: Value, morekeys: Option<Value>) -> Result<Value, Error> {
    ensure_defined(&item)?;
    let mut keys = vec![item];
    match morekeys {
        Some(more) if matches!(more.kind(), ValueKind::Seq | ValueKind::Iterable) => {
            keys.extend(more.try_iter()?)
        }
        Some(more) if !more.is_none() => keys.push(more),
        _ => {}
    }
    let mut value = container;
    for key in keys {
        value = value.get_item(&key)?;
    }
    Ok(value)
}
