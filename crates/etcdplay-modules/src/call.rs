//! What the engine hands a module ([`ModuleCall`], [`ControlNode`]) and what it gets back
//! ([`ModuleResult`], [`Diff`]). The shapes follow Ansible's so that `register:` variables,
//! `changed_when:` and `--diff` output look the same to a playbook.

use std::path::Path;

use etcdplay_transport::Become;
use serde_json::{Map, Value};

use crate::ModuleError;

/// The control-node services a module needs. The engine implements this: it knows the role and
/// playbook directories to search and the host's variables to render templates with.
pub trait ControlNode: Send + Sync {
    /// Reads a file named by a task's `src:`, resolved like Ansible does (role `files/`,
    /// playbook directory, absolute path).
    fn read_local(&self, path: &str) -> Result<Vec<u8>, ModuleError>;
    /// [`ControlNode::read_local`] for an upload: the engine hands every host that uploads
    /// the same version of a file at the same time one shared copy, so memory does not grow
    /// with hosts × size (a 20 MB etcd binary to 30 hosts).
    fn read_local_shared(&self, path: &str) -> Result<std::sync::Arc<Vec<u8>>, ModuleError> {
        Ok(self.read_local(path)?.into())
    }
    /// Renders a template named by a task's `src:` (role `templates/`...) with the host's vars
    /// and the template module's rendering arguments in `args` (`trim_blocks`, delimiters...).
    fn render_template(&self, path: &str, args: &Map<String, Value>)
        -> Result<String, ModuleError>;
    /// The size and sha1 (hex) of the file a task's `src:` names, resolved as
    /// [`ControlNode::read_local`] does. The engine remembers them (for the run and across
    /// runs, by file identity), since the same file is typically copied to every host and
    /// hashing a large binary per host costs more than the whole no-change round trip.
    fn local_digest(&self, path: &str) -> Result<(u64, String), ModuleError> {
        let bytes = self.read_local(path)?;
        Ok((bytes.len() as u64, crate::modules::write::sha1_hex(&bytes)))
    }
    /// The md5 (hex) of the file a task's `src:` names, for the `md5sum` that copy results
    /// carry: the engine computes it once per version of the file for all hosts (hashing a
    /// 20 MB binary per host held up every upload behind it).
    fn local_md5(&self, path: &str) -> Result<String, ModuleError> {
        Ok(crate::modules::write::md5_hex(&self.read_local(path)?))
    }
    /// Whether the file a task's `src:` names is vault data (`copy` uploads such a file
    /// decrypted unless `decrypt: no`). Resolved as [`ControlNode::read_local`] does.
    fn local_vaulted(&self, _path: &str) -> Result<bool, ModuleError> {
        Ok(false)
    }
    /// The decrypted content of a vaulted `src:` file.
    fn read_local_decrypted(&self, path: &str) -> Result<Vec<u8>, ModuleError> {
        self.read_local(path)
    }
    /// The regular files (links followed) directly in a control-node directory named by a
    /// task's `src:`, resolved as [`ControlNode::read_local`] resolves files, with their
    /// content (used by `assemble` with `remote_src: no`). Order is unspecified.
    fn list_local(&self, dir: &str) -> Result<Vec<(String, Vec<u8>)>, ModuleError> {
        Err(ModuleError::Control {
            path: dir.to_string(),
            message: "this control node cannot list directories".into(),
        })
    }
    /// The permission bits of the control-node file a task's `src:` names, searched in the
    /// role's `kind` directory (`files` for copy, `templates` for template) as
    /// [`ControlNode::read_local`] searches: what `mode: preserve` gives the destination.
    fn local_mode(&self, _kind: &str, path: &str) -> Result<u32, ModuleError> {
        Err(ModuleError::Control {
            path: path.to_string(),
            message: "this control node cannot read file modes".into(),
        })
    }
    /// The tree below the control-node directory a task's `src:` names (searched in `kind`
    /// as [`ControlNode::read_local`] searches), for `copy` of a directory; `None` when `src`
    /// is not a directory. `follow`: `local_follow` (see [`crate::local_tree::walk`]).
    fn local_tree(
        &self,
        _kind: &str,
        path: &str,
        _follow: bool,
    ) -> Result<Option<Vec<crate::LocalEntry>>, ModuleError> {
        Err(ModuleError::Control {
            path: path.to_string(),
            message: "this control node cannot list directories".into(),
        })
    }
    /// Writes a file on the control node (used by `fetch`); creates parent directories.
    fn write_local(&self, path: &str, bytes: &[u8]) -> Result<(), ModuleError>;
    /// Reads a plain control-node path, `None` if it does not exist (used by `fetch` to decide
    /// whether the local copy is already up to date). Unlike [`ControlNode::read_local`] the
    /// path is not resolved against role directories. Only a regular file is read, and no more
    /// than a fetch may bring back ([`etcdplay_transport::MAX_GET_SIZE`]).
    fn read_written(&self, path: &str) -> Result<Option<Vec<u8>>, ModuleError> {
        match etcdplay_source::read_file(Path::new(path), etcdplay_transport::MAX_GET_SIZE) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(ModuleError::Control {
                path: path.to_string(),
                message: e.problem.to_string(),
            }),
        }
    }
}

/// One invocation of a module on one host.
#[derive(Clone, Copy)]
pub struct ModuleCall<'a> {
    /// Module name as written in the task (`copy`, `ansible.builtin.copy`, `service`...).
    pub name: &'a str,
    /// Arguments, already templated by the engine.
    pub args: &'a Map<String, Value>,
    /// `--check`: report what would change, change nothing.
    pub check: bool,
    /// `--diff`: fill [`ModuleResult::diff`].
    pub diff: bool,
    /// Run the host side as this user.
    pub become_: Option<&'a Become>,
    pub control: &'a dyn ControlNode,
}

