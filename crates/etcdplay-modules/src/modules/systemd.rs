//! `systemd` (also `systemd_service`, and `service` on systemd hosts): mask/unmask,
//! enable/disable and start/stop/restart/reload a unit. One probe runs `systemctl show` and
//! `systemctl is-enabled` (and asks whether a system-scope `daemon_reload` is due; when it is,
//! a second probe reloads and looks again; `daemon-reexec` and other scopes' reloads run in the
//! first); the pure [`parse_show`] and [`plan`] decide, and one more exec applies every action
//! at once.

use std::collections::BTreeMap;

use etcdplay_transport::script::sh_quote;
use serde_json::{Map, Value};

use etcdplay_transport::ExecOutput;

use crate::args::Args;
use crate::host::Ctx;
use crate::probe::section;
use crate::read_ahead::{sections, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::unit_memo;
use crate::{ModuleError, ModuleResult};

/// Parses `systemctl show` output (`Key=Value` lines) into a map.
pub(crate) fn parse_show(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The requested `state:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    Started,
    Stopped,
    Restarted,
    Reloaded,
}

/// One systemctl verb to run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Mask,
    Unmask,
    Enable,
    Disable,
    Start,
    Stop,
    Restart,
    Reload,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Mask => "mask",
            Action::Unmask => "unmask",
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
            Action::Reload => "reload",
        }
    }
}

/// What the host said about the unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnitState {
    pub(crate) show: BTreeMap<String, String>,
    /// `systemctl is-enabled` output and exit code.
    pub(crate) is_enabled: String,
    pub(crate) is_enabled_rc: i32,
}

impl UnitState {
    fn get(&self, k: &str) -> &str {
        self.show.get(k).map(String::as_str).unwrap_or("")
    }
    pub(crate) fn found(&self) -> bool {
        self.get("LoadState") != "not-found"
            || self.get("UnitFileState") == "masked"
            || self.masked()
    }
    pub(crate) fn masked(&self) -> bool {
        self.get("LoadState") == "masked"
            || self.is_enabled.lines().next().map(str::trim) == Some("masked")
    }
    /// Ansible's rule on `is-enabled -l`: exit 0 means enabled, except when the whole answer is
    /// `enabled-runtime`, `indirect` or `alias` (with `-l` a unit enabled through `Also=`
    /// also lists the links it was installed with, so it counts as enabled).
    pub(crate) fn enabled(&self) -> bool {
        self.is_enabled_rc == 0
            && !matches!(
                self.is_enabled.trim_end(),
                "enabled-runtime" | "indirect" | "alias"
            )
    }
    pub(crate) fn running(&self) -> bool {
        matches!(self.get("ActiveState"), "active" | "activating")
    }
    fn deactivating(&self) -> bool {
        self.get("ActiveState") == "deactivating"
    }
}

/// Decides the actions that bring the unit to what was asked, in Ansible's order: mask, then
/// enable, then state. `Err` is a failure message (the unit does not exist).
pub(crate) fn plan(
    unit: &str,
    st: &UnitState,
    masked: Option<bool>,
    enabled: Option<bool>,
    state: Option<Wanted>,
) -> Result<Vec<Action>, String> {
    let mut actions = Vec::new();
    if !st.found() && (state.is_some() || enabled.is_some() || masked == Some(false)) {
        return Err(format!("Could not find the requested service {unit}: host"));
    }
    let mut is_masked = st.masked();
    if let Some(m) = masked {
        if m != is_masked {
            actions.push(if m { Action::Mask } else { Action::Unmask });
            is_masked = m;
        }
    }
    if let Some(e) = enabled {
        if is_masked && e {
            return Err(format!("Unable to enable service {unit}: unit is masked"));
        }
        if e != st.enabled() {
            actions.push(if e { Action::Enable } else { Action::Disable });
        }
    }
    match state {
        Some(Wanted::Started) if !st.running() => actions.push(Action::Start),
        Some(Wanted::Stopped) if st.running() || st.deactivating() => actions.push(Action::Stop),
        Some(Wanted::Restarted) => actions.push(if st.running() {
            Action::Restart
        } else {
            Action::Start
        }),
        Some(Wanted::Reloaded) => actions.push(if st.running() {
            Action::Reload
        } else {
            Action::Start
        }),
        _ => {}
    }
    Ok(actions)
}

/// Where the system-scope reload stamp lives: in `/run`, so a reboot (after which systemd has
/// read everything afresh) forgets it.
const RELOAD_STAMP: &str = "/run/etcdplay/daemon-reload.stamp";

/// Everything a system-scope `daemon-reload` reads: unit directories (fragments, drop-ins,
/// `.wants` links), systemd's own configuration, and the generators' main inputs.
const RELOAD_INPUTS: &[&str] = &[
    "/etc/systemd",
    "/run/systemd/system",
    "/run/systemd/system.control",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    "/etc/fstab",
    "/etc/crypttab",
];

/// The shell text for `daemon_reload: yes`. Ansible reloads on every run, which costs a full
/// re-read of every unit and a run of every generator (0.1 s of CPU per host, most of a
/// no-change run's time on a fleet). A reload only matters when something it reads changed,
/// so in system scope the reload is skipped when no input's ctime is newer than the stamp
/// touched just before this module's previous successful reload. ctime, not mtime, because a
/// copy that keeps the old mtime (`cp -p`, `rsync -t`, unarchive) still moves the ctime, and
/// an added or removed file moves its directory's. Any doubt (no stamp, `find` failing, user
/// or global scope) reloads, as Ansible would.
pub(crate) fn daemon_reload_script(scope: &str) -> String {
    if scope.is_empty() {
        skippable_reload_script(RELOAD_STAMP, RELOAD_INPUTS)
    } else {
        format!(
            "systemctl{scope} daemon-reload || {{ echo 'daemon-reload failed' >&2; exit 1; }}\n"
        )
    }
}

/// [`daemon_reload_script`] for system scope, with the stamp and inputs as parameters so the
/// shell logic is tested against a scratch directory. The new stamp is touched before the
/// reload (a change during the reload is then seen next time) and only takes the old one's
/// place after the reload succeeded. File times come from the kernel's coarse clock (one
/// tick, up to 10 ms): the pause after the touch puts every change the reload may miss in a
/// later tick than the stamp, so `-cnewer` (strictly newer) sees it. With no input found,
/// `find` would search the working directory, so that case reloads too. Either way systemd
/// then has what is on disk, so the script leaves `$ep_rld` at `no` for the look at the unit
/// that follows in the same request (see [`status_script`]: systemd works the unit's
/// `UnitFileState` out again after a reload).
pub(crate) fn skippable_reload_script(stamp: &str, inputs: &[&str]) -> String {
    format!(
        "{}if {STAMP_STALE}; then\n{STAMPED_RELOAD}fi\nep_rld=no\n",
        stamp_inputs(stamp, inputs)
    )
}

/// The reload of a task whose probe found it due (see [`reload_needed_script`]): it runs
/// without asking again. Only another reload could have made it needless since, and reloading
/// then is what Ansible does anyway; asking again would walk the unit directories once more
/// (`find`, ~4 ms of the host's CPU) right after an enable moved them.
///
/// The host agent may have done it already, through systemd's private socket (its
/// `sd-reload` word, see [`due_reload_agent_words`]): then `$ep_ag_sdrl` says so.
fn due_reload_script(stamp: &str) -> String {
    format!(
        "st={}\nif [ \"${{ep_ag_sdrl-}}\" != done ]; then\n{STAMPED_RELOAD}fi\nep_rld=no\n",
        sh_quote(stamp)
    )
}

/// The host agent's words for a due reload and the enable or disable that goes just before
/// it (`etcdplay-agent`'s `manager.rs`): it asks systemd itself, as `systemctl` would, without
/// a process for each. Acts, in that order; one it cannot do leaves the rest to the script.
fn due_reload_agent_words(first: Option<Action>, unit: &str, stamp: &str) -> String {
    let unit_word = first.map_or(String::new(), |a| {
        format!(
            "sd-{}:{} ",
            a.verb(),
            etcdplay_transport::agent_hint_path(unit)
        )
    });
    format!(
        "{unit_word}sd-reload:{}",
        etcdplay_transport::agent_hint_path(stamp)
    )
}

/// Only asks what [`skippable_reload_script`] would decide: prints section `reload` with
/// `needed` when it would reload. The probe of a `daemon_reload` task thus only reads, so it
/// can be read ahead with the others; the reload itself follows in a second exec when needed.
/// In a read-ahead batch the answer comes from the prelude (`unit_memo`), which asks once
/// for every probe that wants it.
fn reload_needed_script(stamp: &str, inputs: &[&str]) -> String {
    format!(
        "{}if [ -z \"${{ep_rld:-}}\" ]; then\n{}fi\n{}if [ \"$ep_rld\" = yes ]; then echo needed; fi\n",
        unit_memo::RELOAD_HINT,
        reload_due_script(stamp, inputs),
        section("reload")
    )
}

/// Sets `$ep_rld` to `yes` when [`skippable_reload_script`] would reload, else to `no`.
fn reload_due_script(stamp: &str, inputs: &[&str]) -> String {
    reload_due_by(stamp, inputs, STAMP_STALE)
}

/// Sets `$ep_rld` from `stale`, a condition on the stamp `$st` and the inputs in `$@`.
fn reload_due_by(stamp: &str, inputs: &[&str], stale: &str) -> String {
    format!(
        "{}if {stale}; then ep_rld=yes; else ep_rld=no; fi\n",
        stamp_inputs(stamp, inputs)
    )
}

/// [`reload_due_script`] for the system manager's own stamp and inputs, as a read-ahead
/// batch's prelude asks it: with the host agent's answer to [`reload_prefill_word`] instead
/// of `find` when the batch has one (`$ep_ag_newer`, set only for this stamp and these
/// inputs).
pub(crate) fn system_reload_due_script() -> String {
    reload_due_by(RELOAD_STAMP, RELOAD_INPUTS, STAMP_STALE_PREFILLED)
}

/// The host agent's prefill word for [`system_reload_due_script`]'s `find`: whether anything
/// under the inputs changed after the stamp (`etcdplay-agent`'s `prefill.rs`).
pub(crate) fn reload_prefill_word() -> String {
    format!("newer:{RELOAD_STAMP}:{}", RELOAD_INPUTS.join(":"))
}

/// Sets `$st` to the stamp and the positional parameters to the inputs that exist, each
/// directory once: on a merged-/usr system `/lib/systemd/system` is `/usr/lib/systemd/system`
/// (a third of what `find` would walk, twice).
fn stamp_inputs(stamp: &str, inputs: &[&str]) -> String {
    let inputs_q: Vec<String> = inputs.iter().map(|p| sh_quote(p)).collect();
    format!(
        "st={}\nset --\nfor p in {}; do\n  [ -e \"$p\" ] || continue\n  ep_n=\n  for ep_q in \"$@\"; do if [ \"$p\" -ef \"$ep_q\" ]; then ep_n=1; fi; done\n  [ -n \"$ep_n\" ] || set -- \"$@\" \"$p\"\ndone\n",
        sh_quote(stamp),
        inputs_q.join(" ")
    )
}

/// The parts of [`STAMP_STALE`]: nothing to compare against (no stamp, no input found: `find`
/// would then search the working directory), and `find` failing or naming an input changed
/// after the stamp. Macros, so that both conditions stay literals.
macro_rules! stamp_missing {
    () => {
        "[ ! -f \"$st\" ] || [ $# -eq 0 ] || "
    };
}
macro_rules! find_newer {
    () => {
        "! c=$(find \"$@\" -cnewer \"$st\" -print -quit 2>/dev/null) || [ -n \"$c\" ]"
    };
}

/// True when a reload is due: no stamp, no input found, `find` failing, or an input changed
/// after the stamp.
const STAMP_STALE: &str = concat!(stamp_missing!(), find_newer!());
/// [`STAMP_STALE`] taking `find`'s answer from the host agent when it gave one.
const STAMP_STALE_PREFILLED: &str = concat!(
    stamp_missing!(),
    "case ${ep_ag_newer-} in yes) true;; no) false;; *) ",
    find_newer!(),
    ";; esac"
);

/// A `daemon-reload` that leaves the stamp [`skippable_reload_script`] compares against; `$st`
/// names the stamp. Safe under `set -e`: only a failed reload stops the script. The new stamp
/// is made by the shell (`true >`, not `touch`: one process less; `$st.new` is normally
/// absent, and truncating one left over moves its mtime as well), and its directory only
/// when missing.
const STAMPED_RELOAD: &str =
    "{ { [ -d \"${st%/*}\" ] || mkdir -p -m 0700 \"${st%/*}\"; } && true >\"$st.new\" && sleep 0.02; } 2>/dev/null || :\n\
     systemctl daemon-reload || { rm -f \"$st.new\"; echo 'daemon-reload failed' >&2; exit 1; }\n\
     if [ -f \"$st.new\" ]; then mv -f \"$st.new\" \"$st\" || :; fi\n";

/// The change script for `actions` on unit `q`. `enable`, `disable`, `mask` and `unmask` make
/// systemctl reload the manager by itself, after its symlinks moved the unit directories'
/// ctimes, so the next `daemon_reload: yes` would reload once more for nothing (the first
/// no-change run after a converge paid ~0.1 s per host for it). In system scope they run with
/// `--no-reload` instead and one stamped reload follows them: the same number of reloads now,
/// none next time.
fn change_script(actions: &[Action], scope: &str, no_block: &str, q: &str) -> String {
    change_script_at(RELOAD_STAMP, actions, scope, no_block, q)
}

/// [`change_script`] with the stamp as a parameter (tests use a scratch directory).
fn change_script_at(
    stamp: &str,
    actions: &[Action],
    scope: &str,
    no_block: &str,
    q: &str,
) -> String {
    let stamped = scope.is_empty();
    let touches_unit_files = |a: &Action| {
        matches!(
            a,
            Action::Mask | Action::Unmask | Action::Enable | Action::Disable
        )
    };
    let last_file_action = actions.iter().rposition(touches_unit_files);
    let mut script = String::from("set -e\n");
    for (i, a) in actions.iter().enumerate() {
        let no_reload = if stamped && touches_unit_files(a) {
            " --no-reload"
        } else {
            ""
        };
        script.push_str(&format!(
            "systemctl{scope}{no_block}{no_reload} {} {q}\n",
            a.verb()
        ));
        if stamped && Some(i) == last_file_action {
            script.push_str(&format!("st={}\n{STAMPED_RELOAD}", sh_quote(stamp)));
        }
    }
    script
}

/// A command's output followed by a last line `rc=N` (as the probe prints them): the output
/// and N (1 when missing).
fn output_and_rc(section: Option<&Vec<u8>>) -> (String, i32) {
    let text = String::from_utf8_lossy(section.map(Vec::as_slice).unwrap_or_default()).into_owned();
    let (out, rc_line) = text
        .trim_end()
        .rsplit_once('\n')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap_or((String::new(), text.trim().to_string()));
    let rc = rc_line
        .trim()
        .strip_prefix("rc=")
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    (out, rc)
}

/// The unit's state from a probe's `show` and `enabled` sections.
fn unit_state(s: &BTreeMap<String, Vec<u8>>) -> UnitState {
    let (is_enabled, is_enabled_rc) = output_and_rc(s.get("enabled"));
    let show = String::from_utf8_lossy(s.get("show").map(Vec::as_slice).unwrap_or_default());
    UnitState {
        show: parse_show(&show),
        is_enabled,
        is_enabled_rc,
    }
}

/// A `systemd`/`service` task's arguments, checked.
struct UnitTask {
    name: Option<String>,
    state: Option<Wanted>,
    enabled: Option<bool>,
    masked: Option<bool>,
    daemon_reload: bool,
    daemon_reexec: bool,
    /// `systemctl`'s scope flag (empty for the system).
    scope: &'static str,
    no_block: &'static str,
}

impl UnitTask {
    fn from_args(args: &Args) -> Result<UnitTask, ModuleError> {
        let module = args.module;
        let is_service = module == "service";
        let bad = |arg: &str, msg: String| ModuleError::bad(module, arg, msg);
        let state = match args.str("state").as_deref() {
            None => None,
            Some("started") => Some(Wanted::Started),
            Some("stopped") => Some(Wanted::Stopped),
            Some("restarted") => Some(Wanted::Restarted),
            Some("reloaded") => Some(Wanted::Reloaded),
            Some(other) => {
                return Err(bad(
                    "state",
                    format!("value '{other}' is not one of: reloaded, restarted, started, stopped"),
                ))
            }
        };
        let scope = match args.str("scope").as_deref() {
            None | Some("system") => "",
            Some("user") => " --user",
            Some("global") => " --global",
            Some(other) => {
                return Err(bad(
                    "scope",
                    format!("value '{other}' is not one of: system, user, global"),
                ))
            }
        };
        let task = UnitTask {
            name: args.str("name"),
            state,
            enabled: args.opt_bool("enabled")?,
            masked: if is_service {
                None
            } else {
                args.opt_bool("masked")?
            },
            // `service` passes these on to systemd, as Ansible's service action does on a
            // systemd host.
            daemon_reload: args.bool("daemon_reload", false)?,
            daemon_reexec: args.bool("daemon_reexec", false)?,
            scope,
            no_block: if args.bool("no_block", false)? {
                " --no-block"
            } else {
                ""
            },
        };
        let acts_on_unit = task.state.is_some() || task.enabled.is_some() || task.masked.is_some();
        if task.name.is_none() && acts_on_unit {
            return Err(ModuleError::missing(module, "name"));
        }
        if task.name.is_none() && !task.daemon_reload && !task.daemon_reexec {
            return Err(bad(
                "name",
                "one of name, daemon_reload or daemon_reexec is required".into(),
            ));
        }
        Ok(task)
    }

    /// The reload/reexec the task runs before looking at the unit (none in check mode).
    fn manager_script(&self, check: bool) -> String {
        let mut script = String::new();
        if !check {
            if self.daemon_reload {
                script.push_str(&daemon_reload_script(self.scope));
            }
            if self.daemon_reexec {
                script.push_str(&format!(
                    "systemctl{} daemon-reexec || {{ echo 'daemon-reexec failed' >&2; exit 1; }}\n",
                    self.scope
                ));
            }
        }
        script
    }

    /// Whether a due reload is first only asked about (see `reload_needed_script`): a
    /// system-scope reload without a reexec, outside check mode.
    fn asks_first(&self, check: bool) -> bool {
        self.daemon_reload && !self.daemon_reexec && self.scope.is_empty() && !check
    }
}

/// The probe lines that print the unit's `systemctl show` and `is-enabled` answers. In a
/// read-ahead batch `show` comes from the batch's prelude when it asked (see `unit_memo`).
/// `is-enabled` (5–6 ms of a host's CPU) is not asked when the answer is already known: the
/// unit is shown under the name asked for, its `UnitFileState` is `enabled` or `disabled`, and
/// no unit file changed since this module's last daemon-reload (`$ep_rld` is `no`: the reload
/// check found nothing, or a reload ran earlier in the same request). systemd
/// computes `UnitFileState` from the unit files once after each reload and keeps it, so a
/// change made since (a `.wants` link removed by hand) would make it wrong; the reload check's
/// `find` would see that change (its directory's ctime moved), so then `is-enabled` reads the
/// files, as Ansible's module always does. Other scopes always ask.
pub(crate) fn status_script(scope: &str, unit: &str) -> String {
    status_script_with(scope, unit, ShowBefore::Always)
}

/// Whether a probe asks for `systemctl show` while a daemon-reload is due.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShowBefore {
    Always,
    /// Not when `$ep_rld` is `yes` (the task reloads, then asks again): the `show` section is
    /// then empty, unless a batch's prelude had the answer anyway.
    UnlessReloadDue,
}

/// [`status_script`], asking `show` as `show_before` says.
pub(crate) fn status_script_with(scope: &str, unit: &str, show_before: ShowBefore) -> String {
    let q = sh_quote(unit);
    let mut status = String::new();
    if scope.is_empty() && show_before == ShowBefore::UnlessReloadDue {
        status.push_str(&unit_memo::show_into_var_unless_reload_due(unit));
    } else if scope.is_empty() {
        status.push_str(&unit_memo::show_into_var(unit));
    } else {
        status.push_str(&format!(
            "ep_uv=$(systemctl{scope} show {q} --no-pager 2>&1)\n"
        ));
    }
    status.push_str(&section("show"));
    status.push_str("printf '%s\\n' \"$ep_uv\"\n");
    status.push_str(&section("enabled"));
    let ask = format!("systemctl{scope} is-enabled {q} -l 2>/dev/null; echo \"rc=$?\"\n");
    match expected_id(unit).filter(|_| scope.is_empty()) {
        // No unit file by its name (or its template's): is-enabled, which reads the unit
        // files, prints nothing (its message goes to stderr) and fails.
        Some(id) => status.push_str(&format!(
            "ep_e=\n{set_nl}if [ \"${{ep_rld:-}}\" = no ]; then\n  case {shown} in {named})\n    case {shown} in\n      {enabled}) ep_e='enabled\nrc=0';;\n      {disabled}) ep_e='disabled\nrc=1';;\n    esac;;\n  esac\nfi\nif [ -z \"$ep_e\" ]; then\n{no_file}  if [ \"$ep_uf\" = yes ]; then ep_e='rc=1'; fi\nfi\nif [ -n \"$ep_e\" ]; then printf '%s\\n' \"$ep_e\"; else {ask}fi\n",
            set_nl = unit_memo::SHOWN.0,
            shown = unit_memo::SHOWN.1,
            named = unit_memo::shown_line(&format!("Id={id}")),
            enabled = unit_memo::shown_line("UnitFileState=enabled"),
            disabled = unit_memo::shown_line("UnitFileState=disabled"),
            no_file = unit_memo::no_unit_file_check(&id),
        )),
        None => status.push_str(&ask),
    }
    status.push_str(&section("end"));
    status
}

/// The `Id=` systemd shows for a unit asked for as `name`, when that is certain: a name of
/// plain characters, with `.service` added when it has no unit type suffix (as systemctl
/// does). `None` for anything else (the probe then asks `is-enabled`).
pub(crate) fn expected_id(name: &str) -> Option<String> {
    const SUFFIXES: &[&str] = &[
        "service",
        "socket",
        "device",
        "mount",
        "automount",
        "swap",
        "target",
        "path",
        "timer",
        "slice",
        "scope",
    ];
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_.@-".contains(&b));
    if !plain {
        return None;
    }
    let typed = name
        .rsplit_once('.')
        .is_some_and(|(stem, suffix)| !stem.is_empty() && SUFFIXES.contains(&suffix));
    Some(if typed {
        name.to_string()
    } else {
        format!("{name}.service")
    })
}

/// The probe of a task that names a unit: its state, and whether a system-scope reload is due.
/// A task whose reload or reexec runs first (`daemon_reexec`, another scope's reload) and one
/// without a unit (a bare `daemon_reload`) have none: their first request acts.
pub(crate) struct UnitProbe;

impl FirstProbe for UnitProbe {
    type Answer = Sections;
    // Sections, `systemctl` and `find` reads, and variables it sets before reading (`set --`
    // changes only the probe function's own parameters): no `exit`, options or traps.
    const INLINE: bool = true;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let task = UnitTask::from_args(input.args)?;
        let Some(unit) = &task.name else {
            return Ok(None);
        };
        let script = if task.asks_first(input.check) {
            // A due reload is this task's first act, and it looks at the unit again after
            // it: systemd's view from before is not asked for.
            format!(
                "{}{}",
                reload_needed_script(RELOAD_STAMP, RELOAD_INPUTS),
                status_script_with(task.scope, unit, ShowBefore::UnlessReloadDue)
            )
        } else if task.manager_script(input.check).is_empty() {
            status_script(task.scope, unit)
        } else {
            return Ok(None);
        };
        Ok(Some(with_funcs(&script)))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let args = &ctx.args;
    let task = UnitTask::from_args(args)?;
    let UnitTask {
        enabled,
        masked,
        state,
        scope,
        no_block,
        ..
    } = task;
    let script = task.manager_script(ctx.call.check);
    let mut res = ModuleResult::ok();
    let Some(unit) = task.name.clone() else {
        let out = ctx.exec(script).await?;
        if out.rc != 0 {
            return Ok(ModuleResult::fail(out.stderr_str().trim().to_string()));
        }
        return Ok(res);
    };
    let q = sh_quote(&unit);
    let status = status_script(scope, &unit);
    // An enable/disable done together with a due reload (see below).
    let mut enabled_first: Option<Action> = None;
    let s = match ctx.read_first::<UnitProbe>().await? {
        Some(s) if s.get("reload").is_some_and(|v| v.starts_with(b"needed")) => {
            // The reload is due anyway (typically: the unit file was just written): an
            // enable/disable the task asks for goes just before it, with `--no-reload`, so
            // one reload serves both. `is-enabled` reads the unit files, so it is right even
            // before the reload; masking keeps its own order (mask, then enable).
            let before = unit_state(&s);
            enabled_first = enabled
                .filter(|e| masked.is_none() && !before.masked() && *e != before.enabled())
                .map(|e| if e { Action::Enable } else { Action::Disable });
            let pre = enabled_first.map_or(String::new(), |a| {
                format!(
                    "{}if [ \"${{ep_ag_sdunit-}}\" = done ]; then echo rc=0; else systemctl --no-reload {} {q} 2>&1; echo \"rc=$?\"; fi\n",
                    section("pre"),
                    a.verb()
                )
            });
            // The probe found the reload due: `script` would only ask again.
            let reload = due_reload_script(RELOAD_STAMP);
            let words = due_reload_agent_words(enabled_first, &unit, RELOAD_STAMP);
            let s = ctx
                .probe_hinted(&words, &format!("{pre}{reload}{status}"))
                .await?;
            if let Some(a) = enabled_first {
                let (out, rc) = output_and_rc(s.get("pre"));
                if rc != 0 {
                    return Ok(ModuleResult::fail(format!(
                        "Unable to {} service {unit}: {}",
                        a.verb(),
                        out.trim()
                    )));
                }
            }
            s
        }
        Some(s) => s,
        // The reexec or reload runs first, in the same request as the look at the unit.
        None => ctx.probe(&format!("{script}{status}")).await?,
    };
    let text = |k: &str| {
        String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default()).into_owned()
    };
    let st = unit_state(&s);
    // systemctl answers nothing offline (`SYSTEMD_OFFLINE=1`, a chroot): Ansible then only
    // warns and reports the state asked for, unchanged.
    if !st.show.contains_key("LoadState")
        && text("show").contains("Running in chroot, ignoring")
        && enabled.is_none()
        && masked.is_none()
    {
        res.set("name", unit.clone());
        if let Some(state) = args.str("state") {
            res.set("state", state);
        }
        res.set(
            "warnings",
            vec!["Target is a chroot or systemd is offline. This can lead to false positives or prevent the init system tools from working.".to_string()],
        );
        return Ok(res);
    }
    if !st.show.contains_key("LoadState") {
        return Ok(ModuleResult::fail(format!(
            "systemctl show {unit} gave no unit state: {}",
            text("show").trim()
        )));
    }
    let actions = match plan(&unit, &st, masked, enabled, state) {
        Ok(a) => a,
        Err(msg) => return Ok(ModuleResult::fail(msg)),
    };
    res.set("name", unit.clone());
    if let Some(e) = enabled {
        res.set("enabled", e);
    }
    if let Some(state) = args.str("state") {
        // Ansible reports a restarted or reloaded unit of known state as `started`.
        let known = st.show.contains_key("ActiveState");
        let shown = match state.as_str() {
            "restarted" | "reloaded" if known => "started".to_string(),
            _ => state,
        };
        res.set("state", shown);
    }
    let status: Map<String, Value> = st
        .show
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    res.set("status", Value::Object(status));
    res.changed = !actions.is_empty() || enabled_first.is_some();
    if res.changed && !ctx.call.check {
        if let Err(msg) = ctx
            .change(change_script(&actions, scope, no_block, &q))
            .await?
        {
            return Ok(ModuleResult::fail(format!(
                "Unable to {} service {unit}: {msg}",
                actions
                    .iter()
                    .map(|a| a.verb())
                    .collect::<Vec<_>>()
                    .join("/")
            )));
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from `systemctl show etcd` (systemd 252, Debian 12), trimmed to the keys used.
    const ACTIVE: &str = "Type=notify\nRestart=always\nMainPID=812\nId=etcd.service\nNames=etcd.service etcd2.service\nDescription=etcd - highly-available key value store\nLoadState=loaded\nActiveState=active\nSubState=running\nFragmentPath=/lib/systemd/system/etcd.service\nUnitFileState=enabled\nUnitFilePreset=enabled\nExecMainStatus=0\n";
    const INACTIVE: &str = "Id=etcd.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\n";
    const MISSING: &str = "Id=nope.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n";
    const MASKED: &str = "Id=etcd.service\nLoadState=masked\nActiveState=inactive\nSubState=dead\nUnitFileState=masked\n";

    fn st(show: &str, enabled: &str, rc: i32) -> UnitState {
        UnitState {
            show: parse_show(show),
            is_enabled: enabled.into(),
            is_enabled_rc: rc,
        }
    }

    #[test]
    fn parser_reads_show_output() {
        let s = st(ACTIVE, "enabled", 0);
        assert_eq!(s.show["Names"], "etcd.service etcd2.service");
        assert_eq!(s.show["MainPID"], "812");
        assert!(s.running() && s.enabled() && s.found() && !s.masked());
        assert!(st(MASKED, "masked", 1).masked());
        assert!(!st(MISSING, "", 1).found());
        assert!(!st(ACTIVE, "indirect", 0).enabled());
        assert!(!st(ACTIVE, "enabled-runtime\n", 0).enabled());
        assert!(st(ACTIVE, "static", 0).enabled());
        // `systemctl is-enabled dummy.service -l` for a unit whose [Install] only has
        // `Also=dummy.socket`, once enabled (systemd 252): Ansible reads it as enabled.
        let also = "indirect\n  /etc/systemd/system/sockets.target.wants/dummy.socket";
        assert!(st(ACTIVE, also, 0).enabled());
    }

    #[test]
    fn decisions_follow_ansible() {
        let on = st(ACTIVE, "enabled", 0);
        let off = st(INACTIVE, "disabled", 1);
        assert_eq!(
            plan("etcd", &on, None, Some(true), Some(Wanted::Started)),
            Ok(vec![])
        );
        assert_eq!(
            plan("etcd", &off, None, Some(true), Some(Wanted::Started)),
            Ok(vec![Action::Enable, Action::Start])
        );
        assert_eq!(
            plan("etcd", &on, None, Some(false), Some(Wanted::Stopped)),
            Ok(vec![Action::Disable, Action::Stop])
        );
        assert_eq!(
            plan("etcd", &off, None, None, Some(Wanted::Stopped)),
            Ok(vec![])
        );
        assert_eq!(
            plan("etcd", &on, None, None, Some(Wanted::Restarted)),
            Ok(vec![Action::Restart])
        );
        assert_eq!(
            plan("etcd", &off, None, None, Some(Wanted::Restarted)),
            Ok(vec![Action::Start])
        );
        assert_eq!(
            plan("etcd", &on, None, None, Some(Wanted::Reloaded)),
            Ok(vec![Action::Reload])
        );
        assert_eq!(
            plan(
                "etcd",
                &st(MASKED, "masked", 1),
                Some(false),
                Some(true),
                Some(Wanted::Started)
            ),
            Ok(vec![Action::Unmask, Action::Enable, Action::Start])
        );
        assert_eq!(
            plan("etcd", &on, Some(true), None, None),
            Ok(vec![Action::Mask])
        );
        assert!(plan("etcd", &st(MASKED, "masked", 1), None, Some(true), None).is_err());
        assert_eq!(
            plan(
                "nope",
                &st(MISSING, "", 1),
                None,
                None,
                Some(Wanted::Started)
            ),
            Err("Could not find the requested service nope: host".into())
        );
    }

    /// Runs the system-scope reload script in a scratch tree with a fake `systemctl` that logs
    /// each call (and fails while `fail` exists); returns how many reloads happened.
    struct ReloadBench {
        dir: tempfile::TempDir,
    }

    impl ReloadBench {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let bin = dir.path().join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::create_dir_all(dir.path().join("units/multi-user.target.wants")).unwrap();
            std::fs::write(dir.path().join("units/a.service"), "[Service]\n").unwrap();
            crate::test_shim::write_executable(
                &bin.join("systemctl"),
                &format!(
                    "#!/bin/sh\n[ -e {d}/fail ] && exit 1\necho \"$*\" >> {d}/calls\n",
                    d = dir.path().display()
                ),
            );
            ReloadBench { dir }
        }

        fn path(&self, rel: &str) -> String {
            self.dir.path().join(rel).display().to_string()
        }

        /// Runs the script once; returns its exit code and the reloads counted so far.
        fn run(&self) -> (i32, usize) {
            let script = skippable_reload_script(
                &self.path("run/etcdplay/stamp"),
                &[
                    &self.path("units"),
                    &self.path("fstab"),
                    &self.path("missing"),
                ],
            );
            let path = format!("{}:{}", self.path("bin"), std::env::var("PATH").unwrap());
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&script)
                .env("PATH", path)
                .current_dir(self.dir.path())
                .output()
                .unwrap();
            let calls = std::fs::read_to_string(self.path("calls")).unwrap_or_default();
            assert!(calls.lines().all(|l| l == "daemon-reload"), "{calls}");
            (out.status.code().unwrap_or(-1), calls.lines().count())
        }
    }

    #[test]
    fn daemon_reload_is_skipped_only_while_nothing_it_reads_changed() {
        let b = ReloadBench::new();
        assert_eq!(b.run(), (0, 1), "no stamp yet: reload");
        assert_eq!(b.run(), (0, 1), "nothing changed: skipped");
        std::fs::write(b.path("units/a.service"), "[Service]\nType=simple\n").unwrap();
        assert_eq!(b.run(), (0, 2), "unit edited");
        assert_eq!(b.run(), (0, 2));
        std::fs::write(b.path("units/b.service"), "[Service]\n").unwrap();
        assert_eq!(b.run(), (0, 3), "unit added");
        std::os::unix::fs::symlink(
            "../a.service",
            b.path("units/multi-user.target.wants/a.service"),
        )
        .unwrap();
        assert_eq!(b.run(), (0, 4), "wants link added");
        std::fs::remove_file(b.path("units/b.service")).unwrap();
        assert_eq!(b.run(), (0, 5), "unit removed");
        std::fs::write(b.path("fstab"), "none /x tmpfs defaults 0 0\n").unwrap();
        assert_eq!(b.run(), (0, 6), "generator input appeared");
        assert_eq!(b.run(), (0, 6));
    }

    #[test]
    fn daemon_reload_sees_a_copy_that_kept_the_old_mtime() {
        let b = ReloadBench::new();
        assert_eq!(b.run(), (0, 1));
        let unit = b.path("units/a.service");
        std::fs::write(&unit, "[Service]\nExecStart=/bin/true\n").unwrap();
        let old = std::process::Command::new("touch")
            .args(["-d", "2001-01-01", &unit])
            .status()
            .unwrap();
        assert!(old.success());
        assert_eq!(b.run(), (0, 2), "ctime moved though mtime is old");
    }

    /// A directory named twice (`/lib/systemd/system` on a merged-/usr system is
    /// `/usr/lib/systemd/system`) is searched once; a missing input not at all.
    #[test]
    fn each_reload_input_is_searched_once() {
        let b = ReloadBench::new();
        std::os::unix::fs::symlink(b.path("units"), b.path("alias")).unwrap();
        let script = format!(
            "{}printf '%s\\n' \"$@\"\n",
            stamp_inputs(
                &b.path("stamp"),
                &[
                    &b.path("units"),
                    &b.path("missing"),
                    &b.path("alias"),
                    &b.path("fstab")
                ]
            )
        );
        std::fs::write(b.path("fstab"), "").unwrap();
        let out = std::process::Command::new("/bin/sh")
            .args(["-e", "-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{}\n{}\n", b.path("units"), b.path("fstab"))
        );
    }

    #[test]
    fn the_question_answers_what_the_reload_script_would_do() {
        let b = ReloadBench::new();
        let stamp = b.path("run/etcdplay/stamp");
        let inputs = [b.path("units"), b.path("fstab")];
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let ask = || {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(reload_needed_script(&stamp, &inputs))
                .output()
                .unwrap();
            String::from_utf8(out.stdout)
                .unwrap()
                .contains("@@etcdplay:reload\nneeded")
        };
        assert!(ask(), "no stamp yet");
        assert_eq!(b.run(), (0, 1));
        assert!(!ask(), "reloaded since");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(b.path("units/c.service"), "[Service]\n").unwrap();
        assert!(ask(), "unit added");
        assert_eq!(b.run(), (0, 2), "and the reload script agrees");
        assert_eq!(
            std::fs::read_to_string(b.path("calls"))
                .unwrap()
                .lines()
                .count(),
            2
        );
    }

    #[test]
    fn enabling_a_unit_leaves_no_reload_for_the_next_run() {
        let b = ReloadBench::new();
        assert_eq!(b.run(), (0, 1));
        let script = change_script_at(
            &b.path("run/etcdplay/stamp"),
            &[Action::Enable, Action::Start],
            "",
            "",
            "'a.service'",
        );
        assert!(
            script.contains("systemctl --no-reload enable 'a.service'\n"),
            "{script}"
        );
        // What `systemctl enable` does to the files: a wants link appears.
        let script = script.replacen(
            "systemctl --no-reload enable 'a.service'\n",
            &format!(
                "ln -s ../a.service {}\n",
                b.path("units/multi-user.target.wants/a.service")
            ),
            1,
        );
        let path = format!("{}:{}", b.path("bin"), std::env::var("PATH").unwrap());
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let calls = std::fs::read_to_string(b.path("calls")).unwrap();
        assert_eq!(calls, "daemon-reload\ndaemon-reload\nstart a.service\n");
        std::fs::write(b.path("calls"), "").unwrap();
        assert_eq!(b.run(), (0, 0), "the reload after the enable is remembered");
        let user = change_script(&[Action::Enable], " --user", "", "'a.service'");
        assert_eq!(user, "set -e\nsystemctl --user enable 'a.service'\n");
    }

    /// A reload the probe found due runs without `find`, and leaves the stamp, so the next
    /// run's question finds nothing changed.
    #[test]
    fn a_reload_found_due_runs_without_asking_again() {
        let b = ReloadBench::new();
        assert_eq!(b.run(), (0, 1));
        let script = due_reload_script(&b.path("run/etcdplay/stamp"));
        assert!(!script.contains("find"), "{script}");
        let path = format!("{}:{}", b.path("bin"), std::env::var("PATH").unwrap());
        let out = std::process::Command::new("/bin/sh")
            .args(["-e", "-c", &format!("{script}echo \"rld=$ep_rld\"\n")])
            .env("PATH", path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "rld=no\n");
        let calls = std::fs::read_to_string(b.path("calls")).unwrap();
        assert_eq!(calls.lines().count(), 2, "reloaded though nothing changed");
        assert_eq!(b.run(), (0, 2), "and its stamp is kept");
    }

    /// What the host agent did through systemd's socket the script does not do again; what
    /// it did not, the script does, in order.
    #[test]
    fn a_reload_the_agent_did_is_not_done_again() {
        let hex = etcdplay_transport::agent_hint_path;
        assert_eq!(
            due_reload_agent_words(Some(Action::Enable), "a", "/run/s"),
            format!("sd-enable:{} sd-reload:{}", hex("a"), hex("/run/s"))
        );
        assert_eq!(
            due_reload_agent_words(None, "a", "/run/s"),
            format!("sd-reload:{}", hex("/run/s"))
        );
        let b = ReloadBench::new();
        let script = due_reload_script(&b.path("run/etcdplay/stamp"));
        let path = format!("{}:{}", b.path("bin"), std::env::var("PATH").unwrap());
        let run = |answers: &str| {
            let out = std::process::Command::new("/bin/sh")
                .args([
                    "-e",
                    "-c",
                    &format!("{answers}{script}echo \"rld=$ep_rld\"\n"),
                ])
                .env("PATH", &path)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), "rld=no\n");
            std::fs::read_to_string(b.path("calls")).unwrap_or_default()
        };
        assert_eq!(run("ep_ag_sdrl='done'\n"), "", "no systemctl");
        assert_eq!(run(""), "daemon-reload\n");
    }

    #[test]
    fn a_failed_daemon_reload_is_retried_next_time() {
        let b = ReloadBench::new();
        std::fs::write(b.path("fail"), "").unwrap();
        assert_eq!(b.run().0, 1, "the failure is the task's failure");
        assert!(!std::path::Path::new(&b.path("run/etcdplay/stamp")).exists());
        std::fs::remove_file(b.path("fail")).unwrap();
        assert_eq!(b.run(), (0, 1), "reloads now");
        assert_eq!(b.run(), (0, 1), "and then skips");
    }

    #[test]
    fn user_scope_always_reloads() {
        let s = daemon_reload_script(" --user");
        assert_eq!(
            s.trim_end(),
            "systemctl --user daemon-reload || { echo 'daemon-reload failed' >&2; exit 1; }"
        );
        assert!(daemon_reload_script("").contains("/run/etcdplay/daemon-reload.stamp"));
    }
}
