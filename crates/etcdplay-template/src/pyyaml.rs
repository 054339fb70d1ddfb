//! A YAML writer that reproduces PyYAML's `yaml.dump` output for the shapes Ansible's
//! `to_yaml` (flow style for collections of plain scalars) and `to_nice_yaml` (block style,
//! `indent=4`) produce: sorted keys, PyYAML's scalar quoting, indentless sequences in mappings.
//! Flow collections wrap at PyYAML's 80 columns. Not reproduced: folding long strings at
//! spaces, and PyYAML's multi-line single-quoted strings.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

use crate::pyjson::Validated;
use crate::pyrepr::float_repr;

/// `yaml.dump(value, default_flow_style=flow, indent=indent, sort_keys=True)`.
pub fn dump(value: &Value, flow_simple: bool, indent: usize) -> Result<String, Error> {
    let node = Node::build(value, 0)?;
    let mut out = String::new();
    let indent = indent.clamp(2, 9);
    match &node {
        Node::Scalar { block, .. } => {
            out.push_str(block);
            out.push_str("\n...\n");
        }
        _ => {
            write_block(&mut out, &node, 0, indent, flow_simple, Context::Top);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    Ok(out)
}

enum Node {
    /// A scalar's text in block context and in flow context (flow forbids more plain text).
    Scalar {
        block: String,
        flow: String,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    fn build(value: &Value, depth: usize) -> Result<Node, Error> {
        if depth > 100 {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "value nested too deeply for YAML",
            ));
        }
        Ok(match value.kind() {
            ValueKind::None => plain("null"),
            ValueKind::Undefined => {
                return Err(Error::new(
                    ErrorKind::UndefinedError,
                    "cannot serialize an undefined value to YAML",
                ))
            }
            ValueKind::Bool => plain(if value.is_true() { "true" } else { "false" }),
            ValueKind::Number => {
                let text = if value.is_integer() {
                    value.to_string()
                } else {
                    match float_repr(f64::try_from(value.clone()).unwrap_or(f64::NAN)).as_str() {
                        "nan" => ".nan".into(),
                        "inf" => ".inf".into(),
                        "-inf" => "-.inf".into(),
                        other => other.to_string(),
                    }
                };
                plain(&text)
            }
            ValueKind::String | ValueKind::Bytes => {
                let text = match value.as_str() {
                    Some(s) => s.to_string(),
                    None => {
                        String::from_utf8_lossy(value.as_bytes().unwrap_or_default()).into_owned()
                    }
                };
                scalar_node(&text)
            }
            ValueKind::Seq | ValueKind::Iterable => {
                let mut items = Vec::new();
                for item in value.try_iter()? {
                    items.push(Node::build(&item.validated()?, depth + 1)?);
                }
                Node::Seq(items)
            }
            ValueKind::Map => {
                let mut keys: Vec<Value> = value.try_iter()?.collect();
                keys.sort();
                let mut pairs = Vec::new();
                for key in keys {
                    let item = value.get_item(&key)?.validated()?;
                    pairs.push((
                        Node::build(&key, depth + 1)?,
                        Node::build(&item, depth + 1)?,
                    ));
                }
                Node::Map(pairs)
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "value cannot be represented in YAML",
                ))
            }
        })
    }

    /// PyYAML writes a collection in flow style when every item is a scalar.
    fn is_simple(&self) -> bool {
        match self {
            Node::Scalar { .. } => true,
            Node::Seq(items) => items.iter().all(|n| matches!(n, Node::Scalar { .. })),
            Node::Map(pairs) => pairs
                .iter()
                .all(|(k, v)| matches!(k, Node::Scalar { .. }) && matches!(v, Node::Scalar { .. })),
        }
    }

    fn is_empty_collection(&self) -> bool {
        matches!(self, Node::Seq(v) if v.is_empty()) || matches!(self, Node::Map(v) if v.is_empty())
    }
}

