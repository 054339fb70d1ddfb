//! The YAML tree with positions. Parsers walk `Node`s so that every diagnostic can name the line
//! and column of the value it complains about; `to_json` turns a subtree into the plain value
//! that variables and module arguments carry.

use serde_json::{Map, Number, Value};

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

/// One YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: NodeValue,
}

/// The value of a node after YAML 1.1 resolution.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    /// Entries in document order; duplicate keys are kept (the last one wins in `get`, as in
    /// PyYAML) so that a parser may warn about them.
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn new(pos: Pos, value: NodeValue) -> Self {
        Node { pos, value }
    }

    /// The string of a scalar node (numbers and booleans as YAML would print them), or `None` for
    /// collections and null.
    pub fn as_scalar_string(&self) -> Option<String> {
        match &self.value {
            NodeValue::String(s) => Some(s.clone()),
            NodeValue::Int(i) => Some(i.to_string()),
            NodeValue::Float(f) => Some(f.to_string()),
            NodeValue::Bool(b) => Some(if *b { "True".into() } else { "False".into() }),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            NodeValue::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, NodeValue::Null)
    }

    /// The value of key `key` in a mapping node (last occurrence wins).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .rev()
            .find(|(k, _)| k.key_string().as_deref() == Some(key))
            .map(|(_, v)| v)
    }

    /// A mapping key as a string (Ansible's keys are strings; numbers and booleans are spelt out).
    pub fn key_string(&self) -> Option<String> {
        match &self.value {
            NodeValue::Null => Some(String::new()),
            _ => self.as_scalar_string(),
        }
    }

    /// A short name of the node's type, for "expected a list, got a mapping" messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "boolean",
            NodeValue::Int(_) => "integer",
            NodeValue::Float(_) => "float",
            NodeValue::String(_) => "string",
            NodeValue::Seq(_) => "list",
            NodeValue::Map(_) => "mapping",
        }
    }

    /// The plain value, positions dropped.
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::Number((*i).into()),
            NodeValue::Float(f) => {
                Number::from_f64(*f).map_or_else(|| Value::String(f.to_string()), Value::Number)
            }
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    map.insert(k.key_string().unwrap_or_default(), v.to_json());
                }
                Value::Object(map)
            }
        }
    }
}
