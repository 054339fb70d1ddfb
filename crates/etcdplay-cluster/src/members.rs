//! `etcd_member_join`: brings a host into a running cluster. Phase `add` (before etcd starts
//! on the host) decides how the member starts: `new` when no other member answers (a fresh
//! cluster, bootstrapped by all members together), `existing` after adding the host as a
//! learner to the running cluster, or nothing to decide when the host already is a member.
//! A host that comes back empty under its old name (reinstalled: its data dir empty, its
//! member still listed and once started) is replaced: behind the quorum guard the stale
//! member is removed and the host added again as a learner, with no manual `member remove`.
//! Phase `promote` (after etcd started) promotes the learner to a voting member once it has
//! caught up with the leader.

use std::time::{Duration, Instant};

use etcdplay_etcd::{ClientError, ClusterMember, EndpointStatus, MembershipRefusal};
use etcdplay_transport::ExecRequest;
use serde_json::{json, Map, Value};

use crate::args::{client_from_args, endpoints_arg, wait_from_args};
use crate::error::ActionError;
use etcdplay_engine::HostAction;

/// How long phase `promote` waits for the learner to catch up, by default.
const DEFAULT_WAIT: Duration = Duration::from_secs(120);

/// What phase `add` found out about the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JoinPlan {
    /// No other member answers: the cluster is being bootstrapped.
    Bootstrap,
    /// The host's peer URL is already in the membership.
    AlreadyMember,
    /// A running cluster without this host: add it.
    Join,
}

/// Runs the action on `ctx.host`.
pub(crate) async fn run(
    ctx: &HostAction<'_>,
    args: &Map<String, Value>,
) -> Result<Value, ActionError> {
    let origin = ctx.origin;
    let own = args
        .get("endpoint")
        .and_then(Value::as_str)
        .map(|s| s.trim_end_matches('/').to_string())
        .ok_or_else(|| {
            ActionError::argument(
                origin,
                "etcd_member_join needs 'endpoint' (this member's client URL)",
            )
        })?;
    let peer_urls = endpoints_arg(args, "peer_urls", origin)?;
    match args.get("phase").and_then(Value::as_str).unwrap_or("add") {
        "add" => add(ctx, args, &own, &peer_urls).await,
        "promote" => promote(ctx, args, &peer_urls).await,
        other => Err(ActionError::argument(
            origin,
            format!("etcd_member_join 'phase' must be add or promote, got '{other}'"),
        )),
    }
}

async fn add(
    ctx: &HostAction<'_>,
    args: &Map<String, Value>,
    own: &str,
    peer_urls: &[String],
) -> Result<Value, ActionError> {
    let origin = ctx.origin;
    // Ask only the other members: this host's etcd may not be running (or not yet a member).
    let mut others = args.clone();
    let all = endpoints_arg(args, "endpoints", origin)?;
    let rest: Vec<Value> = all
        .iter()
        .filter(|e| e.trim_end_matches('/') != own)
        .map(|e| Value::String(e.clone()))
        .collect();
    if rest.is_empty() {
        return Ok(plan_result(&JoinPlan::Bootstrap, false, None));
    }
    others.insert("endpoints".into(), Value::Array(rest));
    let client = client_from_args(&others, origin)?;
    let statuses = client.endpoint_status().await;
    let members = if statuses.iter().any(|s| s.healthy) {
        Some(
            client
                .member_list()
                .await
                .map_err(ActionError::cluster(origin))?,
        )
    } else {
        None
    };
    let plan = plan(&statuses, members.as_deref(), peer_urls);
    let data_dir = args.get("data_dir").and_then(Value::as_str);
    if plan == JoinPlan::AlreadyMember {
        let stale = members
            .as_deref()
            .and_then(|m| started_member(m, peer_urls))
            .cloned();
        return match (stale, data_dir) {
            (Some(stale), Some(dir)) if data_dir_empty(ctx, dir).await? => {
                replace(ctx, &client, &statuses, &stale, peer_urls).await
            }
            _ => Ok(plan_result(&plan, false, None)),
        };
    }
    if plan != JoinPlan::Join {
        return Ok(plan_result(&plan, false, None));
    }
    if let Some(dir) = data_dir {
        if !data_dir_empty(ctx, dir).await? {
            return Ok(json!({
                "changed": false,
                "failed": true,
                "msg": format!("{}: the data dir {dir} is not empty but the host is not a member of the running cluster; move it away before joining", ctx.host),
            }));
        }
    }
    if ctx.check {
        return Ok(plan_result(&plan, true, None));
    }
    let added = client
        .member_add(peer_urls, true)
        .await
        .map_err(ActionError::cluster(origin))?;
    Ok(plan_result(&plan, true, Some(&added.member)))
}

