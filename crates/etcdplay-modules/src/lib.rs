//! The modules that change hosts: `command`, `copy`, `template`, `file`, `lineinfile`,
//! `systemd`, `setup` and the rest of what etcdplay's playbooks use, with Ansible's arguments
//! and result fields. Every module follows "query before change": it first reads the host's
//! state in one exec round trip, then decides ok/changed, and only then (outside check mode)
//! changes the host, writing files through [`Transport::put`] so writes are atomic. A run that
//! changes nothing therefore costs one round trip per task per host.

mod args;
mod async_job;
mod attrs;
mod call;
mod clock;
mod error;
mod facts;
mod host;
pub mod local_tree;
mod mode;
mod modules;
mod probe;
mod read_ahead;
mod registry;
mod result_fields;
mod selinux;
mod spec;
#[cfg(test)]
mod test_shim;
mod textdiff;
mod timestamps;
mod unit_memo;

pub use async_job::{
    async_kind, close_control_job, job_status, kill_job, open_control_job, start_detached,
    AsyncDir, AsyncKind, StartedJob,
};
pub use call::{ControlNode, Diff, ModuleCall, ModuleResult};
pub use error::ModuleError;
pub use facts::{parse_facts, SCRIPT as FACTS_SCRIPT};
pub use local_tree::{LocalEntry, LocalKind};
pub use mode::{format_mode, ModeSpec};
pub use modules::reboot::{python_list, reboot_backoff, reboot_plan, RebootPlan};
pub use modules::synchronize::{remote_path, rsync_command, rsync_result, RsyncSide};
pub use probe::batch_prelude;
pub use read_ahead::first_probe;
pub use registry::{
    ansible_fqcn, arg_refusal, bypasses_host_loop, canonical_name, is_host_module, is_known_module,
    module_arg_spec, skipped_in_check_mode, suggest_module, takes_raw_params, ArgRefusal, Registry,
};
pub use spec::{check_arg_value, validate_args, ArgSpec, ArgType, ANY_ARG};
pub use unit_memo::loaded_unit_script;

use etcdplay_transport::Transport;

/// Runs one module on one host.
///
/// Arguments are validated first (an unknown or missing argument is an error before the host
/// is touched). Engine-level modules (`debug`, `set_fact`, ...) return
/// [`ModuleError::NotImplemented`]: the engine runs them itself.
pub async fn run(call: ModuleCall<'_>, host: &dyn Transport) -> Result<ModuleResult, ModuleError> {
    let module = registry::lookup(call.name).ok_or_else(|| ModuleError::UnknownModule {
        name: call.name.to_string(),
        suggestion: suggest_module(call.name).map(String::from),
    })?;
    let args = args::Args::parse(module.name, call.args)?;
    if call.check && !module.supports_check {
        return Ok(ModuleResult {
            skipped: true,
            msg: Some(format!(
                "remote module ({}) does not support check mode",
                module.name
            )),
            ..ModuleResult::default()
        });
    }
    let mut ctx = host::Ctx { call, host, args };
    match module.runner {
        registry::Runner::Host(run) => {
            ctx.expand_paths().await?;
            let res = run(&ctx).await?;
            selinux::apply(&ctx, res).await
        }
        registry::Runner::Engine => Err(ModuleError::NotImplemented {
            module: module.name.to_string(),
        }),
    }
}
