//! The module registry: every module etcdplay knows is declared here once, with the names it
//! answers to, its argument spec, the read-only probe it sends first when it has one (what the
//! engine's read-ahead sends early, see [`crate::read_ahead`]), and what runs it: a function of this crate, or the engine
//! (`debug`, `set_fact`, includes, the etcd actions). The parser checks tasks against it through
//! [`Registry`] (a [`ModuleCatalog`]), [`crate::run`] dispatches through it.
//!
//! Adding a module: one file under `src/modules/`, its argument spec in `spec.rs`, one entry in
//! [`MODULES`] (with `reads::<ItsProbe>()` when its first request only reads).

use std::future::Future;
use std::pin::Pin;

use etcdplay_source::ModuleCatalog;

use etcdplay_transport::ExecRequest;
use serde_json::Value;

use crate::host::Ctx;
use crate::modules::command::JobOutput;
use crate::modules::copy::DestProbe;
use crate::modules::file::FileProbe;
use crate::modules::stat::StatProbe;
use crate::modules::systemd::UnitProbe;
use crate::modules::write::TextProbe;
use crate::read_ahead::{reads, ProbeDecl};
use crate::spec::*;
use crate::{async_job, facts, modules, ModuleError, ModuleResult};

/// A host module's entry point.
pub(crate) type RunFn = for<'a, 'b> fn(
    &'a Ctx<'b>,
) -> Pin<
    Box<dyn Future<Output = Result<ModuleResult, ModuleError>> + Send + 'a>,
>;

/// Who runs a module.
#[derive(Clone, Copy)]
pub(crate) enum Runner {
    /// This crate, on one host.
    Host(RunFn),
    /// The engine (it needs the play, other hosts or the control node).
    Engine,
}

/// One module, declared once.
pub(crate) struct ModuleDef {
    pub(crate) name: &'static str,
    pub(crate) aliases: &'static [&'static str],
    pub(crate) args: &'static [ArgSpec],
    pub(crate) runner: Runner,
    /// Its first request when that only reads the host: the probe the read-ahead sends early
    /// and the module's run sends first (see [`crate::read_ahead`]).
    pub(crate) probe: Option<ProbeDecl>,
    /// It runs in check mode; otherwise a check run skips it, as Ansible does
    /// (`check_mode: support: none` in the module's documentation).
    pub(crate) supports_check: bool,
    /// It runs once for the play, on its first host, whatever the hosts (`add_host`, as
    /// Ansible's `BYPASS_HOST_LOOP`); its result is that host's.
    pub(crate) bypass_host_loop: bool,
    /// How it runs under `async:` (see `async_job.rs`).
    pub(crate) async_: AsyncSupport,
    /// Words of a free-form argument that are not `key=value` pairs are kept as
    /// `_raw_params` for the action to judge when it runs (Ansible's `RAW_PARAM_MODULES`:
    /// `add_host: "{{ host_data }}"`), instead of being refused when the playbook is parsed.
    pub(crate) raw_params: bool,
    /// How arguments it does not take are refused when the task runs.
    pub(crate) refusal: ArgRefusal,
}

/// How Ansible words the refusal of arguments a module does not take.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ArgRefusal {
    /// The module's argument spec: "Unsupported parameters for (file) module: ...", missing
    /// required arguments and bad values too.
    Module,
    /// An action plugin's list of valid options (`_VALID_ARGS`): "Invalid options for
    /// group_by: _raw_params"; missing arguments and values are the action's own business.
    Action,
}

