//! A control-node directory as `copy` copies it (`src: dir` or `src: dir/`): its directories,
//! files and symlinks in walk order (a directory before what it holds), with paths relative to
//! the directory. With `local_follow: yes` (Ansible's default) links are followed as Ansible's
//! copy action follows them: a link to a file is that file, a dangling link is kept, a link to
//! a directory is walked as a directory unless it leads back to a directory the copy is already
//! in (then it is kept as a link), and a link to a directory met inside a directory reached
//! through a link that leaves the tree fails as Ansible's walk fails there. With
//! `local_follow: no` links are kept as links to recreate on the host. Bounded: at most
//! [`MAX_TREE_ENTRIES`] entries and [`MAX_TREE_DEPTH`] levels.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
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

/// A directory's identity (device and inode), as Ansible compares directories.
type DirId = (u64, u64);

/// Walks `root` (a directory). Entries are sorted by name within a directory, so a walk is
/// the same on every run. Errors name the path that could not be read.
pub fn walk(root: &Path, follow: bool) -> Result<Vec<LocalEntry>, String> {
    let mut out = Vec::new();
    // Ansible walks the absolute path of `src` (links in it not resolved).
    let root = &std::path::absolute(root).map_err(|e| format!("{}: {e}", root.display()))?;
    // Ansible's "parent directories": the directories a followed link must not lead back to.
    let parents = HashSet::from([dir_id(root, root)?]);
    let walk = Walk { follow };
    walk.dir(root, "", 0, &parents, &mut out)?;
    Ok(out)
}

/// The identity of the directory `path` leads to; errors are shown with `shown`.
fn dir_id(path: &Path, shown: &Path) -> Result<DirId, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", shown.display()))?;
    Ok((meta.dev(), meta.ino()))
}

