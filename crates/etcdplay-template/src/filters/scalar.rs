//! Filters on single values: `bool`, `int`, `string`, `ternary`, `mandatory`, `quote`, `hash`,
//! `b64encode`/`b64decode`, `basename`/`dirname`, `ipwrap`.

use base64::Engine as _;
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

use super::ensure_defined;
use crate::pyrepr::try_py_str;

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("bool", to_bool);
    env.add_filter("int", to_int);
    env.add_filter("string", to_string);
    env.add_filter("ternary", ternary);
    env.add_filter("mandatory", mandatory);
    env.add_filter("quote", quote);
    env.add_filter("hash", hash);
    env.add_filter("checksum", |v: Value| hash(v, Some("sha1".into())));
    env.add_filter("md5", |v: Value| hash(v, Some("md5".into())));
    env.add_filter("sha1", |v: Value| hash(v, Some("sha1".into())));
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("basename", basename);
    env.add_filter("dirname", dirname);
    env.add_filter("ipwrap", ipwrap);
    env.add_filter("type_debug", |v: Value| {
        Value::from(super::python_type_name(&v))
    });
}

/// Ansible's `bool` (ansible-core 2.19 `to_bool`): `yes/on/true/1` and `no/off/false/0` in any
/// case; ints and bools via their text; anything else is true only if it equals 1.
pub(crate) fn to_bool(value: Value) -> Result<bool, Error> {
    ensure_defined(&value)?;
    let text = match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_lowercase(),
        ValueKind::Bool => if value.is_true() { "true" } else { "false" }.to_string(),
        ValueKind::Number if value.is_integer() => value.to_string(),
        ValueKind::Number => return Ok(f64::try_from(value).map(|f| f == 1.0).unwrap_or(false)),
        _ => return Ok(false),
    };
    Ok(matches!(text.as_str(), "yes" | "on" | "true" | "1"))
}

/// Jinja2's `int(default=0, base=10)`: strings parse in `base`, else via float; failures give
/// `default`.
fn to_int(
    value: Value,
    default: Option<Value>,
    base: Option<u32>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    ensure_defined(&value)?;
    let default = match kwargs.get::<Option<Value>>("default")? {
        Some(d) => d,
        None => default.unwrap_or(Value::from(0)),
    };
    let base = match kwargs.get::<Option<u32>>("base")? {
        Some(b) => b,
        None => base.unwrap_or(10),
    };
    kwargs.assert_all_used()?;
    if !(2..=36).contains(&base) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "int() base must be >= 2 and <= 36",
        ));
    }
    Ok(match value.kind() {
        ValueKind::Bool => Value::from(i64::from(value.is_true())),
        ValueKind::Number if value.is_integer() => value,
        ValueKind::Number => match f64::try_from(value) {
            Ok(f) if f.is_finite() => Value::from(f.trunc() as i128),
            _ => default,
        },
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            parse_python_int(text, base)
                .map(Value::from)
                .or_else(|| {
                    parse_python_float(text)
                        .filter(|f| f.is_finite())
                        .map(|f| Value::from(f.trunc() as i128))
                })
                .unwrap_or(default)
        }
        _ => default,
    })
}

/// Python's `int(text, base)`: surrounding whitespace, a sign, a matching `0x`/`0o`/`0b` prefix
/// and single underscores between digits are allowed.
fn parse_python_int(text: &str, base: u32) -> Option<i128> {
    let text = text.trim();
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = rest.to_ascii_lowercase();
    let rest = match (base, lower.get(..2)) {
        (16, Some("0x")) | (8, Some("0o")) | (2, Some("0b")) => &rest[2..],
        _ => rest,
    };
    if rest.is_empty() || rest.starts_with('_') || rest.ends_with('_') || rest.contains("__") {
        return None;
    }
    let digits: String = rest.chars().filter(|c| *c != '_').collect();
    let n = i128::from_str_radix(&digits, base).ok()?;
    Some(if negative { -n } else { n })
}

/// Python's `float(text)` for the forms Jinja's `int` falls back to.
fn parse_python_float(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() || text.contains("__") {
        return None;
    }
    text.replace('_', "").parse::<f64>().ok()
}

/// Jinja2's `string`: Python's `str()`.
fn to_string(value: Value) -> Result<Value, Error> {
    ensure_defined(&value)?;
    Ok(Value::from(try_py_str(&value)?))
}

/// `value | ternary(true_val, false_val, none_val=None)`.
fn ternary(
    value: Value,
    true_val: Value,
    false_val: Value,
    none_val: Option<Value>,
) -> Result<Value, Error> {
    ensure_defined(&value)?;
    if value.is_none() {
        if let Some(none_val) = none_val.filter(|v| !v.is_none()) {
            return Ok(none_val);
        }
    }
    Ok(if value.is_true() { true_val } else { false_val })
}

/// `value | mandatory(msg=None)`: fails when the value is undefined.
fn mandatory(value: Value, msg: Option<String>) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            msg.unwrap_or_else(|| "Mandatory variable not defined.".to_string()),
        ));
    }
    Ok(value)
}

/// Python's `shlex.quote(str(value))`; `None` quotes as `''`.
fn quote(value: Value) -> Result<String, Error> {
    ensure_defined(&value)?;
    let text = if value.is_none() {
        String::new()
    } else {
        try_py_str(&value)?
    };
    Ok(shell_quote(&text))
}

