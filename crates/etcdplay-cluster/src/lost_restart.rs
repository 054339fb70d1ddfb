//! Finishing a rolling restart that a killed run left half done. A run that changes etcd's
//! configuration notifies a restart handler; if the run dies before the handlers flush, or
//! during the one-member-at-a-time restart, the members not reached yet keep running their
//! old configuration, and a re-run finds every file already as planned (changed=0), so in
//! Ansible's model nothing notifies the handler again: the notification is lost.
//!
//! etcdplay restores it. When a `state: started` task finds a member stale (etcdplay-etcd's
//! `unit::Staleness`: its etcd started before its configuration inputs last changed), the
//! play's handler that restarts that unit (`etcd_member_restart`, preferred because it guards
//! quorum, else a `systemd`/`service` handler with `state: restarted`) is notified on that
//! host, and the warning says why. The handler then runs at the next flush exactly as it would have in the
//! interrupted run: with its own `throttle`, quorum guard and health waits. A member that this
//! run already notified is left alone, so a normal run that changes the configuration is
//! unchanged; a re-run with nothing stale notifies nothing and restarts nothing.

use crate::guard::HostCheck;
use etcdplay_engine::TaskContext;

/// The restart action that guards quorum, preferred over a plain systemd restart.
const GUARDED_RESTART: &str = "etcd_member_restart";

/// Notifies the restart handler on every stale member that no notification covers yet.
pub(crate) fn renotify(ctx: &dyn TaskContext, checks: &[HostCheck]) {
    for c in checks {
        let Some(stale) = &c.stale else { continue };
        let handlers = ctx.restart_handlers(&c.host, &c.unit);
        let pending = ctx.pending_notifications(&c.host);
        if handlers
            .iter()
            .any(|h| h.answers_to.iter().any(|n| pending.contains(n)))
        {
            continue; // this run changed it and already restarts it at the next flush
        }
        let why = format!("{}: {} is {}", c.host, c.unit, stale.reason());
        let guarded = handlers.iter().find(|h| h.action == GUARDED_RESTART);
        match guarded.or(handlers.first()) {
            Some(h) => {
                ctx.notify(&c.host, vec![h.notify.clone()]);
                ctx.run().warning(&format!("{why}: a run that changed it ended before restarting it; notifying handler '{}' to restart it now", h.notify));
            }
            None => ctx.run().warning(&format!("{why}: no handler of this play restarts {}, so it keeps its old configuration until it is restarted", c.unit)),
        }
    }
}
