//! `--leftover-membership migrate|reset`: what the guard does instead of refusing when data
//! dirs' stored membership contradicts the plan. Both start with a verified backup of every
//! member (`backup/`: a snapshot of a running member over its client URL, TLS included,
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

mod error;
mod rolling;

use etcdplay_engine::{LeftoverMembership, RunContext};
use etcdplay_etcd::datadir::shell_quote;
use etcdplay_etcd::DataDirState;
use etcdplay_transport::{ExecRequest, PutRequest};

use crate::backup::{backup, Backup, BackupError, ETCDCTL, HOST_BACKUP_DIR};
use crate::guard::HostCheck;
pub(crate) use error::MigrateError;
use error::StepError;
use rolling::{rolling, rolling_possible};

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
        LeftoverMembership::Block => Err(MigrateError::BlockMode),
        LeftoverMembership::Reset => reset(run, &targets, stamp).await,
        LeftoverMembership::Migrate => migrate(run, &targets, stamp).await,
    }
}

/// Runs `script` as root on the host of `c`; stdout, or the failure with stderr.
async fn sh(c: &HostCheck, script: &str) -> Result<String, StepError> {
    let out = c
        .transport
        .exec(ExecRequest {
            script: script.to_string(),
            become_: c.become_.clone(),
            ..ExecRequest::default()
        })
        .await
        .map_err(|source| StepError::Transport {
            host: c.host.clone(),
            source,
        })?;
    if out.rc != 0 {
        return Err(StepError::Failed {
            host: c.host.clone(),
            command: first_line(script).to_string(),
            rc: out.rc,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Backs up every member, each verified before the next (see `backup/`); returns the
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

async fn stop_all(targets: &[&HostCheck]) -> Result<(), StepError> {
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
        let host = c.host.clone();
        let name = c
            .settings
            .name
            .clone()
            .ok_or_else(|| MigrateError::NoName { host: host.clone() })?;
        if c.plan.advertise_peer_urls.is_empty() {
            return Err(MigrateError::NoAdvertisePeerUrls { host });
        }
        if c.settings.wal_dir.is_some() {
            return Err(MigrateError::SeparateWalDir { host });
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
                        return Err(MigrateError::MemberOutsideThePlay {
                            id: m.id,
                            name: m.name.clone(),
                        });
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
        .map_err(|source| MigrateError::ReadSnapshot {
            host: src_host.host.clone(),
            path: src_path.clone(),
            source,
        })?
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
            .map_err(|source| MigrateError::UploadSnapshot {
                host: c.host.clone(),
                source,
            })?;
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

fn c_dir(c: &HostCheck) -> String {
    c.settings.data_dir.trim_end_matches('/').to_string()
}