/// A module's request as an async job: the request and the JSON its finishing half needs.
pub(crate) type PlanFn = fn(&Ctx<'_>) -> Result<(ExecRequest, Value), ModuleError>;
/// The module result from the finishing JSON of [`PlanFn`] and what the job's command gave.
pub(crate) type FinishFn = fn(&Value, &JobOutput) -> Result<ModuleResult, ModuleError>;

/// How a module runs under `async:`, following which of Ansible's action plugins accept it.
#[derive(Clone, Copy)]
pub(crate) enum AsyncSupport {
    /// Its work is one host-side command, started detached on the host.
    Detached { plan: PlanFn, finish: FinishFn },
    /// Control-node logic over several requests (Ansible's generic modules, which accept
    /// async): the engine runs it in a background task.
    Control,
    /// Ansible's action refuses async (`copy`, `template`, `debug`, ...).
    Refused,
}

macro_rules! host {
    ($run:path) => {
        Runner::Host(|ctx| Box::pin($run(ctx)))
    };
}

const fn def(
    name: &'static str,
    aliases: &'static [&'static str],
    args: &'static [ArgSpec],
    runner: Runner,
    probe: Option<ProbeDecl>,
) -> ModuleDef {
    ModuleDef {
        name,
        aliases,
        args,
        runner,
        probe,
        supports_check: true,
        bypass_host_loop: false,
        // Ansible's generic modules accept async; what the engine runs itself does not.
        async_: match runner {
            Runner::Host(_) => AsyncSupport::Control,
            Runner::Engine => AsyncSupport::Refused,
        },
        raw_params: false,
        refusal: ArgRefusal::Module,
    }
}

/// A module that keeps free-form words as `_raw_params` (see [`ModuleDef::raw_params`]).
const fn raw_params(module: ModuleDef) -> ModuleDef {
    ModuleDef {
        raw_params: true,
        ..module
    }
}

/// An action that refuses unknown options by its list of valid ones (see [`ArgRefusal`]).
const fn action_options(module: ModuleDef) -> ModuleDef {
    ModuleDef {
        refusal: ArgRefusal::Action,
        ..module
    }
}

/// A module whose action refuses `async:` in Ansible.
const fn no_async(module: ModuleDef) -> ModuleDef {
    ModuleDef {
        async_: AsyncSupport::Refused,
        ..module
    }
}

/// A module whose work is one host-side command, started detached under `async:`.
const fn detached(module: ModuleDef, plan: PlanFn, finish: FinishFn) -> ModuleDef {
    ModuleDef {
        async_: AsyncSupport::Detached { plan, finish },
        ..module
    }
}

fn command_plan(ctx: &Ctx<'_>) -> Result<(ExecRequest, Value), ModuleError> {
    let plan = modules::command::plan(ctx)?;
    let finish = plan.finish_data();
    Ok((plan.request, finish))
}

/// A module that a check run skips.
const fn no_check(module: ModuleDef) -> ModuleDef {
    ModuleDef {
        supports_check: false,
        ..module
    }
}

/// A module that runs once for the play.
const fn once_per_play(module: ModuleDef) -> ModuleDef {
    ModuleDef {
        bypass_host_loop: true,
        ..module
    }
}

use Runner::Engine;

