//! One task on one host: variables, `when`, loops, templated arguments, the module (or an
//! engine-level action), `until` retries, `changed_when`/`failed_when`, `register`, `notify`,
//! and the events that report it. Everything here concerns a single host; running a task on
//! many hosts at once is the play runner's job.

use std::time::{Duration, Instant};

use etcdplay_playbook::{Flag, ModuleCall, Task};
use etcdplay_source::parse_bool;
use etcdplay_template::{Precedence, TemplateError, VarLayers, Vars};
use serde_json::{json, Map, Value};

use crate::builtin;
use crate::control::TaskControl;
use crate::error::TaskError;
use crate::events::{HostEvent, HostStatus};
use crate::extension::HostAction;
use crate::play::PlayRun;
use crate::scope::TaskScope;

mod async_job;
mod target;

/// How a task ended on a host, for the play runner's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Changed,
    Skipped,
    Failed,
    Ignored,
    Unreachable,
}

const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

impl PlayRun<'_> {
    /// The variables of `task` on `host`: the host's layers plus play, role, block and task
    /// variables at their precedence.
    pub(crate) fn task_vars(&self, host: &str, scope: &TaskScope, task: Option<&Task>) -> Vars {
        let shared = &self.engine.shared;
        let mut layers: VarLayers = shared.host_layers(host);
        // The play's roles' exports first: a task's own role wins over them.
        {
            let public = crate::play::lock(&self.public_role_vars);
            if !public.defaults.is_empty() {
                layers.push_shared(Precedence::RoleDefaults, public.defaults.clone());
            }
            if !public.vars.is_empty() {
                layers.push_shared(Precedence::RoleVars, public.vars.clone());
            }
        }
        if let Some(role) = &scope.role {
            layers.push_shared(Precedence::RoleDefaults, role.defaults.clone());
            layers.push_shared(Precedence::RoleVars, role.vars.clone());
            layers.push_shared(Precedence::RoleParams, role.params.clone());
        }
        layers.push_shared(Precedence::PlayVars, self.play_vars.clone());
        layers.push_shared(Precedence::VarsFiles, self.vars_files_of(host));
        for vars in &scope.block_vars {
            layers.push(Precedence::BlockVars, vars.clone());
        }
        if let Some(task) = task {
            layers.push(Precedence::TaskVars, task.vars.clone());
        }
        layers.push(Precedence::IncludeParams, scope.include_params.clone());
        let mut vars = shared.vars_for(host, &layers);
        if let Some(task) = task {
            let dirs = scope.search_path(task, &self.play.playbook_dir);
            let dirs = dirs
                .iter()
                .map(|d| Value::String(d.display().to_string()))
                .collect();
            vars.insert_literal("ansible_search_path", Value::Array(dirs));
        }
        if let Some(role) = &scope.role {
            vars.insert("role_name", Value::String(role.name.clone()));
            vars.insert(
                "role_path",
                Value::String(crate::state::absolute_path_text(&role.path)),
            );
        }
        vars
    }

    /// The loop controls of `task` for this host: `loop_var` and `index_var` may be templates
    /// (Ansible templates `loop_control`), `extended` a templated boolean.
    pub(crate) fn loop_controls(
        &self,
        task: &Task,
        vars: &Vars,
    ) -> Result<LoopControls, TaskError> {
        let Some(c) = &task.loop_control else {
            return Ok(LoopControls {
                loop_var: "item".into(),
                index_var: None,
                extended: false,
                extended_allitems: true,
            });
        };
        let origin = c.origin.to_string();
        let name = |text: &str| self.engine.templar.render_string(text, &origin, vars);
        Ok(LoopControls {
            loop_var: name(&c.loop_var)?,
            index_var: c.index_var.as_deref().map(name).transpose()?,
            extended: self.flag(&c.extended, vars, &origin)?.unwrap_or(false),
            extended_allitems: self
                .flag(&c.extended_allitems, vars, &origin)?
                .unwrap_or(true),
        })
    }

    /// Renders a boolean keyword that may be a template.
    pub(crate) fn flag(
        &self,
        flag: &Option<Flag>,
        vars: &Vars,
        origin: &str,
    ) -> Result<Option<bool>, TaskError> {
        match flag {
            None => Ok(None),
            Some(Flag::Bool(b)) => Ok(Some(*b)),
            Some(Flag::Template(t)) => {
                let text = self.engine.templar.render_string(t, origin, vars)?;
                parse_bool(&text).map(Some).ok_or_else(|| {
                    TaskError::Invalid(format!("{origin}: '{text}' is not a boolean"))
                })
            }
        }
    }

    /// Runs `task` on `host` and reports it: the task's keywords and loop are worked out, then
    /// it runs once ([`PlayRun::run_once_on_host`]) or once per item
    /// ([`PlayRun::run_items_on_host`]).
    pub(crate) async fn run_task_on_host(
        &self,
        task: &Task,
        call: &ModuleCall,
        scope: &TaskScope,
        host: &str,
    ) -> Outcome {
        let started = Instant::now();
        let vars = self.task_vars(host, scope, Some(task));
        let origin = task.origin.to_string();
        let keywords = scope.resolve(task, self.play);
        let flag_or_false = |flag: &Option<Flag>| {
            self.flag(flag, &vars, &origin)
                .ok()
                .flatten()
                .unwrap_or(false)
        };
        let no_log = flag_or_false(&keywords.no_log);
        let ignore_errors = flag_or_false(&keywords.ignore_errors);
        let delegate = match self.delegate_of(task, scope, &vars) {
            Ok(d) => d,
            Err(e) => return self.report_error(host, None, e, ignore_errors, started),
        };
        // As Ansible's TaskExecutor, a loop naming an undefined variable fails only if the
        // task's conditions hold (`when: false` skips it): the task goes on without its items.
        let mut loop_error = None;
        let items = match &task.loop_ {
            None => None,
            Some(l) => {
                match self.loop_items(&l.kind, &l.items, &call.name, &l.origin.to_string(), &vars) {
                    Ok(items) => Some(items),
                    Err(e) if e.is_undefined() => {
                        loop_error = Some(e);
                        None
                    }
                    Err(e) => {
                        // Ansible registers the failed result of a loop that cannot be worked out.
                        self.register_failure(host, task, &e);
                        return self.report_error(
                            host,
                            delegate.as_deref(),
                            e,
                            ignore_errors,
                            started,
                        );
                    }
                }
            }
        };
        // `action: "{{ mod }} ..."`: the module this host runs, known now (so that a templated
        // `debug` shows its message); a name that resolves to nothing fails in `execute`.
        let resolved;
        let call = match etcdplay_template::is_possibly_template(&call.name).then(|| {
            self.engine
                .templar
                .render_string(&call.name, &origin, &vars)
        }) {
            Some(Ok(name)) => match etcdplay_modules::canonical_name(name.trim()) {
                Some(canonical) => {
                    resolved = ModuleCall {
                        name: canonical.to_string(),
                        ..call.clone()
                    };
                    &resolved
                }
                None => call,
            },
            _ => call,
        };
        let mut run = HostTask {
            task,
            call,
            scope,
            host,
            vars,
            no_log,
            ignore_errors,
            delegate,
            started,
            loop_error,
        };
        match items {
            None => self.run_once_on_host(&mut run).await,
            Some(items) => self.run_items_on_host(&mut run, &items).await,
        }
    }

    /// The task's action on the host with the task's variables (retries included).
    async fn execute_run(
        &self,
        run: &mut HostTask<'_>,
    ) -> Result<(Value, Option<String>), TaskError> {
        let delegate = run.delegate.clone();
        self.execute_with_retries(
            run.task,
            run.call,
            run.scope,
            run.host,
            &mut run.vars,
            delegate.as_deref(),
        )
        .await
    }

    /// A task without a loop on one host: its conditions, the action, and what it reports,
    /// registers and notifies.
    async fn run_once_on_host(&self, run: &mut HostTask<'_>) -> Outcome {
        let (task, host, started) = (run.task, run.host, run.started);
        let delegate = run.delegate.clone();
        match (
            self.conditions_hold(task, run.scope, &run.vars),
            run.loop_error.take(),
        ) {
            (Ok(true), Some(e)) => {
                self.register_failure(host, task, &e);
                return self.report_error(host, delegate.as_deref(), e, run.ignore_errors, started);
            }
            (Ok(true), None) => {}
            (Ok(false), _) => {
                self.register(host, task, json!({"changed": false, "skipped": true, "skip_reason": "Conditional result was False", "false_condition": task.when.last()}));
                self.emit(
                    HostEvent {
                        delegated_to: delegate,
                        ..HostEvent::new(host, HostStatus::Skipped)
                    },
                    started,
                );
                return Outcome::Skipped;
            }
            (Err(e), _) => {
                self.register_failure(host, task, &e);
                return self.report_error(host, delegate.as_deref(), e, run.ignore_errors, started);
            }
        }
        let (result, diff) = match self.execute_run(run).await {
            Ok(r) => r,
            Err(e) if e.is_unreachable() => {
                return self.report_unreachable(host, delegate.as_deref(), &e.to_string(), started)
            }
            Err(e) => {
                // A task that failed before its action ran (a template error in its arguments)
                // still registers its failure, as Ansible does.
                self.register_failure(host, task, &e);
                return self.report_error(host, delegate.as_deref(), e, run.ignore_errors, started);
            }
        };
        // The real result is registered (as in Ansible); only what is shown is censored.
        self.register(host, task, result.clone());
        let flags = ResultFlags::of(&result);
        let status = status_of(
            flags.failed,
            flags.changed,
            flags.skipped,
            run.ignore_errors,
        );
        let shown = run.shown(result, diff, status);
        if status == HostStatus::Failed {
            self.remember_failure(host, task, &shown.result);
        }
        self.emit(shown, started);
        if flags.changed && !flags.failed {
            self.notify(host, task, &run.vars);
        }
        if flags.changed && status == HostStatus::Ignored {
            self.count_failed_change(host);
        }
        outcome_of(status)
    }

    /// Ansible's recap counts an ignored failure that changed something in `changed` too (a
    /// failure that is not ignored only in `failures`); the outcome only says it failed.
    fn count_failed_change(&self, host: &str) {
        crate::play::lock(&self.engine.stats)
            .entry(host.to_string())
            .or_default()
            .changed += 1;
    }

    /// A looped task on one host: once per item, each item with `item` (or `loop_var`) defined,
    /// then the summary Ansible registers (`results`) and its outcome.
    async fn run_items_on_host(&self, run: &mut HostTask<'_>, items: &[Value]) -> Outcome {
        let (task, host) = (run.task, run.host);
        let delegate = run.delegate.clone();
        let controls = match self.loop_controls(task, &run.vars) {
            Ok(c) => c,
            Err(e) => {
                return self.report_error(host, delegate.as_deref(), e, false, run.started);
            }
        };
        let loop_var = controls.loop_var.clone();
        let mut results = Vec::new();
        let (mut any_changed, mut any_failed, mut all_skipped) = (false, false, true);
        for (index, item) in items.iter().enumerate() {
            let item_started = Instant::now();
            for (name, value) in controls.item_vars(items, index) {
                run.vars.insert_literal(name, value);
            }
            let (mut result, diff) = match self.conditions_hold(task, run.scope, &run.vars) {
                Ok(false) => (
                    json!({"changed": false, "skipped": true, "skip_reason": "Conditional result was False", "false_condition": task.when.last()}),
                    None,
                ),
                Err(e) => (json!({"failed": true, "msg": e.to_string()}), None),
                Ok(true) => match self.execute_run(run).await {
                    Ok(r) => r,
                    Err(e) if e.is_unreachable() => {
                        return self.report_unreachable(
                            host,
                            delegate.as_deref(),
                            &e.to_string(),
                            run.started,
                        )
                    }
                    Err(e) => (json!({"failed": true, "msg": e.to_string()}), None),
                },
            };
            // As Ansible, the label is rendered once the item ran, with the registered
            // variable holding this item's result; a label that cannot be rendered fails it.
            if let Some(register) = &task.register {
                run.vars.insert_literal(register.clone(), result.clone());
            }
            let label = match self.item_label_checked(task, &run.vars, item) {
                // Ansible shows `(item=None)` for a `no_log` loop: the item may be the secret.
                Ok(_) if run.no_log => "None".to_string(),
                Ok(label) => label,
                Err(e) => {
                    if let Value::Object(m) = &mut result {
                        m.insert("failed".into(), Value::Bool(true));
                        let e = e.to_string();
                        let why = e.strip_prefix("loop_control.label: ").unwrap_or(&e);
                        let msg = format!("Failed to template loop_control.label: {why}");
                        m.insert("msg".into(), Value::String(msg));
                    }
                    self.item_label(task, &run.vars, item)
                }
            };
            let failed = result.get("failed") == Some(&Value::Bool(true));
            if result.get("skipped") == Some(&Value::Bool(true)) && !failed {
                if let Value::Object(m) = &mut result {
                    m.insert("item".into(), item.clone());
                    m.insert("ansible_loop_var".into(), Value::String(loop_var.clone()));
                }
                self.emit(
                    HostEvent {
                        delegated_to: delegate.clone(),
                        item_label: Some(label),
                        ..HostEvent::new(host, HostStatus::Skipped)
                    },
                    item_started,
                );
                results.push(result);
                continue;
            }
            all_skipped = false;
            // What `set_fact` learnt is seen by the next items, as in Ansible.
            if let Some(Value::Object(facts)) = result.get("ansible_facts") {
                for (name, value) in facts {
                    run.vars.insert_literal(name.clone(), value.clone());
                }
            }
            if let Value::Object(m) = &mut result {
                m.insert("item".into(), item.clone());
                m.insert("ansible_loop_var".into(), Value::String(loop_var.clone()));
            }
            let flags = ResultFlags::of(&result);
            any_changed |= flags.changed;
            any_failed |= flags.failed;
            let status = status_of(flags.failed, flags.changed, false, false);
            let shown = run.shown(result.clone(), diff, status);
            self.emit(
                HostEvent {
                    item_label: Some(label),
                    ..shown
                },
                item_started,
            );
            results.push(result);
            if let Some(pause) = task
                .loop_control
                .as_ref()
                .and_then(|c| c.pause.as_ref())
                .and_then(Value::as_f64)
            {
                tokio::time::sleep(Duration::from_secs_f64(pause.max(0.0))).await;
            }
        }
        let mut summary = Map::new();
        summary.insert("changed".into(), Value::Bool(any_changed));
        summary.insert("msg".into(), Value::String("All items completed".into()));
        summary.insert("results".into(), Value::Array(results));
        if any_failed {
            summary.insert("failed".into(), Value::Bool(true));
            summary.insert(
                "msg".into(),
                Value::String("One or more items failed".into()),
            );
        }
        if all_skipped {
            summary.insert("skipped".into(), Value::Bool(true));
        }
        self.register(host, task, Value::Object(summary.clone()));
        if any_failed {
            let status = if run.ignore_errors {
                HostStatus::Ignored
            } else {
                HostStatus::Failed
            };
            if status == HostStatus::Failed {
                self.remember_failure(host, task, &Value::Object(summary.clone()));
            }
            if any_changed && status == HostStatus::Ignored {
                self.count_failed_change(host);
            }
            // The loop's whole result (with its `results`), as Ansible's callback gets it.
            self.emit(
                HostEvent {
                    delegated_to: delegate,
                    msg: Some("One or more items failed".into()),
                    result: Value::Object(summary),
                    ..HostEvent::new(host, status)
                },
                run.started,
            );
            return outcome_of(status);
        }
        if any_changed {
            self.notify(host, task, &run.vars);
        }
        if all_skipped {
            // Ansible ends a loop whose every item was skipped (or that had none) with the
            // host's own `skipping:` line.
            self.emit(
                HostEvent {
                    delegated_to: delegate,
                    result: Value::Object(summary),
                    ..HostEvent::new(host, HostStatus::Skipped)
                },
                run.started,
            );
            Outcome::Skipped
        } else if any_changed {
            Outcome::Changed
        } else {
            Outcome::Ok
        }
    }

    /// Every inherited and own `when:` holds.
    pub(crate) fn conditions_hold(
        &self,
        task: &Task,
        scope: &TaskScope,
        vars: &Vars,
    ) -> Result<bool, TaskError> {
        for c in &scope.when {
            if !self
                .engine
                .templar
                .eval_condition(&c.expr, &c.origin.to_string(), vars)?
            {
                return Ok(false);
            }
        }
        let origin = task.origin.to_string();
        for expr in &task.when {
            if !self.engine.templar.eval_condition(expr, &origin, vars)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Runs the action with `changed_when`/`failed_when` applied, as ansible-core 2.19 does:
    /// with `until:` (or `retries:` alone, which retries until the task does not fail) it runs
    /// up to 1 + `retries` times (`retries` defaults to 3 with `until:`), each result carrying
    /// `attempts`; when no attempt satisfies the condition the last result is failed, with
    /// `attempts` = `retries`.
    async fn execute_with_retries(
        &self,
        task: &Task,
        call: &ModuleCall,
        scope: &TaskScope,
        host: &str,
        vars: &mut Vars,
        delegate: Option<&str>,
    ) -> Result<(Value, Option<String>), TaskError> {
        let origin = task.origin.to_string();
        let retries = match &task.retries {
            Some(v) => Some(
                number(&self.engine.templar.template_value(v, &origin, vars)?)
                    .unwrap_or(0.0)
                    .max(0.0) as u32,
            ),
            None => None,
        };
        let runs = 1 + match (retries, &task.until) {
            (Some(n), _) => n,
            (None, Some(_)) => 3,
            (None, None) => 0,
        };
        let delay = match &task.delay {
            Some(v) => {
                number(&self.engine.templar.template_value(v, &origin, vars)?).unwrap_or(5.0)
            }
            None => 5.0,
        };
        let register = task
            .register
            .clone()
            .unwrap_or_else(|| "result".to_string());
        for attempt in 1..=runs {
            let (mut result, diff) = self
                .execute(task, call, scope, host, vars, delegate)
                .await?;
            if let (true, Value::Object(m)) = (runs > 1, &mut result) {
                m.insert("attempts".into(), json!(attempt));
            }
            let from_module = etcdplay_modules::is_host_module(&call.name);
            self.apply_result_conditions(task, &register, &mut result, vars, &origin, from_module)?;
            if runs == 1 || self.skipped_for_check_mode(task, call, scope, vars, &result)? {
                return Ok((result, diff));
            }
            let done = match &task.until {
                Some(conds) => {
                    let mut done = true;
                    for expr in conds {
                        done &= self.engine.templar.eval_condition(expr, &origin, vars)?;
                    }
                    done
                }
                None => result.get("failed").and_then(Value::as_bool) != Some(true),
            };
            if done {
                return Ok((result, diff));
            }
            if attempt < runs {
                self.engine
                    .reporter
                    .retrying(&task.header_name(), host, runs - attempt, &result);
                tokio::time::sleep(Duration::from_secs_f64(delay.max(0.0))).await;
                continue;
            }
            if let Value::Object(m) = &mut result {
                m.insert("attempts".into(), json!(runs - 1));
                m.insert("failed".into(), Value::Bool(true));
                mark_exception(m);
            }
            vars.insert_literal(register.clone(), result.clone());
            return Ok((result, diff));
        }
        unreachable!("a task runs at least once")
    }

    /// Whether `result` is a check run's skip of a module without check mode: Ansible skips
    /// such a task before its retries, so `until:` is never looked at.
    fn skipped_for_check_mode(
        &self,
        task: &Task,
        call: &ModuleCall,
        scope: &TaskScope,
        vars: &Vars,
        result: &Value,
    ) -> Result<bool, TaskError> {
        let skipped = result.get("skipped").and_then(Value::as_bool) == Some(true);
        if !skipped || !etcdplay_modules::skipped_in_check_mode(&call.name) {
            return Ok(false);
        }
        let (check, _) = self.check_and_diff(task, scope, vars, &task.origin.to_string())?;
        Ok(check)
    }

    /// `changed_when` and `failed_when` on a result, with the result registered (under its
    /// name, or `result`) for the conditions to read. As in Ansible, a skipped result is left
    /// alone, a condition that cannot be evaluated fails the task (its `*_when_result` says
    /// why) and a failed result carries Ansible's `exception` (moved to
    /// `failed_when_suppressed_exception` when `failed_when` clears the failure). A host
    /// module's failure has it before the conditions (Ansible's modules report it), an engine
    /// action's only after (Ansible adds it to an action's failed result at the end).
    fn apply_result_conditions(
        &self,
        task: &Task,
        register: &str,
        result: &mut Value,
        vars: &mut Vars,
        origin: &str,
        from_module: bool,
    ) -> Result<(), TaskError> {
        vars.insert_literal(register.to_string(), result.clone());
        let Value::Object(m) = result else {
            return Ok(());
        };
        if ResultFlags::of(&Value::Object(m.clone())).skipped {
            return Ok(());
        }
        if from_module {
            mark_exception(m);
        }
        if let Err((condition, error)) = self.result_conditions(task, register, m, vars, origin) {
            m.insert("failed".into(), Value::Bool(true));
            m.insert(
                format!("{condition}_when_result"),
                Value::String(format!("Error while evaluating conditional: {error}")),
            );
        }
        mark_exception(m);
        vars.insert_literal(register.to_string(), result.clone());
        Ok(())
    }

    /// Evaluates `changed_when` then `failed_when` into `m`; an error names the condition
    /// (`changed` or `failed`) that could not be evaluated.
    fn result_conditions(
        &self,
        task: &Task,
        register: &str,
        m: &mut Map<String, Value>,
        vars: &mut Vars,
        origin: &str,
    ) -> Result<(), (&'static str, Box<TemplateError>)> {
        let all_hold = |conds: &[String], vars: &Vars| -> Result<bool, TemplateError> {
            for c in conds {
                if !self.engine.templar.eval_condition(c, origin, vars)? {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        if let Some(conds) = &task.changed_when {
            let changed = all_hold(conds, vars).map_err(|e| ("changed", Box::new(e)))?;
            m.insert("changed".into(), Value::Bool(changed));
        }
        vars.insert_literal(register.to_string(), Value::Object(m.clone()));
        if let Some(conds) = &task.failed_when {
            let failed = all_hold(conds, vars).map_err(|e| ("failed", Box::new(e)))?;
            m.insert("failed".into(), Value::Bool(failed));
            m.insert("failed_when_result".into(), Value::Bool(failed));
            if failed && !m.contains_key("msg") {
                m.insert(
                    "msg".into(),
                    Value::String("The failed_when condition was met".into()),
                );
            }
            if !failed {
                if let Some(exception) = m.remove("exception") {
                    m.insert("failed_when_suppressed_exception".into(), exception);
                }
            }
        }
        Ok(())
    }

    /// A module call's arguments, templated with the task's variables.
    pub(crate) fn module_args(
        &self,
        call: &ModuleCall,
        vars: &Vars,
        origin: &str,
    ) -> Result<Map<String, Value>, TaskError> {
        Ok(
            match self.engine.templar.template_value(
                &Value::Object(call.args.clone()),
                origin,
                vars,
            )? {
                // `assert: "{{ item }}"`: a whole-template argument string that gives a
                // mapping is the arguments (Ansible's "argsplat").
                Value::Object(mut m) => match m.remove("_raw_params") {
                    Some(Value::Object(splat)) => {
                        m.extend(splat);
                        m
                    }
                    Some(other) => {
                        m.insert("_raw_params".into(), other);
                        m
                    }
                    None => m,
                },
                _ => Map::new(),
            },
        )
    }

    /// As Ansible's `package` action: without `use` (or with `auto`), the manager is the
    /// `ansible_package_use` variable, else the gathered `pkg_mgr` fact; the module asks the
    /// host only when neither is known.
    fn choose_package_manager(
        &self,
        args: &mut Map<String, Value>,
        vars: &Vars,
    ) -> Result<(), TaskError> {
        if args
            .get("use")
            .is_some_and(|u| u.as_str() != Some("auto") && !u.is_null())
        {
            return Ok(());
        }
        let chosen = match self.var_string(vars, "ansible_package_use")? {
            Some(given) if !given.is_empty() => Some(given),
            _ => self.var_string(vars, "ansible_pkg_mgr")?,
        };
        if let Some(manager) = chosen.filter(|m| !m.is_empty()) {
            args.insert("use".into(), Value::String(manager));
        }
        Ok(())
    }

    /// A task's `check_mode` and `diff`: its own keyword, else inherited, else the run's option.
    pub(crate) fn check_and_diff(
        &self,
        task: &Task,
        scope: &TaskScope,
        vars: &Vars,
        origin: &str,
    ) -> Result<(bool, bool), TaskError> {
        let keywords = scope.resolve(task, self.play);
        let check = self
            .flag(&keywords.check_mode, vars, origin)?
            .unwrap_or(self.engine.options.check);
        let diff = self
            .flag(&keywords.diff, vars, origin)?
            .unwrap_or(self.engine.options.diff);
        Ok((check, diff))
    }

    /// The control node as a task's module sees it.
    pub(crate) fn task_control<'v>(&'v self, vars: &'v Vars) -> TaskControl<'v> {
        TaskControl {
            checksums: &self.engine.checksums,
            templar: &self.engine.templar,
            vars,
            playbook_dir: &self.play.playbook_dir,
        }
    }

    /// One run of the task's action on the host: the engine's own actions and the extension's
    /// control-node actions first, then the extension's host actions, then host modules
    /// through the transport.
    async fn execute(
        &self,
        task: &Task,
        call: &ModuleCall,
        scope: &TaskScope,
        host: &str,
        vars: &Vars,
        delegate: Option<&str>,
    ) -> Result<(Value, Option<String>), TaskError> {
        let origin = call.args_origin.to_string();
        // `action: "{{ mod }} ..."`: the module is known now. A module Ansible has and etcdplay
        // does not run fails here, as the loader warned.
        let templated = etcdplay_template::is_possibly_template(&call.name);
        let name = if templated {
            self.engine
                .templar
                .render_string(&call.name, &origin, vars)?
        } else {
            call.name.clone()
        };
        // The action as Ansible's refusals name it: as written, or as its template gave it.
        let written = if templated {
            name.trim()
        } else {
            task.action.as_str()
        };
        let Some(canonical) = etcdplay_modules::canonical_name(name.trim()) else {
            let msg = format!("{origin}: etcdplay does not implement the module `{name}`");
            return Ok((json!({"failed": true, "changed": false, "msg": msg}), None));
        };
        let resolved;
        let call = if canonical == call.name {
            call
        } else {
            resolved = ModuleCall {
                name: canonical.to_string(),
                ..call.clone()
            };
            &resolved
        };
        let mut args = self.module_args(call, vars, &origin)?;
        self.apply_module_defaults(task, scope, &call.name, &mut args, vars, &origin)?;
        // Arguments the module refuses fail the task before anything reaches the host, as
        // Ansible's argument check does (no connection is opened for it).
        if let Some(msg) = refused_arguments(&call.name, written, &args) {
            return Ok((json!({"failed": true, "changed": false, "msg": msg}), None));
        }
        if let Some(spec) = self.async_of(task, vars)? {
            return self
                .execute_async(task, call, scope, host, vars, delegate, args, spec)
                .await;
        }
        if call.name == "synchronize" {
            let result =
                crate::synchronize::run(self, task, scope, host, vars, delegate, &args, &origin)
                    .await?;
            return Ok((result, None));
        }
        if call.name == "reboot" {
            let result =
                crate::reboot::run(self, task, scope, host, vars, delegate, &args, &origin).await?;
            return Ok((result, None));
        }
        if let Some(result) = builtin::run(self, call, &args, host, vars, task).await? {
            return Ok((result, None));
        }
        let extension = self.engine.extension.as_ref();
        if let Some(result) = extension
            .control_action(self, &call.name, &args, &origin)
            .await
        {
            return Ok((result?, None));
        }
        let target = self.target(host, task, vars, delegate)?;
        let become_ = self.become_of(task, scope, vars, &target)?;
        let transport = self.task_transport(&target, task, scope, vars).await?;
        let (check, diff) = self.check_and_diff(task, scope, vars, &origin)?;
        let action = HostAction {
            host,
            transport: transport.as_ref(),
            become_: become_.as_ref(),
            check,
            origin: &origin,
        };
        if let Some(result) = extension.host_action(&action, &call.name, &args).await {
            return Ok((result?, None));
        }
        let control = self.task_control(vars);
        let mut args = args;
        if etcdplay_modules::canonical_name(&call.name) == Some("async_status")
            && !args.contains_key("_async_dir")
        {
            // As Ansible's async_status action hands its module the async directory.
            if let Some(dir) = self.var_string(vars, "ansible_async_dir")? {
                args.insert("_async_dir".into(), Value::String(dir));
            }
        }
        if etcdplay_modules::canonical_name(&call.name) == Some("package") {
            self.choose_package_manager(&mut args, vars)?;
        }
        let module_call = etcdplay_modules::ModuleCall {
            name: &call.name,
            args: &args,
            check,
            diff,
            become_: become_.as_ref(),
            control: &control,
        };
        let result = etcdplay_modules::run(module_call, transport.as_ref()).await;
        let result = match result {
            Ok(r) => r,
            Err(e) if e.is_unreachable() => {
                // The connection broke: forget it so a later run (or task) reconnects.
                self.engine.pool.forget(&target);
                return Err(TaskError::Module(e));
            }
            // A module that refuses its arguments or fails is a failed result, as in Ansible:
            // `failed_when`, `until` and `register` see it.
            Err(e) => {
                let failed = json!({"failed": true, "changed": false, "msg": e.to_string()});
                return Ok((failed, None));
            }
        };
        if !check {
            let module = etcdplay_modules::canonical_name(&call.name).unwrap_or(call.name.as_str());
            self.restarts
                .module_ran(host, module, &args, result.changed, &result.data);
        }
        let diff_text = if diff {
            result.diff.as_ref().map(|d| d.unified())
        } else {
            None
        };
        // Facts a module returns (setup's, getent's, ...) become the host's, as in Ansible.
        if let Some(Value::Object(facts)) = result.data.get("ansible_facts") {
            let facts = facts.clone();
            self.engine.shared.update_memory(host, |m| {
                std::sync::Arc::make_mut(&mut m.facts).extend(facts)
            });
        }
        Ok((result.to_json(), diff_text.filter(|d| !d.is_empty())))
    }

    /// The connection to `target` as the task's module uses it: with the task's
    /// `environment:` (play, roles and blocks around it, its own) on every command.
    pub(crate) async fn task_transport(
        &self,
        target: &crate::ConnectTarget,
        task: &Task,
        scope: &TaskScope,
        vars: &Vars,
    ) -> Result<std::sync::Arc<dyn etcdplay_transport::Transport>, TaskError> {
        let transport = self.engine.pool.get(target).await?;
        let mut layers = vec![&self.play.environment];
        layers.extend(scope.environment.iter());
        layers.push(&task.environment);
        let env = crate::environment::task_environment(
            &self.engine.templar,
            &layers,
            &task.origin.to_string(),
            vars,
        )?;
        if env.is_empty() {
            return Ok(transport);
        }
        Ok(std::sync::Arc::new(crate::environment::WithEnvironment {
            inner: transport,
            env,
        }))
    }

    /// Registers the failed result of a task whose action never ran.
    fn register_failure(&self, host: &str, task: &Task, error: &TaskError) {
        self.register(
            host,
            task,
            json!({"changed": false, "failed": true, "msg": error.to_string()}),
        );
    }

    fn register(&self, host: &str, task: &Task, mut value: Value) {
        if let Some(name) = &task.register {
            let name = name.clone();
            // Ansible's registered results always say whether they failed (a loop's whole
            // result whether it was skipped).
            if let Value::Object(m) = &mut value {
                let key = if m.contains_key("results") {
                    "skipped"
                } else {
                    "failed"
                };
                m.entry(key).or_insert(Value::Bool(false));
            }
            self.engine.shared.update_memory(host, |m| {
                m.set_facts.insert(name, value);
            });
        }
    }

    fn notify(&self, host: &str, task: &Task, vars: &Vars) {
        if task.notify.is_empty() {
            return;
        }
        let names: Vec<String> = task
            .notify
            .iter()
            .map(|n| {
                self.engine
                    .templar
                    .render_string(n, "notify", vars)
                    .unwrap_or_else(|_| n.clone())
            })
            .collect();
        self.add_notifications(host, names);
    }

    #[allow(clippy::too_many_arguments)]
    /// Reports `event`, timed from `started`.
    pub(crate) fn emit(&self, mut event: HostEvent, started: Instant) {
        event.duration = started.elapsed();
        self.engine.reporter.host_event(&event);
    }

    /// `ansible_failed_task` and `ansible_failed_result`, which a `rescue:` section reads.
    fn remember_failure(&self, host: &str, task: &Task, result: &Value) {
        let failed_task = json!({"name": task.name.clone().unwrap_or_else(|| task.action.clone()), "action": task.action});
        let result = result.clone();
        self.engine.shared.update_memory(host, |m| {
            m.set_facts
                .insert("ansible_failed_task".into(), failed_task);
            m.set_facts.insert("ansible_failed_result".into(), result);
        });
    }

    fn report_error(
        &self,
        host: &str,
        delegate: Option<&str>,
        e: TaskError,
        ignore: bool,
        started: Instant,
    ) -> Outcome {
        let status = if ignore {
            HostStatus::Ignored
        } else {
            HostStatus::Failed
        };
        let msg = e.to_string();
        if !ignore {
            self.remember_failure_msg(host, &msg);
        }
        self.emit(
            HostEvent {
                delegated_to: delegate.map(str::to_string),
                msg: Some(msg.clone()),
                result: json!({"changed": false, "msg": msg}),
                ..HostEvent::new(host, status)
            },
            started,
        );
        outcome_of(status)
    }

    fn remember_failure_msg(&self, host: &str, msg: &str) {
        let result = json!({"failed": true, "msg": msg});
        self.engine.shared.update_memory(host, |m| {
            m.set_facts.insert("ansible_failed_result".into(), result);
        });
    }

    fn report_unreachable(
        &self,
        host: &str,
        delegate: Option<&str>,
        reason: &str,
        started: Instant,
    ) -> Outcome {
        self.emit(
            HostEvent {
                delegated_to: delegate.map(str::to_string),
                msg: Some(reason.to_string()),
                result: json!({"changed": false, "msg": reason, "unreachable": true}),
                ..HostEvent::new(host, HostStatus::Unreachable)
            },
            started,
        );
        Outcome::Unreachable
    }
}

/// One task on one host while it runs: what [`PlayRun::run_task_on_host`] worked out once for
/// the single run or every loop item.
struct HostTask<'a> {
    task: &'a Task,
    call: &'a ModuleCall,
    scope: &'a TaskScope,
    host: &'a str,
    vars: Vars,
    no_log: bool,
    ignore_errors: bool,
    delegate: Option<String>,
    started: Instant,
    /// The loop's undefined variable, reported once the conditions hold.
    loop_error: Option<TaskError>,
}

impl HostTask<'_> {
    /// The event for a module's `result`: censored under `no_log` (message and diff too), with
    /// what `debug:` asked to show.
    fn shown(&self, result: Value, diff: Option<String>, status: HostStatus) -> HostEvent {
        let shown = if self.no_log {
            censor(&result)
        } else {
            result.clone()
        };
        HostEvent {
            delegated_to: self.delegate.clone(),
            msg: shown.get("msg").and_then(Value::as_str).map(str::to_string),
            diff: if self.no_log { None } else { diff },
            debug_output: if self.no_log {
                None
            } else {
                builtin::debug_output(self.call, &result)
            },
            result: shown,
            ..HostEvent::new(self.host, status)
        }
    }
}

/// What ansible-core 2.19 puts in a failed result's `exception` when tracebacks are off (the
/// default): the callback does not print it, registered results have it.
pub(crate) const EXCEPTION_UNAVAILABLE: &str = "(traceback unavailable)";

/// A failed result carries Ansible's `exception`.
fn mark_exception(m: &mut Map<String, Value>) {
    if m.get("failed").and_then(Value::as_bool) == Some(true) && !m.contains_key("exception") {
        m.insert(
            "exception".into(),
            Value::String(EXCEPTION_UNAVAILABLE.into()),
        );
    }
}

/// The `failed`, `changed` and `skipped` of a module result (missing means false).
struct ResultFlags {
    failed: bool,
    changed: bool,
    skipped: bool,
}

impl ResultFlags {
    fn of(result: &Value) -> ResultFlags {
        let flag = |k: &str| result.get(k).and_then(Value::as_bool).unwrap_or(false);
        // As Ansible's `TaskResult.is_failed`: `failed_when`'s verdict (or its error text)
        // decides over `failed`, which `until` may set after it when retries run out.
        let failed = match result.get("failed_when_result") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => !s.is_empty(),
            Some(_) => true,
            None => flag("failed"),
        };
        ResultFlags {
            failed,
            changed: flag("changed"),
            skipped: flag("skipped"),
        }
    }
}

fn status_of(failed: bool, changed: bool, skipped: bool, ignore: bool) -> HostStatus {
    match (failed, ignore) {
        (true, true) => HostStatus::Ignored,
        (true, false) => HostStatus::Failed,
        _ if skipped => HostStatus::Skipped,
        _ if changed => HostStatus::Changed,
        _ => HostStatus::Ok,
    }
}

pub(crate) fn outcome_of(status: HostStatus) -> Outcome {
    match status {
        HostStatus::Ok => Outcome::Ok,
        HostStatus::Changed => Outcome::Changed,
        HostStatus::Skipped => Outcome::Skipped,
        HostStatus::Failed => Outcome::Failed,
        HostStatus::Ignored => Outcome::Ignored,
        HostStatus::Unreachable => Outcome::Unreachable,
    }
}

fn censor(result: &Value) -> Value {
    json!({"censored": CENSORED, "changed": result.get("changed").cloned().unwrap_or(Value::Bool(false))})
}

/// A number given as a number or as text (`retries: "3"`), as Ansible accepts both.
pub(crate) fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A loop's `loop_control`, rendered for one host.
pub(crate) struct LoopControls {
    pub(crate) loop_var: String,
    index_var: Option<String>,
    extended: bool,
    extended_allitems: bool,
}

impl LoopControls {
    /// The variables item `index` of `items` defines (for a task's run and, as Ansible's
    /// IncludedFile passes them on, for the tasks of an included file): the loop variable,
    /// `ansible_loop_var`, the index variable and `ansible_index_var`, `ansible_loop`.
    pub(crate) fn item_vars(&self, items: &[Value], index: usize) -> Vec<(String, Value)> {
        let mut vars = vec![
            (self.loop_var.clone(), items[index].clone()),
            (
                "ansible_loop_var".into(),
                Value::String(self.loop_var.clone()),
            ),
        ];
        if let Some(index_var) = &self.index_var {
            vars.push((index_var.clone(), json!(index)));
            vars.push(("ansible_index_var".into(), Value::String(index_var.clone())));
        }
        if self.extended {
            let extended = extended_loop(items, index, self.extended_allitems);
            vars.push(("ansible_loop".into(), extended));
        }
        vars
    }
}

/// `ansible_loop` of `loop_control: {extended: true}` for item `index` of `items`, with the
/// keys ansible-core 2.19 sets (`previtem` and `nextitem` only where there is one).
fn extended_loop(items: &[Value], index: usize, allitems: bool) -> Value {
    let length = items.len();
    let mut m = serde_json::Map::new();
    m.insert("index".into(), json!(index + 1));
    m.insert("index0".into(), json!(index));
    m.insert("first".into(), json!(index == 0));
    m.insert("last".into(), json!(index + 1 == length));
    m.insert("length".into(), json!(length));
    m.insert("revindex".into(), json!(length - index));
    m.insert("revindex0".into(), json!(length - index - 1));
    if allitems {
        m.insert("allitems".into(), Value::Array(items.to_vec()));
    }
    if index > 0 {
        m.insert("previtem".into(), items[index - 1].clone());
    }
    if let Some(next) = items.get(index + 1) {
        m.insert("nextitem".into(), next.clone());
    }
    Value::Object(m)
}

/// Why `module` refuses its templated `args` (an unknown or missing argument, a value of the
/// wrong type or not one of the choices), if it does. Unknown and missing arguments are told
/// in Ansible's words, which tests and roles match (`Unsupported parameters for (file) module:
/// bogus. Supported parameters include: ...`, `missing required arguments: path`); an action
/// plugin's refusal names the action as written (`written`, e.g. `ansible.builtin.fail`).
fn refused_arguments(module: &str, written: &str, args: &Map<String, Value>) -> Option<String> {
    use etcdplay_modules::ModuleError;
    // Free-form words given to a module that takes none (`copy: some words`).
    if args.contains_key("_raw_params") && !etcdplay_modules::takes_raw_params(module) {
        return Some(format!(
            "Task failed: Action '{}' does not support raw params.",
            etcdplay_modules::ansible_fqcn(module)
        ));
    }
    if etcdplay_modules::arg_refusal(module) == etcdplay_modules::ArgRefusal::Action {
        return invalid_options(module, written, args);
    }
    let errors = etcdplay_modules::validate_args(module, args);
    let unknown: Vec<&str> = errors
        .iter()
        .filter_map(|e| match e {
            ModuleError::UnknownArgument { arg, .. } => Some(arg.as_str()),
            _ => None,
        })
        .collect();
    if !unknown.is_empty() {
        return Some(unsupported_parameters(module, unknown));
    }
    let mut missing: Vec<&str> = errors
        .iter()
        .filter_map(|e| match e {
            ModuleError::MissingArgument { arg, .. } => Some(arg.as_str()),
            _ => None,
        })
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        return Some(format!(
            "missing required arguments: {}",
            missing.join(", ")
        ));
    }
    if let Some(first) = errors.into_iter().next() {
        return Some(first.to_string());
    }
    args.iter().find_map(|(arg, value)| {
        etcdplay_modules::check_arg_value(module, arg, value)
            .map(|message| format!("module {module}: argument '{arg}': {message}"))
    })
}

