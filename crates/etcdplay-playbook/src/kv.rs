//! The `key=value` shorthand of task arguments (`template: src=a.j2 dest=/etc/a mode=0644`), split
//! the way Ansible's `split_args`/`parse_kv` do: whitespace separates tokens except inside quotes
//! and Jinja blocks, surrounding quotes are removed from values, and tokens without `=` form the
//! free-form `_raw_params` of command-like modules.

/// One token of a k=v line.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// `key=value`, the value unquoted.
    Pair(String, String),
    /// Anything else, as written.
    Raw(String),
}

/// Why a line could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SplitError {
    UnbalancedQuotes,
    UnbalancedJinja,
}

impl SplitError {
    pub(crate) fn message(&self) -> &'static str {
        match self {
            SplitError::UnbalancedQuotes => "unbalanced quotes",
            SplitError::UnbalancedJinja => "unbalanced Jinja2 braces ({{ }}, {% %} or {# #})",
        }
    }
}

/// Splits on whitespace outside quotes and Jinja blocks, keeping each token as written, with
/// the character offset where it starts (so diagnostics can point at the word).
pub(crate) fn split_words(text: &str) -> Result<Vec<(usize, String)>, SplitError> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut start = 0usize;
    let mut quote: Option<char> = None;
    let mut jinja_depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if cur.is_empty() {
            start = i;
        }
        if let Some(q) = quote {
            cur.push(c);
            if c == '\\' {
                if let Some(n) = next {
                    cur.push(n);
                    i += 1;
                }
            } else if c == q {
                quote = None;
            }
        } else if c == '{' && matches!(next, Some('{' | '%' | '#')) {
            jinja_depth += 1;
            cur.push(c);
            cur.push(next.unwrap_or('{'));
            i += 1;
        } else if matches!(c, '}' | '%' | '#') && next == Some('}') && jinja_depth > 0 {
            jinja_depth -= 1;
            cur.push(c);
            cur.push('}');
            i += 1;
        } else if jinja_depth > 0 {
            cur.push(c);
        } else if c == '"' || c == '\'' {
            quote = Some(c);
            cur.push(c);
        } else if c.is_whitespace() {
            if !cur.is_empty() {
                words.push((start, std::mem::take(&mut cur)));
            }
        } else {
            cur.push(c);
        }
        i += 1;
    }
    if quote.is_some() {
        return Err(SplitError::UnbalancedQuotes);
    }
    if jinja_depth > 0 {
        return Err(SplitError::UnbalancedJinja);
    }
    if !cur.is_empty() {
        words.push((start, cur));
    }
    Ok(words)
}

/// Splits a free-form argument string exactly as Ansible's `split_args` does, for modules whose
/// text is kept (`command`, `shell`, ...): on spaces and newlines only, a token continuing
/// through quotes or Jinja blocks; runs of spaces stay attached to the token before them and a
/// line's newline to its last token (a line ending in a lone `\` is continued instead), so
/// [`join_args`] gives the text back as Ansible's `_raw_params`. Offsets are in characters.
pub(crate) fn split_args(text: &str) -> Result<Vec<(usize, String)>, SplitError> {
    let mut params: Vec<(usize, String)> = Vec::new();
    let mut quote: Option<char> = None;
    let (mut print_depth, mut block_depth, mut comment_depth) = (0usize, 0usize, 0usize);
    let items: Vec<&str> = text.split('\n').collect();
    let mut offset = 0usize;
    for (item_idx, item) in items.iter().enumerate() {
        let mut continued = false;
        let mut token_offset = offset;
        for (idx, token) in item.split(' ').enumerate() {
            let at = token_offset;
            token_offset += token.chars().count() + 1;
            if token.is_empty() && idx != 0 {
                match params.last_mut() {
                    Some((_, last)) => last.push(' '),
                    None => params.push((at, " ".into())),
                }
                continue;
            }
            if token == "\\" && quote.is_none() {
                continued = true;
                continue;
            }
            let was_inside = quote.is_some();
            quote = quote_state(token, quote);
            let inside = quote.is_some();
            let in_jinja = print_depth > 0 || block_depth > 0 || comment_depth > 0;
            let mut appended = false;
            if inside && !was_inside && !in_jinja {
                params.push((at, token.to_string()));
                appended = true;
            } else if in_jinja || inside || was_inside {
                if let Some((_, last)) = params.last_mut() {
                    if idx > 0 {
                        last.push(' ');
                    }
                    last.push_str(token);
                } else {
                    params.push((at, token.to_string()));
                }
                appended = true;
            }
            for (depth, open, close) in [
                (&mut print_depth, "{{", "}}"),
                (&mut block_depth, "{%", "%}"),
                (&mut comment_depth, "{#", "#}"),
            ] {
                let before = *depth;
                *depth = jinja_depth(token, before, open, close);
                if *depth != before && !appended {
                    params.push((at, token.to_string()));
                    appended = true;
                }
            }
            let in_jinja = print_depth > 0 || block_depth > 0 || comment_depth > 0;
            if !in_jinja && !inside && !appended && !token.is_empty() {
                params.push((at, token.to_string()));
            }
        }
        if items.len() > 1 && item_idx != items.len() - 1 && !continued {
            match params.last_mut() {
                Some((_, last)) => last.push('\n'),
                None => params.push((offset, "\n".into())),
            }
        }
        offset += item.chars().count() + 1;
    }
    if quote.is_some() {
        return Err(SplitError::UnbalancedQuotes);
    }
    if print_depth > 0 || block_depth > 0 || comment_depth > 0 {
        return Err(SplitError::UnbalancedJinja);
    }
    Ok(params)
}

