//! The atomic write of a small upload, done by the agent in place of the framed put script of
//! `etcdplay-transport` (`cat`, `chmod` or `chown`, `mv`: three processes per written file).
//! The script asks with the prefill word `put:MODE:DEST` (`MODE` in octal or `-`, `DEST` in
//! hex) and skips its own write when the agent says `ep_ag_put=done`; the content is the
//! request's input. It does what the script does, in the same order: a new file beside the
//! destination, created exclusively and private, holding the input; for a regular file being
//! replaced its owner and group (best effort, as `chown --reference ... || :`); the mode
//! asked for, else the replaced file's, else 0644; then the rename over the destination (a
//! link there is replaced, not followed). Whatever fails, the new file is removed and the
//! script writes as it always does, so its error is the one reported. Uploads naming an owner
//! or group are left to the script (it resolves names through the C library).
//!
//! After the write it also answers the `ep_stat` that reads the file back in the same request
//! (`ep_ag_sp`, `ep_ag_sl`), and leaves the checksum cache entry `ep_sha1` would, from the
//! file as it is after that look: two processes (`stat`, `sha1sum`) less.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::Mode;
use rustix::process::{Gid, Uid};
use sha1::{Digest, Sha1};

use crate::prefill::assign;
use crate::stat_line;

/// How many names the new file may try before the agent leaves the write to the script.
const TEMP_ATTEMPTS: u32 = 8;

/// A write the script asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Put {
    pub(crate) dest: PathBuf,
    pub(crate) mode: Option<u32>,
}

impl Put {
    /// `MODE:HEXDEST`; `None` for anything the agent does not write itself (a relative path,
    /// a trailing slash, a mode beyond 07777).
    pub(crate) fn parse(spec: &[u8]) -> Option<Put> {
        let (mode, dest) = spec.split_at(spec.iter().position(|&b| b == b':')?);
        let mode = match mode {
            b"-" => None,
            m => Some(u32::from_str_radix(std::str::from_utf8(m).ok()?, 8).ok()?),
        };
        if mode.is_some_and(|m| m > 0o7777) {
            return None;
        }
        let dest = crate::prefill::unhex(&dest[1..])?;
        if !dest.starts_with(b"/") || dest.ends_with(b"/") || dest.contains(&0) {
            return None;
        }
        Some(Put {
            dest: PathBuf::from(std::ffi::OsStr::from_bytes(&dest)),
            mode,
        })
    }
}

/// Writes `put` with the content of `input` (none: empty) and appends the shell assignments
/// that tell the script so; `false`, with nothing appended, when the write is left to the
/// script.
pub(crate) fn write(put: &Put, input: Option<&Path>, out: &mut Vec<u8>) -> bool {
    let Some(file) = replace(put, input) else {
        return false;
    };
    assign(out, "ep_ag_put", b"done");
    if let Some(line) = read_back(&put.dest, file) {
        assign(out, "ep_ag_sp", put.dest.as_os_str().as_bytes());
        assign(out, "ep_ag_sl", line.as_bytes());
    }
    true
}

/// The write itself; the open file, now at `put.dest`, or `None` with nothing left behind.
fn replace(put: &Put, input: Option<&Path>) -> Option<File> {
    replace_with(put, |file| fill(file, input)).ok()
}

/// The write as the put script does it, with `fill` writing the content into the new file:
/// the open file, now at `put.dest`, or the error, with nothing left behind.
pub(crate) fn replace_with(
    put: &Put,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<File> {
    let dir = put
        .dest
        .parent()
        .ok_or_else(|| io::Error::other("no directory to write in"))?;
    let replaced = fs::symlink_metadata(&put.dest)
        .ok()
        .filter(|m| m.file_type().is_file());
    let (temp, mut file) = create_beside(dir)?;
    let written = fill(&mut file).and_then(|()| {
        if let Some(old) = &replaced {
            let _ = rustix::fs::fchown(
                &file,
                Some(Uid::from_raw(old.uid())),
                Some(Gid::from_raw(old.gid())),
            );
        }
        // After the owner: chown clears the set-id bits chmod sets.
        let mode = put
            .mode
            .or(replaced.as_ref().map(|m| m.mode() & 0o7777))
            .unwrap_or(0o644);
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
        fs::rename(&temp, &put.dest)
    });
    match written {
        Ok(()) => Ok(file),
        Err(e) => {
            let _ = fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// A new private file in `dir`, created exclusively (never through a link).
fn create_beside(dir: &Path) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for attempt in 0..TEMP_ATTEMPTS {
        let temp = dir.join(format!(".etcdplay-tmp.a{pid}-{nanos:x}-{attempt}"));
        match OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
        {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "no free name for a new file in {}",
        dir.display()
    )))
}

fn fill(file: &mut File, input: Option<&Path>) -> io::Result<()> {
    if let Some(input) = input {
        io::copy(&mut File::open(input)?, file)?;
    }
    Ok(())
}

/// The `ep_stat` line of `dest` when it still is the file just written, after leaving its
/// checksum in the cache: the sum is taken after the look, so a change in between leaves an
/// entry for a ctime the file no longer has (never reused), as the shell's `ep_sha1` does.
fn read_back(dest: &Path, mut file: File) -> Option<String> {
    let meta = fs::symlink_metadata(dest).ok()?;
    let ours = file.metadata().ok()?;
    if (meta.dev(), meta.ino()) != (ours.dev(), ours.ino()) {
        return None;
    }
    let line = stat_line::line(&meta, &stat_line::Names::load())?;
    file.rewind().ok()?;
    let mut hasher = Sha1::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    stat_line::remember_sum(&line, &hex_sum(hasher), &stat_line::sums_dir());
    Some(line)
}

/// A finished sha1 as `sha1sum` prints it.
pub(crate) fn hex_sum(hasher: Sha1) -> String {
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn only_absolute_file_paths_and_plain_modes_are_taken() {
        let spec = |m: &str, d: &str| format!("{m}:{}", hex(d)).into_bytes();
        assert_eq!(
            Put::parse(&spec("640", "/etc/a b")),
            Some(Put {
                dest: "/etc/a b".into(),
                mode: Some(0o640)
            })
        );
        assert_eq!(Put::parse(&spec("-", "/x")).unwrap().mode, None);
        assert_eq!(Put::parse(&spec("-", "rel/x")), None);
        assert_eq!(Put::parse(&spec("-", "/dir/")), None);
        assert_eq!(Put::parse(&spec("17777", "/x")), None);
        assert_eq!(Put::parse(&spec("9", "/x")), None);
        assert_eq!(Put::parse(b"-:2f7"), None);
    }
}