/// Every module etcdplay knows.
pub(crate) const MODULES: &[ModuleDef] = &[
    detached(
        def("command", &[], COMMAND, host!(modules::command::run), None),
        command_plan,
        modules::command::finish,
    ),
    detached(
        def("shell", &[], SHELL, host!(modules::command::run), None),
        command_plan,
        modules::command::finish,
    ),
    no_async(def(
        "copy",
        &[],
        COPY,
        host!(modules::copy::run),
        reads::<DestProbe>(),
    )),
    no_async(def(
        "template",
        &[],
        TEMPLATE,
        host!(modules::copy::run_template),
        reads::<DestProbe>(),
    )),
    def(
        "file",
        &[],
        FILE,
        host!(modules::file::run),
        reads::<FileProbe>(),
    ),
    def(
        "lineinfile",
        &[],
        LINEINFILE,
        host!(modules::lineinfile::run),
        reads::<TextProbe>(),
    ),
    def(
        "blockinfile",
        &[],
        BLOCKINFILE,
        host!(modules::blockinfile::run),
        reads::<TextProbe>(),
    ),
    def(
        "stat",
        &[],
        STAT,
        host!(modules::stat::run),
        reads::<StatProbe>(),
    ),
    def("slurp", &[], SLURP, host!(modules::slurp::run), None),
    no_async(def("fetch", &[], FETCH, host!(modules::fetch::run), None)),
    def("get_url", &[], GET_URL, host!(modules::get_url::run), None),
    no_async(def(
        "unarchive",
        &[],
        UNARCHIVE,
        host!(modules::unarchive::run),
        None,
    )),
    def(
        "systemd",
        &["systemd_service"],
        SYSTEMD,
        host!(modules::systemd::run),
        reads::<UnitProbe>(),
    ),
    def(
        "service",
        &[],
        SERVICE,
        host!(modules::systemd::run),
        reads::<UnitProbe>(),
    ),
    def(
        "user",
        &[],
        USER,
        host!(modules::user::run),
        reads::<modules::user::UserProbe>(),
    ),
    def(
        "group",
        &[],
        GROUP_MOD,
        host!(modules::group::run),
        reads::<modules::group::GroupProbe>(),
    ),
    def(
        "wait_for",
        &[],
        WAIT_FOR,
        host!(modules::wait_for::run),
        None,
    ),
    def(
        "setup",
        &["gather_facts"],
        SETUP,
        host!(facts::run),
        reads::<facts::FactsProbe>(),
    ),
    def(
        "apt",
        &[],
        APT,
        host!(modules::apt::run),
        reads::<modules::apt::AptProbe>(),
    ),
    def(
        "package",
        &[],
        PACKAGE,
        host!(modules::package::run),
        reads::<modules::package::PackageProbe>(),
    ),
    def("ping", &[], PING, host!(modules::small::ping), None),
    no_async(no_check(def(
        "raw",
        &[],
        RAW,
        host!(modules::small::raw),
        None,
    ))),
    no_check(def(
        "tempfile",
        &[],
        TEMPFILE,
        host!(modules::small::tempfile),
        None,
    )),
    def("getent", &[], GETENT, host!(modules::small::getent), None),
    def(
        "sysctl",
        &[],
        SYSCTL,
        host!(modules::sysctl::run),
        reads::<modules::sysctl::SysctlProbe>(),
    ),
    no_check(def("uri", &[], URI, host!(modules::uri::run), None)),
    def(
        "replace",
        &[],
        REPLACE,
        host!(modules::replace::run),
        reads::<TextProbe>(),
    ),
    def(
        "ini_file",
        &["community.general.ini_file"],
        INI_FILE,
        host!(modules::ini_file::run),
        reads::<TextProbe>(),
    ),
    // Package management (#16 item 2).
    def(
        "dnf",
        &["yum"],
        DNF,
        host!(modules::dnf::run),
        reads::<modules::dnf::DnfProbe>(),
    ),
    def(
        "apt_repository",
        &[],
        APT_REPOSITORY,
        host!(modules::apt_repository::run),
        None,
    ),
    def(
        "deb822_repository",
        &[],
        DEB822_REPOSITORY,
        host!(modules::deb822_repository::run),
        None,
    ),
    def(
        "yum_repository",
        &[],
        YUM_REPOSITORY,
        host!(modules::yum_repository::run),
        None,
    ),
    // Issue #16 item 3: script, find, inventory changes and system settings.
    // Ansible's script action refuses async ("This action (script) does not support async.").
    no_async(def(
        "script",
        &[],
        SCRIPT,
        host!(modules::script::run),
        None,
    )),
    def(
        "find",
        &[],
        FIND,
        host!(modules::find::run),
        reads::<modules::find::FindProbe>(),
    ),
    action_options(raw_params(def("group_by", &[], GROUP_BY, Engine, None))),
    once_per_play(action_options(raw_params(def(
        "add_host",
        &[],
        ADD_HOST,
        Engine,
        None,
    )))),
    def(
        "cron",
        &[],
        CRON,
        host!(modules::cron::run),
        reads::<modules::cron::CronProbe>(),
    ),
    // Ansible's assemble action refuses async as its script action does.
    no_async(def(
        "assemble",
        &[],
        ASSEMBLE,
        host!(modules::assemble::run),
        reads::<modules::assemble::AssembleProbe>(),
    )),
    def(
        "hostname",
        &[],
        HOSTNAME,
        host!(modules::hostname::run),
        reads::<modules::hostname::HostnameProbe>(),
    ),
    def(
        "timezone",
        &["community.general.timezone"],
        TIMEZONE,
        host!(modules::timezone::run),
        reads::<modules::timezone::TimezoneProbe>(),
    ),
    def(
        "authorized_key",
        &[],
        AUTHORIZED_KEY,
        host!(modules::authorized_key::run),
        reads::<modules::authorized_key::KeyFileProbe>(),
    ),
    def(
        "known_hosts",
        &[],
        KNOWN_HOSTS,
        host!(modules::known_hosts::run),
        reads::<modules::known_hosts::KnownHostsProbe>(),
    ),
    def(
        "modprobe",
        &["community.general.modprobe"],
        MODPROBE,
        host!(modules::modprobe::run),
        reads::<modules::modprobe::ModprobeProbe>(),
    ),
    def(
        "mount",
        &[],
        MOUNT,
        host!(modules::mount::run),
        reads::<modules::mount::MountProbe>(),
    ),
    def(
        "locale_gen",
        &["community.general.locale_gen"],
        LOCALE_GEN,
        host!(modules::locale_gen::run),
        reads::<modules::locale_gen::LocaleProbe>(),
    ),
    // Issue #16 item 3, facts and keys (helper modc).
    def(
        "service_facts",
        &[],
        modules::service_facts::SERVICE_FACTS,
        host!(modules::service_facts::run),
        reads::<modules::service_facts::ServiceFactsProbe>(),
    ),
    def(
        "package_facts",
        &[],
        modules::package_facts::PACKAGE_FACTS,
        host!(modules::package_facts::run),
        reads::<modules::package_facts::PackageFactsProbe>(),
    ),
    def(
        "apt_key",
        &[],
        modules::apt_key::APT_KEY,
        host!(modules::apt_key::run),
        reads::<modules::apt_key::AptKeyProbe>(),
    ),
    def(
        "rpm_key",
        &[],
        modules::rpm_key::RPM_KEY,
        host!(modules::rpm_key::run),
        reads::<modules::rpm_key::RpmKeyProbe>(),
    ),
    def(
        "pip",
        &[],
        modules::pip::PIP,
        host!(modules::pip::run),
        None,
    ),
    // The engine reconnects until the host is back (`etcdplay-engine`'s reboot.rs).
    no_async(def("reboot", &[], modules::reboot::REBOOT, Engine, None)),
    // rsync runs on the control node (`etcdplay-engine`'s synchronize.rs).
    no_async(def(
        "synchronize",
        &["ansible.posix.synchronize"],
        modules::synchronize::SYNCHRONIZE,
        Engine,
        None,
    )),
    no_async(def(
        "async_status",
        &[],
        ASYNC_STATUS,
        host!(async_job::status_module),
        None,
    )),
    def("set_fact", &[], SET_FACT, Engine, None),
    def("etcd_pki", &[], ETCD_PKI, Engine, None),
    def("etcd_health", &[], ETCD_HEALTH, Engine, None),
    def("etcd_ca_rotation", &[], ETCD_CA_ROTATION, Engine, None),
    def(
        "etcd_member_restart",
        &[],
        ETCD_MEMBER_RESTART,
        Engine,
        None,
    ),
    def("etcd_member_join", &[], ETCD_MEMBER_JOIN, Engine, None),
    def("etcd_member_remove", &[], ETCD_MEMBER_REMOVE, Engine, None),
    def("etcd_backup_source", &[], ETCD_BACKUP_SOURCE, Engine, None),
    def("etcd_backup", &[], ETCD_BACKUP, Engine, None),
    def(
        "etcd_backup_collect",
        &[],
        ETCD_BACKUP_COLLECT,
        Engine,
        None,
    ),
    def("etcd_restore_check", &[], ETCD_RESTORE_CHECK, Engine, None),
    def("etcd_restore", &[], ETCD_RESTORE, Engine, None),
    def("etcd_defrag", &[], ETCD_DEFRAG, Engine, None),
    def("etcd_upgrade", &[], ETCD_UPGRADE, Engine, None),
    def(
        "data_dir_scheme_check",
        &[],
        DATA_DIR_SCHEME_CHECK,
        Engine,
        None,
    ),
    def("debug", &[], DEBUG, Engine, None),
    action_options(def("fail", &[], FAIL, Engine, None)),
    def("assert", &[], ASSERT, Engine, None),
    def("meta", &[], META, Engine, None),
    def("pause", &[], PAUSE, Engine, None),
    def("include_vars", &[], INCLUDE_VARS, Engine, None),
    def("include_tasks", &[], INCLUDE_TASKS, Engine, None),
    def("import_tasks", &[], INCLUDE_TASKS, Engine, None),
    def("include_role", &[], INCLUDE_ROLE, Engine, None),
    def("import_role", &[], INCLUDE_ROLE, Engine, None),
];

