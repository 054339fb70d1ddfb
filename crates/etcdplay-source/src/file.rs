//! Reading a control-node file whole: the one way etcdplay does it, so that every file a user
//! names (`-e @file`, inventories, vars files, playbooks, templates, `copy` sources) gets the
//! same two checks. Only a regular file is read: a FIFO nobody writes would hang the run, a
//! device like `/dev/zero` would grow memory without end, a directory is a mistake. The type is
//! checked on the opened file itself, so a path swapped after a check cannot slip through, and
//! the open cannot block (`O_NONBLOCK`: opening a FIFO for reading otherwise waits for a
//! writer). And no more than a limit is read, even from a regular file that keeps growing.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

/// The most etcdplay reads of a YAML, JSON, INI or template file (and other text it reads
/// whole). Real ones are kilobytes; a large inventory or vars file a few megabytes. The YAML
/// loader then bounds what aliases may add on top ([`crate::load_yaml`]).
pub const MAX_TEXT_FILE: u64 = 64 << 20;

/// A file that could not be read, with its path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct ReadFileError {
    pub path: PathBuf,
    pub problem: ReadProblem,
}

/// What was wrong with the file (shown without the path, for messages that name it already).
#[derive(Debug, thiserror::Error)]
pub enum ReadProblem {
    /// Opening or reading failed (missing, no permission, ...).
    #[error(transparent)]
    Io(io::Error),
    /// A directory, FIFO, device or socket.
    #[error("not a regular file ({0}); refused")]
    NotRegular(&'static str),
    /// Over the limit the caller set.
    #[error("larger than {}, the most etcdplay reads of such a file; refused", size_text(.limit))]
    TooLarge { limit: u64 },
    /// Text was expected.
    #[error("not valid UTF-8")]
    NotUtf8,
    /// Vault data that could not be decrypted (no secret, wrong secret, damaged).
    #[error(transparent)]
    Vault(etcdplay_vault::VaultError),
}

impl ReadFileError {
    fn new(path: &Path, problem: ReadProblem) -> Self {
        ReadFileError {
            path: path.to_path_buf(),
            problem,
        }
    }

