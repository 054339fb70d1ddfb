//! Why the etcd layer's actions fail on a host. Each error keeps its cause as its source, and
//! its message is what the operator sees on the failed (or unreachable) host.

use etcdplay_engine::ExtensionError;
use etcdplay_etcd::ClientError;
use etcdplay_pki::PkiError;
use etcdplay_transport::TransportError;

/// Why an etcd action could not be carried out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ActionError {
    /// A missing or malformed argument of the task written at `origin`.
    #[error("{origin}: {problem}")]
    Argument { origin: String, problem: String },
    /// The cluster refused a call or did not answer it.
    #[error("{origin}: {source}")]
    Cluster {
        origin: String,
        #[source]
        source: ClientError,
    },
    /// The certificates on the control node.
    #[error("{origin}: {source}")]
    Pki {
        origin: String,
        #[source]
        source: PkiError,
    },
    /// A TLS file the task names could not be read on the control node.
    #[error("{origin}: cannot read {path}: {problem}")]
    ReadFile {
        origin: String,
        path: String,
        #[source]
        problem: etcdplay_source::ReadProblem,
    },
    /// A `service` argument that is no systemd unit name (it goes into a command line).
    #[error("{origin}: {source}")]
    UnitName {
        origin: String,
        #[source]
        source: BadUnitName,
    },
    /// The etcd unit on the host could not be read.
    #[error("{origin}: {host}: {source}")]
    Unit {
        origin: String,
        host: String,
        #[source]
        source: Box<crate::guard::unit::UnitError>,
    },
    /// A snapshot could not be taken, verified or kept.
    #[error("{origin}: {source}")]
    Backup {
        origin: String,
        #[source]
        source: Box<crate::backup::BackupError>,
    },
    /// The host did not answer: reported UNREACHABLE.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl ActionError {
    /// The task's argument at `origin` is missing or malformed: `problem` says how.
    pub(crate) fn argument(origin: &str, problem: impl Into<String>) -> Self {
        ActionError::Argument {
            origin: origin.to_string(),
            problem: problem.into(),
        }
    }

    /// A call to the cluster failed.
    pub(crate) fn cluster(origin: &str) -> impl FnOnce(ClientError) -> Self + '_ {
        move |source| ActionError::Cluster {
            origin: origin.to_string(),
            source,
        }
    }

    /// The PKI directory could not be read or written.
    pub(crate) fn pki(origin: &str) -> impl FnOnce(PkiError) -> Self + '_ {
        move |source| ActionError::Pki {
            origin: origin.to_string(),
            source,
        }
    }
}

/// A word that is not safe as a systemd unit name on a command line.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not a systemd unit name")]
pub(crate) struct BadUnitName(pub(crate) String);

impl From<ActionError> for ExtensionError {
    fn from(e: ActionError) -> Self {
        match e {
            ActionError::Transport(_) => ExtensionError::Unreachable(Box::new(e)),
            ActionError::Unit { ref source, .. }
                if matches!(**source, crate::guard::unit::UnitError::Probe(_)) =>
            {
                ExtensionError::Unreachable(Box::new(e))
            }
            _ => ExtensionError::Failed(Box::new(e)),
        }
    }
}
