//! Running one play: hosts and `serial` batches, fact gathering, `pre_tasks` → roles → `tasks`
//! → `post_tasks` with handler flushes between them, blocks with `rescue`/`always`, includes,
//! `meta`, `run_once`, `any_errors_fatal` and `max_fail_percentage`. In the linear strategy
//! every host finishes a task before any host starts the next; in the free strategy each host
//! walks the list on its own.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use etcdplay_playbook::{Play, Serial, Strategy, Task, TaskKind};
use futures::future::join_all;
use futures::StreamExt;
use serde_json::{Map, Value};

use crate::engine::EngineInner;
use crate::error::TaskError;
use crate::events::{HostEvent, HostStatus, TaskKindLabel};
use crate::extension::{PlayTask, Preflight};
use crate::options::Gathering;
use crate::redundant_restart::RestartLedger;
use crate::scope::{RoleFrame, TaskScope};
use crate::tags::should_run;
use crate::task::{outcome_of, Outcome};

mod includes;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many task lists (blocks, imports, includes, roles) may nest in all. The include bound alone
/// is not enough: a self-including file whose tasks sit inside many nested blocks multiplies the
/// depth (64 includes x 100 blocks). A level costs up to ~25 KB of stack in a debug build, so 192
/// keeps the worst case near 5 MiB, within the 8 MiB main thread that polls a run; any single
/// file's blocks (the YAML loader allows about 125 levels) still fit.
pub(crate) const MAX_NESTING: usize = 192;

/// A chain of includes for a message: all of it when short, else its two ends, since a runaway
/// chain is one cycle repeated.
fn show_chain(links: &[String]) -> String {
    if links.len() <= 8 {
        return links.join(" -> ");
    }
    format!(
        "{} -> ... ({} more) ... -> {}",
        links[..2].join(" -> "),
        links.len() - 7,
        links[links.len() - 5..].join(" -> ")
    )
}

/// The error for a block, import or include `task` met with [`MAX_NESTING`] levels open already.
fn nested_too_deep(task: &Task, scope: &TaskScope) -> TaskError {
    let chain = if scope.includes.is_empty() {
        String::new()
    } else {
        format!("; include chain: {}", show_chain(&scope.includes))
    };
    TaskError::NestedTooDeep {
        at: task.origin.to_string(),
        limit: MAX_NESTING,
        chain,
    }
}

/// The state of one play while it runs on one batch of hosts.
pub(crate) struct PlayRun<'a> {
    pub(crate) engine: &'a EngineInner,
    pub(crate) play: &'a Play,
    batch: Vec<String>,
    /// Hosts that failed a task (not rescued) and left the play.
    failed: Mutex<HashSet<String>>,
    unreachable: Mutex<HashSet<String>>,
    /// `meta: end_host`.
    ended: Mutex<HashSet<String>>,
    /// `any_errors_fatal`, `max_fail_percentage` or `meta: end_play` stopped the play.
    aborted: AtomicBool,
    /// Handler names and `listen` topics notified per host, in notification order.
    notified: Mutex<HashMap<String, Vec<String>>>,
    /// Rendered `vars_files` per host (rendered once per play and host).
    vars_files: Mutex<HashMap<String, Arc<Map<String, Value>>>>,
    /// The play's `vars:`, shared by the variables of every host and task.
    pub(crate) play_vars: Arc<Map<String, Value>>,
    /// When handlers were notified and units started, to skip restarts that are redundant.
    pub(crate) restarts: RestartLedger,
    /// The defaults and vars every task of the play sees from the play's `roles:`.
    /// Grows when an `include_role` with `public: true` runs.
    pub(crate) public_role_vars: Mutex<PublicRoleVars>,
    /// Which uses of roles ran on which hosts (see [`RoleRuns`]).
    role_runs: Mutex<RoleRuns>,
}

/// Ansible's bookkeeping of a play's roles: a use of a role (by `RoleFrame::run_key`) has
/// *run* on a host once one of its tasks there was not skipped, and is *complete* on the host
/// when its task list ends after it ran; a complete use is not run on that host again (unless
/// the role's `allow_duplicates`), so a role that several roles depend on runs once.
#[derive(Debug, Default)]
struct RoleRuns {
    ran: HashMap<String, HashSet<String>>,
    completed: HashMap<String, HashSet<String>>,
}

impl RoleRuns {
    fn ran(&mut self, key: &str, host: &str) {
        self.ran
            .entry(key.to_string())
            .or_default()
            .insert(host.to_string());
    }

    fn is_complete(&self, key: &str, host: &str) -> bool {
        self.completed.get(key).is_some_and(|h| h.contains(host))
    }

    /// The role's task list ended for `hosts`: those where it ran are complete.
    fn end(&mut self, key: &str, hosts: &[String]) {
        let ran = self.ran.get(key).cloned().unwrap_or_default();
        let done = self.completed.entry(key.to_string()).or_default();
        done.extend(hosts.iter().filter(|h| ran.contains(*h)).cloned());
    }
}

