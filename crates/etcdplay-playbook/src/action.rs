//! A task's action: a module call with its arguments (inline k=v, a mapping, `args:`), or one of
//! the actions the parser handles itself (`include_tasks`, `import_tasks`, `include_role`,
//! `import_role`, `include_vars`, `meta`). Module names and argument names are checked against
//! the catalog; literal `template`/`copy` sources are looked up on disk; static imports are
//! parsed in place.

use std::path::{Path, PathBuf};

use etcdplay_source::{did_you_mean, Node, NodeValue, Pos};
use serde_json::Value;

use crate::error::Hint;
use crate::kv::{pair_split, split_words};
use crate::loader::{dedup, show, FileCtx, Loader, MAX_DEPTH};
use crate::model::{
    IncludeRole, IncludeTasks, IncludeVars, Map, ModuleCall, RoleSelectors, Task, TaskKind,
    VarsSource,
};
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

const INCLUDE_TASKS_ARGS: &[&str] = &["file", "_raw_params", "apply"];
const IMPORT_TASKS_ARGS: &[&str] = &["file", "_raw_params"];
const INCLUDE_ROLE_ARGS: &[&str] = &[
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
const IMPORT_ROLE_ARGS: &[&str] = &[
    "name",
    "tasks_from",
    "vars_from",
    "defaults_from",
    "handlers_from",
    "allow_duplicates",
    "rolespec_validate",
];
const INCLUDE_VARS_ARGS: &[&str] = &[
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
enum FreeForm<'a> {
    /// Only `key=value` pairs are allowed.
    No,
    /// Words that are not pairs with one of these keys form `_raw_params`.
    Extract(&'a [&'a str]),
}

/// One argument with where it was written.
struct Arg {
    key: String,
    value: Value,
    pos: Pos,
}

fn find_arg<'a>(list: &'a [Arg], key: &str) -> Option<&'a Arg> {
    list.iter().rev().find(|a| a.key == key)
}

