//! Errors of the module layer. A module *failing* on a host (a command exiting non-zero, a file
//! that must exist but does not) is not an error: it is a [`crate::ModuleResult`] with
//! `failed: true`, as in Ansible. A [`ModuleError`] means the task could not be carried out at all:
//! bad arguments (caught before any host is touched), an unreachable host, a control-node file
//! that cannot be read, or a host answering something the module cannot make sense of.

use etcdplay_transport::TransportError;

/// Why a module could not run. The engine adds the task and its source location.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The module name is not one etcdplay knows.
    #[error("unknown module '{name}'{}", suggestion_text(.suggestion))]
    UnknownModule {
        name: String,
        suggestion: Option<String>,
    },
    /// An argument the module does not accept (typo or unsupported option).
    #[error("unknown argument '{arg}' for module {module}{}", suggestion_text(.suggestion))]
    UnknownArgument {
        module: String,
        arg: String,
        suggestion: Option<String>,
    },
    /// A required argument is absent.
    #[error("module {module}: missing required argument '{arg}'")]
    MissingArgument { module: String, arg: String },
    /// An argument has a value the module cannot use (wrong type, bad mode string, bad regex...).
    #[error("module {module}: argument '{arg}': {message}")]
    BadArgument {
        module: String,
        arg: String,
        message: String,
    },
    /// The module exists in the registry but this crate does not implement it (engine-level
    /// modules such as `debug` or `set_fact` are run by the engine itself).
    #[error("module {module} is not executed by etcdplay-modules (it is handled by the engine or not implemented)")]
    NotImplemented { module: String },
    /// A file on the control node (role `files/`, a template, a fetch destination) failed.
    #[error("control node: {path}: {message}")]
    Control { path: String, message: String },
    /// The host answered something the module could not parse.
    #[error("{host}: module {module}: unexpected answer from host: {message}")]
    Protocol {
        host: String,
        module: String,
        message: String,
    },
    /// The transport failed (unreachable host, become needs a password, upload failed).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Any of the above, with the task and its source location (added by the engine through
    /// [`ModuleError::in_task`]).
    #[error("{location}: task '{task}' on {host}: {error}")]
    InTask {
        location: String,
        task: String,
        host: String,
        error: Box<ModuleError>,
    },
}

fn suggestion_text(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(", did you mean '{s}'?"),
        None => String::new(),
    }
}

impl ModuleError {
    /// Whether the host should be reported UNREACHABLE rather than FAILED.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ModuleError::InTask { error, .. } => error.is_unreachable(),
            other => matches!(
                other,
                ModuleError::Transport(TransportError::Unreachable { .. })
            ),
        }
    }

    /// Wraps the error with the task name, its `file:line:col` and the host it ran on.
    pub fn in_task(
        self,
        location: impl Into<String>,
        task: impl Into<String>,
        host: impl Into<String>,
    ) -> Self {
        ModuleError::InTask {
            location: location.into(),
            task: task.into(),
            host: host.into(),
            error: Box::new(self),
        }
    }

    pub(crate) fn bad(module: &str, arg: &str, message: impl Into<String>) -> Self {
        ModuleError::BadArgument {
            module: module.to_string(),
            arg: arg.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn missing(module: &str, arg: &str) -> Self {
        ModuleError::MissingArgument {
            module: module.to_string(),
            arg: arg.to_string(),
        }
    }

    pub(crate) fn protocol(host: &str, module: &str, message: impl Into<String>) -> Self {
        ModuleError::Protocol {
            host: host.to_string(),
            module: module.to_string(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_context_wraps_and_keeps_unreachable() {
        let e = ModuleError::missing("copy", "dest").in_task(
            "site.yml:12:5",
            "install config",
            "etcd-1",
        );
        assert_eq!(e.to_string(), "site.yml:12:5: task 'install config' on etcd-1: module copy: missing required argument 'dest'");
        let u = ModuleError::from(TransportError::Unreachable {
            host: "etcd-1".into(),
            reason: "timeout".into(),
        })
        .in_task("a.yml:1:1", "t", "etcd-1");
        assert!(u.is_unreachable());
    }
}
