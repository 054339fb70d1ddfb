//! Reading keyword values: booleans that may be templates, strings, lists of strings, tags,
//! conditions and variable mappings. Each helper reports a wrong type at the value's position
//! and returns a neutral value, so parsing continues and later mistakes are found too.

use etcdplay_source::{parse_bool, Node, NodeValue};
use serde_json::Value;

use crate::loader::{FileCtx, Loader};
use crate::model::{Flag, Map};
use crate::PlaybookError;

/// Whether a string contains Jinja syntax and so can only be known at run time.
pub(crate) fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// Whether `s` may name a variable (Python identifier rules, ASCII only as Ansible checks them).
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Loader<'_> {
    fn wrong_type(&mut self, f: &FileCtx, key: &str, node: &Node, expected: &'static str) {
        let error = PlaybookError::WrongKeyType {
            key: key.to_string(),
            expected,
            got: node.type_name(),
        };
        self.report(f, node.pos, error);
    }

    /// A boolean keyword: YAML booleans, Ansible's boolean strings (`yes`, `On`, `1`), or a
    /// template left for the engine.
    pub(crate) fn flag(&mut self, f: &FileCtx, key: &str, node: &Node) -> Option<Flag> {
        match &node.value {
            NodeValue::Null => None,
            NodeValue::Bool(b) => Some(Flag::Bool(*b)),
            NodeValue::Int(0) => Some(Flag::Bool(false)),
            NodeValue::Int(1) => Some(Flag::Bool(true)),
            NodeValue::String(s) if is_template(s) => Some(Flag::Template(s.clone())),
            NodeValue::String(s) => match parse_bool(s) {
                Some(b) => Some(Flag::Bool(b)),
                None => {
                    self.report(
                        f,
                        node.pos,
                        PlaybookError::NotABool {
                            key: key.to_string(),
                            value: s.clone(),
                        },
                    );
                    None
                }
            },
            NodeValue::Int(_) | NodeValue::Float(_) => {
                let value = node.as_scalar_string().unwrap_or_default();
                self.report(
                    f,
                    node.pos,
                    PlaybookError::NotABool {
                        key: key.to_string(),
                        value,
                    },
                );
                None
            }
            NodeValue::Seq(_) | NodeValue::Map(_) => {
                self.wrong_type(f, key, node, "a boolean");
                None
            }
        }
    }

    /// A scalar as a string; null is absent.
    pub(crate) fn string(&mut self, f: &FileCtx, key: &str, node: &Node) -> Option<String> {
        match &node.value {
            NodeValue::Null => None,
            NodeValue::Seq(_) | NodeValue::Map(_) => {
                self.wrong_type(f, key, node, "a string");
                None
            }
            _ => node.as_scalar_string(),
        }
    }

    /// A `become_method`: `sudo` and `su` are what etcdplay implements; any other written
    /// name (`pbrun`, `doas`, `runas`, ...) is refused here, with its place, rather than run
    /// with another method. A template is checked when the task runs.
    pub(crate) fn become_method(&mut self, f: &FileCtx, key: &str, node: &Node) -> Option<String> {
        let method = self.string(f, key, node)?;
        let written = method.trim();
        if !method.contains("{{") && written != "sudo" && written != "su" {
            self.report(
                f,
                node.pos,
                PlaybookError::UnsupportedBecomeMethod {
                    method: written.to_string(),
                },
            );
        }
        Some(method)
    }

    /// A string or a list of strings (`notify: x` or `notify: [x, y]`).
    pub(crate) fn string_list(&mut self, f: &FileCtx, key: &str, node: &Node) -> Vec<String> {
        match &node.value {
            NodeValue::Null => Vec::new(),
            NodeValue::Seq(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item.as_scalar_string() {
                        Some(s) => out.push(s),
                        None => self.wrong_type(f, key, item, "a string"),
                    }
                }
                out
            }
            NodeValue::Map(_) => {
                self.wrong_type(f, key, node, "a string or a list of strings");
                Vec::new()
            }
            _ => node.as_scalar_string().into_iter().collect(),
        }
    }

    /// Tags: a list, or a comma-separated string as Ansible accepts it.
    pub(crate) fn tags(&mut self, f: &FileCtx, node: &Node) -> Vec<String> {
        let raw = self.string_list(f, "tags", node);
        let mut out = Vec::new();
        for entry in raw {
            let parts: Vec<String> = if is_template(&entry) {
                vec![entry]
            } else {
                entry
                    .split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect()
            };
            for p in parts {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        out
    }

    /// A condition or a list of conditions; YAML booleans become `True`/`False`.
    pub(crate) fn conditions(&mut self, f: &FileCtx, key: &str, node: &Node) -> Vec<String> {
        self.string_list(f, key, node)
    }

    /// A mapping of variables; a list of mappings (an old Ansible form) is merged in order.
    pub(crate) fn vars(&mut self, f: &FileCtx, key: &str, node: &Node) -> Map {
        let mut out = Map::new();
        let maps: Vec<&Node> = match &node.value {
            NodeValue::Null => return out,
            NodeValue::Map(_) => vec![node],
            NodeValue::Seq(items) if items.iter().all(|i| i.as_map().is_some()) => {
                items.iter().collect()
            }
            _ => {
                self.wrong_type(f, key, node, "a mapping");
                return out;
            }
        };
        for m in maps {
            for (k, v) in m.as_map().unwrap_or_default() {
                let name = k.key_string().unwrap_or_default();
                if !is_identifier(&name) {
                    self.report(
                        f,
                        k.pos,
                        PlaybookError::BadVariableName { key: name.clone() },
                    );
                }
                out.insert(name, v.to_json());
            }
        }
        out
    }

    /// `environment:`: a mapping, a template string, or a list of them (merged by the engine).
    pub(crate) fn environment(&mut self, f: &FileCtx, node: &Node) -> Value {
        match &node.value {
            NodeValue::Map(_) | NodeValue::Null | NodeValue::Seq(_) => node.to_json(),
            NodeValue::String(s) if is_template(s) => node.to_json(),
            _ => {
                self.wrong_type(f, "environment", node, "a mapping");
                Value::Null
            }
        }
    }

    /// A number or a template string (`retries`, `delay`, `pause`, `throttle`).
    pub(crate) fn number(&mut self, f: &FileCtx, key: &str, node: &Node) -> Option<Value> {
        match &node.value {
            NodeValue::Null => None,
            NodeValue::Int(_) | NodeValue::Float(_) => Some(node.to_json()),
            NodeValue::String(s) if is_template(s) => Some(node.to_json()),
            NodeValue::String(s) => match s.trim().parse::<f64>() {
                Ok(_) => Some(node.to_json()),
                Err(_) => {
                    self.wrong_type(f, key, node, "a number");
                    None
                }
            },
            _ => {
                self.wrong_type(f, key, node, "a number");
                None
            }
        }
    }

    /// A mapping's entries, or a wrong-type report.
    pub(crate) fn entries<'n>(
        &mut self,
        f: &FileCtx,
        key: &str,
        node: &'n Node,
    ) -> &'n [(Node, Node)] {
        match node.as_map() {
            Some(m) => m,
            None => {
                if !node.is_null() {
                    self.wrong_type(f, key, node, "a mapping");
                }
                &[]
            }
        }
    }

    /// A list's items (null is empty), or a wrong-type report.
    pub(crate) fn items<'n>(&mut self, f: &FileCtx, key: &str, node: &'n Node) -> &'n [Node] {
        match node.as_seq() {
            Some(s) => s,
            None => {
                if !node.is_null() {
                    self.wrong_type(f, key, node, "a list");
                }
                &[]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(is_identifier("etcd_peer_port") && is_identifier("_x1"));
        assert!(!is_identifier("1x") && !is_identifier("a-b") && !is_identifier(""));
    }

    #[test]
    fn templates() {
        assert!(is_template("{{ x }}") && is_template("{% if %}") && !is_template("plain {"));
    }
}
