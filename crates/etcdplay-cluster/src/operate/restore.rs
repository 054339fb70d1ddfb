//! `etcdplay restore`: disaster recovery from a backup `etcdplay backup` made.
//!
//! - `etcd_restore_check` phase `before` (control node): the file must match its sidecar
//!   (size, sha256), and the cluster must have lost quorum: restoring a cluster that still
//!   works throws away every write since the snapshot, so that needs `force`.
//! - `etcd_restore` phase `upload` (every member): the snapshot goes to the host privately
//!   (0600 in a 0700 directory) and is verified there (`snapshot status` revision and sha256
//!   against the sidecar); the etcd unit must start the planned name, peer URLs and data dir,
//!   or the data-dir guard would refuse the start later. Nothing is stopped yet.
//! - `etcd_restore` phase `restore` (every member, after every upload verified): etcd is
//!   stopped, the data dir (and WAL dir) moved aside as `<dir>.pre-restore-<time>` (kept,
//!   never deleted), the snapshot restored with the planned names, peer URLs and cluster
//!   token into a new directory that takes the old one's owner, and moved into place.
//! - The playbook then starts every member (the data-dir guard checks the restored dirs) and
//!   `etcd_restore_check` phase `after` waits for health and reads the revision back.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use etcdplay_engine::HostAction;
use etcdplay_etcd::datadir::shell_quote;
use etcdplay_etcd::EndpointStatus;
use etcdplay_transport::PutRequest;
use serde_json::{json, Map, Value};

use super::backup::verify_with_sidecar;
use super::{bool_arg, etcd_unit, failed, now_secs, required, service_arg, sh, str_arg};
use crate::args::{client_from_args, endpoints_arg, wait_from_args};
use crate::backup::{
    parse_snapshot_verification, verify_snapshot_script, Kind, ETCDCTL, HOST_BACKUP_DIR,
};
use crate::error::ActionError;

/// How long phase `after` waits for a healthy cluster by default.
const DEFAULT_WAIT: Duration = Duration::from_secs(180);

/// Whether the members answering form a working cluster: a healthy voting majority of
/// `members` that follows a leader.
pub(crate) fn has_quorum(statuses: &[EndpointStatus], members: usize) -> bool {
    let healthy: Vec<&EndpointStatus> = statuses
        .iter()
        .filter(|s| s.healthy && !s.is_learner)
        .collect();
    let led = healthy.iter().any(|s| s.is_leader || s.leader_id.is_some());
    led && healthy.len() * 2 > members
}

/// `etcd_restore_check` on the control node.
pub(crate) async fn run_check(
    args: &Map<String, Value>,
    origin: &str,
) -> Result<Value, ActionError> {
    match str_arg(args, "phase").as_deref().unwrap_or("before") {
        "before" => before(args, origin).await,
        "after" => after(args, origin).await,
        other => Err(ActionError::argument(
            origin,
            format!("'phase' must be before or after, got '{other}'"),
        )),
    }
}

async fn before(args: &Map<String, Value>, origin: &str) -> Result<Value, ActionError> {
    let snapshot = required(args, "snapshot", origin)?;
    let verified = match verify_with_sidecar(Path::new(&snapshot)) {
        Ok(v) => v,
        Err(e) => return Ok(failed(format!("the snapshot is not restored: {e}"))),
    };
    let endpoints = endpoints_arg(args, "endpoints", origin)?;
    let client = client_from_args(args, origin)?;
    let statuses = client.endpoint_status().await;
    let quorum = has_quorum(&statuses, endpoints.len());
    let healthy = statuses.iter().filter(|s| s.healthy).count();
    if quorum && !bool_arg(args, "force", false) {
        return Ok(failed(format!(
            "refusing to restore: the cluster has quorum ({healthy} of {} members healthy, with a leader); a restore replaces every member's data with the snapshot at revision {} and loses every later write. Take a backup first (`etcdplay backup`) and pass --force if that is what you want.",
            endpoints.len(),
            verified.revision
        )));
    }
    Ok(json!({
        "changed": false,
        "operation": "restore",
        "snapshot": snapshot,
        "snapshot_revision": verified.revision,
        "sha256": verified.sha256,
        "revision": verified.revision,
        "size": verified.size,
        "snapshot_cluster_id": verified.cluster_id,
        "cluster_had_quorum": quorum,
        "healthy_members": healthy,
        "msg": format!(
            "{snapshot}: sha256 and size match its sidecar (revision {}); {healthy} of {} members healthy{}",
            verified.revision,
            endpoints.len(),
            if quorum { ", quorum held: restoring anyway (force)" } else { ", no quorum" }
        ),
    }))
}