/// The member with one of `peer_urls` that has started at least once (etcd names a member
/// when it first starts; one listed but never started has no name and just starts later).
pub(crate) fn started_member<'a>(
    members: &'a [ClusterMember],
    peer_urls: &[String],
) -> Option<&'a ClusterMember> {
    let norm = |u: &str| u.trim_end_matches('/').to_string();
    members.iter().find(|m| {
        !m.name.is_empty()
            && m.peer_urls
                .iter()
                .any(|u| peer_urls.iter().any(|p| norm(p) == norm(u)))
    })
}

/// Replaces `stale`, this host's member from before it lost its data: once every other
/// member is healthy (removing a member while another is down could lose quorum), `member
/// remove`, then `member add` as a learner; the host then starts as a joining member.
async fn replace(
    ctx: &HostAction<'_>,
    client: &etcdplay_etcd::ClusterClient,
    statuses: &[EndpointStatus],
    stale: &ClusterMember,
    peer_urls: &[String],
) -> Result<Value, ActionError> {
    let origin = ctx.origin;
    if let Err(risk) = crate::restart::guard_verdict(statuses, ctx.host, None) {
        return Ok(json!({
            "changed": false,
            "failed": true,
            "msg": format!(
                "{}: its data dir is empty but member {} ({}) is still listed; refusing to replace it: {risk}",
                ctx.host, stale.name, stale.id_hex()
            ),
        }));
    }
    let mut result = plan_result(&JoinPlan::Join, true, None);
    result["replaced_member_id"] = json!(stale.id_hex());
    result["plan"] = json!("replace");
    if ctx.check {
        return Ok(result);
    }
    client
        .member_remove(stale.id)
        .await
        .map_err(ActionError::cluster(origin))?;
    let added = client
        .member_add(peer_urls, true)
        .await
        .map_err(ActionError::cluster(origin))?;
    let mut result = plan_result(&JoinPlan::Join, true, Some(&added.member));
    result["replaced_member_id"] = json!(stale.id_hex());
    result["plan"] = json!("replace");
    result["msg"] = json!(format!(
        "{}: data dir empty while member {} ({}) was still listed: removed it and added the host again as a learner ({})",
        ctx.host,
        stale.name,
        stale.id_hex(),
        added.member.id_hex()
    ));
    Ok(result)
}

/// The decision, from the other members' health and the membership (when any answered).
pub(crate) fn plan(
    statuses: &[EndpointStatus],
    members: Option<&[ClusterMember]>,
    peer_urls: &[String],
) -> JoinPlan {
    let Some(members) = members else {
        return JoinPlan::Bootstrap;
    };
    if statuses.iter().all(|s| !s.healthy) {
        return JoinPlan::Bootstrap;
    }
    let norm = |u: &str| u.trim_end_matches('/').to_string();
    let mine: Vec<String> = peer_urls.iter().map(|u| norm(u)).collect();
    if members
        .iter()
        .any(|m| m.peer_urls.iter().any(|u| mine.contains(&norm(u))))
    {
        JoinPlan::AlreadyMember
    } else {
        JoinPlan::Join
    }
}

fn plan_result(plan: &JoinPlan, changed: bool, added: Option<&ClusterMember>) -> Value {
    let (state, write) = match plan {
        JoinPlan::Bootstrap => ("new", true),
        JoinPlan::Join => ("existing", true),
        JoinPlan::AlreadyMember => ("existing", false),
    };
    json!({
        "changed": changed,
        "plan": format!("{plan:?}").to_lowercase(),
        "initial_cluster_state": state,
        // Whether the initial settings must be (re)written: etcd reads them only when its
        // data dir is empty, so for a member they stay as they were (no change, no restart).
        "write_initial": write,
        "member_id": added.map(ClusterMember::id_hex),
        "learner": added.is_some(),
    })
}

