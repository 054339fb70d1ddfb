//! `data_dir_scheme_check`: reads an etcd data dir on the host (WAL, `.snap`, bbolt) through
//! the transport and compares the stored membership with the planned peer URLs.

use serde_json::{Map, Value};

use super::HostActionCtx;
use crate::error::TaskError;

pub(crate) async fn run(ctx: &HostActionCtx<'_>, _args: &Map<String, Value>) -> Result<Value, TaskError> {
    Err(TaskError::Invalid(format!("{}: data_dir_scheme_check is not available in this build yet", ctx.origin)))
}