    /// Whether the file does not exist (callers that treat absence as an answer).
    pub fn is_not_found(&self) -> bool {
        matches!(&self.problem, ReadProblem::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// `64 MiB`, or bytes when the limit is not a whole number of MiB.
fn size_text(bytes: &u64) -> String {
    if *bytes >= 1 << 20 && bytes.trailing_zeros() >= 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Opens `path` for reading and checks that what was opened is a regular file; returns it with
/// its metadata (for callers that check more, like a key's permissions, on the same file).
pub fn open_regular(path: &Path) -> Result<(File, Metadata), ReadFileError> {
    let fail = |problem| ReadFileError::new(path, problem);
    // O_NONBLOCK only matters for what is refused below: on a regular file, reads block as
    // usual. O_CLOEXEC keeps the descriptor out of the commands etcdplay starts.
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(ReadProblem::Io(e.into())))?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(|e| fail(ReadProblem::Io(e)))?;
    let kind = meta.file_type();
    let refused = if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        Some("not a file")
    };
    match refused {
        Some(what) => Err(fail(ReadProblem::NotRegular(what))),
        None => Ok((file, meta)),
    }
}

/// Reads an already opened regular file ([`open_regular`]) to its end, refusing it as soon as
/// it holds more than `limit` bytes; `path` is for the error.
pub fn read_opened(
    mut file: File,
    meta: &Metadata,
    path: &Path,
    limit: u64,
) -> Result<Vec<u8>, ReadFileError> {
    let too_large = || ReadFileError::new(path, ReadProblem::TooLarge { limit });
    if meta.len() > limit {
        return Err(too_large());
    }
    // Sized from the metadata, but a file that grows meanwhile is still cut at the limit.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&mut file)
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| ReadFileError::new(path, ReadProblem::Io(e)))?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Reads the regular file at `path`, at most `limit` bytes of it.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, ReadFileError> {
    let (file, meta) = open_regular(path)?;
    read_opened(file, &meta, path, limit)
}

/// [`read_file`] for text: the content must be UTF-8; a vaulted file is decrypted.
pub fn read_text_file(path: &Path, limit: u64) -> Result<String, ReadFileError> {
    read_source_text(path, limit).map(|source| source.text)
}

/// A text file as read, and whether it was vault-encrypted on disk.
#[derive(Debug)]
pub struct SourceText {
    pub text: String,
    /// The file was vault data: every value in it is a secret (see `load_yaml_source`).
    pub vaulted: bool,
}

/// [`read_text_file`], telling whether the file was vaulted.
pub fn read_source_text(path: &Path, limit: u64) -> Result<SourceText, ReadFileError> {
    let (bytes, vaulted) = decrypt_if_vaulted(read_file(path, limit)?, path)?;
    let text =
        String::from_utf8(bytes).map_err(|_| ReadFileError::new(path, ReadProblem::NotUtf8))?;
    Ok(SourceText { text, vaulted })
}

/// Content read from `path`, decrypted with the run's vault secrets when it is vault data
/// (as Ansible's loader does for every file it reads); `true` when it was.
pub fn decrypt_if_vaulted(bytes: Vec<u8>, path: &Path) -> Result<(Vec<u8>, bool), ReadFileError> {
    if !etcdplay_vault::is_vaulted(&bytes) {
        return Ok((bytes, false));
    }
    let plain = etcdplay_vault::session::decrypt(&bytes)
        .map_err(|e| ReadFileError::new(path, ReadProblem::Vault(e)))?;
    Ok((plain.to_vec(), true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn problem(path: &Path, limit: u64) -> String {
        read_file(path, limit).unwrap_err().problem.to_string()
    }

    #[test]
    fn a_regular_file_up_to_the_limit_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("vars.yml");
        std::fs::write(&f, "a: 1\n").unwrap();
        assert_eq!(read_text_file(&f, 5).unwrap(), "a: 1\n");
        let e = read_file(&f, 4).unwrap_err();
        assert!(matches!(e.problem, ReadProblem::TooLarge { limit: 4 }));
        assert_eq!(
            e.to_string(),
            format!(
                "{}: larger than 4 bytes, the most etcdplay reads of such a file; refused",
                f.display()
            )
        );
        assert_eq!(
            ReadProblem::TooLarge {
                limit: MAX_TEXT_FILE
            }
            .to_string(),
            "larger than 64 MiB, the most etcdplay reads of such a file; refused"
        );
        std::fs::write(&f, b"\xff\xfe").unwrap();
        assert!(matches!(
            read_text_file(&f, 5).unwrap_err().problem,
            ReadProblem::NotUtf8
        ));
        let missing = read_file(&dir.path().join("missing"), 5).unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
    }

    /// A sparse file larger than the limit is refused from its size, without reading it.
    #[test]
    fn an_oversized_file_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big.yml");
        File::create(&f)
            .unwrap()
            .set_len(MAX_TEXT_FILE + 1)
            .unwrap();
        let started = Instant::now();
        let e = read_file(&f, MAX_TEXT_FILE).unwrap_err();
        assert!(matches!(e.problem, ReadProblem::TooLarge { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn devices_directories_and_fifos_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = Instant::now();
        assert_eq!(
            problem(&fifo, MAX_TEXT_FILE),
            "not a regular file (a FIFO); refused"
        );
        assert_eq!(
            problem(Path::new("/dev/zero"), MAX_TEXT_FILE),
            "not a regular file (a character device); refused"
        );
        assert_eq!(
            problem(dir.path(), MAX_TEXT_FILE),
            "not a regular file (a directory); refused"
        );
        // Nothing waited for a writer or read an endless device.
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
