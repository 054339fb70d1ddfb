//! etcd-specific actions the engine runs: certificates (`etcd_pki`) on the control node, and
//! actions that need both a host's shell and the control node's view of the cluster (health,
//! rolling member restarts, the data-dir scheme check and its automatic guard, and finishing
//! a rolling restart that a killed run left half done). They plug into the runner through the
//! extension seam (`extension/`) only: [`EtcdExtension`] is all the runner gets to see.

pub(crate) mod backup;
pub(crate) mod datadir;
mod error;
pub(crate) mod guard;
pub(crate) mod health;
pub(crate) mod lost_restart;
pub(crate) mod members;
pub(crate) mod migrate;
pub(crate) mod pki;
pub(crate) mod restart;
pub(crate) mod stale;
pub(crate) mod timestamp;
pub(crate) mod unitfile;

use async_trait::async_trait;
use etcdplay_transport::ExecRequest;
use serde_json::{Map, Value};

use crate::extension::{
    EngineExtension, ExtensionError, HostAction, Preflight, RunContext, TaskContext,
};
use crate::ConnectTarget;

/// The etcd layer as an engine extension.
#[derive(Debug, Default)]
pub(crate) struct EtcdExtension;

#[async_trait]
impl EngineExtension for EtcdExtension {
    async fn control_action(
        &self,
        ctx: &dyn RunContext,
        name: &str,
        args: &Map<String, Value>,
        origin: &str,
    ) -> Option<Result<Value, ExtensionError>> {
        let result = match name {
            "etcd_pki" => pki::run(ctx, args, origin),
            "etcd_health" => health::run(ctx, args, origin).await,
            _ => return None,
        };
        Some(result.map_err(ExtensionError::from))
    }

    async fn host_action(
        &self,
        ctx: &HostAction<'_>,
        name: &str,
        args: &Map<String, Value>,
    ) -> Option<Result<Value, ExtensionError>> {
        let result = match name {
            "data_dir_scheme_check" => datadir::run(ctx, args).await,
            "etcd_member_restart" => restart::run(ctx, args).await,
            "etcd_member_join" => members::run(ctx, args).await,
            _ => return None,
        };
        Some(result.map_err(ExtensionError::from))
    }

    async fn preflight(&self, ctx: &dyn TaskContext, hosts: &[String]) -> Preflight {
        guard::preflight(ctx, hosts).await
    }

    fn read_ahead_probes(
        &self,
        action: &str,
        args: &Map<String, Value>,
        target: &ConnectTarget,
    ) -> Vec<ExecRequest> {
        guard::first_probe(action, args, target)
            .into_iter()
            .collect()
    }

    fn restarted_unit(&self, action: &str, args: &Map<String, Value>) -> Option<String> {
        let service = args
            .get("service")
            .and_then(Value::as_str)
            .unwrap_or("etcd");
        (action == "etcd_member_restart").then(|| service.to_string())
    }
}