/// What the roles of a play's `roles:` export to every task of the play: with Ansible's default
/// `private_role_vars: false`, each role's `defaults/` (at role-defaults precedence) and `vars/`
/// (at role-vars precedence), its dependencies' first, whether or not the role has run yet.
/// Parameters and the role's `vars:` keyword stay the role's own.
#[derive(Debug, Default)]
pub(crate) struct PublicRoleVars {
    pub(crate) defaults: Arc<Map<String, Value>>,
    pub(crate) vars: Arc<Map<String, Value>>,
}

impl PublicRoleVars {
    fn of(play: &Play) -> PublicRoleVars {
        let mut out = PublicRoleVars::default();
        for r in &play.roles {
            out.add(&r.role);
        }
        out
    }

    /// Adds what `role` exports (its dependencies' first).
    pub(crate) fn add(&mut self, role: &etcdplay_playbook::Role) {
        for d in &role.dependencies {
            self.add(&d.role);
        }
        Arc::make_mut(&mut self.defaults)
            .extend(role.defaults.iter().map(|(k, v)| (k.clone(), v.clone())));
        Arc::make_mut(&mut self.vars).extend(role.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// Runs the futures of `per_host` (made lazily, one per host, by an iterator), at most `forks`
/// at a time, and returns their results in host order. Unlike `join_all`, a host's future exists only while it may run: creating them all up
/// front (each then waiting for a fork) made every task allocate and touch memory for every
/// host of the fleet at once, which at 10,000 hosts no longer fits any cache and made the cost
/// per host grow with the fleet.
pub(crate) async fn for_each_host<I>(
    per_host: I,
    forks: usize,
) -> Vec<<I::Item as std::future::Future>::Output>
where
    I: IntoIterator,
    I::Item: std::future::Future,
{
    futures::stream::iter(per_host)
        .buffered(forks.max(1))
        .collect()
        .await
}

impl<'a> PlayRun<'a> {
    pub(crate) fn new(engine: &'a EngineInner, play: &'a Play, batch: Vec<String>) -> Self {
        PlayRun {
            engine,
            play,
            batch,
            failed: Mutex::default(),
            unreachable: Mutex::default(),
            ended: Mutex::default(),
            aborted: AtomicBool::new(false),
            notified: Mutex::default(),
            vars_files: Mutex::default(),
            play_vars: Arc::new(play.vars.clone()),
            restarts: RestartLedger::default(),
            public_role_vars: Mutex::new(PublicRoleVars::of(play)),
            role_runs: Mutex::default(),
        }
    }

    fn active(&self, hosts: &[String]) -> Vec<String> {
        if self.aborted.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let failed = lock(&self.failed);
        let unreachable = lock(&self.unreachable);
        let ended = lock(&self.ended);
        hosts
            .iter()
            .filter(|h| !failed.contains(*h) && !unreachable.contains(*h) && !ended.contains(*h))
            .cloned()
            .collect()
    }

    /// Tells the variables which hosts are out of the play now (`ansible_play_hosts`).
    fn publish_left_play(&self) {
        let mut left: HashSet<String> = lock(&self.failed).clone();
        left.extend(lock(&self.unreachable).iter().cloned());
        left.extend(lock(&self.ended).iter().cloned());
        self.engine.shared.set_left_play(left);
    }

    pub(crate) fn add_notifications(&self, host: &str, names: Vec<String>) {
        let mut notified = lock(&self.notified);
        let list = notified.entry(host.to_string()).or_default();
        for n in names {
            self.restarts.notified(host, &n);
            if !list.contains(&n) {
                list.push(n);
            }
        }
    }

    /// Handler names and topics notified for `host` and not flushed yet.
    pub(crate) fn notified_for(&self, host: &str) -> Vec<String> {
        lock(&self.notified).get(host).cloned().unwrap_or_default()
    }

    /// `vars_files` of the play for `host`, loaded once.
    pub(crate) fn vars_files_of(&self, host: &str) -> Arc<Map<String, Value>> {
        if self.play.vars_files.is_empty() {
            return Arc::default();
        }
        if let Some(v) = lock(&self.vars_files).get(host) {
            return v.clone();
        }
        // A name may be a template of the host's variables, play vars and extra vars (not of
        // the vars files themselves), as Ansible renders it per host.
        let shared = &self.engine.shared;
        let mut layers = shared.host_layers(host);
        layers.push(
            etcdplay_template::Precedence::PlayVars,
            self.play.vars.clone(),
        );
        let vars = shared.vars_for(host, &layers);
        let origin = self.play.origin.to_string();
        let mut merged = Map::new();
        for name in &self.play.vars_files {
            let rendered = match self.engine.templar.render_string(name, &origin, &vars) {
                Ok(rendered) => rendered,
                Err(e) => {
                    self.engine
                        .reporter
                        .warning(&format!("{host}: vars_files entry {name}: {e}"));
                    continue;
                }
            };
            let path = self.play.playbook_dir.join(&rendered);
            match crate::varsfile::load(&path) {
                Ok(Value::Object(m)) => merged.extend(m),
                Ok(_) => {}
                Err(e) => self.engine.reporter.warning(&format!(
                    "{origin}: {host}: vars file {rendered} was not loaded: {e}"
                )),
            }
        }
        let merged = Arc::new(merged);
        lock(&self.vars_files).insert(host.to_string(), merged.clone());
        merged
    }

    /// Runs the whole play on this batch.
    /// Whether the play was stopped for every host (no later batch should run).
    pub(crate) fn stopped_all(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    /// Hosts that failed or became unreachable and are out of the play.
    pub(crate) fn departed(&self) -> HashSet<String> {
        let mut out = lock(&self.failed).clone();
        out.extend(lock(&self.unreachable).iter().cloned());
        out
    }

    /// The hosts that failed and those that became unreachable in this play, in that order.
    pub(crate) fn failed_and_unreachable(&self) -> (HashSet<String>, HashSet<String>) {
        (lock(&self.failed).clone(), lock(&self.unreachable).clone())
    }

    /// Closes the connections of hosts that left the play, once a task of the play's own lists
    /// (not a block's, a role's or an include's, where a rescue may still take a failed host
    /// back) ended on every host: in the linear strategy no task of theirs runs then. A host
    /// used again (handlers under `force_handlers`, a later play) connects again.
    async fn release_departed(&self, scope: &TaskScope) {
        if scope.depth == 0 && !scope.handler && self.play.strategy != Strategy::Free {
            self.engine.pool.release(&self.departed()).await;
        }
    }

    pub(crate) async fn run(&self) {
        if self.engine.start_at.pending() && !self.engine.start_at.play_has_match(self.play) {
            return; // `--start-at-task` not in this play: nothing runs, facts neither.
        }
        let hosts = self.batch.clone();
        let scope = TaskScope {
            tags: self.play.tags.clone(),
            become_: self.play.become_.clone(),
            ..TaskScope::default()
        };
        let to_gather = self.hosts_to_gather(&hosts);
        if !to_gather.is_empty() {
            self.gather_facts(&to_gather).await;
        }
        self.run_list(&self.play.pre_tasks, &scope, &hosts).await;
        self.flush_handlers(&hosts).await;
        for role_ref in &self.play.roles {
            let role_scope = scope.enter_role(role_ref);
            self.run_role(&role_ref.role, &role_scope, &hosts).await;
        }
        self.run_list(&self.play.tasks, &scope, &hosts).await;
        self.flush_handlers(&hosts).await;
        self.run_list(&self.play.post_tasks, &scope, &hosts).await;
        self.flush_handlers(&hosts).await;
    }

    fn run_role<'s>(
        &'s self,
        role: &'s etcdplay_playbook::Role,
        scope: &'s TaskScope,
        hosts: &'s [String],
    ) -> futures::future::BoxFuture<'s, ()> {
        Box::pin(async move {
            for dep in &role.dependencies {
                let dep_scope = scope.enter_role(dep);
                self.run_role(&dep.role, &dep_scope, hosts).await;
            }
            let key = scope
                .role
                .as_ref()
                .map(|frame| frame.run_key.as_str())
                .unwrap_or_default();
            if key.is_empty() {
                self.run_list(&role.tasks, scope, hosts).await;
                return;
            }
            let to_run: Vec<String> = {
                let runs = lock(&self.role_runs);
                hosts
                    .iter()
                    .filter(|h| role.allow_duplicates || !runs.is_complete(key, h))
                    .cloned()
                    .collect()
            };
            if !to_run.is_empty() {
                self.run_list(&role.tasks, scope, &to_run).await;
            }
            lock(&self.role_runs).end(key, &to_run);
        })
    }

    /// Notes that a task of the role around `scope` was not skipped on `hosts` (see
    /// [`RoleRuns`]).
    pub(crate) fn note_role_ran<'h>(
        &self,
        scope: &TaskScope,
        hosts: impl IntoIterator<Item = &'h String>,
    ) {
        let Some(frame) = scope.role.as_ref().filter(|f| !f.run_key.is_empty()) else {
            return;
        };
        let mut runs = lock(&self.role_runs);
        for host in hosts {
            runs.ran(&frame.run_key, host);
        }
    }

    /// The hosts whose facts this play gathers: the play's `gather_facts` under ansible.cfg's
    /// `gathering` (implicit: unless false; explicit: only if true; smart: as implicit, hosts
    /// gathered by an earlier play excepted).
    fn hosts_to_gather(&self, hosts: &[String]) -> Vec<String> {
        let said = self.play.gather_facts.as_ref().and_then(|f| {
            let vars = self
                .engine
                .shared
                .vars_for(&hosts[0], &self.engine.shared.host_layers(&hosts[0]));
            self.flag(&Some(f.clone()), &vars, &self.play.origin.to_string())
                .ok()
                .flatten()
        });
        let gather = match self.engine.options.gathering {
            Gathering::Explicit => said == Some(true),
            Gathering::Implicit | Gathering::Smart => said != Some(false),
        };
        if !gather {
            return Vec::new();
        }
        let shared = &self.engine.shared;
        hosts
            .iter()
            .filter(|h| {
                self.engine.options.gathering != Gathering::Smart
                    || !shared.memory(h).facts_gathered
            })
            .cloned()
            .collect()
    }

    async fn gather_facts(&self, hosts: &[String]) {
        let hosts = self.active(hosts);
        self.engine
            .reporter
            .task_start(TaskKindLabel::Task, "Gathering Facts", &hosts);
        let task = synthetic_task("setup", &self.play.origin);
        let TaskKind::Module(call) = &task.kind else {
            return;
        };
        let scope = TaskScope::default();
        let started = std::time::Instant::now();
        let kept = self.read_ahead_with_facts(&task, &hosts).await;
        if kept > 0 {
            self.engine.record_timing(
                format!("read ahead with facts ({kept} probes)"),
                None,
                started.elapsed(),
            );
        }
        let forks = self.engine.options.forks;
        let (task, scope) = (&task, &scope);
        // Owned names: a closure over `&String` in this boxed future trips the compiler's
        // higher-ranked lifetime inference (it cannot prove the stream `Send`).
        let per_host = hosts.iter().cloned().map(|h| async move {
            let _permit = self.engine.forks.acquire().await;
            let host_started = std::time::Instant::now();
            let outcome = self.run_task_on_host(task, call, scope, &h).await;
            ((h, outcome), host_started.elapsed())
        });
        let timed = for_each_host(per_host, forks).await;
        let slowest = timed
            .iter()
            .max_by_key(|(_, d)| *d)
            .map(|((h, _), _)| h.clone());
        self.engine.record_timing(
            "Gathering Facts (includes connecting)".into(),
            slowest,
            started.elapsed(),
        );
        let outcomes: Vec<(String, Outcome)> = timed.into_iter().map(|(o, _)| o).collect();
        for (host, outcome) in &outcomes {
            if matches!(outcome, Outcome::Ok | Outcome::Changed) {
                self.engine
                    .shared
                    .update_memory(host, |m| m.facts_gathered = true);
            }
        }
        self.settle(&outcomes, scope);
        self.engine.reporter.task_end();
    }

    /// Runs a task list on `hosts`; returns the hosts that failed in it (not rescued).
    pub(crate) fn run_list<'s>(
        &'s self,
        tasks: &'s [Task],
        scope: &'s TaskScope,
        hosts: &'s [String],
    ) -> futures::future::BoxFuture<'s, Vec<String>> {
        Box::pin(async move {
            if self.play.strategy == Strategy::Free && !scope.handler && hosts.len() > 1 {
                // Free strategy: every host walks the list by itself.
                let per_host = join_all(hosts.iter().map(|h| {
                    let one = vec![h.clone()];
                    async move { self.run_list_linear(tasks, scope, &one).await }
                }))
                .await;
                return per_host.into_iter().flatten().collect();
            }
            self.run_list_linear(tasks, scope, hosts).await
        })
    }

    async fn run_list_linear(
        &self,
        tasks: &[Task],
        scope: &TaskScope,
        hosts: &[String],
    ) -> Vec<String> {
        let mut failed_here = Vec::new();
        for (index, task) in tasks.iter().enumerate() {
            let active = self.active(hosts);
            if active.is_empty() {
                break;
            }
            // Blocks and imports open a task list here; dynamic includes check for themselves
            // once their `when:` has spared the hosts that would not include.
            let opens_list = match &task.kind {
                TaskKind::Block(_) => true,
                TaskKind::IncludeTasks(inc) => inc.is_static,
                TaskKind::IncludeRole(inc) => inc.is_static,
                _ => false,
            };
            if opens_list && scope.depth >= MAX_NESTING {
                let error = nested_too_deep(task, scope);
                failed_here.extend(self.fail_hosts(&active, &error.to_string(), scope));
                continue;
            }
            // `--start-at-task`: containers are searched, every other task is a candidate.
            let start_at = &self.engine.start_at;
            if !opens_list && start_at.pending() && !start_at.reached(task) {
                continue;
            }
            let newly_failed = match &task.kind {
                TaskKind::Block(block) => {
                    let inner = scope.enter_block(task);
                    let mut block_scope = inner.clone();
                    block_scope.rescuable = !block.rescue.is_empty() || scope.rescuable;
                    let mut still_failed = self.run_list(&block.block, &block_scope, &active).await;
                    if !block.rescue.is_empty() && !still_failed.is_empty() {
                        let to_rescue = std::mem::take(&mut still_failed);
                        self.unfail(&to_rescue);
                        still_failed = self.run_list(&block.rescue, &inner, &to_rescue).await;
                        let mut stats = lock(&self.engine.stats);
                        for h in to_rescue.iter().filter(|h| !still_failed.contains(h)) {
                            stats.entry(h.clone()).or_default().rescued += 1;
                        }
                    }
                    if !block.always.is_empty() {
                        self.unfail(&still_failed);
                        let always_hosts: Vec<String> = active
                            .iter()
                            .filter(|h| !lock(&self.unreachable).contains(*h))
                            .cloned()
                            .collect();
                        let always_failed =
                            self.run_list(&block.always, &inner, &always_hosts).await;
                        for h in always_failed {
                            if !still_failed.contains(&h) {
                                still_failed.push(h);
                            }
                        }
                        self.refail(&still_failed);
                    }
                    still_failed
                }
                TaskKind::Module(call) => {
                    if !should_run(
                        &scope.tags_of(task),
                        &self.engine.options.tags,
                        &self.engine.options.skip_tags,
                    ) {
                        continue;
                    }
                    let started = std::time::Instant::now();
                    let kept = self.read_ahead(&tasks[index..], scope, &active).await;
                    if kept > 0 {
                        self.engine.record_timing(
                            format!("read ahead ({kept} probes)"),
                            None,
                            started.elapsed(),
                        );
                    }
                    self.run_module_task(task, call, scope, &active).await
                }
                TaskKind::IncludeTasks(inc) if inc.is_static => {
                    // import_tasks: the tasks inherit the import's keywords, like a block.
                    let inner = scope.enter_block(task);
                    match &inc.tasks {
                        Some(tasks) => self.run_list(tasks, &inner, &active).await,
                        None => Vec::new(),
                    }
                }
                // A dynamic include is a task of its own for `--tags`: untagged, it does not run
                // (nor do the tagged tasks inside it), as in Ansible.
                TaskKind::IncludeRole(etcdplay_playbook::IncludeRole {
                    is_static: false, ..
                })
                | TaskKind::IncludeTasks(_)
                    if !should_run(
                        &scope.tags_of(task),
                        &self.engine.options.tags,
                        &self.engine.options.skip_tags,
                    ) =>
                {
                    continue;
                }
                TaskKind::IncludeTasks(inc) => self.include_tasks(task, inc, scope, &active).await,
                TaskKind::IncludeRole(inc) => self.include_role(task, inc, scope, &active).await,
                TaskKind::IncludeVars(iv) => {
                    if !should_run(
                        &scope.tags_of(task),
                        &self.engine.options.tags,
                        &self.engine.options.skip_tags,
                    ) {
                        continue;
                    }
                    let call = crate::include_vars::as_call(task, iv);
                    self.run_module_task(task, &call, scope, &active).await
                }
                TaskKind::Meta(action) => {
                    self.meta(action, task, scope, &active).await;
                    Vec::new()
                }
            };
            failed_here.extend(newly_failed);
            self.release_departed(scope).await;
        }
        self.engine.read_ahead.list_done(hosts, tasks);
        failed_here
    }

    /// Fails `hosts` for a reason found by the engine itself (an include that cannot load).
    fn fail_hosts(&self, hosts: &[String], msg: &str, scope: &TaskScope) -> Vec<String> {
        for h in hosts {
            self.emit(
                HostEvent {
                    msg: Some(msg.to_string()),
                    result: serde_json::json!({"failed": true, "msg": msg}),
                    ..HostEvent::new(h, HostStatus::Failed)
                },
                std::time::Instant::now(),
            );
        }
        let outcomes: Vec<(String, Outcome)> =
            hosts.iter().map(|h| (h.clone(), Outcome::Failed)).collect();
        self.settle(&outcomes, scope)
    }

    fn unfail(&self, hosts: &[String]) {
        {
            let mut failed = lock(&self.failed);
            for h in hosts {
                failed.remove(h);
            }
        }
        self.publish_left_play();
    }

    fn refail(&self, hosts: &[String]) {
        lock(&self.failed).extend(hosts.iter().cloned());
        self.publish_left_play();
    }

    async fn run_module_task(
        &self,
        task: &Task,
        call: &etcdplay_playbook::ModuleCall,
        scope: &TaskScope,
        active: &[String],
    ) -> Vec<String> {
        let header = task_header(task, call);
        let kind = if scope.handler {
            TaskKindLabel::Handler
        } else {
            TaskKindLabel::Task
        };
        let origin = task.origin.to_string();
        let first_vars = self.task_vars(&active[0], scope, Some(task));
        let keywords = scope.resolve(task, self.play);
        let run_once = self
            .flag(&keywords.run_once, &first_vars, &origin)
            .ok()
            .flatten()
            .unwrap_or(false);
        // `add_host` runs once for the play, like `run_once`, but its result stays the first
        // host's (Ansible copies only a `run_once` task's result to every host).
        let bypass = etcdplay_modules::bypasses_host_loop(&call.name);
        self.engine.reporter.task_start(kind, &header, active);
        let remaining;
        let active = if scope.handler {
            remaining = self.skip_redundant_restarts(task, call, scope, active);
            if remaining.is_empty() {
                self.engine.reporter.task_end();
                return Vec::new();
            }
            remaining.as_slice()
        } else {
            active
        };
        // Before the extension's preflight probes: answers read ahead for other tasks must not
        // serve them.
        for h in active {
            self.engine.read_ahead.entering(h, task);
        }
        if let Some(failed) = self.preflight(task, call, scope, active).await {
            self.engine.reporter.task_end();
            return failed;
        }
        let targets: Vec<String> = if run_once || bypass {
            vec![active[0].clone()]
        } else {
            active.to_vec()
        };
        // `throttle: N` caps how many hosts run this task at once (1 makes it one host at a
        // time, which rolling restarts rely on).
        let throttle = match &task.throttle {
            Some(v) => match self.engine.templar.template_value(v, &origin, &first_vars) {
                Ok(Value::Number(n)) => n.as_u64().filter(|n| *n > 0).map(|n| n as usize),
                Ok(Value::String(s)) => s.trim().parse::<usize>().ok().filter(|n| *n > 0),
                _ => None,
            },
            None => None,
        };
        let throttle = tokio::sync::Semaphore::new(throttle.unwrap_or(targets.len().max(1)));
        let started = std::time::Instant::now();
        let forks = self.engine.options.forks;
        let throttle = &throttle;
        // Owned names, as in `gather_facts`.
        let per_host = targets.iter().cloned().map(|h| async move {
            let _throttle = throttle.acquire().await;
            let _permit = self.engine.forks.acquire().await;
            let host_started = std::time::Instant::now();
            let outcome = self.run_task_on_host(task, call, scope, &h).await;
            self.engine.read_ahead.finished(&h, outcome);
            ((h, outcome), host_started.elapsed())
        });
        let timed = for_each_host(per_host, forks).await;
        let slowest = timed
            .iter()
            .max_by_key(|(_, d)| *d)
            .map(|((h, _), _)| h.clone());
        let label = if scope.handler {
            format!("handler: {header}")
        } else {
            header.clone()
        };
        self.engine.record_timing(label, slowest, started.elapsed());
        let outcomes: Vec<(String, Outcome)> = timed.into_iter().map(|(o, _)| o).collect();
        if run_once {
            // The result of a run_once task is registered for every host of the play.
            if let Some(name) = &task.register {
                let value = self
                    .engine
                    .shared
                    .memory(&active[0])
                    .set_facts
                    .get(name)
                    .cloned();
                if let Some(value) = value {
                    for h in &active[1..] {
                        let value = value.clone();
                        self.engine.shared.update_memory(h, |m| {
                            m.set_facts.insert(name.clone(), value);
                        });
                    }
                }
            }
        }
        let failed = self.settle(&outcomes, scope);
        self.engine.reporter.task_end();
        let any_errors_fatal = self
            .flag(&keywords.any_errors_fatal, &first_vars, &origin)
            .ok()
            .flatten()
            .unwrap_or(false);
        if !failed.is_empty() && any_errors_fatal && !scope.rescuable {
            self.aborted.store(true, Ordering::SeqCst);
        }
        if let Some(pct) = self.play.max_fail_percentage {
            let failed_total = lock(&self.failed).len() + lock(&self.unreachable).len();
            if (failed_total as f64) * 100.0 / (self.batch.len() as f64) > pct {
                self.engine.reporter.warning(&format!(
                    "max_fail_percentage {pct}% exceeded: stopping the play"
                ));
                self.aborted.store(true, Ordering::SeqCst);
            }
        }
        failed
    }

    /// What the engine's extension says before `task` starts on `active` (see `extension/`):
    /// `Some(failed hosts)` when it stopped the task on every host, each with its event.
    async fn preflight(
        &self,
        task: &Task,
        call: &etcdplay_playbook::ModuleCall,
        scope: &TaskScope,
        active: &[String],
    ) -> Option<Vec<String>> {
        let started = std::time::Instant::now();
        let ctx = PlayTask {
            run: self,
            task,
            call,
            scope,
        };
        match self.engine.extension.preflight(&ctx, active).await {
            Preflight::Proceed => None,
            Preflight::Stop(events) => {
                let outcomes: Vec<(String, Outcome)> = events
                    .iter()
                    .map(|e| (e.host.clone(), outcome_of(e.status)))
                    .collect();
                for event in events {
                    self.emit(event, started);
                }
                Some(self.settle(&outcomes, scope))
            }
        }
    }

    /// Books the outcomes of a task into stats and host states; returns the hosts that failed.
    pub(crate) fn settle(&self, outcomes: &[(String, Outcome)], scope: &TaskScope) -> Vec<String> {
        let mut failed_hosts = Vec::new();
        let mut stats = lock(&self.engine.stats);
        for (host, outcome) in outcomes {
            let s = stats.entry(host.clone()).or_default();
            match outcome {
                Outcome::Ok => s.ok += 1,
                Outcome::Changed => {
                    s.ok += 1;
                    s.changed += 1;
                }
                Outcome::Skipped => s.skipped += 1,
                Outcome::Ignored => {
                    s.ok += 1;
                    s.ignored += 1;
                }
                Outcome::Failed => {
                    // A failure inside a block with `rescue:` counts as rescued, not failed,
                    // once the rescue ran; the block runner books that.
                    if !scope.rescuable {
                        s.failed += 1;
                    }
                    lock(&self.failed).insert(host.clone());
                    failed_hosts.push(host.clone());
                }
                Outcome::Unreachable => {
                    s.unreachable += 1;
                    lock(&self.unreachable).insert(host.clone());
                }
            }
        }
        drop(stats);
        self.note_role_ran(
            scope,
            outcomes
                .iter()
                .filter(|(_, o)| !matches!(o, Outcome::Skipped | Outcome::Unreachable))
                .map(|(h, _)| h),
        );
        self.publish_left_play();
        failed_hosts
    }

    /// `meta:` actions. As in Ansible the task has its header, its `when:` (and its blocks')
    /// decides per host (`skipping:` where it does not hold, not counted in the recap), and
    /// `flush_handlers` ignores conditions.
    async fn meta(&self, action: &str, task: &Task, scope: &TaskScope, hosts: &[String]) {
        let kind = if scope.handler {
            TaskKindLabel::Handler
        } else {
            TaskKindLabel::Task
        };
        self.engine
            .reporter
            .task_start(kind, &task.header_name(), hosts);
        let holds = if action == "flush_handlers" {
            hosts.to_vec()
        } else {
            self.meta_hosts(task, scope, hosts)
        };
        self.engine.reporter.task_end();
        match action {
            "flush_handlers" => self.flush_handlers(hosts).await,
            // Ansible ends the play for every host when the condition holds on any.
            "end_play" if !holds.is_empty() => self.aborted.store(true, Ordering::SeqCst),
            "end_host" => {
                lock(&self.ended).extend(holds);
                self.publish_left_play();
            }
            "clear_host_errors" if !holds.is_empty() => {
                lock(&self.failed).clear();
                self.engine.out_of_run.clear_failed();
                self.publish_left_play();
            }
            "end_play" | "clear_host_errors" => {}
            // Nothing to do for these in etcdplay: facts and connections are per run.
            "noop" | "clear_facts" | "refresh_inventory" | "reset_connection" | "end_batch"
            | "end_role" => {}
            other => self.engine.reporter.warning(&format!(
                "{}: meta: {other} is not supported; ignored",
                task.origin
            )),
        }
    }

    /// The hosts on which a meta task's conditions hold; the others get a `skipping:` line. A
    /// condition that cannot be evaluated warns and counts as false.
    fn meta_hosts(&self, task: &Task, scope: &TaskScope, hosts: &[String]) -> Vec<String> {
        let mut holds = Vec::new();
        for h in hosts {
            let vars = self.task_vars(h, scope, Some(task));
            match self.conditions_hold(task, scope, &vars) {
                Ok(true) => holds.push(h.clone()),
                Ok(false) => self.emit(
                    HostEvent::new(h, HostStatus::Skipped),
                    std::time::Instant::now(),
                ),
                Err(e) => self.engine.reporter.warning(&format!("{h}: {e}")),
            }
        }
        holds
    }

    /// The hosts on which the restart handler `task` still has something to do: on the others
    /// this run started or restarted the unit after the handler was last notified (see
    /// `redundant_restart.rs`); they are reported `ok` with the reason.
    fn skip_redundant_restarts(
        &self,
        task: &Task,
        call: &etcdplay_playbook::ModuleCall,
        scope: &TaskScope,
        active: &[String],
    ) -> Vec<String> {
        let module = etcdplay_modules::canonical_name(&call.name).unwrap_or(call.name.as_str());
        let names: Vec<String> = task
            .name
            .iter()
            .chain(task.listen.iter())
            .cloned()
            .collect();
        let origin = call.args_origin.to_string();
        let mut keep = Vec::new();
        let mut skipped = Vec::new();
        for host in active {
            let args = self.handler_args(host, scope, task, &call.args, &origin);
            match self.restarted_unit(module, &args) {
                Some(unit)
                    if self.restarts.already_restarted(
                        host,
                        &unit,
                        &names,
                        crate::redundant_restart::wants_reload(&args),
                    ) =>
                {
                    let msg = format!("{unit} was started by this run after the change that notified this handler: not restarted again");
                    self.emit(
                        HostEvent {
                            msg: Some(msg.clone()),
                            result: serde_json::json!({"changed": false, "msg": msg}),
                            ..HostEvent::new(host, HostStatus::Ok)
                        },
                        std::time::Instant::now(),
                    );
                    skipped.push((host.clone(), Outcome::Ok));
                }
                _ => keep.push(host.clone()),
            }
        }
        self.settle(&skipped, scope);
        keep
    }

    /// Runs notified handlers, in the order they are listed, on the hosts that notified them.
    pub(crate) async fn flush_handlers(&self, hosts: &[String]) {
        let notified: HashMap<String, Vec<String>> = std::mem::take(&mut *lock(&self.notified));
        if notified.is_empty() {
            return;
        }
        let frames = role_frames(self.play);
        for handler in self.play.all_handlers() {
            let names: BTreeSet<&str> = handler
                .name
                .iter()
                .map(String::as_str)
                .chain(handler.listen.iter().map(String::as_str))
                .collect();
            let targets: Vec<String> = self
                .active(hosts)
                .into_iter()
                .filter(|h| {
                    notified
                        .get(h)
                        .is_some_and(|n| n.iter().any(|x| names.contains(x.as_str())))
                })
                .collect();
            if targets.is_empty() {
                continue;
            }
            let mut scope = TaskScope {
                handler: true,
                ..TaskScope::default()
            };
            if let Some(role) = &handler.role {
                scope.role = frames.get(role).cloned();
            }
            self.run_list(std::slice::from_ref(handler), &scope, &targets)
                .await;
        }
    }
}

