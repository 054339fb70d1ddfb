//! Python's `%` string formatting in expressions (`'%s' % x`, `'%d items' % n`,
//! `'%s-%s' % (a, b)`, `'%(name)s' % d`), which minijinja's `%` (numbers only) lacks.
//!
//! Before a template is compiled, minijinja's own parser reads it and every `left % right` in
//! it is rewritten as a call `__etcdplay_percent(left, right, is_tuple)` to [`percent_op`],
//! which formats when `left` is a string and otherwise computes the remainder as minijinja
//! (and Python) do. The parser decides the operands, so precedence is exactly Jinja's; a
//! parenthesised tuple on the right (`% (a, b)`) is told from a list, which Python formats as
//! one value. Sources without a `%` outside block tags are not parsed twice.

use minijinja::machinery::{self, Span};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use serde_json::Value as Json;

use crate::pyrepr::{try_py_repr, try_py_str};

/// The function the rewritten expressions call.
const FUNCTION: &str = "__etcdplay_percent";
/// Longest result of one formatting (a width of 10**9 must not allocate gigabytes).
const MAX_FORMATTED: usize = 16 * 1024 * 1024;

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_function(FUNCTION, |left: Value, right: Value, tuple: bool| {
        percent_op(&left, &right, tuple)
    });
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// True if `source` may hold a `%` operator (one outside `{%`/`%}` delimiters).
fn may_have_operator(source: &str, syntax: &SyntaxConfig) -> bool {
    let _ = syntax;
    source.replace("{%", "").replace("%}", "").contains('%')
}

/// `source` with every `%` operator replaced by a call to the formatting function. A source
/// that does not parse is returned as it is: compiling it reports the syntax error.
pub(crate) fn rewrite(source: &str, name: &str, syntax: &SyntaxConfig) -> Option<String> {
    if !may_have_operator(source, syntax) {
        return None;
    }
    let ast = machinery::parse(source, name, syntax.clone()).ok()?;
    let json = serde_json::to_value(&ast).ok()?;
    let mut ops = Vec::new();
    collect_rem(&json, &mut ops, 0);
    if ops.is_empty() {
        return None;
    }
    let tokens = operator_offsets(source, syntax)?;
    let mut edits = Vec::new();
    for op in ops {
        // The operator is the first `%` token after the left operand (only `)` lie between).
        let at = tokens
            .iter()
            .copied()
            .find(|t| *t >= op.left_end && *t < op.end)?;
        edits.push((op, at));
    }
    Some(apply(source, &edits))
}

/// One `left % right` found in the syntax tree, by byte offsets.
#[derive(Debug, Clone, Copy)]
struct RemOp {
    start: usize,
    end: usize,
    left_end: usize,
    tuple: bool,
}

fn span_of(node: &Json) -> Option<Span> {
    let span = node.get("inner")?.get(1)?;
    serde_json::from_value::<SpanOffsets>(span.clone())
        .ok()
        .map(|s| Span {
            start_offset: s.start_offset,
            end_offset: s.end_offset,
            ..Span::default()
        })
}

#[derive(serde::Deserialize)]
struct SpanOffsets {
    start_offset: u32,
    end_offset: u32,
}

