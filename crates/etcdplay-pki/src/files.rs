//! File handling for the PKI directory: permission checks on keys and on the directory,
//! reading key files without a window for tampering, and atomic writes that create keys
//! with mode 0600 from the first byte.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::PkiError;

/// Mode of private key files.
pub(crate) const KEY_MODE: u32 = 0o600;
/// Mode of certificate files: public data, but the directory itself is 0700 anyway.
pub(crate) const CERT_MODE: u32 = 0o644;
/// Mode of the PKI directory.
pub(crate) const DIR_MODE: u32 = 0o700;

/// Permission bits that must be clear on keys and on the directory: any group or other access.
const GROUP_OTHER: u32 = 0o077;

/// Distinguishes temporary files of concurrent writers inside one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The most read of a certificate or key file: PEM files are a few KiB; this only keeps a
/// FIFO, a device or a huge file from hanging or exhausting the run.
const MAX_PEM_FILE: u64 = etcdplay_source::MAX_TEXT_FILE;

/// Reads a file that may be absent: `Ok(None)` when it does not exist. Only a regular file.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, PkiError> {
    match etcdplay_source::read_file(path, MAX_PEM_FILE) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(PkiError::read(e)),
    }
}

/// Reads a private key file after checking, on the opened file itself, that it is a regular
/// file and that neither group nor others can access it. Checking the open descriptor (not the
/// path) means a file swapped in between the check and the read cannot slip through.
pub(crate) fn read_key(path: &Path) -> Result<Option<String>, PkiError> {
    let (file, meta) = match etcdplay_source::open_regular(path) {
        Ok(opened) => opened,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(PkiError::read(e)),
    };
    check_owner(path, &meta)?;
    let mode = meta.permissions().mode();
    if mode & GROUP_OTHER != 0 {
        return Err(PkiError::InsecureKey {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
        });
    }
    let bytes =
        etcdplay_source::read_opened(file, &meta, path, MAX_PEM_FILE).map_err(PkiError::read)?;
    // A fixed message: a UTF-8 error must not echo file content.
    let text = String::from_utf8(bytes).map_err(|_| {
        PkiError::io(
            "read",
            path,
            io::Error::new(io::ErrorKind::InvalidData, "not a text PEM file"),
        )
    })?;
    Ok(Some(text))
}

/// Refuses a key or directory owned by anyone but this process's effective user: its owner
/// could swap the CA or a key (as root, etcdplay would otherwise trust another user's files).
fn check_owner(path: &Path, meta: &fs::Metadata) -> Result<(), PkiError> {
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(PkiError::ForeignOwner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            me,
        });
    }
    Ok(())
}

/// Reads a private key that must exist, with the checks of [`read_key`] (owner, no group or
/// other access): for every reader of client keys outside the PKI directory's own code.
pub fn read_private_key(path: &Path) -> Result<String, PkiError> {
    read_key(path)?.ok_or_else(|| {
        PkiError::io(
            "open",
            path,
            io::Error::new(io::ErrorKind::NotFound, "no such file"),
        )
    })
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is created
/// with `mode` already set (so a key is never readable by others, not even briefly), filled,
/// flushed to disk and renamed over the target; then the directory entry is flushed too.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_new(&temp, bytes, mode).and_then(|()| {
        fs::rename(&temp, path).map_err(|e| PkiError::io("rename into place", path, e))
    });
    if result.is_err() {
        // Best effort: the temporary file is useless once the write failed.
        let _ = fs::remove_file(&temp);
        return result;
    }
    sync_dir(dir)
}

/// Creates `path` (which must not exist) with `mode`, writes and fsyncs it.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| PkiError::io("create", path, e))?;
    // The umask may have removed bits from `mode` (e.g. 0644 → 0640); set it exactly.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| PkiError::io("chmod", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| PkiError::io("write", path, e))
}

/// Flushes a directory so that a rename inside it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), PkiError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| PkiError::io("sync", dir, e))
}

/// Makes sure `path` is a usable PKI directory: creates it with mode 0700 when absent,
/// otherwise checks that it is a directory, that it can be listed and that neither group
/// nor others have access to it.
pub(crate) fn prepare_dir(path: &Path) -> Result<PathBuf, PkiError> {
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(path)
                .map_err(|e| PkiError::io("create directory", path, e))?;
            // `mode` is filtered by the umask; 0700 has nothing a sane umask removes, but
            // set it explicitly so the result never depends on the environment.
            fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE))
                .map_err(|e| PkiError::io("chmod", path, e))?;
        }
        Err(e) => {
            return Err(PkiError::DirUnreadable {
                path: path.to_path_buf(),
                source: e,
            })
        }
        Ok(meta) if !meta.is_dir() => {
            return Err(PkiError::NotADirectory {
                path: path.to_path_buf(),
            })
        }
        Ok(meta) => {
            check_owner(path, &meta)?;
            let mode = meta.permissions().mode();
            if mode & GROUP_OTHER != 0 {
                return Err(PkiError::InsecureDir {
                    path: path.to_path_buf(),
                    mode: mode & 0o7777,
                });
            }
        }
    }
    fs::read_dir(path).map_err(|e| PkiError::DirUnreadable {
        path: path.to_path_buf(),
        source: e,
    })?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_exact_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        write_atomic(&key, b"one", KEY_MODE).unwrap();
        write_atomic(&key, b"two", KEY_MODE).unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        let cert = dir.path().join("c.pem");
        write_atomic(&cert, b"c", CERT_MODE).unwrap();
        assert_eq!(
            fs::metadata(&cert).unwrap().permissions().mode() & 0o7777,
            0o644
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "leftover files: {names:?}");
    }

    #[test]
    #[allow(clippy::print_stderr)] // says why the test did nothing
    fn keys_and_directories_of_another_user_are_refused() {
        if rustix::process::geteuid().as_raw() != 0 {
            eprintln!("not root: cannot give a file to another user; skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        prepare_dir(&pki).unwrap();
        let key = pki.join("ca-key.pem");
        write_atomic(&key, b"key", KEY_MODE).unwrap();
        assert!(read_key(&key).unwrap().is_some());
        std::os::unix::fs::chown(&key, Some(65534), None).unwrap();
        let err = read_key(&key).unwrap_err().to_string();
        assert!(err.contains("belongs to uid 65534"), "{err}");
        std::os::unix::fs::chown(&pki, Some(65534), None).unwrap();
        let err = prepare_dir(&pki).unwrap_err().to_string();
        assert!(err.contains("belongs to uid 65534"), "{err}");
    }

    #[test]
    fn key_readable_by_group_is_refused_with_path_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        write_atomic(&key, b"x", 0o640).unwrap();
        let err = read_key(&key).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, PkiError::InsecureKey { mode: 0o640, .. }),
            "{msg}"
        );
        assert!(msg.contains(&key.display().to_string()), "{msg}");
        assert!(msg.contains("0640"), "{msg}");
        assert_eq!(read_key(&dir.path().join("absent")).unwrap(), None);
    }

    #[test]
    fn open_directory_is_refused_and_new_one_is_0700() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("a/pki");
        prepare_dir(&fresh).unwrap();
        assert_eq!(
            fs::metadata(&fresh).unwrap().permissions().mode() & 0o7777,
            0o700
        );
        fs::set_permissions(&fresh, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            prepare_dir(&fresh),
            Err(PkiError::InsecureDir { mode: 0o755, .. })
        ));
        let file = dir.path().join("f");
        fs::write(&file, b"").unwrap();
        assert!(matches!(
            prepare_dir(&file),
            Err(PkiError::NotADirectory { .. })
        ));
    }
}
