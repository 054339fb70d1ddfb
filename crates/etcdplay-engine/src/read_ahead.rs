//! Reading the probes of upcoming tasks in one round trip per host. Before a task runs, a host
//! whose last tasks changed nothing gets the read-only probes of this task and the next ones
//! (up to its window) in one request; each task's module then finds its answer kept by the
//! host's [`Prefetching`] transport. A task that changes a host sends something else, which
//! drops the rest, so answers never outlive a change. The window adapts: a host that changed
//! something stops reading ahead (a converging host would waste the probes; it still gets a
//! task's several probes in one request) and a host that again changes nothing reads further
//! each time.
//!
//! Answers are only used by the tasks they were read for: a task outside the current
//! read-ahead (a handler, a task after the window) drops what is left first, whatever it sends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use etcdplay_playbook::{Loop, LoopKind, ModuleCall, Task, TaskKind};
use etcdplay_template::Vars;
use etcdplay_transport::{ExecRequest, Prefetching};

use crate::connect::ConnectTarget;
use crate::play::PlayRun;
use crate::scope::TaskScope;
use crate::tags::should_run;
use crate::task::Outcome;

/// The most tasks read ahead at once.
const MAX_WINDOW: usize = 32;

/// The `with_*` lookups whose items are the data they are given, so that working them out
/// ahead of the run reads nothing and runs nothing.
const DATA_LOOKUPS: &[&str] = &[
    "items",
    "list",
    "dict",
    "indexed_items",
    "flattened",
    "together",
    "nested",
    "subelements",
    "sequence",
];

/// Per host: how far to read ahead, and which tasks the kept answers are for.
#[derive(Default)]
pub(crate) struct ReadAhead {
    hosts: Mutex<HashMap<String, HostReadAhead>>,
}

struct HostReadAhead {
    window: usize,
    /// Identities of the tasks whose probes were read, and the transport that keeps them.
    tasks: Vec<usize>,
    transport: Option<Arc<Prefetching>>,
    /// The task whose change carries probes read for the next one (see [`ReadAhead::carry`]).
    carrier: Option<usize>,
    /// The target `transport` reaches (where the kept and the carried probes were read).
    read_on: Option<ConnectTarget>,
}

impl Default for HostReadAhead {
    fn default() -> Self {
        HostReadAhead {
            window: MAX_WINDOW,
            tasks: Vec::new(),
            transport: None,
            carrier: None,
            read_on: None,
        }
    }
}

/// What a task would do in a read-ahead: send these probes (the extension's preflight probes,
/// then the module's), nothing (its `when:` is false or its tags leave it out), or something
/// that ends the read-ahead.
enum Planned {
    Probe(ConnectTarget, Vec<ExecRequest>),
    Nothing,
    Stop,
}

/// One task of a read-ahead plan; `own` tasks are those whose answers the plan keeps for
/// them (fact gathering is served without [`ReadAhead::entering`]).
struct Step<'a> {
    task: &'a Task,
    scope: &'a TaskScope,
    own: bool,
}

fn task_id(task: &Task) -> usize {
    task as *const Task as usize
}

impl ReadAhead {
    fn hosts(&self) -> MutexGuard<'_, HashMap<String, HostReadAhead>> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called before `task` runs on `host`: answers read for other tasks are dropped.
    pub(crate) fn entering(&self, host: &str, task: &Task) {
        let mut hosts = self.hosts();
        let Some(h) = hosts.get_mut(host) else { return };
        if h.carrier.is_some_and(|c| c != task_id(task)) {
            h.carrier = None;
            if let Some(t) = &h.transport {
                t.drop_after_change();
            }
        }
        if !h.tasks.contains(&task_id(task)) {
            if let Some(t) = h.transport.take() {
                t.forget();
            }
            h.tasks.clear();
        }
    }

    /// Called when task list `tasks` ends on `hosts`: what is left of answers read for its
    /// tasks was not used. Dropping it here also keeps task identities (addresses) from
    /// outliving their list, whose tasks an include frees afterwards. Answers read for
    /// another list stay: fact gathering reads ahead for the play's first tasks, and the
    /// (often empty) `pre_tasks` ending in between must not throw them away.
    pub(crate) fn list_done(&self, hosts: &[String], tasks: &[Task]) {
        let ids: Vec<usize> = tasks.iter().map(task_id).collect();
        let mut all = self.hosts();
        for host in hosts {
            if let Some(h) = all.get_mut(host) {
                if !h.tasks.iter().any(|t| ids.contains(t)) {
                    continue;
                }
                if let Some(t) = h.transport.take() {
                    t.forget();
                }
                h.tasks.clear();
            }
        }
    }

