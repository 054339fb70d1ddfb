//! `package`: the host's own package manager, as Ansible's `package` picks it (its `pkg_mgr`
//! fact, or `use:`): asked on the host in one probe, then the work is that module's. etcdplay
//! implements apt and dnf (yum hosts run dnf, as in Ansible 2.19); on a host with another
//! manager the task fails naming it.

use crate::host::Ctx;
use crate::probe::section;
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

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let chosen = match ctx.args.str("use").filter(|u| u != "auto") {
        Some(given) => given,
        None => {
            let mut script = section("mgr");
            script.push_str("for m in");
            for (binary, _) in MANAGERS {
                script.push(' ');
                script.push_str(binary);
            }
            script.push_str(
                "; do command -v \"$m\" >/dev/null 2>&1 && { echo \"$m\"; break; }; done\n",
            );
            script.push_str(&section("end"));
            let s = ctx.probe(&script).await?;
            let found =
                String::from_utf8_lossy(s.get("mgr").map(Vec::as_slice).unwrap_or_default())
                    .trim()
                    .to_string();
            MANAGERS
                .iter()
                .find(|(binary, _)| *binary == found)
                .map(|(_, name)| (*name).to_string())
                .unwrap_or_default()
        }
    };
    match chosen.as_str() {
        "apt" => crate::modules::apt::run(ctx).await,
        // Ansible 2.19 runs yum as dnf.
        "dnf" | "yum" | "dnf5" => crate::modules::dnf::run(ctx).await,
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
