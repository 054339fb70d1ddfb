//! How the reader reaches the files of a data dir. The reader never opens files itself: it
//! asks a [`DataDirSource`] to list a directory, tell a file's size and read a byte range.
//! That is the whole contract, so the same pure reader runs on a local directory
//! ([`LocalDir`]), on files already fetched into memory ([`MemDir`]), or on a remote host
//! through an implementation that forwards the three calls over the engine's transport.
//! Paths are `/`-separated and relative to the data dir unless they are absolute (an absolute
//! path comes from `--wal-dir`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Why a source could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("no such file")]
    NotFound,
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A remote implementation's failure (transport error, command exit status, ...).
    #[error("{0}")]
    Remote(String),
}

/// Read-only access to the files of one data dir.
///
/// Implementations must be cheap for the access pattern the reader uses: the WAL is read
/// sequentially in blocks of [`ReadOptions::block_size`](super::ReadOptions) bytes, `.snap`
/// files are read whole, and the bbolt `db` is read one page (usually 4 KiB) at a time, a
/// handful of pages per bucket. A remote implementation should therefore map `read_at` to one
/// round trip (e.g. `dd bs=4096 skip=.. count=..` or a small helper that serves ranges over a
/// long-lived channel) and never copy whole files.
pub trait DataDirSource {
    /// The entry names (not paths) in directory `dir`, or `Ok(None)` if it does not exist.
    fn list_dir(&self, dir: &str) -> Result<Option<Vec<String>>, SourceError>;
    /// The size of file `path` in bytes.
    fn file_size(&self, path: &str) -> Result<u64, SourceError>;
    /// Reads up to `buf.len()` bytes of `path` starting at `offset` and returns how many were
    /// read; fewer only at end of file.
    fn read_at(&self, path: &str, offset: u64, buf: &mut [u8]) -> Result<usize, SourceError>;
}

/// A data dir on the local filesystem.
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// A source rooted at the data dir `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        // `join` with an absolute path replaces the root, which is what `--wal-dir` needs.
        self.root.join(Path::new(rel))
    }
}

fn not_found_as_none<T>(r: std::io::Result<T>) -> Result<Option<T>, SourceError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl DataDirSource for LocalDir {
    fn list_dir(&self, dir: &str) -> Result<Option<Vec<String>>, SourceError> {
        let Some(rd) = not_found_as_none(std::fs::read_dir(self.path(dir)))? else {
            return Ok(None);
        };
        let mut names = Vec::new();
        for entry in rd {
            let entry = entry?;
            // Non-UTF-8 names cannot be etcd files; skipping them is safe.
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(Some(names))
    }

    fn file_size(&self, path: &str) -> Result<u64, SourceError> {
        match not_found_as_none(std::fs::metadata(self.path(path)))? {
            Some(m) => Ok(m.len()),
            None => Err(SourceError::NotFound),
        }
    }

    fn read_at(&self, path: &str, offset: u64, buf: &mut [u8]) -> Result<usize, SourceError> {
        let file = match not_found_as_none(File::open(self.path(path)))? {
            Some(f) => f,
            None => return Err(SourceError::NotFound),
        };
        let mut done = 0;
        while done < buf.len() {
            let n = file.read_at(&mut buf[done..], offset + done as u64)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }
}

/// A data dir held in memory: file path → bytes. Useful for files streamed from a remote
/// host and for tests. Directories are implied by the file paths.
#[derive(Debug, Clone, Default)]
pub struct MemDir {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemDir {
    /// An empty data dir.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a file.
    pub fn insert(&mut self, path: impl Into<String>, bytes: Vec<u8>) {
        self.files.insert(path.into(), bytes);
    }
}

impl DataDirSource for MemDir {
    fn list_dir(&self, dir: &str) -> Result<Option<Vec<String>>, SourceError> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        let mut names: Vec<String> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        names.dedup();
        Ok(if names.is_empty() { None } else { Some(names) })
    }

    fn file_size(&self, path: &str) -> Result<u64, SourceError> {
        self.files
            .get(path)
            .map(|b| b.len() as u64)
            .ok_or(SourceError::NotFound)
    }

    fn read_at(&self, path: &str, offset: u64, buf: &mut [u8]) -> Result<usize, SourceError> {
        let bytes = self.files.get(path).ok_or(SourceError::NotFound)?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let n = buf.len().min(bytes.len() - start);
        buf[..n].copy_from_slice(&bytes[start..start + n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_dir_lists_reads_and_sizes() {
        let mut d = MemDir::new();
        d.insert("member/wal/a.wal", b"abcdef".to_vec());
        d.insert("member/snap/db", vec![1, 2]);
        assert_eq!(d.list_dir("member").unwrap().unwrap(), vec!["snap", "wal"]);
        assert_eq!(d.list_dir("member/wal").unwrap().unwrap(), vec!["a.wal"]);
        assert!(d.list_dir("nope").unwrap().is_none());
        assert_eq!(d.file_size("member/wal/a.wal").unwrap(), 6);
        let mut buf = [0u8; 4];
        assert_eq!(d.read_at("member/wal/a.wal", 4, &mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"ef");
        assert_eq!(d.read_at("member/wal/a.wal", 99, &mut buf).unwrap(), 0);
    }

    #[test]
    fn local_dir_reads_ranges_and_reports_missing() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("member/wal")).unwrap();
        std::fs::write(tmp.path().join("member/wal/x.wal"), b"0123456789").unwrap();
        let d = LocalDir::new(tmp.path());
        assert_eq!(d.list_dir("member/wal").unwrap().unwrap(), vec!["x.wal"]);
        assert!(d.list_dir("member/snap").unwrap().is_none());
        let mut buf = [0u8; 3];
        assert_eq!(d.read_at("member/wal/x.wal", 7, &mut buf).unwrap(), 3);
        assert_eq!(&buf, b"789");
        assert!(matches!(
            d.file_size("member/snap/db"),
            Err(SourceError::NotFound)
        ));
    }
}
