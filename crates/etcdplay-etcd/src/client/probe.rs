//! Connecting to one endpoint, and the health probe of one endpoint: the status call, a
//! linearizable read of the key `health` (what `etcdctl endpoint health` does: it needs a
//! quorum, so a member cut off from its peers fails it), the alarm list from the status,
//! and the member list that names the members. Each endpoint gets its own connection, so
//! the answer is about that member and not whichever one a balancer picked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{AlarmAction, AlarmType, Channel, Client, GetOptions};

use crate::client::endpoint::EndpointUrl;
use crate::client::error::{error_chain, rpc_error};
use crate::client::member::{members_of, ClusterMember};
use crate::client::status::EndpointStatus;
use crate::client::tls::EndpointTls;

/// Why one endpoint could not be reached or probed; shown as the endpoint's error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error("{}", error_chain(.0))]
    Endpoint(tonic::transport::Error),
    #[error("TLS setup: {}", error_chain(.0))]
    Tls(tonic::transport::Error),
    #[error("connect: {}", error_chain(.0))]
    Connect(tonic::transport::Error),
    #[error("connect: no connection within {}", secs(*.0))]
    ConnectTimeout(Duration),
    #[error("{}", error_chain(.0))]
    Client(etcd_client::Error),
    /// A call of the probe was refused; `what` names it (`status`, `read`).
    #[error("{what}: {}", rpc_error(.error))]
    Call {
        what: &'static str,
        error: etcd_client::Error,
    },
    #[error("active alarm(s): {}", .0.join(", "))]
    Alarms(Vec<String>),
}

/// Opens one connection (TCP, TLS and HTTP/2 handshakes done eagerly so that a refusal is
/// reported as such) and wraps it in an etcd client.
pub(crate) async fn connect(
    ep: &EndpointUrl,
    tls: Option<&EndpointTls>,
    timeout: Duration,
) -> Result<Client, ProbeError> {
    let mut endpoint = tonic::transport::Endpoint::from_shared(ep.url.clone())
        .map_err(ProbeError::Endpoint)?
        // No per-request timeout here: callers bound whole operations, and report the
        // overrun in their own words.
        .connect_timeout(timeout);
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls.tonic_config())
            .map_err(ProbeError::Tls)?;
    }
    let channel = match tokio::time::timeout(timeout, endpoint.connect()).await {
        Ok(Ok(channel)) => channel,
        Ok(Err(e)) => return Err(ProbeError::Connect(e)),
        Err(_) => return Err(ProbeError::ConnectTimeout(timeout)),
    };
    Client::from_channel(Channel::Tonic(channel), None)
        .await
        .map_err(ProbeError::Client)
}

/// The alarms of member `own` in the status's error texts, which read
/// `memberID:<decimal id> alarm:<NAME> ` (etcd 3.4.23); every alarm when `own` is unknown.
pub(crate) fn alarms_in_errors(errors: &[String], own: Option<u64>) -> Vec<String> {
    errors
        .iter()
        .filter_map(|e| {
            let id: u64 = e
                .split("memberID:")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            let name = e.split("alarm:").nth(1)?.split_whitespace().next()?;
            own.is_none_or(|o| o == id).then(|| name.to_string())
        })
        .collect()
}

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// What one probe learned.
pub(crate) struct Probe {
    pub(crate) status: EndpointStatus,
    /// The member list as this endpoint sees it, when it answered.
    pub(crate) members: Option<Vec<ClusterMember>>,
}

/// Probes one endpoint; never takes (much) longer than `timeout`.
pub(crate) async fn probe(
    ep: EndpointUrl,
    tls: Option<Arc<EndpointTls>>,
    timeout: Duration,
) -> Probe {
    let mut probe = Probe {
        status: EndpointStatus::failed(&ep.url, String::new()),
        members: None,
    };
    let outcome =
        tokio::time::timeout(timeout, run(&ep, tls.as_deref(), timeout, &mut probe)).await;
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(with_hint(&ep, e.to_string())),
        Err(_) => Some(format!("no answer within {}", secs(timeout))),
    };
    probe.status.healthy = error.is_none();
    probe.status.error = error;
    probe
}

