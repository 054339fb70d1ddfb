//! The error type of the crate: every failure names the file, directory or host it concerns,
//! and none of them ever carries private key material (only paths, modes and fixed reasons).

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while creating, loading or issuing certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file system operation failed.
    #[error("cannot {op} {}: {source}", .path.display())]
    Io {
        /// What was being done ("read", "write", "rename", ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A certificate or key file that is not a regular file, is too large, or cannot be read.
    #[error("cannot read {}: {problem}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (never its content).
        problem: etcdplay_source::ReadProblem,
    },

    /// The PKI directory exists but cannot be listed.
    #[error("PKI directory {} cannot be read: {source}", .path.display())]
    DirUnreadable {
        /// The directory.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: io::Error,
    },

    /// The PKI path exists but is not a directory.
    #[error("PKI path {} exists but is not a directory", .path.display())]
    NotADirectory {
        /// The offending path.
        path: PathBuf,
    },

    /// The PKI directory is open to group or others although it holds private keys.
    #[error(
        "PKI directory {} is accessible by group or others (mode {mode:04o}); it holds private keys: run `chmod 700 {}`",
        .path.display(), .path.display()
    )]
    InsecureDir {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// A private key file or the PKI directory belongs to another user, who could replace
    /// what etcdplay trusts.
    #[error(
        "refusing to use {}: it belongs to uid {owner}, not to the user running etcdplay (uid {me})",
        .path.display()
    )]
    ForeignOwner {
        /// The file or directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid of this process.
        me: u32,
    },

    /// A private key file is readable or writable by group or others.
    #[error(
        "refusing to use private key {}: it is readable or writable by group or others (mode {mode:04o}); run `chmod 600 {}`",
        .path.display(), .path.display()
    )]
    InsecureKey {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// Only one half of a CA (certificate or key) is present; creating a new CA would
    /// silently replace a user's CA, so this is refused.
    #[error(
        "incomplete CA: {} exists but {} is missing; provide both files or remove the first one to let etcdplay create a CA",
        .present.display(), .missing.display()
    )]
    IncompleteCa {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },

    /// A certificate file cannot be used (unparsable, or not a CA where one is needed).
    #[error("certificate {}: {reason}", .path.display())]
    BadCert {
        /// The certificate file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The CA certificate has expired; nothing it signs would be accepted.
    #[error(
        "CA certificate {} expired on {not_after}; replace ca.pem and ca-key.pem (or remove both to let etcdplay create a new CA, which re-issues every certificate)",
        .path.display()
    )]
    CaExpired {
        /// The CA certificate.
        path: PathBuf,
        /// When it expired.
        not_after: time::OffsetDateTime,
    },

    /// A private key file cannot be loaded. The reason is a fixed text, never key bytes.
    #[error("cannot load private key {}: {reason}", .path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The CA key does not belong to the CA certificate.
    #[error("CA key {} does not match the public key of CA certificate {}", .key.display(), .cert.display())]
    CaKeyMismatch {
        /// The CA certificate.
        cert: PathBuf,
        /// The CA key.
        key: PathBuf,
    },

    /// A member or client certificate was requested before `ensure_ca`.
    #[error("no CA loaded: call ensure_ca before issuing certificates")]
    CaNotLoaded,

    /// A member name cannot be used as a file name or would collide with another file.
    #[error("host {name:?}: cannot be used as a certificate name: {reason}")]
    InvalidName {
        /// The inventory hostname.
        name: String,
        /// Why not.
        reason: &'static str,
    },

    /// A subject alternative name is neither an IP address nor a valid DNS name.
    #[error("host {host}: subject alternative name {value:?} is not an IP address or DNS name: {reason}")]
    InvalidSan {
        /// The inventory hostname the SAN was wanted for.
        host: String,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The options contradict each other.
    #[error("invalid certificate options: {reason}")]
    InvalidOptions {
        /// What is wrong.
        reason: String,
    },

    /// A CA rotation step cannot run in the state recorded on the control node.
    #[error("CA rotation ({}): {reason}", .state.display())]
    Rotation {
        /// The rotation's state file.
        state: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// Certificate generation or signing failed.
    #[error("cannot issue {what}: {reason}")]
    Issue {
        /// Which certificate ("CA", "member etcd1", "client").
        what: String,
        /// The reason reported by the generator.
        reason: String,
    },
}

impl PkiError {
    /// Builds a [`PkiError::Read`] from the error of reading a file whole.
    pub(crate) fn read(e: etcdplay_source::ReadFileError) -> Self {
        Self::Read {
            path: e.path,
            problem: e.problem,
        }
    }

    /// Builds an [`PkiError::Io`] from an operation, a path and an I/O error.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Builds an [`PkiError::Issue`] from an rcgen error. rcgen's messages name the failing
    /// step, never key bytes, so its `Display` is safe to carry.
    pub(crate) fn issue(what: impl Into<String>, err: &rcgen::Error) -> Self {
        Self::Issue {
            what: what.into(),
            reason: err.to_string(),
        }
    }
}
