//! The two bits of Python that INI inventories depend on: `shlex.split(line, comments=True)`,
//! which cuts a host line into words, and `ast.literal_eval`, which turns `k=5`, `k=True`,
//! `k=[1, 2]` into typed values. Anything literal_eval would reject stays a string, as in Ansible.

use serde_json::{Map, Number, Value};

/// How deep `[[[...]]]` may nest before the text is kept as a plain string.
const MAX_DEPTH: usize = 64;

/// Splits a line the way Python's `shlex.split(line, comments=True)` does (POSIX mode).
pub(crate) fn shlex_split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            // A comment ends the line, even in the middle of a word.
            '#' => break,
            '\\' => {
                let next = chars.next().ok_or("No escaped character")?;
                word.push(next);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\')) => word.push(ch),
                            Some(ch) => {
                                word.push('\\');
                                word.push(ch);
                            }
                            None => return Err("No closing quotation".into()),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The value of an INI variable: the Python literal it spells, or the text itself.
pub(crate) fn ini_value(text: &str) -> Value {
    let mut p = LiteralParser {
        s: text.trim_start_matches([' ', '\t']).as_bytes(),
        i: 0,
    };
    match p.expr(0) {
        Some(v) => {
            p.skip_ws();
            if p.i == p.s.len() {
                v
            } else {
                Value::String(text.to_string())
            }
        }
        None => Value::String(text.to_string()),
    }
}

struct LiteralParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl LiteralParser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_ws();
        match self.peek()? {
            b'[' => {
                self.i += 1;
                self.sequence(b']', depth).map(Value::Array)
            }
            b'(' => {
                self.i += 1;
                // `(x)` is x itself; `(x,)` and `()` are tuples, which become lists.
                let start = self.i;
                if self.eat(b')') {
                    return Some(Value::Array(Vec::new()));
                }
                self.i = start;
                let first = self.expr(depth + 1)?;
                if self.eat(b')') {
                    return Some(first);
                }
                self.i = start;
                self.sequence(b')', depth).map(Value::Array)
            }
            b'{' => {
                self.i += 1;
                self.braces(depth)
            }
            b'-' | b'+' => {
                let neg = self.peek() == Some(b'-');
                self.i += 1;
                self.skip_ws();
                match self.number()? {
                    Value::Number(n) if neg => negate(&n),
                    v @ Value::Number(_) => Some(v),
                    _ => None,
                }
            }
            b'\'' | b'"' => self.strings(),
            c if c.is_ascii_digit() || c == b'.' => self.number(),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.i += 1;
                }
                let word = std::str::from_utf8(&self.s[start..self.i]).ok()?;
                match word {
                    "True" => Some(Value::Bool(true)),
                    "False" => Some(Value::Bool(false)),
                    "None" => Some(Value::Null),
                    w if matches!(self.peek(), Some(b'\'' | b'"')) && is_string_prefix(w) => {
                        self.i = start;
                        self.strings()
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Comma-separated items up to `close`; a trailing comma is allowed.
    fn sequence(&mut self, close: u8, depth: usize) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.expr(depth + 1)?);
            if self.eat(b',') {
                continue;
            }
            return if self.eat(close) { Some(items) } else { None };
        }
    }

    /// `{}` / `{k: v, ...}` (a dict) or `{a, b}` (a set, which becomes a list).
    fn braces(&mut self, depth: usize) -> Option<Value> {
        if self.eat(b'}') {
            return Some(Value::Object(Map::new()));
        }
        let first = self.expr(depth + 1)?;
        if self.eat(b':') {
            let mut map = Map::new();
            let value = self.expr(depth + 1)?;
            map.insert(key_text(&first)?, value);
            loop {
                if self.eat(b'}') {
                    return Some(Value::Object(map));
                }
                if !self.eat(b',') {
                    return None;
                }
                if self.eat(b'}') {
                    return Some(Value::Object(map));
                }
                let k = self.expr(depth + 1)?;
                if !self.eat(b':') {
                    return None;
                }
                let v = self.expr(depth + 1)?;
                map.insert(key_text(&k)?, v);
            }
        }
        let mut items = vec![first];
        loop {
            if self.eat(b'}') {
                let mut unique: Vec<Value> = Vec::new();
                for item in items {
                    if !unique.contains(&item) {
                        unique.push(item);
                    }
                }
                return Some(Value::Array(unique));
            }
            if !self.eat(b',') {
                return None;
            }
            if self.eat(b'}') {
                continue;
            }
            items.push(self.expr(depth + 1)?);
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        {
            // An exponent sign belongs to the number: 1e-5.
            let c = self.s[self.i];
            self.i += 1;
            if (c == b'e' || c == b'E')
                && matches!(self.peek(), Some(b'+' | b'-'))
                && !self.s[start..self.i].starts_with(b"0x")
            {
                self.i += 1;
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        parse_number(text)
    }

    /// One or more adjacent string literals, concatenated as Python does.
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        let mut any = false;
        loop {
            self.skip_ws();
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                self.i += 1;
            }
            let prefix = std::str::from_utf8(&self.s[start..self.i])
                .ok()?
                .to_ascii_lowercase();
            if !matches!(self.peek(), Some(b'\'' | b'"')) || !is_string_prefix(&prefix) {
                self.i = start;
                break;
            }
            out.push_str(&self.one_string(prefix.contains('r'))?);
            any = true;
        }
        any.then_some(Value::String(out))
    }

    fn one_string(&mut self, raw: bool) -> Option<String> {
        let quote = self.peek()?;
        let triple = self.s[self.i..].starts_with(&[quote; 3]);
        self.i += if triple { 3 } else { 1 };
        let mut bytes = Vec::new();
        loop {
            let c = self.peek()?;
            if c == quote && (!triple || self.s[self.i..].starts_with(&[quote; 3])) {
                self.i += if triple { 3 } else { 1 };
                return String::from_utf8(bytes).ok();
            }
            if c == b'\n' && !triple {
                return None;
            }
            self.i += 1;
            if c != b'\\' {
                bytes.push(c);
                continue;
            }
            let e = self.peek()?;
            self.i += 1;
            if raw {
                bytes.push(b'\\');
                bytes.push(e);
                continue;
            }
            let simple = match e {
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'r' => Some(b'\r'),
                b'\\' => Some(b'\\'),
                b'\'' => Some(b'\''),
                b'"' => Some(b'"'),
                b'a' => Some(7),
                b'b' => Some(8),
                b'f' => Some(12),
                b'v' => Some(11),
                b'0' => Some(0),
                b'\n' => None,
                _ => {
                    bytes.push(b'\\');
                    Some(e)
                }
            };
            if let Some(b) = simple {
                bytes.push(b);
            }
        }
    }
}

