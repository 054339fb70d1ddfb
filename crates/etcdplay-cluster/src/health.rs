//! `etcd_health`: waits, from the control node, until every member of the cluster answers
//! healthy and there is one leader.

use std::time::Duration;

use etcdplay_etcd::{cluster_problems, render_status_table, EndpointStatus};
use serde_json::{json, Map, Value};

use crate::args::{client_from_args, wait_from_args};
use crate::error::ActionError;
use etcdplay_engine::RunContext;

/// How long `etcd_health` waits by default for the whole cluster.
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(120);

/// Runs the action: polls until healthy or `timeout` seconds pass.
pub(crate) async fn run(
    run: &dyn RunContext,
    args: &Map<String, Value>,
    origin: &str,
) -> Result<Value, ActionError> {
    let client = client_from_args(args, origin)?;
    let wait = wait_from_args(args, DEFAULT_WAIT, origin)?;
    if run.options().check {
        // Check mode changes nothing, but reading the cluster's state is harmless and useful.
        let statuses = client.endpoint_status().await;
        return Ok(result(&statuses, cluster_problems(&statuses)));
    }
    match client.wait_healthy(wait).await {
        Ok(statuses) => Ok(result(&statuses, Vec::new())),
        Err(etcdplay_etcd::ClientError::NotHealthy { problems, last, .. }) => {
            let mut out = result(&last, problems);
            out["msg"] = Value::String(format!(
                "etcd cluster not healthy after {}s: {}",
                wait.as_secs(),
                out["problems"]
                    .as_array()
                    .map(|p| p
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; "))
                    .unwrap_or_default()
            ));
            Ok(out)
        }
        Err(e) => Err(ActionError::cluster(origin)(e)),
    }
}

/// The task result: one entry per endpoint, the status table, and `failed` when not ok.
fn result(statuses: &[EndpointStatus], problems: Vec<String>) -> Value {
    let members: Vec<Value> = statuses
        .iter()
        .map(|s| {
            json!({
                "endpoint": s.endpoint,
                "name": s.name,
                "id": s.member_id_hex(),
                "healthy": s.healthy,
                "leader": s.is_leader,
                "learner": s.is_learner,
                "version": s.version,
                "error": s.error,
            })
        })
        .collect();
    let failed = !problems.is_empty();
    let msg = if failed {
        problems.join("; ")
    } else {
        format!("{} members healthy", statuses.len())
    };
    json!({
        "changed": false,
        "failed": failed,
        "members": members,
        "problems": problems,
        "table": render_status_table(statuses),
        "msg": msg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unhealthy_result_is_failed_and_names_the_member() {
        let down = EndpointStatus {
            name: Some("lab1".into()),
            ..EndpointStatus::failed("https://10.0.0.1:2379", "connection refused".into())
        };
        let out = result(
            std::slice::from_ref(&down),
            cluster_problems(std::slice::from_ref(&down)),
        );
        assert_eq!(out["failed"], json!(true));
        assert!(out["msg"].as_str().unwrap().contains("lab1"), "{out}");
    }
}