/// An action plugin's refusal of options it does not list (`fail: bogus=1` in Ansible:
/// "Invalid options for fail: bogus"; Ansible joins a set, in no fixed order: sorted here). The
/// message names the action as `written` (Ansible's `self._task.action`).
fn invalid_options(module: &str, written: &str, args: &Map<String, Value>) -> Option<String> {
    let spec = etcdplay_modules::module_arg_spec(module);
    let known = |arg: &str| {
        spec.iter().any(|s| {
            s.name == etcdplay_modules::ANY_ARG || s.name == arg || s.aliases.contains(&arg)
        })
    };
    let mut bad: Vec<&str> = args
        .keys()
        .map(String::as_str)
        .filter(|arg| !known(arg))
        .collect();
    if bad.is_empty() {
        return None;
    }
    bad.sort_unstable();
    Some(format!("Invalid options for {written}: {}", bad.join(",")))
}

/// Ansible's message for arguments a module does not take: the module's options sorted, then
/// their aliases in parentheses.
fn unsupported_parameters(module: &str, mut unknown: Vec<&str>) -> String {
    unknown.sort_unstable();
    let spec = etcdplay_modules::module_arg_spec(module);
    let mut names: Vec<&str> = spec
        .iter()
        .map(|s| s.name)
        .filter(|n| *n != etcdplay_modules::ANY_ARG)
        .collect();
    names.sort_unstable();
    let mut aliases: Vec<&str> = spec
        .iter()
        .flat_map(|s| s.aliases.iter().copied())
        .collect();
    aliases.sort_unstable();
    let aliases = if aliases.is_empty() {
        String::new()
    } else {
        format!(" ({})", aliases.join(", "))
    };
    format!(
        "Unsupported parameters for ({module}) module: {}. Supported parameters include: {}{aliases}.",
        unknown.join(", "),
        names.join(", ")
    )
}
