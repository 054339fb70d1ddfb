//! Dynamic includes: `include_tasks` (and the legacy `include`) and `include_role`, whose file
//! or role is named per host (a template, a loop item) and loaded when the include runs, with
//! the bound that keeps a self-including file from recursing without end.

use etcdplay_playbook::Task;
use serde_json::Value;

use super::{nested_too_deep, show_chain, PlayRun, MAX_NESTING};
use crate::error::TaskError;
use crate::events::{HostEvent, HostStatus, TaskKindLabel};
use crate::scope::{RoleFrame, TaskScope};
use crate::task::Outcome;

/// One dynamic include's run: the file, the loop variable and item with the item's label
/// (when looping), the hosts.
type IncludeRun = (String, Option<IncludeItem>, Option<String>, Vec<String>);

/// One item of a looped include: the item and the variables it gives the included tasks.
#[derive(PartialEq)]
struct IncludeItem {
    item: Value,
    vars: Vec<(String, Value)>,
}

/// How many dynamic includes (`include_tasks`, `include_role`) may nest. Ansible sets no bound of
/// its own (Python's recursion limit ends a runaway include). Here each include is a level of
/// recursion when the run is polled, so a file or role including itself with nothing to stop it
/// overflowed the stack and aborted the process after tasks had run, leaving the control
/// directory behind. Past the bound the include fails as a task on the hosts that reach it. Real
/// recursion under a condition stays far below 64.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 64;

/// Why the dynamic include `task` of `target` may not run inside `scope`, if it may not.
fn include_refused(
    task: &Task,
    scope: &TaskScope,
    default_action: &str,
    target: &str,
) -> Option<TaskError> {
    if scope.includes.len() >= MAX_INCLUDE_DEPTH {
        let mut links = scope.includes.clone();
        links.push(format!("{}: {target}", task.origin));
        let action = if task.action.is_empty() {
            default_action.to_string()
        } else {
            task.action.clone()
        };
        return Some(TaskError::IncludeTooDeep {
            at: task.origin.to_string(),
            action,
            target: target.to_string(),
            limit: MAX_INCLUDE_DEPTH,
            chain: show_chain(&links),
        });
    }
    (scope.depth >= MAX_NESTING).then(|| nested_too_deep(task, scope))
}

