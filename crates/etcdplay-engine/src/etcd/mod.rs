//! etcd-specific actions the engine runs: certificates (`etcd_pki`) on the control node, and
//! actions that need both a host's shell and the control node's view of the cluster (health,
//! rolling member restarts, the data-dir scheme check and its automatic guard, and finishing
//! a rolling restart that a killed run left half done). They live in
//! the engine rather than in etcdplay-modules because they need the inventory's other hosts
//! and the control node's network, not just one host's shell.

pub(crate) mod backup;
pub(crate) mod datadir;
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

use etcdplay_transport::{Become, Transport};
use serde_json::{Map, Value};

use crate::error::TaskError;

/// What an etcd host action gets: the host, its transport and the task's settings.
pub(crate) struct HostActionCtx<'a> {
    pub(crate) host: &'a str,
    pub(crate) transport: &'a dyn Transport,
    pub(crate) become_: Option<&'a Become>,
    pub(crate) check: bool,
    pub(crate) origin: &'a str,
}

/// Runs `name` if it is an etcd action that needs the host's transport; `Ok(None)` otherwise.
pub(crate) async fn run_host_action(
    ctx: &HostActionCtx<'_>,
    name: &str,
    args: &Map<String, Value>,
) -> Result<Option<Value>, TaskError> {
    match name {
        "data_dir_scheme_check" => datadir::run(ctx, args).await.map(Some),
        "etcd_member_restart" => restart::run(ctx, args).await.map(Some),
        "etcd_member_join" => members::run(ctx, args).await.map(Some),
        _ => Ok(None),
    }
}
