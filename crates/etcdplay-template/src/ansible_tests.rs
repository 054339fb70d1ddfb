//! Ansible's Jinja tests: `version` (loose version comparison with operators), `match`,
//! `search`, `regex` (Python `re` syntax, see `filters/regex.rs`), the task-result tests
//! `succeeded`/`failed`/`changed`/`skipped`, and the control-node path tests.
//! minijinja's `defined`, `undefined`, `none`, `string`, `mapping`, ... are used as they are.

use std::cmp::Ordering;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

use crate::filters::{compile_python_regex, ensure_defined};
use crate::pyrepr::try_py_str;

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_test("version", version);
    env.add_test("version_compare", version);
    env.add_test("match", |v: Value, p: String, k: Kwargs| {
        regex_test(v, p, k, Mode::Match)
    });
    env.add_test("search", |v: Value, p: String, k: Kwargs| {
        regex_test(v, p, k, Mode::Search)
    });
    env.add_test("regex", regex_generic);
    for name in ["failed", "failure"] {
        env.add_test(name, |v: Value| result_flag(&v, "failed"));
    }
    for name in ["succeeded", "success", "successful"] {
        env.add_test(name, |v: Value| result_flag(&v, "failed").map(|f| !f));
    }
    for name in ["changed", "change"] {
        env.add_test(name, changed);
    }
    for name in ["skipped", "skip"] {
        env.add_test(name, |v: Value| result_flag(&v, "skipped"));
    }
    env.add_test("unreachable", |v: Value| result_flag(&v, "unreachable"));
    env.add_test("reachable", |v: Value| {
        result_flag(&v, "unreachable").map(|f| !f)
    });
    register_path_tests(env);
    env.add_test("truthy", |v: Value| v.is_true());
    env.add_test("falsy", |v: Value| !v.is_true());
    env.add_test(
        "contains",
        // Python's `item in seq`: a substring of a string, a key of a mapping, an element.
        |seq: Value, item: Value| -> Result<bool, Error> {
            if let (Some(text), Some(part)) = (seq.as_str(), item.as_str()) {
                return Ok(text.contains(part));
            }
            Ok(seq.try_iter()?.any(|x| x == item))
        },
    );
    env.add_test("subset", |a: Value, b: Value| -> Result<bool, Error> {
        let b: Vec<Value> = b.try_iter()?.collect();
        Ok(a.try_iter()?.all(|x| b.contains(&x)))
    });
    env.add_test("superset", |a: Value, b: Value| -> Result<bool, Error> {
        let a: Vec<Value> = a.try_iter()?.collect();
        Ok(b.try_iter()?.all(|x| a.contains(&x)))
    });
}

/// Ansible's path tests on control-node paths (`os.path`; relative paths from the working
/// directory, as there): `directory`/`is_dir`, `file`/`is_file`, `link`/`is_link`, `exists`,
/// `abs`/`is_abs`, `same_file`/`is_same_file`, `mount`/`is_mount`.
fn register_path_tests(env: &mut Environment<'static>) {
    fn path_test(
        env: &mut Environment<'static>,
        names: &[&'static str],
        check: fn(&std::path::Path) -> bool,
    ) {
        for name in names {
            env.add_test(*name, move |v: Value| -> Result<bool, Error> {
                ensure_defined(&v)?;
                Ok(check(std::path::Path::new(&try_py_str(&v)?)))
            });
        }
    }
    path_test(env, &["directory", "is_dir"], |p| p.is_dir());
    path_test(env, &["file", "is_file"], |p| p.is_file());
    path_test(env, &["link", "is_link"], |p| p.is_symlink());
    path_test(env, &["exists"], |p| p.exists());
    path_test(env, &["abs", "is_abs"], |p| p.is_absolute());
    path_test(env, &["mount", "is_mount"], is_mount);
    for name in ["same_file", "is_same_file"] {
        env.add_test(name, |a: Value, b: Value| -> Result<bool, Error> {
            ensure_defined(&a)?;
            ensure_defined(&b)?;
            let (a, b) = (try_py_str(&a)?, try_py_str(&b)?);
            let (a, b) = (std::fs::metadata(a), std::fs::metadata(b));
            use std::os::unix::fs::MetadataExt;
            match (a, b) {
                (Ok(a), Ok(b)) => Ok(a.dev() == b.dev() && a.ino() == b.ino()),
                (Err(e), _) | (_, Err(e)) => Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("same_file: {e}"),
                )),
            }
        });
    }
}

/// `os.path.ismount`: a directory on another device than its parent, or the same inode.
fn is_mount(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_dir() {
        return false;
    }
    match std::fs::metadata(path.join("..")) {
        Ok(parent) => parent.dev() != meta.dev() || parent.ino() == meta.ino(),
        Err(_) => false,
    }
}

/// One part of a Python `LooseVersion`: a number, or any other run of text.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Num(u128),
    Text(String),
}

