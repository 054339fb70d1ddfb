//! Running the reader against a data dir on another host without copying it back. A
//! [`CommandSource`] implements [`DataDirSource`] by turning each request into one POSIX
//! shell command (`find` to list, `stat` for a size, GNU `dd` for a byte range) and handing
//! it to a caller-supplied runner — in etcdplay, the engine's transport (`exec` over the
//! host's SSH connection, with privilege escalation since data dirs are `0700 etcd`). The
//! command builders and output parsers are pure, so they are tested here against a local
//! shell; only the runner touches the network.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::source::{DataDirSource, SourceError};

/// Runs one shell command on the host and returns its stdout bytes; a non-zero exit status
/// or a transport failure is an `Err` whose message is fit for the operator (it becomes the
/// read's [`SourceError::Remote`]).
pub trait CommandRunner {
    /// Why a command did not succeed.
    type Error: std::fmt::Display;

    fn run(&self, command: &str) -> Result<Vec<u8>, Self::Error>;
}

impl<F, E> CommandRunner for F
where
    F: Fn(&str) -> Result<Vec<u8>, E>,
    E: std::fmt::Display,
{
    type Error = E;

    fn run(&self, command: &str) -> Result<Vec<u8>, E> {
        self(command)
    }
}

/// A data dir reached through shell commands.
pub struct CommandSource<R> {
    runner: R,
    root: String,
    /// Sizes learnt from directory listings, so reading a WAL costs no `stat` round trips.
    sizes: RefCell<BTreeMap<String, u64>>,
}

/// Quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

const MISSING: &[u8] = b"missing";

impl<R: CommandRunner> CommandSource<R> {
    /// A source for the data dir at `root` (an absolute path on the host).
    pub fn new(runner: R, root: impl Into<String>) -> Self {
        Self {
            runner,
            root: root.into(),
            sizes: RefCell::new(BTreeMap::new()),
        }
    }

    /// The host path of `rel`; absolute paths (`--wal-dir`) are used as they are.
    fn path(&self, rel: &str) -> String {
        if rel.starts_with('/') {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.root.trim_end_matches('/'))
        }
    }

    fn run(&self, command: &str) -> Result<Vec<u8>, SourceError> {
        self.runner
            .run(command)
            .map_err(|e| SourceError::Remote(e.to_string()))
    }
}

/// Lists a directory as `name\0size\0` pairs, or prints `missing`.
pub fn list_command(dir: &str) -> String {
    let d = shell_quote(dir);
    format!(
        "if [ -d {d} ]; then find {d} -mindepth 1 -maxdepth 1 -printf '%f\\0%s\\0'; else printf missing; fi"
    )
}

/// Parses [`list_command`] output into `(name, size)` pairs; `None` for a missing dir.
pub fn parse_list(out: &[u8]) -> Result<Option<Vec<(String, u64)>>, SourceError> {
    if out == MISSING {
        return Ok(None);
    }
    let bad = || SourceError::Remote(format!("unexpected listing output ({} bytes)", out.len()));
    let mut parts = out.split(|b| *b == 0);
    let mut entries = Vec::new();
    while let Some(name) = parts.next() {
        if name.is_empty() {
            break; // the final separator
        }
        let size = parts.next().ok_or_else(bad)?;
        let size = std::str::from_utf8(size)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        // Non-UTF-8 names cannot be etcd files; skipping them is safe.
        if let Ok(name) = String::from_utf8(name.to_vec()) {
            entries.push((name, size));
        }
    }
    Ok(Some(entries))
}

/// Prints a file's size, or `missing`.
pub fn size_command(path: &str) -> String {
    let p = shell_quote(path);
    format!("if [ -f {p} ]; then stat -c %s {p}; else printf missing; fi")
}

/// Prints `len` bytes of `path` from `offset` (GNU dd), or `missing`.
pub fn read_command(path: &str, offset: u64, len: usize) -> String {
    let p = shell_quote(path);
    format!(
        "if [ -f {p} ]; then dd if={p} iflag=skip_bytes,count_bytes skip={offset} count={len} bs=1M status=none; else printf missing; fi"
    )
}

impl<R: CommandRunner> DataDirSource for CommandSource<R> {
    fn list_dir(&self, dir: &str) -> Result<Option<Vec<String>>, SourceError> {
        let Some(entries) = parse_list(&self.run(&list_command(&self.path(dir)))?)? else {
            return Ok(None);
        };
        let base = dir.trim_end_matches('/');
        let mut sizes = self.sizes.borrow_mut();
        let mut names = Vec::with_capacity(entries.len());
        for (name, size) in entries {
            sizes.insert(format!("{base}/{name}"), size);
            names.push(name);
        }
        Ok(Some(names))
    }

    fn file_size(&self, path: &str) -> Result<u64, SourceError> {
        if let Some(size) = self.sizes.borrow().get(path) {
            return Ok(*size);
        }
        let out = self.run(&size_command(&self.path(path)))?;
        if out == MISSING {
            return Err(SourceError::NotFound);
        }
        std::str::from_utf8(&out)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| SourceError::Remote("unexpected stat output".into()))
    }

    fn read_at(&self, path: &str, offset: u64, buf: &mut [u8]) -> Result<usize, SourceError> {
        let out = self.run(&read_command(&self.path(path), offset, buf.len()))?;
        // The marker could also be genuine file bytes; only a failed size lookup means the
        // file is really gone.
        if out == MISSING && self.file_size(path).is_err() {
            return Err(SourceError::NotFound);
        }
        let n = out.len().min(buf.len());
        buf[..n].copy_from_slice(&out[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command that failed: its stderr.
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct ShellFailed(String);

    fn sh(command: &str) -> Result<Vec<u8>, ShellFailed> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .output()
            .map_err(|e| ShellFailed(e.to_string()))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(ShellFailed(
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ))
        }
    }

    #[test]
    fn quoting_survives_quotes_and_spaces() {
        let out = sh(&format!("printf %s {}", shell_quote("it's a $dir"))).unwrap();
        assert_eq!(out, b"it's a $dir");
    }

    #[test]
    fn commands_list_size_and_read_through_a_shell() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data dir's");
        std::fs::create_dir_all(root.join("member/wal")).unwrap();
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(root.join("member/wal/a.wal"), &bytes).unwrap();
        let src = CommandSource::new(sh, root.to_string_lossy().into_owned());
        assert_eq!(src.list_dir("member/wal").unwrap().unwrap(), vec!["a.wal"]);
        assert!(src.list_dir("member/snap").unwrap().is_none());
        assert_eq!(src.file_size("member/wal/a.wal").unwrap(), 5000);
        assert!(matches!(
            src.file_size("member/snap/db"),
            Err(SourceError::NotFound)
        ));
        let mut buf = vec![0u8; 300];
        assert_eq!(
            src.read_at("member/wal/a.wal", 4900, &mut buf).unwrap(),
            100
        );
        assert_eq!(&buf[..100], &bytes[4900..]);
        assert!(matches!(
            src.read_at("member/snap/db", 0, &mut buf),
            Err(SourceError::NotFound)
        ));
    }
}
