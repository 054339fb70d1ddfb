//! `lookup()` / `query()` / `q()` and the plugins behind them (and behind `with_<name>` loops,
//! see [`crate::Templar::loop_items`]): `file`, `env`, `pipe`, `template` here; list plugins
//! (`items`, `list`, `dict`, `indexed_items`, `nested`, `cartesian`, `together`,
//! `subelements`, `flattened`, `random_choice`, `sequence`) in `lists.rs`; control-node files
//! (`first_found`, `fileglob`, `lines`, `password`) in `files.rs`; `vars`, `varnames`,
//! `inventory_hostnames` in `variables.rs`. Files are found along the task's search path (the
//! `ansible_search_path` variable) and then in the playbook's directory (`dir/files/x`, then
//! `dir/x`, and for templates `dir/templates/x`). An unknown plugin is an error.

mod files;
mod lists;
mod variables;

pub(crate) use files::SUBDIR_VAR;

use std::path::PathBuf;
use std::sync::Arc;

use etcdplay_source::{read_text_file, MAX_TEXT_FILE};
use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

use crate::file_syntax::FileSyntax;
use crate::include_path::{include_search_path, set_include_path, Caller};
use crate::pyrepr::py_str;
use crate::render::{RenderCtx, CTX_KEY};
use crate::templar::render_lookup_template;

pub(crate) fn register(env: &mut Environment<'static>, search_dirs: Arc<Vec<PathBuf>>) {
    let dirs = search_dirs.clone();
    env.add_function(
        "lookup",
        move |state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs| {
            let wantlist = kwargs.get::<Option<bool>>("wantlist")?.unwrap_or(false);
            let Some(results) = run_or_tolerate(state, &dirs, &name, &terms, &kwargs)? else {
                return Ok(if wantlist {
                    Value::from(Vec::<Value>::new())
                } else {
                    Value::from(())
                });
            };
            kwargs.assert_all_used()?;
            if wantlist {
                return Ok(Value::from(results));
            }
            // Ansible joins several results with commas; one result is returned as it is.
            Ok(match results.len() {
                1 => results.into_iter().next().unwrap_or_default(),
                _ => Value::from(results.iter().map(py_str).collect::<Vec<_>>().join(",")),
            })
        },
    );
    for name in ["query", "q"] {
        let dirs = search_dirs.clone();
        env.add_function(
            name,
            move |state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs| {
                let results =
                    run_or_tolerate(state, &dirs, &name, &terms, &kwargs)?.unwrap_or_default();
                kwargs.assert_all_used()?;
                Ok(Value::from(results))
            },
        );
    }
}

/// [`run`] with Ansible's `errors=` keyword: `strict` (the default) lets a failure through,
/// `warn` and `ignore` turn it into no result (`None`; `lookup` then gives `None`, or `[]` with
/// `wantlist`, `query` gives `[]`). Ansible's `warn` also prints the error as a warning; the
/// template layer has no channel for warnings, so it is quiet here.
fn run_or_tolerate(
    state: &State,
    dirs: &[PathBuf],
    name: &str,
    terms: &[Value],
    kwargs: &Kwargs,
) -> Result<Option<Vec<Value>>, Error> {
    let errors = kwargs.get::<Option<String>>("errors")?;
    match (run(state, dirs, name, terms, kwargs), errors.as_deref()) {
        (Ok(results), _) => Ok(Some(results)),
        (Err(_), Some("warn" | "ignore")) => {
            // The plugin may have stopped before reading every keyword it knows.
            for key in kwargs.args() {
                let _ = kwargs.get::<Value>(key);
            }
            Ok(None)
        }
        (Err(e), _) => Err(e),
    }
}

pub(super) fn fail(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

/// Terms may be given as separate arguments or as one list.
pub(super) fn term_strings(terms: &[Value]) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for term in terms {
        crate::filters::ensure_defined(term)?;
        if matches!(term.kind(), ValueKind::Seq | ValueKind::Iterable) {
            out.extend(term.try_iter()?.map(|t| py_str(&t)));
        } else {
            out.push(py_str(term));
        }
    }
    Ok(out)
}

