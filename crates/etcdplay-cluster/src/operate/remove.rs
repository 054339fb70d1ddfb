//! `etcd_member_remove`: scale down. A host whose `etcd_member_state` is `absent` leaves the
//! cluster: every remaining member must be healthy under a leader (the quorum guard, with the
//! grace a restart's guard gives), at least one voting member must remain (fewer than three is
//! allowed with a warning: such a cluster cannot lose a member without losing quorum), a
//! leaving leader first hands its leadership to the most caught-up remaining member, then the
//! member is removed with `member remove` sent to a remaining member, etcd is stopped and
//! disabled on the host, and its data dir (and WAL dir) is moved aside as
//! `<dir>.removed-<time>`, never deleted. Run again on a host that is no member any more, it
//! only makes sure etcd is stopped and disabled.

use std::time::{Duration, Instant};

use etcdplay_engine::HostAction;
use etcdplay_etcd::datadir::shell_quote;
use etcdplay_etcd::{ClusterMember, EndpointStatus};
use serde_json::{json, Map, Value};

use super::{failed, now_secs, required, service_arg, sh, str_arg};
use crate::args::{client_from_args, endpoints_arg, wait_from_args};
use crate::error::ActionError;
use crate::leadership::hand_over_leadership;
use crate::restart::guard_verdict;

/// How long the remaining members have to become healthy before the guard refuses.
const GUARD_GRACE: Duration = Duration::from_secs(15);
/// How long to wait for a healthy cluster after the removal, by default.
const DEFAULT_WAIT: Duration = Duration::from_secs(120);
/// Below this many voting members a cluster cannot lose one and keep quorum.
const SAFE_SIZE: usize = 3;

/// What removing `me` leaves: the number of voting members, or why it must not happen.
pub(crate) fn remaining_voters(members: &[ClusterMember], me: u64) -> Result<usize, String> {
    let left = members
        .iter()
        .filter(|m| m.id != me && !m.is_learner)
        .count();
    if left == 0 {
        return Err("it is the last voting member; a cluster needs at least one".into());
    }
    Ok(left)
}

/// The member whose peer URLs include one of `peer_urls`.
fn find_member<'a>(
    members: &'a [ClusterMember],
    peer_urls: &[String],
) -> Option<&'a ClusterMember> {
    let norm = |u: &str| u.trim_end_matches('/').to_string();
    members.iter().find(|m| {
        m.peer_urls
            .iter()
            .any(|u| peer_urls.iter().any(|p| norm(p) == norm(u)))
    })
}

/// The script that stops and disables the unit and moves the dirs aside; prints `kept PATH`
/// per directory moved and `stopped` when the unit was running.
fn retire_script(service: &str, dirs: &[String], stamp: u64) -> String {
    let svc = shell_quote(service);
    let mut s = format!(
        "set -e\nif systemctl is-active --quiet -- {svc}; then echo stopped; fi\nif systemctl is-enabled --quiet -- {svc} 2>/dev/null; then echo disabled; fi\nsystemctl disable --now --quiet -- {svc} 2>/dev/null || systemctl stop -- {svc}\n"
    );
    for d in dirs {
        let d = d.trim_end_matches('/');
        let aside = format!("{d}.removed-{stamp}");
        s.push_str(&format!(
            "if [ -d {o} ] && [ -n \"$(ls -A -- {o})\" ]; then mv -- {o} {a}; echo kept {a}; fi\n",
            o = shell_quote(d),
            a = shell_quote(&aside),
        ));
    }
    s
}

