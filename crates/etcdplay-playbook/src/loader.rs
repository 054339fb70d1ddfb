//! The loading session: the catalog and options, the diagnostics collected so far, and the
//! stacks of files and roles being read (to refuse import cycles instead of recursing forever).
//! Each file being parsed is described by a [`FileCtx`], which says how it is shown to the user
//! and where its relative names resolve.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use etcdplay_source::{
    load_yaml_source, read_source_text, Diagnostic, Diagnostics, Node, Pos, MAX_TEXT_FILE,
};

use crate::model::{IncludeContext, Origin, RoleScope, RoleSelectors};
use crate::{LoadOptions, ModuleCatalog, PlaybookError};

/// How deeply imports and role dependencies may nest before the loader gives up; deeper
/// nesting is almost certainly a cycle through templated names.
pub(crate) const MAX_DEPTH: usize = 48;

/// One file being parsed.
#[derive(Debug, Clone)]
pub(crate) struct FileCtx {
    /// The path as shown in diagnostics and origins.
    pub(crate) shown: String,
    /// The file's directory.
    pub(crate) dir: PathBuf,
    pub(crate) playbook_dir: PathBuf,
    /// The role whose file this is.
    pub(crate) role: Option<RoleScope>,
}

impl FileCtx {
    pub(crate) fn new(path: &Path, playbook_dir: &Path, role: Option<RoleScope>) -> Self {
        FileCtx {
            shown: show(path),
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            playbook_dir: playbook_dir.to_path_buf(),
            role,
        }
    }

    pub(crate) fn origin(&self, pos: Pos) -> Origin {
        Origin {
            file: self.shown.clone(),
            line: pos.line,
            col: pos.col,
        }
    }

    /// Where a dynamic include written in this file looks for relative names.
    pub(crate) fn include_context(&self) -> IncludeContext {
        let mut dirs = vec![self.dir.clone()];
        if let Some(r) = &self.role {
            dirs.push(r.path.join("tasks"));
        }
        dirs.push(self.playbook_dir.clone());
        IncludeContext {
            search_dirs: dedup(dirs),
            playbook_dir: self.playbook_dir.clone(),
            role: self.role.clone(),
        }
    }

    pub(crate) fn role_name(&self) -> Option<String> {
        self.role.as_ref().map(|r| r.name.clone())
    }
}

/// A path as the user should see it: as joined from what they typed, without `./` noise.
pub(crate) fn show(path: &Path) -> String {
    let s = path.to_string_lossy().into_owned();
    let s = s.strip_prefix("./").map(str::to_string).unwrap_or(s);
    s.replace("/./", "/")
}

