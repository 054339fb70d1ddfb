//! One task on one host: variables, `when`, loops, templated arguments, the module (or an
//! engine-level action), `until` retries, `changed_when`/`failed_when`, `register`, `notify`,
//! and the events that report it. Everything here concerns a single host; running a task on
//! many hosts at once is the play runner's job.

use std::time::{Duration, Instant};

use etcdplay_playbook::{Flag, ModuleCall, Task};
use etcdplay_source::parse_bool;
use etcdplay_template::{Precedence, VarLayers, Vars};
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
    fn loop_controls(&self, task: &Task, vars: &Vars) -> Result<LoopControls, TaskError> {
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
        let items = match &task.loop_ {
            None => None,
            Some(l) => {
                match self.loop_items(&l.kind, &l.items, &call.name, &l.origin.to_string(), &vars) {
                    Ok(items) => Some(items),
                    Err(e) => {
                        return self.report_error(
                            host,
                            delegate.as_deref(),
                            e,
                            ignore_errors,
                            started,
                        )
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
        match self.conditions_hold(task, run.scope, &run.vars) {
            Ok(true) => {}
            Ok(false) => {
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
            Err(e) => {
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
        if flags.changed && flags.failed {
            self.count_failed_change(host);
        }
        outcome_of(status)
    }

    /// Ansible's recap counts a failed (or ignored) result that changed something in
    /// `changed` too; the outcome only says it failed.
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
            run.vars.insert_literal(loop_var.clone(), item.clone());
            run.vars
                .insert("ansible_loop_var", Value::String(loop_var.clone()));
            if let Some(index_var) = &controls.index_var {
                run.vars.insert(index_var.clone(), json!(index));
                run.vars
                    .insert("ansible_index_var", Value::String(index_var.clone()));
            }
            if controls.extended {
                let extended = extended_loop(items, index, controls.extended_allitems);
                run.vars.insert_literal("ansible_loop", extended);
            }
            // Ansible shows `(item=None)` for a `no_log` loop: the item may be the secret.
            let label = if run.no_log {
                "None".to_string()
            } else {
                self.item_label(task, &run.vars, item)
            };
            let (result, diff) = match self.conditions_hold(task, run.scope, &run.vars) {
                Ok(false) => {
                    let r = json!({"changed": false, "skipped": true, "skip_reason": "Conditional result was False", "item": item, "ansible_loop_var": loop_var});
                    self.emit(
                        HostEvent {
                            delegated_to: delegate.clone(),
                            item_label: Some(label),
                            ..HostEvent::new(host, HostStatus::Skipped)
                        },
                        item_started,
                    );
                    results.push(r);
                    continue;
                }
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
            all_skipped = false;
            // What `set_fact` learnt is seen by the next items, as in Ansible.
            if let Some(Value::Object(facts)) = result.get("ansible_facts") {
                for (name, value) in facts {
                    run.vars.insert_literal(name.clone(), value.clone());
                }
            }
            let mut result = result;
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
            if any_changed {
                self.count_failed_change(host);
            }
            self.emit(
                HostEvent {
                    delegated_to: delegate,
                    msg: Some("One or more items failed".into()),
                    result: json!({"changed": any_changed, "msg": "One or more items failed"}),
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
            self.apply_result_conditions(task, &register, &mut result, vars, &origin)?;
            if runs == 1 {
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
                None => !ResultFlags::of(&result).failed,
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
            }
            vars.insert_literal(register.clone(), result.clone());
            return Ok((result, diff));
        }
        unreachable!("a task runs at least once")
    }

    /// `changed_when` and `failed_when` on a result, with the result registered (under its
    /// name, or `result`) for the conditions to read.
    fn apply_result_conditions(
        &self,
        task: &Task,
        register: &str,
        result: &mut Value,
        vars: &mut Vars,
        origin: &str,
    ) -> Result<(), TaskError> {
        vars.insert_literal(register.to_string(), result.clone());
        if let (Some(conds), Value::Object(m)) = (&task.changed_when, &mut *result) {
            let mut changed = true;
            for c in conds {
                changed &= self.engine.templar.eval_condition(c, origin, vars)?;
            }
            m.insert("changed".into(), Value::Bool(changed));
        }
        vars.insert_literal(register.to_string(), result.clone());
        if let (Some(conds), Value::Object(m)) = (&task.failed_when, &mut *result) {
            let mut failed = true;
            for c in conds {
                failed &= self.engine.templar.eval_condition(c, origin, vars)?;
            }
            m.insert("failed".into(), Value::Bool(failed));
            m.insert("failed_when_result".into(), Value::Bool(failed));
            if failed && !m.contains_key("msg") {
                m.insert(
                    "msg".into(),
                    Value::String("The failed_when condition was met".into()),
                );
            }
        }
        vars.insert_literal(register.to_string(), result.clone());
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
    pub(crate) fn task_control<'v>(
        &'v self,
        scope: &'v TaskScope,
        vars: &'v Vars,
    ) -> TaskControl<'v> {
        TaskControl {
            checksums: &self.engine.checksums,
            templar: &self.engine.templar,
            vars,
            role_dir: scope.role.as_ref().map(|r| r.path.as_path()),
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
        let name = if etcdplay_template::is_possibly_template(&call.name) {
            self.engine
                .templar
                .render_string(&call.name, &origin, vars)?
        } else {
            call.name.clone()
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
        let args = self.module_args(call, vars, &origin)?;
        // Arguments the module refuses fail the task before anything reaches the host, as
        // Ansible's argument check does (no connection is opened for it).
        if let Some(msg) = refused_arguments(&call.name, &args) {
            return Ok((json!({"failed": true, "changed": false, "msg": msg}), None));
        }
        if let Some(spec) = self.async_of(task, vars)? {
            return self
                .execute_async(task, call, scope, host, vars, delegate, args, spec)
                .await;
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
        let transport = self.engine.pool.get(&target).await?;
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
        let control = self.task_control(scope, vars);
        let mut args = args;
        if etcdplay_modules::canonical_name(&call.name) == Some("async_status")
            && !args.contains_key("_async_dir")
        {
            // As Ansible's async_status action hands its module the async directory.
            if let Some(dir) = self.var_string(vars, "ansible_async_dir")? {
                args.insert("_async_dir".into(), Value::String(dir));
            }
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

/// The `failed`, `changed` and `skipped` of a module result (missing means false).
struct ResultFlags {
    failed: bool,
    changed: bool,
    skipped: bool,
}

impl ResultFlags {
    fn of(result: &Value) -> ResultFlags {
        let flag = |k: &str| result.get(k).and_then(Value::as_bool).unwrap_or(false);
        ResultFlags {
            failed: flag("failed"),
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
struct LoopControls {
    loop_var: String,
    index_var: Option<String>,
    extended: bool,
    extended_allitems: bool,
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
/// bogus. Supported parameters include: ...`, `missing required arguments: path`).
fn refused_arguments(module: &str, args: &Map<String, Value>) -> Option<String> {
    use etcdplay_modules::ModuleError;
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
