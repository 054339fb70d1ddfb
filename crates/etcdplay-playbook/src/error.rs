//! The problems the playbook loader reports. Each variant is one kind of mistake; the loader
//! pairs it with the file, line and column where it was found and collects it into
//! [`etcdplay_source::Diagnostics`], so a playbook with three mistakes reports all three.

use std::fmt;

/// A "did you mean" suffix: empty, or `; did you mean `x`?`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hint(pub Option<String>);

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(s) => write!(f, "; did you mean `{s}`?"),
            None => Ok(()),
        }
    }
}

/// One mistake in a playbook, role or task file (its location is carried alongside).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaybookError {
    #[error("expected {expected}, got {got}")]
    WrongType {
        expected: &'static str,
        got: &'static str,
    },
    #[error("`{key}`: expected {expected}, got {got}")]
    WrongKeyType {
        key: String,
        expected: &'static str,
        got: &'static str,
    },
    #[error("`{key}`: expected a boolean, got `{value}`")]
    NotABool { key: String, value: String },
    #[error("unknown play keyword `{key}`{hint}")]
    UnknownPlayKeyword { key: String, hint: Hint },
    #[error("unknown module or task keyword `{key}`{hint}")]
    UnknownTaskKey { key: String, hint: Hint },
    #[error("`{module}` has no argument `{arg}`{hint}")]
    UnknownArgument {
        module: String,
        arg: String,
        hint: Hint,
    },
    #[error("`{module}` argument `{arg}`: {message}")]
    BadArgumentValue {
        module: String,
        arg: String,
        message: String,
    },
    /// Free-form words given to an action that keeps them as `_raw_params` but does not list
    /// that option (`group_by: some words`): Ansible's words when the task runs.
    #[error("Invalid options for {action}: _raw_params")]
    RawParamsNotAnOption { action: String },
    #[error("`{module}` does not take a free-form argument (`{text}`); write key=value pairs")]
    NoFreeForm { module: String, text: String },
    #[error("conflicting action statements: `{first}`, `{second}`")]
    TwoActions { first: String, second: String },
    #[error("no module or action in this task")]
    NoAction,
    #[error("`{key}` is not valid on a block")]
    NotOnBlock { key: String },
    #[error("`{key}` is not valid on `{action}`")]
    NotOnInclude { key: String, action: String },
    #[error("`{key}` is only valid with `block`")]
    OnlyOnBlock { key: String },
    #[error("`{key}` may be used only once per task (also `{other}`)")]
    TwoLoops { key: String, other: String },
    #[error("unknown loop `{key}`{hint}")]
    UnknownLookup { key: String, hint: Hint },
    #[error("become_method `{method}` is not supported by etcdplay (sudo or su)")]
    UnsupportedBecomeMethod { method: String },
    #[error("the field 'hosts' is required but was not set")]
    MissingHosts,
    #[error("a playbook must be a list of plays, got {got}")]
    NotAPlaybook { got: &'static str },
    #[error("empty playbook")]
    EmptyPlaybook,
    #[error("bad `serial` value `{value}`: expected a positive integer, a percentage like \"30%\" or a template")]
    BadSerial { value: String },
    #[error("bad `max_fail_percentage` value `{value}`: expected a number from 0 to 100")]
    BadMaxFail { value: String },
    #[error("unknown strategy `{value}`{hint} (etcdplay knows `linear` and `free`)")]
    UnknownStrategy { value: String, hint: Hint },
    #[error("unknown `loop_control` key `{key}`{hint}")]
    UnknownLoopControl { key: String, hint: Hint },
    #[error("`{key}` is not a valid variable name")]
    BadVariableName { key: String },
    #[error("k=v arguments: {message}")]
    BadKeyValue { message: String },
    #[error("role `{name}` not found (looked in: {looked_in}){hint}")]
    RoleNotFound {
        name: String,
        looked_in: String,
        hint: Hint,
    },
    #[error("a role entry needs `role:` (or `name:`)")]
    RoleWithoutName,
    #[error("role dependency cycle: {chain}")]
    RoleCycle { chain: String },
    #[error("{what} `{name}` not found (looked in: {looked_in})")]
    FileNotFound {
        what: &'static str,
        name: String,
        looked_in: String,
    },
    #[error("{what} `{name}` cannot be read: {problem}")]
    FileUnreadable {
        what: &'static str,
        name: String,
        /// An `etcdplay_source::ReadProblem`, shown (errors here are compared and cloned).
        problem: String,
    },
    #[error("`{key}` needs a name that is not a template (use `{dynamic}` for templated names)")]
    TemplatedImport { key: String, dynamic: &'static str },
    #[error("etcdplay does not implement the module `{module}`; the task fails if it runs")]
    NotImplemented { module: String },
    #[error("`{module}` is a Python plugin ({file}), which etcdplay does not run; the task fails if it runs")]
    PythonPlugin { module: String, file: String },
    #[error("etcdplay does not implement the lookup `{lookup}`; the task fails if it runs")]
    LookupNotImplemented { lookup: String },
    #[error("`{key}` names its file with variables that are not known before the run ({message}); play vars, vars_files and extra vars are (use `{dynamic}` for others)")]
    ImportNameUnknown {
        key: String,
        message: String,
        dynamic: &'static str,
    },
    #[error("include cycle: `{file}` includes itself (through {chain})")]
    IncludeCycle { file: String, chain: String },
    #[error("includes nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("unknown meta action `{value}`{hint}")]
    UnknownMeta { value: String, hint: Hint },
    #[error("`import_playbook` is only allowed at play level")]
    ImportPlaybookInTasks,
    #[error("`import_playbook` needs a file name that is not a template")]
    TemplatedPlaybook,
    #[error("`{key}` on `import_playbook` is not supported by etcdplay")]
    UnsupportedOnImportPlaybook { key: String },
    #[error("`{key}` cannot be used with `{action}`")]
    NotWithInclude { key: String, action: String },
    #[error("`{action}` needs {arg}")]
    MissingArgument { action: String, arg: String },
    #[error("`{key}` is only valid on a handler")]
    OnlyOnHandler { key: String },
    #[error("`{key}`: a loop needs a list or a template, got {got}")]
    BadLoop { key: String, got: &'static str },
    #[error("`action` needs a module name")]
    ActionWithoutModule,
}