async fn after(args: &Map<String, Value>, origin: &str) -> Result<Value, ActionError> {
    let client = client_from_args(args, origin)?;
    let wait = wait_from_args(args, DEFAULT_WAIT, origin)?;
    let expected = args.get("revision").and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    });
    let statuses = match client.wait_healthy(wait).await {
        Ok(s) => s,
        Err(e) => return Ok(failed(format!("after the restore: {e}"))),
    };
    let revision = statuses
        .iter()
        .filter_map(|s| s.revision)
        .max()
        .unwrap_or(0);
    let cluster_id = statuses
        .iter()
        .find_map(|s| s.cluster_id)
        .map(|id| format!("{id:x}"));
    let mut result = json!({
        "changed": false,
        "operation": "restore",
        "revision": revision,
        "cluster_id": cluster_id,
        "members": statuses.iter().map(|s| json!({
            "endpoint": s.endpoint,
            "name": s.name,
            "member_id": s.member_id_hex(),
            "leader": s.is_leader,
        })).collect::<Vec<_>>(),
        "msg": format!(
            "every member healthy after the restore; cluster {} at revision {revision}",
            cluster_id.as_deref().unwrap_or("?")
        ),
    });
    if let Some(want) = expected {
        if (revision as u64) < want {
            result["failed"] = Value::Bool(true);
            result["msg"] = Value::String(format!(
                "the restored cluster is at revision {revision}, below the snapshot's {want}"
            ));
        }
    }
    Ok(result)
}

/// Where the snapshot goes on a host: named by its sha256, so that both phases agree.
fn host_snapshot_path(sha256: &str) -> String {
    let short: String = sha256.chars().take(16).collect();
    format!("{HOST_BACKUP_DIR}/restore-{short}.db")
}

/// What the plan says one member restores to.
struct Plan {
    name: String,
    initial_cluster: String,
    token: String,
    peer_urls: Vec<String>,
    data_dir: String,
    wal_dir: Option<String>,
}

fn plan_of(args: &Map<String, Value>, origin: &str) -> Result<Plan, ActionError> {
    Ok(Plan {
        name: required(args, "name", origin)?,
        initial_cluster: required(args, "initial_cluster", origin)?,
        token: required(args, "token", origin)?,
        peer_urls: endpoints_arg(args, "peer_urls", origin)?,
        data_dir: required(args, "data_dir", origin)?
            .trim_end_matches('/')
            .to_string(),
        wal_dir: str_arg(args, "wal_dir").map(|w| w.trim_end_matches('/').to_string()),
    })
}

