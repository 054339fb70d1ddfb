//! The automatic data-dir guard: before etcdplay starts or restarts a systemd unit that runs
//! etcd, it reads the unit's effective settings and the data dir's stored membership, and
//! refuses (on every member of the cluster) when the stored peer URLs contradict the plan.
//!
//! Cost on the common path (a unit that does not run etcd): one exec per host, which prints
//! `systemctl cat` and the unit's `systemctl show` state together. Only an etcd unit costs
//! more: its `EnvironmentFile=`s and `--config-file`, then the read-only data-dir reader, and
//! for a task that only ensures a running etcd (`state: started`), one `stat` of its
//! configuration inputs to find a member still running an old configuration (etcdplay-etcd's
//! `unit::Staleness`, acted on by `lost_restart.rs`). The task's hosts, conditions and target
//! are the runner's (`TaskContext`), so the guard checks exactly where the task will start.

pub(crate) mod unit;

use etcdplay_engine::{
    ConnectTarget, HostEvent, HostStatus, LeftoverMembership, Preflight, TaskContext,
};
use etcdplay_etcd::unit::{EtcdSettings, ServiceUnit, Staleness};
use etcdplay_etcd::{PeerPlan, Verdict};
use etcdplay_transport::{Become, ExecRequest, Transport};
use futures::future::join_all;
use serde_json::{Map, Value};

use crate::datadir::{read_remote, result_json, Finding, RemoteRead};
use unit::{root_become, staleness, unit_settings, unit_settings_script, EtcdUnit, UnitError};

/// What the guard found on one host whose unit runs etcd.
pub(crate) struct HostCheck {
    pub(crate) host: String,
    pub(crate) unit: String,
    pub(crate) settings: EtcdSettings,
    /// The parsed unit (for a temporary drop-in during a rolling migration).
    pub(crate) service: ServiceUnit,
    pub(crate) plan: PeerPlan,
    pub(crate) read: RemoteRead,
    pub(crate) verdict: Verdict,
    /// How the unit's host is reached, for `migrate`/`reset`.
    pub(crate) transport: std::sync::Arc<dyn Transport>,
    pub(crate) become_: Option<Become>,
    /// For a `state: started` task: the running etcd started before its configuration last
    /// changed (a restart that a killed run never made).
    pub(crate) stale: Option<Staleness>,
}

impl HostCheck {
    fn finding(&self) -> Finding<'_> {
        Finding {
            host: &self.host,
            unit: Some(&self.unit),
            data_dir: &self.settings.data_dir,
            read: &self.read.result,
            plan: &self.plan,
            verdict: &self.verdict,
            listen_peer_urls: &self.settings.listen_peer_urls,
        }
    }
}

/// Whether a task running `action` with (templated) `args` starts, restarts or reloads a
/// unit: the unit's name and the requested state.
fn starting_unit(action: &str, args: &Map<String, Value>) -> Option<(String, String)> {
    if !is_systemd(action) {
        return None;
    }
    let state = args.get("state").and_then(Value::as_str)?;
    if !matches!(state, "started" | "restarted" | "reloaded") {
        return None;
    }
    let name = args
        .get("name")
        .or_else(|| args.get("unit"))
        .and_then(Value::as_str)?;
    Some((name.to_string(), state.to_string())).filter(|(n, _)| !n.is_empty())
}

/// Whether `action` is the systemd module under one of its names.
fn is_systemd(action: &str) -> bool {
    let module = etcdplay_modules::canonical_name(action).unwrap_or(action);
    matches!(module, "systemd" | "service" | "systemd_service")
}

/// The first request the guard's check of a task running `action` with (templated) `args`
/// sends through `target` before the task starts a unit, for the read-ahead: it only reads.
pub(crate) fn first_probe(
    action: &str,
    args: &Map<String, Value>,
    target: &ConnectTarget,
) -> Option<ExecRequest> {
    let (unit, _) = starting_unit(action, args)?;
    Some(ExecRequest {
        script: unit_settings_script(&unit),
        become_: root_become(target.user.as_deref()),
        ..ExecRequest::default()
    })
}

/// Checks one host; `Ok(None)` when the task does not start an etcd unit there.
async fn check_host(ctx: &dyn TaskContext, host: &str) -> Result<Option<HostCheck>, UnitError> {
    let vars = ctx.vars(host);
    // A condition that cannot be evaluated counts as holding: the task reports the error.
    if !ctx.conditions_hold(&vars).unwrap_or(true) {
        return Ok(None);
    }
    // Arguments that do not render: the task itself reports the template error.
    let Ok(args) = ctx.module_args(&vars) else {
        return Ok(None);
    };
    let Some((unit, state)) = starting_unit(&ctx.call().name, &args) else {
        return Ok(None);
    };
    let delegate = ctx.delegate_to(&vars).ok().flatten();
    // Where the unit would be started; unreachable hosts are left to the task to report.
    let Ok(target) = ctx.target(host, &vars, delegate.as_deref()) else {
        return Ok(None);
    };
    let Ok(transport) = ctx.run().transport(&target).await else {
        return Ok(None);
    };
    let become_ = root_become(target.user.as_deref());
    let Some(found) = unit_settings(transport.as_ref(), become_.as_ref(), &unit).await? else {
        return Ok(None);
    };
    // Only `started` can leave a running member as it is; `restarted` restarts it anyway.
    // The `stat` goes before the data-dir reader, on the same shell: side by side they took a
    // second shell on every host (five processes and a round trip to start it), for the
    // latency of one short request.
    let stale = if state == "started" {
        staleness(transport.as_ref(), become_.as_ref(), &found).await
    } else {
        None
    };
    let read = read_remote(
        transport.as_ref(),
        become_.as_ref(),
        &found.settings.data_dir,
        found.settings.wal_dir.as_deref(),
        ctx.run().options().check,
    )
    .await;
    let EtcdUnit {
        service, settings, ..
    } = found;
    let plan = settings.plan();
    let verdict = etcdplay_etcd::verdict(&read.result, &plan);
    Ok(Some(HostCheck {
        host: host.to_string(),
        unit,
        settings,
        service,
        plan,
        read,
        verdict,
        transport,
        become_,
        stale,
    }))
}

