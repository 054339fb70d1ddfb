//! Playbooks and plays: the top-level list, `import_playbook` (flattened, cycles refused), and
//! each play's keywords, task sections, roles and handlers. `serial`, `strategy` and
//! `max_fail_percentage` are checked here because a bad value would only show mid-run.

use std::path::Path;

use etcdplay_source::{did_you_mean, open_regular, Node, NodeValue, ReadProblem, MAX_TEXT_FILE};
use serde_json::Value;

use crate::error::Hint;
use crate::loader::{show, FileCtx, Loader, MAX_DEPTH};
use crate::model::{Map, Play, Serial, Strategy};
use crate::task::short_name;
use crate::values::is_template;
use crate::PlaybookError;

const PLAY_KEYWORDS: &[&str] = &[
    "name",
    "hosts",
    "gather_facts",
    "become",
    "become_user",
    "become_method",
    "remote_user",
    "connection",
    "port",
    "serial",
    "any_errors_fatal",
    "max_fail_percentage",
    "strategy",
    "ignore_errors",
    "ignore_unreachable",
    "force_handlers",
    "check_mode",
    "diff",
    "no_log",
    "run_once",
    "vars",
    "vars_files",
    "environment",
    "tags",
    "pre_tasks",
    "roles",
    "tasks",
    "post_tasks",
    "handlers",
    "gather_subset",
    "gather_timeout",
    "fact_path",
    "become_flags",
    "become_exe",
    "order",
    "vars_prompt",
    "module_defaults",
    "collections",
    "debugger",
    "throttle",
    "timeout",
];

/// Play keywords kept as written in `Play::extra`.
const PLAY_EXTRA: &[&str] = &[
    "gather_subset",
    "gather_timeout",
    "fact_path",
    "become_flags",
    "become_exe",
    "order",
    "vars_prompt",
    "module_defaults",
    "collections",
    "debugger",
    "throttle",
    "timeout",
];

