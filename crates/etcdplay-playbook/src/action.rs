//! A task's action: a module call with its arguments (inline k=v, a mapping, `args:`), `meta`,
//! or one of the include actions (dispatched to `include.rs`). Module names and argument names
//! are checked against the catalog, and literal `template`/`copy` sources are looked up on disk.

use std::path::{Path, PathBuf};

use etcdplay_source::{did_you_mean, Node, NodeValue, Pos};
use serde_json::Value;

use crate::error::Hint;
use crate::kv::{join_args, pair_split, split_args};
use crate::loader::{dedup, show, FileCtx, Loader};
use crate::model::{Map, ModuleCall, Task, TaskKind};
use crate::task::{short_name, ActionSite};
use crate::values::{is_identifier, is_template};
use crate::PlaybookError;

/// Keys Ansible pulls out of a free-form command line (`chdir=/tmp echo hi`); every other word,
/// `a=b` included, stays part of the command.
const RAW_EXTRACT: &[&str] = &[
    "creates",
    "removes",
    "chdir",
    "executable",
    "warn",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
];

const META_ACTIONS: &[&str] = &[
    "flush_handlers",
    "refresh_inventory",
    "noop",
    "clear_facts",
    "clear_host_errors",
    "end_play",
    "end_host",
    "end_batch",
    "end_role",
    "reset_connection",
    "role_complete",
];

pub(crate) const INCLUDE_TASKS_ARGS: &[&str] = &["file", "_raw_params", "apply"];
pub(crate) const IMPORT_TASKS_ARGS: &[&str] = &["file", "_raw_params"];
pub(crate) const INCLUDE_ROLE_ARGS: &[&str] = &[
    "name",
    "tasks_from",
    "vars_from",
    "defaults_from",
    "handlers_from",
    "apply",
    "public",
    "allow_duplicates",
    "rolespec_validate",
];
pub(crate) const IMPORT_ROLE_ARGS: &[&str] = &[
    "name",
    "tasks_from",
    "vars_from",
    "defaults_from",
    "handlers_from",
    "allow_duplicates",
    "rolespec_validate",
];
pub(crate) const INCLUDE_VARS_ARGS: &[&str] = &[
    "_raw_params",
    "file",
    "dir",
    "name",
    "depth",
    "files_matching",
    "ignore_files",
    "extensions",
    "ignore_unknown_extensions",
    "hash_behaviour",
];

/// Arguments a module cannot do without: each inner list is "one of these".
const REQUIRED: &[(&str, &[&[&str]])] = &[
    ("template", &[&["src"], &["dest", "path"]]),
    ("copy", &[&["dest"], &["src", "content"]]),
    ("file", &[&["path", "dest", "name"]]),
    ("lineinfile", &[&["path", "dest", "destfile", "name"]]),
    ("blockinfile", &[&["path", "dest", "destfile", "name"]]),
    ("stat", &[&["path", "dest", "name"]]),
    ("slurp", &[&["src", "path"]]),
    ("fetch", &[&["src"], &["dest"]]),
    ("get_url", &[&["url"], &["dest"]]),
    ("unarchive", &[&["src"], &["dest"]]),
    ("service", &[&["name"]]),
    ("user", &[&["name", "user"]]),
    ("group", &[&["name"]]),
    ("assert", &[&["that"]]),
];

/// How a string argument is split.
#[derive(Clone, Copy)]
pub(crate) enum FreeForm<'a> {
    /// Only `key=value` pairs are allowed.
    No,
    /// Words that are not pairs with one of these keys form `_raw_params`.
    Extract(&'a [&'a str]),
    /// Every pair is an argument; other words form `_raw_params` (a file name).
    Pairs,
    /// As `Pairs`, but other words are a problem of the task (reported; the caller decides
    /// whether it stops the run or fails the task when it runs).
    Refused,
}

/// One argument with where it was written.
#[derive(Clone)]
pub(crate) struct Arg {
    pub(crate) key: String,
    pub(crate) value: Value,
    pub(crate) pos: Pos,
}

/// Whether a value (or anything inside it) is a template, known only at run time.
fn mentions_template(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains("{{") || s.contains("{%"),
        Value::Array(items) => items.iter().any(mentions_template),
        Value::Object(m) => m.values().any(mentions_template),
        _ => false,
    }
}

