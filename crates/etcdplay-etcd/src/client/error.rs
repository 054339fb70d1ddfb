//! The errors of the etcd API client: bad input (endpoints, TLS material) found before any
//! connection, endpoints that cannot be reached, membership changes etcd refuses (typed, so
//! that callers can react to "member not found" or "not enough started members"), and a
//! cluster that does not become healthy in time.

use std::fmt;
use std::time::Duration;

use crate::client::status::EndpointStatus;

/// Why etcd refused a membership change, from the error etcd's server returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipRefusal {
    /// The member id is not in the cluster.
    MemberNotFound,
    /// Another member already uses one of the peer URLs.
    PeerUrlExists,
    /// etcd derives a new member's id from its peer URLs and the current second, so the
    /// same add twice within one second collides on the id.
    MemberIdExists,
    /// Removing or adding would leave too few started members for a quorum.
    NotEnoughStartedMembers,
    /// The learner is not yet in sync with the leader; promotion must wait.
    LearnerNotReady,
    /// Only learners can be promoted.
    NotALearner,
    /// etcd allows a single learner at a time.
    TooManyLearners,
    /// etcd's own health check before the change failed.
    UnhealthyCluster,
}

impl MembershipRefusal {
    /// Recognises etcd's server error messages (`etcdserver: ...`).
    pub(crate) fn from_message(message: &str) -> Option<Self> {
        let m = message.to_ascii_lowercase();
        // Order matters: "learner member which is in sync" contains "promote a learner member".
        let table: [(&str, MembershipRefusal); 8] = [
            ("member not found", Self::MemberNotFound),
            ("peer urls already exists", Self::PeerUrlExists),
            ("member id already exist", Self::MemberIdExists),
            ("not enough started members", Self::NotEnoughStartedMembers),
            ("in sync with leader", Self::LearnerNotReady),
            ("can only promote a learner member", Self::NotALearner),
            ("too many learner members", Self::TooManyLearners),
            ("unhealthy cluster", Self::UnhealthyCluster),
        ];
        table
            .iter()
            .find(|(needle, _)| m.contains(needle))
            .map(|(_, kind)| *kind)
    }
}

impl fmt::Display for MembershipRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MemberNotFound => "member not found",
            Self::PeerUrlExists => "peer URL already in use",
            Self::MemberIdExists => "member id already exists",
            Self::NotEnoughStartedMembers => "not enough started members",
            Self::LearnerNotReady => "learner not in sync with the leader yet",
            Self::NotALearner => "member is not a learner",
            Self::TooManyLearners => "too many learners",
            Self::UnhealthyCluster => "cluster unhealthy",
        })
    }
}

/// An error of [`crate::client::ClusterClient`].
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint list was empty.
    #[error("no etcd endpoints given")]
    NoEndpoints,
    /// An endpoint is not an `http://` or `https://` URL, or its scheme does not match the
    /// TLS settings.
    #[error("etcd endpoint '{endpoint}': {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    /// The CA, client certificate or client key is not usable PEM. Never contains key text.
    #[error("etcd TLS material: {0}")]
    BadTls(String),
    /// No endpoint accepted a connection for an operation that needs one.
    #[error("{op}: no etcd endpoint reachable ({})", join_pairs(.errors))]
    Unreachable {
        op: &'static str,
        errors: Vec<(String, String)>,
    },
    /// The operation did not answer in time.
    #[error("{op} via {endpoint}: no answer within {}", secs(*.after))]
    Timeout {
        op: &'static str,
        endpoint: String,
        after: Duration,
    },
    /// etcd refused a membership change for a known reason.
    #[error("{op} via {endpoint}: {kind} ({message})")]
    Refused {
        op: &'static str,
        endpoint: String,
        kind: MembershipRefusal,
        message: String,
    },
    /// Any other failed call.
    #[error("{op} via {endpoint}: {message}")]
    Rpc {
        op: &'static str,
        endpoint: String,
        message: String,
    },
    /// [`crate::client::ClusterClient::wait_healthy`] gave up; `last` is the final poll.
    #[error("etcd cluster not healthy after {}: {}", secs(*.after), .problems.join("; "))]
    NotHealthy {
        after: Duration,
        problems: Vec<String>,
        last: Vec<EndpointStatus>,
    },
}

fn join_pairs(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(e, m)| format!("{e}: {m}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Flattens an error and its sources into one line (tonic wraps the useful cause, such as
/// "connection refused" or a certificate verdict, several levels deep).
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        // Wrappers often repeat their cause's text; keep each piece once.
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// One line for a failed etcd call: etcd's own message for a gRPC status (such as
/// `etcdserver: member not found`), with the transport cause when there is one.
pub(crate) fn rpc_error(err: &etcd_client::Error) -> String {
    match err {
        etcd_client::Error::GRpcStatus(status) => {
            let mut text = if status.message().is_empty() {
                status.code().description().to_string()
            } else {
                status.message().to_string()
            };
            if let Some(source) = std::error::Error::source(status) {
                let cause = error_chain(source);
                // tonic's status message is often the first link of its own cause chain.
                if cause.starts_with(&text) {
                    text = cause;
                } else if !text.contains(&cause) {
                    text = format!("{text}: {cause}");
                }
            }
            text
        }
        other => error_chain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_etcd_refusals() {
        let cases = [
            (
                "etcdserver: member not found",
                Some(MembershipRefusal::MemberNotFound),
            ),
            (
                "etcdserver: Peer URLs already exists",
                Some(MembershipRefusal::PeerUrlExists),
            ),
            (
                "etcdserver: re-configuration failed due to not enough started members",
                Some(MembershipRefusal::NotEnoughStartedMembers),
            ),
            (
                "etcdserver: can only promote a learner member which is in sync with leader",
                Some(MembershipRefusal::LearnerNotReady),
            ),
            (
                "etcdserver: can only promote a learner member",
                Some(MembershipRefusal::NotALearner),
            ),
            (
                "etcdserver: member ID already exist",
                Some(MembershipRefusal::MemberIdExists),
            ),
            ("etcdserver: request timed out", None),
        ];
        for (message, want) in cases {
            assert_eq!(MembershipRefusal::from_message(message), want, "{message}");
        }
    }

    #[test]
    fn chain_keeps_each_cause_once() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("transport error")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(error_chain(&e), "transport error: connection refused");
    }
}
