//! The one constructor for regular expressions written in Python's `re` syntax (module
//! arguments such as lineinfile's `regexp`, Jinja's `regex_*` filters and `match`/`search`
//! tests): `fancy-regex` gives look-around and back-references (`\1`, `(?P=name)`) and reads
//! `(?P<name>...)`; what Python spells differently (`\Z`, a `{` that is no quantifier, `[` or
//! `&&` inside a class) is rewritten first, and replacement templates (`\1`, `\g<name>`) are
//! expanded as Python's `match.expand` does. Pattern size and backtracking are bounded, so a
//! pathological pattern is an error, never a hang.

use fancy_regex::{Captures, Regex, RegexBuilder};

/// The compiled pattern and its match-time error, for crates that do not name `fancy-regex`.
pub use fancy_regex::{Error as PyMatchError, Regex as PyRegex};

/// Longest pattern accepted (Python has no limit; no real pattern is this long).
pub(crate) const MAX_PATTERN_LEN: usize = 64 * 1024;
/// Compiled-program size limit of the underlying automaton.
const MAX_COMPILED_SIZE: usize = 8 * 1024 * 1024;
/// Backtracking steps allowed per match attempt before the match fails with an error.
pub(crate) const BACKTRACK_LIMIT: usize = 1_000_000;

/// Python's `re` flags that etcdplay's callers pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct PyReFlags {
    /// `re.IGNORECASE`
    pub ignorecase: bool,
    /// `re.MULTILINE`: `^` and `$` at every line.
    pub multiline: bool,
    /// `re.DOTALL`: `.` matches a newline too.
    pub dotall: bool,
}

/// Why a pattern was not compiled.
#[derive(Debug, thiserror::Error)]
pub enum PyReError {
    #[error("regular expression longer than {MAX_PATTERN_LEN} bytes")]
    TooLong,
    #[error("{0}")]
    Syntax(#[source] Box<fancy_regex::Error>),
}

/// Compiles `pattern` (Python syntax) with `flags`, bounded as the module doc says.
pub fn compile_python_regex(pattern: &str, flags: PyReFlags) -> Result<Regex, PyReError> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(PyReError::TooLong);
    }
    RegexBuilder::new(&translate_pattern(pattern))
        .case_insensitive(flags.ignorecase)
        .multi_line(flags.multiline)
        .dot_matches_new_line(flags.dotall)
        .backtrack_limit(BACKTRACK_LIMIT)
        .delegate_size_limit(MAX_COMPILED_SIZE)
        .build()
        .map_err(|e| PyReError::Syntax(Box::new(e)))
}

