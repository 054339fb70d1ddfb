//! YAML 1.1 scalar resolution, as Ansible's loader (PyYAML's resolver) does it: a plain `yes`
//! is a boolean, `0644` is the octal number 420, `1e5` (no dot) stays a string. YAML 1.2 loaders
//! disagree on all three, which is why etcdplay resolves plain scalars itself.

use crate::NodeValue;

/// Resolves a plain (unquoted) scalar to its YAML 1.1 type.
pub fn resolve_plain(text: &str) -> NodeValue {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return NodeValue::Bool(true)
        }
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return NodeValue::Bool(false)
        }
        _ => {}
    }
    if let Some(i) = resolve_int(text) {
        return NodeValue::Int(i);
    }
    if let Some(f) = resolve_float(text) {
        return NodeValue::Float(f);
    }
    NodeValue::String(text.to_string())
}

/// Ansible's boolean conversion for keywords such as `become` or `gather_facts` when the value
/// arrives as a string: case-insensitive, and accepting the short forms Ansible accepts.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "yes" | "on" | "true" | "y" | "t" | "1" | "1.0" => Some(true),
        "no" | "off" | "false" | "n" | "f" | "0" | "0.0" | "" => Some(false),
        _ => None,
    }
}

fn split_sign(text: &str) -> (i64, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    }
}

fn digits_in(body: &str, radix: u32) -> Option<i64> {
    let cleaned: String = body.chars().filter(|c| *c != '_').collect();
    if cleaned.is_empty() || !body.chars().next().is_some_and(|c| c.is_digit(radix)) {
        return None;
    }
    i64::from_str_radix(&cleaned, radix).ok()
}

fn resolve_int(text: &str) -> Option<i64> {
    let (sign, body) = split_sign(text);
    let magnitude = if let Some(bin) = body.strip_prefix("0b") {
        digits_in(bin, 2)?
    } else if let Some(hex) = body.strip_prefix("0x") {
        digits_in(hex, 16)?
    } else if body == "0" {
        0
    } else if let Some(oct) = body.strip_prefix('0') {
        digits_in(oct, 8)?
    } else if body.starts_with(|c: char| c.is_ascii_digit()) {
        digits_in(body, 10)?
    } else {
        return None;
    };
    magnitude.checked_mul(sign)
}

fn resolve_float(text: &str) -> Option<f64> {
    let (sign, body) = split_sign(text);
    let sign = sign as f64;
    match body {
        ".inf" | ".Inf" | ".INF" => return Some(sign * f64::INFINITY),
        ".nan" | ".NaN" | ".NAN" if sign > 0.0 && !text.starts_with('+') => return Some(f64::NAN),
        _ => {}
    }
    // YAML 1.1 floats need a dot: `1.5`, `1.`, `.5`, `1.0e+3`; an exponent needs its sign.
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let dot = mantissa.find('.')?;
    let (whole, frac) = (&mantissa[..dot], &mantissa[dot + 1..]);
    let digits_ok = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == '_');
    if !digits_ok(whole) || !digits_ok(frac) || (whole.is_empty() && frac.is_empty()) {
        return None;
    }
    if whole.is_empty() && !frac.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if !whole.is_empty() && !whole.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if let Some(exp) = exponent {
        let digits = exp.strip_prefix(['+', '-'])?;
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    let cleaned: String = body.chars().filter(|c| *c != '_').collect();
    cleaned.parse::<f64>().ok().map(|f| f * sign)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_follow_yaml_1_1() {
        for t in ["yes", "Yes", "YES", "on", "true", "True"] {
            assert_eq!(resolve_plain(t), NodeValue::Bool(true), "{t}");
        }
        for t in ["no", "NO", "off", "false", "FALSE"] {
            assert_eq!(resolve_plain(t), NodeValue::Bool(false), "{t}");
        }
        // PyYAML does not take single letters or mixed case as booleans.
        assert_eq!(resolve_plain("y"), NodeValue::String("y".into()));
        assert_eq!(resolve_plain("yEs"), NodeValue::String("yEs".into()));
    }

    #[test]
    fn numbers_follow_yaml_1_1() {
        assert_eq!(resolve_plain("0644"), NodeValue::Int(420));
        assert_eq!(resolve_plain("0"), NodeValue::Int(0));
        assert_eq!(resolve_plain("-12"), NodeValue::Int(-12));
        assert_eq!(resolve_plain("1_000"), NodeValue::Int(1000));
        assert_eq!(resolve_plain("0x1F"), NodeValue::Int(31));
        assert_eq!(resolve_plain("0b101"), NodeValue::Int(5));
        assert_eq!(resolve_plain("1.5"), NodeValue::Float(1.5));
        assert_eq!(resolve_plain("1.0e+3"), NodeValue::Float(1000.0));
        assert_eq!(resolve_plain("1e5"), NodeValue::String("1e5".into()));
        assert_eq!(resolve_plain("3.4.23"), NodeValue::String("3.4.23".into()));
        assert_eq!(resolve_plain("089"), NodeValue::String("089".into()));
        assert_eq!(
            resolve_plain("10.0.0.1"),
            NodeValue::String("10.0.0.1".into())
        );
        assert_eq!(resolve_plain("~"), NodeValue::Null);
        assert_eq!(
            resolve_plain("99999999999999999999"),
            NodeValue::String("99999999999999999999".into())
        );
    }

    #[test]
    fn keyword_booleans_are_case_insensitive() {
        assert_eq!(parse_bool("yEs"), Some(true));
        assert_eq!(parse_bool("Off"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}