/// Collections whose prefix is stripped: `ansible.builtin.copy` is `copy`. Modules of other
/// collections list their full names as aliases (`community.general.ini_file`).
const COLLECTIONS: &[&str] = &["ansible.builtin.", "ansible.legacy.", "ansible.posix."];

/// The module `name` (any spelling) is, if etcdplay knows it.
pub(crate) fn lookup(name: &str) -> Option<&'static ModuleDef> {
    let short = COLLECTIONS
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    MODULES
        .iter()
        .find(|m| m.name == short || m.aliases.contains(&short))
}

/// The canonical name of a module (`ansible.builtin.systemd_service` -> `systemd`), or `None`.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    lookup(name).map(|m| m.name)
}

/// Whether `name` (any spelling) is a module etcdplay knows, engine-level ones included.
pub fn is_known_module(name: &str) -> bool {
    lookup(name).is_some()
}

/// Whether the module runs once for the play instead of once per host (`add_host`).
pub fn bypasses_host_loop(name: &str) -> bool {
    lookup(name).is_some_and(|m| m.bypass_host_loop)
}

/// Whether a check run skips the module (Ansible's actions without check mode support, which
/// Ansible skips before `until:` is looked at).
pub fn skipped_in_check_mode(name: &str) -> bool {
    lookup(name).is_some_and(|m| !m.supports_check)
}