/// Role frames of the play's roles by name, for handlers (which run outside their role's task
/// list but still find their templates in the role).
fn role_frames(play: &Play) -> HashMap<String, Arc<RoleFrame>> {
    fn walk(r: &etcdplay_playbook::RoleRef, out: &mut HashMap<String, Arc<RoleFrame>>) {
        for d in &r.role.dependencies {
            walk(d, out);
        }
        out.entry(r.role.name.clone())
            .or_insert_with(|| RoleFrame::new(&r.role, r.params.clone()));
    }
    let mut out = HashMap::new();
    for r in &play.roles {
        walk(r, &mut out);
    }
    out
}

/// `role : name` as Ansible's `TASK [...]` shows it; a task without a name shows its module.
fn task_header(task: &Task, call: &etcdplay_playbook::ModuleCall) -> String {
    let name = task.name.clone().unwrap_or_else(|| {
        if task.action.is_empty() {
            call.name.clone()
        } else {
            task.action.clone()
        }
    });
    match &task.role {
        Some(role) => format!("{role} : {name}"),
        None => name,
    }
}

/// A task the engine makes itself (fact gathering).
fn synthetic_task(module: &str, origin: &etcdplay_playbook::Origin) -> Task {
    let mut task = Task::empty(origin.clone(), None);
    task.name = Some("Gathering Facts".into());
    task.kind = TaskKind::Module(etcdplay_playbook::ModuleCall {
        name: module.into(),
        args: Map::new(),
        args_origin: origin.clone(),
    });
    // Facts are gathered whatever --tags says, and even in check mode.
    task.tags = vec!["always".into()];
    task.check_mode = Some(etcdplay_playbook::Flag::Bool(false));
    task.action = module.into();
    task
}

