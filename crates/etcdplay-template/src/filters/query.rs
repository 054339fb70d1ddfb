//! `json_query` (JMESPath, on the `jmespath` crate, as community.general's filter) and
//! `urlsplit` (Python's `urllib.parse.urlsplit`, as Ansible's filter: a dict of all parts, or one
//! part by name).

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};

use super::ensure_defined;
use crate::pyjson::to_json_value;
use crate::pyrepr::try_py_str;

/// Longest JMESPath expression accepted.
const MAX_QUERY_LEN: usize = 64 * 1024;

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("json_query", json_query);
    env.add_filter("urlsplit", urlsplit);
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// `data | json_query(expr)`.
fn json_query(value: Value, expr: String) -> Result<Value, Error> {
    ensure_defined(&value)?;
    if expr.len() > MAX_QUERY_LEN {
        return Err(invalid(format!(
            "json_query: expression longer than {MAX_QUERY_LEN} bytes"
        )));
    }
    let data = to_json_value(&value)?;
    let compiled = jmespath::compile(&expr)
        .map_err(|e| invalid(format!("JMESPathError in json_query filter plugin:\n{e}")))?;
    let result = compiled
        .search(data)
        .map_err(|e| invalid(format!("JMESPathError in json_query filter plugin:\n{e}")))?;
    let json = serde_json::to_value(&*result).map_err(|e| invalid(format!("json_query: {e}")))?;
    Ok(crate::pyjson::from_json_value(&integral_floats_as_ints(
        json,
    )))
}

/// JMESPath numbers come back as floats; Python keeps `2` an int.
fn integral_floats_as_ints(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        J::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => J::from(f as i64),
            _ => J::Number(n),
        },
        J::Array(items) => J::Array(items.into_iter().map(integral_floats_as_ints).collect()),
        J::Object(map) => J::Object(
            map.into_iter()
                .map(|(k, v)| (k, integral_floats_as_ints(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The parts of a URL as `urllib.parse.urlsplit` returns them.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct UrlParts {
    pub(crate) scheme: String,
    pub(crate) netloc: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) fragment: String,
}

/// `urlsplit(url)`: scheme (lower-cased, only if it is a valid scheme), `//netloc`, path,
/// `?query`, `#fragment`.
pub(crate) fn split_url(url: &str) -> UrlParts {
    let mut parts = UrlParts::default();
    let mut rest = url;
    if let Some((scheme, after)) = url.split_once(':') {
        let valid = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if valid {
            parts.scheme = scheme.to_ascii_lowercase();
            rest = after;
        }
    }
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        parts.netloc = after[..end].to_string();
        rest = &after[end..];
    }
    if let Some((before, fragment)) = rest.split_once('#') {
        parts.fragment = fragment.to_string();
        rest = before;
    }
    if let Some((before, query)) = rest.split_once('?') {
        parts.query = query.to_string();
        rest = before;
    }
    parts.path = rest.to_string();
    parts
}

/// `username`, `password`, `hostname`, `port` from a netloc, as Python's `SplitResult` derives
/// them.
fn netloc_parts(netloc: &str) -> Result<(Value, Value, Value, Value), Error> {
    let none = || Value::from(());
    let (userinfo, hostport) = match netloc.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, netloc),
    };
    let (username, password) = match userinfo {
        Some(info) => match info.split_once(':') {
            Some((u, p)) => (Value::from(u), Value::from(p)),
            None => (Value::from(info), none()),
        },
        None => (none(), none()),
    };
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => (bracketed, None),
        }
    } else {
        match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let hostname = if host.is_empty() {
        none()
    } else {
        Value::from(host.to_lowercase())
    };
    let port = match port.filter(|p| !p.is_empty()) {
        None => none(),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if p.bytes().all(|b| b.is_ascii_digit()) => Value::from(n),
            _ => {
                return Err(invalid(format!(
                    "Port could not be cast to integer value as {p:?}"
                )))
            }
        },
    };
    Ok((username, password, hostname, port))
}

/// Ansible's `urlsplit(query='')`.
fn urlsplit(value: Value, query: Option<String>) -> Result<Value, Error> {
    ensure_defined(&value)?;
    let url = try_py_str(&value)?;
    let parts = split_url(&url);
    let (username, password, hostname, port) = netloc_parts(&parts.netloc)?;
    // Alphabetical, as Ansible builds the dict from the result's attribute names.
    let all = [
        ("fragment", Value::from(parts.fragment)),
        ("hostname", hostname),
        ("netloc", Value::from(parts.netloc)),
        ("password", password),
        ("path", Value::from(parts.path)),
        ("port", port),
        ("query", Value::from(parts.query)),
        ("scheme", Value::from(parts.scheme)),
        ("username", username),
    ];
    match query.as_deref().filter(|q| !q.is_empty()) {
        None => Ok(Value::from(
            all.into_iter()
                .collect::<std::collections::BTreeMap<&str, Value>>(),
        )),
        Some(q) => all
            .into_iter()
            .find(|(name, _)| *name == q)
            .map(|(_, v)| v)
            .ok_or_else(|| invalid(format!("urlsplit: unknown URL component: {q}"))),
    }
}
