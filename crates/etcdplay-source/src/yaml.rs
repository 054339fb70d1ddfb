//! The YAML loader. It builds [`Node`]s from saphyr-parser's events (which carry positions), and
//! does what Ansible's loader does on top of plain YAML: YAML 1.1 scalars, anchors and aliases,
//! and `<<` merge keys. It refuses input that would exhaust the machine (deep nesting, alias
//! bombs) with an error instead of a crash, because parsers must never panic on user files.

use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::scalar::resolve_plain;
use crate::{Diagnostic, Node, NodeValue, Pos};

/// How deep collections may nest; deeper input is refused rather than risking the stack of the
/// recursive walks done on the tree later.
const MAX_DEPTH: usize = 256;
/// How many nodes a document may expand to, aliases counted at their full size.
const MAX_NODES: usize = 2_000_000;

/// A YAML syntax error, or input refused for its size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct YamlError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl YamlError {
    /// The error as a diagnostic in `file`.
    pub fn in_file(&self, file: &str) -> Diagnostic {
        Diagnostic::new(
            file,
            self.line,
            self.col,
            format!("YAML syntax error: {}", self.message),
        )
    }
}

/// Reads and parses a YAML file; any problem comes back as one diagnostic naming the file.
pub fn load_yaml_file(path: &Path, shown_as: &str) -> Result<Node, Diagnostic> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::whole_file(shown_as, format!("cannot read file: {e}")))?;
    load_yaml(&text).map_err(|e| e.in_file(shown_as))
}

/// Parses the first document of `text`. An empty document is a `Null` node at 1:1.
pub fn load_yaml(text: &str) -> Result<Node, YamlError> {
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| YamlError {
            line: e.marker().line() as u32,
            col: e.marker().col() as u32 + 1,
            message: e.info().to_string(),
        })?;
        if builder.feed(event, span)? {
            break;
        }
    }
    Ok(builder
        .root
        .unwrap_or(Node::new(Pos { line: 1, col: 1 }, NodeValue::Null)))
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    nodes: usize,
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line() as u32,
        col: span.start.col() as u32 + 1,
    }
}

fn node_count(node: &Node) -> usize {
    match &node.value {
        NodeValue::Seq(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        NodeValue::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| node_count(k) + node_count(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

impl TreeBuilder {
    /// Feeds one event; returns true once the first document is complete.
    fn feed(&mut self, event: Event<'_>, span: Span) -> Result<bool, YamlError> {
        let pos = pos_of(&span);
        let refuse = |message: String| YamlError {
            line: pos.line,
            col: pos.col,
            message,
        };
        match event {
            Event::DocumentEnd => return Ok(self.root.is_some()),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(refuse(format!(
                        "collections nested deeper than {MAX_DEPTH} levels"
                    )));
                }
                let frame = if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq {
                        pos,
                        anchor,
                        items: Vec::new(),
                    }
                } else {
                    Frame::Map {
                        pos,
                        anchor,
                        entries: Vec::new(),
                        key: None,
                    }
                };
                self.stack.push(frame);
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq { pos, anchor, items }) = self.stack.pop() {
                    self.finish(Node::new(pos, NodeValue::Seq(items)), anchor, 1)?;
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    pos,
                    anchor,
                    entries,
                    ..
                }) = self.stack.pop()
                {
                    self.finish(
                        Node::new(pos, NodeValue::Map(apply_merge_keys(entries))),
                        anchor,
                        1,
                    )?;
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tagged_string = tag.as_ref().is_some_and(|t| {
                    (t.handle == "!!" || t.handle == "tag:yaml.org,2002:") && t.suffix == "str"
                        || (t.handle == "!" && (t.suffix == "unsafe" || t.suffix == "vault"))
                });
                let value = if style == ScalarStyle::Plain && !tagged_string {
                    resolve_plain(&text)
                } else {
                    NodeValue::String(text.into_owned())
                };
                self.finish(Node::new(pos, value), anchor, 1)?;
            }
            Event::Alias(id) => {
                let (node, size) = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| refuse("alias refers to an unknown anchor".to_string()))?;
                self.finish(node, 0, size)?;
            }
            _ => {}
        }
        Ok(false)
    }

    fn finish(&mut self, node: Node, anchor: usize, size: usize) -> Result<(), YamlError> {
        self.nodes += size;
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                line: node.pos.line,
                col: node.pos.col,
                message: format!("document expands to more than {MAX_NODES} nodes (alias bomb?)"),
            });
        }
        if anchor > 0 {
            let count = node_count(&node);
            self.anchors.insert(anchor, (node.clone(), count));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
        Ok(())
    }
}

/// Applies YAML merge keys (`<<: *defaults` or `<<: [*a, *b]`): merged entries come first and
/// explicit keys of the mapping override them, as in PyYAML.
fn apply_merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    if !entries.iter().any(|(k, _)| k.as_str() == Some("<<")) {
        return entries;
    }
    let mut merged: Vec<(Node, Node)> = Vec::new();
    let mut explicit: Vec<(Node, Node)> = Vec::new();
    for (k, v) in entries {
        if k.as_str() != Some("<<") {
            explicit.push((k, v));
            continue;
        }
        let sources: Vec<Node> = match v.value {
            NodeValue::Seq(items) => items,
            _ => vec![v],
        };
        for source in sources {
            if let NodeValue::Map(source_entries) = source.value {
                for (sk, sv) in source_entries {
                    if !merged
                        .iter()
                        .any(|(mk, _)| mk.key_string() == sk.key_string())
                    {
                        merged.push((sk, sv));
                    }
                }
            }
        }
    }
    merged.retain(|(mk, _)| {
        !explicit
            .iter()
            .any(|(ek, _)| ek.key_string() == mk.key_string())
    });
    merged.extend(explicit);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn positions_are_one_based() {
        let n = load_yaml("- hosts: etcd\n  tasks:\n    - name: x\n").unwrap();
        let play = &n.as_seq().unwrap()[0];
        assert_eq!(play.pos, Pos { line: 1, col: 3 });
        let tasks = play.get("tasks").unwrap();
        let task = &tasks.as_seq().unwrap()[0];
        assert_eq!(task.get("name").unwrap().pos, Pos { line: 3, col: 13 });
    }

    #[test]
    fn yaml_1_1_scalars_and_quotes() {
        let n = load_yaml("a: yes\nb: 'yes'\nc: 0644\nd: \"0644\"\ne: !!str on\nf:\n").unwrap();
        assert_eq!(
            n.to_json(),
            json!({"a": true, "b": "yes", "c": 420, "d": "0644", "e": "on", "f": null})
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let text = "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n";
        let n = load_yaml(text).unwrap();
        assert_eq!(
            n.to_json(),
            json!({"base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 3}, "list": [{"x": 1, "y": 2}]})
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = load_yaml("a: [1, 2\nb: c\n").unwrap_err();
        assert!(e.line >= 1 && e.col >= 1, "{e:?}");
        let e = load_yaml("a:\n  - b\n c: d\n").unwrap_err();
        assert_eq!(e.line, 3, "{e:?}");
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for name in 'b'..='k' {
            bomb.push_str(&format!("{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = name;
        }
        assert!(load_yaml(&bomb).unwrap_err().message.contains("alias bomb"));
        let deep = "[".repeat(10_000);
        assert!(load_yaml(&deep).is_err());
    }

    #[test]
    fn empty_document_is_null() {
        assert!(load_yaml("").unwrap().is_null());
        assert!(load_yaml("# only a comment\n").unwrap().is_null());
    }
}