/// Splits a play's hosts into `serial` batches: sizes from the list, the last one repeating.
pub(crate) fn batches(
    hosts: &[String],
    serial: &[Serial],
    render: impl Fn(&str) -> Option<u64>,
) -> Vec<Vec<String>> {
    if serial.is_empty() || hosts.is_empty() {
        return vec![hosts.to_vec()];
    }
    let total = hosts.len() as u64;
    let size_of = |s: &Serial| -> u64 {
        let n = match s {
            Serial::Count(n) => *n,
            Serial::Percent(p) => (total * u64::from(*p)) / 100,
            Serial::Template(t) => render(t).unwrap_or(total),
        };
        if n == 0 {
            total.max(1)
        } else {
            n.max(1)
        }
    };
    let mut out = Vec::new();
    let mut i = 0usize;
    let mut k = 0usize;
    while i < hosts.len() {
        let size = size_of(&serial[k.min(serial.len() - 1)]) as usize;
        out.push(hosts[i..(i + size).min(hosts.len())].to_vec());
        i += size;
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_batches_grow_and_repeat_the_last_size() {
        let hosts: Vec<String> = (1..=7).map(|i| format!("h{i}")).collect();
        let b = batches(&hosts, &[Serial::Count(1), Serial::Count(2)], |_| None);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 2, 2, 2]);
        let b = batches(&hosts, &[Serial::Percent(50)], |_| None);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 1]);
        let b = batches(&hosts, &[], |_| None);
        assert_eq!(b.len(), 1);
    }
}
