//! Finishing a rolling restart that a killed run left half done. A run that changes etcd's
//! configuration notifies a restart handler; if the run dies before the handlers flush, or
//! during the one-member-at-a-time restart, the members not reached yet keep running their
//! old configuration, and a re-run finds every file already as planned (changed=0), so in
//! Ansible's model nothing notifies the handler again: the notification is lost.
//!
//! etcdplay restores it. When a `state: started` task finds a member stale (`stale.rs`: its
//! etcd started before its configuration inputs last changed), the play's handler that
//! restarts that unit (`etcd_member_restart`, preferred because it guards quorum, else a
//! `systemd`/`service` handler with `state: restarted`) is notified on that host, and the
//! warning says why. The handler then runs at the next flush exactly as it would have in the
//! interrupted run: with its own `throttle`, quorum guard and health waits. A member that this
//! run already notified is left alone, so a normal run that changes the configuration is
//! unchanged; a re-run with nothing stale notifies nothing and restarts nothing.

use etcdplay_playbook::{Task, TaskKind};
use serde_json::Value;

use super::guard::HostCheck;
use crate::play::PlayRun;
use crate::redundant_restart::{restarted_unit, same_unit};
use crate::scope::TaskScope;

/// A handler of the play that restarts a given unit on a given host.
struct RestartHandler {
    /// What to notify it by: its name, else its first `listen` topic.
    notify: String,
    /// Every name it answers to (name and `listen` topics).
    answers_to: Vec<String>,
    /// `etcd_member_restart` (quorum-guarded) rather than a plain systemd restart.
    guarded: bool,
}

/// Notifies the restart handler on every stale member that no notification covers yet.
pub(crate) fn renotify(run: &PlayRun<'_>, checks: &[HostCheck]) {
    for c in checks {
        let Some(stale) = &c.stale else { continue };
        let handlers = restart_handlers(run, &c.host, &c.unit);
        let pending = run.notified_for(&c.host);
        if handlers
            .iter()
            .any(|h| h.answers_to.iter().any(|n| pending.contains(n)))
        {
            continue; // this run changed it and already restarts it at the next flush
        }
        let why = format!("{}: {} is {}", c.host, c.unit, stale.reason());
        match handlers.iter().find(|h| h.guarded).or(handlers.first()) {
            Some(h) => {
                run.add_notifications(&c.host, vec![h.notify.clone()]);
                run.engine.reporter.warning(&format!("{why}: a run that changed it ended before restarting it; notifying handler '{}' to restart it now", h.notify));
            }
            None => run.engine.reporter.warning(&format!("{why}: no handler of this play restarts {}, so it keeps its old configuration until it is restarted", c.unit)),
        }
    }
}

/// The play's handlers that restart `unit` on `host`, in play order.
fn restart_handlers(run: &PlayRun<'_>, host: &str, unit: &str) -> Vec<RestartHandler> {
    let scope = TaskScope {
        handler: true,
        ..TaskScope::default()
    };
    run.play
        .all_handlers()
        .into_iter()
        .filter_map(|handler| {
            let TaskKind::Module(call) = &handler.kind else {
                return None;
            };
            let module = etcdplay_modules::canonical_name(&call.name).unwrap_or(call.name.as_str());
            let args = rendered_args(
                run,
                host,
                &scope,
                handler,
                &call.args,
                &call.args_origin.to_string(),
            );
            let restarts = restarted_unit(module, &args)?;
            let guarded = module == "etcd_member_restart";
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
                guarded,
            })
        })
        .collect()
}

/// The handler's arguments templated for `host`; an argument that cannot be templated yet
/// (it may use a variable registered later) stays as written.
pub(crate) fn rendered_args(
    run: &PlayRun<'_>,
    host: &str,
    scope: &TaskScope,
    handler: &Task,
    args: &serde_json::Map<String, Value>,
    origin: &str,
) -> serde_json::Map<String, Value> {
    let vars = run.task_vars(host, scope, Some(handler));
    args.iter()
        .map(|(k, v)| {
            let rendered = run
                .engine
                .templar
                .template_value(v, origin, &vars)
                .unwrap_or_else(|_| v.clone());
            (k.clone(), rendered)
        })
        .collect()
}