    /// Called after a task ran on `host`: a change closes the window, no change widens it.
    pub(crate) fn finished(&self, host: &str, outcome: Outcome) {
        let mut hosts = self.hosts();
        let h = hosts.entry(host.to_string()).or_default();
        h.window = match outcome {
            Outcome::Ok | Outcome::Skipped => (h.window * 2).clamp(2, MAX_WINDOW),
            _ => 1,
        };
    }

    /// How many tasks `host` may read ahead before `task`: none while answers read for `task`
    /// are still waiting (planning costs as much CPU as the tasks themselves).
    fn window(&self, host: &str, task: &Task) -> usize {
        match self.hosts().get(host) {
            None => MAX_WINDOW,
            Some(h)
                if h.tasks.contains(&task_id(task))
                    && h.transport.as_ref().is_some_and(|t| t.waiting() > 0) =>
            {
                0
            }
            Some(h) => h.window,
        }
    }

    /// Probes of a later task wait on `transport` for the change of the task about to run
    /// (the first of `tasks`); they are dropped when another task starts on `host`.
    fn carry(
        &self,
        host: &str,
        tasks: Vec<usize>,
        transport: Arc<Prefetching>,
        target: ConnectTarget,
    ) {
        let carrier = tasks.first().copied();
        self.remember(host, tasks, transport, target);
        if let Some(h) = self.hosts().get_mut(host) {
            h.carrier = carrier;
        }
    }

    /// On a host whose last task changed something, where the answers now waiting were read
    /// (the target and its transport), so that the next task's probes can follow them.
    fn converging(&self, host: &str) -> Option<(ConnectTarget, Arc<Prefetching>)> {
        let hosts = self.hosts();
        let h = hosts.get(host)?;
        if h.window != 1 {
            return None;
        }
        Some((h.read_on.clone()?, h.transport.clone()?))
    }

    /// `tasks` will find their answers kept by `transport`, which reaches `target`.
    fn remember(
        &self,
        host: &str,
        tasks: Vec<usize>,
        transport: Arc<Prefetching>,
        target: ConnectTarget,
    ) {
        let mut hosts = self.hosts();
        let h = hosts.entry(host.to_string()).or_default();
        h.tasks = tasks;
        h.transport = Some(transport);
        h.read_on = Some(target);
    }
}

