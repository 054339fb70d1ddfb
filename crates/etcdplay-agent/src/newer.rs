//! The `newer` word: whether `find INPUT... -cnewer STAMP` would print anything, which the
//! `systemd` module's reload check asks on every run with `daemon_reload`. The walk looks at
//! every entry of the unit directories (hundreds), so it names each one relative to its
//! directory's descriptor: a path from `/` costs a lookup (and a permission check, and on
//! overlayfs a layer lookup) per component for every entry, a name one.

use std::collections::HashSet;
use std::ffi::{CStr, CString, OsStr};
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fs::{openat, statx, AtFlags, Dir, FileType, Mode, OFlags, StatxFlags, CWD};

/// Most directory entries the walk visits before giving up (and leaving the answer to
/// `find`): unit directories hold hundreds, not tens of thousands.
const MAX_WALK: usize = 20_000;
/// Deepest directory the walk descends into before giving up; unit directories are two
/// levels deep (`*.wants`, `*.d`), and the bound keeps the recursion's stack small.
const MAX_DEPTH: usize = 64;

/// The answer to spec `STAMP:INPUT:...`: whether an input, or anything below it (links not
/// followed), had its status changed after the stamp's modification. `None` when `find`
/// would not just answer (no stamp, no input, an unreadable directory, too many entries or
/// levels):
/// the script runs `find` then.
pub(crate) fn newer(spec: &[u8]) -> Option<bool> {
    let mut parts = spec.split(|&b| b == b':');
    // `find -P` takes a link's own times, the script's `[ -f ]` its target's: a link as
    // stamp is left to them.
    let stamp = std::fs::symlink_metadata(Path::new(OsStr::from_bytes(parts.next()?))).ok()?;
    if !stamp.is_file() {
        return None;
    }
    let mut walk = Walk {
        since: (stamp.mtime(), stamp.mtime_nsec()),
        walked: HashSet::new(),
        visited: 0,
    };
    // The inputs the script hands `find`: those that exist (`[ -e ]`, through links). Taken
    // in their order (the first, `/etc/systemd`, is where a changed unit usually is, and a
    // `yes` ends the walk).
    let inputs: Vec<CString> = parts
        .filter(|p| !p.is_empty() && Path::new(OsStr::from_bytes(p)).exists())
        .map(|p| CString::new(p).ok())
        .collect::<Option<_>>()?;
    if inputs.is_empty() {
        return None;
    }
    for input in &inputs {
        if walk.changed(CWD, input, 0)? {
            return Some(true);
        }
    }
    Some(false)
}

/// One `newer` answer in progress.
struct Walk {
    /// The stamp's modification time (seconds, nanoseconds).
    since: (i64, i64),
    /// Directories already walked, by device and inode: `/lib/systemd/system` is
    /// `/usr/lib/systemd/system` where `/lib` links to `usr/lib`, and walking it again cannot
    /// change an answer that only asks whether any entry is newer.
    walked: HashSet<(u32, u32, u64)>,
    visited: usize,
}

impl Walk {
    /// Whether `name` in directory `dir` (or the path `name` itself, for `CWD`), or anything
    /// below it, changed after the stamp; `None` to leave the answer to `find`.
    fn changed(&mut self, dir: BorrowedFd<'_>, name: &CStr, depth: usize) -> Option<bool> {
        self.visited += 1;
        if self.visited > MAX_WALK || depth > MAX_DEPTH {
            return None;
        }
        let wanted = StatxFlags::TYPE | StatxFlags::CTIME | StatxFlags::INO;
        let st = statx(dir, name, AtFlags::SYMLINK_NOFOLLOW, wanted).ok()?;
        // A file system that cannot tell these is left to `find`.
        if !StatxFlags::from_bits_retain(st.stx_mask).contains(wanted) {
            return None;
        }
        if (st.stx_ctime.tv_sec, i64::from(st.stx_ctime.tv_nsec)) > self.since {
            return Some(true);
        }
        let is_dir = FileType::from_raw_mode(st.stx_mode.into()) == FileType::Directory;
        if !is_dir
            || !self
                .walked
                .insert((st.stx_dev_major, st.stx_dev_minor, st.stx_ino))
        {
            return Some(false);
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut entries = Dir::new(openat(dir, name, flags, Mode::empty()).ok()?).ok()?;
        let mut names = Vec::new();
        while let Some(entry) = entries.read() {
            let entry = entry.ok()?;
            let entry_name = entry.file_name();
            if entry_name != c"." && entry_name != c".." {
                names.push(entry_name.to_owned());
            }
        }
        let dir = entries.fd().ok()?;
        for entry_name in &names {
            if self.changed(dir, entry_name, depth + 1)? {
                return Some(true);
            }
        }
        Some(false)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use super::*;

    #[test]
    fn newer_answers_as_find_does() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let stamp = dir.join("stamp");
        let tree = dir.join("tree");
        fs::create_dir_all(tree.join("sub")).unwrap();
        fs::write(tree.join("sub/old"), b"").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&stamp, b"").unwrap();
        let spec = |inputs: &[&Path]| {
            let mut s = stamp.as_os_str().as_bytes().to_vec();
            for i in inputs {
                s.push(b':');
                s.extend_from_slice(i.as_os_str().as_bytes());
            }
            s
        };
        assert_eq!(newer(&spec(&[&tree])), Some(false));
        assert_eq!(newer(&spec(&[&dir.join("absent")])), None);
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(tree.join("sub/new"), b"").unwrap();
        assert_eq!(newer(&spec(&[&tree])), Some(true));
        // The same tree named twice, once through a linked parent: the same answers.
        std::os::unix::fs::symlink(dir, dir.join("alias")).unwrap();
        let again = dir.join("alias/tree");
        assert_eq!(newer(&spec(&[&again, &tree])), Some(true));
        fs::remove_file(tree.join("sub/new")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&stamp, b"").unwrap();
        assert_eq!(newer(&spec(&[&again, &tree])), Some(false));
        // A file changed in place, two levels down, and a link (not followed) made after
        // the stamp: each one alone is an answer.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(tree.join("sub/old"), b"changed").unwrap();
        assert_eq!(newer(&spec(&[&tree])), Some(true));
        fs::write(&stamp, b"").unwrap();
        assert_eq!(newer(&spec(&[&tree])), Some(false));
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::os::unix::fs::symlink("/nonexistent", tree.join("sub/link")).unwrap();
        assert_eq!(newer(&spec(&[&tree])), Some(true));
        fs::remove_file(&stamp).unwrap();
        assert_eq!(newer(&spec(&[&tree])), None);
    }

    #[test]
    fn a_walk_too_deep_is_left_to_find() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let stamp = dir.join("stamp");
        let mut deep = dir.join("tree");
        for _ in 0..=MAX_DEPTH {
            deep.push("d");
        }
        fs::create_dir_all(&deep).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&stamp, b"").unwrap();
        let mut spec = stamp.as_os_str().as_bytes().to_vec();
        spec.push(b':');
        spec.extend_from_slice(dir.join("tree").as_os_str().as_bytes());
        assert_eq!(newer(&spec), None);
    }
}