/// Where the unit the plan starts differs from the plan (each a line), so that the data-dir
/// guard would refuse the restored member: checked before anything is stopped.
fn unit_mismatches(plan: &Plan, unit: &etcdplay_etcd::unit::EtcdSettings) -> Vec<String> {
    let mut out = Vec::new();
    if unit.name.as_deref() != Some(plan.name.as_str()) {
        out.push(format!(
            "--name is {:?}, the plan says {}",
            unit.name, plan.name
        ));
    }
    let norm = |v: &[String]| {
        let mut v: Vec<String> = v
            .iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .collect();
        v.sort();
        v
    };
    if norm(&unit.advertise_peer_urls) != norm(&plan.peer_urls) {
        out.push(format!(
            "--initial-advertise-peer-urls is {}, the plan says {}",
            unit.advertise_peer_urls.join(","),
            plan.peer_urls.join(",")
        ));
    }
    if unit.data_dir.trim_end_matches('/') != plan.data_dir {
        out.push(format!(
            "--data-dir is {}, the plan says {}",
            unit.data_dir, plan.data_dir
        ));
    }
    let wal = unit.wal_dir.as_deref().map(|w| w.trim_end_matches('/'));
    if wal != plan.wal_dir.as_deref() {
        out.push(format!(
            "--wal-dir is {:?}, the plan says {:?}",
            unit.wal_dir, plan.wal_dir
        ));
    }
    out
}

/// `etcd_restore` on one member's host.
pub(crate) async fn run(
    ctx: &HostAction<'_>,
    args: &Map<String, Value>,
) -> Result<Value, ActionError> {
    let origin = ctx.origin;
    let service = service_arg(args, origin)?;
    let sha256 = required(args, "sha256", origin)?.to_ascii_lowercase();
    let plan = plan_of(args, origin)?;
    let phase = str_arg(args, "phase").unwrap_or_else(|| "upload".into());
    if !matches!(phase.as_str(), "upload" | "restore") {
        return Err(ActionError::argument(
            origin,
            format!("'phase' must be upload or restore, got '{phase}'"),
        ));
    }
    if ctx.check {
        return Ok(json!({"changed": true, "msg": format!("{phase}: skipped in check mode")}));
    }
    if phase == "upload" {
        upload(ctx, args, &service, &sha256, &plan).await
    } else {
        restore(ctx, &service, &sha256, &plan).await
    }
}

async fn upload(
    ctx: &HostAction<'_>,
    args: &Map<String, Value>,
    service: &str,
    sha256: &str,
    plan: &Plan,
) -> Result<Value, ActionError> {
    let origin = ctx.origin;
    let Some(unit) = etcd_unit(ctx, service).await? else {
        return Ok(failed(format!(
            "{}: unit {service} does not run etcd; run `etcdplay apply` first so that the restored member has a unit to start",
            ctx.host
        )));
    };
    let wrong = unit_mismatches(plan, &unit.settings);
    if !wrong.is_empty() {
        return Ok(failed(format!(
            "{}: the unit {service} does not start what the plan restores, so the data-dir guard would refuse it ({}); run `etcdplay apply` with the same variables first. Nothing was stopped.",
            ctx.host,
            wrong.join("; ")
        )));
    }
    let snapshot = required(args, "snapshot", origin)?;
    let revision = args.get("revision").and_then(Value::as_u64);
    let bytes = etcdplay_source::read_file(Path::new(&snapshot), etcdplay_transport::MAX_GET_SIZE)
        .map_err(|e| ActionError::ReadFile {
            origin: origin.to_string(),
            path: snapshot.clone(),
            problem: e.problem,
        })?;
    let dest = host_snapshot_path(sha256);
    if let Err(msg) = sh(
        ctx,
        "creating the backup directory",
        format!("umask 077; mkdir -p -- {HOST_BACKUP_DIR} && chmod 0700 -- {HOST_BACKUP_DIR}"),
    )
    .await?
    {
        return Ok(failed(msg));
    }
    ctx.transport
        .put(PutRequest {
            dest: dest.clone(),
            content: Arc::new(bytes),
            mode: Some(0o600),
            owner: None,
            group: None,
            become_: ctx.become_.cloned(),
        })
        .await?;
    let out = match sh(ctx, "verifying the snapshot", verify_snapshot_script(&dest)).await? {
        Ok(out) => out,
        Err(msg) => return Ok(failed(msg)),
    };
    let (kind, sum) = match parse_snapshot_verification(&out) {
        Ok(v) => v,
        Err(e) => return Ok(failed(format!("{}: {dest} does not verify: {e}", ctx.host))),
    };
    if sum != sha256 {
        return Ok(failed(format!(
            "{}: {dest} has sha256 {sum} on the host, the sidecar says {sha256}",
            ctx.host
        )));
    }
    let Kind::Snapshot { revision: got, .. } = kind else {
        return Ok(failed(format!("{}: {dest} is not a snapshot", ctx.host)));
    };
    if revision.is_some_and(|r| r != got) {
        return Ok(failed(format!(
            "{}: snapshot status says revision {got}, the sidecar {}",
            ctx.host,
            revision.unwrap_or(0)
        )));
    }
    Ok(json!({
        "changed": true,
        "path": dest,
        "revision": got,
        "msg": format!("{}: snapshot uploaded to {dest} and verified (revision {got}, sha256 matches)", ctx.host),
    }))
}

