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
    /// `become` was refused: su's password was wrong or missing.
    #[error("{host}: become to {user} with {method} failed (Incorrect {method} password or none given): {detail}")]
    BecomeFailed {
        host: String,
        user: String,
        method: String,
        detail: String,
    },
    /// A file operation on the host failed.
    #[error("{host}: {path}: {message}")]
    File {
        host: String,
        path: String,
        message: String,
    },
    /// A request returned more than it may ([`crate::MAX_EXEC_OUTPUT`] per stream of a
    /// command, [`crate::MAX_GET_SIZE`] for a file read with `get`). The output was not kept
    /// (nor read beyond the limit); on the local transport the script was killed. A task
    /// failure, not an unreachable host: the connection is fine.
    #[error(
        "{host}: {what} exceeds {}, the most one request may return; the output was discarded",
        human_size(.limit)
    )]
    OutputTooLarge {
        host: String,
        /// `the command's stdout`, `the command's stderr`, or the path of the file.
        what: String,
        limit: u64,
    },
    /// A local I/O error (local transport, spawning ssh).
    #[error("{host}: {source}")]
    Io {
        host: String,
        #[source]
        source: std::io::Error,
    },
}

/// A `get` is a `cat` of the file: its stdout being too large means the file is.
pub(crate) fn too_large_names_file(e: TransportError, path: &str) -> TransportError {
    match e {
        TransportError::OutputTooLarge { host, limit, .. } => TransportError::OutputTooLarge {
            host,
            what: format!("file {path}"),
            limit,
        },
        other => other,
    }
}

/// `64 MiB`, `8 GiB`: a limit as people write it (bytes when it is not a whole unit).
fn human_size(bytes: &u64) -> String {
    for (shift, name) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if *bytes >> shift > 0 && bytes.trailing_zeros() >= shift {
            return format!("{} {name}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_too_large_names_the_host_what_and_the_limit() {
        let e = TransportError::OutputTooLarge {
            host: "etcd-1".into(),
            what: "the command's stdout".into(),
            limit: 64 << 20,
        };
        assert_eq!(
            e.to_string(),
            "etcd-1: the command's stdout exceeds 64 MiB, the most one request may return; \
             the output was discarded"
        );
        assert_eq!(human_size(&(8 << 30)), "8 GiB");
        assert_eq!(human_size(&1000), "1000 bytes");
    }
}
