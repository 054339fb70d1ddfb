//! Tasks, handlers and blocks: a task mapping is split into its keywords, its loop and its one
//! action; the action itself is read by `action.rs`. Unknown keys are reported with the closest
//! keyword or module name, and the task is still returned so that later tasks are checked too.

use etcdplay_source::{did_you_mean, Node, NodeValue, Pos};
use serde_json::Value;

use crate::error::Hint;
use crate::loader::{FileCtx, Loader};
use crate::model::{Block, Loop, LoopControl, LoopKind, Map, Task, TaskKind};
use crate::values::{is_identifier, is_template};
use crate::PlaybookError;

/// Task keywords (the typed ones and those kept in `Task::extra`).
pub(crate) const TASK_KEYWORDS: &[&str] = &[
    "name",
    "when",
    "loop",
    "loop_control",
    "register",
    "notify",
    "listen",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "ignore_unreachable",
    "tags",
    "become",
    "become_user",
    "become_method",
    "run_once",
    "delegate_to",
    "delegate_facts",
    "vars",
    "environment",
    "check_mode",
    "diff",
    "no_log",
    "until",
    "retries",
    "delay",
    "any_errors_fatal",
    "throttle",
    "timeout",
    "remote_user",
    "connection",
    "port",
    "args",
    "action",
    "local_action",
    "block",
    "rescue",
    "always",
    "become_flags",
    "become_exe",
    "async",
    "poll",
    "debugger",
    "module_defaults",
    "collections",
];

/// Keywords Ansible knows that the model keeps as written in `Task::extra`.
const EXTRA_KEYWORDS: &[&str] = &[
    "become_flags",
    "become_exe",
    "async",
    "poll",
    "debugger",
    "module_defaults",
    "collections",
];

/// Keywords that make no sense on a block (Ansible rejects them there).
const NOT_ON_BLOCK: &[&str] = &[
    "loop",
    "loop_control",
    "register",
    "until",
    "retries",
    "delay",
    "changed_when",
    "failed_when",
    "args",
    "listen",
    "async",
    "poll",
];

/// Keywords of a task's own action that an include (or import) of tasks or a role does not
/// take: Ansible refuses them ("'poll' is not a valid attribute for a TaskInclude").
const NOT_ON_INCLUDE: &[&str] = &["async", "poll"];

/// Lookups usable as `with_<name>`.
pub(crate) const LOOKUPS: &[&str] = &[
    "items",
    "list",
    "dict",
    "indexed_items",
    "sequence",
    "nested",
    "together",
    "fileglob",
    "subelements",
    "flattened",
    "random_choice",
    "lines",
    "file",
    "first_found",
    "inventory_hostnames",
    "cartesian",
    "password",
    "vars",
    "varnames",
    "env",
    "pipe",
    "template",
];

const LOOP_CONTROL_KEYS: &[&str] = &[
    "loop_var",
    "index_var",
    "label",
    "pause",
    "extended",
    "extended_allitems",
    "break_when",
];

/// Include-like actions handled by the parser itself, not by a module.
pub(crate) const SPECIAL_ACTIONS: &[&str] = &[
    "include_tasks",
    "import_tasks",
    "include",
    "include_role",
    "import_role",
    "include_vars",
    "meta",
    "import_playbook",
];

/// `ansible.builtin.x` and `ansible.legacy.x` are `x`.
pub(crate) fn short_name(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name)
}

/// The action found in a task: the key as written, its position, and its value.
pub(crate) struct ActionSite<'n> {
    pub(crate) key: String,
    pub(crate) pos: Pos,
    pub(crate) value: &'n Node,
}

impl Task {
    /// A task with no keywords set, doing nothing until its kind is filled in.
    pub fn empty(origin: crate::model::Origin, role: Option<String>) -> Task {
        Task {
            name: None,
            kind: TaskKind::Block(Block::default()),
            when: Vec::new(),
            loop_: None,
            loop_control: None,
            register: None,
            notify: Vec::new(),
            listen: Vec::new(),
            changed_when: None,
            failed_when: None,
            ignore_errors: None,
            ignore_unreachable: None,
            tags: Vec::new(),
            become_: None,
            become_user: None,
            become_method: None,
            run_once: None,
            delegate_to: None,
            delegate_facts: None,
            vars: Map::new(),
            environment: Value::Null,
            check_mode: None,
            diff: None,
            no_log: None,
            until: None,
            retries: None,
            delay: None,
            any_errors_fatal: None,
            throttle: None,
            timeout: None,
            remote_user: None,
            connection: None,
            port: None,
            extra: Map::new(),
            origin,
            role,
            action: String::new(),
        }
    }
}