/// The script that stops the member, keeps its dirs aside and restores the snapshot. It
/// prints `kept PATH` for each directory moved aside.
fn restore_script(service: &str, sha256: &str, plan: &Plan, stamp: u64) -> String {
    let q = |s: &str| shell_quote(s);
    let db = host_snapshot_path(sha256);
    let dd = &plan.data_dir;
    let new_dd = format!("{dd}.restoring-{stamp}");
    let mut dirs = vec![(dd.clone(), new_dd.clone())];
    let mut wal_flag = String::new();
    if let Some(wal) = &plan.wal_dir {
        let new_wal = format!("{wal}.restoring-{stamp}");
        wal_flag = format!(" --wal-dir {}", q(&new_wal));
        dirs.push((wal.clone(), new_wal));
    }
    let restore_flags = format!(
        "--name {} --initial-cluster {} --initial-cluster-token {} --initial-advertise-peer-urls {} --data-dir {}{wal_flag}",
        q(&plan.name),
        q(&plan.initial_cluster),
        q(&plan.token),
        q(&plan.peer_urls.join(",")),
        q(&new_dd),
    );
    let mut s = format!(
        "set -e\numask 077\nsystemctl stop -- {svc}\n",
        svc = q(service)
    );
    // The new dirs take the owner of the old ones, or of their parent when they are gone.
    for (i, (old, new)) in dirs.iter().enumerate() {
        s.push_str(&format!(
            "if [ -e {o} ]; then ref{i}={o}; else ref{i}=$(dirname -- {o}); fi\nowner{i}=$(stat -c %u:%g -- \"$ref{i}\")\nrm -rf -- {n}\n",
            o = q(old),
            n = q(new),
        ));
    }
    s.push_str(&format!(
        "if command -v etcdutl >/dev/null 2>&1; then etcdutl snapshot restore {db} {restore_flags} >/dev/null; else {ETCDCTL} snapshot restore {db} {restore_flags} >/dev/null; fi\n",
        db = q(&db),
    ));
    for (i, (old, new)) in dirs.iter().enumerate() {
        let aside = format!("{old}.pre-restore-{stamp}");
        s.push_str(&format!(
            "chown -R -- \"$owner{i}\" {n}\nchmod 0700 -- {n}\nif [ -e {o} ]; then mv -- {o} {a}; echo kept {a}; fi\nmv -- {n} {o}\n",
            n = q(new),
            o = q(old),
            a = q(&aside),
        ));
    }
    s.push_str(&format!("rm -f -- {}\n", q(&db)));
    s
}

