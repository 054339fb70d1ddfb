//! `etcdplay backup --collect`: `etcd_backup_collect` on each member's host brings home the
//! newest snapshot its scheduled timer took (`etcd_backup_schedule`, `etcd-snapshot.sh.j2`).
//! The snapshot is checked twice before it counts: on the host (`snapshot status` reads the
//! whole backend back; its sha256 must be the one the timer recorded beside it) and on the
//! control node (kept 0600 and fsynced under `<dest>/<host>/`, its sha256 compared with the
//! host's). A sidecar like `etcdplay backup`'s is written beside it, so `etcdplay restore`
//! takes a collected snapshot too; only the newest `keep` are kept per member.

use std::path::PathBuf;

use etcdplay_engine::HostAction;
use etcdplay_etcd::datadir::shell_quote;
use serde_json::{json, Map, Value};

use super::backup::{copy_back, prune, sidecar, store_sidecar};
use super::{failed, required, sh};
use crate::backup::{
    parse_snapshot_verification, store_locally, verify_snapshot_script, BackupError, Kind,
};
use crate::error::ActionError;

/// The script printing the newest scheduled snapshot's name and the sha256 recorded for it
/// (exit 3 when there is none yet). The timer writes the sha256 file before the snapshot
/// appears and prunes old ones as it goes, so a listing that lost a race with it (the file
/// gone before its sum was read) is simply taken again.
fn newest_script(dir: &str) -> String {
    format!(
        "d={d}\nfor try in 1 2 3; do\n  n=$(ls -1 \"$d\" 2>/dev/null | grep -E '^etcd-[0-9]{{8}}T[0-9]{{6}}Z-rev[0-9]+\\.db$' | sort | tail -n 1)\n  [ -n \"$n\" ] || exit 3\n  if s=$(head -c 64 \"$d/$n.sha256\" 2>/dev/null) && [ -f \"$d/$n\" ]; then\n    printf 'name %s\\nrecorded %s\\n' \"$n\" \"$s\"; exit 0\n  fi\ndone\nexit 4",
        d = shell_quote(dir)
    )
}

/// The value after `key ` on its own line.
fn field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
        .map(str::trim)
}

/// A name the timer writes (`etcd-YYYYMMDDTHHMMSSZ-revN.db`): the time it was taken, in
/// seconds since the epoch.
fn taken_at(name: &str) -> Option<u64> {
    let stamp = name.strip_prefix("etcd-")?.get(..16)?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(stamp, format).ok()?;
    u64::try_from(t.assume_utc().unix_timestamp()).ok()
}

/// `etcd_backup_collect` on one member's host.
pub(crate) async fn run(
    ctx: &HostAction<'_>,
    args: &Map<String, Value>,
) -> Result<Value, ActionError> {
    let origin = ctx.origin;
    let dir = required(args, "dir", origin)?;
    let dest = PathBuf::from(required(args, "dest", origin)?).join(ctx.host);
    let keep = match args.get("keep") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or_else(|| ActionError::argument(origin, "'keep' must be a whole number"))?
            as usize,
    };
    if ctx.check {
        return Ok(json!({"changed": true,
            "msg": format!("the newest scheduled snapshot of {} would be collected", ctx.host)}));
    }
    let listing = match sh(ctx, "finding the newest scheduled snapshot", newest_script(&dir)).await? {
        Ok(out) => out,
        Err(_) => {
            return Ok(failed(format!(
                "{}: no scheduled snapshot in {dir} (is etcd_backup_schedule set, and has the timer run?)",
                ctx.host
            )))
        }
    };
    let (Some(name), Some(recorded)) = (field(&listing, "name"), field(&listing, "recorded"))
    else {
        return Ok(failed(format!("{}: unreadable listing of {dir}", ctx.host)));
    };
    let host_path = format!("{}/{name}", dir.trim_end_matches('/'));
    let verified = match sh(
        ctx,
        "verifying the snapshot",
        verify_snapshot_script(&host_path),
    )
    .await?
    {
        Ok(out) => out,
        Err(problem) => return Ok(failed(problem)),
    };
    let backup_err = |source| ActionError::Backup {
        origin: origin.to_string(),
        source: Box::new(source),
    };
    let (kind, sum) = parse_snapshot_verification(&verified).map_err(|problem| {
        backup_err(BackupError::Unverified {
            host: ctx.host.to_string(),
            path: host_path.clone(),
            problem,
        })
    })?;
    if !sum.eq_ignore_ascii_case(recorded) {
        return Ok(failed(format!(
            "{}: {host_path} has sha256 {sum}, but the timer recorded {recorded}: not collected",
            ctx.host
        )));
    }
    let Kind::Snapshot { revision, .. } = kind else {
        return Ok(failed("the snapshot did not verify as a snapshot"));
    };
    let bytes = copy_back(ctx, &host_path).await.map_err(backup_err)?;
    let local =
        store_locally(ctx.host, &host_path, &dest, name, &bytes, &sum).map_err(backup_err)?;
    let source = Map::from_iter([("member".to_string(), json!(ctx.host))]);
    let meta = sidecar(
        name,
        &sum,
        bytes.len(),
        &kind,
        taken_at(name).unwrap_or(0),
        &source,
        ctx.host,
    );
    store_sidecar(ctx.host, &host_path, &dest, name, &meta).map_err(backup_err)?;
    let pruned = prune(&dest, keep).map_err(backup_err)?;
    let entry = json!({
        "host": ctx.host,
        "host_file": host_path,
        "file": local,
        "sha256": sum,
        "size": bytes.len(),
        "revision": revision,
        "pruned": pruned,
    });
    Ok(json!({
        "changed": true,
        "operation": "backup collect",
        "collected": [entry],
        "msg": format!(
            "{}: {name} (revision {revision}, {} bytes, sha256 {sum}) verified on the host and kept as {}",
            ctx.host,
            bytes.len(),
            local.display()
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_comes_from_the_name_the_timer_writes() {
        assert_eq!(taken_at("etcd-19700101T000010Z-rev5.db"), Some(10));
        assert_eq!(
            taken_at("etcd-20261205T031500Z-rev42.db"),
            Some(1_796_440_500)
        );
        assert_eq!(taken_at("etcd-garbage.db"), None);
    }

    #[test]
    fn the_listing_is_read_by_its_keys() {
        let out = "name etcd-20261205T031500Z-rev42.db\nrecorded abc\n";
        assert_eq!(field(out, "name"), Some("etcd-20261205T031500Z-rev42.db"));
        assert_eq!(field(out, "recorded"), Some("abc"));
        assert!(newest_script("/var/backups/x").contains("'/var/backups/x'"));
    }
}