/// Runs the action on `ctx.host`.
pub(crate) async fn run(
    ctx: &HostAction<'_>,
    args: &Map<String, Value>,
) -> Result<Value, ActionError> {
    let origin = ctx.origin;
    let service = service_arg(args, origin)?;
    let own = required(args, "endpoint", origin)?;
    let peer_urls = endpoints_arg(args, "peer_urls", origin)?;
    let mut dirs = vec![required(args, "data_dir", origin)?];
    dirs.extend(str_arg(args, "wal_dir"));
    let remaining = match endpoints_arg(args, "endpoints", origin) {
        Ok(e) => e,
        Err(_) => {
            return Ok(failed(format!(
                "refusing to remove {}: no member would remain (every host of the group is etcd_member_state: absent); a cluster needs at least one",
                ctx.host
            )))
        }
    };
    let wait = wait_from_args(args, DEFAULT_WAIT, origin)?;
    let client = client_from_args(args, origin)?;
    let mut member = None;
    let mut warnings = Vec::new();
    let statuses = guarded(&client, ctx.host).await;
    let statuses = match statuses {
        Ok(s) => s,
        Err(reason) => {
            return Ok(failed(format!(
                "refusing to remove {} from the cluster: {reason}; the remaining members must all be healthy first",
                ctx.host
            )))
        }
    };
    let members = client
        .member_list()
        .await
        .map_err(ActionError::cluster(origin))?;
    if let Some(me) = find_member(&members, &peer_urls) {
        let left = match remaining_voters(&members, me.id) {
            Ok(n) => n,
            Err(why) => return Ok(failed(format!("refusing to remove {}: {why}", ctx.host))),
        };
        if left < SAFE_SIZE {
            warnings.push(format!(
                "{} leaves {left} voting member(s): fewer than {SAFE_SIZE} cannot lose a member without losing quorum",
                ctx.host
            ));
        }
        member = Some(me.clone());
    }
    if ctx.check {
        return Ok(json!({
            "changed": member.is_some(),
            "warnings": warnings,
            "msg": format!("{} would leave the cluster", ctx.host),
        }));
    }
    let mut steps = Vec::new();
    if let Some(me) = &member {
        if let Some(to) = hand_over_leadership(args, origin, &own, &statuses).await? {
            steps.push(format!("leadership handed to {to}"));
        }
        client
            .member_remove(me.id)
            .await
            .map_err(ActionError::cluster(origin))?;
        steps.push(format!("member {} ({}) removed", me.id_hex(), me.name));
    }
    let out = match sh(
        ctx,
        "stopping etcd",
        retire_script(&service, &dirs, now_secs()),
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
    let stopped = out.lines().any(|l| l == "stopped" || l == "disabled");
    if stopped {
        steps.push(format!("{service} stopped and disabled"));
    }
    if !kept.is_empty() {
        steps.push(format!("data kept as {}", kept.join(", ")));
    }
    if member.is_some() {
        if let Err(e) = client.wait_healthy(wait).await {
            return Ok(json!({
                "changed": true,
                "failed": true,
                "msg": format!("{} removed, but the remaining cluster is not healthy: {e}", ctx.host),
            }));
        }
    }
    let changed = member.is_some() || stopped || !kept.is_empty();
    Ok(json!({
        "changed": changed,
        "member_id": member.as_ref().map(ClusterMember::id_hex),
        "remaining": remaining,
        "kept": kept,
        "warnings": warnings,
        "msg": if changed {
            format!("{}: {}{}", ctx.host, steps.join("; "), warnings.iter().map(|w| format!("\n[WARNING]: {w}")).collect::<String>())
        } else {
            format!("{} is no member; etcd is stopped and disabled", ctx.host)
        },
    }))
}

/// Polls the remaining members until every one is healthy under a leader, for at most
/// [`GUARD_GRACE`] (a member restarted a moment ago may still be catching up).
async fn guarded(
    client: &etcdplay_etcd::ClusterClient,
    host: &str,
) -> Result<Vec<EndpointStatus>, String> {
    let started = Instant::now();
    loop {
        let statuses = client.endpoint_status().await;
        match guard_verdict(&statuses, host, None) {
            Ok(()) => return Ok(statuses),
            Err(reason) if started.elapsed() >= GUARD_GRACE => return Err(reason.to_string()),
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: u64, learner: bool) -> ClusterMember {
        ClusterMember {
            id,
            name: format!("m{id}"),
            peer_urls: vec![format!("https://10.0.0.{id}:2380")],
            client_urls: vec![],
            is_learner: learner,
        }
    }

    #[test]
    fn the_last_voting_member_is_never_removed() {
        assert_eq!(
            remaining_voters(&[m(1, false), m(2, false), m(3, false)], 3),
            Ok(2)
        );
        assert!(remaining_voters(&[m(1, false)], 1).is_err());
        // A learner does not count as a member that keeps the cluster alive.
        assert!(remaining_voters(&[m(1, false), m(2, true)], 1).is_err());
    }

    #[test]
    fn the_member_is_found_by_its_peer_url() {
        let members = [m(1, false), m(2, false)];
        let found = find_member(&members, &["https://10.0.0.2:2380/".into()]);
        assert_eq!(found.map(|f| f.id), Some(2));
        assert!(find_member(&members, &["https://10.0.0.9:2380".into()]).is_none());
    }

    #[test]
    fn retiring_stops_disables_and_keeps_the_data() {
        let s = retire_script("etcd", &["/var/lib/etcd/data/".into()], 9);
        assert!(
            s.contains("systemctl disable --now --quiet -- 'etcd'"),
            "{s}"
        );
        assert!(
            s.contains("mv -- '/var/lib/etcd/data' '/var/lib/etcd/data.removed-9'; echo kept"),
            "{s}"
        );
        assert!(!s.contains("rm "), "nothing is deleted: {s}");
    }
}
