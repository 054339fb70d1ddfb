//! Whether any unit file on the host mentions etcd, for the data-dir guard's probe (the prefill
//! word `noetcd`). Before a task starts a unit, the guard reads what the unit is made of
//! (`systemctl cat`, ~7 ms of the host's CPU) unless systemd's loaded view already shows that
//! it does not run etcd; on a converging host that view is stale (the unit was just written),
//! so every start paid for a `systemctl cat`. A unit can only be made of files in the unit
//! directories (its fragment, found by its name or through a link there, and drop-ins in
//! `*.d` directories there): when no file name, link target or content in them mentions
//! `etcd` in any case, `systemctl cat` of any unit cannot either, and the guard is answered
//! (`ep_ag_noetcd=yes`). Anything it cannot read whole, or too much to read, and there is no
//! answer (the guard then asks systemctl as before). The guard itself still distrusts the
//! answer for a unit whose name or systemd's loaded view mentions etcd.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Where systemd looks for unit files: the same list as `etcdplay-modules`' `unit_memo` (a
/// test there checks that they agree). `$EP_UNIT_DIRS` names others (tests).
pub const UNIT_DIRS: &str = "/etc/systemd/system.control /run/systemd/system.control \
/run/systemd/transient /run/systemd/generator.early /etc/systemd/system \
/etc/systemd/system.attached /run/systemd/system /run/systemd/system.attached \
/run/systemd/generator /usr/local/lib/systemd/system /usr/lib/systemd/system \
/lib/systemd/system /run/systemd/generator.late";

/// Bounds on the look: entries, bytes of one file, bytes in all (unit directories hold a few
/// hundred small files).
const MAX_ENTRIES: usize = 20_000;
const MAX_FILE: u64 = 1 << 20;
const MAX_TOTAL: u64 = 32 << 20;

/// The unit directories: `$EP_UNIT_DIRS` (the agent's environment is the login's, as the
/// script's is), else [`UNIT_DIRS`].
pub(crate) fn unit_dirs() -> String {
    std::env::var("EP_UNIT_DIRS")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| UNIT_DIRS.to_string())
}

/// `Some(true)` when nothing in the unit directories `dirs` (separated by white space)
/// mentions etcd, `Some(false)` when something does, `None` when the agent could not look
/// at everything.
pub(crate) fn none_mention_etcd(dirs: &str) -> Option<bool> {
    let mut look = Look::default();
    // A directory named twice (`/lib/systemd/system` is `/usr/lib/systemd/system` where
    // `/lib` links to `usr/lib`) is looked at once: the same names, links and files.
    let mut looked = HashSet::new();
    for dir in dirs.split_whitespace() {
        let dir = Path::new(dir);
        let Ok(meta) = fs::metadata(dir) else {
            if fs::symlink_metadata(dir).is_err() {
                continue;
            }
            return None;
        };
        if !looked.insert((meta.dev(), meta.ino())) {
            continue;
        }
        if !look.dir(dir, 0)? {
            return Some(false);
        }
    }
    Some(true)
}

#[derive(Default)]
struct Look {
    entries: usize,
    bytes: u64,
    /// Files already read (a `.wants` link leads to a unit read in its own directory).
    read: HashSet<(u64, u64)>,
}

impl Look {
    /// Whether nothing in `dir` (and the directories in it, `*.d` and `*.wants` alike, two
    /// levels deep) mentions etcd.
    fn dir(&mut self, dir: &Path, depth: u32) -> Option<bool> {
        for entry in fs::read_dir(dir).ok()? {
            self.entries += 1;
            if self.entries > MAX_ENTRIES {
                return None;
            }
            let entry = entry.ok()?;
            if mentions_etcd(entry.file_name().as_encoded_bytes()) {
                return Some(false);
            }
            // The type as the directory listing gives it: no system call for most entries.
            let kind = entry.file_type().ok()?;
            let path = entry.path();
            let clean = if kind.is_dir() {
                depth >= 2 || self.dir(&path, depth + 1)?
            } else if kind.is_symlink() {
                self.link(&path)?
            } else if kind.is_file() {
                self.file(&path, None)?
            } else {
                true
            };
            if !clean {
                return Some(false);
            }
        }
        Some(true)
    }

