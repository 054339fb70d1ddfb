//! `regex_replace`, `regex_search`, `regex_findall` and `regex_escape` with Python `re` syntax,
//! on `fancy-regex`: look-around, back-references (`\1`, `(?P=name)`) and Python named groups
//! `(?P<name>...)` work as in Python; `\Z` is translated to its Python meaning (end of text) and
//! replacements (`\1`, `\g<name>`) to the crate's syntax. Patterns and backtracking are
//! bounded, so a pathological pattern is an error, never a hang.

use fancy_regex::{Regex, RegexBuilder};
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

/// Longest pattern accepted (Ansible has no limit; a template pattern is never this long).
const MAX_PATTERN_LEN: usize = 64 * 1024;
/// Compiled-program size limit of the underlying automaton.
const MAX_COMPILED_SIZE: usize = 8 * 1024 * 1024;
/// Backtracking steps allowed per match attempt before the match fails with an error.
const BACKTRACK_LIMIT: usize = 1_000_000;

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

/// `\Z` in Python is the very end of the text (`\z` here); an escaped backslash before `Z` is
/// left alone.
fn translate_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Z') => out.push_str("\\z"),
            Some(next) => {
                out.push('\\');
                out.push(next);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Compiles a Python-syntax pattern.
pub(crate) fn compile_python_regex(
    pattern: &str,
    ignorecase: bool,
    multiline: bool,
) -> Result<Regex, Error> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("regular expression longer than {MAX_PATTERN_LEN} bytes"),
        ));
    }
    RegexBuilder::new(&translate_pattern(pattern))
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .backtrack_limit(BACKTRACK_LIMIT)
        .delegate_size_limit(MAX_COMPILED_SIZE)
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("invalid regular expression {pattern:?}: {e}"),
            )
        })
}

/// Python `re.sub` replacement text (`\1`, `\g<1>`, `\g<name>`, `\n`) as `regex` crate syntax.
fn translate_replacement(repl: &str) -> String {
    let mut out = String::with_capacity(repl.len());
    let chars: Vec<char> = repl.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '$' {
            out.push_str("$$");
            i += 1;
            continue;
        }
        if c != '\\' || i + 1 == chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let next = chars[i + 1];
        match next {
            'g' if chars.get(i + 2) == Some(&'<') => {
                let end = chars[i + 3..].iter().position(|c| *c == '>');
                match end {
                    Some(len) => {
                        let name: String = chars[i + 3..i + 3 + len].iter().collect();
                        out.push_str(&format!("${{{name}}}"));
                        i += 4 + len;
                    }
                    None => {
                        out.push_str("\\g");
                        i += 2;
                    }
                }
            }
            d if d.is_ascii_digit() => {
                let mut j = i + 1;
                while j < chars.len() && j < i + 3 && chars[j].is_ascii_digit() {
                    j += 1;
                }
                let num: String = chars[i + 1..j].iter().collect();
                out.push_str(&format!("${{{num}}}"));
                i = j;
            }
            'n' => {
                out.push('\n');
                i += 2;
            }
            't' => {
                out.push('\t');
                i += 2;
            }
            'r' => {
                out.push('\r');
                i += 2;
            }
            '\\' => {
                out.push('\\');
                i += 2;
            }
            other => {
                // Python keeps unknown ASCII-letter escapes as errors and others literally;
                // keeping both characters is the forgiving choice.
                out.push('\\');
                out.push(other);
                i += 2;
            }
        }
    }
    out
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
    let repl = translate_replacement(&replacement.unwrap_or_default());
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
    Ok(re
        .try_replacen(&text, count, repl.as_str())
        .map_err(|e| runtime_error(&pattern, e))?
        .into_owned())
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

    #[test]
    fn replacement_syntax_is_translated() {
        assert_eq!(
            translate_replacement(r"\1-\g<name>-\g<2>"),
            "${1}-${name}-${2}"
        );
        assert_eq!(translate_replacement("cost $5"), "cost $$5");
        assert_eq!(translate_replacement(r"a\\b"), r"a\b");
    }
}