/// The modules of ansible.posix among etcdplay's (they are named without their collection).
const ANSIBLE_POSIX: &[&str] = &["authorized_key", "mount", "synchronize", "sysctl"];

/// The fully qualified name Ansible resolves a module to (`copy` is `ansible.builtin.copy`,
/// `ini_file` is `community.general.ini_file`), as its messages name it.
pub fn ansible_fqcn(name: &str) -> String {
    let Some(module) = lookup(name) else {
        return name.to_string();
    };
    if let Some(full) = module.aliases.iter().find(|a| a.contains('.')) {
        return full.to_string();
    }
    let collection = if ANSIBLE_POSIX.contains(&module.name) {
        "ansible.posix"
    } else {
        "ansible.builtin"
    };
    format!("{collection}.{}", module.name)
}

/// Whether the module takes free-form words: a command line (`_raw_params` in its spec) or
/// an action's raw parameters (see [`ModuleDef::raw_params`]).
pub fn takes_raw_params(name: &str) -> bool {
    lookup(name).is_some_and(|m| m.raw_params || m.args.iter().any(|a| a.name == "_raw_params"))
}

/// How the module refuses arguments it does not take (the spec's words for an unknown module).
pub fn arg_refusal(name: &str) -> ArgRefusal {
    lookup(name).map_or(ArgRefusal::Module, |m| m.refusal)
}

