//! Restart handlers that would restart a unit this run has just started. A role typically
//! writes a unit's configuration (notifying "restart etcd"), then starts the unit, and at the
//! end of the play the handler restarts it: on a fresh host that restarts a process that was
//! started after every change it could pick up. For etcd that is a rolling restart of a
//! cluster that has just formed, the longest step of a converge. The handler is skipped on a
//! host (reported `ok`, with the reason) when, on that host, this run started or restarted the
//! unit after the last notification of that handler: every change the notifying tasks made
//! came before the start, so the running process already has them. In every other case
//! (the unit was already running, or a notification came after the start) the handler runs.
//!
//! The order is a sequence number taken when a handler is notified and when a `systemd` or
//! `service` task reports that it started or restarted a unit. A handler that also asks for
//! `daemon_reload` is only skipped when the start did one too: a unit file changed on disk
//! and started without a reload runs systemd's old copy of it, and the handler's reload is
//! what fixes that.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use etcdplay_playbook::{Task, TaskKind};
use serde_json::{Map, Value};

use crate::extension::{EngineExtension, RestartHandler};
use crate::play::PlayRun;
use crate::scope::TaskScope;

/// What happened in which order, per host, during one play.
#[derive(Default)]
pub(crate) struct RestartLedger {
    next: AtomicU64,
    /// (host, handler name or topic) → when it was last notified.
    notified: Mutex<HashMap<(String, String), u64>>,
    /// (host, unit without `.service`) → when this run last started or restarted it, and
    /// whether that task had `daemon_reload` (see [`wants_reload`]).
    started: Mutex<HashMap<(String, String), (u64, bool)>>,
}

/// Whether module arguments ask for `daemon_reload` (a boolean, or a string Ansible reads as
/// one).
pub(crate) fn wants_reload(args: &Map<String, Value>) -> bool {
    match args
        .get("daemon_reload")
        .or_else(|| args.get("daemon-reload"))
    {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => etcdplay_source::parse_bool(s).unwrap_or(false),
        _ => false,
    }
}

fn unit_key(unit: &str) -> String {
    unit.trim_end_matches(".service").to_string()
}

/// `etcd` and `etcd.service` name the same unit.
pub(crate) fn same_unit(a: &str, b: &str) -> bool {
    unit_key(a) == unit_key(b)
}

/// The unit a `systemd`/`service` task names (`name`, or its alias `unit`).
fn unit_arg(args: &Map<String, Value>) -> Option<&str> {
    args.get("name")
        .or_else(|| args.get("unit"))
        .and_then(Value::as_str)
}

impl RestartLedger {
    fn tick(&self) -> u64 {
        self.next.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub(crate) fn notified(&self, host: &str, name: &str) {
        let at = self.tick();
        self.notified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((host.to_string(), name.to_string()), at);
    }

    /// Records a `systemd`/`service` task's result: a change that started or restarted the
    /// unit (from its requested `state` and the state the module found before acting).
    pub(crate) fn module_ran(
        &self,
        host: &str,
        module: &str,
        args: &Map<String, Value>,
        changed: bool,
        data: &Map<String, Value>,
    ) {
        if !changed || !matches!(module, "systemd" | "service" | "systemd_service") {
            return;
        }
        let Some(unit) = unit_arg(args) else { return };
        let was_active = data
            .get("status")
            .and_then(|s| s.get("ActiveState"))
            .and_then(Value::as_str)
            == Some("active");
        let started = match args.get("state").and_then(Value::as_str) {
            Some("restarted") => true,
            Some("started") | Some("reloaded") => !was_active,
            _ => false,
        };
        if started {
            let at = self.tick();
            self.started
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((host.to_string(), unit_key(unit)), (at, wants_reload(args)));
        }
    }

    /// Whether a handler answering to `names` that restarts `unit` (and reloads systemd first
    /// when `reload`) is redundant on `host`.
    pub(crate) fn already_restarted(
        &self,
        host: &str,
        unit: &str,
        names: &[String],
        reload: bool,
    ) -> bool {
        let Some(&(started, start_reloaded)) = self
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(host.to_string(), unit_key(unit)))
        else {
            return false;
        };
        if reload && !start_reloaded {
            return false;
        }
        let notified = self.notified.lock().unwrap_or_else(|p| p.into_inner());
        let last = names
            .iter()
            .filter_map(|n| notified.get(&(host.to_string(), n.clone())))
            .max();
        matches!(last, Some(&at) if at < started)
    }
}

