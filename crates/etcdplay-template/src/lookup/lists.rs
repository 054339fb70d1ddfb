//! Lookups that build lists from their terms, as ansible-core's plugins of the same names:
//! `items` (one level flattened), `list`, `dict`, `indexed_items`, `nested`/`cartesian`,
//! `together`, `subelements`, `flattened`, `random_choice` and `sequence`. Results are bounded
//! by [`MAX_ITEMS`].

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::Error;

use super::fail;
use crate::percent::{format_percent, Args};
use crate::pyrepr::try_py_str;

/// Most items one list lookup may produce.
pub(crate) const MAX_ITEMS: usize = 100_000;

/// Runs `plugin` if it is one of this module's; `None` otherwise.
pub(super) fn run(
    plugin: &str,
    terms: &[Value],
    kwargs: &Kwargs,
) -> Result<Option<Vec<Value>>, Error> {
    let out = match plugin {
        "items" => flatten(terms, 1),
        "list" => terms.to_vec(),
        "dict" => dict(terms)?,
        "indexed_items" => flatten(terms, 1)
            .into_iter()
            .enumerate()
            .map(|(i, x)| Value::from(vec![Value::from(i), x]))
            .collect(),
        "nested" | "cartesian" => nested(terms, plugin == "nested")?,
        "together" => together(terms)?,
        "subelements" => subelements(terms)?,
        "flattened" => flatten(terms, usize::MAX),
        "random_choice" => random_choice(terms)?,
        "sequence" => sequence(terms, kwargs)?,
        _ => return Ok(None),
    };
    if out.len() > MAX_ITEMS {
        return Err(fail(format!(
            "lookup '{plugin}' produced more than {MAX_ITEMS} items"
        )));
    }
    Ok(Some(out))
}

fn is_list(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

fn items_of(value: &Value) -> Vec<Value> {
    value.try_iter().map(|it| it.collect()).unwrap_or_default()
}

/// Lists inside `terms` flattened `levels` deep (bounded by minijinja's own nesting limit).
fn flatten(terms: &[Value], levels: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for term in terms {
        if is_list(term) && levels > 0 {
            out.extend(flatten(&items_of(term), levels - 1));
        } else {
            out.push(term.clone());
        }
    }
    out
}

/// `dict`: each term a mapping, one `{key, value}` item per entry.
fn dict(terms: &[Value]) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for term in terms {
        if term.kind() != ValueKind::Map {
            // Ansible's words, unbalanced parenthesis included.
            return Err(fail(format!(
                "the 'dict' lookup plugin expects a dictionary, got '{}' of type <class '{}'>)",
                crate::pyrepr::py_str(term),
                crate::filters::python_type_name(term)
            )));
        }
        for key in term.try_iter()? {
            let value = term.get_item(&key)?;
            let mut entry = std::collections::BTreeMap::new();
            entry.insert("key", key);
            entry.insert("value", value);
            out.push(Value::from(entry));
        }
    }
    Ok(out)
}

/// `nested`: the product of the lists, the first one outermost; each item flattened (Ansible's
/// `_combine` flattens nested lists, `cartesian` does not).
fn nested(terms: &[Value], flatten_items: bool) -> Result<Vec<Value>, Error> {
    let lists: Vec<Vec<Value>> = terms
        .iter()
        .map(|t| {
            if is_list(t) {
                items_of(t)
            } else {
                vec![t.clone()]
            }
        })
        .collect();
    if lists.is_empty() {
        return Err(fail(
            "with_nested requires at least one element in the nested list".into(),
        ));
    }
    let total = lists
        .iter()
        .fold(1usize, |acc, l| acc.saturating_mul(l.len()));
    if total > MAX_ITEMS {
        return Err(fail(format!(
            "lookup 'nested' would produce more than {MAX_ITEMS} items"
        )));
    }
    let mut out: Vec<Vec<Value>> = vec![Vec::new()];
    for list in &lists {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                list.iter().map(move |x| {
                    let mut next = prefix.clone();
                    if flatten_items && is_list(x) {
                        next.extend(items_of(x));
                    } else {
                        next.push(x.clone());
                    }
                    next
                })
            })
            .collect();
    }
    Ok(out.into_iter().map(Value::from).collect())
}

/// `together`: the lists zipped, shorter ones padded with `None`.
fn together(terms: &[Value]) -> Result<Vec<Value>, Error> {
    if terms.is_empty() {
        return Err(fail(
            "with_together requires at least one element in each list".into(),
        ));
    }
    let lists: Vec<Vec<Value>> = terms.iter().map(items_of).collect();
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok((0..longest)
        .map(|i| {
            Value::from(
                lists
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or(Value::from(())))
                    .collect::<Vec<_>>(),
            )
        })
        .collect())
}

