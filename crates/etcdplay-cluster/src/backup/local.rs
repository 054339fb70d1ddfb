//! The control node's copy of a backup under `<inventory dir>/backups/<host>/`: private,
//! durable (fsynced with its directory) and compared by sha256 with the host's file.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::BackupError;

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn local_err(
    path: &Path,
    what: &'static str,
) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Local { path, what, source }
}

/// Creates `dir` (and missing parents) 0700: backups hold every key of the cluster.
fn private_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(local_err(dir, "creating the directory"))
}

fn fsync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(local_err(dir, "fsync of the directory"))
}

/// sha256 of a file, read back from disk in pieces.
pub(crate) fn sha256_file(path: &Path) -> Result<String, BackupError> {
    let mut file = std::fs::File::open(path).map_err(local_err(path, "reading back"))?;
    let mut sum = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(local_err(path, "reading back"))?;
        if n == 0 {
            break;
        }
        sum.update(&buf[..n]);
    }
    Ok(hex(&sum.finalize()))
}

/// Stores `bytes` as `dir/name` durably and privately: written 0600 to a temporary name,
/// fsynced, renamed, the directory (and its parent, which may have gained `dir`) fsynced;
/// then the mode and the sha256 of what is on disk are checked against `expected`.
pub(crate) fn store_locally(
    host: &str,
    host_path: &str,
    dir: &Path,
    name: &str,
    bytes: &[u8],
    expected: &str,
) -> Result<PathBuf, BackupError> {
    private_dir(dir)?;
    let path = dir.join(name);
    let part = dir.join(format!(".{name}.part"));
    {
        // A leftover of a killed run is ours and may have another mode: start afresh.
        let _ = std::fs::remove_file(&part);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&part)
            .map_err(local_err(&part, "creating"))?;
        f.write_all(bytes).map_err(local_err(&part, "writing"))?;
        f.sync_all().map_err(local_err(&part, "fsync"))?;
    }
    std::fs::rename(&part, &path).map_err(local_err(&path, "renaming into place"))?;
    fsync_dir(dir)?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsync_dir(parent)?;
    }
    let mode = std::fs::metadata(&path)
        .map_err(local_err(&path, "stat"))?
        .permissions()
        .mode()
        & 0o7777;
    if mode != 0o600 {
        return Err(BackupError::LocalMode { path, mode });
    }
    let local = sha256_file(&path)?;
    if local != expected {
        return Err(BackupError::ChecksumMismatch {
            host: host.to_string(),
            path: host_path.to_string(),
            copy: path,
            local,
            remote: expected.to_string(),
        });
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_copy_is_private_durable_and_checked() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("backups").join("m1");
        let bytes = b"snapshot bytes".to_vec();
        let sum = hex(&Sha256::digest(&bytes));
        let path = store_locally("m1", "/h/x.db", &dir, "x.db", &bytes, &sum).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert!(!dir.join(".x.db.part").exists());
        // Bytes that do not match the host's sum are refused.
        let err = store_locally("m1", "/h/x.db", &dir, "x.db", b"torn", &sum).unwrap_err();
        assert!(matches!(err, BackupError::ChecksumMismatch { .. }), "{err}");
        assert!(err.to_string().contains("/h/x.db on the host has"), "{err}");
    }
}