/// Every `BinOp` with `op: Rem` in the serialized tree.
fn collect_rem(node: &Json, out: &mut Vec<RemOp>, depth: usize) {
    if depth > 500 {
        return;
    }
    match node {
        Json::Object(map) => {
            if map.get("expr").and_then(Json::as_str) == Some("BinOp") {
                let binop = map.get("inner").and_then(|i| i.get(0));
                let is_rem = binop.and_then(|b| b.get("op")).and_then(Json::as_str) == Some("Rem");
                if let (true, Some(binop), Some(span)) = (is_rem, binop, span_of(node)) {
                    let left = binop.get("left").and_then(span_of);
                    let right = binop.get("right");
                    let left_is_number = binop
                        .get("left")
                        .filter(|l| l.get("expr").and_then(Json::as_str) == Some("Const"))
                        .and_then(|l| l.get("inner")?.get(0)?.get("value"))
                        .is_some_and(Json::is_number);
                    if let (Some(left), false) = (left, left_is_number) {
                        out.push(RemOp {
                            start: span.start_offset as usize,
                            end: span.end_offset as usize,
                            left_end: left.end_offset as usize,
                            tuple: right.and_then(|r| r.get("expr")).and_then(Json::as_str)
                                == Some("Tuple"),
                        });
                    }
                }
            }
            for value in map.values() {
                collect_rem(value, out, depth + 1);
            }
        }
        Json::Array(items) => {
            for item in items {
                collect_rem(item, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// Byte offsets of every `%` operator token.
fn operator_offsets(source: &str, syntax: &SyntaxConfig) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for token in machinery::tokenize(source, false, syntax.clone()) {
        let (token, span) = token.ok()?;
        if matches!(token, machinery::Token::Mod) {
            out.push(span.start_offset as usize);
        }
    }
    Some(out)
}

/// Writes `source` with each operation replaced, nested ones inside their parents.
fn apply(source: &str, edits: &[(RemOp, usize)]) -> String {
    let mut sorted: Vec<(RemOp, usize)> = edits.to_vec();
    sorted.sort_by_key(|(op, _)| (op.start, std::cmp::Reverse(op.end)));
    let mut out = String::with_capacity(source.len() + edits.len() * 32);
    emit(source, 0, source.len(), &sorted, &mut out);
    out
}

/// Emits `source[from..to]`, rewriting the operations that lie inside it.
fn emit(source: &str, from: usize, to: usize, edits: &[(RemOp, usize)], out: &mut String) {
    let mut pos = from;
    let mut i = 0;
    while i < edits.len() {
        let (op, at) = edits[i];
        if op.start < pos || op.end > to {
            i += 1;
            continue;
        }
        out.push_str(&source[pos..op.start]);
        // The operations nested in this one.
        let inner: Vec<(RemOp, usize)> = edits[i + 1..]
            .iter()
            .copied()
            .filter(|(o, _)| o.start >= op.start && o.end <= op.end)
            .collect();
        out.push_str(FUNCTION);
        out.push('(');
        emit(source, op.start, at, &inner, out);
        out.push_str(", ");
        emit(source, at + 1, op.end, &inner, out);
        out.push_str(if op.tuple { ", true)" } else { ", false)" });
        pos = op.end;
        i += 1 + inner.len();
    }
    out.push_str(&source[pos..to]);
}

/// `left % right`: Python's string formatting for a string `left`, else the remainder.
pub(crate) fn percent_op(left: &Value, right: &Value, tuple: bool) -> Result<Value, Error> {
    crate::filters::ensure_defined(left)?;
    crate::filters::ensure_defined(right)?;
    if left.kind() != ValueKind::String {
        return remainder(left, right);
    }
    let format = left.as_str().unwrap_or_default();
    let args = if tuple {
        Args::Positional(right.try_iter()?.collect())
    } else if right.kind() == ValueKind::Map {
        Args::Mapping(right.clone())
    } else {
        Args::Positional(vec![right.clone()])
    };
    format_percent(format, &args).map(Value::from)
}

/// Python's `%` on numbers (floored, as minijinja's).
fn remainder(left: &Value, right: &Value) -> Result<Value, Error> {
    let unsupported = || {
        invalid(format!(
            "unsupported operand type(s) for %: '{}' and '{}'",
            crate::filters::python_type_name(left),
            crate::filters::python_type_name(right)
        ))
    };
    if left.kind() != ValueKind::Number || right.kind() != ValueKind::Number {
        return Err(unsupported());
    }
    if left.is_integer() && right.is_integer() {
        let (a, b) = (
            i128::try_from(left.clone())?,
            i128::try_from(right.clone())?,
        );
        if b == 0 {
            return Err(invalid("integer division or modulo by zero"));
        }
        return Ok(Value::from(
            a.rem_euclid(b) + if b < 0 && a.rem_euclid(b) != 0 { b } else { 0 },
        ));
    }
    let (a, b) = (f64::try_from(left.clone())?, f64::try_from(right.clone())?);
    if b == 0.0 {
        return Err(invalid("float modulo"));
    }
    let r = a % b;
    Ok(Value::from(if r != 0.0 && (r < 0.0) != (b < 0.0) {
        r + b
    } else {
        r
    }))
}

/// The right operand of `%`.
pub(crate) enum Args {
    Positional(Vec<Value>),
    Mapping(Value),
}

/// One conversion specification after `%`.
#[derive(Default)]
struct Spec {
    key: Option<String>,
    left: bool,
    plus: bool,
    space: bool,
    zero: bool,
    alternate: bool,
    width: usize,
    precision: Option<usize>,
}

/// Python's `format % args`.
pub(crate) fn format_percent(format: &str, args: &Args) -> Result<String, Error> {
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::new();
    let mut next_arg = 0;
    let mut used_mapping = false;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        let mut spec = Spec::default();
        if chars.get(i) == Some(&'(') {
            let close = chars[i..]
                .iter()
                .position(|c| *c == ')')
                .ok_or_else(|| invalid("incomplete format key"))?;
            spec.key = Some(chars[i + 1..i + close].iter().collect());
            i += close + 1;
        }
        while let Some(flag) = chars.get(i) {
            match flag {
                '-' => spec.left = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                '#' => spec.alternate = true,
                _ => break,
            }
            i += 1;
        }
        let mut take_arg = |spec: &Spec| -> Result<Value, Error> {
            match (args, &spec.key) {
                (Args::Mapping(map), Some(key)) => {
                    used_mapping = true;
                    let value = map.get_item(&Value::from(key.as_str()))?;
                    if value.is_undefined() {
                        return Err(invalid(format!("KeyError: '{key}'")));
                    }
                    Ok(value)
                }
                (Args::Mapping(_), None) if next_arg == 0 => {
                    next_arg += 1;
                    match args {
                        Args::Mapping(map) => Ok(map.clone()),
                        Args::Positional(_) => unreachable_arg(),
                    }
                }
                (Args::Positional(_), Some(_)) => Err(invalid("format requires a mapping")),
                (Args::Positional(items), None) => {
                    let value = items
                        .get(next_arg)
                        .cloned()
                        .ok_or_else(|| invalid("not enough arguments for format string"))?;
                    next_arg += 1;
                    Ok(value)
                }
                (Args::Mapping(_), None) => Err(invalid("not enough arguments for format string")),
            }
        };
        spec.width = read_number(&chars, &mut i, &spec, &mut take_arg)?.unwrap_or(0);
        if chars.get(i) == Some(&'.') {
            i += 1;
            spec.precision = Some(read_number(&chars, &mut i, &spec, &mut take_arg)?.unwrap_or(0));
        }
        while matches!(chars.get(i), Some('h' | 'l' | 'L')) {
            i += 1;
        }
        let Some(&conv) = chars.get(i) else {
            return Err(invalid("incomplete format"));
        };
        i += 1;
        if conv == '%' {
            out.push('%');
            continue;
        }
        let arg = take_arg(&spec)?;
        let text = convert(conv, &spec, &arg, start)?;
        if out.len() + text.len() > MAX_FORMATTED {
            return Err(invalid(format!(
                "formatted text longer than {MAX_FORMATTED} bytes"
            )));
        }
        out.push_str(&text);
    }
    if let Args::Positional(items) = args {
        if next_arg < items.len() {
            return Err(invalid(
                "not all arguments converted during string formatting",
            ));
        }
    }
    let _ = used_mapping;
    Ok(out)
}

fn unreachable_arg() -> Result<Value, Error> {
    Err(invalid("not enough arguments for format string"))
}

/// A width or precision: digits, or `*` taking the next argument.
fn read_number(
    chars: &[char],
    i: &mut usize,
    spec: &Spec,
    take_arg: &mut dyn FnMut(&Spec) -> Result<Value, Error>,
) -> Result<Option<usize>, Error> {
    if chars.get(*i) == Some(&'*') {
        *i += 1;
        let value = take_arg(spec)?;
        let n = i64::try_from(value).map_err(|_| invalid("* wants int"))?;
        return bounded(n.unsigned_abs() as usize).map(Some);
    }
    let start = *i;
    while chars.get(*i).is_some_and(char::is_ascii_digit) {
        *i += 1;
    }
    if start == *i {
        return Ok(None);
    }
    let digits: String = chars[start..*i].iter().collect();
    let n = digits
        .parse::<usize>()
        .map_err(|_| invalid("width too big"))?;
    bounded(n).map(Some)
}

fn bounded(n: usize) -> Result<usize, Error> {
    if n > MAX_FORMATTED {
        return Err(invalid("width too big"));
    }
    Ok(n)
}

/// One conversion (`conv` at `index` of the format).
fn convert(conv: char, spec: &Spec, arg: &Value, index: usize) -> Result<String, Error> {
    let type_name = crate::filters::python_type_name(arg);
    let body = match conv {
        's' | 'r' | 'a' => {
            let mut text = if conv == 's' {
                try_py_str(arg)?
            } else {
                try_py_repr(arg)?
            };
            if let Some(p) = spec.precision {
                text = text.chars().take(p).collect();
            }
            return Ok(pad(spec, "", &text, false));
        }
        'd' | 'i' | 'u' => {
            let n = as_int(arg, conv, true)?;
            let mut digits = n.unsigned_abs().to_string();
            if let Some(p) = spec.precision {
                while digits.len() < p {
                    digits.insert(0, '0');
                }
            }
            return Ok(number(spec, n < 0, "", &digits));
        }
        'x' | 'X' | 'o' => {
            let n = as_int(arg, conv, false)?;
            let mut digits = match conv {
                'x' => format!("{:x}", n.unsigned_abs()),
                'X' => format!("{:X}", n.unsigned_abs()),
                _ => format!("{:o}", n.unsigned_abs()),
            };
            if let Some(p) = spec.precision {
                while digits.len() < p {
                    digits.insert(0, '0');
                }
            }
            let prefix = match (spec.alternate, conv) {
                (true, 'x') => "0x",
                (true, 'X') => "0X",
                (true, _) => "0o",
                _ => "",
            };
            return Ok(number(spec, n < 0, prefix, &digits));
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            let f = as_float(arg, conv)?;
            let precision = spec.precision.unwrap_or(6).min(1000);
            let mut text = match conv {
                'e' | 'E' => exponential(f.abs(), precision),
                'f' | 'F' => format!("{:.*}", precision, f.abs()),
                _ => general(f.abs(), precision, spec.alternate),
            };
            if f.is_nan() {
                text = "nan".into();
            } else if f.is_infinite() {
                text = "inf".into();
            }
            if conv.is_ascii_uppercase() {
                text = text.to_uppercase();
            }
            return Ok(number(spec, f.is_sign_negative() && !f.is_nan(), "", &text));
        }
        'c' => match arg.kind() {
            ValueKind::String if arg.as_str().map(|s| s.chars().count()) == Some(1) => {
                arg.as_str().unwrap_or_default().to_string()
            }
            ValueKind::Number if arg.is_integer() => {
                let n = i64::try_from(arg.clone())?;
                u32::try_from(n)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| invalid("%c arg not in range(0x110000)"))?
                    .to_string()
            }
            _ => return Err(invalid(format!("%c requires int or char, not {type_name}"))),
        },
        other => {
            return Err(invalid(format!(
                "unsupported format character '{other}' (0x{:x}) at index {}",
                other as u32,
                index + 1
            )))
        }
    };
    Ok(pad(spec, "", &body, false))
}

fn as_int(arg: &Value, conv: char, allow_float: bool) -> Result<i128, Error> {
    match arg.kind() {
        ValueKind::Bool => Ok(i128::from(arg.is_true())),
        ValueKind::Number if arg.is_integer() => i128::try_from(arg.clone()),
        ValueKind::Number if allow_float => {
            let f = f64::try_from(arg.clone())?;
            if !f.is_finite() {
                return Err(invalid("cannot convert float infinity or NaN to integer"));
            }
            Ok(f.trunc() as i128)
        }
        _ => Err(invalid(format!(
            "%{conv} format: {} is required, not {}",
            if allow_float {
                "a real number"
            } else {
                "an integer"
            },
            crate::filters::python_type_name(arg)
        ))),
    }
}

fn as_float(arg: &Value, conv: char) -> Result<f64, Error> {
    match arg.kind() {
        ValueKind::Bool => Ok(if arg.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => f64::try_from(arg.clone()),
        _ => Err(invalid(format!(
            "must be real number, not {} (in %{conv})",
            crate::filters::python_type_name(arg)
        ))),
    }
}

/// `%e`: mantissa with `precision` decimals, exponent with a sign and at least two digits.
fn exponential(f: f64, precision: usize) -> String {
    let text = format!("{:.*e}", precision, f);
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!(
        "{mantissa}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

/// `%g`: `precision` significant digits, fixed or exponential by the exponent, trailing zeros
/// removed unless `#`.
fn general(f: f64, precision: usize, alternate: bool) -> String {
    let p = precision.max(1);
    if f == 0.0 {
        return if alternate {
            format!("{:.*}", p - 1, 0.0)
        } else {
            "0".into()
        };
    }
    let rounded = format!("{:.*e}", p - 1, f);
    let exp: i32 = rounded
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    let strip = |s: String| {
        if alternate || !s.contains('.') {
            s
        } else {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    };
    if exp >= -4 && exp < p as i32 {
        strip(format!("{:.*}", (p as i32 - 1 - exp).max(0) as usize, f))
    } else {
        let text = exponential(f, p - 1);
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, ""));
        format!("{}e{exponent}", strip(mantissa.to_string()))
    }
}

/// A number with its sign, prefix and padding.
fn number(spec: &Spec, negative: bool, prefix: &str, digits: &str) -> String {
    let sign = if negative {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    pad(spec, &format!("{sign}{prefix}"), digits, true)
}

/// Pads to the width: left-justified with `-`, zeros after the sign with `0` (numbers only).
fn pad(spec: &Spec, lead: &str, body: &str, numeric: bool) -> String {
    let len = lead.chars().count() + body.chars().count();
    if len >= spec.width {
        return format!("{lead}{body}");
    }
    let fill = spec.width - len;
    if spec.left {
        format!("{lead}{body}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        format!("{lead}{}{body}", "0".repeat(fill))
    } else {
        format!("{}{lead}{body}", " ".repeat(fill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(format: &str, args: Vec<Value>) -> String {
        format_percent(format, &Args::Positional(args)).unwrap()
    }

    #[test]
    #[allow(clippy::approx_constant)] // the value Python was given
    fn conversions_match_python() {
        // python3: '%5.2f|%-4d|%r|%%' % (3.14159, 7, 'q') == ' 3.14|7   |'q'|%'
        assert_eq!(
            fmt(
                "%5.2f|%-4d|%r|%%",
                vec![3.14159.into(), 7.into(), "q".into()]
            ),
            " 3.14|7   |'q'|%"
        );
        // '%x %X %o %e %g %c' % (255, 255, 8, 12345.678, 0.00001234, 65)
        assert_eq!(
            fmt(
                "%x %X %o %e %g %c",
                vec![
                    255.into(),
                    255.into(),
                    8.into(),
                    12345.678.into(),
                    0.00001234.into(),
                    65.into()
                ]
            ),
            "ff FF 10 1.234568e+04 1.234e-05 A"
        );
        // '%+d % d %#x %#o' % (5, 5, 255, 8) == '+5  5 0xff 0o10'
        assert_eq!(
            fmt(
                "%+d % d %#x %#o",
                vec![5.into(), 5.into(), 255.into(), 8.into()]
            ),
            "+5  5 0xff 0o10"
        );
        // '%g %g %g %G' % (1e20, 123456789, 0.5, 1e-10) == '1e+20 1.23457e+08 0.5 1E-10'
        assert_eq!(
            fmt(
                "%g %g %g %G",
                vec![1e20.into(), 123456789.into(), 0.5.into(), 1e-10.into()]
            ),
            "1e+20 1.23457e+08 0.5 1E-10"
        );
        // '%.3s|%10s|%-10s|' % ('abcdef', 'r', 'l') == 'abc|         r|l         |'
        assert_eq!(
            fmt(
                "%.3s|%10s|%-10s|",
                vec!["abcdef".into(), "r".into(), "l".into()]
            ),
            "abc|         r|l         |"
        );
        // '%05d|%-05d|%.3d|%*d' % (-42, 3, 7, 4, 1) == '-0042|3    |007|   1'
        assert_eq!(
            fmt(
                "%05d|%-05d|%.3d|%*d",
                vec![(-42).into(), 3.into(), 7.into(), 4.into(), 1.into()]
            ),
            "-0042|3    |007|   1"
        );
    }

    #[test]
    fn errors_match_python() {
        let err = |f: &str, args: Vec<Value>| {
            format_percent(f, &Args::Positional(args))
                .unwrap_err()
                .to_string()
        };
        assert!(err("%s %s", vec![1.into()]).contains("not enough arguments"));
        assert!(err("%s", vec![1.into(), 2.into()]).contains("not all arguments converted"));
        assert!(
            err("%d", vec!["x".into()]).contains("%d format: a real number is required, not str")
        );
        assert!(err("%z", vec![1.into()])
            .contains("unsupported format character 'z' (0x7a) at index 1"));
        assert!(err("%999999999s", vec![1.into()]).contains("too big"));
    }
}
