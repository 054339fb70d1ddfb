//! Errors of the transport layer. `Unreachable` is special: the engine reports the host as
//! UNREACHABLE (exit 3) rather than FAILED.

/// Why a request could not be carried out on a host.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The host could not be reached or the connection broke; carries the reason.
    #[error("{host}: unreachable: {reason}")]
    Unreachable { host: String, reason: String },
    /// `become` would need a password (`sudo -n` refused).
    #[error("{host}: become to {user} needs a password (sudo -n refused): {detail}")]
    BecomeNeedsPassword {
        host: String,
        user: String,
        detail: String,
    },
    /// A file operation on the host failed.
    #[error("{host}: {path}: {message}")]
    File {
        host: String,
        path: String,
        message: String,
    },
    /// A local I/O error (local transport, spawning ssh).
    #[error("{host}: {source}")]
    Io {
        host: String,
        #[source]
        source: std::io::Error,
    },
}
