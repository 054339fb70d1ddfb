//! Where a relative file name given to a task is looked for on the control node, in Ansible's
//! order: every directory of the task's search path (`ansible_search_path`: the directories of
//! the roles on its dependency chain, innermost first, then the directory of the task's own
//! file), then the playbook's directory, each with the kind's subdirectory (`files/`,
//! `templates/`, `vars/`) and without. `copy`/`template` sources, file lookups and the checks
//! made before the run all ask here, so they find the same file.

use std::path::{Component, Path, PathBuf};

/// The paths, in order, where `source` may be found: `dirs` is the task's search path followed
/// by the playbook's directory. An absolute `source` is its only candidate. `in_role` (a lookup
/// in a role's task, as Ansible's lookups say) treats every directory below a `tasks/` as a
/// role's; otherwise that is guessed from the files there.
pub fn file_candidates(
    dirs: &[PathBuf],
    subdir: &str,
    source: &str,
    in_role: bool,
) -> Vec<PathBuf> {
    let given = Path::new(source);
    if given.is_absolute() {
        return vec![given.to_path_buf()];
    }
    // `files/x` given to a lookup whose subdirectory is `files` is not looked for in
    // `files/files/x` (Ansible's rule).
    let names_subdir = source.split('/').next() == Some(subdir);
    let mut out = Vec::new();
    for dir in dirs {
        let dir = lexically_normal(dir);
        if let Some(parent) = dir.parent().filter(|p| p.ends_with("tasks")) {
            // A directory below a role's `tasks/`: the role's own subdirectory and `tasks/`.
            if in_role || is_role(&dir) {
                if let Some(role) = parent.parent() {
                    out.push(role.join(subdir).join(source));
                }
                out.push(parent.join(source));
            }
        }
        if !names_subdir {
            out.push(dir.join(subdir).join(source));
        }
        out.push(dir.join(source));
    }
    dedup(out)
}

/// Ansible's rough test for a role directory: a `tasks/` or `meta/` main file in it or beside
/// it, or a main file in a directory named `tasks`.
fn is_role(dir: &Path) -> bool {
    let mains = ["main.yml", "main.yaml", "main"];
    let in_tasks_dir = dir.ends_with("tasks") && mains.iter().any(|m| dir.join(m).exists());
    let beside = [Some(dir), dir.parent()].into_iter().flatten().any(|d| {
        ["tasks", "meta"]
            .iter()
            .any(|sub| mains.iter().any(|m| d.join(sub).join(m).exists()))
    });
    in_tasks_dir || beside
}

/// `a/./b/../c` as `a/c`, without touching the file system (Ansible's `unfrackpath` without
/// following links).
pub fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn dedup(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    paths
        .into_iter()
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(paths: &[PathBuf]) -> Vec<String> {
        paths.iter().map(|p| p.display().to_string()).collect()
    }

    /// A role's task (search path: the role, its `tasks/`), then a task file included from a
    /// directory of the playbook's (`/pb/inc`), as ansible-core 2.19's loader orders them.
    #[test]
    fn candidates_follow_ansibles_order() {
        let role = PathBuf::from("/pb/roles/r");
        let pb = PathBuf::from("/pb");
        let c = file_candidates(
            &[role.clone(), role.join("tasks"), pb.clone()],
            "files",
            "x",
            false,
        );
        assert_eq!(
            strings(&c),
            [
                "/pb/roles/r/files/x",
                "/pb/roles/r/x",
                "/pb/roles/r/tasks/files/x",
                "/pb/roles/r/tasks/x",
                "/pb/files/x",
                "/pb/x"
            ]
        );
        let c = file_candidates(&["/pb/inc".into(), pb.clone()], "templates", "t.j2", false);
        assert_eq!(
            strings(&c),
            [
                "/pb/inc/templates/t.j2",
                "/pb/inc/t.j2",
                "/pb/templates/t.j2",
                "/pb/t.j2"
            ]
        );
        // The subdirectory already named is not doubled; an absolute name is itself.
        let c = file_candidates(&["/pb/inc".into(), pb], "files", "files/a", false);
        assert_eq!(strings(&c), ["/pb/inc/files/a", "/pb/files/a"]);
        assert_eq!(
            strings(&file_candidates(&[], "files", "/etc/hosts", false)),
            ["/etc/hosts"]
        );
    }

    #[test]
    fn a_directory_below_a_roles_tasks_searches_the_role() {
        let dir = tempfile::tempdir().expect("tempdir");
        let role = dir.path().join("r");
        std::fs::create_dir_all(role.join("tasks/sub")).expect("mkdir");
        std::fs::write(role.join("tasks/main.yml"), "[]\n").expect("write");
        let c = file_candidates(&[role.join("tasks/sub")], "files", "x", true);
        assert_eq!(c[0], role.join("files/x"));
        assert_eq!(c[1], role.join("tasks/x"));
        let c = file_candidates(&[role.join("tasks/sub")], "files", "x", false);
        assert_eq!(c[0], role.join("tasks/sub/files/x"));
    }
}