/// Words YAML 1.1 would read as something other than a string.
fn resolves_to_non_string(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
        "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", "=", "<<",
    ];
    if WORDS.contains(&text) {
        return true;
    }
    let t = text.replace('_', "");
    let body = t.strip_prefix(['-', '+']).unwrap_or(&t);
    let numeric = !body.is_empty()
        && (body.chars().all(|c| c.is_ascii_digit())
            || body.starts_with("0x")
                && body.len() > 2
                && body[2..].chars().all(|c| c.is_ascii_hexdigit())
            || body.starts_with("0b") && body.len() > 2
            || body.parse::<f64>().is_ok() && body.chars().any(|c| c.is_ascii_digit())
            || matches!(body.to_ascii_lowercase().as_str(), ".inf" | ".nan")
            || body.contains(':')
                && body
                    .split(':')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())));
    numeric
}

fn plain(text: &str) -> Node {
    Node::Scalar {
        block: text.to_string(),
        flow: text.to_string(),
    }
}

fn scalar_node(text: &str) -> Node {
    let printable = text.chars().all(|c| c == ' ' || !c.is_control());
    if !printable || text.contains('\n') {
        let quoted = double_quoted(text);
        return Node::Scalar {
            block: quoted.clone(),
            flow: quoted,
        };
    }
    let single = format!("'{}'", text.replace('\'', "''"));
    if text.is_empty()
        || text.starts_with(' ')
        || text.ends_with(' ')
        || resolves_to_non_string(text)
        || has_block_indicators(text)
    {
        return Node::Scalar {
            block: single.clone(),
            flow: single,
        };
    }
    // Plain in block context; flow context additionally forbids flow indicators.
    let flow_ok =
        !text.chars().any(|c| ",[]{}".contains(c)) && !text.contains(':') && !text.starts_with('?');
    Node::Scalar {
        block: text.to_string(),
        flow: if flow_ok { text.to_string() } else { single },
    }
}

fn has_block_indicators(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let ws_after = |i: usize| chars.get(i + 1).is_none_or(|c| *c == ' ' || *c == '\t');
    if let Some(&first) = chars.first() {
        if "#,[]{}&*!|>'\"%@`".contains(first) {
            return true;
        }
        if "?:-".contains(first) && ws_after(0) {
            return true;
        }
    }
    for (i, &c) in chars.iter().enumerate() {
        if c == ':' && ws_after(i) {
            return true;
        }
        if c == '#' && i > 0 && chars[i - 1] == ' ' {
            return true;
        }
    }
    false
}

fn double_quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// PyYAML's line width: past this column, a flow collection continues on the next line.
const BEST_WIDTH: usize = 80;

fn column(out: &str) -> usize {
    out.len() - out.rfind('\n').map_or(0, |i| i + 1)
}

/// Before a flow item: PyYAML breaks the line when it is already past the width.
fn flow_separator(out: &mut String, first: bool, indent: usize) {
    if !first {
        out.push(',');
    }
    if column(out) > BEST_WIDTH {
        out.push('\n');
        out.push_str(&" ".repeat(indent));
    } else if !first {
        out.push(' ');
    }
}

/// Writes `node` in flow style; `indent` is where continuation lines start.
fn write_flow(out: &mut String, node: &Node, indent: usize, step: usize) {
    match node {
        Node::Scalar { flow, .. } => out.push_str(flow),
        Node::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                flow_separator(out, i == 0, indent);
                write_flow(out, item, indent + step, step);
            }
            out.push(']');
        }
        Node::Map(pairs) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                flow_separator(out, i == 0, indent);
                write_flow(out, k, indent + step, step);
                out.push_str(": ");
                write_flow(out, v, indent + step, step);
            }
            out.push('}');
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Context {
    Top,
    MapValue,
    SeqItem,
}