pub(crate) fn shell_quote(text: &str) -> String {
    if text.is_empty() {
        return "''".into();
    }
    let safe = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c));
    if safe {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\"'\"'"))
    }
}

/// `value | hash('sha1')`: hex digest of the value's text.
fn hash(value: Value, kind: Option<String>) -> Result<String, Error> {
    use sha2::Digest as _;
    ensure_defined(&value)?;
    let data = try_py_str(&value)?;
    let kind = kind.unwrap_or_else(|| "sha1".into());
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    Ok(match kind.as_str() {
        "md5" => hex(&md5::Md5::digest(data.as_bytes())),
        "sha1" => hex(&sha1::Sha1::digest(data.as_bytes())),
        "sha224" => hex(&sha2::Sha224::digest(data.as_bytes())),
        "sha256" => hex(&sha2::Sha256::digest(data.as_bytes())),
        "sha384" => hex(&sha2::Sha384::digest(data.as_bytes())),
        "sha512" => hex(&sha2::Sha512::digest(data.as_bytes())),
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("unsupported hash type {other}"),
            ))
        }
    })
}

fn b64_engine(urlsafe: bool) -> base64::engine::GeneralPurpose {
    if urlsafe {
        base64::engine::general_purpose::URL_SAFE
    } else {
        base64::engine::general_purpose::STANDARD
    }
}

/// `value | b64encode`.
fn b64encode(value: Value, kwargs: Kwargs) -> Result<String, Error> {
    ensure_defined(&value)?;
    let urlsafe = kwargs.get::<Option<bool>>("urlsafe")?.unwrap_or(false);
    let _: Option<String> = kwargs.get("encoding")?;
    kwargs.assert_all_used()?;
    Ok(b64_engine(urlsafe).encode(try_py_str(&value)?))
}

/// `value | b64decode`: the decoded bytes as UTF-8 text.
fn b64decode(value: Value, kwargs: Kwargs) -> Result<String, Error> {
    ensure_defined(&value)?;
    let urlsafe = kwargs.get::<Option<bool>>("urlsafe")?.unwrap_or(false);
    let _: Option<String> = kwargs.get("encoding")?;
    kwargs.assert_all_used()?;
    let text = try_py_str(&value)?;
    let bytes = b64_engine(urlsafe).decode(text.trim()).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("invalid base64 input: {e}"),
        )
    })?;
    String::from_utf8(bytes).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            "b64decode: decoded data is not UTF-8",
        )
    })
}

/// Python's `os.path.basename`.
fn basename(path: String) -> String {
    match path.rfind('/') {
        Some(i) => path[i + 1..].to_string(),
        None => path,
    }
}

/// Python's `os.path.dirname`.
fn dirname(path: String) -> String {
    let head = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => return String::new(),
    };
    if head.chars().all(|c| c == '/') {
        head.to_string()
    } else {
        head.trim_end_matches('/').to_string()
    }
}

/// `ansible.utils.ipwrap`: IPv6 addresses get brackets (for `host:port`), others pass through.
fn ipwrap(value: Value) -> Result<Value, Error> {
    ensure_defined(&value)?;
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable => {
            let mut out = Vec::new();
            for item in value.try_iter()? {
                out.push(ipwrap(item)?);
            }
            Ok(Value::from(out))
        }
        ValueKind::String => Ok(Value::from(wrap_ipv6(value.as_str().unwrap_or_default()))),
        _ => Ok(value),
    }
}

fn wrap_ipv6(text: &str) -> String {
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    if addr.parse::<std::net::Ipv6Addr>().is_ok() {
        match prefix {
            Some(prefix) => format!("[{addr}]/{prefix}"),
            None => format!("[{addr}]"),
        }
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int_parsing() {
        assert_eq!(parse_python_int(" 42 ", 10), Some(42));
        assert_eq!(parse_python_int("-1_000", 10), Some(-1000));
        assert_eq!(parse_python_int("0x1F", 16), Some(31));
        assert_eq!(parse_python_int("1.5", 10), None);
        assert_eq!(parse_python_int("", 10), None);
    }

    #[test]
    fn paths_split_like_os_path() {
        assert_eq!(basename("/etc/etcd/etcd.conf".into()), "etcd.conf");
        assert_eq!(dirname("/etc/etcd/etcd.conf".into()), "/etc/etcd");
        assert_eq!(dirname("/etcd".into()), "/");
        assert_eq!(dirname("etcd".into()), "");
        assert_eq!(basename("/etc/".into()), "");
    }

    #[test]
    fn shell_quoting_matches_shlex() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("abc-1.2"), "abc-1.2");
        assert_eq!(shell_quote("it's"), "'it'\"'\"'s'");
    }

    #[test]
    fn ipv6_wrapping() {
        assert_eq!(wrap_ipv6("::1"), "[::1]");
        assert_eq!(wrap_ipv6("10.0.0.1"), "10.0.0.1");
        assert_eq!(wrap_ipv6("fd00::1/64"), "[fd00::1]/64");
        assert_eq!(wrap_ipv6("etcd1"), "etcd1");
    }
}
