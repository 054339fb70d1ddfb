//! Procedure A of `--leftover-membership migrate`: every member runs and answers on a local
//! endpoint, so each is moved to its planned peer URLs in turn (`member update` through
//! another member, then a restart on the planned unit), keeping member ids and quorum.

use etcdplay_etcd::datadir::shell_quote;

use super::{sh, MigrateError};
use crate::backup::ETCDCTL;
use crate::guard::HostCheck;

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
pub(super) async fn rolling_possible(targets: &[&HostCheck]) -> bool {
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
async fn wait_healthy(targets: &[&HostCheck]) -> Result<(), MigrateError> {
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
            Err(last) if std::time::Instant::now() > deadline => {
                return Err(MigrateError::NotHealthy { last })
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
pub(super) async fn rolling(targets: &[&HostCheck]) -> Result<(), MigrateError> {
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
