//! Who the agent runs as and where: the trust check before it serves anything, its private
//! directory, the login's name (a request to become it runs as the login), and how the
//! lifeline stops everything.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::PathBuf;

use rustix::process::{getpgrp, getpid, getppid, getsid, Signal};

/// Refuses to serve unless the agent runs as root from a file only root could have put
/// there: its directory owned by root and private (0700), the file owned by root and written
/// by no one else. The shell that started it checked ownership with builtins (`-O`); the
/// mode needs `stat`, which is done here instead of costing a process per connection.
pub(crate) fn check_trusted() -> Result<(), &'static str> {
    if !rustix::process::geteuid().is_root() {
        return Err("not-root");
    }
    let exe = std::env::current_exe().map_err(|_| "no-exe")?;
    let dir = exe.parent().ok_or("no-dir")?;
    let dir_meta = fs::symlink_metadata(dir).map_err(|_| "no-dir")?;
    if !dir_meta.is_dir() || dir_meta.uid() != 0 || dir_meta.mode() & 0o777 != 0o700 {
        return Err("dir-not-private");
    }
    let exe_meta = fs::symlink_metadata(&exe).map_err(|_| "no-exe")?;
    if !exe_meta.is_file() || exe_meta.uid() != 0 || exe_meta.mode() & 0o022 != 0 {
        return Err("file-not-private");
    }
    Ok(())
}

/// `${TMPDIR:-/tmp}`, as the shell loop's `mktemp -d` uses it.
fn tmp_root() -> PathBuf {
    match std::env::var_os("TMPDIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from("/tmp"),
    }
}

/// Creates `${TMPDIR:-/tmp}/etcdplay.XXXXXXXX` (mode 0700, a fresh random name: never an
/// existing path, so nothing planted in a world-writable directory is used).
pub(crate) fn private_dir() -> io::Result<PathBuf> {
    let root = tmp_root();
    let mut last = io::Error::other("no attempt");
    for _ in 0..8 {
        let path = root.join(format!("etcdplay.{}", random_name()?));
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn random_name() -> io::Result<String> {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 8];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| LETTERS[usize::from(*b) % LETTERS.len()] as char)
        .collect())
}

/// The login the agent serves.
pub(crate) struct Login {
    /// The name of the effective uid in `/etc/passwd`; a request to become it runs as the
    /// login, without sudo.
    pub(crate) name: Option<String>,
    /// Whether the agent leads its process group, or its parent (a login shell that did not
    /// `exec`) leads it and the session: then the lifeline may kill the whole group.
    pub(crate) leads_its_group: bool,
}

impl Login {
    pub(crate) fn of_this_process() -> Login {
        let uid = rustix::process::geteuid().as_raw().to_string();
        let name = fs::read_to_string("/etc/passwd").ok().and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == uid).then(|| name.to_string())
            })
        });
        let group = getpgrp();
        let leads_its_group =
            group == getpid() || (getsid(None).ok() == Some(group) && getppid() == Some(group));
        Login {
            name,
            leads_its_group,
        }
    }
}

/// Removes the private directory. The request loop may be emptying its files at the same
/// moment (the lifeline runs on its own thread), so a file created between the listing and
/// the `rmdir` is taken on a second pass; after that the directory is gone and creating a
/// file in it fails.
pub(crate) fn remove_dir(dir: &std::path::Path) {
    for _ in 0..3 {
        if fs::remove_dir_all(dir).is_ok() || !dir.exists() {
            return;
        }
    }
}

/// The lifeline's last act: kill the process group (the agent, a running script and what it
/// left in the background), or only the agent when the group is not its own to kill.
pub(crate) fn stop_everything(kill_group: bool) {
    if kill_group {
        let _ = rustix::process::kill_current_process_group(Signal::KILL);
    }
    std::process::exit(1);
}
