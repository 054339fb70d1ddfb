//! `etcdplay defrag`: `etcd_defrag` on the control node defragments the members one at a
//! time over the API, followers first and the leader last (a defragmenting member serves
//! nothing, and a leader that stalls costs an election), each only while every member is
//! serving, and waits for a serving cluster after each. A raised alarm (NOSPACE) does not
//! count against a member that still answers: defragmenting is how its space comes back. A member whose free pages are below
//! `threshold` percent of its backend (etcd's `dbSize` − `dbSizeInUse`) is skipped, unless
//! NOSPACE is raised (then the free share is stale and every member is defragmented).

use std::time::Duration;

use etcdplay_etcd::{serving_problems, EndpointStatus};
use serde_json::{json, Map, Value};

use super::failed;
use crate::args::{client_from_args, wait_from_args};
use crate::error::ActionError;

/// Skip members with less than this share of free pages, by default (percent).
pub(crate) const DEFAULT_THRESHOLD: f64 = 10.0;
/// How long one member's defragmentation may take.
const DEFRAG_TIMEOUT: Duration = Duration::from_secs(600);
/// How long to wait for a healthy cluster after each member, by default.
const DEFAULT_WAIT: Duration = Duration::from_secs(120);

/// The share of `s`'s backend that is free pages, in percent; `None` when unknown.
pub(crate) fn fragmentation(s: &EndpointStatus) -> Option<f64> {
    let (size, used) = (s.db_size?, s.db_size_in_use?);
    (size > 0).then(|| (size - used).max(0) as f64 * 100.0 / size as f64)
}

/// What to do with each member, in order: followers (in endpoint order) then the leader,
/// each `true` to defragment or `false` to skip (below `threshold`, or fragmentation unknown).
pub(crate) fn plan(statuses: &[EndpointStatus], threshold: f64) -> Vec<(usize, bool)> {
    let mut order: Vec<usize> = (0..statuses.len())
        .filter(|i| !statuses[*i].is_leader)
        .collect();
    order.extend((0..statuses.len()).filter(|i| statuses[*i].is_leader));
    order
        .into_iter()
        .map(|i| {
            (
                i,
                fragmentation(&statuses[i]).is_some_and(|f| f >= threshold),
            )
        })
        .collect()
}

/// `etcd_defrag` on the control node.
pub(crate) async fn run(args: &Map<String, Value>, origin: &str) -> Result<Value, ActionError> {
    let client = client_from_args(args, origin)?;
    let wait = wait_from_args(args, DEFAULT_WAIT, origin)?;
    let threshold = match args.get("threshold") {
        None | Some(Value::Null) => DEFAULT_THRESHOLD,
        Some(v) => v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|t| (0.0..=100.0).contains(t))
            .ok_or_else(|| {
                ActionError::argument(origin, "'threshold' must be a percentage from 0 to 100")
            })?,
    };
    let statuses = client.endpoint_status().await;
    // An alarm is no reason to refuse: defragmenting is how NOSPACE is cleared.
    let problems = serving_problems(&statuses);
    if !problems.is_empty() {
        return Ok(failed(format!(
            "refusing to defragment: the cluster is not healthy ({}); a defragmenting member serves nothing, so every other one must",
            problems.join("; ")
        )));
    }
    // Under NOSPACE the free pages a compaction made stay "pending" in bbolt until the next
    // commit, which the alarm blocks (observed: 9 % free after deleting and compacting 90 %
    // of the keys), so the share cannot be trusted: every member is defragmented.
    // Any member's NOSPACE counts (it blocks every write), and every member's error text
    // lists every alarm of the cluster.
    let nospace = statuses.iter().any(|s| {
        s.alarms.iter().any(|a| a == "NOSPACE")
            || s.error
                .as_deref()
                .is_some_and(|e| e.contains("alarm:NOSPACE"))
    });
    let threshold = if nospace { 0.0 } else { threshold };
    let mut members = Vec::new();
    let mut lines = Vec::new();
    if nospace {
        lines.push(
            "NOSPACE is raised: every member is defragmented, whatever its free share".into(),
        );
    }
    for (i, defrag) in plan(&statuses, threshold) {
        let before = &statuses[i];
        let label = before.label();
        let frag = fragmentation(before);
        let mut entry = json!({
            "endpoint": before.endpoint,
            "name": before.name,
            "leader": before.is_leader,
            "db_size_before": before.db_size,
            "fragmentation_percent": frag.map(|f| (f * 10.0).round() / 10.0),
            "defragmented": defrag,
        });
        if !defrag {
            lines.push(format!(
                "{label}: skipped ({} free, threshold {threshold}%)",
                frag.map(|f| format!("{f:.1}%"))
                    .unwrap_or_else(|| "unknown share".into())
            ));
            members.push(entry);
            continue;
        }
        // Every member healthy right before this one stops serving.
        let now = client.endpoint_status().await;
        let sick = serving_problems(&now);
        if !sick.is_empty() {
            return Ok(json!({
                "changed": !lines.is_empty(),
                "failed": true,
                "members": members,
                "msg": format!("stopped before {label}: the cluster is not healthy ({})", sick.join("; ")),
            }));
        }
        if let Err(e) = client.defragment(&before.endpoint, DEFRAG_TIMEOUT).await {
            return Ok(json!({
                "changed": true,
                "failed": true,
                "members": members,
                "msg": format!("defragmenting {label}: {e}"),
            }));
        }
        let after = match client.wait_serving(wait).await {
            Ok(s) => s,
            Err(e) => {
                return Ok(json!({
                    "changed": true,
                    "failed": true,
                    "members": members,
                    "msg": format!("after defragmenting {label}: {e}"),
                }))
            }
        };
        let size_after = after
            .iter()
            .find(|s| s.endpoint == before.endpoint)
            .and_then(|s| s.db_size);
        entry["db_size_after"] = json!(size_after);
        lines.push(format!(
            "{label}{}: {} → {} bytes",
            if before.is_leader {
                " (leader, last)"
            } else {
                ""
            },
            before.db_size.unwrap_or(0),
            size_after.unwrap_or(0)
        ));
        members.push(entry);
    }
    let changed = members
        .iter()
        .any(|m| m["defragmented"] == Value::Bool(true));
    Ok(json!({
        "changed": changed,
        "operation": "defrag",
        "threshold_percent": threshold,
        "nospace": nospace,
        "members": members,
        "msg": format!("defragmentation, one member at a time:\n  {}", lines.join("\n  ")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(endpoint: &str, leader: bool, size: i64, used: i64) -> EndpointStatus {
        EndpointStatus {
            healthy: true,
            is_leader: leader,
            db_size: Some(size),
            db_size_in_use: Some(used),
            error: None,
            ..EndpointStatus::failed(endpoint, String::new())
        }
    }

    #[test]
    fn followers_first_the_leader_last_and_small_gains_skipped() {
        let s = [
            member("a", true, 1000, 100),
            member("b", false, 1000, 950),
            member("c", false, 1000, 500),
        ];
        assert_eq!(plan(&s, 10.0), vec![(1, false), (2, true), (0, true)]);
        assert_eq!(fragmentation(&s[1]), Some(5.0));
        let mut unknown = member("d", false, 1000, 0);
        unknown.db_size_in_use = None;
        assert_eq!(
            plan(&[unknown], 0.0),
            vec![(0, false)],
            "unknown is skipped"
        );
    }
}
