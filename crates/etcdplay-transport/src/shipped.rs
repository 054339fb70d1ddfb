//! Programs of etcdplay's own that it keeps on hosts (the data-dir reader, the host agent):
//! their bytes as built next to the running `etcdplay`, a short sha1 that names the host's
//! copy (so a new etcdplay never runs an old copy) and the platform they run on, as
//! `uname -sm` prints it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha1::{Digest, Sha1};

/// One program to keep on hosts.
#[derive(Debug)]
pub struct ShippedBinary {
    bytes: Arc<Vec<u8>>,
    tag: String,
    platform: String,
}

impl ShippedBinary {
    /// Loads the program at `path`; `None` when it is missing or unreadable, or when this
    /// control node's platform has no `uname` name known here.
    pub fn load(path: &Path) -> Option<Self> {
        let platform = control_platform()?;
        let bytes = std::fs::read(path).ok()?;
        Some(Self::from_bytes(bytes, platform))
    }

    /// The program `name` next to the running executable, if that file exists and loads.
    pub fn beside_current_exe(name: &str) -> Option<Self> {
        let exe = std::env::current_exe().ok()?;
        let path: PathBuf = exe.parent()?.join(name);
        Self::load(&path)
    }

    /// A program of these bytes for `platform` (tests use shell scripts and foreign ones).
    pub fn from_bytes(bytes: Vec<u8>, platform: String) -> Self {
        let digest = Sha1::digest(&bytes);
        let tag: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        ShippedBinary {
            bytes: bytes.into(),
            tag,
            platform,
        }
    }

    pub fn bytes(&self) -> &Arc<Vec<u8>> {
        &self.bytes
    }

    /// The first 12 hex digits of the sha1 of the bytes.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Where a host keeps its copy of this program named `name`: `CACHE_DIR/NAME-TAG`, so that
    /// a new etcdplay never runs an old copy.
    pub fn host_path(&self, cache_dir: &str, name: &str) -> String {
        format!("{}/{name}-{}", cache_dir.trim_end_matches('/'), self.tag)
    }

    /// What `uname -sm` prints on a host that can run it, e.g. `Linux x86_64`.
    pub fn platform(&self) -> &str {
        &self.platform
    }
}

/// This control node's platform as `uname -sm` prints it; `None` off Linux or on an
/// architecture whose `uname -m` spelling is not one of these.
pub fn control_platform() -> Option<String> {
    if std::env::consts::OS != "linux" {
        return None;
    }
    let machine = match std::env::consts::ARCH {
        "x86_64" => "x86_64",
        "aarch64" => "aarch64",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        _ => return None,
    };
    Some(format!("Linux {machine}"))
}
