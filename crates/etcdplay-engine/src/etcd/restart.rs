//! `etcd_member_restart`: restarts one member after checking that the rest of the cluster is
//! healthy (never two members down at once), then waits for the cluster to be healthy again.

use serde_json::{Map, Value};

use super::HostActionCtx;
use crate::error::TaskError;

pub(crate) async fn run(ctx: &HostActionCtx<'_>, _args: &Map<String, Value>) -> Result<Value, TaskError> {
    Err(TaskError::Invalid(format!("{}: etcd_member_restart is not available in this build yet", ctx.origin)))
}
