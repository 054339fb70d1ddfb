//! Operating a running cluster, as actions of the built-in operation playbooks
//! (`playbooks/etcd-backup.yml`, `etcd-restore.yml`) and of the cluster playbook's scale
//! down: `etcd_backup_source` and `etcd_backup` (a verified snapshot from the best member,
//! kept on the control node with a JSON sidecar and a retention), `etcd_restore_check` and
//! `etcd_backup_collect` (the newest scheduled snapshot of a member, verified and brought home),
//! `etcd_restore` (disaster recovery from such a snapshot onto every member, the old data
//! dirs kept aside), and `etcd_member_remove` (a member leaves behind a quorum guard, its etcd
//! stopped and disabled, its data dir archived), `etcd_defrag` (one member at a time,
//! the leader last), and `etcd_upgrade` (the cluster playbook's version-skew guard before a
//! new binary is installed, and the wait for the cluster version after it). Names, peer URLs and the cluster token come
//! from the playbook's variables, the data dir and TLS files from the etcd unit on the host
//! (`guard::unit`), so that what is restored is exactly what the unit starts and the data-dir
//! guard checks.

pub(crate) mod backup;
pub(crate) mod collect;
pub(crate) mod defrag;
pub(crate) mod remove;
pub(crate) mod restore;
pub(crate) mod upgrade;

pub(crate) use backup::choose_source;

use std::path::PathBuf;

use etcdplay_engine::HostAction;
use etcdplay_transport::ExecRequest;
use serde_json::{Map, Value};

use crate::error::ActionError;
use crate::guard::unit::{unit_settings, EtcdUnit};
use crate::restart::check_unit_name;

/// Seconds since the epoch, for names of files kept aside.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A string argument, trimmed; `None` when missing or empty.
pub(crate) fn str_arg(args: &Map<String, Value>, name: &str) -> Option<String> {
    args.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A required string argument.
pub(crate) fn required(
    args: &Map<String, Value>,
    name: &str,
    origin: &str,
) -> Result<String, ActionError> {
    str_arg(args, name)
        .ok_or_else(|| ActionError::argument(origin, format!("'{name}' is required")))
}

/// A control-node path argument.
pub(crate) fn path_arg(args: &Map<String, Value>, name: &str) -> Option<PathBuf> {
    str_arg(args, name).map(PathBuf::from)
}

/// A boolean argument as Ansible reads one (`yes`, `true`, `1`, ...); `default` when absent.
pub(crate) fn bool_arg(args: &Map<String, Value>, name: &str, default: bool) -> bool {
    match args.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "true" | "yes" | "on" | "1" | "y" | "t"
        ),
        Some(Value::Number(n)) => n.as_u64().is_some_and(|n| n != 0),
        _ => default,
    }
}

/// The `service` argument (default `etcd`), checked to be a unit name.
pub(crate) fn service_arg(args: &Map<String, Value>, origin: &str) -> Result<String, ActionError> {
    let service = str_arg(args, "service").unwrap_or_else(|| "etcd".into());
    check_unit_name(&service).map_err(|source| ActionError::UnitName {
        origin: origin.to_string(),
        source,
    })?;
    Ok(service)
}

/// The etcd unit `service` on the action's host, read as the data-dir guard reads it.
pub(crate) async fn etcd_unit(
    ctx: &HostAction<'_>,
    service: &str,
) -> Result<Option<EtcdUnit>, ActionError> {
    unit_settings(ctx.transport, ctx.become_, service)
        .await
        .map_err(|source| ActionError::Unit {
            origin: ctx.origin.to_string(),
            host: ctx.host.to_string(),
            source: Box::new(source),
        })
}

/// Runs `script` with the task's become; stdout, or a failed result's message with stderr.
pub(crate) async fn sh(
    ctx: &HostAction<'_>,
    what: &str,
    script: String,
) -> Result<Result<String, String>, ActionError> {
    let out = ctx
        .transport
        .exec(ExecRequest {
            become_: ctx.become_.cloned(),
            ..ExecRequest::script(script)
        })
        .await?;
    if out.rc != 0 {
        return Ok(Err(format!(
            "{}: {what} failed (exit {}): {}",
            ctx.host,
            out.rc,
            out.stderr_str().trim()
        )));
    }
    Ok(Ok(out.stdout_str().to_string()))
}

/// A failed result with `msg`, as a module returns one.
pub(crate) fn failed(msg: impl Into<String>) -> Value {
    serde_json::json!({"changed": false, "failed": true, "msg": msg.into()})
}