/// Whether `text` is one `{{ ... }}` expression and nothing else.
fn is_whole_template(text: &str) -> bool {
    let t = text.trim();
    t.starts_with("{{") && t.ends_with("}}") && t[2..].find("}}") == Some(t.len() - 4)
}

pub(crate) fn find_arg<'a>(list: &'a [Arg], key: &str) -> Option<&'a Arg> {
    list.iter().rev().find(|a| a.key == key)
}

pub(crate) fn value_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True".into() } else { "False".into() }),
        _ => None,
    }
}

fn value_truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => etcdplay_source::parse_bool(s).unwrap_or(false),
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        _ => false,
    }
}

pub(crate) fn looked_in(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| {
            if d.as_os_str().is_empty() {
                ".".to_string()
            } else {
                show(d)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Loader<'_> {
    /// The task's kind from its action.
    pub(crate) fn action(
        &mut self,
        f: &FileCtx,
        t: &mut Task,
        site: &ActionSite<'_>,
        args: Option<&Node>,
    ) -> Option<TaskKind> {
        if site.key == "action" || site.key == "local_action" {
            return self.action_keyword(f, t, site, args);
        }
        let inline: Vec<&(Node, Node)>;
        let text = match &site.value.value {
            NodeValue::Map(entries) => {
                inline = entries.iter().collect();
                None
            }
            NodeValue::Null => {
                inline = Vec::new();
                None
            }
            NodeValue::Seq(_) => {
                let got = site.value.type_name();
                let error = PlaybookError::WrongKeyType {
                    key: site.key.clone(),
                    expected: "a mapping or a k=v string",
                    got,
                };
                self.report(f, site.value.pos, error);
                return None;
            }
            _ => {
                inline = Vec::new();
                site.value.as_scalar_string()
            }
        };
        self.named_action(
            f,
            t,
            &site.key,
            site.pos,
            site.value.pos,
            text,
            inline,
            args,
        )
    }

    /// `action: copy src=a dest=b`, or `action: {module: copy, src: a}`.
    fn action_keyword(
        &mut self,
        f: &FileCtx,
        t: &mut Task,
        site: &ActionSite<'_>,
        args: Option<&Node>,
    ) -> Option<TaskKind> {
        let v = site.value;
        let (module, text, inline): (String, Option<String>, Vec<&(Node, Node)>) = match &v.value {
            NodeValue::Map(entries) => {
                let module = v.get("module").and_then(Node::as_scalar_string);
                let rest = entries
                    .iter()
                    .filter(|(k, _)| k.key_string().as_deref() != Some("module"))
                    .collect();
                match module {
                    Some(m) => (m, None, rest),
                    None => {
                        self.report(f, v.pos, PlaybookError::ActionWithoutModule);
                        return None;
                    }
                }
            }
            _ => {
                let Some(whole) = v.as_scalar_string() else {
                    self.report(f, v.pos, PlaybookError::ActionWithoutModule);
                    return None;
                };
                let whole = whole.trim_start();
                // A templated module name (`action: "{{ mod }} msg=hi"`) may hold spaces.
                let templated_end = whole
                    .strip_prefix("{{")
                    .and_then(|_| whole.find("}}"))
                    .map(|end| end + 2);
                let (module, rest) = match templated_end {
                    Some(end) => (&whole[..end], &whole[end..]),
                    None => whole.split_once(char::is_whitespace).unwrap_or((whole, "")),
                };
                if module.is_empty() {
                    self.report(f, v.pos, PlaybookError::ActionWithoutModule);
                    return None;
                }
                (
                    module.to_string(),
                    Some(rest.trim().to_string()).filter(|r| !r.is_empty()),
                    Vec::new(),
                )
            }
        };
        let short = short_name(&module);
        if !crate::task::SPECIAL_ACTIONS.contains(&short)
            && !is_template(&module)
            && !crate::ansible_names::ansible_knows(&module)
            && self.catalog.canonical(&module).is_none()
            && self.python_plugin(f, &module).is_none()
        {
            let names = self.catalog.names();
            let hint =
                Hint(did_you_mean(&module, names.iter().map(String::as_str)).map(str::to_string));
            self.report(
                f,
                v.pos,
                PlaybookError::UnknownTaskKey {
                    key: module.clone(),
                    hint,
                },
            );
            return None;
        }
        self.named_action(f, t, &module, site.pos, v.pos, text, inline, args)
    }

    #[allow(clippy::too_many_arguments)]
    fn named_action(
        &mut self,
        f: &FileCtx,
        t: &mut Task,
        written: &str,
        key_pos: Pos,
        value_pos: Pos,
        text: Option<String>,
        inline: Vec<&(Node, Node)>,
        args: Option<&Node>,
    ) -> Option<TaskKind> {
        let short = short_name(written);
        match short {
            "include_tasks" | "import_tasks" | "include" => {
                self.include_tasks(f, t, short, value_pos, text, inline, args)
            }
            "include_role" | "import_role" => {
                let allowed = if short == "import_role" {
                    IMPORT_ROLE_ARGS
                } else {
                    INCLUDE_ROLE_ARGS
                };
                let list =
                    self.collect_args(f, short, value_pos, text, &inline, args, FreeForm::No)?;
                self.check_names(f, short, &list, allowed);
                self.include_role(f, t, short, value_pos, &list)
            }
            "include_vars" => {
                let list =
                    self.collect_args(f, short, value_pos, text, &inline, args, FreeForm::Pairs)?;
                self.check_names(f, short, &list, INCLUDE_VARS_ARGS);
                self.include_vars(f, short, value_pos, list)
            }
            "meta" => {
                let value = text.unwrap_or_default();
                if !META_ACTIONS.contains(&value.as_str()) {
                    let hint = Hint(
                        did_you_mean(&value, META_ACTIONS.iter().copied()).map(str::to_string),
                    );
                    self.report(f, value_pos, PlaybookError::UnknownMeta { value, hint });
                    return None;
                }
                Some(TaskKind::Meta(value))
            }
            "import_playbook" => {
                self.report(f, key_pos, PlaybookError::ImportPlaybookInTasks);
                None
            }
            _ => self.module(f, written, value_pos, text, &inline, args),
        }
    }

    fn module(
        &mut self,
        f: &FileCtx,
        written: &str,
        value_pos: Pos,
        text: Option<String>,
        inline: &[&(Node, Node)],
        args: Option<&Node>,
    ) -> Option<TaskKind> {
        if is_template(written) {
            return self.templated_module(f, written, value_pos, text, inline, args);
        }
        let Some(canonical) = self.catalog.canonical(written) else {
            // A module Ansible has and etcdplay does not run: the task fails if it runs.
            // So does a Python plugin beside the playbook or a role.
            let error = match self.python_plugin(f, written) {
                Some(file) => PlaybookError::PythonPlugin {
                    module: written.to_string(),
                    file: crate::loader::show(&file),
                },
                None => PlaybookError::NotImplemented {
                    module: written.to_string(),
                },
            };
            let mark = self.diags.len();
            self.report(f, value_pos, error);
            self.defer_since(mark);
            return self.templated_module(f, written, value_pos, text, inline, args);
        };
        // `assert: "{{ item }}"`: the whole argument string is a template that gives the
        // arguments (a mapping) when the task runs.
        if let Some(whole) = text.as_deref().filter(|t| is_whole_template(t)) {
            if !self.catalog.free_form(&canonical) {
                let mut map = Map::new();
                map.insert("_raw_params".into(), Value::String(whole.to_string()));
                return Some(TaskKind::Module(ModuleCall {
                    name: canonical,
                    args: map,
                    args_origin: f.origin(value_pos),
                }));
            }
        }
        let names = self.catalog.arg_names(&canonical);
        let extract: Vec<&str> = RAW_EXTRACT
            .iter()
            .copied()
            .filter(|k| names.as_ref().is_none_or(|n| n.contains(k)))
            .collect();
        let mode = if self.catalog.free_form(&canonical) {
            FreeForm::Extract(&extract)
        } else if self.catalog.raw_params(&canonical) {
            FreeForm::Pairs
        } else {
            FreeForm::Refused
        };
        let start = self.diags.len();
        let list = self.collect_args(f, &canonical, value_pos, text, inline, args, mode)?;
        // Words that are not pairs: Ansible's task fails when it runs ("Action
        // 'ansible.builtin.copy' does not support raw params."); the problem, reported last
        // by `collect_args`, is a warning until then.
        let refused_words =
            matches!(mode, FreeForm::Refused) && find_arg(&list, "_raw_params").is_some();
        if refused_words {
            self.defer_since(self.diags.len().saturating_sub(1));
        }
        // What follows concerns the arguments' names and values: Ansible's module refuses them
        // when the task runs (a failure `ignore_errors`, `failed_when` and `rescue` see, and
        // roles and tests provoke on purpose), so they are warnings until then.
        let before = self.diags.len();
        if let Some(names) = &names {
            // Free-form words kept for an action that takes no `_raw_params`: its valid
            // options refuse them (`raw_params` actions are action plugins, which name the
            // action as written: "Invalid options for ansible.builtin.group_by: _raw_params").
            let unlisted_words = find_arg(&list, "_raw_params")
                .filter(|_| matches!(mode, FreeForm::Pairs) && !names.contains(&"_raw_params"));
            if let Some(words) = unlisted_words {
                let error = PlaybookError::RawParamsNotAnOption {
                    action: written.to_string(),
                };
                self.report(f, words.pos, error);
            }
            // Refused free-form words were reported above.
            let reported = matches!(mode, FreeForm::Refused) || unlisted_words.is_some();
            let named: Vec<Arg> = list
                .iter()
                .filter(|a| !(reported && a.key == "_raw_params"))
                .cloned()
                .collect();
            self.check_names(f, &canonical, &named, names);
        }
        for a in list.iter().filter(|a| !mentions_template(&a.value)) {
            if let Some(message) = self.catalog.check_value(&canonical, &a.key, &a.value) {
                let error = PlaybookError::BadArgumentValue {
                    module: canonical.clone(),
                    arg: a.key.clone(),
                    message,
                };
                self.report(f, a.pos, error);
            }
        }
        if canonical == "set_fact" {
            for a in &list {
                // A templated name (`"path_{{ idx }}": ...`) is checked when it is rendered.
                if a.key != "cacheable" && !is_identifier(&a.key) && !is_template(&a.key) {
                    self.report(
                        f,
                        a.pos,
                        PlaybookError::BadVariableName { key: a.key.clone() },
                    );
                }
            }
        }
        // After a misspelt or malformed argument, "needs `dest`" would only repeat the problem;
        // under `module_defaults` the argument may come from them when the task runs.
        let args_ok =
            self.diags.len() == start && !refused_words && self.module_defaults_depth == 0;
        if let Some((_, groups)) = REQUIRED
            .iter()
            .find(|(m, _)| *m == canonical)
            .filter(|_| args_ok)
        {
            for group in *groups {
                if !group.iter().any(|k| find_arg(&list, k).is_some()) {
                    let arg = group
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(" or ");
                    self.report(
                        f,
                        value_pos,
                        PlaybookError::MissingArgument {
                            action: canonical.clone(),
                            arg,
                        },
                    );
                }
            }
        }
        if canonical == "template" || canonical == "copy" {
            self.check_source(f, &canonical, &list);
        }
        self.defer_since(before);
        let mut map = Map::new();
        for a in list {
            map.insert(a.key, a.value);
        }
        Some(TaskKind::Module(ModuleCall {
            name: canonical,
            args: map,
            args_origin: f.origin(value_pos),
        }))
    }

    /// A module named by a template (`action: "{{ mod }} k=v"`), or one etcdplay does not run:
    /// its arguments are kept as written (pairs, other words as `_raw_params`).
    fn templated_module(
        &mut self,
        f: &FileCtx,
        written: &str,
        value_pos: Pos,
        text: Option<String>,
        inline: &[&(Node, Node)],
        args: Option<&Node>,
    ) -> Option<TaskKind> {
        let list = self.collect_args(f, written, value_pos, text, inline, args, FreeForm::Pairs)?;
        let mut map = Map::new();
        for a in list {
            map.insert(a.key, a.value);
        }
        Some(TaskKind::Module(ModuleCall {
            name: written.to_string(),
            args: map,
            args_origin: f.origin(value_pos),
        }))
    }

    /// Gathers `args:` and then the inline arguments (which win, as in Ansible).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn collect_args(
        &mut self,
        f: &FileCtx,
        action: &str,
        value_pos: Pos,
        text: Option<String>,
        inline: &[&(Node, Node)],
        args: Option<&Node>,
        mode: FreeForm<'_>,
    ) -> Option<Vec<Arg>> {
        let mut list = Vec::new();
        if let Some(a) = args {
            for (k, v) in self.entries(f, "args", a) {
                list.push(Arg {
                    key: k.key_string().unwrap_or_default(),
                    value: v.to_json(),
                    pos: k.pos,
                });
            }
        }
        for (k, v) in inline {
            list.push(Arg {
                key: k.key_string().unwrap_or_default(),
                value: v.to_json(),
                pos: k.pos,
            });
        }
        let Some(text) = text else { return Some(list) };
        let words = match split_args(&text) {
            Ok(w) => w,
            Err(e) => {
                self.report(
                    f,
                    value_pos,
                    PlaybookError::BadKeyValue {
                        message: e.message().to_string(),
                    },
                );
                return None;
            }
        };
        let mut raw = Vec::new();
        let mut raw_pos = None;
        for (offset, w) in words {
            let word_pos = self.word_pos(f, value_pos, &text, offset);
            match (pair_split(&w), mode) {
                (Some((k, v)), FreeForm::No | FreeForm::Pairs | FreeForm::Refused) => {
                    list.push(Arg {
                        key: k,
                        value: Value::String(v),
                        pos: word_pos,
                    })
                }
                (Some((k, v)), FreeForm::Extract(keys)) if keys.contains(&k.as_str()) => {
                    list.push(Arg {
                        key: k,
                        value: Value::String(v),
                        pos: word_pos,
                    })
                }
                _ => {
                    raw_pos.get_or_insert(word_pos);
                    raw.push(w)
                }
            }
        }
        if !raw.is_empty() {
            match mode {
                FreeForm::Extract(_) | FreeForm::Pairs => list.push(Arg {
                    key: "_raw_params".into(),
                    value: Value::String(join_args(&raw)),
                    pos: value_pos,
                }),
                FreeForm::No | FreeForm::Refused => {
                    let text = join_args(&raw);
                    let error = PlaybookError::NoFreeForm {
                        module: action.to_string(),
                        text: text.trim_end().to_string(),
                    };
                    self.report(f, raw_pos.unwrap_or(value_pos), error);
                    if matches!(mode, FreeForm::Refused) {
                        list.push(Arg {
                            key: "_raw_params".into(),
                            value: Value::String(text),
                            pos: value_pos,
                        });
                    }
                }
            }
        }
        Some(list)
    }

    pub(crate) fn check_names(
        &mut self,
        f: &FileCtx,
        action: &str,
        list: &[Arg],
        allowed: &[&str],
    ) {
        for a in list {
            if !allowed.contains(&a.key.as_str()) {
                let candidates = allowed.iter().copied().filter(|k| !k.starts_with('_'));
                let hint = Hint(did_you_mean(&a.key, candidates).map(str::to_string));
                let error = PlaybookError::UnknownArgument {
                    module: action.to_string(),
                    arg: a.key.clone(),
                    hint,
                };
                self.report(f, a.pos, error);
            }
        }
    }

    /// A literal `src` of `template`/`copy` must exist where Ansible would look for it.
    fn check_source(&mut self, f: &FileCtx, module: &str, list: &[Arg]) {
        let Some(src) = find_arg(list, "src") else {
            return;
        };
        let Some(name) = value_string(&src.value) else {
            return;
        };
        if is_template(&name) || name.is_empty() {
            return;
        }
        if module == "copy"
            && find_arg(list, "remote_src").is_some_and(|a| {
                value_truthy(&a.value) || value_string(&a.value).is_some_and(|s| is_template(&s))
            })
        {
            return;
        }
        let (what, sub) = if module == "template" {
            ("template source", "templates")
        } else {
            ("copy source", "files")
        };
        let path = Path::new(&name);
        let dirs = if path.is_absolute() {
            vec![path.parent().map(Path::to_path_buf).unwrap_or_default()]
        } else {
            let mut d = Vec::new();
            if let Some(r) = &f.role {
                d.push(r.path.join(sub));
                d.push(r.path.clone());
            }
            d.extend([
                f.dir.join(sub),
                f.dir.clone(),
                f.playbook_dir.join(sub),
                f.playbook_dir.clone(),
            ]);
            dedup(d)
        };
        if path.is_absolute() && path.exists()
            || !path.is_absolute() && dirs.iter().any(|d| d.join(path).exists())
        {
            return;
        }
        let error = PlaybookError::FileNotFound {
            what,
            name,
            looked_in: looked_in(&dirs),
        };
        self.report(f, src.pos, error);
    }
}