/// Python's pattern as the crate reads it: `\Z` is the end of the text (`\z`), a `{` that does
/// not start a quantifier is a literal brace (`{,n}` is `{0,n}`), and inside a class `[`, `&`
/// and `~` are literals (the crate reads them as nested classes and set operations).
fn translate_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            match chars.get(i + 1) {
                Some('Z') if !in_class => out.push_str("\\z"),
                Some(next) => {
                    out.push('\\');
                    out.push(*next);
                }
                None => out.push('\\'),
            }
            i += 2;
            continue;
        }
        if in_class {
            match c {
                ']' => in_class = false,
                '[' | '&' | '~' => out.push('\\'),
                _ => {}
            }
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // Python: a `]` first in a class is a literal.
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
            }
            '{' => match quantifier_len(&chars[i..]) {
                Some(len) => {
                    let text: String = chars[i..i + len].iter().collect();
                    out.push_str(&text.replacen("{,", "{0,", 1));
                    i += len;
                }
                None => {
                    out.push_str("\\{");
                    i += 1;
                }
            },
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The length of the quantifier `{m}`, `{m,}`, `{m,n}` or `{,n}` at the start of `chars`, as
/// Python accepts them; `None` when the brace is a literal.
fn quantifier_len(chars: &[char]) -> Option<usize> {
    let close = chars.iter().position(|c| *c == '}')?;
    let inner: String = chars[1..close].iter().collect();
    let (low, high) = match inner.split_once(',') {
        Some((low, high)) => (low, Some(high)),
        None => (inner.as_str(), None),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let valid = match high {
        None => !low.is_empty() && digits(low),
        Some(high) => digits(low) && digits(high) && !(low.is_empty() && high.is_empty()),
    };
    valid.then_some(close + 1)
}

/// Python's `match.expand(template)` (also each replacement of `re.sub`): `\1`..`\99`,
/// `\g<1>`, `\g<name>` (a group that did not take part is empty), and the escapes `\n`, `\t`,
/// `\r`, `\f`, `\v`, `\a`, `\\`; any other escape is kept as written.
pub fn expand_python_template(caps: &Captures<'_, str>, template: &str) -> String {
    let group = |key: &str| -> String {
        let m = match key.parse::<usize>() {
            Ok(n) => caps.get(n),
            Err(_) => caps.name(key),
        };
        m.map(|m| m.as_str().to_string()).unwrap_or_default()
    };
    let chars: Vec<char> = template.chars().collect();
    let mut out = String::with_capacity(template.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '\\' || i + 1 == chars.len() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let c = chars[i + 1];
        if c.is_ascii_digit() {
            let mut j = i + 1;
            while j < chars.len() && j < i + 3 && chars[j].is_ascii_digit() {
                j += 1;
            }
            out.push_str(&group(&chars[i + 1..j].iter().collect::<String>()));
            i = j;
            continue;
        }
        if c == 'g' && chars.get(i + 2) == Some(&'<') {
            if let Some(len) = chars[i + 3..].iter().position(|&x| x == '>') {
                out.push_str(&group(
                    &chars[i + 3..i + 3 + len].iter().collect::<String>(),
                ));
                i += 4 + len;
                continue;
            }
        }
        match c {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            'a' => out.push('\x07'),
            '\\' => out.push('\\'),
            other => {
                out.push('\\');
                out.push(other);
            }
        }
        i += 2;
    }
    out
}

/// Python's `re.sub(pattern, template, text, count)` (`count` 0: every match): the new text
/// and how many matches were replaced. A match that exceeds the backtracking limit is an error.
pub fn python_sub(
    re: &Regex,
    template: &str,
    text: &str,
    count: usize,
) -> Result<(String, usize), fancy_regex::Error> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut done = 0;
    for caps in re.captures_iter(text) {
        let caps = caps?;
        let whole = caps.get(0).expect("group 0 always matches");
        out.push_str(&text[last..whole.start()]);
        out.push_str(&expand_python_template(&caps, template));
        last = whole.end();
        done += 1;
        if count > 0 && done == count {
            break;
        }
    }
    out.push_str(&text[last..]);
    Ok((out, done))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str) -> Regex {
        compile_python_regex(p, PyReFlags::default()).unwrap()
    }

    // Python 3.12: re.sub(r'^(REF) .* \1$', r'\1 replaced', 'REF xyz REF') == 'REF replaced'
    // (lineinfile's "Replace a line with backrefs" target uses this pattern).
    #[test]
    fn back_references_and_look_around_compile_as_in_python() {
        let r = re(r"^(REF) .* \1$");
        let (text, n) = python_sub(&r, r"\1 replaced", "REF xyz REF", 0).unwrap();
        assert_eq!((text.as_str(), n), ("REF replaced", 1));
        assert!(re(r"foo(?=bar)").is_match("foobar").unwrap());
        assert!(!re(r"(?<!x)foo").is_match("xfoo").unwrap());
        assert!(re(r"(?P<w>a)(?P=w)").is_match("aa").unwrap());
    }

    // Python: re.search(r'a{', 'xa{') matches '{' literally; r'a{,2}' is a{0,2};
    // re.search(r'[[]', '[') and r'[]a]' match ']' ; r'a\Z' does not match 'a\n'.
    #[test]
    fn python_only_spellings_are_translated() {
        assert!(re(r"a{").is_match("xa{").unwrap());
        assert!(re(r"{foo}").is_match("{foo}").unwrap());
        assert!(re(r"^a{,2}$").is_match("aa").unwrap());
        assert!(re(r"[[]").is_match("[").unwrap());
        assert!(re(r"[]a]").is_match("]").unwrap());
        assert!(re(r"[a&&b]").is_match("&").unwrap());
        assert!(!re(r"a\Z").is_match("a\n").unwrap());
    }

    // Python: re.sub(r'(?P<k>\w+)=(\d+)', r'\g<k>: \2\n', 'a=1') == 'a: 1\n'; an unmatched
    // group expands to '' (re.sub(r'(x)?b', r'[\1]', 'b') == '[]').
    #[test]
    fn templates_expand_as_match_expand() {
        let (text, _) = python_sub(&re(r"(?P<k>\w+)=(\d+)"), r"\g<k>: \2\n", "a=1", 0).unwrap();
        assert_eq!(text, "a: 1\n");
        let (text, _) = python_sub(&re(r"(x)?b"), r"[\1]", "b", 0).unwrap();
        assert_eq!(text, "[]");
        let (text, n) = python_sub(&re("a"), "b", "aaa", 2).unwrap();
        assert_eq!((text.as_str(), n), ("bba", 2));
    }

    #[test]
    fn sizes_and_backtracking_are_bounded() {
        let long = "a".repeat(MAX_PATTERN_LEN + 1);
        assert!(matches!(
            compile_python_regex(&long, PyReFlags::default()),
            Err(PyReError::TooLong)
        ));
        // Catastrophic backtracking (a back-reference forces the backtracking engine).
        let r = re(r"^(a*)*\1b$");
        assert!(r.is_match(&"a".repeat(40)).is_err());
    }
}
