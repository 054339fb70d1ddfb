//! The safety backup `--leftover-membership migrate|reset` take of every member before they
//! stop, move or delete anything. A backup is only worth its name if it restores, so:
//!
//! - A running member is backed up with `etcdctl snapshot save` over its client URL, `http`
//!   or `https` (with the member's own certificate when it may act as a TLS client, else the
//!   control node's client certificate, uploaded to a private directory removed right
//!   after). If no snapshot can be taken the whole operation stops: a copy of a live data
//!   dir would be a torn bbolt file, so it is never the fallback.
//! - A member that does not run is copied with `tar`, after checking, in the same shell as
//!   the copy, that systemd has the unit stopped and no process holds a file in its dirs. A
//!   unit that is starting (or restarting after a failure) serves no client, so no snapshot
//!   can come from it; it is stopped first, which `reset` and a restore do anyway.
//! - Every backup is verified on the host (`snapshot status` reads the snapshot's revision
//!   and hash; a copy must list WAL files), copied to `<inventory dir>/backups/<host>/`
//!   (0600 in a 0700 directory, fsynced with its directory) and its sha256 compared with the
//!   host's file, before the caller goes on.

mod copy;
mod local;
mod snapshot;
mod verify;

use std::path::{Path, PathBuf};

use etcdplay_engine::RunContext;
use etcdplay_etcd::datadir::shell_quote;
use etcdplay_etcd::unit::EtcdSettings;
use etcdplay_transport::{Become, ExecOutput, ExecRequest, Transport, TransportError};

use crate::guard::HostCheck;
use copy::copy_script;
pub(crate) use local::{hex, sha256_file, store_locally};
pub(crate) use snapshot::verify_snapshot_script;
use snapshot::{control_pki, snapshot};
use verify::parse_copy_verification;
pub(crate) use verify::parse_snapshot_verification;

/// Where backups live on the hosts.
pub(crate) const HOST_BACKUP_DIR: &str = "/var/backups/etcdplay";

/// etcdctl on the host, with the v3 API (3.4 still defaults to v2 for some commands).
pub(crate) const ETCDCTL: &str =
    "ETCDCTL_API=3 \"$(command -v etcdctl || echo /usr/local/bin/etcdctl)\"";

/// Why a member could not be backed up; nothing has been stopped, moved or deleted by
/// `migrate`/`reset` when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BackupError {
    #[error("{what}: {source}")]
    Transport {
        what: String,
        #[source]
        source: TransportError,
    },
    #[error("{host}: {step} failed (exit {rc}): {stderr}")]
    HostCommand {
        host: String,
        step: &'static str,
        rc: i32,
        stderr: String,
    },
    #[error("{host}: etcd runs (unit {unit} is active) but no client URL of it is known, so no snapshot can be taken; a copy of a running member's data dir would not be consistent")]
    NoClientUrl { host: String, unit: String },
    #[error("{host}: etcd runs (unit {unit} is active) but `etcdctl snapshot save` failed on every client URL; a copy of a running member's data dir would not be consistent, so nothing was changed:\n{}", attempts.join("\n"))]
    SnapshotFailed {
        host: String,
        unit: String,
        /// One line per client URL tried: the URL and etcdctl's stderr.
        attempts: Vec<String>,
    },
    #[error("{host}: not copying {data_dir}: {detail}")]
    NotStopped {
        host: String,
        data_dir: String,
        detail: String,
    },
    #[error("{host}: the backup {path} does not verify: {problem}")]
    Unverified {
        host: String,
        path: String,
        #[source]
        problem: VerifyError,
    },
    #[error("{host}: the copy {} has sha256 {local}, but {path} on the host has {remote}", copy.display())]
    ChecksumMismatch {
        host: String,
        path: String,
        copy: PathBuf,
        local: String,
        remote: String,
    },
    #[error("{}: {what}: {source}", path.display())]
    Local {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is mode {mode:04o}, not 0600", path.display())]
    LocalMode { path: PathBuf, mode: u32 },
    #[error("{host}: the control node's client certificate: {source}")]
    ControlPki {
        host: String,
        #[source]
        source: etcdplay_pki::PkiError,
    },
    #[error("{host}: could not remove {dir}, which holds a copy of the control node's client key: {detail}")]
    Cleanup {
        host: String,
        dir: String,
        detail: String,
    },
}

