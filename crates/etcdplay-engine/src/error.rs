//! Errors of the engine. Most problems on a host are not errors of the run: they become a
//! FAILED or UNREACHABLE host and the run goes on. [`EngineError`] is for what stops a run before
//! or outside any host (a bad host pattern, a `--limit` that matches nothing).

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A play's `hosts:` or `--limit` is not a valid pattern.
    #[error("{origin}: bad host pattern '{pattern}': {reason}")]
    BadPattern {
        origin: String,
        pattern: String,
        #[source]
        reason: crate::inventory::PatternError,
    },
    /// `--limit` left no host to run on.
    #[error("--limit '{limit}': no hosts matched")]
    LimitMatchesNothing { limit: String },
}

/// Why a host could not be connected to. The pool remembers it for the rest of the run, so
/// later tasks on that host fail at once instead of waiting for the connect timeout again.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct ConnectError(std::sync::Arc<etcdplay_transport::TransportError>);

impl From<etcdplay_transport::TransportError> for ConnectError {
    fn from(source: etcdplay_transport::TransportError) -> Self {
        ConnectError(std::sync::Arc::new(source))
    }
}

/// Why the runner could not work something out for an extension (a template that does not
/// render, a condition that does not evaluate, an unknown `delegate_to`): the task reports the
/// same error when it runs.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ContextError(TaskError);

impl ContextError {
    pub(crate) fn new(source: TaskError) -> Self {
        ContextError(source)
    }
}

/// Why one task could not be carried out on one host; reported as that host's failure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TaskError {
    #[error("{0}")]
    Template(#[from] etcdplay_template::TemplateError),
    #[error("{0}")]
    Module(#[from] etcdplay_modules::ModuleError),
    /// The host (or its `delegate_to`) could not be connected to.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// An action of the engine's extension failed (see `extension.rs`).
    #[error(transparent)]
    Extension(#[from] crate::extension::ExtensionError),
    #[error("{0}")]
    Invalid(String),
    /// A `become_method` etcdplay does not implement: refused by name rather than run with sudo.
    #[error("{origin}: become_method '{method}' is not supported by etcdplay (sudo or su)")]
    BecomeMethod { origin: String, method: String },
    /// A dynamic include that would nest deeper than the engine allows: nearly always a file or
    /// role that includes itself (directly, or through templated names) with nothing to stop it.
    #[error(
        "{at}: {action} `{target}`: dynamic includes nested deeper than {limit} levels (does \
         it include itself with no condition that stops it?); include chain: {chain}"
    )]
    IncludeTooDeep {
        at: String,
        action: String,
        target: String,
        limit: usize,
        chain: String,
    },
    /// Blocks, imports, includes and roles nested deeper than the engine allows.
    #[error("{at}: blocks, imports, includes and roles nested deeper than {limit} levels{chain}")]
    NestedTooDeep {
        at: String,
        limit: usize,
        /// `; include chain: ...`, or empty when no dynamic include led here.
        chain: String,
    },
}

impl TaskError {
    /// A template named a variable that is not defined.
    pub(crate) fn is_undefined(&self) -> bool {
        matches!(
            self,
            TaskError::Template(etcdplay_template::TemplateError::Undefined { .. })
        )
    }

    pub(crate) fn is_unreachable(&self) -> bool {
        match self {
            TaskError::Connect(_) => true,
            TaskError::Extension(e) => e.is_unreachable(),
            TaskError::Module(m) => m.is_unreachable(),
            _ => false,
        }
    }
}
