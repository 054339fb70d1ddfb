//! A control-node directory as `copy` copies it (`src: dir` or `src: dir/`): its directories,
//! files and symlinks in walk order (a directory before what it holds), with paths relative to
//! the directory. With `local_follow: yes` (Ansible's default) links are followed, a link to a
//! directory walked as a directory (a link back into the walk is refused, as a loop), a
//! dangling link kept; with `local_follow: no` links are kept as links to recreate on the host. Bounded: at most
//! [`MAX_TREE_ENTRIES`] entries and [`MAX_TREE_DEPTH`] levels.

use std::path::{Path, PathBuf};

/// What one entry of the tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalKind {
    Dir,
    /// A regular file (through links, with `follow`), by its full control-node path.
    File(PathBuf),
    /// A symbolic link kept as such, with its target as written.
    Link(String),
}

/// One entry, its path relative to the walked directory (`a/b.txt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEntry {
    pub rel: String,
    pub kind: LocalKind,
}

/// More entries than any reasonable `copy` of a directory.
pub const MAX_TREE_ENTRIES: usize = 100_000;
/// Deeper than this is taken for a loop.
pub const MAX_TREE_DEPTH: usize = 64;

/// Walks `root` (a directory). Entries are sorted by name within a directory, so a walk is
/// the same on every run. Errors name the path that could not be read.
pub fn walk(root: &Path, follow: bool) -> Result<Vec<LocalEntry>, String> {
    let mut out = Vec::new();
    let mut ancestors = vec![canonical(root)?];
    walk_dir(root, "", follow, &mut ancestors, &mut out)?;
    Ok(out)
}

fn canonical(path: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn walk_dir(
    dir: &Path,
    prefix: &str,
    follow: bool,
    ancestors: &mut Vec<PathBuf>,
    out: &mut Vec<LocalEntry>,
) -> Result<(), String> {
    if ancestors.len() > MAX_TREE_DEPTH {
        return Err(format!(
            "{}: deeper than {MAX_TREE_DEPTH} levels",
            dir.display()
        ));
    }
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let rel = format!("{prefix}{}", name.to_string_lossy());
        let meta = std::fs::symlink_metadata(&path).map_err(|e| format!("{rel}: {e}"))?;
        if out.len() >= MAX_TREE_ENTRIES {
            return Err(format!("more than {MAX_TREE_ENTRIES} entries"));
        }
        let link = || -> Result<LocalEntry, String> {
            let target = std::fs::read_link(&path).map_err(|e| format!("{rel}: {e}"))?;
            Ok(LocalEntry {
                rel: rel.clone(),
                kind: LocalKind::Link(target.to_string_lossy().into_owned()),
            })
        };
        if meta.file_type().is_symlink() && !follow {
            out.push(link()?);
            continue;
        }
        // Followed (or not a link): what the path finally is. A dangling link has nothing to
        // follow: Ansible recreates it as a link.
        let Ok(target) = std::fs::metadata(&path) else {
            out.push(link()?);
            continue;
        };
        if target.is_dir() {
            let real = canonical(&path)?;
            if ancestors.contains(&real) {
                return Err(format!("{rel}: a link back into the copied tree (a loop)"));
            }
            out.push(LocalEntry {
                rel: rel.clone(),
                kind: LocalKind::Dir,
            });
            ancestors.push(real);
            walk_dir(&path, &format!("{rel}/"), follow, ancestors, out)?;
            ancestors.pop();
        } else if target.is_file() {
            out.push(LocalEntry {
                rel,
                kind: LocalKind::File(path),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("d/e")).unwrap();
        std::fs::write(r.join("a.txt"), "a").unwrap();
        std::fs::write(r.join("d/e/b.txt"), "b").unwrap();
        std::os::unix::fs::symlink("../a.txt", r.join("d/link")).unwrap();
        std::os::unix::fs::symlink("e", r.join("d/dirlink")).unwrap();
        std::os::unix::fs::symlink("nowhere", r.join("dangling")).unwrap();
        t
    }

    fn shown(entries: &[LocalEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match &e.kind {
                LocalKind::Dir => format!("{}/", e.rel),
                LocalKind::File(_) => e.rel.clone(),
                LocalKind::Link(t) => format!("{} -> {t}", e.rel),
            })
            .collect()
    }

    #[test]
    fn keeps_links_without_follow() {
        let t = tree();
        assert_eq!(
            shown(&walk(t.path(), false).unwrap()),
            [
                "a.txt",
                "d/",
                "d/dirlink -> e",
                "d/e/",
                "d/e/b.txt",
                "d/link -> ../a.txt",
                "dangling -> nowhere"
            ]
        );
    }

    #[test]
    fn follows_links_but_keeps_dangling_ones() {
        let t = tree();
        assert_eq!(
            shown(&walk(t.path(), true).unwrap()),
            [
                "a.txt",
                "d/",
                "d/dirlink/",
                "d/dirlink/b.txt",
                "d/e/",
                "d/e/b.txt",
                "d/link",
                "dangling -> nowhere"
            ]
        );
        std::os::unix::fs::symlink("..", t.path().join("d/e/up")).unwrap();
        assert!(walk(t.path(), true).unwrap_err().contains("a loop"));
    }
}
