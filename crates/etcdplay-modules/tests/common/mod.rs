//! Test support: a control node backed by a temporary directory, a transport wrapper that
//! counts round trips so tests can pin "a no-change run costs one exec", and a scripted host
//! that answers with recorded output (with the helpers to run a module on it).
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use etcdplay_modules::{ControlNode, ModuleCall, ModuleError, ModuleResult};
use etcdplay_transport::{
    Become, ExecOutput, ExecRequest, LocalTransport, PutRequest, Transport, TransportError,
};
use serde_json::Value;

pub struct Control {
    pub root: PathBuf,
    /// How often a module asked for a file's content.
    pub reads: AtomicUsize,
}

impl Control {
    /// A control node whose `files/` are the directory `root`.
    pub fn new(root: PathBuf) -> Self {
        Control {
            root,
            reads: AtomicUsize::new(0),
        }
    }
}

impl ControlNode for Control {
    fn read_local(&self, path: &str) -> Result<Vec<u8>, ModuleError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        std::fs::read(self.root.join(path)).map_err(|e| ModuleError::Control {
            path: path.into(),
            message: e.to_string(),
        })
    }
    /// As the engine's: known without the module reading the content.
    fn local_digest(&self, path: &str) -> Result<(u64, String), ModuleError> {
        use sha1::Digest;
        let bytes = std::fs::read(self.root.join(path)).map_err(|e| ModuleError::Control {
            path: path.into(),
            message: e.to_string(),
        })?;
        let sum = sha1::Sha1::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok((bytes.len() as u64, sum))
    }
    fn local_tree(
        &self,
        _kind: &str,
        path: &str,
        follow: bool,
    ) -> Result<Option<Vec<etcdplay_modules::LocalEntry>>, ModuleError> {
        let dir = self.root.join(path);
        if !dir.is_dir() {
            return Ok(None);
        }
        etcdplay_modules::local_tree::walk(&dir, follow)
            .map(Some)
            .map_err(|message| ModuleError::Control {
                path: path.into(),
                message,
            })
    }
    /// As the engine's: the regular files directly in the directory, links followed.
    fn list_local(&self, dir: &str) -> Result<Vec<(String, Vec<u8>)>, ModuleError> {
        let failed = |e: std::io::Error| ModuleError::Control {
            path: dir.into(),
            message: e.to_string(),
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(self.root.join(dir)).map_err(failed)? {
            let path = entry.map_err(failed)?.path();
            if path.is_file() {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                files.push((name, std::fs::read(&path).map_err(failed)?));
            }
        }
        Ok(files)
    }
    fn local_mode(&self, _kind: &str, path: &str) -> Result<u32, ModuleError> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(self.root.join(path))
            .map(|m| m.permissions().mode() & 0o7777)
            .map_err(|e| ModuleError::Control {
                path: path.into(),
                message: e.to_string(),
            })
    }
    fn render_template(
        &self,
        path: &str,
        _args: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, ModuleError> {
        // A stand-in renderer: replaces `{{ name }}` with a fixed value, enough to show that
        // the module uses the engine's rendering rather than the raw file.
        let raw = String::from_utf8(self.read_local(path)?).unwrap();
        Ok(raw.replace("{{ name }}", "node-1"))
    }
    fn write_local(&self, path: &str, bytes: &[u8]) -> Result<(), ModuleError> {
        let p = Path::new(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, bytes).map_err(|e| ModuleError::Control {
            path: path.into(),
            message: e.to_string(),
        })
    }
}

/// LocalTransport that counts exec and put calls; with `agent`, each script first gets the
/// host agent's prefill answers in front of it, as the agent serves it (acts included).
pub struct Counting {
    inner: LocalTransport,
    pub execs: AtomicUsize,
    pub puts: AtomicUsize,
    pub agent: bool,
    /// Requests whose answers said the agent did a script's act (`ep_ag_...='done'`).
    pub acted: AtomicUsize,
}

impl Counting {
    pub fn new() -> Self {
        Counting {
            inner: LocalTransport::new("testhost"),
            execs: AtomicUsize::new(0),
            puts: AtomicUsize::new(0),
            agent: false,
            acted: AtomicUsize::new(0),
        }
    }