    /// A link: where it points, and the file there (a link to a directory is not followed:
    /// systemd does not read units through one).
    fn link(&mut self, path: &Path) -> Option<bool> {
        let to = fs::read_link(path).ok()?;
        if mentions_etcd(to.as_os_str().as_encoded_bytes()) {
            return Some(false);
        }
        match fs::metadata(path) {
            Ok(meta) if meta.is_file() => self.file(path, Some(&meta)),
            Ok(_) => Some(true),
            // Dangling: systemd cannot load it either.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(true),
            Err(_) => None,
        }
    }

    /// A regular file's text, each file once.
    fn file(&mut self, path: &Path, meta: Option<&fs::Metadata>) -> Option<bool> {
        let file = fs::File::open(path).ok()?;
        let owned;
        let meta = match meta {
            Some(m) => m,
            None => {
                owned = file.metadata().ok()?;
                &owned
            }
        };
        if !self.read.insert((meta.dev(), meta.ino())) {
            return Some(true);
        }
        let mut text = Vec::with_capacity(meta.len().min(MAX_FILE) as usize);
        file.take(MAX_FILE + 1).read_to_end(&mut text).ok()?;
        self.bytes += text.len() as u64;
        if text.len() as u64 > MAX_FILE || self.bytes > MAX_TOTAL {
            return None;
        }
        Some(!mentions_etcd(&text))
    }
}

/// `etcd` in any case.
fn mentions_etcd(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w.eq_ignore_ascii_case(b"etcd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(dir: &Path) -> Option<bool> {
        none_mention_etcd(&format!("{} /nonexistent", dir.display()))
    }

    #[test]
    fn any_mention_in_names_links_or_text_counts() {
        let root = tempfile::tempdir().unwrap();
        let units = root.path().join("units");
        fs::create_dir_all(units.join("multi-user.target.wants")).unwrap();
        fs::create_dir_all(units.join("app.service.d")).unwrap();
        fs::write(
            units.join("app.service"),
            "[Service]\nExecStart=/bin/sleep 1\n",
        )
        .unwrap();
        fs::write(units.join("app.service.d/x.conf"), "[Service]\nNice=1\n").unwrap();
        std::os::unix::fs::symlink(
            "../app.service",
            units.join("multi-user.target.wants/app.service"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/dev/null", units.join("masked.service")).unwrap();
        std::os::unix::fs::symlink("/nowhere", units.join("dangling.service")).unwrap();
        assert_eq!(answer(&units), Some(true));

        let drop_in = units.join("app.service.d/y.conf");
        fs::write(&drop_in, "[Service]\nExecStart=\nExecStart=/usr/bin/ETCD\n").unwrap();
        assert_eq!(answer(&units), Some(false), "a drop-in's text");
        fs::remove_file(&drop_in).unwrap();

        let outside = root.path().join("etcd-unit.service");
        fs::write(&outside, "[Service]\n").unwrap();
        let alias = units.join("kv.service");
        std::os::unix::fs::symlink(&outside, &alias).unwrap();
        assert_eq!(answer(&units), Some(false), "a link's target");
        fs::remove_file(&alias).unwrap();

        fs::write(units.join("etcd.service"), "").unwrap();
        assert_eq!(answer(&units), Some(false), "a name");
        fs::remove_file(units.join("etcd.service")).unwrap();

        fs::write(
            units.join("big.service"),
            vec![b'x'; (MAX_FILE + 1) as usize],
        )
        .unwrap();
        assert_eq!(answer(&units), None, "too big to read whole");
        fs::remove_file(units.join("big.service")).unwrap();
        assert_eq!(answer(&units), Some(true));
    }

    /// The same directory named twice, once through a linked parent (`/lib` and `/usr/lib`):
    /// the same answers.
    #[test]
    fn a_directory_named_twice_answers_as_once() {
        let root = tempfile::tempdir().unwrap();
        let units = root.path().join("usr/lib/units");
        fs::create_dir_all(&units).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.path().join("lib")).unwrap();
        fs::write(units.join("app.service"), "[Service]\n").unwrap();
        let both = format!(
            "{} {}",
            root.path().join("lib/units").display(),
            units.display()
        );
        assert_eq!(none_mention_etcd(&both), Some(true));
        fs::write(units.join("kv.service"), "ExecStart=/usr/bin/etcd\n").unwrap();
        assert_eq!(none_mention_etcd(&both), Some(false));
    }
}
