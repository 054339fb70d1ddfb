//! Test support: a control node backed by a temporary directory, and a transport wrapper that
//! counts round trips so tests can pin "a no-change run costs one exec".
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

/// LocalTransport that counts exec and put calls.
pub struct Counting {
    inner: LocalTransport,
    pub execs: AtomicUsize,
    pub puts: AtomicUsize,
}

impl Counting {
    pub fn new() -> Self {
        Counting {
            inner: LocalTransport::new("testhost"),
            execs: AtomicUsize::new(0),
            puts: AtomicUsize::new(0),
        }
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
        let call = ModuleCall {
            name,
            args: &map,
            check,
            diff,
            become_: None,
            control: &self.control,
        };
        etcdplay_modules::run(call, &self.host).await
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
