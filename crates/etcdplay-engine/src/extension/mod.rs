//! The engine's extension seam: how a layer above the engine adds actions and checks to plays
//! without the runner knowing what they are about. etcdplay's etcd layer (`etcdplay-cluster`)
//! plugs in here; the runner itself names nothing of etcd.
//!
//! An [`EngineExtension`] is asked at fixed points of a run:
//!
//! - before a module task starts on its hosts ([`EngineExtension::preflight`]): it may stop
//!   the task on every host (each host gets the extension's event) or let it run, and may
//!   notify handlers on the way;
//! - for an action the engine does not run itself: on the control node
//!   ([`EngineExtension::control_action`]) or with a host's transport
//!   ([`EngineExtension::host_action`]), before any host module is tried;
//! - when the read-ahead plans a task's probes ([`EngineExtension::read_ahead_probes`]): the
//!   requests its preflight will send first, so they travel in the same round trip;
//! - when the runner decides which unit a handler restarts
//!   ([`EngineExtension::restarted_unit`]), for its own restart actions.
//!
//! What the extension may see of the run goes through two narrow traits, [`RunContext`] (the
//! run: options, templating, host variables and facts, connections, warnings) and
//! [`TaskContext`] (one task: its variables, conditions, arguments and target as the runner
//! works them out, and the play's handlers). They expose the runner's own functions, so an
//! extension never repeats the runner's rules, and a test can put a fake behind them.

mod context;

use std::sync::Arc;

use async_trait::async_trait;
use etcdplay_playbook::{ModuleCall, Task};
use etcdplay_template::Vars;
use etcdplay_transport::{Become, ExecRequest, Transport};
use serde_json::{Map, Value};

use crate::connect::ConnectTarget;
use crate::error::{ConnectError, ContextError};
use crate::events::HostEvent;
use crate::options::RunOptions;

pub(crate) use context::PlayTask;

/// Something that adds actions and checks to the engine (see the module notes). Every method
/// has a default that does nothing, so an extension implements only what it needs.
#[async_trait]
pub trait EngineExtension: Send + Sync {
    /// Runs `name` if it is an action of this extension that works on the control node only
    /// (no connection is opened for it); `None` when `name` is not such an action. `args` are
    /// templated; `origin` is where the task's arguments are written, for messages.
    async fn control_action(
        &self,
        _ctx: &dyn RunContext,
        _name: &str,
        _args: &Map<String, Value>,
        _origin: &str,
    ) -> Option<Result<Value, ExtensionError>> {
        None
    }

    /// Runs `name` if it is an action of this extension that needs the host's transport;
    /// `None` lets the engine run it as a host module.
    async fn host_action(
        &self,
        _ctx: &HostAction<'_>,
        _name: &str,
        _args: &Map<String, Value>,
    ) -> Option<Result<Value, ExtensionError>> {
        None
    }

    /// Called before a module task (or handler) starts on `hosts`, the hosts still in the play
    /// that the task is about to run on. [`Preflight::Stop`] fails the task on every one of
    /// them with the given events, and the task does not run anywhere.
    async fn preflight(&self, _ctx: &dyn TaskContext, _hosts: &[String]) -> Preflight {
        Preflight::Proceed
    }

    /// The requests [`EngineExtension::preflight`] would send first through `target` for a
    /// task running `action` with (templated) `args`, so that the read-ahead sends them with
    /// the module's own probe. They must only read.
    fn read_ahead_probes(
        &self,
        _action: &str,
        _args: &Map<String, Value>,
        _target: &ConnectTarget,
    ) -> Vec<ExecRequest> {
        Vec::new()
    }

    /// The unit a handler running this extension's `action` with (templated) `args` restarts,
    /// for the runner's restart bookkeeping (`redundant_restart.rs`); `None` when it restarts
    /// nothing or the action is not this extension's.
    fn restarted_unit(&self, _action: &str, _args: &Map<String, Value>) -> Option<String> {
        None
    }
}

/// The extension of an engine built without one.
#[derive(Debug, Default)]
pub(crate) struct NoExtension;

impl EngineExtension for NoExtension {}

/// What [`EngineExtension::preflight`] decided.
#[derive(Debug)]
pub enum Preflight {
    /// The task runs as usual.
    Proceed,
    /// The task runs on no host: one event per host (its status must be failed), reported
    /// and counted by the runner.
    Stop(Vec<HostEvent>),
}