/// `subelements`: `[elements, 'key.path', {skip_missing: bool}]` → `[element, subitem]`
/// pairs; the element is shown without the iterated key, as Ansible's (which pops it).
fn subelements(terms: &[Value]) -> Result<Vec<Value>, Error> {
    let usage = |msg: &str| {
        fail(format!(
            "subelements lookup expects a list of two or three items, {msg}"
        ))
    };
    if !(2..=3).contains(&terms.len()) {
        return Err(usage(""));
    }
    let (elements, path) = (&terms[0], &terms[1]);
    if !matches!(elements.kind(), ValueKind::Seq | ValueKind::Map)
        || path.kind() != ValueKind::String
    {
        return Err(usage(
            "first a dict or a list, second a string pointing to the subkey",
        ));
    }
    let skip_missing = match terms.get(2) {
        Some(flags) if flags.kind() == ValueKind::Map => {
            crate::filters::to_bool(flags.get_attr("skip_missing")?)?
        }
        Some(_) => {
            return Err(usage(
                "the optional third item must be a dict with flags skip_missing",
            ))
        }
        None => false,
    };
    let keys: Vec<&str> = path.as_str().unwrap_or_default().split('.').collect();
    let list: Vec<Value> = match elements.kind() {
        ValueKind::Map => {
            if elements.get_attr("skipped")?.is_true() {
                return Ok(Vec::new());
            }
            elements
                .try_iter()?
                .map(|k| elements.get_item(&k))
                .collect::<Result<_, _>>()?
        }
        _ => items_of(elements),
    };
    let mut out = Vec::new();
    for element in list {
        let json = crate::pyjson::to_json_value(&element)?;
        let serde_json::Value::Object(_) = json else {
            return Err(fail(format!(
                "subelements lookup expects a dictionary, got '{}'",
                try_py_str(&element)?
            )));
        };
        if json
            .get("skipped")
            .is_some_and(|s| s != &serde_json::Value::Bool(false))
        {
            continue;
        }
        let mut shown = json.clone();
        let Some(sublist) = take_path(&mut shown, &keys, skip_missing)? else {
            continue;
        };
        let shown = crate::pyjson::from_json_value(&shown);
        for sub in sublist {
            out.push(Value::from(vec![
                shown.clone(),
                crate::pyjson::from_json_value(&sub),
            ]));
        }
    }
    Ok(out)
}

/// Removes and returns the list at `keys` inside `element`; `None` to skip a missing key.
fn take_path(
    element: &mut serde_json::Value,
    keys: &[&str],
    skip_missing: bool,
) -> Result<Option<Vec<serde_json::Value>>, Error> {
    let mut node = element;
    for (i, key) in keys.iter().enumerate() {
        let last = i + 1 == keys.len();
        let shown = node.to_string();
        let Some(map) = node.as_object_mut() else {
            return Err(fail(format!(
                "the key {key} should point to a dictionary, got '{shown}'"
            )));
        };
        if !map.contains_key(*key) {
            if skip_missing {
                return Ok(None);
            }
            return Err(fail(format!(
                "could not find '{key}' key in iterated item '{shown}'"
            )));
        }
        if last {
            return match map.remove(*key) {
                Some(serde_json::Value::Array(items)) => Ok(Some(items)),
                Some(other) => Err(fail(format!(
                    "the key {key} should point to a list, got '{other}'"
                ))),
                None => Ok(None),
            };
        }
        node = map
            .get_mut(*key)
            .ok_or_else(|| fail(format!("could not find '{key}'")))?;
        if !node.is_object() {
            if skip_missing {
                return Ok(None);
            }
            return Err(fail(format!(
                "the key {key} should point to a dictionary, got '{node}'"
            )));
        }
    }
    Ok(None)
}

/// `random_choice`: one of the terms.
fn random_choice(terms: &[Value]) -> Result<Vec<Value>, Error> {
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let mut rng = crate::filters::random_generator(None)?;
    let index = rng
        .choice_index(terms.len())
        .map_err(|e| fail(e.to_string()))?;
    Ok(vec![terms[index].clone()])
}

/// The settings of one `sequence` term.
struct Sequence {
    start: i64,
    end: Option<i64>,
    count: Option<i64>,
    stride: i64,
    format: String,
}

