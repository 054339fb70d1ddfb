//! The directory of a `file: state=directory` task, made by the agent in place of the change
//! script's `mkdir -p -- PATH` and `chmod MODE -- PATH` (and the `stat` that reads it back):
//! three processes per directory. The script asks with the prefill word `mkdir:MODE:PATH`
//! (`MODE` as the digits `chmod` gets, or `-`; `PATH` in hex) and skips both commands when the
//! agent says `ep_ag_mkdir=done`. It does what GNU `mkdir -p` and `chmod` do: each missing
//! directory made with mode 0777 under the login's umask (the parents with `u+wx` kept, so
//! that the next one can be made in them), an existing one, or a link to one, taken as it is;
//! then the mode, which for a directory keeps its set-user-ID and set-group-ID bits unless the
//! digits name them (`chmod 750` on a set-group-ID directory leaves it set). Whatever fails
//! (a file in the way, a dangling link, no permission), the agent stops where it is and the
//! script runs both commands, so their error is the one reported and the directories made
//! so far are what `mkdir -p` would have left too.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::Mode;

use crate::prefill::assign;
use crate::stat_line;

/// A directory the script asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MakeDir {
    pub(crate) path: PathBuf,
    /// `chmod`'s digits, as a mode, and whether they were fewer than five (then a directory's
    /// set-user-ID and set-group-ID bits stay unless the mode sets them).
    pub(crate) mode: Option<(u32, bool)>,
}

impl MakeDir {
    /// `MODE:HEXPATH`; `None` for anything the agent leaves to the script: a path that is not
    /// absolute and plain (`.`, `..`, `//`, a trailing slash), a mode that is not 1 to 5 octal
    /// digits up to 07777.
    pub(crate) fn parse(spec: &[u8]) -> Option<MakeDir> {
        let at = spec.iter().position(|&b| b == b':')?;
        let (digits, hex) = (&spec[..at], &spec[at + 1..]);
        let mode = match digits {
            b"-" => None,
            d if (1..=5).contains(&d.len()) && d.iter().all(|b| (b'0'..=b'7').contains(b)) => {
                let m = u32::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()?;
                if m > 0o7777 {
                    return None;
                }
                Some((m, d.len() < 5))
            }
            _ => return None,
        };
        let raw = crate::prefill::unhex(hex)?;
        if !raw.starts_with(b"/")
            || raw.len() < 2
            || raw.ends_with(b"/")
            || raw.contains(&0)
            || raw.windows(2).any(|w| w == b"//")
        {
            return None;
        }
        // Path::components would drop a `.` unseen; the bytes show it.
        let plain = raw[1..]
            .split(|&b| b == b'/')
            .all(|part| part != b"." && part != b"..");
        let path = PathBuf::from(OsStr::from_bytes(&raw));
        plain.then_some(MakeDir { path, mode })
    }
}

/// Makes `dir` as the script would, under the login's `umask`, and appends the assignments
/// that tell the script so (and its `ep_stat` line); `false`, with nothing appended, when the
/// script is left to do it.
pub(crate) fn make(dir: &MakeDir, umask: Mode, out: &mut Vec<u8>) -> bool {
    if make_parents(&dir.path, umask).is_err() {
        return false;
    }
    if let Some((mode, keeps_set_ids)) = dir.mode {
        let Ok(meta) = fs::metadata(&dir.path) else {
            return false;
        };
        let kept = if keeps_set_ids && meta.is_dir() {
            meta.mode() & 0o6000
        } else {
            0
        };
        if rustix::fs::chmod(&dir.path, Mode::from_raw_mode(mode | kept)).is_err() {
            return false;
        }
    }
    assign(out, "ep_ag_mkdir", b"done");
    if let Ok(meta) = fs::symlink_metadata(&dir.path) {
        if let Some(line) = stat_line::line(&meta, &stat_line::Names::load()) {
            assign(out, "ep_ag_sp", dir.path.as_os_str().as_bytes());
            assign(out, "ep_ag_sl", line.as_bytes());
        }
    }
    true
}

