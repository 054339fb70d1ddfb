//! The line `stat -c 'stat|%F|%a|%u|%g|%U|%G|%s|%.9Y|%.9X|%.9Z|%i|%h|%d|%b|%o|%t|%T'` prints
//! (the format of `etcdplay-modules`' `ep_stat`), made by the agent from a file's metadata,
//! and the checksum cache entry the shell's `ep_sha1` keeps beside it. Only what the agent can
//! say exactly as coreutils would: a regular file or a directory, times after 1970, owner and
//! group names from `/etc/passwd` and `/etc/group` where those are the C library's first
//! source of names (`/etc/nsswitch.conf`); anything else is `None` and the script runs
//! `stat` itself. A test compares the line with `stat`'s on the machine it runs on.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::prefill::assign;

/// `ep_sha1`'s cache directory: `$EP_SUMS_DIR` (tests), else `/run/etcdplay/sums`. The
/// agent's environment is the login's, as the script's is.
pub(crate) fn sums_dir() -> PathBuf {
    std::env::var_os("EP_SUMS_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/run/etcdplay/sums"), PathBuf::from)
}

/// The `ep_stat` line for `meta`, or `None` where the agent could differ from `stat`.
pub(crate) fn line(meta: &fs::Metadata, names: &Names) -> Option<String> {
    let kind = if meta.is_file() {
        if meta.size() == 0 {
            "regular empty file"
        } else {
            "regular file"
        }
    } else if meta.is_dir() {
        "directory"
    } else {
        return None;
    };
    if meta.mtime() < 0 || meta.atime() < 0 || meta.ctime() < 0 {
        return None;
    }
    let user = Names::name(names.passwd.as_deref()?, meta.uid())?;
    let group = Names::name(names.group.as_deref()?, meta.gid())?;
    let rdev = meta.rdev();
    Some(format!(
        "stat|{kind}|{:o}|{}|{}|{user}|{group}|{}|{}.{:09}|{}.{:09}|{}.{:09}|{}|{}|{}|{}|{}|{:x}|{:x}",
        meta.mode() & 0o7777,
        meta.uid(),
        meta.gid(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.atime(),
        meta.atime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
        meta.ino(),
        meta.nlink(),
        meta.dev(),
        meta.blocks(),
        meta.blksize(),
        rustix::fs::major(rdev),
        rustix::fs::minor(rdev),
    ))
}

/// The answer to the prefill word `stat:HEX:HEX...` (paths in hex, as a read-ahead batch's
/// prelude names them): what the prelude's one `stat` of the paths that exist would leave,
/// `ep_sp_N`/`ep_sl_N` for the N-th of them, their count in `ep_ag_sn` and
/// `ep_ag_stat=done`. `None` (the prelude runs `stat`) when a path cannot be looked at or is
/// one [`line`] does not answer for. A path exists for the prelude when `[ -e ]` or `[ -L ]`
/// says so: for root, when its `lstat` succeeds.
pub(crate) fn prefill_stats(spec: &[u8]) -> Option<Vec<u8>> {
    let names = Names::load();
    let mut out = Vec::new();
    let mut n = 0;
    for hex in spec.split(|&b| b == b':') {
        let path = crate::prefill::hex_path(hex)?;
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(_) => return None,
        };
        let line = line(&meta, &names)?;
        n += 1;
        assign(&mut out, &format!("ep_sp_{n}"), path.as_os_str().as_bytes());
        assign(&mut out, &format!("ep_sl_{n}"), line.as_bytes());
    }
    assign(&mut out, "ep_ag_sn", n.to_string().as_bytes());
    assign(&mut out, "ep_ag_stat", b"done");
    Some(out)
}

/// Owner and group names as the C library would find them, read once for all the lines of
/// one answer: `/etc/passwd` and `/etc/group`, each only when `files` is the first source of
/// its database in `/etc/nsswitch.conf` (else `None`: the agent answers no line).
pub(crate) struct Names {
    passwd: Option<String>,
    group: Option<String>,
}

impl Names {
    pub(crate) fn load() -> Names {
        let nsswitch = fs::read_to_string("/etc/nsswitch.conf").ok();
        let table = |database: &str, file: &str| {
            let sources = nsswitch.as_deref()?.lines().find_map(|l| {
                let l = l.split('#').next().unwrap_or("");
                l.trim_start().strip_prefix(database)?.strip_prefix(':')
            })?;
            if sources.split_whitespace().next()? != "files" {
                return None;
            }
            fs::read_to_string(file).ok()
        };
        Names {
            passwd: table("passwd", "/etc/passwd"),
            group: table("group", "/etc/group"),
        }
    }

    /// The name of id `id` in `table` (`name:password:id:...` lines), as the C library's
    /// lookup would find it: the first line with that id.
    fn name(table: &str, id: u32) -> Option<String> {
        let id = id.to_string();
        table
            .lines()
            .filter(|l| !l.starts_with(['+', '-', '#']))
            .find_map(|l| {
                let mut fields = l.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == id && !name.is_empty()).then(|| name.to_string())
            })
    }
}

