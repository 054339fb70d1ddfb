//! Ansible playbooks and roles read into a typed model ([`model`]) with the file, line and
//! column of every play and task. Loading resolves everything static (`import_playbook`,
//! `roles:`, `import_tasks`, `import_role`, role files, literal template and copy sources) and
//! checks module names and arguments against a [`ModuleCatalog`], reporting every problem at
//! once as [`Diagnostics`]; it never evaluates templates and never touches a host.

mod error;
pub mod model;
mod options;

pub use error::{Hint, PlaybookError};
pub use etcdplay_source::ModuleCatalog;
pub use etcdplay_source::{Diagnostic, Diagnostics};
pub use model::*;
pub use options::{ImportNames, LoadOptions};

mod action;
mod ansible_names;
mod include;
mod kv;
mod loader;
mod play;
mod plugins;
mod role;
mod task;
mod values;

use std::path::{Path, PathBuf};

use loader::{FileCtx, Loader};

/// Loads a playbook and everything it statically refers to. Returns every problem found, sorted
/// by file and position, when there is any.
pub fn load_playbook(
    path: &Path,
    catalog: &dyn ModuleCatalog,
    opts: &LoadOptions,
) -> Result<Playbook, Diagnostics> {
    load_playbook_with_warnings(path, catalog, opts).0
}

/// [`load_playbook`], and the warnings (see [`Playbook::warnings`]) also when there are
/// errors, so that a user sees every problem at once.
pub fn load_playbook_with_warnings(
    path: &Path,
    catalog: &dyn ModuleCatalog,
    opts: &LoadOptions,
) -> (Result<Playbook, Diagnostics>, Diagnostics) {
    let mut loader = Loader::new(catalog, opts);
    let plays = loader.playbook_file(path);
    let warnings = std::mem::take(&mut loader.warnings).sorted();
    let result = loader.finish(Playbook {
        path: path.to_path_buf(),
        plays,
        warnings: warnings.clone(),
    });
    (result, warnings)
}

/// Where `include_vars` looks for `name` (a file or a directory), in order, as Ansible's
/// `path_dwim_relative_stack` does from the bases `bases` (the role, the task file's directory,
/// the playbook's): `BASE/vars/NAME` then `BASE/NAME` for each base; the first is left out
/// when `name` already starts with `vars/` (so `dir: vars` in a role is the role's `vars/`).
/// An absolute name is itself.
pub fn vars_candidates(name: &str, bases: &[PathBuf]) -> Vec<PathBuf> {
    etcdplay_source::file_candidates(bases, "vars", name, false)
}

/// The directories [`vars_candidates`] joins `name` to.
pub fn vars_search_dirs(name: &str, bases: &[PathBuf]) -> Vec<PathBuf> {
    let under_vars = name.split('/').next() == Some("vars");
    let mut out = Vec::new();
    for base in bases {
        if !under_vars {
            out.push(base.join("vars"));
        }
        out.push(base.clone());
    }
    out
}

/// Where a task file named `name` (already rendered) is found from an include's context.
pub fn find_task_file(name: &str, ctx: &IncludeContext) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return Some(p.to_path_buf()).filter(|p| p.is_file());
    }
    ctx.search_dirs
        .iter()
        .map(|d| d.join(p))
        .find(|p| p.is_file())
}

/// Loads the task file of a dynamic `include_tasks` whose name the engine has rendered;
/// problems are reported at `from` (the including task) or inside the file.
pub fn load_task_file(
    name: &str,
    ctx: &IncludeContext,
    from: &Origin,
    catalog: &dyn ModuleCatalog,
    opts: &LoadOptions,
) -> Result<Vec<Task>, Diagnostics> {
    let mut loader = Loader::new(catalog, opts);
    let Some(path) = find_task_file(name, ctx) else {
        let looked_in = ctx
            .search_dirs
            .iter()
            .map(|d| loader::show(d))
            .collect::<Vec<_>>()
            .join(", ");
        let error = PlaybookError::FileNotFound {
            what: "task file",
            name: name.to_string(),
            looked_in,
        };
        return Err(
            Diagnostic::new(from.file.clone(), from.line, from.col, error.to_string()).into(),
        );
    };
    let tasks = loader
        .task_file(&path, &ctx.playbook_dir, ctx.role.clone())
        .unwrap_or_default();
    loader.finish(tasks)
}

/// Loads a role for a dynamic `include_role` whose name the engine has rendered.
pub fn load_role(
    name: &str,
    selectors: &RoleSelectors,
    ctx: &IncludeContext,
    from: &Origin,
    catalog: &dyn ModuleCatalog,
    opts: &LoadOptions,
) -> Result<Role, Diagnostics> {
    let mut loader = Loader::new(catalog, opts);
    let f = FileCtx {
        shown: from.file.clone(),
        dir: ctx.search_dirs.first().cloned().unwrap_or_default(),
        playbook_dir: ctx.playbook_dir.clone(),
        role: ctx.role.clone(),
    };
    let pos = etcdplay_source::Pos {
        line: from.line,
        col: from.col,
    };
    let role = loader.role_by_name(&f, name, selectors, pos, false);
    match role {
        Some(r) => loader.finish(r),
        None => Err(loader.diags.sorted()),
    }
}