impl Loader<'_> {
    /// The plays of a playbook file, imports flattened.
    pub(crate) fn playbook_file(&mut self, path: &Path) -> Vec<Play> {
        let Some(node) = self.read_yaml(path) else {
            return Vec::new();
        };
        self.enter_file(path);
        let playbook_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let f = FileCtx::new(path, &playbook_dir, None);
        let mut plays = Vec::new();
        match &node.value {
            NodeValue::Null => self.report(&f, node.pos, PlaybookError::EmptyPlaybook),
            NodeValue::Seq(items) => {
                for item in items {
                    let is_import = item.as_map().is_some_and(|m| {
                        m.iter().any(|(k, _)| {
                            k.key_string()
                                .is_some_and(|s| short_name(&s) == "import_playbook")
                        })
                    });
                    if is_import {
                        plays.extend(self.import_playbook(&f, item));
                    } else if let Some(p) = self.play(&f, item) {
                        plays.push(p);
                    }
                }
            }
            _ => self.report(
                &f,
                node.pos,
                PlaybookError::NotAPlaybook {
                    got: node.type_name(),
                },
            ),
        }
        self.leave_file();
        plays
    }

    fn import_playbook(&mut self, f: &FileCtx, node: &Node) -> Vec<Play> {
        let mut file: Option<(String, etcdplay_source::Pos)> = None;
        let mut vars = Map::new();
        let mut tags = Vec::new();
        for (k, v) in node.as_map().unwrap_or_default() {
            let key = k.key_string().unwrap_or_default();
            match key.as_str() {
                "name" => {}
                "vars" => vars = self.vars(f, &key, v),
                "tags" => tags = self.tags(f, v),
                "when" => self.report(
                    f,
                    k.pos,
                    PlaybookError::UnsupportedOnImportPlaybook { key: key.clone() },
                ),
                k2 if short_name(k2) == "import_playbook" => {
                    file = self.string(f, &key, v).map(|s| (s, v.pos))
                }
                _ => {
                    let hint = Hint(
                        did_you_mean(&key, ["name", "vars", "tags", "when"]).map(str::to_string),
                    );
                    self.report(
                        f,
                        k.pos,
                        PlaybookError::UnknownPlayKeyword {
                            key: key.clone(),
                            hint,
                        },
                    );
                }
            }
        }
        let Some((file, pos)) = file else {
            let error = PlaybookError::MissingArgument {
                action: "import_playbook".into(),
                arg: "a file name".into(),
            };
            self.report(f, node.pos, error);
            return Vec::new();
        };
        if is_template(&file) {
            self.report(f, pos, PlaybookError::TemplatedPlaybook);
            return Vec::new();
        }
        let path = f.dir.join(&file);
        if !path.is_file() {
            let looked_in = if f.dir.as_os_str().is_empty() {
                ".".to_string()
            } else {
                show(&f.dir)
            };
            self.report(
                f,
                pos,
                PlaybookError::FileNotFound {
                    what: "playbook",
                    name: file,
                    looked_in,
                },
            );
            return Vec::new();
        }
        if self.is_open(&path) {
            let chain = self.open_chain();
            self.report(
                f,
                pos,
                PlaybookError::IncludeCycle {
                    file: show(&path),
                    chain,
                },
            );
            return Vec::new();
        }
        if self.file_stack.len() > MAX_DEPTH {
            self.report(f, pos, PlaybookError::TooDeep { limit: MAX_DEPTH });
            return Vec::new();
        }
        let mut plays = self.playbook_file(&path);
        // As in Ansible, variables given to the import override the plays' own, and its tags
        // are added to every play.
        for p in &mut plays {
            for (k, v) in &vars {
                p.vars.insert(k.clone(), v.clone());
            }
            for t in &tags {
                if !p.tags.contains(t) {
                    p.tags.push(t.clone());
                }
            }
        }
        plays
    }

    fn play(&mut self, f: &FileCtx, node: &Node) -> Option<Play> {
        let defaults = crate::loader::sets_module_defaults(node);
        self.module_defaults_depth += usize::from(defaults);
        let play = self.play_entries(f, node);
        self.module_defaults_depth -= usize::from(defaults);
        play
    }

    fn play_entries(&mut self, f: &FileCtx, node: &Node) -> Option<Play> {
        let Some(entries) = node.as_map() else {
            self.report(
                f,
                node.pos,
                PlaybookError::WrongType {
                    expected: "a play (a mapping)",
                    got: node.type_name(),
                },
            );
            return None;
        };
        let mut p = Play {
            name: None,
            hosts: String::new(),
            gather_facts: None,
            become_: None,
            become_user: None,
            become_method: None,
            remote_user: None,
            connection: None,
            port: None,
            serial: Vec::new(),
            any_errors_fatal: None,
            max_fail_percentage: None,
            strategy: Strategy::Linear,
            ignore_errors: None,
            ignore_unreachable: None,
            force_handlers: None,
            check_mode: None,
            diff: None,
            no_log: None,
            run_once: None,
            extra: Map::new(),
            vars: Map::new(),
            vars_files: Vec::new(),
            environment: Value::Null,
            tags: Vec::new(),
            pre_tasks: Vec::new(),
            roles: Vec::new(),
            tasks: Vec::new(),
            post_tasks: Vec::new(),
            handlers: Vec::new(),
            origin: f.origin(node.pos),
            playbook_dir: f.playbook_dir.clone(),
        };
        let outer_vars = self.play_static_vars(f, node);
        let mut has_hosts = false;
        for (k, v) in entries {
            let key = k.key_string().unwrap_or_default();
            match key.as_str() {
                "name" => p.name = self.string(f, &key, v),
                "hosts" => {
                    has_hosts = true;
                    p.hosts = match &v.value {
                        NodeValue::Seq(_) => self.string_list(f, &key, v).join(","),
                        _ => self.string(f, &key, v).unwrap_or_default(),
                    };
                }
                "gather_facts" => p.gather_facts = self.flag(f, &key, v),
                "become" => p.become_ = self.flag(f, &key, v),
                "become_user" => p.become_user = self.string(f, &key, v),
                "become_method" => p.become_method = self.become_method(f, &key, v),
                "remote_user" => p.remote_user = self.string(f, &key, v),
                "connection" => p.connection = self.string(f, &key, v),
                "port" => p.port = self.number(f, &key, v),
                "serial" => p.serial = self.serial(f, v),
                "any_errors_fatal" => p.any_errors_fatal = self.flag(f, &key, v),
                "max_fail_percentage" => p.max_fail_percentage = self.max_fail(f, v),
                "strategy" => p.strategy = self.strategy(f, v),
                "ignore_errors" => p.ignore_errors = self.flag(f, &key, v),
                "ignore_unreachable" => p.ignore_unreachable = self.flag(f, &key, v),
                "force_handlers" => p.force_handlers = self.flag(f, &key, v),
                "check_mode" => p.check_mode = self.flag(f, &key, v),
                "diff" => p.diff = self.flag(f, &key, v),
                "no_log" => p.no_log = self.flag(f, &key, v),
                "run_once" => p.run_once = self.flag(f, &key, v),
                "vars" => p.vars = self.vars(f, &key, v),
                "vars_files" => {
                    p.vars_files = self.string_list(f, &key, v);
                    self.check_vars_files(f, &p.vars_files, v);
                }
                "environment" => p.environment = self.environment(f, v),
                "tags" => p.tags = self.tags(f, v),
                "pre_tasks" => p.pre_tasks = self.task_list(f, &key, v, false),
                "tasks" => p.tasks = self.task_list(f, &key, v, false),
                "post_tasks" => p.post_tasks = self.task_list(f, &key, v, false),
                "handlers" => p.handlers = self.task_list(f, &key, v, true),
                "roles" => {
                    for item in self.items(f, &key, v) {
                        if let Some(r) = self.role_ref(f, item) {
                            p.roles.push(r);
                        }
                    }
                }
                k2 if PLAY_EXTRA.contains(&k2) => {
                    p.extra.insert(key.clone(), v.to_json());
                }
                _ => {
                    let hint =
                        Hint(did_you_mean(&key, PLAY_KEYWORDS.iter().copied()).map(str::to_string));
                    self.report(
                        f,
                        k.pos,
                        PlaybookError::UnknownPlayKeyword {
                            key: key.clone(),
                            hint,
                        },
                    );
                }
            }
        }
        if !has_hosts || p.hosts.trim().is_empty() {
            self.report(f, node.pos, PlaybookError::MissingHosts);
        }
        self.static_vars = outer_vars;
        Some(p)
    }

    /// Makes the variables known before the run of the play `node` (its `vars`, its literal
    /// `vars_files` that can be read, then the extra vars) those import names use; returns the
    /// previous ones.
    fn play_static_vars(&mut self, f: &FileCtx, node: &Node) -> Map {
        let mut vars = Map::new();
        if let Some(Value::Object(m)) = node.get("vars").map(Node::to_json) {
            vars.extend(m);
        }
        if let Some(files) = node.get("vars_files").and_then(Node::as_seq) {
            for name in files.iter().filter_map(Node::as_scalar_string) {
                if is_template(&name) {
                    continue;
                }
                let path = f.playbook_dir.join(&name);
                let loaded = etcdplay_source::read_text_file(&path, etcdplay_source::MAX_TEXT_FILE)
                    .ok()
                    .and_then(|text| etcdplay_source::load_yaml(&text).ok())
                    .map(|n| n.to_json());
                if let Some(Value::Object(m)) = loaded {
                    vars.extend(m);
                }
            }
        }
        vars.extend(self.opts.extra_vars.clone());
        std::mem::replace(&mut self.static_vars, vars)
    }

    /// Literal `vars_files` must exist next to the playbook (or at their absolute path), and
    /// be regular files the engine can read (at most `MAX_TEXT_FILE` bytes): it loads them per
    /// host later and silently skips one it cannot read, so this is where such a file is
    /// reported. Opened and measured here; read only when vaulted, to report a missing or
    /// wrong vault secret before any host is contacted (Ansible: when the play starts).
    fn check_vars_files(&mut self, f: &FileCtx, files: &[String], node: &Node) {
        let items: Vec<&Node> = match node.as_seq() {
            Some(items) => items.iter().collect(),
            None => vec![node],
        };
        for (name, item) in files.iter().zip(items) {
            if is_template(name) {
                continue;
            }
            let path = f.playbook_dir.join(name);
            let problem = match open_regular(&path) {
                Ok((file, meta)) if meta.len() <= MAX_TEXT_FILE => match vault_problem(file, &path)
                {
                    None => continue,
                    problem => problem,
                },
                Ok(_) => Some(ReadProblem::TooLarge {
                    limit: MAX_TEXT_FILE,
                }),
                Err(e) if e.is_not_found() => None,
                Err(e) => Some(e.problem),
            }
            .map(|p| p.to_string());
            if let Some(problem) = problem {
                let error = PlaybookError::FileUnreadable {
                    what: "vars file",
                    name: name.clone(),
                    problem,
                };
                self.report(f, item.pos, error);
                continue;
            }
            let looked_in = if f.playbook_dir.as_os_str().is_empty() {
                ".".to_string()
            } else {
                show(&f.playbook_dir)
            };
            let error = PlaybookError::FileNotFound {
                what: "vars file",
                name: name.clone(),
                looked_in,
            };
            self.report(f, item.pos, error);
        }
    }

    fn serial(&mut self, f: &FileCtx, node: &Node) -> Vec<Serial> {
        let items: Vec<&Node> = match &node.value {
            NodeValue::Seq(items) => items.iter().collect(),
            NodeValue::Null => return Vec::new(),
            _ => vec![node],
        };
        let mut out = Vec::new();
        for item in items {
            let parsed = match &item.value {
                NodeValue::Int(i) => u64::try_from(*i).ok().map(Serial::Count),
                NodeValue::String(s) if is_template(s) => Some(Serial::Template(s.clone())),
                NodeValue::String(s) => {
                    let s = s.trim();
                    match s.strip_suffix('%') {
                        Some(pct) => pct
                            .trim()
                            .parse::<u8>()
                            .ok()
                            .filter(|p| *p <= 100)
                            .map(Serial::Percent),
                        None => s.parse::<u64>().ok().map(Serial::Count),
                    }
                }
                _ => None,
            };
            match parsed {
                Some(s) => out.push(s),
                None => {
                    let value = item
                        .as_scalar_string()
                        .unwrap_or_else(|| item.type_name().to_string());
                    self.report(f, item.pos, PlaybookError::BadSerial { value });
                }
            }
        }
        out
    }

    fn max_fail(&mut self, f: &FileCtx, node: &Node) -> Option<f64> {
        let n = match &node.value {
            NodeValue::Int(i) => Some(*i as f64),
            NodeValue::Float(x) => Some(*x),
            NodeValue::String(s) => s.trim().parse::<f64>().ok(),
            NodeValue::Null => return None,
            _ => None,
        };
        match n.filter(|x| (0.0..=100.0).contains(x)) {
            Some(x) => Some(x),
            None => {
                let value = node
                    .as_scalar_string()
                    .unwrap_or_else(|| node.type_name().to_string());
                self.report(f, node.pos, PlaybookError::BadMaxFail { value });
                None
            }
        }
    }

    fn strategy(&mut self, f: &FileCtx, node: &Node) -> crate::Strategy {
        if node.is_null() {
            return Strategy::Linear;
        }
        match node.as_scalar_string().as_deref() {
            Some("linear") => Strategy::Linear,
            Some("free") => Strategy::Free,
            other => {
                let value = other.map_or_else(|| node.type_name().to_string(), str::to_string);
                let hint = Hint(did_you_mean(&value, ["linear", "free"]).map(str::to_string));
                self.report(f, node.pos, PlaybookError::UnknownStrategy { value, hint });
                Strategy::Linear
            }
        }
    }
}

/// Why a vaulted vars file cannot be decrypted with the run's secrets (`None`: it can, or it
/// is not vaulted).
fn vault_problem(file: std::fs::File, path: &std::path::Path) -> Option<ReadProblem> {
    use std::io::{Read, Seek};
    let mut file = file;
    let mut head = [0u8; 14]; // as long as `$ANSIBLE_VAULT`
    let n = file.read(&mut head).ok()?;
    if !etcdplay_source::is_vaulted(&head[..n]) {
        return None;
    }
    file.rewind().ok()?;
    let meta = file.metadata().ok()?;
    let bytes = etcdplay_source::read_opened(file, &meta, path, MAX_TEXT_FILE).ok()?;
    etcdplay_source::decrypt_if_vaulted(bytes, path)
        .err()
        .map(|e| e.problem)
}
