//! `--leftover-membership migrate|reset`: what the guard does instead of refusing when data
//! dirs' stored membership contradicts the plan. Both start with a verified backup of every
//! member (`backup.rs`: a snapshot of a running member over its client URL, TLS included,
//! or a copy of a stopped member's dirs), kept on the host and copied beside the inventory,
//! and never stop, move or delete anything before every backup exists and verifies.
//!
//! - `reset` stops the unit and empties the data dir; the task's start then bootstraps fresh.
//! - `migrate` keeps every key. When every member runs and answers on a local endpoint it
//!   rolls in place (procedure A of the data-dir notes): member ids stay, one member at a
//!   time is updated and restarted, quorum holds throughout. Otherwise it uses snapshot and
//!   restore (procedure B): one consistent snapshot (from a running member, else a member's
//!   backend file), restored on every member with the *planned* names and peer URLs, the old
//!   dir kept beside the new one; members get new ids, and the cluster is stopped meanwhile.

use etcdplay_etcd::datadir::shell_quote;
use etcdplay_etcd::DataDirState;
use etcdplay_transport::{ExecRequest, PutRequest};

use super::backup::{backup, Backup, BackupError, ETCDCTL, HOST_BACKUP_DIR};
use super::guard::HostCheck;
use crate::extension::RunContext;
use crate::LeftoverMembership;

/// Why `migrate`/`reset` stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MigrateError {
    /// A member's backup could not be made or verified: nothing was changed after it.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// A later step (stopping, emptying, restoring, rolling) failed.
    #[error("{0}")]
    Step(String),
}

impl From<String> for MigrateError {
    fn from(message: String) -> Self {
        MigrateError::Step(message)
    }
}

/// Resolves the contradiction so that the task can start etcd: `Ok` to go on with the task.
pub(crate) async fn resolve(
    run: &dyn RunContext,
    mode: LeftoverMembership,
    checks: &[HostCheck],
) -> Result<(), MigrateError> {
    let mut targets: Vec<&HostCheck> = checks
        .iter()
        .filter(|c| {
            matches!(
                c.read.result.as_ref().map(|r| &r.state),
                Ok(DataDirState::Initialized { .. })
            )
        })
        .collect();
    targets.sort_by(|a, b| a.host.cmp(&b.host));
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match mode {
        LeftoverMembership::Block => Err(MigrateError::Step("block mode does not repair".into())),
        LeftoverMembership::Reset => reset(run, &targets, stamp).await,
        LeftoverMembership::Migrate => migrate(run, &targets, stamp).await,
    }
}