pub(crate) fn dedup(dirs: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for d in dirs {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// A file being parsed: its identity (canonical path when available) and how it is shown.
pub(crate) struct StackEntry {
    pub(crate) key: PathBuf,
    pub(crate) shown: String,
}

/// The session state shared by every parser function (they are `impl Loader` blocks in the
/// modules `play`, `role`, `task`, `action` and `values`).
pub(crate) struct Loader<'a> {
    pub(crate) catalog: &'a dyn ModuleCatalog,
    pub(crate) opts: &'a LoadOptions,
    pub(crate) diags: Diagnostics,
    /// Problems that only matter if the task they concern runs (an argument a module will
    /// refuse, anything in a file only a dynamic include reaches): Ansible reports them when
    /// that task runs, so they are warnings here and the task fails at run time.
    pub(crate) warnings: Diagnostics,
    /// Files being parsed, outermost first.
    pub(crate) file_stack: Vec<StackEntry>,
    /// Roles being loaded, outermost first: name, directory and the files chosen from it (a
    /// role may import itself with another `tasks_from`, as Ansible allows; only the same
    /// role with the same files again is a cycle).
    pub(crate) role_stack: Vec<(String, PathBuf, RoleSelectors)>,
    /// Every role directory loaded so far, in order: Ansible adds each one's plugin
    /// directories to its search path for good, so their Python plugins are valid names in
    /// whatever is loaded after them (see `plugins`).
    pub(crate) plugin_dirs: Vec<PathBuf>,
    /// The text of every file read, by shown name, to place diagnostics on a word inside a
    /// k=v string.
    pub(crate) sources: HashMap<String, String>,
    /// Whether the list being parsed is a handlers list (files it imports hold handlers too).
    pub(crate) in_handlers: bool,
    /// The variables a templated import name may use in the play being parsed: its `vars`,
    /// its literal `vars_files`, and the extra vars.
    pub(crate) static_vars: crate::model::Map,
    /// How many plays, blocks and tasks around the task being parsed set `module_defaults`:
    /// a required argument may come from them, so a missing one is not reported.
    pub(crate) module_defaults_depth: usize,
}

impl<'a> Loader<'a> {
    pub(crate) fn new(catalog: &'a dyn ModuleCatalog, opts: &'a LoadOptions) -> Self {
        Loader {
            catalog,
            opts,
            diags: Diagnostics::new(),
            warnings: Diagnostics::new(),
            module_defaults_depth: 0,
            file_stack: Vec::new(),
            role_stack: Vec::new(),
            plugin_dirs: Vec::new(),
            in_handlers: false,
            static_vars: opts.extra_vars.clone(),
            sources: HashMap::new(),
        }
    }

    pub(crate) fn report(&mut self, f: &FileCtx, pos: Pos, error: PlaybookError) {
        self.diags.push(Diagnostic::new(
            f.shown.clone(),
            pos.line,
            pos.col,
            error.to_string(),
        ));
    }

    /// The Python plugin file Ansible would run for the module or action `name` written in
    /// `f`: beside the playbook, in `f`'s role, or in a role loaded before.
    pub(crate) fn python_plugin(&self, f: &FileCtx, name: &str) -> Option<PathBuf> {
        let own_role = f.role.as_ref().map(|r| r.path.as_path());
        std::iter::once(f.playbook_dir.as_path())
            .chain(own_role)
            .chain(self.plugin_dirs.iter().map(PathBuf::as_path))
            .find_map(|dir| crate::plugins::plugin_file(dir, name))
    }

    /// Turns the problems reported since `mark` (a length of `diags`) into warnings; says
    /// whether there were any.
    pub(crate) fn defer_since(&mut self, mark: usize) -> bool {
        let late = self.diags.split_off(mark);
        let any = !late.is_empty();
        self.warnings.extend(late);
        any
    }

    /// The name of a static import as written, rendered when it is a template; `None` (with
    /// the problem reported at `pos`) when it cannot be known before the run.
    pub(crate) fn import_name(
        &mut self,
        f: &FileCtx,
        pos: Pos,
        key: &str,
        dynamic: &'static str,
        name: &str,
    ) -> Option<String> {
        if !crate::values::is_template(name) {
            return Some(name.to_string());
        }
        let Some(renderer) = self.opts.import_names.clone() else {
            let error = PlaybookError::TemplatedImport {
                key: key.to_string(),
                dynamic,
            };
            self.report(f, pos, error);
            return None;
        };
        match renderer.render(name, &self.static_vars) {
            Ok(rendered) => Some(rendered),
            Err(message) => {
                let error = PlaybookError::ImportNameUnknown {
                    key: key.to_string(),
                    message,
                    dynamic,
                };
                self.report(f, pos, error);
                None
            }
        }
    }

    /// Reads a YAML file, reporting a syntax error or an unreadable file.
    pub(crate) fn read_yaml(&mut self, path: &Path) -> Option<Node> {
        let shown = show(path);
        let source = match read_source_text(path, MAX_TEXT_FILE) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(Diagnostic::whole_file(
                    shown,
                    format!("cannot read file: {}", e.problem),
                ));
                return None;
            }
        };
        let node = load_yaml_source(&source, &shown);
        self.sources.insert(shown.clone(), source.text);
        match node {
            Ok(n) => Some(n),
            Err(e) => {
                self.diags.push(e.in_file(&shown));
                None
            }
        }
    }

    /// Where the word at character `offset` of the one-line scalar `text` (written at
    /// `value_pos`) is in the file; `value_pos` itself when the scalar is not written verbatim
    /// on one line (block scalars, escapes, folding).
    pub(crate) fn word_pos(&self, f: &FileCtx, value_pos: Pos, text: &str, offset: usize) -> Pos {
        let verbatim = || -> Option<u32> {
            let line = self
                .sources
                .get(&f.shown)?
                .lines()
                .nth((value_pos.line as usize).checked_sub(1)?)?;
            let rest: String = line
                .chars()
                .skip((value_pos.col as usize).checked_sub(1)?)
                .collect();
            let skip = if rest.starts_with(text) {
                0
            } else if rest.starts_with(['"', '\'']) && rest[1..].starts_with(text) {
                1
            } else {
                return None;
            };
            u32::try_from(offset + skip).ok()
        };
        match verbatim() {
            Some(delta) => Pos {
                line: value_pos.line,
                col: value_pos.col + delta,
            },
            None => value_pos,
        }
    }

    /// The key identifying a file on the include stack.
    pub(crate) fn file_key(path: &Path) -> PathBuf {
        path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
    }

    pub(crate) fn enter_file(&mut self, path: &Path) {
        self.file_stack.push(StackEntry {
            key: Loader::file_key(path),
            shown: show(path),
        });
    }

    pub(crate) fn leave_file(&mut self) {
        self.file_stack.pop();
    }

    /// Whether `path` is being parsed already (an import of it would never end).
    pub(crate) fn is_open(&self, path: &Path) -> bool {
        let key = Loader::file_key(path);
        self.file_stack.iter().any(|e| e.key == key)
    }

    /// The files being parsed, for a cycle message.
    pub(crate) fn open_chain(&self) -> String {
        self.file_stack
            .iter()
            .map(|e| e.shown.as_str())
            .collect::<Vec<_>>()
            .join(" -> ")
    }

    /// The finished result.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, Diagnostics> {
        self.diags.sorted().into_result(value)
    }
}

/// Whether a play, block or task mapping sets `module_defaults`.
pub(crate) fn sets_module_defaults(node: &Node) -> bool {
    node.as_map().is_some_and(|entries| {
        entries
            .iter()
            .any(|(k, _)| k.key_string().as_deref() == Some("module_defaults"))
    })
}