/// Before a task runs on any host: [`Preflight::Stop`] when the guard stopped the task on
/// every host of the play (the task then does not run anywhere).
pub(crate) async fn preflight(ctx: &dyn TaskContext, hosts: &[String]) -> Preflight {
    if !is_systemd(&ctx.call().name) {
        return Preflight::Proceed;
    }
    let results = join_all(
        hosts
            .iter()
            .map(|h| async move { (h.clone(), check_host(ctx, h).await) }),
    )
    .await;
    let mut checks = Vec::new();
    let mut errors = Vec::new();
    for (host, r) in results {
        match r {
            Ok(Some(c)) => checks.push(c),
            Ok(None) => {}
            Err(e) => errors.push((host, e)),
        }
    }
    if checks.iter().all(|c| c.verdict == Verdict::Pass) && errors.is_empty() {
        super::lost_restart::renotify(ctx, &checks);
        return Preflight::Proceed;
    }
    match ctx.run().options().leftover_membership {
        LeftoverMembership::Block => {}
        mode => {
            // Only a readable, understood contradiction is repaired; anything unreadable
            // fails closed as in `block`.
            let understood = errors.is_empty()
                && checks
                    .iter()
                    .all(|c| !matches!(c.verdict, Verdict::CannotVerify { .. }));
            if understood {
                match super::migrate::resolve(ctx.run(), mode, &checks).await {
                    Ok(()) => return Preflight::Proceed,
                    Err(e) => {
                        let msg = format!(
                            "--leftover-membership {}: {e}\n  etcd was not started on {}; backups already made stay in /var/backups/etcdplay on the hosts and in backups/ beside the inventory; no data dir is emptied or replaced before every backup exists.",
                            mode_name(mode),
                            hosts.join(", ")
                        );
                        return Preflight::Stop(
                            hosts
                                .iter()
                                .map(|h| HostEvent {
                                    msg: Some(msg.clone()),
                                    result: serde_json::json!({"changed": false, "failed": true, "msg": msg}),
                                    ..HostEvent::new(h, HostStatus::Failed)
                                })
                                .collect(),
                        );
                    }
                }
            }
        }
    }
    Preflight::Stop(refuse(hosts, &checks, &errors))
}

fn mode_name(mode: LeftoverMembership) -> &'static str {
    match mode {
        LeftoverMembership::Block => "block",
        LeftoverMembership::Migrate => "migrate",
        LeftoverMembership::Reset => "reset",
    }
}

/// The task's failure on every host with each host's explanation; nothing is started anywhere.
fn refuse(
    hosts: &[String],
    checks: &[HostCheck],
    errors: &[(String, UnitError)],
) -> Vec<HostEvent> {
    let offenders: Vec<String> = checks
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .map(|c| c.host.clone())
        .chain(errors.iter().map(|(h, _)| h.clone()))
        .collect();
    let mut events = Vec::new();
    for host in hosts {
        let (msg, mut result) = if let Some(c) = checks
            .iter()
            .find(|c| &c.host == host && c.verdict != Verdict::Pass)
        {
            let mut r = result_json(&c.read.result, &c.verdict);
            r.insert(
                "data_dir".into(),
                Value::String(c.settings.data_dir.clone()),
            );
            (c.finding().message(hosts), r)
        } else if let Some((_, e)) = errors.iter().find(|(h, _)| h == host) {
            let msg = format!(
                "data-dir scheme check cannot verify {host}: {e}\n  the check fails closed: etcd was not started or restarted on {}; nothing was changed.",
                hosts.join(", ")
            );
            let mut r = Map::new();
            r.insert("verdict".into(), Value::String("cannot_verify".into()));
            (msg, r)
        } else {
            let msg = format!(
                "not started: the data-dir scheme check refused on {} (see that host's message); etcd is started on no member of this play so that no member runs against a contradicting configuration. This host's data dir was not touched.",
                offenders.join(", ")
            );
            (msg, Map::new())
        };
        result.insert("changed".into(), Value::Bool(false));
        result.insert("failed".into(), Value::Bool(true));
        result.insert("msg".into(), Value::String(msg.clone()));
        events.push(HostEvent {
            msg: Some(msg),
            result: Value::Object(result),
            ..HostEvent::new(host, HostStatus::Failed)
        });
    }
    events
}

#[cfg(test)]
mod tests;