fn seq_int(key: &str, value: &str) -> Result<i64, Error> {
    value.trim().parse().map_err(|_| {
        fail(format!(
            "Config '{key}' for 'sequence' lookup plugin has an invalid value: Invalid value provided for 'integer': '{value}'"
        ))
    })
}

/// `sequence`: `start=N end=M stride=S format=F` / `count=N`, or `[start-]end[/stride][:format]`.
fn sequence(terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    let terms: Vec<Value> = if terms.is_empty() {
        vec![Value::from("")]
    } else {
        terms.to_vec()
    };
    for term in &terms {
        let mut seq = Sequence {
            start: 1,
            end: None,
            count: None,
            stride: 1,
            format: "%d".into(),
        };
        for key in ["start", "end", "count", "stride", "format"] {
            if let Some(v) = kwargs.get::<Option<Value>>(key)? {
                set_field(&mut seq, key, &try_py_str(&v)?)?;
            }
        }
        let text = try_py_str(term)?;
        if !parse_shortcut(&text, &mut seq)? {
            for part in text.split_whitespace() {
                let (k, v) = part.split_once('=').ok_or_else(|| {
                    fail(format!(
                        "unknown error parsing with_sequence arguments: '{text}'"
                    ))
                })?;
                set_field(&mut seq, k, v)?;
            }
        }
        generate(&seq, &mut out)?;
    }
    Ok(out)
}

fn set_field(seq: &mut Sequence, key: &str, value: &str) -> Result<(), Error> {
    match key {
        "start" => seq.start = seq_int(key, value)?,
        "end" => seq.end = Some(seq_int(key, value)?),
        "count" => seq.count = Some(seq_int(key, value)?),
        "stride" => seq.stride = seq_int(key, value)?,
        "format" => seq.format = value.to_string(),
        other => {
            return Err(fail(format!(
                "unrecognized arguments to with_sequence: ['{other}']"
            )))
        }
    }
    Ok(())
}

/// The shortcut form; false if `text` is not one.
fn parse_shortcut(text: &str, seq: &mut Sequence) -> Result<bool, Error> {
    let (numbers, format) = match text.split_once(':') {
        Some((n, f)) if !f.is_empty() => (n, Some(f)),
        Some(_) => return Ok(false),
        None => (text, None),
    };
    let (range, stride) = match numbers.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (numbers, None),
    };
    let (start, end) = match range.split_once('-') {
        Some((s, e)) => (Some(s), e),
        None => (None, range),
    };
    let is_num = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_hexdigit() || c == 'x' || c == 'X')
    };
    if !is_num(end) || !start.is_none_or(is_num) || !stride.is_none_or(is_num) {
        return Ok(false);
    }
    if let Some(s) = start {
        seq.start = seq_int("start", s)?;
    }
    seq.end = Some(seq_int("end", end)?);
    if let Some(s) = stride {
        seq.stride = seq_int("stride", s)?;
    }
    if let Some(f) = format {
        seq.format = f.to_string();
    }
    Ok(true)
}

fn generate(seq: &Sequence, out: &mut Vec<Value>) -> Result<(), Error> {
    let end = match (seq.end, seq.count) {
        (None, None) => return Err(fail("must specify count or end in with_sequence".into())),
        (Some(_), Some(_)) => {
            return Err(fail(
                "can't specify both count and end in with_sequence".into(),
            ))
        }
        (Some(end), None) => end,
        (None, Some(0)) => return Ok(()),
        (None, Some(count)) => count
            .checked_mul(seq.stride)
            .and_then(|n| n.checked_add(seq.start - 1))
            .ok_or_else(|| fail("with_sequence: count too large".into()))?,
    };
    if seq.stride > 0 && end < seq.start {
        return Err(fail("to count backwards make stride negative".into()));
    }
    if seq.stride < 0 && end > seq.start {
        return Err(fail("to count forward don't make stride negative".into()));
    }
    if seq.stride == 0 {
        return Ok(());
    }
    if seq.format.matches('%').count() != 1 {
        return Err(fail(format!("bad formatting string: {}", seq.format)));
    }
    let length = (i128::from(end) - i128::from(seq.start)) / i128::from(seq.stride) + 1;
    if length > MAX_ITEMS as i128 {
        return Err(fail(format!(
            "with_sequence would produce more than {MAX_ITEMS} items"
        )));
    }
    let mut i = seq.start;
    for _ in 0..length {
        let text = format_percent(&seq.format, &Args::Positional(vec![Value::from(i)]))
            .map_err(|_| fail(format!("problem formatting {i} with '{}'", seq.format)))?;
        out.push(Value::from(text));
        i += seq.stride;
    }
    Ok(())
}