/// What a host action gets: the host, its transport and the task's settings.
pub struct HostAction<'a> {
    /// The inventory name of the host the task runs for.
    pub host: &'a str,
    /// The connection to where the task runs (the host, or its `delegate_to`).
    pub transport: &'a dyn Transport,
    /// The task's `become`, as the runner decided it.
    pub become_: Option<&'a Become>,
    /// The task's check mode (its `check_mode`, else `--check`).
    pub check: bool,
    /// Where the task's arguments are written, for messages.
    pub origin: &'a str,
}

/// A handler of the play that restarts a given unit on a given host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartHandler {
    /// What to notify it by: its name, else its first `listen` topic.
    pub notify: String,
    /// Every name it answers to (name and `listen` topics).
    pub answers_to: Vec<String>,
    /// Its action (module) name, canonical (`systemd`, or an extension's action).
    pub action: String,
}

/// The run as an extension sees it.
#[async_trait]
pub trait RunContext: Send + Sync {
    /// The run's options (`--check`, `--leftover-membership`, the inventory directory, ...).
    fn options(&self) -> &RunOptions;

    /// Renders `text` as a template with `vars`; `origin` names where it comes from.
    fn render(&self, text: &str, origin: &str, vars: &Vars) -> Result<String, ContextError>;

    /// A host's variables outside any task: inventory, facts, `set_fact`, extra vars.
    fn host_vars(&self, host: &str) -> Vars;

    /// The facts gathered on `host` so far (`ansible_default_ipv4`, ...).
    fn facts(&self, host: &str) -> Map<String, Value>;

    /// Reports a warning (shown as `[WARNING]: ...`).
    fn warning(&self, message: &str);

    /// The run's connection to `target` (opened once per run and shared with the tasks).
    async fn transport(&self, target: &ConnectTarget) -> Result<Arc<dyn Transport>, ConnectError>;
}

/// One module task about to run, as [`EngineExtension::preflight`] sees it. Every answer is the
/// runner's own: the same variables, conditions, arguments and target the task will use.
pub trait TaskContext: Send + Sync {
    /// The run this task belongs to.
    fn run(&self) -> &dyn RunContext;

    /// The task as the playbook wrote it.
    fn task(&self) -> &Task;

    /// Its module call (name and untemplated arguments).
    fn call(&self) -> &ModuleCall;

    /// The task's variables on `host` (host, play, role, block and task layers).
    fn vars(&self, host: &str) -> Vars;

    /// Whether every inherited and own `when:` holds with `vars`.
    fn conditions_hold(&self, vars: &Vars) -> Result<bool, ContextError>;

    /// The module's arguments templated with `vars`.
    fn module_args(&self, vars: &Vars) -> Result<Map<String, Value>, ContextError>;

    /// The task's `delegate_to` (own or inherited) rendered with `vars`, if it has one.
    fn delegate_to(&self, vars: &Vars) -> Result<Option<String>, ContextError>;

    /// Where the task reaches `host` (with `vars`), or `delegate` when it is delegated.
    fn target(
        &self,
        host: &str,
        vars: &Vars,
        delegate: Option<&str>,
    ) -> Result<ConnectTarget, ContextError>;

    /// The play's handlers that restart `unit` on `host`, in play order.
    fn restart_handlers(&self, host: &str, unit: &str) -> Vec<RestartHandler>;

    /// Handler names and topics notified on `host` and not run yet.
    fn pending_notifications(&self, host: &str) -> Vec<String>;

    /// Notifies handlers on `host`, as a changed task's `notify:` would.
    fn notify(&self, host: &str, names: Vec<String>);
}

/// Why an extension's action failed on a host.
#[derive(Debug, thiserror::Error)]
pub enum ExtensionError {
    /// The host could not be reached: it is reported UNREACHABLE.
    #[error(transparent)]
    Unreachable(Box<dyn std::error::Error + Send + Sync>),
    /// The action could not be carried out: the host's task is FAILED with this message.
    #[error(transparent)]
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl ExtensionError {
    /// Whether the host is to be reported unreachable rather than failed.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ExtensionError::Unreachable(_))
    }
}
