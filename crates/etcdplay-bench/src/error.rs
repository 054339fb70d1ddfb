//! Errors of the benchmark lab tool: bad command lines and failures of the lab itself.

use std::path::PathBuf;

/// Everything the benchmark lab tool can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The command line was not understood.
    #[error("usage: {0}")]
    Usage(String),
    /// A host count that is not a number in the lab's range.
    #[error("invalid host count {got:?}: {reason}")]
    Count { got: String, reason: String },
    /// Bringing the lab up or down failed.
    #[error("lab: {0}")]
    Lab(#[from] etcdplay_lab::LabError),
    /// Writing an inventory failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}
