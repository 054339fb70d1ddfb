//! `etcdplay backup`: `etcd_backup_source` (control node) asks every member for its status
//! and picks the one to snapshot, a follower with the highest applied index (a snapshot then
//! costs the leader nothing), else the leader; `etcd_backup` (on that member's host) takes the
//! snapshot over the member's TLS client URL with `backup/` (the member's own certificate or
//! the control node's client certificate, `snapshot status` and sha256 on the host), copies it
//! home (0600, fsynced, sha256 compared), writes its JSON sidecar (sha256, revision, hash, keys,
//! cluster and member ids), removes the host's copy and keeps only the newest `keep` backups.

use std::path::{Path, PathBuf};

use etcdplay_engine::HostAction;
use etcdplay_etcd::EndpointStatus;
use serde_json::{json, Map, Value};

use super::{etcd_unit, failed, now_secs, path_arg, required, service_arg, sh};
use crate::args::{client_from_args, endpoints_arg};
use crate::backup::{
    hex, sha256_file, snapshot_verified, store_locally, BackupError, Kind, Member, HOST_BACKUP_DIR,
};
use crate::error::ActionError;
use etcdplay_etcd::datadir::shell_quote;
use sha2::{Digest, Sha256};

/// What a sidecar's `format` says; a restore refuses any other.
pub(crate) const SIDECAR_FORMAT: &str = "etcdplay-backup/1";

/// Why no member can be snapshotted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NoSource {
    #[error("no member answered: {0}")]
    NoneHealthy(String),
    #[error("no healthy member has a leader, so none is known to hold the committed data")]
    NoLeader,
}

/// The member to snapshot (index into `statuses`): among healthy voting members that follow
/// a leader, the follower with the highest applied index (the first on a tie), else the leader.
pub(crate) fn choose_source(statuses: &[EndpointStatus]) -> Result<usize, NoSource> {
    let healthy: Vec<(usize, &EndpointStatus)> = statuses
        .iter()
        .enumerate()
        .filter(|(_, s)| s.healthy && !s.is_learner)
        .collect();
    if healthy.is_empty() {
        let why: Vec<String> = statuses
            .iter()
            .map(|s| {
                format!(
                    "{}: {}",
                    s.label(),
                    s.error.as_deref().unwrap_or("unhealthy")
                )
            })
            .collect();
        return Err(NoSource::NoneHealthy(why.join("; ")));
    }
    if !healthy
        .iter()
        .any(|(_, s)| s.is_leader || s.leader_id.is_some())
    {
        return Err(NoSource::NoLeader);
    }
    let applied = |s: &EndpointStatus| s.raft_applied_index.or(s.raft_index).unwrap_or(0);
    let mut best: Option<(usize, u64)> = None;
    for (i, s) in healthy.iter().filter(|(_, s)| !s.is_leader) {
        if best.is_none_or(|(_, a)| applied(s) > a) {
            best = Some((*i, applied(s)));
        }
    }
    match best {
        Some((i, _)) => Ok(i),
        None => healthy
            .iter()
            .find(|(_, s)| s.is_leader)
            .map(|(i, _)| *i)
            .ok_or(NoSource::NoLeader),
    }
}

/// `etcd_backup_source` on the control node: which inventory host to snapshot.
pub(crate) async fn run_source(
    args: &Map<String, Value>,
    origin: &str,
) -> Result<Value, ActionError> {
    let endpoints = endpoints_arg(args, "endpoints", origin)?;
    let hosts = endpoints_arg(args, "hosts", origin)?;
    if hosts.len() != endpoints.len() {
        return Err(ActionError::argument(
            origin,
            format!(
                "'hosts' ({}) and 'endpoints' ({}) must name the same members in the same order",
                hosts.len(),
                endpoints.len()
            ),
        ));
    }
    let client = client_from_args(args, origin)?;
    let statuses = client.endpoint_status().await;
    let chosen = match choose_source(&statuses) {
        Ok(i) => i,
        Err(e) => return Ok(failed(format!("no member to snapshot: {e}"))),
    };
    let s = &statuses[chosen];
    Ok(json!({
        "changed": false,
        "host": hosts[chosen],
        "endpoint": s.endpoint,
        "member_id": s.member_id_hex(),
        "member": s.name,
        "cluster_id": s.cluster_id.map(|id| format!("{id:x}")),
        "etcd_version": s.version,
        "leader": s.is_leader,
        "applied_index": s.raft_applied_index.or(s.raft_index),
        "msg": format!(
            "snapshot from {} ({}, applied index {})",
            hosts[chosen],
            if s.is_leader { "the leader: no follower is healthy" } else { "a follower" },
            s.raft_applied_index.or(s.raft_index).unwrap_or(0)
        ),
    }))
}