/// Writes `node` whose first line continues the current line (after `key:` or `- `).
fn write_block(
    out: &mut String,
    node: &Node,
    level: usize,
    indent: usize,
    flow_simple: bool,
    ctx: Context,
) {
    if let Node::Scalar { block, .. } = node {
        if ctx == Context::MapValue {
            out.push(' ');
        }
        out.push_str(block);
        out.push('\n');
        return;
    }
    if node.is_empty_collection() || (flow_simple && node.is_simple()) {
        if ctx == Context::MapValue {
            out.push(' ');
        }
        // A flow collection is indented one step past the block that holds it (sequences
        // under a key are passed the key's level, being indentless in block style).
        let flow_indent = match (ctx, node) {
            (Context::Top, _) | (Context::MapValue, Node::Seq(_)) => level + indent,
            _ => level,
        };
        write_flow(out, node, flow_indent, indent);
        out.push('\n');
        return;
    }
    match node {
        Node::Seq(items) => {
            // Sequences inside mappings are not indented (PyYAML's indentless sequences).
            let pad = " ".repeat(level);
            if ctx == Context::MapValue {
                out.push('\n');
            }
            for (i, item) in items.iter().enumerate() {
                if i > 0 || ctx != Context::SeqItem {
                    out.push_str(&pad);
                }
                // Scalars and flow collections follow "- "; block collections start at the
                // item indentation, so the dash is padded to it.
                let inline = matches!(item, Node::Scalar { .. })
                    || item.is_empty_collection()
                    || (flow_simple && item.is_simple());
                out.push('-');
                out.push_str(&" ".repeat(if inline { 1 } else { indent - 1 }));
                write_block(
                    out,
                    item,
                    level + indent,
                    indent,
                    flow_simple,
                    Context::SeqItem,
                );
            }
        }
        Node::Map(pairs) => {
            let pad = " ".repeat(level);
            if ctx == Context::MapValue {
                out.push('\n');
            }
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 || ctx != Context::SeqItem {
                    out.push_str(&pad);
                }
                write_flow(out, key, level + indent, indent);
                out.push(':');
                let child_level = if matches!(value, Node::Seq(_)) {
                    level
                } else {
                    level + indent
                };
                write_block(
                    out,
                    value,
                    child_level,
                    indent,
                    flow_simple,
                    Context::MapValue,
                );
            }
        }
        Node::Scalar { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: serde_json::Value) -> Value {
        Value::from(minijinja::value::Serde(json))
    }

    #[test]
    fn flow_and_block_styles() {
        let data = v(serde_json::json!({"b": [1, 2], "a": {"x": "yes", "y": [{"k": 1}]}}));
        assert_eq!(
            dump(&data, true, 2).unwrap(),
            "a:\n  x: 'yes'\n  y:\n  - {k: 1}\nb: [1, 2]\n"
        );
        assert_eq!(
            dump(&data, false, 4).unwrap(),
            "a:\n    x: 'yes'\n    y:\n    -   k: 1\nb:\n- 1\n- 2\n"
        );
        assert_eq!(
            dump(&v(serde_json::json!("abc")), true, 2).unwrap(),
            "abc\n...\n"
        );
        // Expected texts below come from PyYAML 6.
        let list = v(serde_json::json!([1, [2, 3], {"k": "v", "j": [1]}]));
        assert_eq!(
            dump(&list, false, 4).unwrap(),
            "- 1\n-   - 2\n    - 3\n-   j:\n    - 1\n    k: v\n"
        );
        assert_eq!(
            dump(&list, true, 4).unwrap(),
            "- 1\n- [2, 3]\n-   j: [1]\n    k: v\n"
        );
        let flow = v(serde_json::json!({"s": "a,b", "t": "x:y", "u": "[x]"}));
        assert_eq!(dump(&flow, false, 2).unwrap(), "s: a,b\nt: x:y\nu: '[x]'\n");
        let peers: Vec<String> = (1..7).map(|i| format!("https://10.0.0.{i}:2380")).collect();
        let wrapped = v(serde_json::json!({"peers": peers, "a": {"peers": peers}}));
        assert_eq!(
            dump(&wrapped, true, 2).unwrap(),
            "a:\n  peers: ['https://10.0.0.1:2380', 'https://10.0.0.2:2380', 'https://10.0.0.3:2380',\n    \
             'https://10.0.0.4:2380', 'https://10.0.0.5:2380', 'https://10.0.0.6:2380']\n\
             peers: ['https://10.0.0.1:2380', 'https://10.0.0.2:2380', 'https://10.0.0.3:2380',\n  \
             'https://10.0.0.4:2380', 'https://10.0.0.5:2380', 'https://10.0.0.6:2380']\n"
        );
        assert_eq!(
            dump(&v(serde_json::json!(peers)), true, 2).unwrap(),
            "['https://10.0.0.1:2380', 'https://10.0.0.2:2380', 'https://10.0.0.3:2380', 'https://10.0.0.4:2380',\n  \
             'https://10.0.0.5:2380', 'https://10.0.0.6:2380']\n"
        );
        assert_eq!(
            dump(&flow, true, 2).unwrap(),
            "{s: 'a,b', t: 'x:y', u: '[x]'}\n"
        );
    }
}