/// `mkdir -p`: every missing directory down to `path`, each made with 0777 under `umask`
/// (the parents under `umask` without its `u+wx` bits, as GNU mkdir makes them). The agent's
/// own umask is swapped for the while (only this thread makes files).
fn make_parents(path: &Path, umask: Mode) -> io::Result<()> {
    let user_wx = Mode::from_raw_mode(0o300);
    let mut at = PathBuf::from("/");
    let mut parts = path.components().skip(1).peekable();
    while let Some(part) = parts.next() {
        at.push(part);
        let last = parts.peek().is_none();
        if fs::metadata(&at).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let mask = if last { umask } else { umask & !user_wx };
        let own = rustix::process::umask(mask);
        let made = rustix::fs::mkdir(&at, Mode::from_raw_mode(0o777));
        rustix::process::umask(own);
        match made {
            Ok(()) => {}
            // Made meanwhile by someone else: `mkdir -p` takes a directory there too.
            Err(rustix::io::Errno::EXIST) if fs::metadata(&at).is_ok_and(|m| m.is_dir()) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }

    fn spec(mode: &str, path: &str) -> Vec<u8> {
        format!("{mode}:{}", hex(path)).into_bytes()
    }

    #[test]
    fn only_plain_absolute_paths_and_chmod_digits_are_taken() {
        assert_eq!(
            MakeDir::parse(&spec("750", "/opt/a b")),
            Some(MakeDir {
                path: "/opt/a b".into(),
                mode: Some((0o750, true))
            })
        );
        assert_eq!(MakeDir::parse(&spec("-", "/x")).unwrap().mode, None);
        assert_eq!(
            MakeDir::parse(&spec("02750", "/x")).unwrap().mode,
            Some((0o2750, false))
        );
        for (mode, path) in [
            ("-", "rel"),
            ("-", "/"),
            ("-", "/a/"),
            ("-", "/a//b"),
            ("-", "/a/../b"),
            ("-", "/a/./b"),
            ("u+x", "/a"),
            ("8", "/a"),
            ("17777", "/a"),
            ("", "/a"),
        ] {
            assert_eq!(MakeDir::parse(&spec(mode, path)), None, "{mode} {path}");
        }
    }

    /// What `mkdir -p` and `chmod` leave, side by side with what the agent leaves, for the
    /// same requests under the same umask.
    #[test]
    fn directories_are_made_as_mkdir_and_chmod_make_them() {
        let root = tempfile::tempdir().unwrap();
        let (ours, theirs) = (root.path().join("agent"), root.path().join("shell"));
        for base in [&ours, &theirs] {
            fs::create_dir(base).unwrap();
            fs::create_dir(base.join("sgid")).unwrap();
            fs::set_permissions(
                base.join("sgid"),
                std::os::unix::fs::PermissionsExt::from_mode(0o2775),
            )
            .unwrap();
            std::os::unix::fs::symlink("sgid", base.join("link")).unwrap();
        }
        let cases: [(&str, Option<&str>, u32); 6] = [
            ("a/b/c", None, 0o022),
            ("d/e", Some("750"), 0o022),
            ("f/g", Some("700"), 0o277),
            ("sgid/h", Some("750"), 0o002),
            ("sgid", Some("755"), 0o022),
            ("link/i", Some("2711"), 0o022),
        ];
        for (rel, mode, umask) in cases {
            let want = ours.join(rel);
            let mut s = format!("{}:", mode.unwrap_or("-")).into_bytes();
            s.extend_from_slice(hex(want.to_str().unwrap()).as_bytes());
            let dir = MakeDir::parse(&s).unwrap();
            let mut out = Vec::new();
            assert!(make(&dir, Mode::from_raw_mode(umask), &mut out), "{rel}");
            assert!(String::from_utf8_lossy(&out).contains("ep_ag_mkdir='done'"));
            let target = theirs.join(rel);
            let chmod = mode
                .map(|m| format!("chmod {m} -- \"$1\""))
                .unwrap_or_default();
            let status = std::process::Command::new("/bin/sh")
                .args([
                    "-c",
                    &format!("umask {umask:o}; mkdir -p -- \"$1\"; {chmod}"),
                    "sh",
                ])
                .arg(&target)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let modes = |base: &Path| -> Vec<(String, u32)> {
            let mut all = Vec::new();
            let mut pending = vec![base.to_path_buf()];
            while let Some(p) = pending.pop() {
                for e in fs::read_dir(&p).unwrap() {
                    let e = e.unwrap();
                    let meta = fs::symlink_metadata(e.path()).unwrap();
                    let rel = e.path().strip_prefix(base).unwrap().display().to_string();
                    all.push((rel, meta.mode()));
                    if meta.is_dir() {
                        pending.push(e.path());
                    }
                }
            }
            all.sort();
            all
        };
        assert_eq!(modes(&ours), modes(&theirs));
    }

    /// A file in the way, or a dangling link: nothing is claimed, and `mkdir -p` then fails as
    /// it would have.
    #[test]
    fn what_mkdir_would_refuse_is_left_to_it() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("file"), b"").unwrap();
        std::os::unix::fs::symlink("nowhere", root.path().join("dangling")).unwrap();
        for rel in ["file", "file/sub", "dangling", "dangling/sub"] {
            let path = root.path().join(rel);
            let mut s = b"-:".to_vec();
            s.extend_from_slice(hex(path.to_str().unwrap()).as_bytes());
            let mut out = Vec::new();
            assert!(
                !make(
                    &MakeDir::parse(&s).unwrap(),
                    Mode::from_raw_mode(0o022),
                    &mut out
                ),
                "{rel}"
            );
            assert!(out.is_empty());
        }
    }
}