/// The name of a backup taken at `secs` (UTC) of a store at `revision`: names sort by time.
pub(crate) fn backup_name(secs: u64, revision: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let stamp = t
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_else(|_| secs.to_string());
    format!("etcd-{stamp}-rev{revision}.db")
}

/// Whether `name` is a backup this action made (see [`backup_name`]).
fn is_backup_name(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("etcd-")
        .and_then(|r| r.strip_suffix(".db"))
    else {
        return false;
    };
    let Some((stamp, rev)) = rest.split_once("-rev") else {
        return false;
    };
    let b = stamp.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
        && !rev.is_empty()
        && rev.bytes().all(|c| c.is_ascii_digit())
}

/// The backups to delete so that the newest `keep` remain (0 keeps all): the oldest first.
pub(crate) fn to_prune(names: &[String], keep: usize) -> Vec<String> {
    let mut ours: Vec<&String> = names.iter().filter(|n| is_backup_name(n)).collect();
    ours.sort();
    if keep == 0 || ours.len() <= keep {
        return Vec::new();
    }
    let excess = ours.len() - keep;
    ours.into_iter().take(excess).cloned().collect()
}

/// The sidecar of a backup: what a restore checks before it trusts the file.
pub(crate) fn sidecar(
    file: &str,
    sha256: &str,
    size: usize,
    kind: &Kind,
    taken_at: u64,
    source: &Map<String, Value>,
    host: &str,
) -> Value {
    let (revision, hash, total_keys) = match kind {
        Kind::Snapshot {
            revision,
            hash,
            total_keys,
        } => (Some(*revision), Some(*hash), *total_keys),
        Kind::DataDirCopy { .. } => (None, None, None),
    };
    let from = |k: &str| source.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "format": SIDECAR_FORMAT,
        "file": file,
        "sha256": sha256,
        "size": size,
        "revision": revision,
        "hash": hash,
        "total_keys": total_keys,
        "cluster_id": from("cluster_id"),
        "member_id": from("member_id"),
        "member": from("member"),
        "host": host,
        "etcd_version": from("etcd_version"),
        "taken_at": taken_at,
    })
}

/// Copies a verified backup back from the member's host to the control node.
pub(crate) async fn copy_back(
    ctx: &HostAction<'_>,
    host_path: &str,
) -> Result<Vec<u8>, BackupError> {
    ctx.transport
        .get(host_path, ctx.become_)
        .await
        .map_err(|source| BackupError::Transport {
            what: format!("copying {host_path} back"),
            source,
        })
}

/// Keeps a backup's sidecar (`NAME.json`) beside it on the control node, written and checked
/// as the backup itself is.
pub(crate) fn store_sidecar(
    host: &str,
    host_path: &str,
    dest: &Path,
    name: &str,
    meta: &Value,
) -> Result<PathBuf, BackupError> {
    let bytes = serde_json::to_vec_pretty(meta).unwrap_or_default();
    let sum = hex(&Sha256::digest(&bytes));
    store_locally(host, host_path, dest, &format!("{name}.json"), &bytes, &sum)
}

