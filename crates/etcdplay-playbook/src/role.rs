//! Roles: finding a role directory on the search path (with "did you mean" over the roles that
//! exist), loading its defaults, vars, tasks, handlers and `meta/main.yml` dependencies, and
//! reading role references as written in `roles:` and `dependencies:`.

use std::path::{Path, PathBuf};

use etcdplay_source::{did_you_mean, Node, NodeValue, Pos};
use serde_json::Value;

use crate::error::Hint;
use crate::loader::{dedup, show, FileCtx, Loader, MAX_DEPTH};
use crate::model::{Map, Role, RoleRef, RoleScope, RoleSelectors, Task};
use crate::values::is_template;
use crate::PlaybookError;

/// Role keywords Ansible applies to the role's tasks but this model keeps as written.
const ROLE_EXTRA_KEYWORDS: &[&str] = &[
    "become_method",
    "become_flags",
    "become_exe",
    "check_mode",
    "diff",
    "connection",
    "remote_user",
    "port",
    "debugger",
    "module_defaults",
    "collections",
    "ignore_unreachable",
    "throttle",
    "timeout",
];

/// The file for `main` (or a `tasks_from` name) in a role subdirectory: as named, or with one of
/// the extensions Ansible tries.
fn role_file(dir: &Path, name: &str) -> Option<PathBuf> {
    ["", ".yml", ".yaml", ".json"]
        .iter()
        .map(|ext| dir.join(format!("{name}{ext}")))
        .find(|p| p.is_file())
}