/// Leaves the cache entry `ep_sha1` would write for a regular file whose `ep_stat` line is
/// `line` and whose content hashes to `sha1` (hex): `SUMS/DEV.INODE` holding `SIZE MTIME
/// CTIME SHA1`. Best effort, as the shell's (`2>/dev/null || :`).
pub(crate) fn remember_sum(line: &str, sha1: &str, sums: &Path) {
    let fields: Vec<&str> = line.split('|').collect();
    let [_, _, _, _, _, _, _, size, mtime, _, ctime, ino, _, dev, ..] = fields[..] else {
        return;
    };
    if !sums.is_dir() {
        let mut dirs = fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(&mut dirs, 0o700);
        if let Some(parent) = sums.parent() {
            let _ = dirs.create(parent);
        }
        let _ = dirs.create(sums);
    }
    let _ = fs::write(
        sums.join(format!("{dev}.{ino}")),
        format!("{size} {mtime} {ctime} {sha1}\n"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const FORMAT: &str = "stat|%F|%a|%u|%g|%U|%G|%s|%.9Y|%.9X|%.9Z|%i|%h|%d|%b|%o|%t|%T";

    fn stat_says(path: &Path) -> String {
        let out = Command::new("stat")
            .args(["-c", FORMAT, "--"])
            .arg(path)
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    }

    /// The agent's line is `stat`'s, for every kind of file it answers for; it answers for
    /// no other kind.
    #[test]
    fn the_line_is_what_stat_prints() {
        let dir = std::env::temp_dir().join(format!("etcdplay-stat-line-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        let full = dir.join("full");
        fs::write(&full, b"some bytes\n").unwrap();
        let empty = dir.join("empty");
        fs::write(&empty, b"").unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&empty, fs::Permissions::from_mode(0o4750)).unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&full, &link).unwrap();
        let names = Names::load();
        let mut checked = 0;
        for path in [&full, &empty, &dir] {
            let meta = fs::symlink_metadata(path).unwrap();
            // Where the names do not come from the files first, the agent says nothing.
            if let Some(line) = line(&meta, &names) {
                assert_eq!(line, stat_says(path), "{}", path.display());
                checked += 1;
            }
        }
        assert!(
            line(&fs::symlink_metadata(&link).unwrap(), &names).is_none(),
            "links are left to stat"
        );
        assert!(line(&fs::metadata("/dev/null").unwrap(), &names).is_none());
        let meta = fs::metadata(&full).unwrap();
        let named = |table: &Option<String>, id| {
            table.as_deref().and_then(|t| Names::name(t, id)).is_some()
        };
        if named(&names.passwd, meta.uid()) && named(&names.group, meta.gid()) {
            assert_eq!(checked, 3, "the agent names this machine's owners");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Paths that do not exist are left out, as the prelude leaves them out; a kind the agent
    /// does not answer for leaves the whole answer to `stat`.
    #[test]
    fn a_batch_s_paths_are_answered_together_or_not_at_all() {
        let hex = |p: &Path| -> String {
            p.as_os_str()
                .as_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        let dir = std::env::temp_dir().join(format!("etcdplay-stats-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        let file = dir.join("it's");
        fs::write(&file, b"x").unwrap();
        let spec = format!("{}:{}:{}", hex(&file), hex(&dir.join("absent")), hex(&dir));
        let Some(out) = prefill_stats(spec.as_bytes()) else {
            // This machine's names do not come from the files first.
            assert!(line(&fs::metadata(&file).unwrap(), &Names::load()).is_none());
            fs::remove_dir_all(&dir).unwrap();
            return;
        };
        let out = String::from_utf8(out).unwrap();
        let mut want = Vec::new();
        assign(&mut want, "ep_sp_1", file.as_os_str().as_bytes());
        assign(
            &mut want,
            "ep_sl_1",
            line(&fs::symlink_metadata(&file).unwrap(), &Names::load())
                .unwrap()
                .as_bytes(),
        );
        assign(&mut want, "ep_sp_2", dir.as_os_str().as_bytes());
        assert!(
            out.starts_with(std::str::from_utf8(&want).unwrap()),
            "{out}"
        );
        assert!(out.ends_with("ep_ag_sn='2'\nep_ag_stat='done'\n"), "{out}");
        std::os::unix::fs::symlink(&file, dir.join("link")).unwrap();
        let spec = format!("{}:{}", hex(&file), hex(&dir.join("link")));
        assert_eq!(prefill_stats(spec.as_bytes()), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_sum_is_remembered_as_ep_sha1_keeps_it() {
        let dir = std::env::temp_dir().join(format!("etcdplay-sums-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let sums = dir.join("run/sums");
        let line = "stat|regular file|644|0|0|root|root|5|1.000000002|3.000000004|5.000000006|77|1|2049|8|4096|0|0";
        fs::create_dir(&dir).unwrap();
        remember_sum(line, "ab", &sums);
        assert_eq!(
            fs::read_to_string(sums.join("2049.77")).unwrap(),
            "5 1.000000002 5.000000006 ab\n"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