/// `distutils.version.LooseVersion` parsing: digits, lowercase words and `.` separate parts;
/// anything else stays as text parts; dots are dropped.
fn loose_parts(text: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut other = String::new();
    let flush = |other: &mut String, parts: &mut Vec<Part>| {
        if !other.is_empty() {
            parts.push(Part::Text(std::mem::take(other)));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let class = |c: char| {
            if c.is_ascii_digit() {
                1
            } else if c.is_ascii_lowercase() {
                2
            } else {
                0
            }
        };
        match class(c) {
            0 if c == '.' => {
                flush(&mut other, &mut parts);
                i += 1;
            }
            0 => {
                other.push(c);
                i += 1;
            }
            k => {
                flush(&mut other, &mut parts);
                let start = i;
                while i < chars.len() && class(chars[i]) == k {
                    i += 1;
                }
                let run: String = chars[start..i].iter().collect();
                parts.push(match run.parse::<u128>() {
                    Ok(n) if k == 1 => Part::Num(n),
                    _ => Part::Text(run),
                });
            }
        }
    }
    flush(&mut other, &mut parts);
    parts
}

fn compare_loose(a: &str, b: &str) -> Result<Ordering, Error> {
    let (a, b) = (loose_parts(a), loose_parts(b));
    for (x, y) in a.iter().zip(b.iter()) {
        let ord = match (x, y) {
            (Part::Num(x), Part::Num(y)) => x.cmp(y),
            (Part::Text(x), Part::Text(y)) => x.cmp(y),
            (Part::Num(_), Part::Text(_)) => return Err(type_error("int", "str")),
            (Part::Text(_), Part::Num(_)) => return Err(type_error("str", "int")),
        };
        if ord != Ordering::Equal {
            return Ok(ord);
        }
    }
    Ok(a.len().cmp(&b.len()))
}

fn type_error(left: &str, right: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("Version comparison failed: '<' not supported between instances of '{left}' and '{right}'"),
    )
}

/// `value is version(other, operator='eq', strict=False)`.
fn version(
    value: Value,
    other: Value,
    operator: Option<String>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    ensure_defined(&value)?;
    ensure_defined(&other)?;
    let operator = match kwargs.get::<Option<String>>("operator")? {
        Some(op) => op,
        None => operator.unwrap_or_else(|| "eq".into()),
    };
    let strict = kwargs.get::<Option<bool>>("strict")?.unwrap_or(false);
    let version_type: Option<String> = kwargs.get("version_type")?;
    kwargs.assert_all_used()?;
    if strict || version_type.as_deref().is_some_and(|t| t != "loose") {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "only loose version comparison is supported",
        ));
    }
    let (a, b) = (try_py_str(&value)?, try_py_str(&other)?);
    if a.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "Input version value cannot be empty",
        ));
    }
    if b.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "Version parameter to compare against cannot be empty",
        ));
    }
    let ord = compare_loose(&a, &b)?;
    Ok(match operator.as_str() {
        "==" | "=" | "eq" => ord == Ordering::Equal,
        "<" | "lt" => ord == Ordering::Less,
        "<=" | "le" => ord != Ordering::Greater,
        ">" | "gt" => ord == Ordering::Greater,
        ">=" | "ge" => ord != Ordering::Less,
        "!=" | "<>" | "ne" => ord != Ordering::Equal,
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("Invalid operator type ({other})"),
            ))
        }
    })
}

#[derive(Clone, Copy)]
enum Mode {
    Match,
    Search,
}

fn regex_test(value: Value, pattern: String, kwargs: Kwargs, mode: Mode) -> Result<bool, Error> {
    ensure_defined(&value)?;
    let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let text = try_py_str(&value)?;
    // Python's re.match anchors at the start of the text only.
    let anchored = match mode {
        Mode::Match => format!("\\A(?:{pattern})"),
        Mode::Search => pattern.clone(),
    };
    let re = compile_python_regex(&anchored, ignorecase, multiline)?;
    re.is_match(&text)
        .map_err(|e| crate::filters::regex_runtime_error(&pattern, e))
}

/// `value is regex(pattern, match_type='search')`.
fn regex_generic(value: Value, pattern: String, kwargs: Kwargs) -> Result<bool, Error> {
    let match_type = kwargs
        .get::<Option<String>>("match_type")?
        .unwrap_or_else(|| "search".into());
    let ignorecase: Option<bool> = kwargs.get("ignorecase")?;
    let multiline: Option<bool> = kwargs.get("multiline")?;
    kwargs.assert_all_used()?;
    let inner = Kwargs::from_iter([
        ("ignorecase", Value::from(ignorecase.unwrap_or(false))),
        ("multiline", Value::from(multiline.unwrap_or(false))),
    ]);
    let mode = if match_type == "match" {
        Mode::Match
    } else {
        Mode::Search
    };
    regex_test(value, pattern, inner, mode)
}

fn expect_result(value: &Value, test: &str) -> Result<(), Error> {
    ensure_defined(value)?;
    if value.kind() != ValueKind::Map {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("The '{test}' test expects a dictionary"),
        ));
    }
    Ok(())
}

/// `bool(result.get(flag))` on a registered task result.
fn result_flag(value: &Value, flag: &str) -> Result<bool, Error> {
    expect_result(value, flag)?;
    Ok(value.get_attr(flag)?.is_true())
}

/// `changed` also looks into loop results when the result has no `changed` key.
fn changed(value: Value) -> Result<bool, Error> {
    expect_result(&value, "changed")?;
    let flag = value.get_attr("changed")?;
    if !flag.is_undefined() {
        return Ok(flag.is_true());
    }
    let results = value.get_attr("results")?;
    if results.kind() != ValueKind::Seq {
        return Ok(false);
    }
    for item in results.try_iter()? {
        if item.kind() == ValueKind::Map && item.get_attr("changed")?.is_true() {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_versions_compare_like_python() {
        assert_eq!(compare_loose("3.4.23", "3.5").unwrap(), Ordering::Less);
        assert_eq!(compare_loose("3.10", "3.9").unwrap(), Ordering::Greater);
        assert_eq!(compare_loose("1.0", "1.0.0").unwrap(), Ordering::Less);
        assert_eq!(compare_loose("v3.5.0", "v3.5.0").unwrap(), Ordering::Equal);
        assert!(compare_loose("1.a", "1.1").is_err());
        assert_eq!(
            loose_parts("3.4.23-rc1"),
            vec![
                Part::Num(3),
                Part::Num(4),
                Part::Num(23),
                Part::Text("-".into()),
                Part::Text("rc".into()),
                Part::Num(1)
            ]
        );
    }
}