/// What the host's verification of a backup printed that does not hold up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum VerifyError {
    #[error("snapshot status printed no status line")]
    NoStatus,
    #[error("snapshot status is not understood ({0})")]
    BadStatus(String),
    #[error("snapshot status reports no revision")]
    NoRevision,
    #[error("the archive lists no WAL file")]
    NoWal,
    #[error("no sha256 was printed")]
    NoSha256,
}

/// How a member is backed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// It runs: `etcdctl snapshot save` over a client URL, nothing else.
    Snapshot,
    /// systemd has it stopped: a `tar` of its dirs after confirming no process holds them.
    CopyStopped,
    /// systemd is starting, stopping or restarting it: no client is served, and a copy could
    /// be torn. Stop it, then copy as above.
    StopThenCopy,
}

/// The method for a unit in systemd state `state` (`systemctl is-active` prints it).
pub(crate) fn method_for(state: &str) -> Method {
    match state.trim() {
        // `reloading`/`refreshing`: the main process keeps running and serving.
        "active" | "reloading" | "refreshing" => Method::Snapshot,
        "inactive" | "failed" => Method::CopyStopped,
        _ => Method::StopThenCopy,
    }
}

/// What a verified backup is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Snapshot {
        revision: u64,
        hash: u64,
        total_keys: Option<u64>,
    },
    DataDirCopy {
        entries: u64,
    },
}

/// One member's backup, verified on the host and on the control node.
#[derive(Debug, Clone)]
pub(crate) struct Backup {
    pub(crate) kind: Kind,
    /// On the host.
    pub(crate) host_path: String,
    /// The control node's copy.
    pub(crate) local: PathBuf,
    pub(crate) sha256: String,
    /// How it came about when that is worth saying (a unit stopped first, the client
    /// certificate used).
    pub(crate) note: Option<String>,
}

impl Backup {
    pub(crate) fn is_snapshot(&self) -> bool {
        matches!(self.kind, Kind::Snapshot { .. })
    }

    /// The operator's line: `HOST: backup of DIR at PATH on the host, copied to LOCAL`, then
    /// an indented line saying what it is and how it was verified.
    pub(crate) fn describe(&self, host: &str, data_dir: &str) -> String {
        let what = match &self.kind {
            Kind::Snapshot {
                revision,
                hash,
                total_keys,
            } => {
                let keys = total_keys
                    .map(|k| format!(", {k} keys"))
                    .unwrap_or_default();
                format!("snapshot at revision {revision}{keys}, hash {hash:#x}")
            }
            Kind::DataDirCopy { entries } => {
                format!("copy of the stopped member's dirs ({entries} entries)")
            }
        };
        let note = self
            .note
            .as_deref()
            .map(|n| format!("; {n}"))
            .unwrap_or_default();
        format!(
            "{host}: backup of {data_dir} at {} on the host, copied to {}\n  {what}, sha256 {} on both sides{note}",
            self.host_path,
            self.local.display(),
            self.sha256
        )
    }
}

/// A member as a backup sees it: where it runs and what its unit says.
pub(crate) struct Member<'a> {
    pub(crate) host: &'a str,
    pub(crate) unit: &'a str,
    pub(crate) settings: &'a EtcdSettings,
    /// The client URLs the running member published (stored in its data dir), tried before
    /// the unit's planned listeners.
    pub(crate) published_client_urls: Vec<String>,
    pub(crate) transport: &'a dyn Transport,
    /// Root, unless the login already is.
    pub(crate) become_: Option<&'a Become>,
}