fn canonical(path: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// One walk's settings.
struct Walk {
    follow: bool,
}

impl Walk {
    fn dir(
        &self,
        dir: &Path,
        prefix: &str,
        depth: usize,
        parents: &HashSet<DirId>,
        out: &mut Vec<LocalEntry>,
    ) -> Result<(), String> {
        if depth > MAX_TREE_DEPTH {
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
            if out.len() >= MAX_TREE_ENTRIES {
                return Err(format!("more than {MAX_TREE_ENTRIES} entries"));
            }
            let path = dir.join(&name);
            let rel = format!("{prefix}{}", name.to_string_lossy());
            self.entry(dir, &path, rel, depth, parents, out)?;
        }
        Ok(())
    }

    /// One entry `path` of `dir`, shown as `rel`.
    fn entry(
        &self,
        dir: &Path,
        path: &Path,
        rel: String,
        depth: usize,
        parents: &HashSet<DirId>,
        out: &mut Vec<LocalEntry>,
    ) -> Result<(), String> {
        let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{rel}: {e}"))?;
        let is_link = meta.file_type().is_symlink();
        let link = |rel: String| -> Result<LocalEntry, String> {
            let target = std::fs::read_link(path).map_err(|e| format!("{rel}: {e}"))?;
            Ok(LocalEntry {
                rel,
                kind: LocalKind::Link(target.to_string_lossy().into_owned()),
            })
        };
        if is_link && !self.follow {
            out.push(link(rel)?);
            return Ok(());
        }
        // Followed (or not a link): what the path finally is. A dangling link has nothing to
        // follow: Ansible recreates it as a link.
        let Ok(target) = std::fs::metadata(path) else {
            out.push(link(rel)?);
            return Ok(());
        };
        if target.is_dir() && !is_link {
            out.push(LocalEntry {
                rel: rel.clone(),
                kind: LocalKind::Dir,
            });
            return self.dir(path, &format!("{rel}/"), depth + 1, parents, out);
        }
        if target.is_dir() {
            let id = (target.dev(), target.ino());
            if parents.contains(&id) {
                out.push(link(rel)?);
                return Ok(());
            }
            let new_parents = parents_up_to_known(dir, parents, &rel)?;
            if new_parents.contains(&id) {
                out.push(link(rel)?);
                return Ok(());
            }
            out.push(LocalEntry {
                rel: rel.clone(),
                kind: LocalKind::Dir,
            });
            // Ansible walks the directory by its real path from here on.
            let real = canonical(path)?;
            let parents: HashSet<DirId> = parents.union(&new_parents).copied().collect();
            return self.dir(&real, &format!("{rel}/"), depth + 1, &parents, out);
        }
        if target.is_file() {
            out.push(LocalEntry {
                rel,
                kind: LocalKind::File(path.to_path_buf()),
            });
        } else if is_link {
            // A link to a device, a fifo, a socket: Ansible keeps it as a link.
            out.push(link(rel)?);
        }
        Ok(())
    }
}

/// The directories from `dir` up to the first one the copy is already in (not included), as
/// Ansible's copy collects them before following a link to a directory. Climbing past the
/// top of an absolute path (`dir` was reached through a link that leaves the tree) is where
/// Ansible's walk fails, by asking for the status of an empty path.
fn parents_up_to_known(
    dir: &Path,
    parents: &HashSet<DirId>,
    rel: &str,
) -> Result<HashSet<DirId>, String> {
    let mut found = HashSet::new();
    for ancestor in dir.ancestors() {
        if ancestor == Path::new("/") {
            return Err(format!(
                "{rel}: [Errno 2] No such file or directory: '' (Ansible's copy fails so on a \
                 link to a directory inside a directory reached through a link out of the tree)"
            ));
        }
        if ancestor.as_os_str().is_empty() {
            break;
        }
        let id = dir_id(ancestor, ancestor)?;
        if parents.contains(&id) {
            break;
        }
        found.insert(id);
    }
    Ok(found)
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
    }

    /// ansible-playbook 2.19.14, `copy: src=subdir dest=... local_follow=true` of
    /// ansible-core's copy target tree (`subdir1/circles -> ../`, `subdir1/subdir3 ->
    /// ../subdir2/subdir3`, `subdir1/abs-dir -> /tmp/...` outside the tree): `circles` is
    /// recreated as the link `circles -> ../`, `subdir3` and `abs-dir` as directories with
    /// their content. A link back to the directory the link is in (`subdir2/subdir3/here ->
    /// .`, reached through `subdir1/subdir3`) is kept as a link too.
    #[test]
    fn links_back_into_the_copy_are_kept_as_links() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let top = t.path().join("subdir");
        std::fs::create_dir_all(top.join("subdir1")).unwrap();
        std::fs::create_dir_all(top.join("subdir2/subdir3")).unwrap();
        std::fs::write(top.join("subdir2/subdir3/qux.txt"), "q").unwrap();
        std::fs::write(outside.path().join("o.txt"), "o").unwrap();
        let link = |target: &Path, at: &str| std::os::unix::fs::symlink(target, top.join(at));
        link(Path::new("../"), "subdir1/circles").unwrap();
        link(Path::new("../subdir2/subdir3"), "subdir1/subdir3").unwrap();
        link(Path::new("."), "subdir2/subdir3/here").unwrap();
        link(outside.path(), "subdir1/abs-dir").unwrap();
        assert_eq!(
            shown(&walk(&top, true).unwrap()),
            [
                "subdir1/",
                "subdir1/abs-dir/",
                "subdir1/abs-dir/o.txt",
                "subdir1/circles -> ../",
                "subdir1/subdir3/",
                "subdir1/subdir3/here -> .",
                "subdir1/subdir3/qux.txt",
                "subdir2/",
                "subdir2/subdir3/",
                "subdir2/subdir3/here -> .",
                "subdir2/subdir3/qux.txt",
            ]
        );
    }

    /// ansible-playbook 2.19.14 with the same tree and, in the outside directory, a link to a
    /// directory (`abs-dir/loop -> abs-dir` itself, as a second run of the copy target's `ln
    /// -s` leaves in /tmp/ansible-test-abs-link-dir; any directory gives the same): the task
    /// fails with "Task failed: [Errno 2] No such file or directory: ''" (its walk climbs
    /// from the outside directory to the top of the path without meeting the copied tree).
    #[test]
    fn a_directory_link_beyond_a_link_out_of_the_tree_fails_as_in_ansible() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let top = t.path().join("subdir");
        std::fs::create_dir_all(top.join("subdir1")).unwrap();
        std::os::unix::fs::symlink(outside.path(), top.join("subdir1/abs-dir")).unwrap();
        std::os::unix::fs::symlink(outside.path(), outside.path().join("loop")).unwrap();
        let error = walk(&top, true).unwrap_err();
        assert!(
            error.starts_with("subdir1/abs-dir/loop: [Errno 2] No such file or directory: ''"),
            "{error}"
        );
        // Without following, the links are kept and nothing is walked beyond them.
        assert_eq!(
            shown(&walk(&top, false).unwrap()),
            [
                "subdir1/".to_string(),
                format!("subdir1/abs-dir -> {}", outside.path().display())
            ]
        );
    }
}