impl PlayRun<'_> {
    /// The `TASK [..]` (or `RUNNING HANDLER [..]`) header of a dynamic include, which Ansible
    /// prints before its `skipping:` and `included:` lines.
    fn include_header(&self, task: &Task, scope: &TaskScope, hosts: &[String]) {
        let kind = if scope.handler {
            TaskKindLabel::Handler
        } else {
            TaskKindLabel::Task
        };
        self.engine
            .reporter
            .task_start(kind, &include_header_name(task), hosts);
    }

    /// Reports `included: WHAT for HOSTS` and counts it as `ok` for each host, as Ansible's
    /// recap does.
    fn report_included(&self, what: &str, hosts: &[String], label: Option<&str>) {
        self.engine.reporter.included(what, hosts, label);
        let mut stats = crate::play::lock(&self.engine.stats);
        for h in hosts {
            stats.entry(h.clone()).or_default().ok += 1;
        }
    }

    /// The hosts for which an include's own `when:` holds; the others are reported skipped.
    fn include_targets(
        &self,
        task: &Task,
        scope: &TaskScope,
        hosts: &[String],
    ) -> Vec<(String, etcdplay_template::Vars)> {
        let mut out = Vec::new();
        let mut outcomes = Vec::new();
        for h in hosts {
            let vars = self.task_vars(h, scope, Some(task));
            let holds = scope
                .when
                .iter()
                .map(|c| (c.expr.as_str(), c.origin.to_string()))
                .chain(
                    task.when
                        .iter()
                        .map(|e| (e.as_str(), task.origin.to_string())),
                )
                .try_fold(true, |acc, (expr, origin)| {
                    Ok::<bool, etcdplay_template::TemplateError>(
                        acc && self.engine.templar.eval_condition(expr, &origin, &vars)?,
                    )
                });
            match holds {
                Ok(true) => out.push((h.clone(), vars)),
                Ok(false) => {
                    // Ansible prints `skipping: [host]` under the include's header.
                    self.emit(
                        HostEvent::new(h, HostStatus::Skipped),
                        std::time::Instant::now(),
                    );
                    outcomes.push((h.clone(), Outcome::Skipped));
                }
                Err(e) => {
                    self.emit(
                        HostEvent {
                            msg: Some(e.to_string()),
                            result: serde_json::json!({"failed": true, "msg": e.to_string()}),
                            ..HostEvent::new(h, HostStatus::Failed)
                        },
                        std::time::Instant::now(),
                    );
                    outcomes.push((h.clone(), Outcome::Failed));
                }
            }
        }
        self.settle(&outcomes, scope);
        out
    }

    /// `include_tasks` (and the legacy `include`): the file name is rendered per host, `when`
    /// is decided once at the include, and a loop runs the file once per item.
    pub(super) async fn include_tasks(
        &self,
        task: &Task,
        inc: &etcdplay_playbook::IncludeTasks,
        scope: &TaskScope,
        hosts: &[String],
    ) -> Vec<String> {
        let mut inner = scope.clone();
        inner.tags.extend(task.tags.iter().cloned());
        let mut failed = Vec::new();
        // Hosts grouped by the file they include (and the loop item, when looping), in order.
        let mut runs: Vec<IncludeRun> = Vec::new();
        self.include_header(task, scope, hosts);
        for (host, vars) in self.include_targets(task, scope, hosts) {
            let origin = task.origin.to_string();
            let items = match self.include_items(task, &origin, &vars) {
                Ok(items) => items,
                Err(e) => {
                    failed.extend(self.fail_hosts(
                        std::slice::from_ref(&host),
                        &e.to_string(),
                        scope,
                    ));
                    continue;
                }
            };
            for item in items {
                let mut item_vars = vars.clone();
                for (name, value) in item.iter().flat_map(|i| &i.vars) {
                    item_vars.insert_literal(name.clone(), value.clone());
                }
                let file = match self
                    .engine
                    .templar
                    .render_string(&inc.file, &origin, &item_vars)
                {
                    Ok(f) => f,
                    Err(e) => {
                        failed.extend(self.fail_hosts(
                            std::slice::from_ref(&host),
                            &e.to_string(),
                            scope,
                        ));
                        break;
                    }
                };
                match runs
                    .iter_mut()
                    .find(|(f, i, _, _)| *f == file && *i == item)
                {
                    Some((_, _, _, hs)) => hs.push(host.clone()),
                    None => {
                        let label = item
                            .as_ref()
                            .map(|i| self.item_label(task, &item_vars, &i.item));
                        runs.push((file, item, label, vec![host.clone()]))
                    }
                }
            }
        }
        // Ansible loads every included file and prints its `included:` line before any of
        // them runs.
        let mut loaded = Vec::new();
        for (file, item, label, group) in runs {
            if let Some(error) = include_refused(task, scope, "include_tasks", &file) {
                // Loop items share hosts: one failure per host, not one per item.
                let group = self.active(&group);
                failed.extend(self.fail_hosts(&group, &error.to_string(), scope));
                continue;
            }
            let tasks = match (&inc.tasks, file == inc.file) {
                (Some(tasks), true) => tasks.clone(),
                _ => match etcdplay_playbook::load_task_file(
                    &file,
                    &inc.context,
                    &task.origin,
                    &etcdplay_modules::Registry,
                    &self.engine.options.load_options,
                ) {
                    Ok(tasks) => tasks,
                    Err(d) => {
                        failed.extend(self.fail_hosts(&group, &d.to_string(), scope));
                        continue;
                    }
                },
            };
            let shown = etcdplay_playbook::find_task_file(&file, &inc.context)
                .map(|p| crate::state::absolute_path_text(&p))
                .unwrap_or_else(|| file.clone());
            self.report_included(&shown, &group, label.as_deref());
            self.note_role_ran(scope, &group);
            let mut run_scope = inner.clone();
            let mut params = task.vars.clone();
            params.extend(item.into_iter().flat_map(|i| i.vars));
            run_scope.include_params.extend(params);
            run_scope.enter_include(task, &file);
            loaded.push((tasks, run_scope, group));
        }
        self.engine.reporter.task_end();
        for (tasks, run_scope, group) in loaded {
            failed.extend(self.run_list(&tasks, &run_scope, &group).await);
        }
        failed
    }

    /// The items of an include's loop on one host (`[None]` without a loop), each with the
    /// variables Ansible's IncludedFile passes on (`item`, `index_var`, `ansible_loop`, ...).
    fn include_items(
        &self,
        task: &Task,
        origin: &str,
        vars: &etcdplay_template::Vars,
    ) -> Result<Vec<Option<IncludeItem>>, crate::error::TaskError> {
        let Some(l) = &task.loop_ else {
            return Ok(vec![None]);
        };
        let items = self.loop_items(&l.kind, &l.items, "include_tasks", origin, vars)?;
        let controls = self.loop_controls(task, vars)?;
        Ok((0..items.len())
            .map(|index| {
                Some(IncludeItem {
                    item: items[index].clone(),
                    vars: controls.item_vars(&items, index),
                })
            })
            .collect())
    }

    /// `include_role`/`import_role`: the role's tasks run with the role's variables; a role
    /// named by a template is loaded when the include runs.
    pub(super) async fn include_role(
        &self,
        task: &Task,
        inc: &etcdplay_playbook::IncludeRole,
        scope: &TaskScope,
        hosts: &[String],
    ) -> Vec<String> {
        if inc.is_static {
            let Some(role) = &inc.role else {
                return Vec::new();
            };
            let mut inner = scope.enter_block(task);
            inner.include_params.extend(parent_role_names(scope));
            inner.role = Some(RoleFrame::new(role, task.vars.clone()));
            self.run_role(role, &inner, hosts).await;
            return Vec::new();
        }
        let mut failed = Vec::new();
        let mut runs: Vec<(String, Vec<String>)> = Vec::new();
        self.include_header(task, scope, hosts);
        for (host, vars) in self.include_targets(task, scope, hosts) {
            match self
                .engine
                .templar
                .render_string(&inc.name, &task.origin.to_string(), &vars)
            {
                Ok(name) => match runs.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, hs)) => hs.push(host),
                    None => runs.push((name, vec![host])),
                },
                Err(e) => failed.extend(self.fail_hosts(&[host], &e.to_string(), scope)),
            }
        }
        for (name, group) in runs {
            let target = format!("role {name}");
            if let Some(error) = include_refused(task, scope, "include_role", &target) {
                failed.extend(self.fail_hosts(&group, &error.to_string(), scope));
                continue;
            }
            let role = match (&inc.role, name == inc.name) {
                (Some(role), true) => (**role).clone(),
                _ => match etcdplay_playbook::load_role(
                    &name,
                    &inc.selectors,
                    &inc.context,
                    &task.origin,
                    &etcdplay_modules::Registry,
                    &self.engine.options.load_options,
                ) {
                    Ok(role) => role,
                    Err(d) => {
                        failed.extend(self.fail_hosts(&group, &d.to_string(), scope));
                        continue;
                    }
                },
            };
            self.report_included(&name, &group, None);
            self.note_role_ran(scope, &group);
            // `public: true`: the role's defaults and vars stay visible to the rest of the play.
            let public = group.first().map(|h| {
                let vars = self.task_vars(h, scope, Some(task));
                self.flag(&inc.public, &vars, &task.origin.to_string())
            });
            if let Some(Ok(Some(true))) = public {
                crate::play::lock(&self.public_role_vars).add(&role);
            }
            let mut inner = scope.clone();
            inner.tags.extend(task.tags.iter().cloned());
            inner.include_params.extend(parent_role_names(scope));
            inner.role = Some(RoleFrame::new(&role, task.vars.clone()));
            inner.enter_include(task, &target);
            self.run_role(&role, &inner, &group).await;
        }
        failed
    }
}

/// `ansible_parent_role_names`/`ansible_parent_role_paths` for a role that the role of `scope`
/// includes or imports: that role first, then its own parents, as Ansible sets them.
fn parent_role_names(scope: &TaskScope) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    let Some(parent) = &scope.role else {
        return out;
    };
    let inherited = |key: &str| match scope.include_params.get(key) {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    let mut names = vec![Value::String(parent.name.clone())];
    names.extend(inherited("ansible_parent_role_names"));
    let mut paths = vec![Value::String(crate::state::absolute_path_text(
        &parent.path,
    ))];
    paths.extend(inherited("ansible_parent_role_paths"));
    out.insert("ansible_parent_role_names".into(), Value::Array(names));
    out.insert("ansible_parent_role_paths".into(), Value::Array(paths));
    out
}

/// An include's header: its name, else `include_role : NAME` for a role (ansible-core 2.19
/// shows it so, without the including role's name), else the action.
fn include_header_name(task: &Task) -> String {
    match (&task.name, &task.kind) {
        (None, etcdplay_playbook::TaskKind::IncludeRole(inc)) => {
            format!("{} : {}", task.action, inc.name)
        }
        _ => task.header_name(),
    }
}