/// Ansible's `join_args`: the tokens of [`split_args`] joined by a space, except after a
/// newline.
pub(crate) fn join_args<S: AsRef<str>>(tokens: &[S]) -> String {
    let mut out = String::new();
    for token in tokens {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push(' ');
        }
        out.push_str(token.as_ref());
    }
    out
}

/// Whether a quote is open after `token` (Ansible's `_get_quote_state`): a quote character not
/// preceded by a backslash opens a quote or closes the open one of its kind.
fn quote_state(token: &str, mut quote: Option<char>) -> Option<char> {
    let mut prev = None;
    for c in token.chars() {
        if (c == '"' || c == '\'') && prev != Some('\\') {
            match quote {
                Some(q) if q == c => quote = None,
                Some(_) => {}
                None => quote = Some(c),
            }
        }
        prev = Some(c);
    }
    quote
}

/// Ansible's `_count_jinja2_blocks`: the depth after `token`, by its counts of `open` and
/// `close`, never below zero.
fn jinja_depth(token: &str, depth: usize, open: &str, close: &str) -> usize {
    let opened = token.matches(open).count();
    let closed = token.matches(close).count();
    (depth + opened).saturating_sub(closed)
}

/// Removes one pair of matching surrounding quotes, as Ansible's `unquote` does.
fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

/// Python's escape sequences as Ansible's `parse_kv` decodes them in a `key=value` word:
/// `\\ \' \" \a \b \f \n \r \t \v`, `\xHH`, `\uHHHH`, `\UHHHHHHHH`; anything else (and
/// `\N{name}`, which needs Unicode's name table) stays as written.
fn decode_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let hex = |len: usize| {
            after
                .get(1..=len)
                .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32)
        };
        let (decoded, used) = match after.chars().next() {
            Some('\\') => (Some('\\'), 1),
            Some('\'') => (Some('\''), 1),
            Some('"') => (Some('"'), 1),
            Some('a') => (Some('\u{7}'), 1),
            Some('b') => (Some('\u{8}'), 1),
            Some('f') => (Some('\u{c}'), 1),
            Some('n') => (Some('\n'), 1),
            Some('r') => (Some('\r'), 1),
            Some('t') => (Some('\t'), 1),
            Some('v') => (Some('\u{b}'), 1),
            Some('x') => (hex(2), 3),
            Some('u') => (hex(4), 5),
            Some('U') => (hex(8), 9),
            _ => (None, 0),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[used..];
            }
            None => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The position of the first `=` outside quotes and Jinja, if the word is a `key=value`.
pub(crate) fn pair_split(word: &str) -> Option<(String, String)> {
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let mut prev = '\0';
    for (i, c) in word.char_indices() {
        match quote {
            Some(q) if c == q && prev != '\\' => quote = None,
            Some(_) => {}
            None if (c == '"' || c == '\'') && depth == 0 => quote = Some(c),
            None if c == '{' && prev == '{' => depth += 1,
            None if c == '}' && prev == '}' && depth > 0 => depth -= 1,
            None if c == '=' && depth == 0 && prev != '\\' => {
                let key = &word[..i];
                // A key is a plain name: `a=b` is a pair, `"a=b"` or `x==y` is not.
                if key.is_empty()
                    || !key
                        .chars()
                        .all(|k| k.is_ascii_alphanumeric() || k == '_' || k == '-')
                {
                    return None;
                }
                // Ansible decodes escapes in the word (`\"`, `\t`, `\u00e9`), then unquotes.
                let value = decode_escapes(&word[i + 1..]);
                return Some((key.to_string(), unquote(value.trim())));
            }
            None => {}
        }
        prev = c;
    }
    None
}