/// The unit a handler restarts, from its module and rendered arguments: a `systemd`/`service`
/// task with `state: restarted`, or an action the engine's extension says restarts one.
pub(crate) fn restarted_unit(
    extension: &dyn EngineExtension,
    module: &str,
    args: &Map<String, Value>,
) -> Option<String> {
    match module {
        "systemd" | "service" | "systemd_service" => {
            if args.get("state").and_then(Value::as_str) == Some("restarted") {
                unit_arg(args).map(str::to_string)
            } else {
                None
            }
        }
        _ => extension.restarted_unit(module, args),
    }
}

impl PlayRun<'_> {
    /// The unit the handler `module` with `args` restarts (see [`restarted_unit`]).
    pub(crate) fn restarted_unit(&self, module: &str, args: &Map<String, Value>) -> Option<String> {
        restarted_unit(self.engine.extension.as_ref(), module, args)
    }

    /// A handler's arguments templated for `host`; an argument that cannot be templated yet
    /// (it may use a variable registered later) stays as written.
    pub(crate) fn handler_args(
        &self,
        host: &str,
        scope: &TaskScope,
        handler: &Task,
        args: &Map<String, Value>,
        origin: &str,
    ) -> Map<String, Value> {
        let vars = self.task_vars(host, scope, Some(handler));
        args.iter()
            .map(|(k, v)| {
                let rendered = self
                    .engine
                    .templar
                    .template_value(v, origin, &vars)
                    .unwrap_or_else(|_| v.clone());
                (k.clone(), rendered)
            })
            .collect()
    }

    /// The play's handlers that restart `unit` on `host`, in play order.
    pub(crate) fn restart_handlers(&self, host: &str, unit: &str) -> Vec<RestartHandler> {
        let scope = TaskScope {
            handler: true,
            ..TaskScope::default()
        };
        self.play
            .all_handlers()
            .into_iter()
            .filter_map(|handler| {
                let TaskKind::Module(call) = &handler.kind else {
                    return None;
                };
                let module =
                    etcdplay_modules::canonical_name(&call.name).unwrap_or(call.name.as_str());
                let origin = call.args_origin.to_string();
                let args = self.handler_args(host, &scope, handler, &call.args, &origin);
                let restarts = self.restarted_unit(module, &args)?;
                if !same_unit(&restarts, unit) {
                    return None;
                }
                let answers_to: Vec<String> = handler
                    .name
                    .iter()
                    .chain(handler.listen.iter())
                    .cloned()
                    .collect();
                Some(RestartHandler {
                    notify: answers_to.first()?.clone(),
                    answers_to,
                    action: module.to_string(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn start(l: &RestartLedger, host: &str, state: &str, was: &str) {
        l.module_ran(
            host,
            "systemd",
            &obj(json!({"name": "etcd", "state": state, "daemon_reload": "yes"})),
            true,
            &obj(json!({"status": {"ActiveState": was}})),
        );
    }

    #[test]
    fn a_start_after_the_notification_makes_the_restart_redundant() {
        let l = RestartLedger::default();
        let names = vec!["restart etcd".to_string()];
        l.notified("h1", "restart etcd");
        l.notified("h2", "restart etcd");
        start(&l, "h1", "started", "inactive");
        start(&l, "h2", "started", "active"); // already running: nothing was started
        assert!(l.already_restarted("h1", "etcd.service", &names, true));
        assert!(!l.already_restarted("h2", "etcd", &names, false));
        // A notification after the start wins.
        l.notified("h1", "restart etcd");
        assert!(!l.already_restarted("h1", "etcd", &names, false));
    }

    #[test]
    fn only_changes_that_started_the_unit_count() {
        let l = RestartLedger::default();
        let names = vec!["restart etcd".to_string(), "etcd topic".to_string()];
        l.notified("h", "etcd topic");
        l.module_ran(
            "h",
            "systemd",
            &obj(json!({"name": "etcd", "state": "started"})),
            false,
            &obj(json!({})),
        );
        l.module_ran(
            "h",
            "copy",
            &obj(json!({"name": "etcd", "state": "restarted"})),
            true,
            &obj(json!({})),
        );
        l.module_ran(
            "h",
            "systemd",
            &obj(json!({"name": "etcd", "enabled": true})),
            true,
            &obj(json!({})),
        );
        assert!(!l.already_restarted("h", "etcd", &names, false));
        start(&l, "h", "restarted", "active");
        assert!(l.already_restarted("h", "etcd", &names, false));
        assert!(
            !l.already_restarted("h", "etcd-events", &names, false),
            "another unit"
        );
        assert!(
            !l.already_restarted("h", "etcd", &["other".to_string()], false),
            "never notified"
        );
    }

    #[test]
    fn a_handler_that_reloads_systemd_runs_unless_the_start_reloaded_too() {
        let l = RestartLedger::default();
        let names = vec!["restart etcd".to_string()];
        l.notified("h", "restart etcd");
        let args = obj(json!({"name": "etcd", "state": "started"}));
        l.module_ran(
            "h",
            "systemd",
            &args,
            true,
            &obj(json!({"status": {"ActiveState": "inactive"}})),
        );
        assert!(
            !l.already_restarted("h", "etcd", &names, true),
            "started on systemd's old copy of the unit"
        );
        assert!(l.already_restarted("h", "etcd", &names, false));
        assert!(
            wants_reload(&obj(json!({"daemon_reload": true})))
                && wants_reload(&obj(json!({"daemon-reload": "yes"})))
        );
        assert!(
            !wants_reload(&obj(json!({"daemon_reload": "no"}))) && !wants_reload(&obj(json!({})))
        );
    }

    #[test]
    fn unit_names_compare_without_the_service_suffix() {
        assert!(same_unit("etcd", "etcd.service"));
        assert!(same_unit("etcd.service", "etcd"));
        assert!(!same_unit("etcd", "etcd-events"));
    }

    /// An extension whose action `bounce` restarts the unit named by its `what` argument.
    struct Bouncer;

    impl EngineExtension for Bouncer {
        fn restarted_unit(&self, action: &str, args: &Map<String, Value>) -> Option<String> {
            (action == "bounce").then(|| args.get("what")?.as_str().map(str::to_string))?
        }
    }

    #[test]
    fn handlers_that_restart_a_unit() {
        let restarted_unit =
            |module: &str, args: Value| restarted_unit(&Bouncer, module, &obj(args));
        assert_eq!(
            restarted_unit("systemd", json!({"unit": "etcd", "state": "restarted"})),
            Some("etcd".into())
        );
        assert_eq!(
            restarted_unit("systemd", json!({"name": "etcd", "state": "restarted"})),
            Some("etcd".into())
        );
        assert_eq!(
            restarted_unit("service", json!({"name": "etcd", "state": "reloaded"})),
            None
        );
        assert_eq!(
            restarted_unit("bounce", json!({"what": "etcd"})),
            Some("etcd".into()),
            "the extension's restart action"
        );
        assert_eq!(
            restarted_unit("systemd", json!({"what": "etcd", "state": "started"})),
            None,
            "systemd is the engine's, whatever the extension says"
        );
        assert_eq!(
            restarted_unit("command", json!({"state": "restarted", "name": "x"})),
            None
        );
        assert_eq!(
            super::restarted_unit(
                &crate::extension::NoExtension,
                "bounce",
                &obj(json!({"what": "etcd"}))
            ),
            None
        );
    }
}
