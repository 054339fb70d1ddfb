//! The YAML loader. It builds [`Node`]s from saphyr-parser's events (which carry positions), and
//! does what Ansible's loader does on top of plain YAML: YAML 1.1 scalars, anchors and aliases,
//! and `<<` merge keys. It refuses input that would exhaust the machine (deep nesting, alias
//! bombs) with an error instead of a crash, because parsers must never panic on user files.

use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::file::{read_source_text, SourceText, MAX_TEXT_FILE};
use crate::flow_indent::{reindent_flow, Reindented};
use crate::scalar::resolve_plain;
use crate::{Diagnostic, Node, NodeValue, Pos};

/// How deep collections may nest; deeper input is refused rather than risking the stack of the
/// recursive walks done on the tree later.
const MAX_DEPTH: usize = 256;
/// How many nodes a document may expand to, aliases counted at their full size.
const MAX_NODES: usize = 2_000_000;
/// How many bytes of scalar text (keys included) aliases may copy into one document. The node
/// bound alone lets a few aliased 64 KiB scalars nest into gigabytes of text while the node count
/// stays small. Text written out in the file is not counted: it is already in memory, read whole,
/// so this bound caps what a document can grow to beyond its own size. Real playbooks reuse a
/// certificate or a block of vars a few times, megabytes at most.
const MAX_ALIAS_BYTES: usize = 64 << 20;

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

/// Reads and parses a YAML file (a regular file of at most [`MAX_TEXT_FILE`] bytes, decrypted
/// when vaulted); any problem comes back as one diagnostic naming the file.
pub fn load_yaml_file(path: &Path, shown_as: &str) -> Result<Node, Diagnostic> {
    let source = read_source_text(path, MAX_TEXT_FILE).map_err(|e| {
        Diagnostic::whole_file(shown_as, format!("cannot read file: {}", e.problem))
    })?;
    load_yaml_source(&source, shown_as).map_err(|e| e.in_file(shown_as))
}

/// Parses a file's text ([`crate::read_source_text`]); `shown_as` names it in the location of
/// a `!vault` value that cannot be decrypted. Every string of a vaulted file is a secret and
/// is remembered for redaction.
pub fn load_yaml_source(source: &SourceText, shown_as: &str) -> Result<Node, YamlError> {
    let node = parse(&source.text, shown_as)?;
    if source.vaulted {
        remember_strings(&node);
    }
    Ok(node)
}

/// Parses the first document of `text`. An empty document is a `Null` node at 1:1.
pub fn load_yaml(text: &str) -> Result<Node, YamlError> {
    parse(text, "")
}

fn remember_strings(node: &Node) {
    match &node.value {
        NodeValue::String(text) => etcdplay_vault::redact::remember(text),
        NodeValue::Seq(items) => items.iter().for_each(remember_strings),
        NodeValue::Map(entries) => entries.iter().for_each(|(_, v)| remember_strings(v)),
        _ => {}
    }
}

/// Parses the first document of `text`; `file` names it in the location of a `!vault` value
/// that cannot be decrypted.
fn parse(text: &str, file: &str) -> Result<Node, YamlError> {
    match parse_document(text, file, None) {
        // PyYAML accepts flow collections continued at a lower indentation (a mapping closed at
        // column 1); saphyr does not: indent those lines and try once more, keeping the first
        // error when that does not help.
        Err(first) => match reindent_flow(text) {
            Some(r) => parse_document(&r.text, file, Some(&r)).map_err(|_| first),
            None => Err(first),
        },
        ok => ok,
    }
}

/// Parses `text`; positions are moved back to the original text by `reindented`.
fn parse_document(
    text: &str,
    file: &str,
    reindented: Option<&Reindented>,
) -> Result<Node, YamlError> {
    let mut builder = TreeBuilder {
        file,
        reindented,
        ..TreeBuilder::default()
    };
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

/// A node kept for its aliases, measured once so that each alias is charged without walking it.
struct Anchored {
    node: Node,
    nodes: usize,
    text_bytes: usize,
}

#[derive(Default)]
struct TreeBuilder<'f> {
    /// The file, for the location of a `!vault` value that cannot be decrypted.
    file: &'f str,
    /// The original text's layout when lines were indented (see `flow_indent`).
    reindented: Option<&'f Reindented>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    root: Option<Node>,
    /// Nodes in the tree so far, each alias counted at the size of what it copies.
    nodes: usize,
    /// Bytes of scalar text copied by aliases so far.
    alias_bytes: usize,
}

fn pos_of(span: &Span, reindented: Option<&Reindented>) -> Pos {
    let line = span.start.line() as u32;
    let col = span.start.col() as u32 + 1;
    Pos {
        line,
        col: reindented.map_or(col, |r| r.col(line, col)),
    }
}