fn value_string(v: &Value) -> Option<String> {
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

fn looked_in(dirs: &[PathBuf]) -> String {
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
                let (module, rest) = whole.split_once(char::is_whitespace).unwrap_or((whole, ""));
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
            && self.catalog.canonical(&module).is_none()
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
                let list = self.collect_args(
                    f,
                    short,
                    value_pos,
                    text,
                    &inline,
                    args,
                    FreeForm::Extract(INCLUDE_VARS_ARGS),
                )?;
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
        let canonical = self.catalog.canonical(written)?;
        let names = self.catalog.arg_names(&canonical);
        let extract: Vec<&str> = RAW_EXTRACT
            .iter()
            .copied()
            .filter(|k| names.as_ref().is_none_or(|n| n.contains(k)))
            .collect();
        let mode = if self.catalog.free_form(&canonical) {
            FreeForm::Extract(&extract)
        } else {
            FreeForm::No
        };
        let before = self.diags.len();
        let list = self.collect_args(f, &canonical, value_pos, text, inline, args, mode)?;
        if let Some(names) = &names {
            self.check_names(f, &canonical, &list, names);
        }
        if canonical == "set_fact" {
            for a in &list {
                if a.key != "cacheable" && !is_identifier(&a.key) {
                    self.report(
                        f,
                        a.pos,
                        PlaybookError::BadVariableName { key: a.key.clone() },
                    );
                }
            }
        }
        // After a misspelt or malformed argument, "needs `dest`" would only repeat the problem.
        let args_ok = self.diags.len() == before;
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

    /// Gathers `args:` and then the inline arguments (which win, as in Ansible).
    #[allow(clippy::too_many_arguments)]
    fn collect_args(
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
        let words = match split_words(&text) {
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
        for w in words {
            match (pair_split(&w), mode) {
                (Some((k, v)), FreeForm::No) => list.push(Arg {
                    key: k,
                    value: Value::String(v),
                    pos: value_pos,
                }),
                (Some((k, v)), FreeForm::Extract(keys)) if keys.contains(&k.as_str()) => {
                    list.push(Arg {
                        key: k,
                        value: Value::String(v),
                        pos: value_pos,
                    })
                }
                _ => raw.push(w),
            }
        }
        if !raw.is_empty() {
            match mode {
                FreeForm::Extract(_) => list.push(Arg {
                    key: "_raw_params".into(),
                    value: Value::String(raw.join(" ")),
                    pos: value_pos,
                }),
                FreeForm::No => {
                    let error = PlaybookError::NoFreeForm {
                        module: action.to_string(),
                        text: raw.join(" "),
                    };
                    self.report(f, value_pos, error);
                }
            }
        }
        Some(list)
    }

    fn check_names(&mut self, f: &FileCtx, action: &str, list: &[Arg], allowed: &[&str]) {
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

    #[allow(clippy::too_many_arguments)]
    fn include_tasks(
        &mut self,
        f: &FileCtx,
        t: &mut Task,
        short: &str,
        value_pos: Pos,
        text: Option<String>,
        inline: Vec<&(Node, Node)>,
        args: Option<&Node>,
    ) -> Option<TaskKind> {
        let is_static = short == "import_tasks";
        let allowed = if is_static {
            IMPORT_TASKS_ARGS
        } else {
            INCLUDE_TASKS_ARGS
        };
        // `include_tasks: "{{ x }} y.yml"` is one file name; only the legacy `include` takes
        // `file.yml a=1` with variables after the name.
        let (text, legacy_vars) = match (short, text) {
            ("include", Some(s)) => {
                let mut file = Vec::new();
                let mut vars = Vec::new();
                match split_words(&s) {
                    Ok(words) => {
                        for w in words {
                            match pair_split(&w) {
                                Some(p) => vars.push(p),
                                None => file.push(w),
                            }
                        }
                    }
                    Err(e) => self.report(
                        f,
                        value_pos,
                        PlaybookError::BadKeyValue {
                            message: e.message().to_string(),
                        },
                    ),
                }
                (Some(file.join(" ")), vars)
            }
            (_, s) => (s, Vec::new()),
        };
        for (k, v) in legacy_vars {
            t.vars.insert(k, Value::String(v));
        }
        let mut list = self.collect_args(f, short, value_pos, None, &inline, args, FreeForm::No)?;
        if let Some(s) = text {
            list.push(Arg {
                key: "file".into(),
                value: Value::String(s.trim().to_string()),
                pos: value_pos,
            });
        }
        self.check_names(f, short, &list, allowed);
        let file = find_arg(&list, "file")
            .or_else(|| find_arg(&list, "_raw_params"))
            .and_then(|a| value_string(&a.value));
        let Some(file) = file.filter(|s| !s.is_empty()) else {
            let error = PlaybookError::MissingArgument {
                action: short.to_string(),
                arg: "`file`".into(),
            };
            self.report(f, value_pos, error);
            return None;
        };
        let apply = match find_arg(&list, "apply").map(|a| (&a.value, a.pos)) {
            Some((Value::Object(m), _)) => m.clone(),
            Some((other, pos)) => {
                let got = if other.is_array() { "list" } else { "scalar" };
                let error = PlaybookError::WrongKeyType {
                    key: "apply".into(),
                    expected: "a mapping",
                    got,
                };
                self.report(f, pos, error);
                Map::new()
            }
            None => Map::new(),
        };
        if is_static {
            if let Some(l) = &t.loop_ {
                let key = match &l.kind {
                    crate::model::LoopKind::Loop => "loop".to_string(),
                    crate::model::LoopKind::With(x) => format!("with_{x}"),
                };
                let error = PlaybookError::NotWithInclude {
                    key,
                    action: short.to_string(),
                };
                self.report(f, l.origin_pos(), error);
            }
        }
        let context = f.include_context();
        let tasks = if is_template(&file) {
            if is_static {
                let error = PlaybookError::TemplatedImport {
                    key: short.to_string(),
                    dynamic: "include_tasks",
                };
                self.report(f, value_pos, error);
            }
            None
        } else {
            match crate::find_task_file(&file, &context) {
                None => {
                    let error = PlaybookError::FileNotFound {
                        what: "task file",
                        name: file.clone(),
                        looked_in: looked_in(&context.search_dirs),
                    };
                    self.report(f, value_pos, error);
                    None
                }
                Some(path) => self.nested_task_file(f, &path, is_static, value_pos),
            }
        };
        let tasks = if is_static {
            Some(tasks.unwrap_or_default())
        } else {
            tasks
        };
        Some(TaskKind::IncludeTasks(IncludeTasks {
            file,
            is_static,
            tasks,
            apply,
            context,
        }))
    }

    /// Parses a task file included from `f`, refusing cycles for imports (a dynamic include may
    /// legitimately recurse under a condition, so it is simply not pre-parsed again).
    fn nested_task_file(
        &mut self,
        f: &FileCtx,
        path: &Path,
        is_static: bool,
        pos: Pos,
    ) -> Option<Vec<crate::Task>> {
        if self.is_open(path) {
            if is_static {
                let chain = self.open_chain();
                self.report(
                    f,
                    pos,
                    PlaybookError::IncludeCycle {
                        file: show(path),
                        chain,
                    },
                );
            }
            return None;
        }
        if self.file_stack.len() > MAX_DEPTH {
            self.report(f, pos, PlaybookError::TooDeep { limit: MAX_DEPTH });
            return None;
        }
        self.task_file(path, &f.playbook_dir, f.role.clone())
    }

    fn include_role(
        &mut self,
        f: &FileCtx,
        t: &Task,
        short: &str,
        value_pos: Pos,
        list: &[Arg],
    ) -> Option<TaskKind> {
        let is_static = short == "import_role";
        let string_arg = |this: &mut Self, key: &str| -> Option<String> {
            let a = find_arg(list, key)?;
            let s = value_string(&a.value);
            if s.is_none() {
                let error = PlaybookError::WrongKeyType {
                    key: key.to_string(),
                    expected: "a string",
                    got: "a collection",
                };
                this.report(f, a.pos, error);
            }
            s
        };
        let Some(name) = string_arg(self, "name") else {
            let error = PlaybookError::MissingArgument {
                action: short.to_string(),
                arg: "`name`".into(),
            };
            self.report(f, value_pos, error);
            return None;
        };
        let selectors = RoleSelectors {
            tasks_from: string_arg(self, "tasks_from"),
            vars_from: string_arg(self, "vars_from"),
            defaults_from: string_arg(self, "defaults_from"),
            handlers_from: string_arg(self, "handlers_from"),
        };
        let public = find_arg(list, "public").and_then(|a| match &a.value {
            Value::Bool(b) => Some(crate::Flag::Bool(*b)),
            Value::String(s) if is_template(s) => Some(crate::Flag::Template(s.clone())),
            other => value_string(other)
                .and_then(|s| etcdplay_source::parse_bool(&s))
                .map(crate::Flag::Bool),
        });
        let apply = match find_arg(list, "apply").map(|a| &a.value) {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        if is_static {
            if let Some(l) = &t.loop_ {
                let error = PlaybookError::NotWithInclude {
                    key: "loop".into(),
                    action: short.to_string(),
                };
                self.report(f, l.origin_pos(), error);
            }
        }
        let templated = is_template(&name)
            || [
                &selectors.tasks_from,
                &selectors.vars_from,
                &selectors.defaults_from,
                &selectors.handlers_from,
            ]
            .iter()
            .any(|s| s.as_deref().is_some_and(is_template));
        let role = if templated {
            if is_static {
                let error = PlaybookError::TemplatedImport {
                    key: short.to_string(),
                    dynamic: "include_role",
                };
                self.report(f, value_pos, error);
            }
            None
        } else {
            self.role_by_name(f, &name, &selectors, value_pos, is_static)
                .map(Box::new)
        };
        let context = f.include_context();
        Some(TaskKind::IncludeRole(IncludeRole {
            name,
            selectors,
            is_static,
            public,
            apply,
            role,
            context,
        }))
    }

    fn include_vars(
        &mut self,
        f: &FileCtx,
        short: &str,
        value_pos: Pos,
        list: Vec<Arg>,
    ) -> Option<TaskKind> {
        let file = find_arg(&list, "file")
            .or_else(|| find_arg(&list, "_raw_params"))
            .and_then(|a| value_string(&a.value));
        let dir = find_arg(&list, "dir").and_then(|a| value_string(&a.value));
        let name = find_arg(&list, "name").and_then(|a| value_string(&a.value));
        let source = match (file, dir) {
            (Some(file), _) => VarsSource::File(file),
            (None, Some(dir)) => VarsSource::Dir(dir),
            (None, None) => {
                let error = PlaybookError::MissingArgument {
                    action: short.to_string(),
                    arg: "`file` or `dir`".into(),
                };
                self.report(f, value_pos, error);
                return None;
            }
        };
        let mut context = f.include_context();
        let mut dirs = Vec::new();
        if let Some(r) = &f.role {
            dirs.push(r.path.join("vars"));
        }
        dirs.extend([
            f.dir.join("vars"),
            f.dir.clone(),
            f.playbook_dir.join("vars"),
            f.playbook_dir.clone(),
        ]);
        context.search_dirs = dedup(dirs);
        let (wanted, what) = match &source {
            VarsSource::File(s) => (s, "vars file"),
            VarsSource::Dir(s) => (s, "vars directory"),
        };
        if !is_template(wanted) {
            let p = Path::new(wanted);
            let found = if p.is_absolute() {
                p.exists()
            } else {
                context.search_dirs.iter().any(|d| d.join(p).exists())
            };
            if !found {
                let error = PlaybookError::FileNotFound {
                    what,
                    name: wanted.clone(),
                    looked_in: looked_in(&context.search_dirs),
                };
                self.report(f, value_pos, error);
            }
        }
        let mut args = Map::new();
        for a in list {
            if !matches!(a.key.as_str(), "file" | "_raw_params" | "dir" | "name") {
                args.insert(a.key, a.value);
            }
        }
        Some(TaskKind::IncludeVars(IncludeVars {
            source,
            name,
            args,
            context,
        }))
    }
}

impl crate::model::Loop {
    fn origin_pos(&self) -> Pos {
        Pos {
            line: self.origin.line,
            col: self.origin.col,
        }
    }
}
