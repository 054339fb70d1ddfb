//! etcd operations that need the play, plugged into the engine as its extension
//! ([`EtcdExtension`]): the data-dir guard run before a task starts an etcd unit (`guard/`),
//! with `--leftover-membership` migration and reset (`migrate/`) and their verified backups
//! (`backup/`); finishing a rolling restart a killed run left half done (`lost_restart.rs`);
//! the cluster actions of the built-in playbook: `etcd_pki` and `etcd_health` on the
//! control node with the phases of a CA rotation (`etcd_ca_rotation`), `etcd_member_join`, `etcd_member_restart`, `etcd_member_remove` and
//! `data_dir_scheme_check` with a host's transport; and the operations of `etcdplay backup`,
//! `etcdplay restore` and `etcdplay defrag`, and the upgrade guard `etcd_upgrade` (`operate/`). They live here rather than in etcdplay-modules because they need the
//! inventory's other hosts and the control node's network, not just one host's shell; what
//! needs neither the play nor a host (reading data dirs and units, the etcd client) is in
//! etcdplay-etcd. The engine knows none of this: it only calls the extension seam.

mod args;
mod backup;
mod ca_rotation;
mod datadir;
mod error;
mod guard;
mod health;
mod leadership;
mod lost_restart;
mod members;
mod migrate;
mod operate;
mod pki;
mod restart;

use async_trait::async_trait;
use etcdplay_transport::ExecRequest;
use serde_json::{Map, Value};

use etcdplay_engine::{
    ConnectTarget, EngineExtension, ExtensionError, HostAction, Preflight, RunContext, TaskContext,
};

/// The etcd layer as an engine extension: register it with
/// `Engine::with_extension(Arc::new(EtcdExtension))`.
#[derive(Debug, Default)]
pub struct EtcdExtension;

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
            "etcd_ca_rotation" => ca_rotation::run(ctx, args, origin).await,
            "etcd_backup_source" => operate::backup::run_source(args, origin).await,
            "etcd_restore_check" => operate::restore::run_check(args, origin).await,
            "etcd_defrag" => operate::defrag::run(args, origin).await,
            "etcd_upgrade" if !operate::upgrade::runs_on_host(args) => {
                operate::upgrade::run(args, origin).await
            }
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
            "etcd_member_remove" => operate::remove::run(ctx, args).await,
            "etcd_backup" => operate::backup::run(ctx, args).await,
            "etcd_backup_collect" => operate::collect::run(ctx, args).await,
            "etcd_restore" => operate::restore::run(ctx, args).await,
            "etcd_upgrade" => operate::upgrade::run_host(ctx, args).await,
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_member_restart_handler_restarts_its_service() {
        let args = |v: Value| v.as_object().cloned().unwrap_or_default();
        let ext = EtcdExtension;
        assert_eq!(
            ext.restarted_unit("etcd_member_restart", &args(json!({}))),
            Some("etcd".into())
        );
        assert_eq!(
            ext.restarted_unit("etcd_member_restart", &args(json!({"service": "etcd2"}))),
            Some("etcd2".into())
        );
        assert_eq!(ext.restarted_unit("etcd_health", &args(json!({}))), None);
    }
}
