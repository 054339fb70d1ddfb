//! The runner's side of the extension seam: [`RunContext`] for a play run and [`TaskContext`]
//! for one of its tasks, each answer given by the runner's own function (so the extension and
//! the task can never disagree about a variable, a condition or a target).

use std::sync::Arc;

use async_trait::async_trait;
use etcdplay_playbook::{ModuleCall, Task};
use etcdplay_template::Vars;
use etcdplay_transport::Transport;
use serde_json::{Map, Value};

use super::{RestartHandler, RunContext, TaskContext};
use crate::connect::ConnectTarget;
use crate::error::{ConnectError, ContextError, TaskError};
use crate::options::RunOptions;
use crate::play::PlayRun;
use crate::scope::TaskScope;

#[async_trait]
impl RunContext for PlayRun<'_> {
    fn options(&self) -> &RunOptions {
        &self.engine.options
    }

    fn render(&self, text: &str, origin: &str, vars: &Vars) -> Result<String, ContextError> {
        self.engine
            .templar
            .render_string(text, origin, vars)
            .map_err(|e| ContextError::new(TaskError::from(e)))
    }

    fn host_vars(&self, host: &str) -> Vars {
        let shared = &self.engine.shared;
        shared.vars_for(host, &shared.host_layers(host))
    }

    fn facts(&self, host: &str) -> Map<String, Value> {
        self.engine.shared.memory(host).facts.as_ref().clone()
    }

    fn warning(&self, message: &str) {
        self.engine.reporter.warning(message);
    }

    async fn transport(&self, target: &ConnectTarget) -> Result<Arc<dyn Transport>, ConnectError> {
        self.engine.pool.get(target).await
    }
}

/// One module task of a play run, with the scope it runs in.
pub(crate) struct PlayTask<'r> {
    pub(crate) run: &'r PlayRun<'r>,
    pub(crate) task: &'r Task,
    pub(crate) call: &'r ModuleCall,
    pub(crate) scope: &'r TaskScope,
}

impl TaskContext for PlayTask<'_> {
    fn run(&self) -> &dyn RunContext {
        self.run
    }

    fn task(&self) -> &Task {
        self.task
    }

    fn call(&self) -> &ModuleCall {
        self.call
    }

    fn vars(&self, host: &str) -> Vars {
        self.run.task_vars(host, self.scope, Some(self.task))
    }

    fn conditions_hold(&self, vars: &Vars) -> Result<bool, ContextError> {
        self.run
            .conditions_hold(self.task, self.scope, vars)
            .map_err(ContextError::new)
    }

    fn module_args(&self, vars: &Vars) -> Result<Map<String, Value>, ContextError> {
        let origin = self.call.args_origin.to_string();
        let mut args = self
            .run
            .module_args(self.call, vars, &origin)
            .map_err(ContextError::new)?;
        // The arguments the task will run with, `module_defaults` included (a unit named
        // only there must still be checked by the data-dir guard).
        self.run
            .apply_module_defaults(
                self.task,
                self.scope,
                &self.call.name,
                &mut args,
                vars,
                &origin,
            )
            .map_err(ContextError::new)?;
        Ok(args)
    }

    fn delegate_to(&self, vars: &Vars) -> Result<Option<String>, ContextError> {
        self.run
            .delegate_of(self.task, self.scope, vars)
            .map_err(ContextError::new)
    }

    fn target(
        &self,
        host: &str,
        vars: &Vars,
        delegate: Option<&str>,
    ) -> Result<ConnectTarget, ContextError> {
        self.run
            .target(host, self.task, vars, delegate)
            .map_err(ContextError::new)
    }

    fn restart_handlers(&self, host: &str, unit: &str) -> Vec<RestartHandler> {
        self.run.restart_handlers(host, unit)
    }

    fn pending_notifications(&self, host: &str) -> Vec<String> {
        self.run.notified_for(host)
    }

    fn notify(&self, host: &str, names: Vec<String>) {
        self.run.add_notifications(host, names);
    }
}