impl Loader<'_> {
    /// A list of tasks under `key` (null is empty).
    pub(crate) fn task_list(
        &mut self,
        f: &FileCtx,
        key: &str,
        node: &Node,
        handlers: bool,
    ) -> Vec<Task> {
        let outer = std::mem::replace(&mut self.in_handlers, handlers);
        let mut out = Vec::new();
        for item in self.items(f, key, node) {
            if let Some(t) = self.task(f, item, handlers) {
                out.push(t);
            }
        }
        self.in_handlers = outer;
        out
    }

    /// One task, handler or block.
    pub(crate) fn task(&mut self, f: &FileCtx, node: &Node, handler: bool) -> Option<Task> {
        let defaults = crate::loader::sets_module_defaults(node);
        self.module_defaults_depth += usize::from(defaults);
        let task = self.task_entries(f, node, handler);
        self.module_defaults_depth -= usize::from(defaults);
        task
    }

    fn task_entries(&mut self, f: &FileCtx, node: &Node, handler: bool) -> Option<Task> {
        let Some(entries) = node.as_map() else {
            let got = node.type_name();
            self.report(
                f,
                node.pos,
                PlaybookError::WrongType {
                    expected: "a task (a mapping)",
                    got,
                },
            );
            return None;
        };
        let mut t = Task::empty(f.origin(node.pos), f.role_name());
        let mut action: Option<ActionSite<'_>> = None;
        let mut args: Option<&Node> = None;
        let mut sections: [Option<&Node>; 3] = [None, None, None];
        let mut loop_control: Option<&Node> = None;
        let mut seen: Vec<(String, Pos)> = Vec::new();
        let mut local_action = false;
        // An unknown key is most likely the misspelt module: do not also say "no module".
        let mut unknown_key = false;
        for (k, v) in entries {
            let key = k.key_string().unwrap_or_default();
            seen.push((key.clone(), k.pos));
            match key.as_str() {
                "name" => t.name = self.string(f, &key, v),
                "when" => t.when = self.conditions(f, &key, v),
                "loop" => self.set_loop(f, &mut t, LoopKind::Loop, &key, k.pos, v),
                "loop_control" => loop_control = Some(v),
                "register" => {
                    t.register = self.string(f, &key, v);
                    if let Some(r) = &t.register {
                        if !is_identifier(r) {
                            self.report(
                                f,
                                v.pos,
                                PlaybookError::BadVariableName { key: r.clone() },
                            );
                        }
                    }
                }
                "notify" => t.notify = self.string_list(f, &key, v),
                "listen" => {
                    if !handler {
                        self.report(f, k.pos, PlaybookError::OnlyOnHandler { key: key.clone() });
                    }
                    t.listen = self.string_list(f, &key, v);
                }
                "changed_when" => t.changed_when = Some(self.conditions(f, &key, v)),
                "failed_when" => t.failed_when = Some(self.conditions(f, &key, v)),
                "until" => t.until = Some(self.conditions(f, &key, v)),
                "ignore_errors" => t.ignore_errors = self.flag(f, &key, v),
                "ignore_unreachable" => t.ignore_unreachable = self.flag(f, &key, v),
                "tags" => t.tags = self.tags(f, v),
                "become" => t.become_ = self.flag(f, &key, v),
                "become_user" => t.become_user = self.string(f, &key, v),
                "become_method" => t.become_method = self.become_method(f, &key, v),
                "run_once" => t.run_once = self.flag(f, &key, v),
                "delegate_to" => t.delegate_to = self.string(f, &key, v),
                "delegate_facts" => t.delegate_facts = self.flag(f, &key, v),
                "vars" => t.vars = self.vars(f, &key, v),
                "environment" => t.environment = self.environment(f, v),
                "check_mode" => t.check_mode = self.flag(f, &key, v),
                "diff" => t.diff = self.flag(f, &key, v),
                "no_log" => t.no_log = self.flag(f, &key, v),
                "retries" => t.retries = self.number(f, &key, v),
                "delay" => t.delay = self.number(f, &key, v),
                "any_errors_fatal" => t.any_errors_fatal = self.flag(f, &key, v),
                "throttle" => t.throttle = self.number(f, &key, v),
                "timeout" => t.timeout = self.number(f, &key, v),
                "remote_user" => t.remote_user = self.string(f, &key, v),
                "connection" => t.connection = self.string(f, &key, v),
                "port" => t.port = self.number(f, &key, v),
                "args" => args = Some(v),
                "block" => sections[0] = Some(v),
                "rescue" => sections[1] = Some(v),
                "always" => sections[2] = Some(v),
                "action" | "local_action" => {
                    local_action |= key == "local_action";
                    self.set_action(f, &mut action, key, k.pos, v);
                }
                k2 if EXTRA_KEYWORDS.contains(&k2) => {
                    t.extra.insert(key.clone(), v.to_json());
                }
                k2 if k2.starts_with("with_") => {
                    let written = &k2["with_".len()..];
                    // `with_ansible.builtin.items` is `with_items`, as in Ansible.
                    let lookup = crate::ansible_names::builtin_short(written).unwrap_or(written);
                    if LOOKUPS.contains(&lookup) {
                        self.set_loop(
                            f,
                            &mut t,
                            LoopKind::With(lookup.to_string()),
                            &key,
                            k.pos,
                            v,
                        );
                    } else if crate::ansible_names::ansible_knows_lookup(written) {
                        // A lookup of ansible-core or of a collection named in full that
                        // etcdplay does not run: the task fails when it runs (it may never).
                        let mark = self.diags.len();
                        let error = PlaybookError::LookupNotImplemented {
                            lookup: written.to_string(),
                        };
                        self.report(f, k.pos, error);
                        self.defer_since(mark);
                        self.set_loop(
                            f,
                            &mut t,
                            LoopKind::With(lookup.to_string()),
                            &key,
                            k.pos,
                            v,
                        );
                    } else {
                        let names = LOOKUPS
                            .iter()
                            .map(|l| format!("with_{l}"))
                            .collect::<Vec<_>>();
                        let hint = Hint(
                            did_you_mean(k2, names.iter().map(String::as_str)).map(str::to_string),
                        );
                        self.report(
                            f,
                            k.pos,
                            PlaybookError::UnknownLookup {
                                key: key.clone(),
                                hint,
                            },
                        );
                    }
                }
                other => {
                    let short = short_name(other);
                    if SPECIAL_ACTIONS.contains(&short)
                        || self.catalog.canonical(other).is_some()
                        || crate::ansible_names::ansible_knows(other)
                        || self.python_plugin(f, other).is_some()
                    {
                        self.set_action(f, &mut action, key, k.pos, v);
                    } else {
                        unknown_key = true;
                        let hint = self.key_hint(other);
                        self.report(
                            f,
                            k.pos,
                            PlaybookError::UnknownTaskKey {
                                key: key.clone(),
                                hint,
                            },
                        );
                    }
                }
            }
        }
        if local_action {
            t.delegate_to = Some("localhost".to_string());
        }
        if let Some(lc) = loop_control {
            t.loop_control = self.loop_control(f, lc);
        }
        t.kind = if let Some(block) = sections[0] {
            t.action = "block".to_string();
            if let Some(a) = &action {
                let error = PlaybookError::TwoActions {
                    first: "block".to_string(),
                    second: a.key.clone(),
                };
                self.report(f, a.pos, error);
            }
            for (key, pos) in &seen {
                if NOT_ON_BLOCK.contains(&key.as_str()) || key.starts_with("with_") {
                    self.report(f, *pos, PlaybookError::NotOnBlock { key: key.clone() });
                }
            }
            TaskKind::Block(Block {
                block: self.task_list(f, "block", block, handler),
                rescue: sections[1]
                    .map(|n| self.task_list(f, "rescue", n, handler))
                    .unwrap_or_default(),
                always: sections[2]
                    .map(|n| self.task_list(f, "always", n, handler))
                    .unwrap_or_default(),
            })
        } else {
            for (key, pos) in &seen {
                if key == "rescue" || key == "always" {
                    self.report(f, *pos, PlaybookError::OnlyOnBlock { key: key.clone() });
                }
            }
            match action {
                Some(site) => {
                    t.action = match site.key.as_str() {
                        "action" | "local_action" => action_module_name(site.value),
                        _ => site.key.clone(),
                    };
                    let kind = self.action(f, &mut t, &site, args)?;
                    if matches!(kind, TaskKind::IncludeTasks(_) | TaskKind::IncludeRole(_)) {
                        for (key, pos) in &seen {
                            if NOT_ON_INCLUDE.contains(&key.as_str()) {
                                let error = PlaybookError::NotOnInclude {
                                    key: key.clone(),
                                    action: t.action.clone(),
                                };
                                self.report(f, *pos, error);
                            }
                        }
                    }
                    kind
                }
                None => {
                    if !unknown_key {
                        self.report(f, node.pos, PlaybookError::NoAction);
                    }
                    return None;
                }
            }
        };
        Some(t)
    }

    /// The closest task keyword or module name to a misspelt key.
    fn key_hint(&self, key: &str) -> Hint {
        let mut names: Vec<String> = TASK_KEYWORDS.iter().map(|s| (*s).to_string()).collect();
        names.extend(SPECIAL_ACTIONS.iter().map(|s| (*s).to_string()));
        names.extend(self.catalog.names());
        names.extend(LOOKUPS.iter().map(|l| format!("with_{l}")));
        Hint(did_you_mean(key, names.iter().map(String::as_str)).map(str::to_string))
    }

    fn set_action<'n>(
        &mut self,
        f: &FileCtx,
        slot: &mut Option<ActionSite<'n>>,
        key: String,
        pos: Pos,
        value: &'n Node,
    ) {
        match slot {
            Some(first) => {
                let error = PlaybookError::TwoActions {
                    first: first.key.clone(),
                    second: key,
                };
                self.report(f, pos, error);
            }
            None => *slot = Some(ActionSite { key, pos, value }),
        }
    }

    fn set_loop(
        &mut self,
        f: &FileCtx,
        t: &mut Task,
        kind: LoopKind,
        key: &str,
        pos: Pos,
        v: &Node,
    ) {
        if let Some(existing) = &t.loop_ {
            let other = match &existing.kind {
                LoopKind::Loop => "loop".to_string(),
                LoopKind::With(l) => format!("with_{l}"),
            };
            self.report(
                f,
                pos,
                PlaybookError::TwoLoops {
                    key: key.to_string(),
                    other,
                },
            );
            return;
        }
        // `loop:` takes a list or a template that renders to one; a mapping or a plain word
        // would fail on every host, so say so now.
        let plain_string =
            matches!(&v.value, NodeValue::String(s) if !crate::values::is_template(s));
        if kind == LoopKind::Loop
            && (v.as_map().is_some()
                || plain_string
                || matches!(
                    v.value,
                    NodeValue::Bool(_) | NodeValue::Int(_) | NodeValue::Float(_)
                ))
        {
            self.report(
                f,
                v.pos,
                PlaybookError::BadLoop {
                    key: key.to_string(),
                    got: v.type_name(),
                },
            );
            return;
        }
        t.loop_ = Some(Loop {
            kind,
            items: v.to_json(),
            origin: f.origin(pos),
        });
    }

    fn loop_control(&mut self, f: &FileCtx, node: &Node) -> Option<LoopControl> {
        let Some(entries) = node.as_map() else {
            let got = node.type_name();
            self.report(
                f,
                node.pos,
                PlaybookError::WrongKeyType {
                    key: "loop_control".into(),
                    expected: "a mapping",
                    got,
                },
            );
            return None;
        };
        let mut lc = LoopControl {
            loop_var: "item".to_string(),
            index_var: None,
            label: None,
            pause: None,
            extended: None,
            extended_allitems: None,
            break_when: Vec::new(),
            origin: f.origin(node.pos),
        };
        for (k, v) in entries {
            let key = k.key_string().unwrap_or_default();
            match key.as_str() {
                "loop_var" | "index_var" => {
                    let Some(name) = self.string(f, &key, v) else {
                        continue;
                    };
                    // A template (`"{{ prefix }}_item"`) is rendered when the loop runs.
                    if !is_identifier(&name) && !is_template(&name) {
                        self.report(
                            f,
                            v.pos,
                            PlaybookError::BadVariableName { key: name.clone() },
                        );
                    }
                    if key == "loop_var" {
                        lc.loop_var = name;
                    } else {
                        lc.index_var = Some(name);
                    }
                }
                "label" => lc.label = self.string(f, &key, v),
                "pause" => lc.pause = self.number(f, &key, v),
                "extended" => lc.extended = self.flag(f, &key, v),
                "extended_allitems" => lc.extended_allitems = self.flag(f, &key, v),
                "break_when" => lc.break_when = self.conditions(f, &key, v),
                _ => {
                    let hint = Hint(
                        did_you_mean(&key, LOOP_CONTROL_KEYS.iter().copied()).map(str::to_string),
                    );
                    self.report(
                        f,
                        k.pos,
                        PlaybookError::UnknownLoopControl {
                            key: key.clone(),
                            hint,
                        },
                    );
                }
            }
        }
        Some(lc)
    }
}

/// The module named by an `action:`/`local_action:` value (first word, or `module:`).
fn action_module_name(value: &Node) -> String {
    match value.get("module") {
        Some(m) => m.as_scalar_string().unwrap_or_default(),
        None => value
            .as_scalar_string()
            .and_then(|s| {
                let s = s.trim_start();
                // A templated module name is shown whole (`TASK [{{ mod }}]`).
                match s.strip_prefix("{{").and_then(|_| s.find("}}")) {
                    Some(end) => Some(s[..end + 2].to_string()),
                    None => s.split_whitespace().next().map(str::to_string),
                }
            })
            .unwrap_or_default(),
    }
}
