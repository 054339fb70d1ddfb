//! Why an etcd action failed on a host.

use etcdplay_transport::TransportError;

use etcdplay_engine::ExtensionError;

/// Why an etcd action could not be carried out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ActionError {
    /// Its arguments or the cluster's answers do not allow it.
    #[error("{0}")]
    Invalid(String),
    /// The host did not answer: reported UNREACHABLE.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl From<ActionError> for ExtensionError {
    fn from(e: ActionError) -> Self {
        match e {
            ActionError::Transport(_) => ExtensionError::Unreachable(Box::new(e)),
            ActionError::Invalid(_) => ExtensionError::Failed(Box::new(e)),
        }
    }
}
