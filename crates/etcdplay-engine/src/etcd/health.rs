//! `etcd_health`: waits, from the control node, until every member of the cluster answers
//! healthy and there is one leader.

use serde_json::{Map, Value};

use crate::error::TaskError;
use crate::play::PlayRun;

pub(crate) async fn run(_run: &PlayRun<'_>, _args: &Map<String, Value>, origin: &str) -> Result<Value, TaskError> {
    Err(TaskError::Invalid(format!("{origin}: etcd_health is not available in this build yet")))
}