impl Loader<'_> {
    /// Directories searched for a role named from `f`.
    fn role_dirs(&self, f: &FileCtx) -> Vec<PathBuf> {
        let mut dirs = vec![f.playbook_dir.join("roles"), f.playbook_dir.clone()];
        dirs.extend(self.opts.role_paths.iter().cloned());
        // A dependency may also sit next to the role that needs it.
        if let Some(parent) = f.role.as_ref().and_then(|r| r.path.parent()) {
            dirs.push(parent.to_path_buf());
        }
        dedup(dirs)
    }

    /// Loads the role `name` as named from file `f`; reports it missing or cyclic.
    pub(crate) fn role_by_name(
        &mut self,
        f: &FileCtx,
        name: &str,
        selectors: &RoleSelectors,
        pos: Pos,
        cycle_is_error: bool,
    ) -> Option<Role> {
        let dirs = self.role_dirs(f);
        let found = if Path::new(name).is_absolute() {
            Some(PathBuf::from(name)).filter(|p| p.is_dir())
        } else {
            dirs.iter().map(|d| d.join(name)).find(|p| p.is_dir())
        };
        let Some(path) = found else {
            let existing = existing_roles(&dirs);
            let hint =
                Hint(did_you_mean(name, existing.iter().map(String::as_str)).map(str::to_string));
            let looked_in = dirs.iter().map(|d| {
                if d.as_os_str().is_empty() {
                    ".".into()
                } else {
                    show(d)
                }
            });
            let looked_in = looked_in.collect::<Vec<_>>().join(", ");
            self.report(
                f,
                pos,
                PlaybookError::RoleNotFound {
                    name: name.to_string(),
                    looked_in,
                    hint,
                },
            );
            return None;
        };
        let key = Loader::file_key(&path);
        if self
            .role_stack
            .iter()
            .any(|(_, p, chosen)| *p == key && chosen == selectors)
        {
            if cycle_is_error {
                let mut chain: Vec<String> =
                    self.role_stack.iter().map(|(n, _, _)| n.clone()).collect();
                chain.push(name.to_string());
                self.report(
                    f,
                    pos,
                    PlaybookError::RoleCycle {
                        chain: chain.join(" -> "),
                    },
                );
            }
            return None;
        }
        if self.role_stack.len() > MAX_DEPTH {
            self.report(f, pos, PlaybookError::TooDeep { limit: MAX_DEPTH });
            return None;
        }
        let role_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_string());
        self.role_stack
            .push((role_name.clone(), key, selectors.clone()));
        let role = self.load_role_dir(f, &path, &role_name, selectors, pos);
        self.role_stack.pop();
        Some(role)
    }

    fn load_role_dir(
        &mut self,
        f: &FileCtx,
        path: &Path,
        name: &str,
        sel: &RoleSelectors,
        pos: Pos,
    ) -> Role {
        let scope = RoleScope {
            name: name.to_string(),
            path: path.to_path_buf(),
        };
        let pb = f.playbook_dir.clone();
        let pick = |this: &mut Self, sub: &str, chosen: &Option<String>| -> Option<PathBuf> {
            let wanted = chosen.as_deref().unwrap_or("main");
            let found = role_file(&path.join(sub), wanted);
            if found.is_none() && chosen.is_some() {
                let looked_in = show(&path.join(sub));
                let error = PlaybookError::FileNotFound {
                    what: "role file",
                    name: wanted.to_string(),
                    looked_in,
                };
                this.report(f, pos, error);
            }
            found
        };
        let defaults_file = pick(self, "defaults", &sel.defaults_from);
        let vars_file = pick(self, "vars", &sel.vars_from);
        let tasks_file = pick(self, "tasks", &sel.tasks_from);
        let handlers_file = pick(self, "handlers", &sel.handlers_from);
        let defaults = defaults_file
            .map(|p| self.vars_file(&p, &pb, &scope))
            .unwrap_or_default();
        let vars = vars_file
            .map(|p| self.vars_file(&p, &pb, &scope))
            .unwrap_or_default();
        let (dependencies, allow_duplicates) = match role_file(&path.join("meta"), "main") {
            Some(meta) => self.role_meta(&meta, &pb, &scope),
            None => (Vec::new(), false),
        };
        // As Ansible: the role's plugins are found after its dependencies are loaded and
        // before its own tasks.
        if !self.plugin_dirs.iter().any(|d| d == path) {
            self.plugin_dirs.push(path.to_path_buf());
        }
        let tasks = tasks_file
            .and_then(|p| self.task_file(&p, &pb, Some(scope.clone())))
            .unwrap_or_default();
        let handlers = handlers_file
            .and_then(|p| self.handler_file(&p, &pb, &scope))
            .unwrap_or_default();
        Role {
            name: name.to_string(),
            path: path.to_path_buf(),
            defaults,
            vars,
            tasks,
            handlers,
            dependencies,
            allow_duplicates,
            templates_dir: path.join("templates"),
            files_dir: path.join("files"),
        }
    }

    /// A role's `defaults/` or `vars/` file: a mapping of variables.
    fn vars_file(&mut self, path: &Path, playbook_dir: &Path, scope: &RoleScope) -> Map {
        let Some(node) = self.read_yaml(path) else {
            return Map::new();
        };
        let f = FileCtx::new(path, playbook_dir, Some(scope.clone()));
        if node.as_map().is_none() && !node.is_null() {
            let error = PlaybookError::WrongType {
                expected: "a mapping of variables",
                got: node.type_name(),
            };
            self.report(&f, node.pos, error);
            return Map::new();
        }
        self.vars(&f, "vars", &node)
    }

    fn role_meta(
        &mut self,
        path: &Path,
        playbook_dir: &Path,
        scope: &RoleScope,
    ) -> (Vec<RoleRef>, bool) {
        let Some(node) = self.read_yaml(path) else {
            return (Vec::new(), false);
        };
        let f = FileCtx::new(path, playbook_dir, Some(scope.clone()));
        if node.is_null() {
            return (Vec::new(), false);
        }
        if node.as_map().is_none() {
            self.report(
                &f,
                node.pos,
                PlaybookError::WrongType {
                    expected: "a mapping",
                    got: node.type_name(),
                },
            );
            return (Vec::new(), false);
        }
        let allow = node
            .get("allow_duplicates")
            .and_then(|v| self.flag(&f, "allow_duplicates", v));
        let mut deps = Vec::new();
        if let Some(list) = node.get("dependencies") {
            for item in self.items(&f, "dependencies", list) {
                if let Some(r) = self.role_ref(&f, item) {
                    deps.push(r);
                }
            }
        }
        (deps, allow.and_then(|a| a.as_bool()).unwrap_or(false))
    }

    /// Parses a task file (a list of tasks; empty is fine) as part of `role`, if any.
    pub(crate) fn task_file(
        &mut self,
        path: &Path,
        playbook_dir: &Path,
        role: Option<RoleScope>,
    ) -> Option<Vec<Task>> {
        self.list_file(path, playbook_dir, role, false)
    }

    fn handler_file(
        &mut self,
        path: &Path,
        playbook_dir: &Path,
        role: &RoleScope,
    ) -> Option<Vec<Task>> {
        self.list_file(path, playbook_dir, Some(role.clone()), true)
    }

    pub(crate) fn list_file(
        &mut self,
        path: &Path,
        playbook_dir: &Path,
        role: Option<RoleScope>,
        handlers: bool,
    ) -> Option<Vec<Task>> {
        self.enter_file(path);
        let node = self.read_yaml(path);
        let f = FileCtx::new(path, playbook_dir, role);
        let tasks = node.map(|n| {
            if n.as_seq().is_none() && !n.is_null() {
                let error = PlaybookError::WrongType {
                    expected: "a list of tasks",
                    got: n.type_name(),
                };
                self.report(&f, n.pos, error);
                return Vec::new();
            }
            self.task_list(&f, "tasks", &n, handlers)
        });
        self.leave_file();
        tasks
    }

    /// A role as written in `roles:` or `dependencies:`: a name, or a mapping with `role:`
    /// (or `name:`), keywords, and parameters.
    pub(crate) fn role_ref(&mut self, f: &FileCtx, node: &Node) -> Option<RoleRef> {
        let origin = f.origin(node.pos);
        let mut r = RoleRef {
            name: String::new(),
            params: Map::new(),
            when: Vec::new(),
            tags: Vec::new(),
            become_: None,
            become_user: None,
            delegate_to: None,
            environment: Value::Null,
            ignore_errors: None,
            no_log: None,
            run_once: None,
            any_errors_fatal: None,
            extra: Map::new(),
            role: Role::placeholder(),
            origin,
        };
        let mut name: Option<(String, Pos)> = None;
        let mut vars = Map::new();
        match &node.value {
            NodeValue::Map(entries) => {
                for (k, v) in entries {
                    let key = k.key_string().unwrap_or_default();
                    match key.as_str() {
                        "role" | "name" => name = self.string(f, &key, v).map(|s| (s, v.pos)),
                        "when" => r.when = self.conditions(f, &key, v),
                        "tags" => r.tags = self.tags(f, v),
                        "vars" => vars = self.vars(f, &key, v),
                        "become" => r.become_ = self.flag(f, &key, v),
                        "become_user" => r.become_user = self.string(f, &key, v),
                        "delegate_to" => r.delegate_to = self.string(f, &key, v),
                        "environment" => r.environment = self.environment(f, v),
                        "ignore_errors" => r.ignore_errors = self.flag(f, &key, v),
                        "no_log" => r.no_log = self.flag(f, &key, v),
                        "run_once" => r.run_once = self.flag(f, &key, v),
                        "any_errors_fatal" => r.any_errors_fatal = self.flag(f, &key, v),
                        k2 if ROLE_EXTRA_KEYWORDS.contains(&k2) => {
                            if k2 == "become_method" {
                                self.become_method(f, &key, v);
                            }
                            r.extra.insert(key.clone(), v.to_json());
                        }
                        _ => {
                            r.params.insert(key.clone(), v.to_json());
                        }
                    }
                }
            }
            NodeValue::Seq(_) | NodeValue::Null => {
                let error = PlaybookError::WrongType {
                    expected: "a role name or a mapping",
                    got: node.type_name(),
                };
                self.report(f, node.pos, error);
                return None;
            }
            _ => name = node.as_scalar_string().map(|s| (s, node.pos)),
        }
        for (k, v) in vars {
            r.params.insert(k, v);
        }
        let Some((name, pos)) = name else {
            self.report(f, node.pos, PlaybookError::RoleWithoutName);
            return None;
        };
        if is_template(&name) {
            self.report(
                f,
                pos,
                PlaybookError::TemplatedImport {
                    key: "roles".into(),
                    dynamic: "include_role",
                },
            );
            return None;
        }
        r.role = self.role_by_name(f, &name, &RoleSelectors::default(), pos, true)?;
        r.name = name;
        Some(r)
    }
}

impl Role {
    fn placeholder() -> Role {
        Role {
            name: String::new(),
            path: PathBuf::new(),
            defaults: Map::new(),
            vars: Map::new(),
            tasks: Vec::new(),
            handlers: Vec::new(),
            dependencies: Vec::new(),
            allow_duplicates: false,
            templates_dir: PathBuf::new(),
            files_dir: PathBuf::new(),
        }
    }
}

/// Names of the role directories that exist on the search path, for suggestions.
fn existing_roles(dirs: &[PathBuf]) -> Vec<String> {
    let mut names = Vec::new();
    for d in dirs {
        let Ok(read) = std::fs::read_dir(d) else {
            continue;
        };
        for entry in read.flatten() {
            let p = entry.path();
            let looks_like_role = ["tasks", "meta", "defaults", "handlers", "vars"]
                .iter()
                .any(|s| p.join(s).is_dir());
            if looks_like_role {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}
