//! Python's `repr()` of a string, as Ansible shows strings inside lists and messages (the
//! inventory's INI values, module messages quoting an argument).

/// `repr(text)`: single quotes unless the text holds one and no double quote.
pub fn python_str_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `str()` of a JSON value as a module receives it: text as it is, anything else as
/// Python prints it (`{'a': 1, 'b': True, 'c': None}`), which is what Ansible's `str` and
/// `path` arguments turn a non-string into.
pub fn python_str_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => python_repr_json(other),
    }
}

/// Python's `repr()` of a JSON value (`None`, `True`, floats with a `.0`, strings quoted).
pub fn python_repr_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => python_float_repr(f),
            _ => n.to_string(),
        },
        Value::String(s) => python_str_repr(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_repr_json).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", python_str_repr(k), python_repr_json(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Python's `repr(float)`: shortest round-trip digits, scientific outside `1e-4 <= |x| < 1e16`.
pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` gives the same shortest round-trip digits Python uses; only the layout differs.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let body = if exp >= 0 {
            let int_len = exp + 1;
            if n <= int_len {
                format!("{}{}.0", digits, "0".repeat((int_len - n) as usize))
            } else {
                format!(
                    "{}.{}",
                    &digits[..int_len as usize],
                    &digits[int_len as usize..]
                )
            }
        } else {
            format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
        };
        format!("{sign}{body}")
    } else {
        let mant = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.clone()
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mant}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::{python_repr_json, python_str_json, python_str_repr};

    #[test]
    fn quotes_as_python_does() {
        assert_eq!(python_str_repr("a b"), "'a b'");
        assert_eq!(python_str_repr("it's"), "\"it's\"");
        assert_eq!(python_str_repr("it's \"x\""), "'it\\'s \"x\"'");
        assert_eq!(python_str_repr("a\\b\n"), "'a\\\\b\\n'");
    }

    /// ansible-core 2.19.14, `file: path="{{ {'a': 1, 'b': true, 'c': 1.5, 'd': none, 'e':
    /// [1, 'x'], 'f': "it's"} }}" state=absent`: the result's `path` was
    /// `{'a': 1, 'b': True, 'c': 1.5, 'd': None, 'e': [1, 'x'], 'f': "it's"}`.
    #[test]
    fn json_values_print_as_python_does() {
        let v =
            serde_json::json!({"a": 1, "b": true, "c": 1.5, "d": null, "e": [1, "x"], "f": "it's"});
        assert_eq!(
            python_str_json(&v),
            "{'a': 1, 'b': True, 'c': 1.5, 'd': None, 'e': [1, 'x'], 'f': \"it's\"}"
        );
        assert_eq!(python_str_json(&serde_json::json!("plain")), "plain");
        assert_eq!(
            python_repr_json(&serde_json::json!([2.0, 1e16, 0.00001])),
            "[2.0, 1e+16, 1e-05]"
        );
    }
}