/// `etcd_backup` on the chosen member's host.
pub(crate) async fn run(
    ctx: &HostAction<'_>,
    args: &Map<String, Value>,
) -> Result<Value, ActionError> {
    let origin = ctx.origin;
    let dest = PathBuf::from(required(args, "dest", origin)?);
    let keep = match args.get("keep") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or_else(|| ActionError::argument(origin, "'keep' must be a whole number"))?
            as usize,
    };
    let service = service_arg(args, origin)?;
    let endpoint = required(args, "endpoint", origin)?;
    if ctx.check {
        return Ok(
            json!({"changed": true, "msg": format!("a snapshot of {} would be taken", ctx.host)}),
        );
    }
    let Some(unit) = etcd_unit(ctx, &service).await? else {
        return Ok(failed(format!(
            "{}: unit {service} does not run etcd, so no snapshot can be taken here",
            ctx.host
        )));
    };
    let member = Member {
        host: ctx.host,
        unit: &service,
        settings: &unit.settings,
        published_client_urls: vec![endpoint.clone()],
        transport: ctx.transport,
        become_: ctx.become_,
    };
    let taken_at = now_secs();
    let host_path = format!("{HOST_BACKUP_DIR}/{}-backup-{taken_at}.db", ctx.host);
    let pki = path_arg(args, "pki_dir").filter(|p| p.is_dir());
    let backup_err = |source| ActionError::Backup {
        origin: origin.to_string(),
        source: Box::new(source),
    };
    let (kind, sum, note) = snapshot_verified(&member, pki.as_deref(), &host_path)
        .await
        .map_err(backup_err)?;
    let Kind::Snapshot {
        revision,
        hash,
        total_keys,
    } = kind
    else {
        return Ok(failed("the snapshot did not verify as a snapshot"));
    };
    let bytes = copy_back(ctx, &host_path).await.map_err(backup_err)?;
    let name = backup_name(taken_at, revision);
    let local =
        store_locally(ctx.host, &host_path, &dest, &name, &bytes, &sum).map_err(backup_err)?;
    let meta = sidecar(&name, &sum, bytes.len(), &kind, taken_at, args, ctx.host);
    let meta_path = store_sidecar(ctx.host, &host_path, &dest, &name, &meta).map_err(backup_err)?;
    // The control node's copy is the backup; the host keeps no stray snapshot.
    let removed = sh(
        ctx,
        "removing the host's copy",
        format!("rm -f -- {}", shell_quote(&host_path)),
    )
    .await?;
    let pruned = prune(&dest, keep).map_err(backup_err)?;
    let mut result = json!({
        "changed": true,
        "operation": "backup",
        "file": local,
        "sidecar": meta_path,
        "sha256": sum,
        "size": bytes.len(),
        "revision": revision,
        "hash": hash,
        "total_keys": total_keys,
        "cluster_id": args.get("cluster_id"),
        "member": args.get("member"),
        "member_id": args.get("member_id"),
        "host": ctx.host,
        "endpoint": endpoint,
        "pruned": pruned,
        "msg": format!(
            "snapshot of {} at revision {revision} ({} bytes, sha256 {sum}) verified and kept as {}",
            ctx.host,
            bytes.len(),
            local.display()
        ),
    });
    if let Some(note) = note {
        result["note"] = Value::String(note);
    }
    if let Err(problem) = removed {
        result["warnings"] = json!([problem]);
    }
    Ok(result)
}

/// Deletes the oldest backups (and their sidecars) beyond `keep` in `dest`; their names.
pub(crate) fn prune(dest: &Path, keep: usize) -> Result<Vec<String>, BackupError> {
    let io = |what: &'static str| {
        let path = dest.to_path_buf();
        move |source| BackupError::Local { path, what, source }
    };
    let names: Vec<String> = std::fs::read_dir(dest)
        .map_err(io("listing for the retention"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    let doomed = to_prune(&names, keep);
    for name in &doomed {
        std::fs::remove_file(dest.join(name)).map_err(io("removing an old backup"))?;
        match std::fs::remove_file(dest.join(format!("{name}.json"))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("removing an old sidecar")(e))
            }
            _ => {}
        }
    }
    Ok(doomed)
}

/// A backup's sidecar, read and checked against the file: what a restore relies on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    pub(crate) sha256: String,
    pub(crate) revision: u64,
    pub(crate) size: u64,
    pub(crate) cluster_id: Option<String>,
}

/// Why a backup file is not trusted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SidecarError {
    #[error("{}: {problem}", path.display())]
    Bad { path: PathBuf, problem: String },
    /// Boxed: a backup error carries paths and a command's output, and this error travels
    /// by value on every return.
    #[error(transparent)]
    Local(Box<BackupError>),
}

impl From<BackupError> for SidecarError {
    fn from(e: BackupError) -> Self {
        SidecarError::Local(Box::new(e))
    }
}

