//! Where `{% include %}`, `{% import %}` and `{% extends %}` of a template file look, as
//! Ansible's template action and template lookup set Jinja's search path: the template's own
//! directory and, for every entry of the task's `ansible_search_path`, its `templates/` and
//! the entry itself (a role's `templates/world.txt` is found from a role template). The path
//! is set for the duration of one file's render on the rendering thread (minijinja renders
//! synchronously), and an include found along it is loaded by its absolute path, so the
//! environment's cache never mixes two roles' files of the same name.

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

thread_local! {
    static INCLUDE_PATH: RefCell<Option<Vec<PathBuf>>> = const { RefCell::new(None) };
}

/// Whose order Ansible uses: the lookup puts the template's directory first, the template
/// action last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    Lookup,
    Action,
}

/// Jinja's search path for the template file `file` rendered by `caller` with the task's
/// `search` path (`ansible_search_path`, then the playbook's directory).
pub(crate) fn include_search_path(file: &Path, search: &[PathBuf], caller: Caller) -> Vec<PathBuf> {
    let own = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut bases: Vec<PathBuf> = search.to_vec();
    if caller == Caller::Action {
        bases.push(own.clone());
    }
    let mut out = Vec::with_capacity(bases.len() * 2 + 1);
    if caller == Caller::Lookup {
        out.push(own);
    }
    for base in bases {
        out.push(base.join("templates"));
        out.push(base);
    }
    out
}

/// Restores the previous search path when a render ends (renders nest: a template lookup
/// inside a template).
pub(crate) struct IncludePathGuard {
    previous: Option<Vec<PathBuf>>,
}

impl Drop for IncludePathGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        INCLUDE_PATH.with(|p| *p.borrow_mut() = previous);
    }
}

/// Sets `dirs` as the include search path until the guard is dropped.
pub(crate) fn set_include_path(dirs: Vec<PathBuf>) -> IncludePathGuard {
    let previous = INCLUDE_PATH.with(|p| p.borrow_mut().replace(dirs));
    IncludePathGuard { previous }
}

/// minijinja's path-join callback: `name` found along the current include search path, as an
/// absolute path; otherwise `name` as written (the environment's own directories then apply).
pub(crate) fn join_include(name: &str) -> Cow<'_, str> {
    if Path::new(name).is_absolute() {
        return Cow::Borrowed(name);
    }
    let found = INCLUDE_PATH.with(|p| {
        p.borrow()
            .as_ref()
            .and_then(|dirs| dirs.iter().map(|d| d.join(name)).find(|c| c.is_file()))
    });
    match found.and_then(|f| f.to_str().map(String::from)) {
        Some(path) => Cow::Owned(path),
        None => Cow::Borrowed(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Ansible 2.19's template lookup: searchpath = [dirname(file)] + [p/templates, p for p in
    // ansible_search_path]; its template action: [p/templates, p for p in ansible_search_path
    // + [dirname(source)]].
    #[test]
    fn search_paths_are_ansibles() {
        let file = Path::new("/r/templates/hello.txt");
        let search = [PathBuf::from("/r"), PathBuf::from("/pb")];
        let lookup = include_search_path(file, &search, Caller::Lookup);
        let want: Vec<PathBuf> = ["/r/templates", "/r/templates", "/r", "/pb/templates", "/pb"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(lookup, want);
        let action = include_search_path(file, &search, Caller::Action);
        assert_eq!(action.last(), Some(&PathBuf::from("/r/templates")));
        assert_eq!(action[0], PathBuf::from("/r/templates"));
    }

    #[test]
    fn includes_resolve_only_while_a_path_is_set() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("world.txt"), "world").unwrap();
        assert_eq!(join_include("world.txt"), "world.txt");
        {
            let _guard = set_include_path(vec![dir.path().to_path_buf()]);
            let joined = join_include("world.txt").into_owned();
            assert_eq!(Path::new(&joined), dir.path().join("world.txt"));
            assert_eq!(join_include("missing.txt"), "missing.txt");
        }
        assert_eq!(join_include("world.txt"), "world.txt");
    }
}
