//! Path filters on the control node: `expanduser` and `realpath` (Python's `os.path`).

use std::path::{Component, Path, PathBuf};

use minijinja::value::Value;
use minijinja::{Environment, Error};

use super::ensure_defined;
use crate::pyrepr::try_py_str;

/// Symbolic links followed in one `realpath` before giving up (Linux's own limit).
const MAX_LINKS: usize = 40;

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("expanduser", |v: Value| -> Result<String, Error> {
        ensure_defined(&v)?;
        Ok(expand_user(&try_py_str(&v)?))
    });
    env.add_filter("realpath", |v: Value| -> Result<String, Error> {
        ensure_defined(&v)?;
        Ok(real_path(Path::new(&try_py_str(&v)?)).display().to_string())
    });
}

/// The home directory of `user` (empty: the current user, from `$HOME` first) from
/// `/etc/passwd`.
fn home_of(user: &str) -> Option<String> {
    if user.is_empty() {
        if let Ok(home) = std::env::var("HOME") {
            return Some(home);
        }
    }
    let uid = rustix::process::getuid().as_raw().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let matches = if user.is_empty() {
            fields.get(2) == Some(&uid.as_str())
        } else {
            fields.first() == Some(&user)
        };
        matches
            .then(|| fields.get(5).map(|h| h.to_string()))
            .flatten()
    })
}

/// `os.path.expanduser`: a leading `~` or `~user` becomes that home directory; unknown users
/// leave the path unchanged.
pub(crate) fn expand_user(path: &str) -> String {
    let Some(rest) = path.strip_prefix('~') else {
        return path.to_string();
    };
    let (user, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    match home_of(user) {
        Some(home) => {
            let home = if home.len() > 1 {
                home.trim_end_matches('/')
            } else {
                &home
            };
            let joined = format!("{home}{tail}");
            if joined.is_empty() {
                "/".into()
            } else {
                joined
            }
        }
        None => path.to_string(),
    }
}

/// `os.path.realpath` (not strict): symbolic links resolved as far as the path exists, the rest
/// normalised lexically.
pub(crate) fn real_path(path: &Path) -> PathBuf {
    let mut resolved = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
    };
    // Components still to walk, the next one last.
    let mut queue: Vec<PathBuf> = components_reversed(path);
    let mut links = 0;
    while let Some(part) = queue.pop() {
        match part.to_str() {
            Some("/" | "." | "") => {}
            Some("..") => {
                resolved.pop();
            }
            _ => {
                let next = resolved.join(&part);
                match std::fs::read_link(&next) {
                    Ok(target) if links < MAX_LINKS => {
                        links += 1;
                        if target.is_absolute() {
                            resolved = PathBuf::from("/");
                        }
                        queue.extend(components_reversed(&target));
                    }
                    _ => resolved = next,
                }
            }
        }
    }
    resolved
}

fn components_reversed(path: &Path) -> Vec<PathBuf> {
    path.components()
        .rev()
        .map(|c: Component<'_>| PathBuf::from(c.as_os_str()))
        .collect()
}
