//! Python methods called on template values (`groups.etcds.index(inventory_hostname)`,
//! `name.startswith('etcd')`, `d.items()`): our own for what minijinja-contrib's `pycompat`
//! lacks, then `pycompat` for the rest.

use minijinja::value::{from_args, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

use crate::pyrepr::{py_repr, try_py_str};

/// minijinja's unknown-method callback.
pub(crate) fn call_method(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    match (value.kind(), method) {
        (ValueKind::Seq, "index") => {
            let (needle,): (Value,) = from_args(args)?;
            for (i, item) in value.try_iter()?.enumerate() {
                if item == needle {
                    return Ok(Value::from(i));
                }
            }
            Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("{} is not in list", py_repr(&needle)),
            ))
        }
        (ValueKind::Seq, "count") => {
            let (needle,): (Value,) = from_args(args)?;
            Ok(Value::from(
                value.try_iter()?.filter(|item| *item == needle).count(),
            ))
        }
        (ValueKind::String, "join") => {
            let (items,): (Value,) = from_args(args)?;
            let sep = value.as_str().unwrap_or_default();
            let parts = items
                .try_iter()?
                .map(|v| try_py_str(&v))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::from(parts.join(sep)))
        }
        (ValueKind::String, "index" | "find") => {
            let (needle,): (String,) = from_args(args)?;
            let hay = value.as_str().unwrap_or_default();
            match hay.find(&needle) {
                Some(byte) => Ok(Value::from(hay[..byte].chars().count())),
                None if method == "find" => Ok(Value::from(-1)),
                None => Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "substring not found",
                )),
            }
        }
        (ValueKind::String, "zfill") => {
            let (width,): (usize,) = from_args(args)?;
            let s = value.as_str().unwrap_or_default();
            let len = s.chars().count();
            if len >= width {
                return Ok(Value::from(s));
            }
            let (sign, digits) = match s.chars().next() {
                Some(c @ ('+' | '-')) => (c.to_string(), &s[1..]),
                _ => (String::new(), s),
            };
            Ok(Value::from(format!(
                "{sign}{}{digits}",
                "0".repeat(width - len)
            )))
        }
        _ => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args),
    }
}