async fn restore(
    ctx: &HostAction<'_>,
    service: &str,
    sha256: &str,
    plan: &Plan,
) -> Result<Value, ActionError> {
    let stamp = now_secs();
    let out = match sh(
        ctx,
        "the restore",
        restore_script(service, sha256, plan, stamp),
    )
    .await?
    {
        Ok(out) => out,
        Err(msg) => return Ok(failed(msg)),
    };
    let kept: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("kept "))
        .collect();
    Ok(json!({
        "changed": true,
        "kept": kept,
        "data_dir": plan.data_dir,
        "msg": format!(
            "{}: etcd stopped, snapshot restored into {} as member {} ({}){}",
            ctx.host,
            plan.data_dir,
            plan.name,
            plan.peer_urls.join(","),
            if kept.is_empty() { String::new() } else { format!("; old dirs kept as {}", kept.join(", ")) }
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(endpoint: &str, leader: bool) -> EndpointStatus {
        EndpointStatus {
            healthy: true,
            is_leader: leader,
            leader_id: Some(1),
            error: None,
            ..EndpointStatus::failed(endpoint, String::new())
        }
    }

    #[test]
    fn quorum_needs_a_led_majority() {
        let down = || EndpointStatus::failed("x", "refused".into());
        assert!(has_quorum(&[up("a", true), up("b", false), down()], 3));
        assert!(!has_quorum(&[up("a", false), down(), down()], 3));
        assert!(!has_quorum(&[down(), down(), down()], 3));
        let mut lost = up("a", false);
        lost.leader_id = None;
        let mut lost2 = lost.clone();
        lost2.endpoint = "b".into();
        assert!(
            !has_quorum(&[lost, lost2, down()], 3),
            "no leader, no quorum"
        );
    }

    fn plan() -> Plan {
        Plan {
            name: "m1".into(),
            initial_cluster: "m1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380".into(),
            token: "etcdplay".into(),
            peer_urls: vec!["https://10.0.0.1:2380".into()],
            data_dir: "/var/lib/etcd/data".into(),
            wal_dir: None,
        }
    }

    #[test]
    fn the_restore_keeps_the_old_dir_and_restores_the_plan() {
        let s = restore_script("etcd", &"ab".repeat(32), &plan(), 7);
        assert!(
            s.starts_with("set -e\numask 077\nsystemctl stop -- 'etcd'\n"),
            "{s}"
        );
        assert!(s.contains("snapshot restore '/var/backups/etcdplay/restore-abababababababab.db' --name 'm1' --initial-cluster 'm1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380' --initial-cluster-token 'etcdplay' --initial-advertise-peer-urls 'https://10.0.0.1:2380' --data-dir '/var/lib/etcd/data.restoring-7' >/dev/null"), "{s}");
        assert!(
            s.contains("mv -- '/var/lib/etcd/data' '/var/lib/etcd/data.pre-restore-7'; echo kept"),
            "{s}"
        );
        assert!(
            !s.contains("rm -rf -- '/var/lib/etcd/data'\n"),
            "the old dir is never deleted: {s}"
        );
        assert!(!s.contains("--wal-dir"), "{s}");
        let mut with_wal = plan();
        with_wal.wal_dir = Some("/wal".into());
        let s = restore_script("etcd", &"ab".repeat(32), &with_wal, 7);
        assert!(
            s.contains("--wal-dir '/wal.restoring-7'")
                && s.contains("mv -- '/wal' '/wal.pre-restore-7'"),
            "{s}"
        );
    }

    #[test]
    fn a_unit_that_starts_something_else_is_found_before_anything_stops() {
        let mut unit = etcdplay_etcd::unit::EtcdSettings {
            name: Some("m1".into()),
            data_dir: "/var/lib/etcd/data/".into(),
            advertise_peer_urls: vec!["https://10.0.0.1:2380/".into()],
            ..Default::default()
        };
        assert!(unit_mismatches(&plan(), &unit).is_empty());
        unit.advertise_peer_urls = vec!["http://10.0.0.1:2380".into()];
        unit.name = Some("other".into());
        let wrong = unit_mismatches(&plan(), &unit);
        assert_eq!(wrong.len(), 2, "{wrong:?}");
        assert!(wrong[1].contains("http://10.0.0.1:2380"), "{wrong:?}");
    }
}