/// Before/after view of a change, as Ansible's `diff` result key. Text content (copy, template,
/// lineinfile, blockinfile) is a JSON string; state (file) is a JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub before: Value,
    pub after: Value,
    pub before_header: Option<String>,
    pub after_header: Option<String>,
}

impl Diff {
    /// A unified diff of the two sides, the way `ansible-playbook --diff` prints it. Objects are
    /// compared as pretty JSON with sorted keys.
    pub fn unified(&self) -> String {
        let before = side_text(&hide_private_keys(&self.before));
        let after = side_text(&hide_private_keys(&self.after));
        // Ansible's callback prefixes a header with `before: `/`after: ` and prints the bare
        // word when the module gave none.
        let bh = self
            .before_header
            .as_ref()
            .map_or_else(|| "before".to_string(), |h| format!("before: {h}"));
        let ah = self
            .after_header
            .as_ref()
            .map_or_else(|| "after".to_string(), |h| format!("after: {h}"));
        crate::textdiff::unified(&before, &after, &bh, &ah)
    }
}

/// What stands in a diff instead of content that holds a private key.
pub(crate) const HIDDEN_KEY: &str = "<content hidden: it holds a private key>\n";

/// A diff side with private key material replaced: `--diff`, `-v` and `--output json` must
/// never show a key, even when the task forgot `no_log`.
fn hide_private_keys(v: &Value) -> Value {
    match v {
        Value::String(s) if s.contains("PRIVATE KEY-----") => Value::String(HIDDEN_KEY.to_string()),
        other => other.clone(),
    }
}

fn side_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => {
            // As Python's `json.dumps(sort_keys=True, indent=4)` in Ansible's callback.
            // serde_json indents by two; JSON strings hold no raw newline, so doubling each
            // line's leading spaces gives the four Python uses.
            let sorted: std::collections::BTreeMap<_, _> = m.iter().collect();
            let two = serde_json::to_string_pretty(&sorted).unwrap_or_default();
            let mut s = String::new();
            for line in two.lines() {
                let body = line.trim_start_matches(' ');
                s.push_str(&" ".repeat((line.len() - body.len()) * 2));
                s.push_str(body);
                s.push('\n');
            }
            s
        }
        other => other.to_string(),
    }
}

/// The outcome of a module on one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleResult {
    pub changed: bool,
    pub failed: bool,
    /// The module did not run (for example `creates:` matched, or check mode on a module
    /// that cannot predict its effect).
    pub skipped: bool,
    pub msg: Option<String>,
    pub diff: Option<Diff>,
    /// Ansible's other result keys (`rc`, `stdout`, `dest`, `checksum`, `stat`, ...).
    pub data: Map<String, Value>,
}

impl ModuleResult {
    pub(crate) fn ok() -> Self {
        ModuleResult::default()
    }

    pub(crate) fn fail(msg: impl Into<String>) -> Self {
        ModuleResult {
            failed: true,
            msg: Some(msg.into()),
            ..ModuleResult::default()
        }
    }

    pub(crate) fn set(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        self.data.insert(key.to_string(), value.into());
        self
    }

    /// The result as Ansible's JSON (what `register:` stores).
    pub fn to_json(&self) -> Value {
        let mut m = self.data.clone();
        m.insert("changed".into(), Value::Bool(self.changed));
        m.insert("failed".into(), Value::Bool(self.failed));
        if self.skipped {
            m.insert("skipped".into(), Value::Bool(true));
        }
        if let Some(msg) = &self.msg {
            m.insert("msg".into(), Value::String(msg.clone()));
        }
        if let Some(d) = &self.diff {
            let mut dm = Map::new();
            dm.insert("before".into(), hide_private_keys(&d.before));
            dm.insert("after".into(), hide_private_keys(&d.after));
            if let Some(h) = &d.before_header {
                dm.insert("before_header".into(), Value::String(h.clone()));
            }
            if let Some(h) = &d.after_header {
                dm.insert("after_header".into(), Value::String(h.clone()));
            }
            m.insert("diff".into(), Value::Object(dm));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn diffs_never_show_a_private_key() {
        let key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
        let d = Diff {
            before: Value::String(String::new()),
            after: Value::String(key.into()),
            before_header: None,
            after_header: Some("/etc/etcd/pki/member-key.pem".into()),
        };
        let text = d.unified();
        assert!(!text.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "{text}");
        assert!(text.contains("content hidden"), "{text}");
        let r = ModuleResult {
            changed: true,
            diff: Some(d),
            ..ModuleResult::default()
        };
        assert!(!r
            .to_json()
            .to_string()
            .contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diffs_print_like_ansibles_callback() {
        let text = Diff {
            before: json!("a\nb\n"),
            after: json!("a\nc\n"),
            before_header: Some("/etc/x".into()),
            after_header: Some("x.j2".into()),
        }
        .unified();
        assert!(
            text.starts_with("--- before: /etc/x\n+++ after: x.j2\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"),
            "{text}"
        );
        let state = Diff {
            before: json!({"path": "/x", "mode": "0644"}),
            after: json!({"path": "/x", "mode": "0600"}),
            before_header: None,
            after_header: None,
        }
        .unified();
        assert_eq!(
            state,
            "--- before\n+++ after\n@@ -1,4 +1,4 @@\n {\n-    \"mode\": \"0644\",\n+    \"mode\": \"0600\",\n     \"path\": \"/x\"\n }\n"
        );
    }
}
