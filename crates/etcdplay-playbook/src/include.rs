//! The include family: `include_tasks`, `import_tasks` (and the legacy `include`),
//! `include_role`, `import_role` and `include_vars`. Imports are resolved and parsed in place
//! (refusing cycles); includes of a literal name are parsed ahead so their mistakes show before
//! any host is contacted, and every include keeps the [`crate::IncludeContext`] the engine needs
//! to resolve a templated name at run time.

use std::path::Path;

use etcdplay_source::{Node, Pos};
use serde_json::Value;

use crate::action::{
    find_arg, looked_in, value_string, Arg, FreeForm, IMPORT_TASKS_ARGS, INCLUDE_TASKS_ARGS,
};
use crate::kv::{pair_split, split_words};
use crate::loader::{dedup, show, FileCtx, Loader, MAX_DEPTH};
use crate::model::{
    IncludeRole, IncludeTasks, IncludeVars, Map, RoleSelectors, Task, TaskKind, VarsSource,
};
use crate::values::is_template;
use crate::PlaybookError;

impl Loader<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn include_tasks(
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
        // The legacy `include: file.yml a=1` passes variables after the name; the modern
        // actions take `file=x` pairs and a free-form file name (Ansible's `parse_kv`).
        let list = if short == "include" {
            let mut list =
                self.collect_args(f, short, value_pos, None, &inline, args, FreeForm::No)?;
            if let Some(s) = text {
                let words = split_words(&s).unwrap_or_else(|e| {
                    let message = e.message().to_string();
                    self.report(f, value_pos, PlaybookError::BadKeyValue { message });
                    Vec::new()
                });
                let mut file = Vec::new();
                for (_, w) in words {
                    match pair_split(&w) {
                        Some((k, v)) => {
                            t.vars.insert(k, Value::String(v));
                        }
                        None => file.push(w),
                    }
                }
                list.push(Arg {
                    key: "file".into(),
                    value: Value::String(file.join(" ")),
                    pos: value_pos,
                });
            }
            list
        } else {
            self.collect_args(f, short, value_pos, text, &inline, args, FreeForm::Pairs)?
        };
        self.check_names(f, short, &list, allowed);
        // Ansible's action drops the newline a folded `include_vars: >` leaves.
        let file = find_arg(&list, "file")
            .and_then(|a| value_string(&a.value))
            .or_else(|| {
                find_arg(&list, "_raw_params")
                    .and_then(|a| value_string(&a.value))
                    .map(|s| s.trim_end_matches('\n').to_string())
            });
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
        let mark = self.diags.len();
        // An import's templated name is rendered now, with what is known before the run.
        let file = if is_static && is_template(&file) {
            match self.import_name(f, value_pos, short, "include_tasks", &file) {
                Some(name) => name,
                None => {
                    return Some(TaskKind::IncludeTasks(IncludeTasks {
                        file,
                        is_static,
                        tasks: Some(Vec::new()),
                        apply,
                        context,
                    }))
                }
            }
        } else {
            file
        };
        let tasks = if is_template(&file) {
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
        } else if self.defer_since(mark) {
            // A dynamic include is only read when it runs (and may never run: a handler, a
            // branch for another platform): its problems fail that task then, as in Ansible.
            None
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
        let handlers = self.in_handlers;
        self.list_file(path, &f.playbook_dir, f.role.clone(), handlers)
    }

    pub(crate) fn include_role(
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
        let name = if is_static {
            self.import_name(f, value_pos, short, "include_role", &name)?
        } else {
            name
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
            let mark = self.diags.len();
            let role = self
                .role_by_name(f, &name, &selectors, value_pos, is_static)
                .map(Box::new);
            // As for `include_tasks`: a dynamically included role's problems fail the include
            // when it runs.
            if !is_static && self.defer_since(mark) {
                None
            } else {
                role
            }
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

    pub(crate) fn include_vars(
        &mut self,
        f: &FileCtx,
        short: &str,
        value_pos: Pos,
        list: Vec<Arg>,
    ) -> Option<TaskKind> {
        // Ansible's action drops the newline a folded `include_vars: >` leaves.
        let file = find_arg(&list, "file")
            .and_then(|a| value_string(&a.value))
            .or_else(|| {
                find_arg(&list, "_raw_params")
                    .and_then(|a| value_string(&a.value))
                    .map(|s| s.trim_end_matches('\n').to_string())
            });
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
        // The bases of Ansible's search (see `crate::vars_candidates`): the role, the task
        // file's directory, the playbook's.
        let mut dirs = Vec::new();
        if let Some(r) = &f.role {
            dirs.push(r.path.clone());
        }
        dirs.extend([f.dir.clone(), f.playbook_dir.clone()]);
        context.search_dirs = dedup(dirs);
        let (wanted, what) = match &source {
            VarsSource::File(s) => (s, "vars file"),
            VarsSource::Dir(s) => (s, "vars directory"),
        };
        if !is_template(wanted) {
            let candidates = crate::vars_candidates(wanted, &context.search_dirs);
            if !candidates.iter().any(|c| c.exists()) {
                // `include_vars` is a task: Ansible looks for its file when the task runs (a
                // `when:` may skip it on this platform), so a missing one fails that task then.
                let mark = self.diags.len();
                let error = PlaybookError::FileNotFound {
                    what,
                    name: wanted.clone(),
                    looked_in: looked_in(&crate::vars_search_dirs(wanted, &context.search_dirs)),
                };
                self.report(f, value_pos, error);
                self.defer_since(mark);
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
