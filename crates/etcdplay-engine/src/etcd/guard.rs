//! The automatic data-dir guard: before etcdplay starts or restarts a systemd unit that runs
//! etcd, it reads the unit's effective settings and the data dir's stored membership, and
//! refuses (on every member of the cluster) when the stored peer URLs contradict the plan.
//!
//! Cost on the common path (a unit that does not run etcd): one exec per host, which prints
//! `systemctl cat` and the unit's `systemctl show` state together. Only an etcd unit costs
//! more: its `EnvironmentFile=`s and `--config-file`, then the read-only data-dir reader, and
//! for a task that only ensures a running etcd (`state: started`), one `stat` of its
//! configuration inputs to find a member still running an old configuration (`stale.rs`,
//! acted on by `lost_restart.rs`).

use std::collections::BTreeMap;

use etcdplay_etcd::{PeerPlan, Verdict};
use etcdplay_transport::{Become, ExecRequest, Transport};
use futures::future::join_all;
use serde_json::{Map, Value};

use super::datadir::{read_remote, result_json, Finding, RemoteRead};
use super::stale::{config_inputs, parse_stat, show_script, stat_script, ServiceState, Staleness};
use super::unitfile::{parse_env_file, raw_settings, EtcdSettings, ServiceUnit};
use crate::extension::{Preflight, TaskContext};
use crate::{ConnectTarget, HostEvent, HostStatus, LeftoverMembership};

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

/// Root for reading data dirs and unit files unless the login user already is root.
fn root_become(user: Option<&str>) -> Option<Become> {
    match user {
        Some("root") => None,
        // A login the inventory does not name may or may not be root: the transport asks the
        // host and uses sudo only when it is not.
        None | Some(_) => Some(Become {
            user: "root".into(),
        }),
    }
}