/// How many nodes `node` holds and how many bytes of string text (mapping keys included).
/// Sums saturate: they are compared against limits, and an anchored node is already within them.
fn measure(node: &Node) -> (usize, usize) {
    match &node.value {
        NodeValue::String(text) => (1, text.len()),
        NodeValue::Seq(items) => items
            .iter()
            .fold((1, 0), |acc, item| add(acc, measure(item))),
        NodeValue::Map(entries) => entries
            .iter()
            .fold((1, 0), |acc, (k, v)| add(add(acc, measure(k)), measure(v))),
        _ => (1, 0),
    }
}

fn add(a: (usize, usize), b: (usize, usize)) -> (usize, usize) {
    (a.0.saturating_add(b.0), a.1.saturating_add(b.1))
}

impl TreeBuilder<'_> {
    /// Feeds one event; returns true once the first document is complete.
    fn feed(&mut self, event: Event<'_>, span: Span) -> Result<bool, YamlError> {
        let pos = pos_of(&span, self.reindented);
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
                    self.finish(Node::new(pos, NodeValue::Seq(items)), anchor)?;
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
                    )?;
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let local_tag = |name: &str| {
                    tag.as_ref()
                        .is_some_and(|t| t.handle == "!" && t.suffix == name)
                };
                let tagged_string = local_tag("unsafe")
                    || tag.as_ref().is_some_and(|t| {
                        (t.handle == "!!" || t.handle == "tag:yaml.org,2002:") && t.suffix == "str"
                    });
                let value = if local_tag("vault") {
                    NodeValue::String(self.inline_vault(&text, pos))
                } else if style == ScalarStyle::Plain && !tagged_string {
                    resolve_plain(&text)
                } else {
                    NodeValue::String(text.into_owned())
                };
                self.finish(Node::new(pos, value), anchor)?;
            }
            Event::Alias(id) => {
                let anchored = self
                    .anchors
                    .get(&id)
                    .ok_or_else(|| refuse("alias refers to an unknown anchor".to_string()))?;
                // Charged before the clone: the copy itself is what would exhaust memory, and the
                // error then points at the alias that crossed the limit, not at its anchor.
                let nodes = self.nodes.saturating_add(anchored.nodes);
                let alias_bytes = self.alias_bytes.saturating_add(anchored.text_bytes);
                if nodes > MAX_NODES {
                    return Err(refuse(format!(
                        "document expands to more than {MAX_NODES} nodes (alias bomb?)"
                    )));
                }
                if alias_bytes > MAX_ALIAS_BYTES {
                    return Err(refuse(format!(
                        "aliases expand the document by more than {} MiB of text (alias bomb?)",
                        MAX_ALIAS_BYTES >> 20
                    )));
                }
                let node = anchored.node.clone();
                self.nodes = nodes;
                self.alias_bytes = alias_bytes;
                self.attach(node, 0);
            }
            _ => {}
        }
        Ok(false)
    }

    /// The plaintext of a `!vault` scalar; when it cannot be decrypted, the marker that makes
    /// a later use of the value fail (Ansible decrypts such values when they are used).
    fn inline_vault(&self, ciphertext: &str, pos: Pos) -> String {
        let decrypted = etcdplay_vault::session::decrypt(ciphertext.as_bytes()).and_then(|plain| {
            String::from_utf8(plain.to_vec()).map_err(|_| {
                etcdplay_vault::VaultError::Format(etcdplay_vault::FormatProblem::NotUtf8)
            })
        });
        decrypted.unwrap_or_else(|error| {
            let location = match self.file {
                "" => format!("{}:{}", pos.line, pos.col),
                file => format!("{file}:{}:{}", pos.line, pos.col),
            };
            etcdplay_vault::session::undecryptable(&location, &error)
        })
    }

    /// Counts one node written in the document and attaches it.
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                line: node.pos.line,
                col: node.pos.col,
                message: format!("document expands to more than {MAX_NODES} nodes (alias bomb?)"),
            });
        }
        self.attach(node, anchor);
        Ok(())
    }

    /// Puts `node` where the open collection expects it, keeping a copy under `anchor` (0: none).
    fn attach(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            let (nodes, text_bytes) = measure(&node);
            self.anchors.insert(
                anchor,
                Anchored {
                    node: node.clone(),
                    nodes,
                    text_bytes,
                },
            );
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

    /// Billion laughs with big leaves: an anchor on a 64 KiB scalar, aliased ten times per
    /// level. The tree stays far below the node limit (a million nodes by level g) while its
    /// text grows tenfold per level, so only a bound on the bytes aliases copy stops it; without
    /// one this 64 KiB document asked for tens of gigabytes.
    #[test]
    fn alias_bombs_of_large_scalars_are_refused() {
        let leaf = "x".repeat(64 * 1024);
        let mut bomb = format!("a: &a {leaf}\n");
        let mut prev = 'a';
        for name in 'b'..='g' {
            let aliases = vec![format!("*{prev}"); 10].join(", ");
            bomb.push_str(&format!("{name}: &{name} [{aliases}]\n"));
            prev = name;
        }
        let started = std::time::Instant::now();
        let e = load_yaml(&bomb).unwrap_err();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(e.message.contains("alias bomb"), "{e:?}");
        // Levels b and c copy 110 leaves, d's aliases 100 each: the tenth alias of d (line 4)
        // crosses 1024 leaves (64 MiB), and the error points at that alias.
        let shown = e.in_file("bomb.yml").to_string();
        assert!(shown.starts_with("bomb.yml:4:"), "{shown}");
        let tenth = bomb.lines().nth(3).unwrap().rfind("*c").unwrap() as u32 + 1;
        assert_eq!((e.line, e.col), (4, tenth), "{e:?}");
    }

    /// Ordinary reuse, even of a large value, stays well inside the bound.
    #[test]
    fn a_few_aliases_of_a_large_scalar_load() {
        let leaf = "y".repeat(64 * 1024);
        let text = format!("cert: &cert {leaf}\nhosts:\n  a: {{pem: *cert}}\n  b: {{pem: *cert}}\n  c: [*cert, *cert, *cert]\n");
        let n = load_yaml(&text).unwrap();
        let hosts = n.get("hosts").unwrap();
        assert_eq!(
            hosts.get("b").unwrap().get("pem").unwrap().as_str(),
            Some(leaf.as_str())
        );
        assert_eq!(hosts.get("c").unwrap().as_seq().unwrap().len(), 3);
    }

    /// PyYAML (Ansible's loader) reads this as `[{debug: {msg: {a: 1, b: 2}}}]`.
    #[test]
    fn a_flow_mapping_closed_at_column_one_loads_with_its_positions() {
        let text = "- debug:\n    msg: {a: 1,\n      b: 2\n}\n- x: [1,\n2]\n";
        let doc = load_yaml(text).expect("loads");
        let msg = doc.as_seq().unwrap()[0]
            .get("debug")
            .unwrap()
            .get("msg")
            .unwrap();
        assert_eq!(msg.to_json(), serde_json::json!({"a": 1, "b": 2}));
        assert_eq!(msg.get("b").unwrap().pos, Pos { line: 3, col: 10 });
        let x = doc.as_seq().unwrap()[1].get("x").unwrap();
        assert_eq!(x.to_json(), serde_json::json!([1, 2]));
        assert_eq!(x.as_seq().unwrap()[1].pos, Pos { line: 6, col: 1 });
        // Still refused where PyYAML refuses too: a block mapping that is badly indented.
        assert!(load_yaml("a:\n  b: 1\n c: 2\n").is_err());
    }

    #[test]
    fn empty_document_is_null() {
        assert!(load_yaml("").unwrap().is_null());
        assert!(load_yaml("# only a comment\n").unwrap().is_null());
    }
}

