//! The crate's errors. Loading reports [`etcdplay_source::Diagnostics`] (every problem, each at
//! `file:line:col`); selecting hosts reports a [`PatternError`], which the CLI maps to exit codes
//! (a pattern that matches nothing is Ansible's "Could not match supplied host pattern").

/// Any failure of this crate, for callers that want one type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// The sources could not be read; every problem, each at `file:line:col`.
    #[error("{0}")]
    Load(#[from] etcdplay_source::Diagnostics),
    #[error(transparent)]
    Pattern(#[from] PatternError),
}

/// Why a host pattern or `--limit` could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The pattern (after any `--limit`) selects no host.
    #[error("Could not match supplied host pattern: {pattern}")]
    NoMatch { pattern: String },
    /// Hosts matched the pattern but none of them is inside the `--limit`.
    #[error("Specified inventory, host pattern and/or --limit leaves us with no hosts to target (pattern: {pattern}, limit: {limit})")]
    NoneWithinLimit { pattern: String, limit: String },
    /// A `~regex` part does not compile.
    #[error("Invalid host list pattern: {pattern}: {message}")]
    BadRegex { pattern: String, message: String },
    /// `group[5]` when the group has fewer hosts.
    #[error("No hosts matched the subscripted pattern '{pattern}'")]
    BadSubscript { pattern: String },
    /// `--limit @file` naming a file that cannot be read.
    #[error("{path}: cannot read limit file: {message}")]
    LimitFile { path: String, message: String },
}
