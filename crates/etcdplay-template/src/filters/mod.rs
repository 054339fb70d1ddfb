//! Ansible's filters, registered on the environment. minijinja's built-ins are kept where they
//! already behave like Jinja2 under Ansible (`default`, `map`, `select`, `selectattr`, `first`,
//! `last`, `length`, `unique`, `sort`, `dictsort`, `upper`, `lower`, `replace`, `trim`, ...);
//! those that print values or differ from Ansible (`bool`, `int`, `string`, `join`) are replaced.

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error};

mod collections;
mod crypt;
mod ip;
mod paths;
mod query;
mod random;
mod regex;
mod scalar;
mod serialize;
mod sets;

pub(crate) use self::random::generator as random_generator;
pub(crate) use self::regex::{compile_python_regex, runtime_error as regex_runtime_error};
pub(crate) use self::scalar::to_bool;

/// Adds every Ansible filter to `env`.
pub(crate) fn register(env: &mut Environment<'static>) {
    scalar::register(env);
    collections::register(env);
    regex::register(env);
    serialize::register(env);
    sets::register(env);
    random::register(env);
    paths::register(env);
    crypt::register(env);
    query::register(env);
    ip::register(env);
}

/// Python's name for a value's type, for error messages that mirror Ansible's.
pub(crate) fn python_type_name(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if value.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

/// Fails with minijinja's undefined error (which names the variable) if `value` is undefined.
/// Filters taking `Value` are not checked by minijinja's strict mode, unlike typed arguments.
pub(crate) fn ensure_defined(value: &Value) -> Result<(), Error> {
    if value.is_undefined() {
        // `get_attr` on an undefined value raises the error that remembers where it came from.
        value.get_attr("__undefined__")?;
    }
    Ok(())
}
