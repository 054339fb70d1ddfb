//! A live etcd cluster over its v3 gRPC API: per-endpoint health and status (what
//! `etcdctl endpoint health` and `endpoint status` report, rendered as etcdctl's table),
//! waiting for a healthy cluster with one leader, the membership calls that joins and the
//! HTTP→HTTPS peer migration need, alarms (listed, disarmed), each member's backend quota (from
//! its `/metrics`) and its server and cluster version (from its `/version`, `version.rs`).
//! Every TLS connection verifies the server against the
//! cluster CA and presents a client certificate; there is no insecure mode.

mod cluster;
mod endpoint;
mod error;
mod http;
mod member;
mod metrics;
mod probe;
mod status;
mod table;
mod tls;
mod version;

pub use cluster::ClusterClient;
pub use error::{ClientError, MembershipRefusal};
pub use member::{ClusterMember, MemberAdded};
pub use status::{cluster_ok, cluster_problems, serving_problems, EndpointStatus};
pub use table::render_status_table;
pub use tls::{EndpointTls, SecretKeyPem};
pub use version::{EtcdVersion, VersionReport};

#[cfg(test)]
mod live_tests;