impl PlayRun<'_> {
    /// Reads ahead on every host of `hosts` that wants it, starting at `upcoming[0]` (the task
    /// about to run). Returns how many probes were kept, for `--timing`.
    pub(crate) async fn read_ahead(
        &self,
        upcoming: &[Task],
        scope: &TaskScope,
        hosts: &[String],
    ) -> usize {
        if !self.engine.options.read_ahead || scope.handler {
            return 0;
        }
        let plan: Vec<Step<'_>> = upcoming
            .iter()
            .map(|task| Step {
                task,
                scope,
                own: true,
            })
            .collect();
        self.read_ahead_all(&plan, hosts).await
    }

    /// Reads fact gathering (`setup`, about to run) and the first tasks of the play ahead in one
    /// request per host. Their arguments are worked out without facts: a task that needs them
    /// (for a path, a condition) ends the read-ahead there; templates are not rendered for it.
    pub(crate) async fn read_ahead_with_facts(&self, setup: &Task, hosts: &[String]) -> usize {
        if !self.engine.options.read_ahead {
            return 0;
        }
        let facts_scope = TaskScope::default();
        let mut plan = vec![Step {
            task: setup,
            scope: &facts_scope,
            own: false,
        }];
        let first = self.first_list();
        if let Some((tasks, scope)) = &first {
            plan.extend(tasks.iter().map(|task| Step {
                task,
                scope,
                own: true,
            }));
        }
        self.read_ahead_all(&plan, hosts).await
    }

    /// The task list a play runs first, with its scope: `pre_tasks`, else the first role (its
    /// first dependency first), else `tasks`.
    fn first_list(&self) -> Option<(&[Task], TaskScope)> {
        let scope = TaskScope {
            tags: self.play.tags.clone(),
            become_: self.play.become_.clone(),
            ..TaskScope::default()
        };
        if !self.play.pre_tasks.is_empty() {
            return Some((&self.play.pre_tasks, scope));
        }
        if let Some(mut role_ref) = self.play.roles.first() {
            let mut scope = scope.enter_role(role_ref);
            while let Some(dep) = role_ref.role.dependencies.first() {
                scope = scope.enter_role(dep);
                role_ref = dep;
            }
            return Some((&role_ref.role.tasks, scope));
        }
        Some((&self.play.tasks, scope))
    }

    async fn read_ahead_all(&self, plan: &[Step<'_>], hosts: &[String]) -> usize {
        let forks = self.engine.options.forks;
        // Owned names, as in `gather_facts`.
        let per_host = hosts.iter().cloned().map(|h| async move {
            let _permit = self.engine.forks.acquire().await;
            self.read_ahead_on(plan, &h).await
        });
        let kept = crate::play::for_each_host(per_host, forks).await;
        kept.into_iter().sum()
    }

    async fn read_ahead_on(&self, plan: &[Step<'_>], host: &str) -> usize {
        let Some(first) = plan.first() else { return 0 };
        // A window of one still batches the task's own probes when it has several (the data-dir
        // guard's and the module's, on a host that is converging).
        let window = self.engine.read_ahead.window(host, first.task);
        if window == 0 {
            // This task's answers came with the last change; on a converging host the next
            // task's probes go with this task's change in turn.
            if let Some((target, transport)) = self.engine.read_ahead.converging(host) {
                let carried = self
                    .after_change(plan.get(1), &target, &transport, host)
                    .await;
                if let Some(id) = carried {
                    let tasks = vec![task_id(first.task), id];
                    self.engine.read_ahead.carry(host, tasks, transport, target);
                }
            }
            return 0;
        }
        let mut probes = Vec::new();
        let mut tasks = Vec::new();
        let mut target: Option<ConnectTarget> = None;
        let mut next = plan.len();
        for (i, step) in plan.iter().enumerate() {
            if probes.len() >= window {
                next = i;
                break;
            }
            let TaskKind::Module(call) = &step.task.kind else {
                break;
            };
            match self.planned(step.task, call, step.scope, host).await {
                Planned::Probe(t, reqs) => {
                    if target.as_ref().is_some_and(|first| *first != t) {
                        break;
                    }
                    target = Some(t);
                    probes.extend(reqs);
                }
                Planned::Nothing => {}
                Planned::Stop => break,
            }
            if step.own {
                tasks.push(task_id(step.task));
            }
        }
        let Some(target) = target else { return 0 };
        let Ok(transport) = self.engine.pool.get_prefetching(&target).await else {
            return 0;
        };
        if transport.waiting() > 0 {
            return 0;
        }
        if window == 1 {
            let carried = self
                .after_change(plan.get(next), &target, &transport, host)
                .await;
            if let Some(id) = carried {
                tasks.push(id);
                self.engine.read_ahead.carry(
                    host,
                    tasks.clone(),
                    transport.clone(),
                    target.clone(),
                );
            }
        }
        // One probe gains nothing from a batch.
        if probes.len() < 2 {
            return 0;
        }
        let scripts: Vec<&str> = probes.iter().map(|p| p.script.as_str()).collect();
        let prelude = etcdplay_modules::batch_prelude(&scripts);
        match transport.prefetch_with(&probes, &prelude).await {
            Ok(kept) => {
                self.engine
                    .read_ahead
                    .remember(host, tasks, transport, target);
                kept
            }
            // The task itself will meet (and report) whatever went wrong.
            Err(_) => 0,
        }
    }

    /// On a converging host, the probes of `step` (the task after the one about to run) wait
    /// for that task's change and go in its request (`Prefetching::prefetch_after_change`):
    /// one round trip per task instead of two. Only a module task of the same target whose
    /// probes are known now; its identity when they wait.
    async fn after_change(
        &self,
        step: Option<&Step<'_>>,
        target: &ConnectTarget,
        transport: &Prefetching,
        host: &str,
    ) -> Option<usize> {
        let step = step.filter(|s| s.own)?;
        let TaskKind::Module(call) = &step.task.kind else {
            return None;
        };
        let Planned::Probe(t, reqs) = self.planned(step.task, call, step.scope, host).await else {
            return None;
        };
        if t != *target {
            return None;
        }
        let scripts: Vec<&str> = reqs.iter().map(|p| p.script.as_str()).collect();
        let prelude = etcdplay_modules::batch_prelude(&scripts);
        (transport.prefetch_after_change(&reqs, &prelude) > 0).then(|| task_id(step.task))
    }

    /// What `task` would send first on `host`, worked out as [`PlayRun::run_task_on_host`]
    /// would (variables, conditions, arguments, target, become, check and diff mode).
    async fn planned(
        &self,
        task: &Task,
        call: &ModuleCall,
        scope: &TaskScope,
        host: &str,
    ) -> Planned {
        if !should_run(
            &scope.tags_of(task),
            &self.engine.options.tags,
            &self.engine.options.skip_tags,
        ) {
            return Planned::Nothing;
        }
        let delegated = task.delegate_to.is_some() || scope.delegate_to.is_some();
        // An async task starts a job instead of sending its module's probe.
        let is_async = task.extra.contains_key("async");
        if delegated || is_async || task.run_once.is_some() || scope.run_once.is_some() {
            return Planned::Stop;
        }
        let vars = self.task_vars(host, scope, Some(task));
        match &task.loop_ {
            None => self.planned_call(task, call, scope, host, &vars).await,
            Some(l) => self.planned_items(task, call, scope, host, &vars, l).await,
        }
    }

    /// The probes of a looped task: each item's, planned as [`PlayRun::run_items_on_host`]
    /// runs it (the loop variables defined, `when:` per item). Only loops over data: a
    /// lookup that reads files or runs commands (`with_fileglob`, `with_pipe`, ...) is left
    /// to the run. An item planned wrong (its arguments use what an earlier item registered)
    /// costs nothing but the batch: a request that is not the kept one drops what is kept.
    async fn planned_items(
        &self,
        task: &Task,
        call: &ModuleCall,
        scope: &TaskScope,
        host: &str,
        vars: &Vars,
        l: &Loop,
    ) -> Planned {
        let over_data = match &l.kind {
            LoopKind::Loop => true,
            LoopKind::With(lookup) => DATA_LOOKUPS.contains(&lookup.as_str()),
        };
        if !over_data {
            return Planned::Stop;
        }
        let origin = l.origin.to_string();
        let Ok(items) = self.loop_items(&l.kind, &l.items, &call.name, &origin, vars) else {
            return Planned::Stop;
        };
        let Ok(controls) = self.loop_controls(task, vars) else {
            return Planned::Stop;
        };
        if items.len() > MAX_WINDOW {
            return Planned::Stop;
        }
        let mut planned: Option<(ConnectTarget, Vec<ExecRequest>)> = None;
        // One copy of the task's variables, each item's loop variables written over the last
        // item's, as the run does it.
        let mut item_vars = vars.clone();
        for index in 0..items.len() {
            for (name, value) in controls.item_vars(&items, index) {
                item_vars.insert_literal(name, value);
            }
            match self.planned_call(task, call, scope, host, &item_vars).await {
                Planned::Probe(t, reqs) => match &mut planned {
                    Some((first, _)) if *first != t => return Planned::Stop,
                    Some((_, probes)) => probes.extend(reqs),
                    None => planned = Some((t, reqs)),
                },
                Planned::Nothing => {}
                Planned::Stop => return Planned::Stop,
            }
        }
        match planned {
            Some((t, probes)) => Planned::Probe(t, probes),
            None => Planned::Nothing,
        }
    }

    /// The probes of one run of the task's module with `vars` (an item's, in a loop).
    async fn planned_call(
        &self,
        task: &Task,
        call: &ModuleCall,
        scope: &TaskScope,
        host: &str,
        vars: &Vars,
    ) -> Planned {
        match self.conditions_hold(task, scope, vars) {
            Ok(true) => {}
            Ok(false) => return Planned::Nothing,
            Err(_) => return Planned::Stop,
        }
        let origin = call.args_origin.to_string();
        let Ok(mut args) = self.module_args(call, vars, &origin) else {
            return Planned::Stop;
        };
        if self
            .apply_module_defaults(task, scope, &call.name, &mut args, vars, &origin)
            .is_err()
        {
            return Planned::Stop;
        }
        let Ok(target) = self.target(host, task, vars, None) else {
            return Planned::Stop;
        };
        let Ok(become_) = self.become_of(task, scope, vars, &target) else {
            return Planned::Stop;
        };
        let Ok((check, diff)) = self.check_and_diff(task, scope, vars, &origin) else {
            return Planned::Stop;
        };
        let control = self.task_control(vars);
        let module_call = etcdplay_modules::ModuleCall {
            name: &call.name,
            args: &args,
            check,
            diff,
            become_: become_.as_ref(),
            control: &control,
        };
        let Some(module_probe) = etcdplay_modules::first_probe(module_call) else {
            return Planned::Stop;
        };
        let mut probes = self
            .engine
            .extension
            .read_ahead_probes(&call.name, &args, &target);
        probes.push(module_probe);
        Planned::Probe(target, probes)
    }
}
