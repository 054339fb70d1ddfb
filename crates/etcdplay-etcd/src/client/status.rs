//! The health and status of one endpoint, as `etcdctl endpoint status` and `endpoint health`
//! together report them, and the cluster verdict built from all endpoints.

use std::time::Duration;

/// What one endpoint said about itself. Fields it could not report are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointStatus {
    /// The endpoint URL.
    pub endpoint: String,
    /// The member behind the endpoint (from its status, or from the member list when the
    /// endpoint did not answer).
    pub member_id: Option<u64>,
    /// The member's name from the member list.
    pub name: Option<String>,
    /// The etcd server version.
    pub version: Option<String>,
    /// Backend database size in bytes.
    pub db_size: Option<i64>,
    /// The part of the backend in use (the rest is free pages a defragmentation returns).
    pub db_size_in_use: Option<i64>,
    /// Whether this member is the raft leader.
    pub is_leader: bool,
    /// Whether this member is a learner.
    pub is_learner: bool,
    /// The leader this member follows.
    pub leader_id: Option<u64>,
    pub raft_term: Option<u64>,
    pub raft_index: Option<u64>,
    /// The raft index this member has applied to its store (what a snapshot of it holds).
    pub raft_applied_index: Option<u64>,
    /// The cluster id from the status answer's header.
    pub cluster_id: Option<u64>,
    /// The store's revision from the status answer's header.
    pub revision: Option<i64>,
    /// The status call and a read of the key `health` both succeeded, and no alarm is raised.
    pub healthy: bool,
    /// Time from connecting to the answer of the read (like etcdctl's "took").
    pub latency: Option<Duration>,
    /// Why the endpoint is unhealthy.
    pub error: Option<String>,
    /// Alarms raised for this member (`NOSPACE`, `CORRUPT`), read when any alarm is active.
    pub alarms: Vec<String>,
    /// The member's backend quota (`--quota-backend-bytes`), when asked for
    /// ([`crate::client::ClusterClient::backend_quotas`]).
    pub quota_bytes: Option<i64>,
}

impl EndpointStatus {
    /// A status with nothing known but the endpoint and the reason.
    pub fn failed(endpoint: &str, error: String) -> Self {
        EndpointStatus {
            endpoint: endpoint.to_string(),
            member_id: None,
            name: None,
            version: None,
            db_size: None,
            db_size_in_use: None,
            is_leader: false,
            is_learner: false,
            leader_id: None,
            raft_term: None,
            raft_index: None,
            raft_applied_index: None,
            cluster_id: None,
            revision: None,
            healthy: false,
            latency: None,
            error: Some(error),
            alarms: Vec::new(),
            quota_bytes: None,
        }
    }

    /// Whether the member answers its status and a linearizable read, alarms aside: a
    /// member with NOSPACE raised still serves reads, compactions and defragmentation, the
    /// way out of the alarm.
    pub fn serving(&self) -> bool {
        self.healthy || self.latency.is_some()
    }

    /// The member id in hex, as etcdctl prints it.
    pub fn member_id_hex(&self) -> Option<String> {
        self.member_id.map(|id| format!("{id:x}"))
    }

    /// How to name the endpoint in messages: `name (endpoint)` when the name is known.
    pub fn label(&self) -> String {
        match self.name.as_deref() {
            Some(name) if !name.is_empty() => format!("{name} ({})", self.endpoint),
            _ => self.endpoint.clone(),
        }
    }
}

/// True when every endpoint is healthy and exactly one of them is the leader.
pub fn cluster_ok(statuses: &[EndpointStatus]) -> bool {
    cluster_problems(statuses).is_empty()
}

/// Every reason the cluster is not ok, one line each; empty when [`cluster_ok`].
pub fn cluster_problems(statuses: &[EndpointStatus]) -> Vec<String> {
    problems_where(statuses, |s| s.healthy)
}

/// Like [`cluster_problems`], but a raised alarm is no problem as long as the member serves
/// ([`EndpointStatus::serving`]): what must hold before work that clears an alarm.
pub fn serving_problems(statuses: &[EndpointStatus]) -> Vec<String> {
    problems_where(statuses, EndpointStatus::serving)
}

fn problems_where(statuses: &[EndpointStatus], ok: fn(&EndpointStatus) -> bool) -> Vec<String> {
    if statuses.is_empty() {
        return vec!["no endpoints".to_string()];
    }
    let mut problems: Vec<String> = statuses
        .iter()
        .filter(|s| !ok(s))
        .map(|s| {
            format!(
                "{}: {}",
                s.label(),
                s.error.as_deref().unwrap_or("unhealthy")
            )
        })
        .collect();
    let leaders: Vec<&EndpointStatus> = statuses.iter().filter(|s| s.is_leader).collect();
    match leaders.len() {
        1 => {}
        0 => problems.push("no member reports itself as leader".to_string()),
        _ => problems.push(format!(
            "{} members report themselves as leader: {}",
            leaders.len(),
            leaders
                .iter()
                .map(|s| s.label())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(endpoint: &str, leader: bool) -> EndpointStatus {
        EndpointStatus {
            healthy: true,
            is_leader: leader,
            error: None,
            ..EndpointStatus::failed(endpoint, String::new())
        }
    }

    #[test]
    fn verdict_needs_all_healthy_and_one_leader() {
        assert!(cluster_ok(&[up("a", true), up("b", false)]));
        assert!(!cluster_ok(&[]));
        assert!(!cluster_ok(&[up("a", false), up("b", false)]));
        assert!(!cluster_ok(&[up("a", true), up("b", true)]));
        let down = EndpointStatus::failed("c", "connection refused".into());
        let problems = cluster_problems(&[up("a", true), down]);
        assert_eq!(problems, vec!["c: connection refused".to_string()]);
    }

    #[test]
    fn an_alarm_is_a_problem_but_the_member_still_serves() {
        let full = EndpointStatus {
            healthy: false,
            latency: Some(std::time::Duration::from_millis(3)),
            error: Some("active alarm(s): memberID:1 alarm:NOSPACE".into()),
            alarms: vec!["NOSPACE".into()],
            ..up("b", false)
        };
        let both = [up("a", true), full];
        assert_eq!(cluster_problems(&both).len(), 1);
        assert!(serving_problems(&both).is_empty());
        let down = EndpointStatus::failed("c", "connection refused".into());
        assert_eq!(serving_problems(&[up("a", true), down]).len(), 1);
    }
}
