//! Errors of the lab. Each variant names what it concerns (the host, the path, the command) so
//! that `etcdplay lab` can print it as one line and a test failure says where to look.

use std::path::PathBuf;

/// Why the lab could not be brought up, inspected or taken down.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The requested number of hosts does not fit the lab's /24 (1..=100).
    #[error("lab size must be between 1 and {max} hosts, got {got}")]
    InvalidCount { got: u64, max: u8 },
    /// The lab manipulates namespaces, bridges and containers: only root may do that.
    #[error("root privileges required (network namespaces, a bridge, systemd-nspawn): run it as root or with sudo")]
    NotRoot,
    /// Commands the lab runs are missing; each entry is `command (package)`.
    #[error("missing {}: install with `apt-get install {}`", .missing.join(", "), .packages.join(" "))]
    MissingTools {
        missing: Vec<String>,
        packages: Vec<String>,
    },
    /// No Debian mirror could be read from the apt configuration.
    #[error("no Debian mirror found in {}: expected a `URIs:` line or a `deb URL ...` line", .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" or "))]
    NoMirror { searched: Vec<PathBuf> },
    /// A command the lab ran exited with failure.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    /// A file or directory operation failed.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A host's container exited or never started answering SSH; carries the tail of its log.
    #[error("{host} ({ip}): {reason}; last lines of {}:\n{log_tail}", .log.display())]
    HostFailed {
        host: String,
        ip: String,
        reason: String,
        log: PathBuf,
        log_tail: String,
    },
    /// A lab configuration whose names would not fit the system's limits.
    #[error("cannot raise {name} to {want} for the lab's hosts ({source}): run `sysctl -w {name}={want}` as root")]
    Limit {
        name: String,
        want: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("bad lab configuration: {reason}")]
    BadConfig { reason: String },
    /// The base image is present but lacks something the lab relies on.
    #[error("base image {}: {reason}", .path.display())]
    BadBase { path: PathBuf, reason: String },
}

impl LabError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LabError {
        let path = path.into();
        move |source| LabError::Io { path, source }
    }
}