/// Whether this crate executes the module (as opposed to the engine).
pub fn is_host_module(name: &str) -> bool {
    lookup(name).is_some_and(|m| matches!(m.runner, Runner::Host(_)))
}

/// The arguments a module accepts (empty for an unknown module).
pub fn module_arg_spec(name: &str) -> &'static [ArgSpec] {
    lookup(name).map(|m| m.args).unwrap_or(&[])
}

/// The closest known module name to a misspelt one, for "did you mean".
pub fn suggest_module(name: &str) -> Option<&'static str> {
    closest(
        name,
        MODULES
            .iter()
            .flat_map(|m| std::iter::once(m.name).chain(m.aliases.iter().copied())),
    )
}

/// The registry as the playbook parser sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Registry;

impl ModuleCatalog for Registry {
    fn canonical(&self, name: &str) -> Option<String> {
        canonical_name(name).map(str::to_string)
    }

    fn arg_names(&self, canonical: &str) -> Option<Vec<&'static str>> {
        let spec = module_arg_spec(canonical);
        if spec.iter().any(|a| a.name == ANY_ARG) {
            return None;
        }
        Some(
            spec.iter()
                .flat_map(|a| std::iter::once(a.name).chain(a.aliases.iter().copied()))
                .collect(),
        )
    }

    fn free_form(&self, canonical: &str) -> bool {
        module_arg_spec(canonical)
            .iter()
            .any(|a| a.name == "_raw_params")
    }

    fn raw_params(&self, canonical: &str) -> bool {
        lookup(canonical).is_some_and(|m| m.raw_params)
    }

    fn check_value(&self, canonical: &str, arg: &str, value: &serde_json::Value) -> Option<String> {
        check_arg_value(canonical, arg, value)
    }

    fn names(&self) -> Vec<String> {
        MODULES
            .iter()
            .flat_map(|m| std::iter::once(m.name).chain(m.aliases.iter().copied()))
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_strip_collections_and_resolve_aliases() {
        assert_eq!(canonical_name("ansible.builtin.copy"), Some("copy"));
        assert_eq!(
            canonical_name("ansible.builtin.systemd_service"),
            Some("systemd")
        );
        assert_eq!(canonical_name("service"), Some("service"));
        assert_eq!(canonical_name("set_fact"), Some("set_fact"));
        assert_eq!(canonical_name("copyy"), None);
        assert!(is_known_module("ansible.legacy.debug"));
        assert!(!is_host_module("debug"));
        assert!(is_host_module("lineinfile"));
        assert_eq!(suggest_module("tempalte"), Some("template"));
    }

    #[test]
    fn the_parser_sees_the_same_registry() {
        let c = Registry;
        assert_eq!(
            c.canonical("ansible.legacy.shell").as_deref(),
            Some("shell")
        );
        assert_eq!(c.canonical("community.general.copy"), None);
        assert!(c.free_form("shell") && c.free_form("command") && !c.free_form("copy"));
        let copy = c.arg_names("copy").unwrap_or_default();
        assert!(copy.contains(&"dest") && copy.contains(&"follow") && !copy.contains(&"dset"));
        assert!(
            c.arg_names("set_fact").is_none(),
            "set_fact takes any argument"
        );
        assert!(c.names().iter().any(|n| n == "systemd_service"));
        // Every module the crate runs is dispatched through its entry.
        for m in MODULES {
            assert_eq!(
                is_host_module(m.name),
                matches!(m.runner, Runner::Host(_)),
                "{}",
                m.name
            );
        }
    }
}