async fn promote(
    ctx: &HostAction<'_>,
    args: &Map<String, Value>,
    peer_urls: &[String],
) -> Result<Value, ActionError> {
    let origin = ctx.origin;
    let client = client_from_args(args, origin)?;
    let wait = wait_from_args(args, DEFAULT_WAIT, origin)?;
    let started = Instant::now();
    loop {
        let members = match client.member_list().await {
            Ok(m) => m,
            // The learner's own endpoint may not answer yet; the others will.
            Err(_) if started.elapsed() < wait => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => return Err(ActionError::cluster(origin)(e)),
        };
        let me = members.iter().find(|m| {
            m.peer_urls.iter().any(|u| {
                peer_urls
                    .iter()
                    .any(|p| p.trim_end_matches('/') == u.trim_end_matches('/'))
            })
        });
        let Some(me) = me else {
            return Ok(
                json!({"changed": false, "failed": true, "msg": format!("{} is not a member of the cluster", ctx.host)}),
            );
        };
        if !me.is_learner {
            return Ok(
                json!({"changed": false, "member_id": me.id_hex(), "msg": "already a voting member"}),
            );
        }
        if ctx.check {
            return Ok(json!({"changed": true, "member_id": me.id_hex()}));
        }
        match client.member_promote(me.id).await {
            Ok(_) => {
                return Ok(
                    json!({"changed": true, "member_id": me.id_hex(), "msg": format!("{} promoted to voting member", ctx.host)}),
                )
            }
            Err(ClientError::Refused {
                kind: MembershipRefusal::LearnerNotReady,
                ..
            })
            | Err(ClientError::Timeout { .. })
                if started.elapsed() < wait =>
            {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                return Ok(
                    json!({"changed": false, "failed": true, "msg": format!("promoting {}: {e}", ctx.host)}),
                )
            }
        }
    }
}

/// Whether `dir` is missing or empty on the host.
async fn data_dir_empty(ctx: &HostAction<'_>, dir: &str) -> Result<bool, ActionError> {
    let quoted = format!("'{}'", dir.replace('\'', r"'\''"));
    let script = format!(
        "if [ -d {quoted} ] && [ -n \"$(ls -A {quoted})\" ]; then echo full; else echo empty; fi"
    );
    let out = ctx
        .transport
        .exec(ExecRequest {
            become_: ctx.become_.cloned(),
            ..ExecRequest::script(script)
        })
        .await?;
    Ok(out.stdout_str().trim() == "empty")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(endpoint: &str, healthy: bool) -> EndpointStatus {
        EndpointStatus {
            healthy,
            error: None,
            ..EndpointStatus::failed(endpoint, String::new())
        }
    }

    fn member(id: u64, peer: &str) -> ClusterMember {
        ClusterMember {
            id,
            name: format!("m{id}"),
            peer_urls: vec![peer.into()],
            client_urls: vec![],
            is_learner: false,
        }
    }

    #[test]
    fn nobody_answering_means_bootstrap() {
        let s = [up("https://a:2379", false), up("https://b:2379", false)];
        assert_eq!(
            plan(&s, None, &["https://c:2380".into()]),
            JoinPlan::Bootstrap
        );
    }

    #[test]
    fn a_listed_peer_url_means_already_member() {
        let s = [up("https://a:2379", true)];
        let m = [member(1, "https://a:2380"), member(2, "https://c:2380/")];
        assert_eq!(
            plan(&s, Some(&m), &["https://c:2380".into()]),
            JoinPlan::AlreadyMember
        );
    }

    #[test]
    fn only_a_member_that_started_once_is_stale() {
        let mut m = [member(1, "https://a:2380"), member(2, "https://c:2380/")];
        let mine = ["https://c:2380".to_string()];
        assert_eq!(started_member(&m, &mine).map(|m| m.id), Some(2));
        assert_eq!(started_member(&m, &["https://d:2380".into()]), None);
        // Listed at bootstrap but never started: it has no name yet and simply starts later.
        m[1].name.clear();
        assert_eq!(started_member(&m, &mine), None);
    }

    #[test]
    fn a_running_cluster_without_the_host_means_join() {
        let s = [up("https://a:2379", true), up("https://b:2379", false)];
        let m = [member(1, "https://a:2380"), member(2, "https://b:2380")];
        assert_eq!(
            plan(&s, Some(&m), &["https://d:2380".into()]),
            JoinPlan::Join
        );
        let r = plan_result(&JoinPlan::Join, true, Some(&member(0xab, "https://d:2380")));
        assert_eq!(r["initial_cluster_state"], json!("existing"));
        assert_eq!(r["member_id"], json!("ab"));
        let r = plan_result(&JoinPlan::AlreadyMember, false, None);
        assert_eq!(r["write_initial"], json!(false));
        let r = plan_result(&JoinPlan::Bootstrap, false, None);
        assert_eq!(
            (
                r["initial_cluster_state"].clone(),
                r["write_initial"].clone()
            ),
            (json!("new"), json!(true))
        );
    }
}