/// A TLS-only etcd port drops a plain HTTP/2 client with a bare broken pipe or reset;
/// say what that usually means.
fn with_hint(ep: &EndpointUrl, error: String) -> String {
    let lower = error.to_ascii_lowercase();
    if !ep.https && (lower.contains("broken pipe") || lower.contains("connection reset")) {
        format!("{error} (does this endpoint expect https:// with client certificates?)")
    } else {
        error
    }
}

async fn run(
    ep: &EndpointUrl,
    tls: Option<&EndpointTls>,
    timeout: Duration,
    probe: &mut Probe,
) -> Result<(), ProbeError> {
    let start = Instant::now();
    let mut client = connect(ep, tls, timeout).await?;
    let st = client.status().await.map_err(|error| ProbeError::Call {
        what: "status",
        error,
    })?;
    let s = &mut probe.status;
    let member_id = st.header().map(|h| h.member_id()).filter(|id| *id != 0);
    s.member_id = member_id;
    s.version = Some(st.version().to_string());
    s.db_size = Some(st.db_size());
    s.db_size_in_use = Some(st.raft_used_db_size()).filter(|n| *n > 0);
    s.leader_id = Some(st.leader()).filter(|id| *id != 0);
    s.is_leader = member_id.is_some() && s.leader_id == member_id;
    s.is_learner = st.is_learner();
    s.raft_term = Some(st.raft_term());
    s.raft_index = Some(st.raft_index());
    s.raft_applied_index = Some(st.raft_applied_index()).filter(|i| *i != 0);
    s.cluster_id = st.header().map(|h| h.cluster_id()).filter(|id| *id != 0);
    s.revision = st.header().map(|h| h.revision());
    // Learners refuse linearizable reads by design; a serializable one still shows the
    // member serves requests.
    let options = if st.is_learner() {
        GetOptions::new().with_serializable()
    } else {
        GetOptions::new()
    };
    client
        .get("health", Some(options.with_keys_only()))
        .await
        .map_err(|error| ProbeError::Call {
            what: "read",
            error,
        })?;
    s.latency = Some(start.elapsed());
    if let Ok(list) = client.member_list().await {
        probe.members = Some(members_of(list.members()));
    }
    if !st.errors().is_empty() {
        // Which alarms are this member's own, by type: etcd's status only lists them as text.
        let listed = client.alarm(AlarmAction::Get, AlarmType::None, None).await;
        probe.status.alarms = match listed {
            Ok(list) => list
                .alarms()
                .iter()
                .filter(|a| member_id.is_none_or(|id| a.member_id() == id))
                .map(|a| a.alarm().as_str_name().to_string())
                .collect(),
            Err(_) => alarms_in_errors(st.errors(), member_id),
        };
        return Err(ProbeError::Alarms(
            st.errors().iter().map(ToString::to_string).collect(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_are_read_from_the_status_errors_as_etcd_writes_them() {
        // As etcd 3.4.23 answered with NOSPACE raised by two members.
        let errors = vec![
            "memberID:16559226050385902654 alarm:NOSPACE ".to_string(),
            "memberID:17518721229002876995 alarm:CORRUPT ".to_string(),
        ];
        assert_eq!(
            alarms_in_errors(&errors, Some(16559226050385902654)),
            ["NOSPACE"]
        );
        assert_eq!(alarms_in_errors(&errors, Some(1)), Vec::<String>::new());
        assert_eq!(alarms_in_errors(&errors, None), ["NOSPACE", "CORRUPT"]);
        assert!(alarms_in_errors(&["etcdserver: no leader".to_string()], None).is_empty());
    }
}