    /// The request as the agent runs it: its prefill answers, then the script.
    fn as_agent_serves(&self, mut request: ExecRequest) -> ExecRequest {
        let input = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(input.path(), &request.stdin).unwrap();
        let has_input = !request.stdin.is_empty();
        let answers = etcdplay_agent::prefill_answers_for(
            request.script.as_bytes(),
            has_input.then_some(input.path()),
            0o022,
        );
        if let Some(answers) = answers {
            let answers = String::from_utf8(answers).unwrap();
            if answers.contains("_put='done'") || answers.contains("_mkdir='done'") {
                self.acted.fetch_add(1, Ordering::SeqCst);
            }
            request.script = format!("{answers}{}", request.script);
        }
        request
    }
    pub fn reset(&self) -> (usize, usize) {
        (
            self.execs.swap(0, Ordering::SeqCst),
            self.puts.swap(0, Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl Transport for Counting {
    fn host(&self) -> &str {
        self.inner.host()
    }
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        self.execs.fetch_add(1, Ordering::SeqCst);
        let request = if self.agent {
            self.as_agent_serves(request)
        } else {
            request
        };
        self.inner.exec(request).await
    }
    async fn put(&self, request: PutRequest) -> Result<(), TransportError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put(request).await
    }
    async fn get(&self, path: &str, become_: Option<&Become>) -> Result<Vec<u8>, TransportError> {
        self.inner.get(path, become_).await
    }
    async fn close(&self) -> Result<(), TransportError> {
        Ok(())
    }
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub control: Control,
    pub host: Counting,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("control");
        std::fs::create_dir_all(&files).unwrap();
        Env {
            control: Control::new(files),
            dir,
            host: Counting::new(),
        }
    }

    /// An environment whose host is served as by the host agent (see [`Counting`]).
    pub fn with_agent() -> Self {
        let mut env = Env::new();
        env.host.agent = true;
        env
    }

    /// A path inside the "host" part of the temp dir.
    pub fn p(&self, rel: &str) -> String {
        let host = self.dir.path().join("host");
        std::fs::create_dir_all(&host).unwrap();
        host.join(rel).to_string_lossy().into_owned()
    }

    pub async fn run_opts(
        &self,
        name: &str,
        args: Value,
        check: bool,
        diff: bool,
    ) -> Result<ModuleResult, ModuleError> {
        let map = args.as_object().cloned().unwrap();
        etcdplay_modules::run(call(name, &map, check, diff, &self.control), &self.host).await
    }

    pub async fn run(&self, name: &str, args: Value) -> ModuleResult {
        self.run_opts(name, args, false, false).await.unwrap()
    }

    /// Asserts the full convergence contract: check mode predicts a change and changes nothing,
    /// the first run changes (with a diff), the second run is ok in exactly one exec.
    pub async fn converges(&self, name: &str, args: Value, watched: &str) -> ModuleResult {
        self.converges_opts(name, args, watched, true).await
    }

    pub async fn converges_opts(
        &self,
        name: &str,
        args: Value,
        watched: &str,
        want_diff: bool,
    ) -> ModuleResult {
        let before = snapshot(watched);
        let check = self.run_opts(name, args.clone(), true, true).await.unwrap();
        assert!(
            check.changed && !check.failed,
            "check mode must predict a change: {check:?}"
        );
        assert_eq!(snapshot(watched), before, "check mode changed {watched}");
        let first = self
            .run_opts(name, args.clone(), false, true)
            .await
            .unwrap();
        assert!(
            first.changed && !first.failed,
            "first run must change: {first:?}"
        );
        if want_diff {
            assert!(first.diff.is_some(), "first run must produce a diff");
        }
        self.host.reset();
        let second = self.run_opts(name, args, false, false).await.unwrap();
        assert!(
            !second.changed && !second.failed,
            "second run must be ok: {second:?}"
        );
        assert_eq!(
            self.host.reset(),
            (1, 0),
            "a no-change run must cost exactly one exec"
        );
        first
    }
}

/// A comparable picture of a path: kind, mode and content (recursively for directories).
pub fn snapshot(path: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = Path::new(path);
    match std::fs::symlink_metadata(p) {
        Err(_) => "absent".into(),
        Ok(m) if m.file_type().is_symlink() => {
            format!("link->{}", std::fs::read_link(p).unwrap().display())
        }
        Ok(m) if m.is_dir() => {
            let mut entries: Vec<String> = std::fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().path().to_string_lossy().into_owned())
                .collect();
            entries.sort();
            format!(
                "dir {:o} [{}]",
                m.permissions().mode() & 0o7777,
                entries
                    .iter()
                    .map(|e| snapshot(e))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        Ok(m) => format!(
            "file {:o} {:?}",
            m.permissions().mode() & 0o7777,
            std::fs::read(p).unwrap()
        ),
    }
}

/// A host that answers exec requests with recorded outputs, in order, and records every script
/// and every upload; for modules whose commands this machine cannot or must not run. An exec
/// beyond the recorded answers panics: the test's round-trip budget is exceeded.
pub struct Scripted {
    host: String,
    /// The answers still to give, the next one last.
    replies: std::sync::Mutex<Vec<ExecOutput>>,
    scripts: std::sync::Mutex<Vec<String>>,
    puts: std::sync::Mutex<Vec<(String, Vec<u8>)>>,
}

impl Scripted {
    /// The host `host` whose execs answer, in order, `replies` (stdout, rc, stderr).
    pub fn new(host: &str, replies: &[(&str, i32, &str)]) -> Self {
        let replies = replies
            .iter()
            .rev()
            .map(|(stdout, rc, stderr)| ExecOutput {
                rc: *rc,
                stdout: stdout.as_bytes().to_vec(),
                stderr: stderr.as_bytes().to_vec(),
            })
            .collect();
        Scripted {
            host: host.into(),
            replies: std::sync::Mutex::new(replies),
            scripts: std::sync::Mutex::default(),
            puts: std::sync::Mutex::default(),
        }
    }
    /// As `new`, every exec succeeding with the stdout given and no stderr.
    pub fn printing(host: &str, stdouts: &[&str]) -> Self {
        let replies: Vec<(&str, i32, &str)> = stdouts.iter().map(|s| (*s, 0, "")).collect();
        Self::new(host, &replies)
    }
    /// The scripts executed, in order.
    pub fn scripts(&self) -> Vec<String> {
        self.scripts.lock().unwrap().clone()
    }
    /// The uploads made, in order: destination and content.
    pub fn puts(&self) -> Vec<(String, Vec<u8>)> {
        self.puts.lock().unwrap().clone()
    }
}

#[async_trait]
impl Transport for Scripted {
    fn host(&self) -> &str {
        &self.host
    }
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        self.scripts.lock().unwrap().push(request.script);
        Ok(self
            .replies
            .lock()
            .unwrap()
            .pop()
            .expect("more execs than the round-trip budget"))
    }
    async fn put(&self, request: PutRequest) -> Result<(), TransportError> {
        let content = request.content.to_vec();
        self.puts.lock().unwrap().push((request.dest, content));
        Ok(())
    }
    async fn get(&self, _path: &str, _b: Option<&Become>) -> Result<Vec<u8>, TransportError> {
        panic!("these modules never download")
    }
    async fn close(&self) -> Result<(), TransportError> {
        Ok(())
    }
}

/// A probe's answer as the modules' probe scripts print it: each `(name, body)` under its
/// `@@etcdplay:name` marker, then the end marker.
pub fn sections(parts: &[(&str, &str)]) -> String {
    let mut s: String = parts
        .iter()
        .map(|(n, b)| format!("\n@@etcdplay:{n}\n{b}"))
        .collect();
    s.push_str("\n@@etcdplay:end\n");
    s
}

/// A call of module `name` with `args`, without become.
pub fn call<'a>(
    name: &'a str,
    args: &'a serde_json::Map<String, Value>,
    check: bool,
    diff: bool,
    control: &'a Control,
) -> ModuleCall<'a> {
    ModuleCall {
        name,
        args,
        check,
        diff,
        become_: None,
        control,
    }
}

/// Runs module `name` with `args` (a JSON object) on `host`, with a control node on the
/// temporary directory and without become.
pub async fn try_run(
    name: &str,
    args: Value,
    check: bool,
    diff: bool,
    host: &dyn Transport,
) -> Result<ModuleResult, ModuleError> {
    let control = Control::new(std::env::temp_dir());
    let map = args.as_object().cloned().unwrap();
    etcdplay_modules::run(call(name, &map, check, diff, &control), host).await
}

/// As `try_run` without diff, for calls whose arguments are valid.
pub async fn run(name: &str, args: Value, check: bool, host: &dyn Transport) -> ModuleResult {
    try_run(name, args, check, false, host).await.unwrap()
}