impl<'a> Member<'a> {
    /// The member the guard read on one host.
    pub(crate) fn of(c: &'a HostCheck) -> Member<'a> {
        Member {
            host: &c.host,
            unit: &c.unit,
            settings: &c.settings,
            published_client_urls: c
                .read
                .result
                .as_ref()
                .ok()
                .and_then(|r| r.local_member())
                .map(|m| m.client_urls.clone())
                .unwrap_or_default(),
            transport: c.transport.as_ref(),
            become_: c.become_.as_ref(),
        }
    }
}

/// Runs `script` as root (the guard's become) on the host of `c`.
async fn exec(c: &Member<'_>, what: &str, script: String) -> Result<ExecOutput, BackupError> {
    c.transport
        .exec(ExecRequest {
            script,
            become_: c.become_.cloned(),
            ..ExecRequest::default()
        })
        .await
        .map_err(|source| BackupError::Transport {
            what: what.to_string(),
            source,
        })
}

/// Takes a snapshot of the running member `c` to `path` on its host and verifies it there
/// (`snapshot status` and sha256): what it is, its sha256 and a note on the certificate used.
/// `pki` is the control node's PKI directory, for its client certificate.
pub(crate) async fn snapshot_verified(
    c: &Member<'_>,
    pki: Option<&Path>,
    path: &str,
) -> Result<(Kind, String, Option<String>), BackupError> {
    let note = snapshot(c, pki, path).await?;
    let out = exec(c, "verifying the snapshot", verify_snapshot_script(path)).await?;
    if out.rc != 0 {
        return Err(BackupError::HostCommand {
            host: c.host.to_string(),
            step: "etcdctl snapshot status",
            rc: out.rc,
            stderr: stderr_tail(&out),
        });
    }
    let (kind, sum) =
        parse_snapshot_verification(&String::from_utf8_lossy(&out.stdout)).map_err(|problem| {
            BackupError::Unverified {
                host: c.host.to_string(),
                path: path.to_string(),
                problem,
            }
        })?;
    Ok((kind, sum, note))
}

/// The last lines of a command's stderr, for a message (etcdctl logs JSON lines first).
fn stderr_tail(out: &ExecOutput) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

/// Backs up one member (see the module notes) and verifies the backup on the host and its
/// copy under `<inventory dir>/backups/<host>/`.
pub(crate) async fn backup(
    run: &dyn RunContext,
    check: &HostCheck,
    stamp: u64,
) -> Result<Backup, BackupError> {
    let c = &Member::of(check);
    let base = format!("{HOST_BACKUP_DIR}/{}-{stamp}", c.host);
    let state = exec(
        c,
        "systemctl is-active",
        format!("systemctl is-active -- {} || true", shell_quote(c.unit)),
    )
    .await?;
    let state = String::from_utf8_lossy(&state.stdout).trim().to_string();
    let method = method_for(&state);
    let (host_path, kind, sha256, note) = match method {
        Method::Snapshot => {
            let path = format!("{base}.snapshot.db");
            let pki = control_pki(run);
            let (kind, sum, note) = snapshot_verified(c, pki.as_deref(), &path).await?;
            (path, kind, sum, note)
        }
        Method::CopyStopped | Method::StopThenCopy => {
            let path = format!("{base}.data-dir.tar.gz");
            let stop = method == Method::StopThenCopy;
            let script = copy_script(
                c.unit,
                stop,
                &c.settings.data_dir,
                c.settings.wal_dir.as_deref(),
                &path,
            );
            let out = exec(c, "copying the data dir", script).await?;
            if out.rc == 3 {
                return Err(BackupError::NotStopped {
                    host: c.host.to_string(),
                    data_dir: c.settings.data_dir.clone(),
                    detail: stderr_tail(&out),
                });
            }
            if out.rc != 0 {
                return Err(BackupError::HostCommand {
                    host: c.host.to_string(),
                    step: "tar of the stopped member's data dir",
                    rc: out.rc,
                    stderr: stderr_tail(&out),
                });
            }
            let (kind, sum) = parse_copy_verification(&String::from_utf8_lossy(&out.stdout))
                .map_err(|problem| BackupError::Unverified {
                    host: c.host.to_string(),
                    path: path.clone(),
                    problem,
                })?;
            let note =
                stop.then(|| format!("unit {} was {state}: stopped before the copy", c.unit));
            (path, kind, sum, note)
        }
    };
    let bytes = c
        .transport
        .get(&host_path, c.become_)
        .await
        .map_err(|source| BackupError::Transport {
            what: format!("copying {host_path} back"),
            source,
        })?;
    let dir = run
        .options()
        .inventory_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("backups")
        .join(c.host);
    let name = host_path.rsplit('/').next().unwrap_or("backup");
    let local = store_locally(c.host, &host_path, &dir, name, &bytes, &sha256)?;
    Ok(Backup {
        kind,
        host_path,
        local,
        sha256,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_member_systemd_runs_is_snapshotted() {
        assert_eq!(method_for("active\n"), Method::Snapshot);
        assert_eq!(method_for("reloading"), Method::Snapshot);
        assert_eq!(method_for("inactive"), Method::CopyStopped);
        assert_eq!(method_for("failed"), Method::CopyStopped);
        // Starting (etcd serves clients only once ready), restarting after a failure, or an
        // answer systemd did not give: stop it before any copy.
        assert_eq!(method_for("activating"), Method::StopThenCopy);
        assert_eq!(method_for("deactivating"), Method::StopThenCopy);
        assert_eq!(method_for(""), Method::StopThenCopy);
    }
}
