//! `etcd_member_restart`: restarts one member after checking that the rest of the cluster is
//! healthy (never two members down at once), then waits for the cluster to be healthy again.
//! Used as a handler with `throttle: 1`, it gives a rolling restart that keeps quorum: the
//! guard refuses to take a member down while another one is already unhealthy. A member that
//! leads hands its leadership to a follower first, so that writes go on during its restart.

use std::time::Duration;

use etcdplay_etcd::EndpointStatus;
use etcdplay_transport::ExecRequest;
use serde_json::{json, Map, Value};

use crate::args::{client_from_args, wait_from_args};
use crate::error::{ActionError, BadUnitName};
use crate::leadership::hand_over_leadership;
use etcdplay_engine::HostAction;

/// How long to wait for the cluster to be healthy after the restart, by default.
const DEFAULT_WAIT: Duration = Duration::from_secs(120);
/// How long the guard waits for other members to recover before refusing (a member that
/// was restarted a moment ago may still be catching up).
const GUARD_GRACE: Duration = Duration::from_secs(10);

/// Runs the action on `ctx.host`.
pub(crate) async fn run(
    ctx: &HostAction<'_>,
    args: &Map<String, Value>,
) -> Result<Value, ActionError> {
    let origin = ctx.origin;
    let service = args
        .get("service")
        .and_then(Value::as_str)
        .unwrap_or("etcd");
    check_unit_name(service).map_err(|source| ActionError::UnitName {
        origin: origin.to_string(),
        source,
    })?;
    let client = client_from_args(args, origin)?;
    let wait = wait_from_args(args, DEFAULT_WAIT, origin)?;
    let own_endpoint = args
        .get("endpoint")
        .and_then(Value::as_str)
        .map(|s| s.trim_end_matches('/').to_string());
    if ctx.check {
        return Ok(
            json!({"changed": true, "msg": format!("{service} would be restarted on {}", ctx.host)}),
        );
    }
    // Quorum guard: every other member must be healthy before this one goes down.
    let started = std::time::Instant::now();
    let statuses = loop {
        let statuses = client.endpoint_status().await;
        match guard_verdict(&statuses, ctx.host, own_endpoint.as_deref()) {
            Ok(()) => break statuses,
            Err(reason) if started.elapsed() >= GUARD_GRACE => {
                return Ok(json!({
                    "changed": false,
                    "failed": true,
                    "msg": format!("refusing to restart {service} on {}: {reason}; restarting now could lose quorum", ctx.host),
                }));
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    let handed_to = match own_status(&statuses, ctx.host, own_endpoint.as_deref()) {
        Some(own) => {
            let others: Vec<EndpointStatus> = statuses
                .iter()
                .filter(|s| s.endpoint != own.endpoint)
                .cloned()
                .collect();
            hand_over_leadership(args, origin, &own.endpoint, &others).await?
        }
        None => None,
    };
    let before = main_pid(ctx, service).await?;
    let script = format!("systemctl daemon-reload && systemctl restart {service}");
    let out = ctx
        .transport
        .exec(ExecRequest {
            become_: ctx.become_.cloned(),
            ..ExecRequest::script(script)
        })
        .await?;
    if out.rc != 0 {
        return Ok(json!({
            "changed": true,
            "failed": true,
            "rc": out.rc,
            "msg": format!("systemctl restart {service} failed on {}: {}", ctx.host, out.stderr_str().trim()),
        }));
    }
    let after = main_pid(ctx, service).await?;
    match client.wait_healthy(wait).await {
        Ok(_) => Ok(json!({
            "changed": true,
            "service": service,
            "pid_before": before,
            "pid_after": after,
            "leadership_handed_to": handed_to,
            "msg": match &handed_to {
                Some(to) => format!("{service} restarted on {} (leadership handed to {to} first); cluster healthy", ctx.host),
                None => format!("{service} restarted on {}; cluster healthy", ctx.host),
            },
        })),
        Err(e) => Ok(
            json!({"changed": true, "failed": true, "msg": format!("after restarting {service} on {}: {e}", ctx.host)}),
        ),
    }
}

/// Why taking a member down now could lose quorum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum QuorumRisk {
    /// Other members are unhealthy: one description each.
    #[error("{}", .0.join("; "))]
    Unhealthy(Vec<String>),
    #[error("no member has a leader")]
    NoLeader,
}

/// The status of the member on `host`: the one at `own_endpoint`, else the one named `host`.
fn own_status<'a>(
    statuses: &'a [EndpointStatus],
    host: &str,
    own_endpoint: Option<&str>,
) -> Option<&'a EndpointStatus> {
    statuses.iter().find(|s| is_own(s, host, own_endpoint))
}

