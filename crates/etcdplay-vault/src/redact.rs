//! Decrypted values are remembered as they are decrypted, and the CLI's output layer replaces
//! every occurrence with [`MARK`] before anything is printed or written (the stream, `-v`
//! results, diffs, the `--json` report, error messages). Ansible prints them (`debug: var=`
//! shows a vaulted password); etcdplay deliberately does not (ANSIBLE_COMPAT.md).
//!
//! Values shorter than [`MIN_REDACTED_CHARS`] characters (after trimming whitespace) are not
//! remembered: replacing every `yes`, `2379` or `admin` in the output would garble it while
//! hiding nothing a reader could not guess. Keep real secrets longer than that. Besides the
//! whole value, each of its lines and their JSON-escaped forms are remembered, so a vaulted
//! multi-line key is hidden in a diff line by line and inside a JSON string.

use std::borrow::Cow;
use std::sync::RwLock;

/// What a decrypted value is shown as.
pub const MARK: &str = "********";
/// Decrypted values (and lines of them) shorter than this are not redacted.
pub const MIN_REDACTED_CHARS: usize = 6;
/// Enough for thousands of vaulted values; a run that decrypts more still redacts the first.
const MAX_REMEMBERED: usize = 100_000;

/// The remembered strings, longest first so that a value is replaced before any of its lines.
static REVEALED: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers a decrypted value (see the module documentation for what is kept).
pub fn remember(plaintext: &str) {
    let mut candidates: Vec<&str> = vec![plaintext.trim()];
    if plaintext.contains('\n') {
        candidates.extend(plaintext.lines().map(str::trim));
    }
    let mut revealed = REVEALED.write().unwrap_or_else(|p| p.into_inner());
    for candidate in candidates {
        if candidate.chars().count() < MIN_REDACTED_CHARS || revealed.len() >= MAX_REMEMBERED {
            continue;
        }
        for form in [candidate.to_string(), json_escaped(candidate)] {
            if !revealed.contains(&form) {
                revealed.push(form);
            }
        }
    }
    revealed.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every remembered value replaced by [`MARK`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let revealed = REVEALED.read().unwrap_or_else(|p| p.into_inner());
    let mut out = Cow::Borrowed(text);
    for secret in revealed.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MARK));
        }
    }
    out
}

/// Whether anything was remembered (output layers skip work when not).
pub fn is_active() -> bool {
    !REVEALED
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .is_empty()
}

/// The text as it appears between the quotes of a JSON string.
fn json_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lines_and_json_forms_are_redacted_short_ones_are_not() {
        remember("short");
        remember("tok-\"quoted\"-value");
        remember("-----BEGIN KEY-----\nAAAABBBBCCCC\n-----END KEY-----\n");
        assert_eq!(redact("a short one"), "a short one");
        assert_eq!(redact("x tok-\"quoted\"-value y"), "x ******** y");
        assert_eq!(
            redact(r#"{"v": "tok-\"quoted\"-value"}"#),
            r#"{"v": "********"}"#
        );
        assert_eq!(redact("+AAAABBBBCCCC\n"), "+********\n");
        assert_eq!(
            redact(r#""-----BEGIN KEY-----\nAAAABBBBCCCC\n-----END KEY-----""#),
            r#""********""#
        );
        assert!(is_active());
    }
}