/// Splits a k=v line into tokens.
#[cfg(test)]
pub(crate) fn split_kv(text: &str) -> Result<Vec<Token>, SplitError> {
    Ok(split_words(text)?
        .into_iter()
        .map(|(_, w)| match pair_split(&w) {
            Some((k, v)) => Token::Pair(k, v),
            None => Token::Raw(w),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(k: &str, v: &str) -> Token {
        Token::Pair(k.into(), v.into())
    }

    #[test]
    fn pairs_with_quotes_and_jinja() {
        let t = split_kv("src=etcd.service.j2 dest=/etc/systemd/system/etcd.service mode=0644")
            .unwrap();
        assert_eq!(
            t,
            vec![
                pair("src", "etcd.service.j2"),
                pair("dest", "/etc/systemd/system/etcd.service"),
                pair("mode", "0644")
            ]
        );
        let t = split_kv(r#"msg="hello {{ name }}" var='a b'"#).unwrap();
        assert_eq!(t, vec![pair("msg", "hello {{ name }}"), pair("var", "a b")]);
        let t = split_kv("name={{ item.key }} value={{ item.value | default('x y') }}").unwrap();
        assert_eq!(
            t,
            vec![
                pair("name", "{{ item.key }}"),
                pair("value", "{{ item.value | default('x y') }}")
            ]
        );
    }

    /// ansible-core 2.19.14 printed `a "b" c<TAB>z` for `msg="a \"b\" c\tz"` and `x 'y'`
    /// for `msg='x \'y\''` (`debug` with `-c local`).
    #[test]
    fn pair_values_decode_python_escapes() {
        assert_eq!(
            pair_split(r#"msg="a \"b\" c\tz""#),
            Some(("msg".into(), "a \"b\" c\tz".into()))
        );
        assert_eq!(
            pair_split(r"msg='x \'y\''"),
            Some(("msg".into(), "x 'y'".into()))
        );
        assert_eq!(
            pair_split(r"p=C:\\temp\u00e9\q"),
            Some(("p".into(), "C:\\temp\u{e9}\\q".into()))
        );
    }

    #[test]
    fn raw_words_stay_as_written() {
        let t = split_kv(r#"echo "a  b" chdir=/tmp x==y "k=v" 1+1=2"#).unwrap();
        assert_eq!(
            t,
            vec![
                Token::Raw("echo".into()),
                Token::Raw("\"a  b\"".into()),
                pair("chdir", "/tmp"),
                pair("x", "=y"),
                Token::Raw("\"k=v\"".into()),
                Token::Raw("1+1=2".into()),
            ]
        );
    }

    #[test]
    fn words_know_where_they_start() {
        let w = split_words("  a=1   msg=\"x y\" é=2 {{ a b }}").unwrap();
        let starts: Vec<usize> = w.iter().map(|(s, _)| *s).collect();
        assert_eq!(starts, vec![2, 8, 18, 22]);
    }

    #[test]
    fn unbalanced_input_is_an_error() {
        assert_eq!(split_kv("msg='oops"), Err(SplitError::UnbalancedQuotes));
        assert_eq!(split_kv("msg={{ x"), Err(SplitError::UnbalancedJinja));
        assert_eq!(split_kv(""), Ok(vec![]));
    }

    /// The free-form text of a command-like task as [`split_args`], [`pair_split`] and
    /// [`join_args`] give it, with `chdir` taken out as a pair.
    fn free_form(text: &str) -> (String, Vec<(String, String)>) {
        let mut raw = Vec::new();
        let mut pairs = Vec::new();
        for (_, word) in split_args(text).expect("balanced") {
            match pair_split(&word) {
                Some((k, v)) if k == "chdir" => pairs.push((k, v)),
                _ => raw.push(word),
            }
        }
        (join_args(&raw), pairs)
    }

    /// Ansible 2.19.14's `parse_kv(text, check_raw=True)` on each input gave these
    /// `_raw_params` (and `chdir`): newlines, runs of spaces and tabs kept, a lone `\` at a
    /// line's end continuing it, a backslashed quote not opening a quote.
    #[test]
    fn free_form_text_keeps_its_lines_as_ansible() {
        assert_eq!(
            free_form("echo a   b \\\n  c\necho \"x\ny\"  z\n").0,
            "echo a   b  c\necho \"x\ny\"  z\n"
        );
        assert_eq!(free_form("echo \\\"hi there").0, "echo \\\"hi there");
        assert_eq!(
            free_form("echo {{ a  }} b\tc chdir=/tmp\n"),
            (
                "echo {{ a  }} b\tc".to_string(),
                vec![("chdir".to_string(), "/tmp".to_string())]
            )
        );
        assert_eq!(free_form("  lead  x=1 \n\n y").0, "  lead  x=1 \n\ny");
    }
}