/// `name` in the search path (`dir/subdir/name`, `dir/name`, ...: see
/// `etcdplay_source::file_candidates`), a regular file.
pub(super) fn find(state: &State, search: &[PathBuf], subdir: &str, name: &str) -> Option<PathBuf> {
    etcdplay_source::file_candidates(search, subdir, name, in_role(state))
        .into_iter()
        .find(|candidate| candidate.is_file())
}

/// A lookup in a role's task (Ansible's lookups tell the loader so).
pub(super) fn in_role(state: &State) -> bool {
    state
        .lookup("role_path")
        .is_some_and(|v| v.kind() == ValueKind::String)
}

/// Where files are looked for: the task's `ansible_search_path` (its roles' directories, then
/// the directory of its own file), then the playbook's directory (`playbook_dir`, else the
/// templar's directories). Without a search path (a template rendered outside a task) the
/// role's directory and its `tasks/` stand in for it.
fn search_path(state: &State, dirs: &[PathBuf]) -> Vec<PathBuf> {
    let strings = |v: Value| -> Vec<PathBuf> {
        v.try_iter()
            .map(|items| {
                items
                    .filter_map(|d| d.as_str().map(PathBuf::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = match state
        .lookup("ansible_search_path")
        .filter(|v| v.kind() == ValueKind::Seq)
    {
        Some(list) => strings(list),
        None => match state
            .lookup("role_path")
            .filter(|v| v.kind() == ValueKind::String)
        {
            Some(role) => {
                let role = PathBuf::from(role.as_str().unwrap_or_default());
                vec![role.clone(), role.join("tasks")]
            }
            None => Vec::new(),
        },
    };
    match state
        .lookup("playbook_dir")
        .filter(|v| v.kind() == ValueKind::String)
    {
        Some(dir) => out.push(PathBuf::from(dir.as_str().unwrap_or_default())),
        None => out.extend(dirs.iter().cloned()),
    }
    out
}

/// The template lookup's own keywords: Jinja options (`variable_start_string`,
/// `variable_end_string`, `comment_start_string`, `comment_end_string`, `trim_blocks`) and
/// `template_vars`; `convert_data` and `jinja2_native` are accepted (their results are
/// rendered as text, as 2.19 does).
struct TemplateLookupOptions {
    syntax: FileSyntax,
    template_vars: Vec<(String, serde_json::Value)>,
}

impl TemplateLookupOptions {
    fn of(kwargs: &Kwargs) -> Result<Self, Error> {
        let mut jinja = serde_json::Map::new();
        for key in [
            "variable_start_string",
            "variable_end_string",
            "comment_start_string",
            "comment_end_string",
            "trim_blocks",
        ] {
            if let Some(value) = kwargs.get::<Option<Value>>(key)? {
                jinja.insert(key.into(), crate::pyjson::to_json_value(&value)?);
            }
        }
        let syntax = FileSyntax::from_module_args(&jinja).map_err(|e| fail(e.to_string()))?;
        let template_vars = match kwargs.get::<Option<Value>>("template_vars")? {
            Some(vars) => match crate::pyjson::to_json_value(&vars)? {
                serde_json::Value::Object(map) => map.into_iter().collect(),
                serde_json::Value::Null => Vec::new(),
                _ => return Err(fail("template_vars must be a dictionary".into())),
            },
            None => Vec::new(),
        };
        for ignored in ["convert_data", "jinja2_native"] {
            let _ = kwargs.get::<Option<Value>>(ignored)?;
        }
        Ok(TemplateLookupOptions {
            syntax,
            template_vars,
        })
    }

    /// The variables the lookup adds: the template variables of the file `path` named `term`
    /// (see template_vars.rs), `ansible_managed` unless the task has one, then
    /// `template_vars`.
    fn vars_for(
        &self,
        vars: &crate::Vars,
        term: &str,
        path: &std::path::Path,
    ) -> Vec<(String, serde_json::Value)> {
        let mut extra = crate::template_file_vars(term, path, None);
        if vars.raw("ansible_managed").is_none() {
            extra.push(("ansible_managed".into(), "Ansible managed".into()));
        }
        extra.extend(self.template_vars.iter().cloned());
        extra
    }
}

/// The plugins known to [`run`] (for error hints and the parser).
pub(crate) const PLUGINS: &[&str] = &[
    "file",
    "env",
    "pipe",
    "template",
    "items",
    "list",
    "dict",
    "indexed_items",
    "nested",
    "cartesian",
    "together",
    "subelements",
    "flattened",
    "random_choice",
    "sequence",
    "first_found",
    "fileglob",
    "lines",
    "password",
    "vars",
    "varnames",
    "inventory_hostnames",
];

pub(crate) fn run(
    state: &State,
    dirs: &[PathBuf],
    plugin: &str,
    terms: &[Value],
    kwargs: &Kwargs,
) -> Result<Vec<Value>, Error> {
    let plugin = plugin.strip_prefix("ansible.builtin.").unwrap_or(plugin);
    let plugin = plugin.strip_prefix("community.general.").unwrap_or(plugin);
    for term in terms {
        crate::filters::ensure_defined(term)?;
    }
    let search = search_path(state, dirs);
    if let Some(out) = lists::run(plugin, terms, kwargs)? {
        return Ok(out);
    }
    if let Some(out) = files::run(state, &search, plugin, terms, kwargs)? {
        return Ok(out);
    }
    if let Some(out) = variables::run(state, plugin, terms, kwargs)? {
        return Ok(out);
    }
    let dirs = &search[..];
    let terms = term_strings(terms)?;
    let mut out = Vec::new();
    match plugin {
        "file" => {
            let rstrip = kwargs.get::<Option<bool>>("rstrip")?.unwrap_or(true);
            let lstrip = kwargs.get::<Option<bool>>("lstrip")?.unwrap_or(false);
            for term in &terms {
                let path = find(state, dirs, "files", term)
                    .ok_or_else(|| fail(format!("The 'file' lookup had an issue accessing the file '{term}': file not found")))?;
                let mut text = read_text_file(&path, MAX_TEXT_FILE).map_err(|e| {
                    fail(format!(
                        "The 'file' lookup had an issue accessing the file '{term}': {}",
                        e.problem
                    ))
                })?;
                if rstrip {
                    text.truncate(text.trim_end().len());
                }
                if lstrip {
                    text = text.trim_start().to_string();
                }
                out.push(Value::from(text));
            }
        }
        "env" => {
            let default: Option<Value> = kwargs.get("default")?;
            for term in &terms {
                out.push(match std::env::var(term) {
                    Ok(value) => Value::from(value),
                    Err(_) => default.clone().unwrap_or(Value::from("")),
                });
            }
        }
        "pipe" => {
            for term in &terms {
                let output = std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(term)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .map_err(|e| {
                        fail(format!("lookup_plugin.pipe({term}) failed to start: {e}"))
                    })?;
                if !output.status.success() {
                    return Err(fail(format!(
                        "lookup_plugin.pipe({term}) returned {}",
                        output.status.code().unwrap_or(-1)
                    )));
                }
                let text = String::from_utf8_lossy(&output.stdout);
                out.push(Value::from(text.trim_end()));
            }
        }
        "template" => {
            let ctx = state
                .lookup(CTX_KEY)
                .ok_or_else(|| fail("lookup('template') used outside a template render".into()))?;
            let ctx = ctx
                .downcast_object_ref::<RenderCtx>()
                .ok_or_else(|| fail("lookup('template') used outside a template render".into()))?;
            let options = TemplateLookupOptions::of(kwargs)?;
            for term in &terms {
                let path = find(state, dirs, "templates", term).ok_or_else(|| {
                    fail(format!(
                        "the template file {term} could not be found for the lookup"
                    ))
                })?;
                let source = read_text_file(&path, MAX_TEXT_FILE).map_err(|e| {
                    fail(format!(
                        "the template file {term} could not be read: {}",
                        e.problem
                    ))
                })?;
                let _includes = set_include_path(include_search_path(&path, dirs, Caller::Lookup));
                let extra = options.vars_for(ctx.scope.vars(), term, &path);
                let value =
                    render_lookup_template(&ctx.scope, &source, term, &options.syntax, extra)?;
                let text = crate::render::output_text(&value)?;
                // A template that renders nothing gives None (ansible-core 2.19).
                out.push(if text.is_empty() {
                    Value::from(())
                } else {
                    Value::from(text)
                });
            }
        }
        other => {
            let hint = etcdplay_source::did_you_mean(other, PLUGINS.iter().copied())
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            return Err(fail(format!("lookup plugin '{other}' not found{hint}")));
        }
    }
    Ok(out)
}