fn is_string_prefix(p: &str) -> bool {
    matches!(
        p.to_ascii_lowercase().as_str(),
        "" | "r" | "u" | "b" | "br" | "rb"
    )
}

fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True".into() } else { "False".into() }),
        Value::Null => Some("None".into()),
        _ => None,
    }
}

fn negate(n: &Number) -> Option<Value> {
    if let Some(i) = n.as_i64() {
        return Some(Value::Number(i.checked_neg()?.into()));
    }
    Number::from_f64(-n.as_f64()?).map(Value::Number)
}

/// A Python int or float literal; `None` for what Python would reject (like `010`).
fn parse_number(text: &str) -> Option<Value> {
    if text.starts_with('_') || text.ends_with('_') || text.contains("__") {
        return None;
    }
    let clean = text.replace('_', "");
    let lower = clean.to_ascii_lowercase();
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find(|(p, _)| lower.starts_with(p));
    if let Some((p, radix)) = radix {
        return i64::from_str_radix(&lower[p.len()..], radix)
            .ok()
            .map(|i| Value::Number(i.into()));
    }
    if lower.bytes().all(|c| c.is_ascii_digit()) {
        // Python 3 refuses leading zeros in decimal integers, except for zero itself.
        if lower.len() > 1 && lower.starts_with('0') && lower.bytes().any(|c| c != b'0') {
            return None;
        }
        return lower.parse::<i64>().ok().map(|i| Value::Number(i.into()));
    }
    let ok = lower
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-'));
    if !ok || lower.starts_with('e') || lower == "." {
        return None;
    }
    let f: f64 = lower.parse().ok()?;
    Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shlex_like_python() {
        assert_eq!(
            shlex_split(r#"h1 a=1 b="x y" c='p q' # note"#).unwrap(),
            ["h1", "a=1", "b=x y", "c=p q"]
        );
        assert_eq!(shlex_split(r#"a=x#y z"#).unwrap(), ["a=x"]);
        assert_eq!(shlex_split(r#"a="q\"r\n""#).unwrap(), ["a=q\"r\\n"]);
        assert_eq!(shlex_split(r"a\ b").unwrap(), ["a b"]);
        assert_eq!(shlex_split("a=\"open").unwrap_err(), "No closing quotation");
        assert_eq!(shlex_split("a\\").unwrap_err(), "No escaped character");
    }

    #[test]
    fn literals_like_ast_literal_eval() {
        assert_eq!(ini_value("5"), json!(5));
        assert_eq!(ini_value("-5"), json!(-5));
        assert_eq!(ini_value("1_000"), json!(1000));
        assert_eq!(ini_value("0x10"), json!(16));
        assert_eq!(ini_value("010"), json!("010"));
        assert_eq!(ini_value("1.5"), json!(1.5));
        assert_eq!(ini_value("1e3"), json!(1000.0));
        assert_eq!(ini_value("True"), json!(true));
        assert_eq!(ini_value("true"), json!("true"));
        assert_eq!(ini_value("None"), json!(null));
        assert_eq!(ini_value("'quoted'"), json!("quoted"));
        assert_eq!(ini_value(r#""a" 'b'"#), json!("ab"));
        assert_eq!(ini_value("[1, 'a', [True]]"), json!([1, "a", [true]]));
        assert_eq!(ini_value("(1,)"), json!([1]));
        assert_eq!(ini_value("(1)"), json!(1));
        assert_eq!(ini_value("{'a': 1, 2: 'b'}"), json!({"a": 1, "2": "b"}));
        assert_eq!(ini_value("3.5.9"), json!("3.5.9"));
        assert_eq!(ini_value("a b"), json!("a b"));
        assert_eq!(ini_value("10.0.0.1"), json!("10.0.0.1"));
        assert_eq!(ini_value("[1, 2"), json!("[1, 2"));
        assert_eq!(ini_value(""), json!(""));
    }
}