/// Runs `script` as root on the host of `c`; stdout, or the failure with stderr.
async fn sh(c: &HostCheck, script: &str) -> Result<String, String> {
    let out = c
        .transport
        .exec(ExecRequest {
            script: script.to_string(),
            become_: c.become_.clone(),
            ..ExecRequest::default()
        })
        .await
        .map_err(|e| format!("{}: {e}", c.host))?;
    if out.rc != 0 {
        return Err(format!(
            "{}: `{}` failed (exit {}): {}",
            c.host,
            first_line(script),
            out.rc,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Backs up every member, each verified before the next (see `backup.rs`); returns the
/// backups and the operator's lines. The first failure stops everything.
async fn backup_all(
    run: &dyn RunContext,
    targets: &[&HostCheck],
    stamp: u64,
) -> Result<(Vec<Backup>, Vec<String>), BackupError> {
    let (mut backups, mut lines) = (Vec::new(), Vec::new());
    for c in targets {
        let b = backup(run, c, stamp).await?;
        lines.push(b.describe(&c.host, &c.settings.data_dir));
        backups.push(b);
    }
    Ok((backups, lines))
}

async fn stop_all(targets: &[&HostCheck]) -> Result<(), String> {
    for c in targets {
        sh(c, &format!("systemctl stop -- {}", shell_quote(&c.unit))).await?;
    }
    Ok(())
}

async fn reset(
    run: &dyn RunContext,
    targets: &[&HostCheck],
    stamp: u64,
) -> Result<(), MigrateError> {
    let (_, lines) = backup_all(run, targets, stamp).await?;
    stop_all(targets).await?;
    for c in targets {
        let mut dirs = vec![c.settings.data_dir.clone()];
        dirs.extend(c.settings.wal_dir.clone());
        for d in dirs {
            // Empty the directory but keep it, with its owner and mode.
            sh(
                c,
                &format!(
                    "[ ! -d {q} ] || find {q} -mindepth 1 -delete",
                    q = shell_quote(&d)
                ),
            )
            .await?;
        }
    }
    run.warning(&format!(
        "--leftover-membership reset: emptied the data dirs; etcd bootstraps a new cluster from the planned flags.\n{}",
        lines.join("\n")
    ));
    Ok(())
}

async fn migrate(
    run: &dyn RunContext,
    targets: &[&HostCheck],
    stamp: u64,
) -> Result<(), MigrateError> {
    // Every stored member must be one of this play's members, or restoring would drop it.
    let mut planned = Vec::new();
    for c in targets {
        let name =
            c.settings.name.clone().ok_or_else(|| {
                format!("{}: the unit sets no --name, which a restore needs", c.host)
            })?;
        if c.plan.advertise_peer_urls.is_empty() {
            return Err(format!(
                "{}: the unit sets no --initial-advertise-peer-urls, which a restore needs",
                c.host
            )
            .into());
        }
        if c.settings.wal_dir.is_some() {
            return Err(format!(
                "{}: a separate --wal-dir is not supported by migrate yet",
                c.host
            )
            .into());
        }
        for url in &c.plan.advertise_peer_urls {
            planned.push(format!("{name}={url}"));
        }
    }
    for c in targets {
        if let Ok(report) = &c.read.result {
            if let DataDirState::Initialized { members, .. } = &report.state {
                for m in members {
                    if !targets
                        .iter()
                        .any(|t| t.settings.name.as_deref() == Some(m.name.as_str()))
                    {
                        return Err(format!("stored member {:x} ({}) is not started by this task on any host; migrate needs every member in the play", m.id, m.name).into());
                    }
                }
            }
        }
    }
    let initial_cluster = planned.join(",");
    if rolling_possible(targets).await {
        let (_, lines) = backup_all(run, targets, stamp).await?;
        rolling(targets).await?;
        run.warning(&format!(
            "--leftover-membership migrate: moved every member to its planned peer URLs one at a time (member update + restart), keeping member ids and quorum.\n{}",
            lines.join("\n")
        ));
        return Ok(());
    }
    let (backups, lines) = backup_all(run, targets, stamp).await?;
    // One consistent source: a snapshot backup of a running member, else the backend file of
    // the first member (all members applied the same committed log when stopped cleanly).
    let Some(first) = targets.first() else {
        return Ok(());
    };
    let source = backups.iter().zip(targets).find(|(b, _)| b.is_snapshot());
    let (src_host, src_path, skip_hash) = match source {
        Some((b, c)) => (*c, b.host_path.clone(), false),
        None => (*first, format!("{}/member/snap/db", c_dir(first)), true),
    };
    stop_all(targets).await?;
    let db: std::sync::Arc<Vec<u8>> = src_host
        .transport
        .get(&src_path, src_host.become_.as_ref())
        .await
        .map_err(|e| format!("{}: reading {src_path}: {e}", src_host.host))?
        .into();
    let token = format!("etcdplay-migrated-{stamp}");
    for c in targets {
        let name = c.settings.name.clone().unwrap_or_default();
        let dd = c.settings.data_dir.trim_end_matches('/').to_string();
        let db_path = format!("{HOST_BACKUP_DIR}/{}-{stamp}.restore-source.db", c.host);
        c.transport
            .put(PutRequest {
                dest: db_path.clone(),
                content: db.clone(),
                mode: Some(0o600),
                owner: None,
                group: None,
                become_: c.become_.clone(),
            })
            .await
            .map_err(|e| format!("{}: uploading the snapshot: {e}", c.host))?;
        let restored = format!("{dd}.restore-{stamp}");
        let old = format!("{dd}.pre-migrate-{stamp}");
        let script = format!(
            "set -e\n{ETCDCTL} snapshot restore {db} {skip} --name {name} --initial-cluster {ic} --initial-cluster-token {token} --initial-advertise-peer-urls {adv} --data-dir {new} >/dev/null\nchown -R --reference={dd} {new}\nchmod --reference={dd} {new}\nmv {dd} {old}\nmv {new} {dd}\nrm -f {db}",
            db = shell_quote(&db_path),
            skip = if skip_hash { "--skip-hash-check" } else { "" },
            name = shell_quote(&name),
            ic = shell_quote(&initial_cluster),
            token = shell_quote(&token),
            adv = shell_quote(&c.plan.advertise_peer_urls.join(",")),
            new = shell_quote(&restored),
            dd = shell_quote(&dd),
            old = shell_quote(&old),
        );
        sh(c, &script).await?;
    }
    run.warning(&format!(
        "--leftover-membership migrate: restored every member from one snapshot with the planned peer URLs ({initial_cluster}); members have new ids. The old data dirs are kept as <data dir>.pre-migrate-{stamp}.\n{}",
        lines.join("\n")
    ));
    Ok(())
}

/// The value of `--flag` (or `--flag=value`) in the unit's etcd command line.
fn unit_flag(c: &HostCheck, flag: &str) -> Option<String> {
    let argv = &c.service.exec_start;
    let long = format!("--{flag}");
    let eq = format!("{long}=");
    argv.iter().enumerate().find_map(|(i, w)| {
        if let Some(v) = w.strip_prefix(&eq) {
            Some(v.to_string())
        } else if *w == long {
            argv.get(i + 1).cloned()
        } else {
            None
        }
    })
}

/// A shell prefix that runs etcdctl against the member on this host through loopback, over
/// `http://` or, when the planned unit serves clients over TLS, `https://` with the member's
/// own certificate (it carries clientAuth). During a scheme migration a member serves its
/// stored scheme until its restart on the planned unit, so callers try every form in turn.
fn local_etcdctls(c: &HostCheck) -> Vec<String> {
    let mut out = Vec::new();
    for u in &c.settings.listen_client_urls {
        let Some((scheme, rest)) = u.split_once("://") else {
            continue;
        };
        let Some((host, port)) = rest.trim_end_matches('/').rsplit_once(':') else {
            continue;
        };
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            continue;
        }
        // The planned scheme first: after the first round of restarts every member serves it.
        if scheme == "https" {
            if let (Some(ca), Some(cert), Some(key)) = (
                unit_flag(c, "trusted-ca-file"),
                unit_flag(c, "cert-file"),
                unit_flag(c, "key-file"),
            ) {
                out.push(format!(
                    "{ETCDCTL} --dial-timeout=3s --endpoints {} --cacert {} --cert {} --key {}",
                    shell_quote(&format!("https://{host}:{port}")),
                    shell_quote(&ca),
                    shell_quote(&cert),
                    shell_quote(&key)
                ));
            }
        }
        let http = format!(
            "{ETCDCTL} --dial-timeout=3s --endpoints {}",
            shell_quote(&format!("http://{host}:{port}"))
        );
        if !out.contains(&http) {
            out.push(http);
        }
    }
    out
}

/// `etcdctl ARGS` against the local member: the first loopback form that succeeds.
fn local_etcdctl(c: &HostCheck, args: &str) -> Option<String> {
    let forms = local_etcdctls(c);
    if forms.is_empty() {
        return None;
    }
    Some(
        forms
            .iter()
            .map(|f| format!("{f} {args}"))
            .collect::<Vec<_>>()
            .join(" 2>/dev/null || "),
    )
}

/// Whether every member runs and answers on a local endpoint: then the rolling, no-downtime
/// procedure applies; otherwise snapshot and restore.
async fn rolling_possible(targets: &[&HostCheck]) -> bool {
    if targets.len() < 2 {
        return false; // a single member cannot be updated through another one
    }
    for c in targets {
        if c.settings.config_file.is_some()
            || c.read
                .result
                .as_ref()
                .ok()
                .and_then(|r| r.local_member())
                .is_none()
        {
            return false;
        }
        let Some(health) = local_etcdctl(c, "endpoint health") else {
            return false;
        };
        let script = format!(
            "systemctl is-active --quiet -- {} && {{ {health}; }} >/dev/null 2>&1",
            shell_quote(&c.unit)
        );
        if sh(c, &script).await.is_err() {
            return false;
        }
    }
    true
}

/// Waits until every member answers healthy on its local endpoint.
async fn wait_healthy(targets: &[&HostCheck]) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let mut last = Ok(());
        for c in targets {
            let health = local_etcdctl(c, "endpoint health").unwrap_or_else(|| "false".into());
            if let Err(e) = sh(c, &health).await {
                last = Err(e);
                break;
            }
        }
        match last {
            Ok(()) => return Ok(()),
            Err(e) if std::time::Instant::now() > deadline => {
                return Err(format!("the cluster did not become healthy: {e}"))
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
        }
    }
}

fn dropin_path(c: &HostCheck) -> String {
    let unit = if c.unit.contains('.') {
        c.unit.clone()
    } else {
        format!("{}.service", c.unit)
    };
    format!("/run/systemd/system/{unit}.d/50-etcdplay-migrate.conf")
}

/// Procedure A: if the scheme changes, first restart each member with the planned flags but
/// its stored peer listener (it learns to dial TLS peers while still accepting http); then,
/// one member at a time, `member update` its peer URLs through another member and restart
/// it on the planned unit. Only the member between update and restart is cut off.
async fn rolling(targets: &[&HostCheck]) -> Result<(), String> {
    let tls_plan = targets
        .iter()
        .any(|c| c.plan.scheme == etcdplay_etcd::PeerScheme::Https);
    let stored_plain = targets.iter().any(|c| {
        c.read
            .result
            .as_ref()
            .ok()
            .and_then(|r| r.local_member())
            .is_some_and(|m| m.peer_urls.iter().any(|u| !u.starts_with("https://")))
    });
    if tls_plan && stored_plain {
        for c in targets {
            let stored = c
                .read
                .result
                .as_ref()
                .ok()
                .and_then(|r| r.local_member())
                .map(|m| m.peer_urls.join(","))
                .unwrap_or_default();
            let body = format!(
                "[Service]\n{}",
                c.service
                    .exec_start_with(&[format!("--listen-peer-urls={stored}")])
            );
            let path = dropin_path(c);
            let dir = path
                .rsplit_once('/')
                .map(|(d, _)| d.to_string())
                .unwrap_or_default();
            sh(c, &format!("mkdir -p {} && printf '%s' {} > {} && systemctl daemon-reload && systemctl restart -- {}", shell_quote(&dir), shell_quote(&body), shell_quote(&path), shell_quote(&c.unit))).await?;
            wait_healthy(targets).await?;
        }
    }
    for (i, c) in targets.iter().enumerate() {
        let Some(local) = c.read.result.as_ref().ok().and_then(|r| r.local_member()) else {
            continue;
        };
        let other = targets[(i + 1) % targets.len()];
        let urls = c.plan.advertise_peer_urls.join(",");
        let update = local_etcdctl(
            other,
            &format!(
                "member update {:x} --peer-urls={} >/dev/null",
                local.id,
                shell_quote(&urls)
            ),
        )
        .unwrap_or_else(|| "false".into());
        sh(other, &update).await?;
        sh(
            c,
            &format!(
                "rm -f {} && systemctl daemon-reload && systemctl restart -- {}",
                shell_quote(&dropin_path(c)),
                shell_quote(&c.unit)
            ),
        )
        .await?;
        wait_healthy(targets).await?;
    }
    Ok(())
}

fn c_dir(c: &HostCheck) -> String {
    c.settings.data_dir.trim_end_matches('/').to_string()
}
