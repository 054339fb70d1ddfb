//! Python plugins beside a playbook or a role: a module in `library/` (`NAME.py`, `NAME.sh`,
//! `NAME`, ...) or an action in `action_plugins/NAME.py`. Ansible adds these directories to its
//! plugin search path when it loads the playbook and each role (after the role's dependencies,
//! before its tasks; a role's directories stay visible to everything loaded after it), so a
//! task naming such a plugin is valid for Ansible. etcdplay runs no Python on the control node:
//! such a task is, like a module of ansible-core that etcdplay does not implement, a warning
//! with its location before the run and a failure if it runs. It may never run: the
//! `setup_rpm_repo` helper of ansible-core's targets calls its `create_repo` only on Red Hat.

use std::path::{Path, PathBuf};

/// The most entries read from one `library/` directory: a bigger one is not searched further.
const MAX_LIBRARY_ENTRIES: usize = 10_000;

/// The file of the module or action plugin `name` in `dir`'s `library/` or `action_plugins/`.
pub(crate) fn plugin_file(dir: &Path, name: &str) -> Option<PathBuf> {
    // A name with a dot is a collection's (`ns.coll.name`) or not a plugin name at all; one with
    // a path separator would look outside the plugin directories.
    if name.is_empty() || name.contains(['.', '/', '\\']) {
        return None;
    }
    library_module(&dir.join("library"), name).or_else(|| {
        let action = dir.join("action_plugins").join(format!("{name}.py"));
        action.is_file().then_some(action)
    })
}

/// Ansible's module loader takes any file of `library/` whose name, less its extension, is
/// the module's name.
fn library_module(library: &Path, name: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(library).ok()?;
    entries
        .take(MAX_LIBRARY_ENTRIES)
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_stem().is_some_and(|s| s == name) && p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for f in files {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, "#!/usr/bin/python\n").expect("write");
        }
        dir
    }

    #[test]
    fn finds_library_modules_by_stem_and_action_plugins_by_name() {
        let dir = dir_with(&[
            "library/create_repo.py",
            "library/plain_script",
            "action_plugins/test_shell.py",
            "action_plugins/notes.txt",
        ]);
        let d = dir.path();
        assert_eq!(
            plugin_file(d, "create_repo"),
            Some(d.join("library/create_repo.py"))
        );
        assert_eq!(
            plugin_file(d, "plain_script"),
            Some(d.join("library/plain_script"))
        );
        assert_eq!(
            plugin_file(d, "test_shell"),
            Some(d.join("action_plugins/test_shell.py"))
        );
        assert_eq!(plugin_file(d, "notes"), None);
        assert_eq!(plugin_file(d, "missing"), None);
        assert_eq!(plugin_file(d, "library/create_repo"), None);
        assert_eq!(plugin_file(d, "ns.coll.create_repo"), None);
    }

    #[test]
    fn a_directory_named_like_the_module_is_no_module() {
        let dir = dir_with(&["library/create_repo/readme"]);
        assert_eq!(plugin_file(dir.path(), "create_repo"), None);
    }
}
