//! Explicit probes: a module whose first request only reads the host declares that request in
//! the registry as a [`FirstProbe`] — a pure function from its arguments (and check/diff mode)
//! to the probe script, and the pure parser of the probe's answer. The engine reads the probes
//! of upcoming tasks ahead in one round trip (`etcdplay_transport::Prefetching`) with
//! [`first_probe`], which asks the registry's declaration; the module's run sends the same
//! declaration's request through [`crate::host::Ctx::read_first`] and parses the answer with
//! its parser. What read-ahead sends and what the module sends first are therefore one
//! function, and a probe never depends on a template's content or a local file (the read-ahead
//! may run before the facts a template needs).

use std::collections::BTreeMap;

use etcdplay_transport::{ExecOutput, ExecRequest};

use crate::args::Args;
use crate::probe::{parse_sections, FUNCS};
use crate::{ModuleCall, ModuleError};

/// What a probe may depend on: the module's arguments and the run's modes.
pub(crate) struct ProbeInput<'a> {
    pub(crate) args: &'a Args,
    pub(crate) check: bool,
    pub(crate) diff: bool,
}

/// A module's first request when it only reads, and the parser of its answer.
pub(crate) trait FirstProbe {
    /// What the module learns from the answer.
    type Answer;
    /// Whether the script keeps to `etcdplay_transport::INLINE_PROBE`'s rules, so that a
    /// read-ahead batch may run it in its own shell (one process less on the host).
    const INLINE: bool = false;
    /// The whole script of the probe for these arguments, or `None` when this call's first
    /// request acts (a `systemd` `daemon_reexec`). An error is the module's own argument error.
    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError>;
    /// Reads the answer; an error says why the host's answer makes no sense.
    fn parse(out: &ExecOutput) -> Result<Self::Answer, String>;
}

/// The script of probe `P` as it is sent, by the read-ahead and by the module's run alike:
/// [`FirstProbe::script`], marked when it may run inline.
pub(crate) fn declared_script<P: FirstProbe>(
    input: &ProbeInput<'_>,
) -> Result<Option<String>, ModuleError> {
    Ok(P::script(input)?.map(|script| {
        if P::INLINE {
            format!("{}{script}", etcdplay_transport::INLINE_PROBE)
        } else {
            script
        }
    }))
}

/// A [`FirstProbe`] as the registry keeps it (its answer's type erased).
#[derive(Clone, Copy)]
pub(crate) struct ProbeDecl {
    pub(crate) script: fn(&ProbeInput<'_>) -> Result<Option<String>, ModuleError>,
    /// Names the declared probe, so a run can check it sends the declared one.
    pub(crate) probe_type: fn() -> &'static str,
}

/// The registry's declaration of probe `P`.
pub(crate) const fn reads<P: FirstProbe>() -> Option<ProbeDecl> {
    Some(ProbeDecl {
        script: declared_script::<P>,
        probe_type: std::any::type_name::<P>,
    })
}

/// The sections of a probe script's stdout (see [`crate::probe::section`]); the script must
/// have reached its `end` section.
pub(crate) type Sections = BTreeMap<String, Vec<u8>>;

/// [`Sections`] of a probe's answer, or why there are none.
pub(crate) fn sections(out: &ExecOutput) -> Result<Sections, String> {
    let sections = parse_sections(&out.stdout);
    if sections.contains_key("end") {
        Ok(sections)
    } else {
        Err(format!(
            "probe script failed (rc {}): {}",
            out.rc,
            out.stderr_str().trim()
        ))
    }
}

/// The text of one section (empty when the script printed none).
pub(crate) fn text(s: &Sections, name: &str) -> String {
    String::from_utf8_lossy(s.get(name).map(Vec::as_slice).unwrap_or_default()).into_owned()
}

/// A probe body with the shared shell functions it uses in front.
pub(crate) fn with_funcs(body: &str) -> String {
    format!("{FUNCS}{body}")
}

/// The probe `call` would send first, as its module declares it in the registry: `None` for a
/// module without one, for arguments that make its first request act or that it refuses, for
/// a `~` or `$` path argument, and for a check run that skips the module.
pub fn first_probe(call: ModuleCall<'_>) -> Option<ExecRequest> {
    let module = crate::registry::lookup(call.name)?;
    let decl = module.probe?;
    if call.check && !module.supports_check {
        return None;
    }
    let args = Args::parse(module.name, call.args).ok()?;
    // A `~` or `$` path is expanded on the host first, so the probe is not the first
    // request and its script is only known after that answer.
    if !crate::host::expandable_paths(&args).is_empty() {
        return None;
    }
    let input = ProbeInput {
        args: &args,
        check: call.check,
        diff: call.diff,
    };
    let script = (decl.script)(&input).ok()??;
    Some(ExecRequest {
        become_: call.become_.cloned(),
        ..ExecRequest::script(script)
    })
}
