//! `package`: the host's own package manager, as Ansible's `package` picks it (its `pkg_mgr`
//! fact, or `use:`): asked on the host in one probe ([`PackageProbe`], which also reads what
//! that manager's module reads first), then the work is that module's. etcdplay
//! implements apt and dnf (yum hosts run dnf, as in Ansible 2.19); on a host with another
//! manager the task fails naming it.

use etcdplay_transport::ExecOutput;

use crate::host::Ctx;
use crate::modules::{apt, dnf};
use crate::probe::section;
use crate::read_ahead::{sections, text, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::{ModuleError, ModuleResult};

/// Package managers in the order Ansible's fact gathering looks for them.
const MANAGERS: &[(&str, &str)] = &[
    ("apt-get", "apt"),
    ("dnf", "dnf"),
    ("yum", "yum"),
    ("zypper", "zypper"),
    ("apk", "apk"),
    ("pacman", "pacman"),
];

/// The host's package manager and, in the same script, the probe of that manager's module
/// for this task: one read, which the read-ahead sends early, answers a no-change `package`.
pub(crate) struct PackageProbe;

impl FirstProbe for PackageProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let mut script = section("mgr");
        script.push_str("ep_mgr=\nfor m in");
        for (binary, _) in MANAGERS {
            script.push(' ');
            script.push_str(binary);
        }
        script.push_str(
            "; do command -v \"$m\" >/dev/null 2>&1 && { ep_mgr=$m; break; }; done\n\
             echo \"$ep_mgr\"\ncase $ep_mgr in\n",
        );
        // An argument a manager's module refuses is its run's error, not the probe's.
        if let Some(body) = apt::probe_body(input.args).ok().flatten() {
            script.push_str(&format!("apt-get)\n{body};;\n"));
        }
        if let Some(body) = dnf::package_probe_body(input.args).ok().flatten() {
            script.push_str(&format!("dnf|yum)\n{body};;\n"));
        }
        script.push_str(&format!("*)\n{};;\nesac\n", section("end")));
        Ok(Some(with_funcs(&script)))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let read = ctx.read_probe::<PackageProbe>().await?;
    let found = text(&read, "mgr").trim().to_string();
    let detected = MANAGERS
        .iter()
        .find(|(binary, _)| *binary == found)
        .map(|(_, name)| (*name).to_string())
        .unwrap_or_default();
    let chosen = ctx
        .args
        .str("use")
        .filter(|u| u != "auto")
        .unwrap_or_else(|| detected.clone());
    // The manager's own probe was answered in the same script when the host's manager is the
    // one chosen and the task's first request only reads.
    let apt_read = (chosen == "apt" && detected == "apt" && apt::probe_body(&ctx.args)?.is_some())
        .then(|| read.clone());
    let dnf_read = (matches!(detected.as_str(), "dnf" | "yum")
        && matches!(chosen.as_str(), "dnf" | "yum" | "dnf5")
        && dnf::package_probe_body(&ctx.args)?.is_some())
    .then(|| read.clone());
    match chosen.as_str() {
        "apt" => apt::run_with(ctx, apt_read).await,
        // Ansible 2.19 runs yum as dnf.
        "dnf" | "yum" | "dnf5" => dnf::run_with(ctx, dnf_read).await,
        "" => Ok(ModuleResult::fail(
            "Could not find a package manager on the host (looked for apt-get, dnf, yum, zypper, apk, pacman)",
        )),
        other if MANAGERS.iter().any(|(_, name)| *name == other) => Ok(ModuleResult::fail(
            format!(
                "the package manager '{other}' is not supported by etcdplay yet (apt, dnf and yum are)"
            ),
        )),
        // A name that is no package manager module at all: Ansible's action says so.
        other => Ok(ModuleResult::fail(format!(
            "Could not find a matching action for the \"{other}\" package manager."
        ))),
    }
}