async fn exec_stdout(
    transport: &dyn Transport,
    become_: Option<&Become>,
    script: String,
) -> Result<(i32, String), String> {
    let out = transport
        .exec(ExecRequest {
            script,
            become_: become_.cloned(),
            ..ExecRequest::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok((out.rc, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// An etcd unit as the guard read it on one host.
pub(crate) struct EtcdUnit {
    pub(crate) service: ServiceUnit,
    pub(crate) settings: EtcdSettings,
    /// systemd's view: whether it runs, since when, its unit file and drop-ins.
    pub(crate) state: ServiceState,
    /// The files its configuration comes from (see `stale::config_inputs`).
    pub(crate) inputs: Vec<String>,
}

/// Separates `systemctl cat` from `systemctl show` in the probe's output.
const SHOW_MARK: &str = "--- etcdplay: systemctl show ---";

/// One round trip for both: the unit's text and systemd's state of it. systemd is asked for
/// the state only when the text mentions etcd (every other unit is left alone right after),
/// which spares a `systemctl` run per host for every other unit a play starts.
fn unit_settings_script(unit: &str) -> String {
    let quoted = etcdplay_etcd::datadir::shell_quote(unit);
    format!(
        "t=$(systemctl cat -- {quoted} 2>/dev/null); rc=$?\nprintf '%s\\n' \"$t\"\necho '{SHOW_MARK}'\ncase $t in *etcd*)\n{}\n;; esac\nexit $rc",
        show_script(unit)
    )
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

/// The etcd settings a unit will start with on the host, or `None` when it does not run etcd.
pub(crate) async fn unit_settings(
    transport: &dyn Transport,
    become_: Option<&Become>,
    unit: &str,
) -> Result<Option<EtcdUnit>, String> {
    let (rc, out) = exec_stdout(transport, become_, unit_settings_script(unit)).await?;
    let (text, shown) = match out.rsplit_once(SHOW_MARK) {
        Some((text, shown)) => (text, shown),
        None => (out.as_str(), ""),
    };
    if rc != 0 || !text.contains("etcd") {
        return Ok(None);
    }
    let parsed = ServiceUnit::parse(text);
    if !parsed.runs_etcd() {
        return Ok(None);
    }
    let mut env_vars = Vec::new();
    for (path, optional) in &parsed.environment_files {
        match transport.get(path, become_).await {
            Ok(bytes) => env_vars.extend(parse_env_file(&String::from_utf8_lossy(&bytes))),
            Err(_) if *optional => {}
            Err(e) => return Err(format!("{unit}: EnvironmentFile {path}: {e}")),
        }
    }
    let raw: BTreeMap<String, String> = raw_settings(&parsed, &env_vars);
    let config = match raw.get("config-file") {
        Some(path) => {
            let bytes = transport
                .get(path, become_)
                .await
                .map_err(|e| format!("{unit}: --config-file {path}: {e}"))?;
            let node = etcdplay_source::load_yaml(&String::from_utf8_lossy(&bytes))
                .map_err(|e| format!("{unit}: --config-file {path}: {e}"))?;
            Some(node.to_json())
        }
        None => None,
    };
    let settings =
        EtcdSettings::resolve(&raw, config.as_ref(), parsed.working_directory.as_deref());
    let state = ServiceState::parse(shown);
    let inputs = config_inputs(&parsed, &state, &raw, config.as_ref());
    Ok(Some(EtcdUnit {
        service: parsed,
        settings,
        state,
        inputs,
    }))
}

/// Whether the running etcd of `unit` is stale: one `stat` of its inputs. Unreadable output
/// means "not known to be stale" (nothing is restarted on a guess).
async fn staleness(
    transport: &dyn Transport,
    become_: Option<&Become>,
    unit: &EtcdUnit,
) -> Option<Staleness> {
    if !unit.state.running || unit.inputs.is_empty() {
        return None;
    }
    let (_, out) = exec_stdout(transport, become_, stat_script(&unit.inputs))
        .await
        .ok()?;
    Staleness::judge(&unit.state, &parse_stat(&unit.inputs, &out))
}

/// Checks one host; `Ok(None)` when the task does not start an etcd unit there.
async fn check_host(ctx: &dyn TaskContext, host: &str) -> Result<Option<HostCheck>, String> {
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
    // The `stat` goes alongside the data-dir reader on another of the host's shells, so it
    // adds no latency.
    let stale = async {
        if state == "started" {
            staleness(transport.as_ref(), become_.as_ref(), &found).await
        } else {
            None
        }
    };
    let read = read_remote(
        transport.as_ref(),
        become_.as_ref(),
        &found.settings.data_dir,
        found.settings.wal_dir.as_deref(),
        ctx.run().options().check,
    );
    let (stale, read) = futures::join!(stale, read);
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
fn refuse(hosts: &[String], checks: &[HostCheck], errors: &[(String, String)]) -> Vec<HostEvent> {
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
mod tests {
    use super::*;

    /// Runs the unit probe with a fake `systemctl` whose `cat` prints `text` (exit `rc`) and
    /// whose `show` prints a state line.
    fn probe(text: &str, rc: i32) -> (i32, String) {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("systemctl");
        std::fs::write(&fake, format!("#!/bin/sh\ncase $1 in cat) printf '%s' '{text}'; exit {rc};; show) echo ActiveState=active;; esac\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap()
        );
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(unit_settings_script("etcd.service"))
            .env("PATH", path)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
        )
    }

    #[test]
    fn the_unit_probe_asks_systemd_for_state_only_for_etcd_units() {
        let etcd = "[Service]\nExecStart=/usr/local/bin/etcd --name a\n";
        let (rc, out) = probe(etcd, 0);
        assert_eq!(rc, 0);
        assert_eq!(out, format!("{etcd}{SHOW_MARK}\nActiveState=active\n"));
        let (rc, out) = probe("[Service]\nExecStart=/bin/sleep 1\n", 0);
        assert_eq!(
            (rc, out),
            (
                0,
                format!("[Service]\nExecStart=/bin/sleep 1\n{SHOW_MARK}\n")
            )
        );
        let (rc, _) = probe("", 1);
        assert_eq!(rc, 1, "a unit systemctl cannot show keeps its exit code");
    }
}