/// Reads `<file>.json` and checks the file's size and sha256 against it.
pub(crate) fn verify_with_sidecar(file: &Path) -> Result<Verified, SidecarError> {
    let side = PathBuf::from(format!("{}.json", file.display()));
    let bad = |problem: String| SidecarError::Bad {
        path: side.clone(),
        problem,
    };
    let text = etcdplay_source::read_text_file(&side, 1 << 20).map_err(|e| {
        bad(format!(
            "{} (a backup is restored only with the sidecar `etcdplay backup` writes)",
            e.problem
        ))
    })?;
    let meta: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    if meta.get("format").and_then(Value::as_str) != Some(SIDECAR_FORMAT) {
        return Err(bad(format!("format is not {SIDECAR_FORMAT}")));
    }
    let field = |k: &str| meta.get(k).and_then(Value::as_u64);
    let sha256 = meta
        .get("sha256")
        .and_then(Value::as_str)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| bad("no sha256".into()))?
        .to_ascii_lowercase();
    let revision = field("revision")
        .filter(|r| *r > 0)
        .ok_or_else(|| bad("no revision".into()))?;
    let size = field("size").ok_or_else(|| bad("no size".into()))?;
    let actual_size = std::fs::metadata(file)
        .map_err(|source| BackupError::Local {
            path: file.to_path_buf(),
            what: "stat",
            source,
        })?
        .len();
    if actual_size != size {
        return Err(bad(format!(
            "says {size} bytes, but {} has {actual_size}",
            file.display()
        )));
    }
    let actual = sha256_file(file)?;
    if actual != sha256 {
        return Err(bad(format!(
            "says sha256 {sha256}, but {} has {actual}",
            file.display()
        )));
    }
    Ok(Verified {
        sha256,
        revision,
        size,
        cluster_id: meta
            .get("cluster_id")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(endpoint: &str, leader: bool, applied: u64) -> EndpointStatus {
        EndpointStatus {
            healthy: true,
            is_leader: leader,
            leader_id: Some(1),
            raft_applied_index: Some(applied),
            error: None,
            ..EndpointStatus::failed(endpoint, String::new())
        }
    }

    #[test]
    fn the_most_caught_up_follower_is_snapshotted_else_the_leader() {
        let s = [
            member("a", true, 90),
            member("b", false, 80),
            member("c", false, 85),
        ];
        assert_eq!(choose_source(&s), Ok(2));
        // A tie keeps the first.
        let s = [
            member("a", false, 85),
            member("b", true, 99),
            member("c", false, 85),
        ];
        assert_eq!(choose_source(&s), Ok(0));
        // Followers down or learners: the leader.
        let mut learner = member("b", false, 99);
        learner.is_learner = true;
        let down = EndpointStatus::failed("c", "connection refused".into());
        assert_eq!(choose_source(&[member("a", true, 5), learner, down]), Ok(0));
    }

    #[test]
    fn no_healthy_member_or_no_leader_is_refused() {
        let down = EndpointStatus::failed("a", "connection refused".into());
        assert!(
            matches!(choose_source(&[down]), Err(NoSource::NoneHealthy(m)) if m.contains("connection refused"))
        );
        let mut lost = member("b", false, 3);
        lost.leader_id = None;
        assert_eq!(choose_source(&[lost]), Err(NoSource::NoLeader));
    }

    #[test]
    fn names_sort_by_time_and_retention_removes_the_oldest() {
        assert_eq!(backup_name(0, 7), "etcd-19700101T000000Z-rev7.db");
        // 2026-11-28 12:34:56 UTC.
        let name = backup_name(1_795_869_296, 42);
        assert_eq!(name, "etcd-20261128T123456Z-rev42.db");
        assert!(is_backup_name(&name));
        let names: Vec<String> = [
            "etcd-20260102T000000Z-rev9.db",
            "etcd-20260101T000000Z-rev5.db",
            "etcd-20260101T000000Z-rev5.db.json",
            "etcd-20260103T000000Z-rev12.db",
            "notes.txt",
            "etcd-2026-rev1.db",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(to_prune(&names, 2), vec!["etcd-20260101T000000Z-rev5.db"]);
        assert_eq!(
            to_prune(&names, 1),
            vec![
                "etcd-20260101T000000Z-rev5.db",
                "etcd-20260102T000000Z-rev9.db"
            ]
        );
        assert!(to_prune(&names, 0).is_empty(), "0 keeps every backup");
        assert!(to_prune(&names, 3).is_empty());
    }

    #[test]
    fn a_backup_is_trusted_only_with_a_matching_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("etcd-20260101T000000Z-rev5.db");
        std::fs::write(&file, b"snapshot").unwrap();
        let e = verify_with_sidecar(&file).unwrap_err();
        assert!(e.to_string().contains("sidecar"), "{e}");
        let sum = hex(&Sha256::digest(b"snapshot"));
        let kind = Kind::Snapshot {
            revision: 5,
            hash: 1,
            total_keys: Some(3),
        };
        let source = json!({"cluster_id": "abc"}).as_object().cloned().unwrap();
        let meta = sidecar("x", &sum, 8, &kind, 0, &source, "m1");
        let side = dir.path().join("etcd-20260101T000000Z-rev5.db.json");
        std::fs::write(&side, meta.to_string()).unwrap();
        let v = verify_with_sidecar(&file).unwrap();
        assert_eq!(
            (v.revision, v.size, v.cluster_id.as_deref()),
            (5, 8, Some("abc"))
        );
        std::fs::write(&file, b"snapshoT").unwrap();
        let e = verify_with_sidecar(&file).unwrap_err();
        assert!(e.to_string().contains("says sha256"), "{e}");
        std::fs::write(&file, b"short").unwrap();
        let e = verify_with_sidecar(&file).unwrap_err();
        assert!(e.to_string().contains("says 8 bytes"), "{e}");
    }
}
