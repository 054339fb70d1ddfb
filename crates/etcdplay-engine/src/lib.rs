//! The engine runs a parsed playbook against an inventory: plays × hosts, in parallel up to
//! `--forks`, task by task (linear) or host by host (free), with handlers, blocks, loops, check
//! and diff modes. It owns no terminal: everything it has to say goes to a [`Reporter`].

mod builtin;
mod checksums;
mod connect;
mod control;
mod engine;
mod environment;
mod error;
mod events;
mod extension;
mod import_names;
mod include_vars;
mod inventory;
mod loops;
mod module_defaults;
mod options;
mod play;
mod precheck;
mod read_ahead;
mod reboot;
mod redundant_restart;
mod release;
mod scope;
mod start_at;
mod state;
mod synchronize;
mod tags;
mod task;
mod varsfile;

pub use connect::{ConnectTarget, ConnectionKind, ConnectionUsage, Connector, LocalConnector};
pub use engine::Engine;
pub use error::{ConnectError, ContextError, EngineError};
pub use events::{
    AsyncEvent, AsyncEventKind, HostEvent, HostStats, HostStatus, Reporter, Stats, TaskKindLabel,
    TimingEntry,
};
pub use extension::{
    EngineExtension, ExtensionError, HostAction, Preflight, RestartHandler, RunContext, TaskContext,
};
pub use import_names::ImportNameRenderer;
pub use inventory::{InventoryChange, InventoryView, PatternError};
pub use options::{ConnectionDefaults, Gathering, LeftoverMembership, RunOptions};
pub use precheck::playbook_warnings;
pub use tags::should_run as tags_select;