/// Whether `status` is the member on `host` (matched by `own_endpoint`, else by member name).
fn is_own(status: &EndpointStatus, host: &str, own_endpoint: Option<&str>) -> bool {
    match own_endpoint {
        Some(url) => status.endpoint.trim_end_matches('/') == url.trim_end_matches('/'),
        None => status.name.as_deref() == Some(host),
    }
}

/// `Ok` when every member other than `host` (matched by `own_endpoint`, else by member name)
/// is healthy and some member leads; otherwise why not.
pub(crate) fn guard_verdict(
    statuses: &[EndpointStatus],
    host: &str,
    own_endpoint: Option<&str>,
) -> Result<(), QuorumRisk> {
    let sick: Vec<String> = statuses
        .iter()
        .filter(|s| !is_own(s, host, own_endpoint) && !s.healthy)
        .map(|s| {
            format!(
                "member {} is unhealthy ({})",
                s.label(),
                s.error.as_deref().unwrap_or("no answer")
            )
        })
        .collect();
    if !sick.is_empty() {
        return Err(QuorumRisk::Unhealthy(sick));
    }
    if !statuses
        .iter()
        .any(|s| s.is_leader || (s.healthy && s.leader_id.is_some_and(|l| l != 0)))
    {
        return Err(QuorumRisk::NoLeader);
    }
    Ok(())
}

/// The service's main PID (0 when stopped), for the result.
async fn main_pid(ctx: &HostAction<'_>, service: &str) -> Result<u64, ActionError> {
    let out = ctx
        .transport
        .exec(ExecRequest {
            become_: ctx.become_.cloned(),
            ..ExecRequest::script(format!("systemctl show -p MainPID --value {service}"))
        })
        .await?;
    Ok(out.stdout_str().trim().parse().unwrap_or(0))
}

/// A systemd unit name safe to put in a shell command line.
pub(crate) fn check_unit_name(name: &str) -> Result<(), BadUnitName> {
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@._-:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(BadUnitName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(endpoint: &str, name: &str, healthy: bool, leader: bool) -> EndpointStatus {
        EndpointStatus {
            endpoint: endpoint.into(),
            member_id: Some(1),
            name: Some(name.into()),
            version: None,
            db_size: None,
            is_leader: leader,
            is_learner: false,
            leader_id: if healthy { Some(7) } else { None },
            raft_term: None,
            raft_index: None,
            raft_applied_index: None,
            db_size_in_use: None,
            cluster_id: None,
            revision: None,
            healthy,
            latency: None,
            alarms: Vec::new(),
            quota_bytes: None,
            error: if healthy {
                None
            } else {
                Some("connection refused".into())
            },
        }
    }

    #[test]
    fn guard_allows_restart_when_others_are_healthy() {
        let s = [
            status("https://a:2379", "a", true, true),
            status("https://b:2379", "b", true, false),
            status("https://c:2379", "c", true, false),
        ];
        assert!(guard_verdict(&s, "a", Some("https://a:2379")).is_ok());
        assert!(guard_verdict(&s, "b", None).is_ok());
    }

    #[test]
    fn guard_allows_restarting_the_sick_member_itself() {
        let s = [
            status("https://a:2379", "a", false, false),
            status("https://b:2379", "b", true, true),
            status("https://c:2379", "c", true, false),
        ];
        assert!(guard_verdict(&s, "a", Some("https://a:2379/")).is_ok());
    }

    #[test]
    fn guard_refuses_when_another_member_is_down() {
        let s = [
            status("https://a:2379", "a", true, true),
            status("https://b:2379", "b", false, false),
            status("https://c:2379", "c", true, false),
        ];
        let e = guard_verdict(&s, "a", Some("https://a:2379"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("b (https://b:2379)") && e.contains("connection refused"),
            "{e}"
        );
        // Matching by name works the same.
        assert!(guard_verdict(&s, "c", None).is_err());
    }

    #[test]
    fn guard_refuses_without_a_leader() {
        let mut s = [
            status("https://a:2379", "a", true, false),
            status("https://b:2379", "b", true, false),
        ];
        for x in &mut s {
            x.leader_id = Some(0);
        }
        assert_eq!(guard_verdict(&s, "a", None), Err(QuorumRisk::NoLeader));
        assert!(QuorumRisk::NoLeader.to_string().contains("leader"));
    }

    #[test]
    fn unit_names_are_checked() {
        assert!(check_unit_name("etcd").is_ok());
        assert!(check_unit_name("etcd@main.service").is_ok());
        for bad in ["", "etcd; reboot", "-x", "a b", "$(id)"] {
            assert!(check_unit_name(bad).is_err(), "{bad}");
        }
    }
}