/// `!vault` scalars and vaulted files, with the run's keyring (the only test of this binary
/// that installs one). Fixtures are ansible-vault's (crates/etcdplay-vault/tests/fixtures).
#[cfg(test)]
mod vault_tests {
    use super::*;
    use etcdplay_vault::{session, Keyring, VaultSecret};

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../etcdplay-vault/tests/fixtures"
    );

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
    }

    #[test]
    fn inline_values_decrypt_or_carry_their_error_and_vaulted_files_decrypt() {
        let inline = fixture("inline-1.1.yml");
        session::install(Keyring::default());
        let node = load_yaml_source(
            &SourceText {
                text: inline.clone(),
                vaulted: false,
            },
            "vars.yml",
        )
        .unwrap();
        let value = node.get("api_token").unwrap().as_str().unwrap().to_string();
        assert_eq!(
            session::undecryptable_message(&value),
            Some("vars.yml:1:12: Attempt to use undecryptable variable: Attempting to decrypt but no vault secrets found.")
        );
        let e =
            load_yaml_file(Path::new(&format!("{FIXTURES}/vars-1.1.yml")), "v.yml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "v.yml: cannot read file: Attempting to decrypt but no vault secrets found."
        );

        let password = fixture("password-default").trim().as_bytes().to_vec();
        session::install(Keyring::new(vec![VaultSecret::new("default", password)]));
        let node = load_yaml(&inline).unwrap();
        assert_eq!(
            node.get("api_token").unwrap().as_str(),
            Some("inline-token-99")
        );
        let node = load_yaml_file(Path::new(&format!("{FIXTURES}/vars-1.1.yml")), "v.yml").unwrap();
        assert_eq!(
            node.get("db_password").unwrap().as_str(),
            Some("s3cret-value-42")
        );
        // Every value of a vaulted file is a secret for the output layer.
        assert_eq!(
            etcdplay_vault::redact::redact("x s3cret-value-42 inline-token-99"),
            "x ******** ********"
        );
    }
}
