//! `include_vars`: variables loaded from a file, or from the files of a directory, into a
//! host's variables while the play runs. It runs as an engine action of a task like any other
//! (so `when`, loops, `register`, `failed_when` and `ignore_errors` apply), with Ansible's
//! arguments: `file`, `dir` with `depth`, `files_matching`, `ignore_files`, `extensions` and
//! `ignore_unknown_extensions`, and `name`. Its result is Ansible's: `ansible_facts` and
//! `ansible_included_var_files`, or `failed` with the reason in `msg` (Ansible 2.19 puts it in
//! `message`, with `msg` "Unknown error").

use std::path::{Path, PathBuf};

use etcdplay_playbook::{IncludeVars, ModuleCall, Task, VarsSource};
use etcdplay_source::{compile_python_regex, PyMatchError, PyReFlags, PyRegex};
use serde_json::{json, Map, Value};

use crate::play::PlayRun;

/// Directories deeper than this below `dir:` are not read (a link loop must not walk forever).
const MAX_DIR_DEPTH: usize = 32;
/// At most this many files are read from one `dir:`.
const MAX_DIR_FILES: usize = 10_000;
/// At most this many directories are walked under one `dir:` (links may make a tree of a
/// loop: two links to `.` double the walk at every level).
const MAX_DIRS: usize = 10_000;
/// Ansible's default `extensions`.
const DEFAULT_EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Why an `include_vars` task failed on a host (the result's `msg`).
#[derive(Debug, thiserror::Error)]
enum IncludeVarsError {
    #[error("Could not find or access '{name}'\nSearched in:\n\t{searched} on the Ansible Controller.\nIf you are using a module and expect the file to exist on the remote, see the remote_src option")]
    NotFound { name: String, searched: String },
    /// `file:` rendered to nothing (a lookup with `errors='ignore'` that found nothing).
    #[error("Could not find file on the Ansible Controller.\nIf you are using a module and expect the file to exist on the remote, see the remote_src option")]
    NoFile,
    #[error("{0} directory does not exist")]
    NoDir(String),
    #[error("{0} is not a directory")]
    NotADir(String),
    #[error("{dir}: {source}")]
    ReadDir { dir: String, source: std::io::Error },
    #[error("{0} does not have a valid extension: {1}")]
    Extension(String, String),
    #[error("{0} must be stored as a dictionary/hash")]
    NotAMapping(String),
    #[error("{0}")]
    Load(etcdplay_source::Diagnostic),
    #[error("invalid argument `{arg}`: {message}")]
    Argument { arg: &'static str, message: String },
    #[error("include_vars: more than {MAX_DIR_FILES} files under {0}")]
    TooMany(String),
    #[error("include_vars: more than {MAX_DIRS} directories under {0}")]
    TooManyDirs(String),
    #[error("include_vars: regular expression failed on {name}: {source}")]
    Regex { name: String, source: PyMatchError },
}

/// The task's `include_vars` as the arguments of an engine action, which the engine templates
/// like any module's.
pub(crate) fn as_call(task: &Task, iv: &IncludeVars) -> ModuleCall {
    let mut args = iv.args.clone();
    match &iv.source {
        VarsSource::File(f) => args.insert("file".into(), Value::String(f.clone())),
        VarsSource::Dir(d) => args.insert("dir".into(), Value::String(d.clone())),
    };
    if let Some(name) = &iv.name {
        args.insert("name".into(), Value::String(name.clone()));
    }
    ModuleCall {
        name: "include_vars".into(),
        args,
        args_origin: task.origin.clone(),
    }
}

/// The options of a `dir:` include, from the templated arguments.
struct DirOptions {
    depth: usize,
    files_matching: Option<PyRegex>,
    ignore_files: Vec<PyRegex>,
    extensions: Vec<String>,
    ignore_unknown_extensions: bool,
}

impl DirOptions {
    /// Whether a file of the directory is read: `files_matching` searched in its name, and no
    /// `ignore_files` entry matching the name's end (Ansible's `re.search`).
    fn wants(&self, name: &str) -> Result<bool, IncludeVarsError> {
        let failed = |source| IncludeVarsError::Regex {
            name: name.to_string(),
            source,
        };
        if let Some(m) = &self.files_matching {
            if !m.is_match(name).map_err(failed)? {
                return Ok(false);
            }
        }
        for r in &self.ignore_files {
            if r.is_match(name).map_err(failed)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn of(args: &Map<String, Value>) -> Result<DirOptions, IncludeVarsError> {
        let bad = |arg: &'static str, message: String| IncludeVarsError::Argument { arg, message };
        let regex = |arg: &'static str, text: &str| {
            compile_python_regex(text, PyReFlags::default()).map_err(|e| bad(arg, e.to_string()))
        };
        let depth = match args.get("depth") {
            None | Some(Value::Null) => 0,
            Some(v) => crate::task::number(v)
                .filter(|n| *n >= 0.0)
                .ok_or_else(|| bad("depth", format!("not a number: {v}")))?
                as usize,
        };
        let files_matching = match args.get("files_matching") {
            Some(Value::String(s)) => Some(regex("files_matching", s)?),
            _ => None,
        };
        // Each entry matches the end of a file name, as Ansible's `re.search(entry + '$')`.
        let ignore_files = strings(args.get("ignore_files"))
            .iter()
            .map(|s| regex("ignore_files", &format!("{s}$")))
            .collect::<Result<Vec<_>, _>>()?;
        let extensions = match args.get("extensions") {
            None | Some(Value::Null) => DEFAULT_EXTENSIONS.iter().map(|s| s.to_string()).collect(),
            Some(v) => strings(Some(v)),
        };
        let ignore_unknown_extensions = args
            .get("ignore_unknown_extensions")
            .is_some_and(|v| etcdplay_source::parse_bool(&text(v)).unwrap_or(false));
        Ok(DirOptions {
            depth,
            files_matching,
            ignore_files,
            extensions,
            ignore_unknown_extensions,
        })
    }

    /// As Python's `splitext`: a name without an extension has the extension `''`, which
    /// `extensions: ['', ...]` accepts.
    fn valid_extension(&self, name: &str) -> bool {
        let extension = Path::new(name)
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.extensions.contains(&extension)
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A list argument that may be written as one string.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().map(text).collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![text(other)],
    }
}

impl PlayRun<'_> {
    /// Runs `include_vars` on `host` with its templated `args`: loads the variables into the
    /// host's memory and returns Ansible's result.
    pub(crate) fn run_include_vars(
        &self,
        task: &Task,
        args: &Map<String, Value>,
        host: &str,
        task_vars: &etcdplay_template::Vars,
    ) -> Value {
        let etcdplay_playbook::TaskKind::IncludeVars(iv) = &task.kind else {
            return json!({"failed": true, "changed": false, "msg": "include_vars without its context"});
        };
        let mut files = Vec::new();
        let loaded = match (
            args.get("file").or(args.get("_raw_params")),
            args.get("dir"),
        ) {
            (Some(Value::Null), _) => Err(IncludeVarsError::NoFile),
            (Some(file), _) => self.include_vars_file(iv, &text(file), &mut files),
            (None, Some(dir)) => DirOptions::of(args)
                .and_then(|o| self.include_vars_dir(task, iv, &text(dir), &o, &mut files)),
            (None, None) => Ok(Map::new()),
        };
        let shown_files: Vec<Value> = files
            .iter()
            .map(|f| Value::String(crate::state::absolute_path_text(f)))
            .collect();
        match loaded {
            Ok(vars) => {
                let vars = if args.get("hash_behaviour").and_then(Value::as_str) == Some("merge") {
                    self.merged_into_existing(vars, task_vars, &task.origin.to_string())
                } else {
                    vars
                };
                let vars = match args.get("name") {
                    Some(name) => {
                        let mut m = Map::new();
                        m.insert(text(name), Value::Object(vars));
                        m
                    }
                    None => vars,
                };
                let learnt = vars.clone();
                self.engine
                    .shared
                    .update_memory(host, |mem| mem.include_vars.extend(learnt));
                json!({"changed": false, "ansible_facts": vars, "ansible_included_var_files": shown_files})
            }
            // Ansible 2.19's shape: the reason in `message`, `msg` its generic text.
            Err(e) => json!({
                "changed": false,
                "failed": true,
                "message": e.to_string(),
                "msg": "Task failed: Action failed: Unknown error.",
                "ansible_facts": {},
                "ansible_included_var_files": shown_files,
            }),
        }
    }

    /// `hash_behaviour: merge`: each loaded mapping merged into the variable of that name the
    /// task sees (recursively, as Ansible's `combine_vars(merge=True)`; anything else replaces).
    fn merged_into_existing(
        &self,
        loaded: Map<String, Value>,
        task_vars: &etcdplay_template::Vars,
        origin: &str,
    ) -> Map<String, Value> {
        loaded
            .into_iter()
            .map(|(name, new)| {
                let existing = task_vars.raw(&name).and_then(|raw| {
                    self.engine
                        .templar
                        .template_value(raw, origin, task_vars)
                        .ok()
                });
                let value = match existing {
                    Some(old) => merge_values(old, new),
                    None => new,
                };
                (name, value)
            })
            .collect()
    }

    /// One file, looked up in the role's `vars/`, beside the task file and the playbook.
    fn include_vars_file(
        &self,
        iv: &IncludeVars,
        name: &str,
        files: &mut Vec<PathBuf>,
    ) -> Result<Map<String, Value>, IncludeVarsError> {
        let mut bases = iv.context.search_dirs.clone();
        bases.push(self.play.playbook_dir.clone());
        let candidates = etcdplay_playbook::vars_candidates(name, &bases);
        // Whatever exists is taken (a FIFO or a directory is then refused by name when read).
        let Some(path) = candidates.iter().find(|p| p.exists()).cloned() else {
            let searched = candidates
                .iter()
                .map(|c| crate::state::absolute_path_text(c))
                .collect::<Vec<_>>()
                .join("\n\t");
            return Err(IncludeVarsError::NotFound {
                name: name.to_string(),
                searched,
            });
        };
        let vars = load_mapping(&path)?;
        files.push(path);
        Ok(vars)
    }

    /// Every file of a directory and its subdirectories (to `depth`), directories in path
    /// order and files in name order, as Ansible walks them.
    fn include_vars_dir(
        &self,
        task: &Task,
        iv: &IncludeVars,
        dir: &str,
        options: &DirOptions,
        files: &mut Vec<PathBuf>,
    ) -> Result<Map<String, Value>, IncludeVarsError> {
        let root = dir_root(task, iv, dir);
        let shown = crate::control::shown(&root);
        if !root.exists() {
            return Err(IncludeVarsError::NoDir(shown));
        }
        if !root.is_dir() {
            return Err(IncludeVarsError::NotADir(shown));
        }
        let mut dirs = Vec::new();
        walk(&root, 1, options.depth, &mut dirs).map_err(|e| match e {
            // Name the directory the task gave, not where the walk was when it stopped.
            IncludeVarsError::TooManyDirs(_) => IncludeVarsError::TooManyDirs(shown.clone()),
            other => other,
        })?;
        dirs.sort();
        let role_main = iv
            .context
            .role
            .as_ref()
            .map(|r| r.path.join("vars").join("main.yml"));
        let mut merged = Map::new();
        for (dir, names) in dirs {
            for name in names {
                let path = dir.join(&name);
                // The role's own vars/main.yml is loaded with the role already.
                if role_main.as_ref() == Some(&path) {
                    continue;
                }
                if !options.wants(&name)? {
                    continue;
                }
                if !options.valid_extension(&name) {
                    if options.ignore_unknown_extensions {
                        continue;
                    }
                    let valid = options.extensions.join(", ");
                    return Err(IncludeVarsError::Extension(
                        crate::state::absolute_path_text(&path),
                        valid,
                    ));
                }
                if files.len() >= MAX_DIR_FILES {
                    return Err(IncludeVarsError::TooMany(shown));
                }
                merged.extend(load_mapping(&path)?);
                files.push(path);
            }
        }
        Ok(merged)
    }
}

/// Ansible's recursive merge of two values: mappings key by key, anything else the new value.
fn merge_values(old: Value, new: Value) -> Value {
    match (old, new) {
        (Value::Object(mut old), Value::Object(new)) => {
            for (k, v) in new {
                let merged = match old.remove(&k) {
                    Some(o) => merge_values(o, v),
                    None => v,
                };
                old.insert(k, merged);
            }
            Value::Object(old)
        }
        (_, new) => new,
    }
}

/// Where a relative `dir:` is, as Ansible resolves it (`etcdplay_playbook::vars_candidates`):
/// the first candidate that exists, else the first (named in the error).
fn dir_root(task: &Task, iv: &IncludeVars, dir: &str) -> PathBuf {
    let mut bases = iv.context.search_dirs.clone();
    if bases.is_empty() {
        bases.extend(Path::new(&task.origin.file).parent().map(Path::to_path_buf));
    }
    let candidates = etcdplay_playbook::vars_candidates(dir, &bases);
    candidates
        .iter()
        .find(|c| c.exists())
        .or(candidates.first())
        .cloned()
        .unwrap_or_else(|| PathBuf::from(dir))
}

/// The directories under `dir` down to `depth` (0: all), each with its file names sorted.
fn walk(
    dir: &Path,
    level: usize,
    depth: usize,
    out: &mut Vec<(PathBuf, Vec<String>)>,
) -> Result<(), IncludeVarsError> {
    if depth != 0 && level > depth || level > MAX_DIR_DEPTH {
        return Ok(());
    }
    if out.len() >= MAX_DIRS {
        return Err(IncludeVarsError::TooManyDirs(crate::control::shown(dir)));
    }
    let read_error = |source| IncludeVarsError::ReadDir {
        dir: crate::control::shown(dir),
        source,
    };
    let mut names = Vec::new();
    let mut subdirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        if path.is_dir() {
            subdirs.push(path);
        } else if path.is_file() {
            names.push(path.file_name().map(|n| n.to_string_lossy().into_owned()));
        }
    }
    let mut names: Vec<String> = names.into_iter().flatten().collect();
    names.sort();
    out.push((dir.to_path_buf(), names));
    for sub in subdirs {
        walk(&sub, level + 1, depth, out)?;
    }
    Ok(())
}

/// A variables file that must hold a mapping (an empty file is an empty one).
fn load_mapping(path: &Path) -> Result<Map<String, Value>, IncludeVarsError> {
    match crate::varsfile::load(path).map_err(IncludeVarsError::Load)? {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        _ => Err(IncludeVarsError::NotAMapping(
            crate::state::absolute_path_text(path),
        )),
    }
}
