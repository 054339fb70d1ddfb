//! `regex_replace`, `regex_search`, `regex_findall` and `regex_escape` with Python `re` syntax,
//! compiled by etcdplay's one constructor for Python patterns
//! ([`etcdplay_source::compile_python_regex`]: look-around, back-references, `(?P<name>...)`,
//! bounded size and backtracking) and replaced as Python's `re.sub` does (`\1`, `\g<name>`).

use etcdplay_source::{python_sub, PyReFlags};
use fancy_regex::Regex;
use minijinja::value::{Kwargs, Rest, Value};
use minijinja::{Environment, Error, ErrorKind};

use super::ensure_defined;
use crate::pyrepr::try_py_str;

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", regex_escape);
}

/// Python 3.7+ `re.escape`: only characters special in a pattern are escaped.
fn regex_escape(value: Value, kwargs: Kwargs) -> Result<String, Error> {
    ensure_defined(&value)?;
    let re_type = kwargs
        .get::<Option<String>>("re_type")?
        .unwrap_or_else(|| "python".into());
    kwargs.assert_all_used()?;
    let text = try_py_str(&value)?;
    let mut out = String::with_capacity(text.len() * 2);
    match re_type.as_str() {
        "python" => {
            for c in text.chars() {
                // Python 3.7+ escapes only characters special in a pattern.
                if "()[]{}?*+-|^$\\.&~# \t\n\r\x0b\x0c".contains(c) {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        "posix_basic" => {
            for c in text.chars() {
                if "$.[]\\*^".contains(c) {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("Invalid regex type ({other})"),
            ))
        }
    }
    Ok(out)
}

/// A match-time failure (the backtracking limit) as a template error.
pub(crate) fn runtime_error(pattern: &str, err: fancy_regex::Error) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("regular expression {pattern:?} could not be evaluated: {err}"),
    )
}

/// Compiles a Python-syntax pattern with etcdplay's one constructor
/// ([`etcdplay_source::compile_python_regex`]), its error as a template error.
pub(crate) fn compile_python_regex(
    pattern: &str,
    ignorecase: bool,
    multiline: bool,
) -> Result<Regex, Error> {
    let flags = PyReFlags {
        ignorecase,
        multiline,
        dotall: false,
    };
    etcdplay_source::compile_python_regex(pattern, flags).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("invalid regular expression {pattern:?}: {e}"),
        )
    })
}

fn flags(kwargs: &Kwargs) -> Result<(bool, bool), Error> {
    Ok((
        kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false),
        kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false),
    ))
}

/// Ansible's `regex_replace(pattern, replacement='', ignorecase=False, multiline=False, count=0)`.
fn regex_replace(
    value: Value,
    pattern: Option<String>,
    replacement: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    ensure_defined(&value)?;
    let (ignorecase, multiline) = flags(&kwargs)?;
    let count = kwargs.get::<Option<usize>>("count")?.unwrap_or(0);
    let mandatory_count = kwargs.get::<Option<usize>>("mandatory_count")?.unwrap_or(0);
    kwargs.assert_all_used()?;
    let text = try_py_str(&value)?;
    let pattern = pattern.unwrap_or_default();
    let re = compile_python_regex(&pattern, ignorecase, multiline)?;
    let repl = replacement.unwrap_or_default();
    let mut found = 0;
    for m in re.find_iter(&text) {
        m.map_err(|e| runtime_error(&pattern, e))?;
        found += 1;
    }
    if mandatory_count != 0 && mandatory_count != found {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("'{pattern}' should match {mandatory_count} times, but matches {found} times in '{text}'"),
        ));
    }
    let (replaced, _) =
        python_sub(&re, &repl, &text, count).map_err(|e| runtime_error(&pattern, e))?;
    Ok(replaced)
}

/// Ansible's `regex_search(regex, *groups, ignorecase=False, multiline=False)`: the match, the
/// listed groups (`'\\1'`, `'\\g<name>'`), or `None` without a match.
fn regex_search(
    value: Value,
    pattern: String,
    groups: Rest<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    ensure_defined(&value)?;
    let (ignorecase, multiline) = flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let text = try_py_str(&value)?;
    let re = compile_python_regex(&pattern, ignorecase, multiline)?;
    let Some(caps) = re.captures(&text).map_err(|e| runtime_error(&pattern, e))? else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(
            caps.get(0).map(|m| m.as_str()).unwrap_or_default(),
        ));
    }
    let mut out = Vec::new();
    for group in groups.iter() {
        let m = if let Some(name) = group.strip_prefix("\\g<").and_then(|g| g.strip_suffix('>')) {
            match name.parse::<usize>() {
                Ok(n) => caps.get(n),
                Err(_) => caps.name(name),
            }
        } else if let Some(num) = group.strip_prefix('\\') {
            let n: usize = num
                .parse()
                .map_err(|_| Error::new(ErrorKind::InvalidOperation, "Unknown argument"))?;
            caps.get(n)
        } else {
            return Err(Error::new(ErrorKind::InvalidOperation, "Unknown argument"));
        };
        out.push(
            m.map(|m| Value::from(m.as_str()))
                .unwrap_or(Value::from(())),
        );
    }
    Ok(Value::from(out))
}

/// Ansible's `regex_findall(regex, multiline=False, ignorecase=False)`.
fn regex_findall(value: Value, pattern: String, kwargs: Kwargs) -> Result<Value, Error> {
    ensure_defined(&value)?;
    let (ignorecase, multiline) = flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let text = try_py_str(&value)?;
    let re = compile_python_regex(&pattern, ignorecase, multiline)?;
    let groups = re.captures_len() - 1;
    let mut out = Vec::new();
    for caps in re.captures_iter(&text) {
        let caps = caps.map_err(|e| runtime_error(&pattern, e))?;
        let get = |i: usize| Value::from(caps.get(i).map(|m| m.as_str()).unwrap_or_default());
        out.push(match groups {
            0 => get(0),
            1 => get(1),
            n => Value::from((1..=n).map(get).collect::<Vec<_>>()),
        });
    }
    Ok(Value::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace(text: &str, pattern: &str, repl: &str) -> String {
        let none: Vec<(&str, Value)> = Vec::new();
        regex_replace(
            Value::from(text),
            Some(pattern.into()),
            Some(repl.into()),
            Kwargs::from_iter(none),
        )
        .unwrap()
    }

    // Ansible 2.19: {{ 'k=1' | regex_replace('(?P<k>\\w+)=(\\d+)', '\\g<k> is \\2 $x') }}
    // renders "k is 1 $x"; {{ 'aXa' | regex_replace('(a)X\\1', 'y') }} renders "y".
    #[test]
    fn replacement_follows_python() {
        assert_eq!(
            replace("k=1", r"(?P<k>\w+)=(\d+)", r"\g<k> is \2 $x"),
            "k is 1 $x"
        );
        assert_eq!(replace("aXa", r"(a)X\1", "y"), "y");
    }
}
