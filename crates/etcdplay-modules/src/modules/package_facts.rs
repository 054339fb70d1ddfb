//! `package_facts`: the installed packages as `ansible_facts.packages` (name → list of installed
//! versions), read from dpkg's database (`dpkg-query`, with each version's origin from
//! `apt-cache policy`) and from rpm's (`rpm -qa --qf`), with the keys Ansible's `apt` and `rpm`
//! managers give. `manager` and `strategy` choose among them as Ansible's module does. One
//! probe reads every database the task may need; the pure [`packages_of`] and [`choose`] do
//! the rest. Never a change.

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Map, Value};

use crate::host::Ctx;
use crate::probe::section;
use crate::read_ahead::{sections, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::spec::{ArgSpec, ArgType};
use crate::{ModuleError, ModuleResult};
use etcdplay_transport::ExecOutput;

pub(crate) const PACKAGE_FACTS: &[ArgSpec] = &[
    ArgSpec {
        name: "manager",
        kind: ArgType::List,
        required: false,
        aliases: &[],
    },
    ArgSpec {
        name: "strategy",
        kind: ArgType::Str,
        required: false,
        aliases: &[],
    },
];

/// Ansible's manager names, in the order `auto` tries them (sorted, then the aliases).
const MANAGERS: [&str; 14] = [
    "apk",
    "apt",
    "pacman",
    "pkg",
    "pkg_info",
    "portage",
    "rpm",
    "dnf",
    "dnf5",
    "yum",
    "zypper",
    "pkg5",
    "pkgng",
    "openbsd_pkg",
];

/// The manager an alias stands for (Ansible's `ALIASES`).
fn unaliased(name: &str) -> &str {
    match name {
        "dnf" | "dnf5" | "yum" | "zypper" => "rpm",
        "pkg5" | "pkgng" => "pkg",
        "openbsd_pkg" => "pkg_info",
        other => other,
    }
}

/// dpkg's installed packages (`status<TAB>name<TAB>arch<TAB>version<TAB>section`), the host's
/// architecture, `apt-cache policy` of those packages and of the sources, and rpm's packages.
const SCRIPT: &str = r#"if command -v dpkg-query >/dev/null 2>&1; then
  echo yes
  dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Architecture}\t${Version}\t${Section}\n' 2>/dev/null
@ARCH@  dpkg --print-architecture 2>/dev/null
@POLICY@  if command -v apt-cache >/dev/null 2>&1; then
    native=$(dpkg --print-architecture 2>/dev/null)
    set --
    for p in $(dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Architecture}\n' 2>/dev/null | sed -n 's/^[a-z][iUFWt]. *|//p'); do
      case "${p#*|}" in "$native"|all) set -- "$@" "${p%|*}";; *) set -- "$@" "${p%|*}:${p#*|}";; esac
    done
    [ $# -gt 0 ] && LANG=C LC_ALL=C apt-cache policy -- "$@" 2>/dev/null
@SHOW@    set --
    for p in $(dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Architecture}=${Version}\n' 2>/dev/null | sed -n 's/^[a-z][iUFWt]. *|//p'); do
      a=${p#*|}; case "${a%%=*}" in "$native"|all) set -- "$@" "${p%|*}=${a#*=}";; *) set -- "$@" "${p%|*}:$a";; esac
    done
    [ $# -gt 0 ] && LANG=C LC_ALL=C apt-cache show -- "$@" 2>/dev/null
@SOURCES@    LANG=C LC_ALL=C apt-cache policy 2>/dev/null
  fi
fi
@RPM@if command -v rpm >/dev/null 2>&1; then
  echo yes
  rpm -qa --qf '%{NAME}\t%{VERSION}\t%{RELEASE}\t%{EPOCH}\t%{ARCH}\n' 2>/dev/null
fi
"#;

/// The read-only probe (it can be read ahead with the play's other probes).
pub(crate) struct PackageFactsProbe;

impl FirstProbe for PackageFactsProbe {
    type Answer = Sections;

    fn script(_input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let script = format!("{}{SCRIPT}{}", section("dpkg"), section("end"))
            .replace("@ARCH@", &format!("  {}", section("arch")))
            .replace("@POLICY@", &format!("  {}", section("policy")))
            .replace("@SOURCES@", &format!("    {}", section("sources")))
            .replace("@SHOW@", &format!("    {}", section("show")))
            .replace("@RPM@", &section("rpm"));
        Ok(Some(with_funcs(&script)))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

/// `Origin` (`o=`) of each package source `apt-cache policy` lists, keyed by the source's
/// line (`http://deb.debian.org/debian bookworm/main amd64 Packages`).
pub(crate) fn source_origins(policy: &str) -> BTreeMap<String, String> {
    let mut origins = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in policy.lines() {
        let t = line.trim();
        if let Some(release) = t.strip_prefix("release ") {
            if let Some(source) = current.take() {
                let origin = release
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("o="))
                    .unwrap_or("");
                origins.insert(source, origin.to_string());
            }
        } else if let Some((prio, source)) = t.split_once(' ') {
            if prio.parse::<i64>().is_ok() && !line.starts_with("     ") {
                current = Some(source.to_string());
            }
        }
    }
    origins
}

/// For each package of `apt-cache policy PKG...`, the source its installed version is listed
/// from first (python-apt's `origins[0]`): `name` (or `name:arch`) → source line.
pub(crate) fn installed_sources(policy: &str) -> BTreeMap<String, String> {
    let mut firsts = BTreeMap::new();
    let mut package: Option<String> = None;
    let mut in_installed = false;
    for line in policy.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            package = Some(line.trim_end_matches(':').to_string());
            in_installed = false;
            continue;
        }
        let t = line.trim();
        if t.starts_with("*** ") {
            in_installed = true;
            continue;
        }
        let is_version_line = line.starts_with("     ") && !line.starts_with("        ");
        if is_version_line {
            in_installed = false;
            continue;
        }
        if !in_installed {
            continue;
        }
        if let (Some(name), Some((prio, source))) = (&package, t.split_once(' ')) {
            if prio.parse::<i64>().is_ok() {
                firsts
                    .entry(name.clone())
                    .or_insert_with(|| source.to_string());
                in_installed = false;
            }
        }
    }
    firsts
}

/// The `Section` apt gives each installed version (`apt-cache show NAME=VERSION...`): that of
/// the first package list holding it, which may differ from dpkg's (`oldlibs` in dpkg's
/// status, `misc` in bookworm's lists): `name` (or `name:arch`) → section.
pub(crate) fn apt_sections(show: &str, native: &str) -> BTreeMap<String, String> {
    let mut sections = BTreeMap::new();
    for stanza in show.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
                .map(str::trim)
        };
        let (Some(name), Some(arch)) = (field("Package"), field("Architecture")) else {
            continue;
        };
        let key = if arch == native || arch == "all" {
            name.to_string()
        } else {
            format!("{name}:{arch}")
        };
        if let Some(section) = field("Section") {
            sections.entry(key).or_insert_with(|| section.to_string());
        }
    }
    sections
}

/// The packages of one manager, as Ansible's manager class of that name describes them.
pub(crate) fn packages_of(manager: &str, s: &Sections) -> Option<Map<String, Value>> {
    let text = |k: &str| {
        String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default()).into_owned()
    };
    let listing = text(manager);
    let body = listing.strip_prefix("yes\n")?;
    let mut packages = Map::new();
    let mut add = |name: String, details: Value| {
        let list = packages.entry(name).or_insert_with(|| json!([]));
        if let Value::Array(items) = list {
            items.push(details);
        }
    };
    match manager {
        "dpkg" => {
            let native = text("arch").trim().to_string();
            let sources = installed_sources(&text("policy"));
            let origins = source_origins(&text("sources"));
            let apt_section = apt_sections(&text("show"), &native);
            for line in body.lines() {
                let f: Vec<&str> = line.split('\t').collect();
                let [status, name, arch, version, category] = f[..] else {
                    continue;
                };
                if !installed(status) {
                    continue;
                }
                let key = if arch == native || arch == "all" {
                    name.to_string()
                } else {
                    format!("{name}:{arch}")
                };
                let category = apt_section.get(&key).map_or(category, String::as_str);
                let origin = sources
                    .get(&key)
                    .and_then(|src| origins.get(src))
                    .cloned()
                    .unwrap_or_default();
                add(
                    key.clone(),
                    json!({"name": key, "version": version, "arch": arch,
                           "category": category, "origin": origin, "source": "apt"}),
                );
            }
        }
        _ => {
            // rpm's `(none)` is a missing tag, which Ansible's `to_text(None)` prints as `None`.
            let field = |v: &str| {
                if v == "(none)" {
                    "None".to_string()
                } else {
                    v.to_string()
                }
            };
            for line in body.lines() {
                let f: Vec<&str> = line.split('\t').collect();
                let [name, version, release, epoch, arch] = f[..] else {
                    continue;
                };
                add(
                    field(name),
                    json!({"name": field(name), "version": field(version),
                           "release": field(release), "epoch": field(epoch),
                           "arch": field(arch), "source": "rpm"}),
                );
            }
        }
    }
    Some(packages)
}

/// A dpkg status abbreviation (`ii `, `iU `, ...) of a package apt sees as installed: one with
/// a current version (installed, unpacked, half-configured, awaiting triggers).
fn installed(status: &str) -> bool {
    matches!(
        status.as_bytes().get(1),
        Some(b'i' | b'U' | b'F' | b'W' | b't')
    )
}

/// The warnings Ansible's module gives along with its result or failure.
type Warnings = Vec<String>;

/// The result of the module for `managers` and `strategy` given what the host has.
pub(crate) fn choose(
    requested: &[String],
    strategy_all: bool,
    s: &Sections,
) -> Result<(Map<String, Value>, Warnings), (String, Warnings)> {
    let mut managers: Vec<String> = requested.iter().map(|m| m.to_lowercase()).collect();
    let auto = managers.iter().any(|m| m == "auto");
    if auto {
        managers.retain(|m| m != "auto");
        managers.extend(MANAGERS.iter().map(|m| m.to_string()));
    }
    let unsupported: Vec<&str> = managers
        .iter()
        .filter(|m| !MANAGERS.contains(&m.as_str()))
        .map(String::as_str)
        .collect();
    if !unsupported.is_empty() {
        let msg = if auto {
            "Could not auto detect a usable package manager, check warnings for details.".into()
        } else {
            format!(
                "Unsupported package managers requested: {}",
                unsupported.join(", ")
            )
        };
        return Err((msg, Vec::new()));
    }
    let mut packages = Map::new();
    let mut warnings = Vec::new();
    let mut seen = HashSet::new();
    let mut found = 0;
    for name in &managers {
        if !strategy_all && found > 0 {
            break;
        }
        let manager = unaliased(name);
        if !seen.insert(manager.to_string()) {
            continue;
        }
        let database = match manager {
            "apt" => "dpkg",
            "rpm" => "rpm",
            _ => "",
        };
        let Some(found_here) = Some(database)
            .filter(|d| !d.is_empty())
            .and_then(|d| packages_of(d, s))
        else {
            if requested.iter().any(|r| r == manager) {
                warnings.push(format!(
                    "Requested package manager {manager} was not usable by this module: {}",
                    if database.is_empty() {
                        "etcdplay does not read its database"
                    } else {
                        "its command is not installed"
                    }
                ));
            }
            continue;
        };
        if found_here.is_empty() {
            warnings.push(format!("Found \"{manager}\" but no associated packages"));
            continue;
        }
        found += 1;
        for (k, v) in found_here {
            match (packages.get_mut(&k), v) {
                (Some(Value::Array(have)), Value::Array(more)) => have.extend(more),
                (_, v) => {
                    packages.insert(k, v);
                }
            }
        }
    }
    if found == 0 {
        let list = managers
            .iter()
            .map(|m| format!("'{m}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let msg = format!(
            "Could not detect a supported package manager from the following list: [{list}], \
             or the required Python library is not installed. Check warnings for details."
        );
        return Err((msg, warnings));
    }
    Ok((packages, warnings))
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let managers = a.list("manager")?.unwrap_or_else(|| vec!["auto".into()]);
    let strategy_all = a.choice("strategy", &["first", "all"], "first")? == "all";
    let s = ctx.read_probe::<PackageFactsProbe>().await?;
    let mut res = match choose(&managers, strategy_all, &s) {
        Ok((packages, warnings)) => {
            let mut res = ModuleResult::ok();
            res.set("ansible_facts", json!({ "packages": packages }));
            if !warnings.is_empty() {
                res.set("warnings", warnings);
            }
            res
        }
        Err((msg, warnings)) => {
            let mut res = ModuleResult::fail(msg);
            if !warnings.is_empty() {
                res.set("warnings", warnings);
            }
            res
        }
    };
    res.changed = false;
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded on a Debian 12 lab host (apt 2.6.1): `dpkg-query -W -f=...` lines, `apt-cache
    /// policy adduser python3-apt libc6` and `apt-cache policy`, trimmed (adduser's section
    /// edited to show that apt's list wins over dpkg's status, as lsb-base's does there).
    const DPKG: &str = "yes\nii \tadduser\tall\t3.134\tadmin\n\
ii \tlibc6\tamd64\t2.36-9+deb12u13\tlibs\n\
rc \tgone\tamd64\t1.0\tutils\n\
ii \tlocal-only\tamd64\t0.1\tmisc\n";
    const POLICY: &str = "adduser:\n  Installed: 3.134\n  Candidate: 3.134\n  Version table:\n\
 *** 3.134 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n\
        100 /var/lib/dpkg/status\n\
libc6:\n  Installed: 2.36-9+deb12u13\n  Candidate: 2.36-9+deb12u13\n  Version table:\n\
 *** 2.36-9+deb12u13 100\n        100 /var/lib/dpkg/status\n\
     2.36-9+deb12u4 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n\
local-only:\n  Installed: 0.1\n  Candidate: 0.1\n  Version table:\n\
 *** 0.1 100\n        100 /var/lib/dpkg/status\n";
    const SOURCES: &str = "Package files:\n 100 /var/lib/dpkg/status\n     release a=now\n\
 500 http://deb.debian.org/debian bookworm/main amd64 Packages\n\
     release v=12.4,o=Debian,a=stable,n=bookworm,l=Debian,c=main,b=amd64\n\
     origin deb.debian.org\nPinned packages:\n";

    fn answer(pairs: &[(&str, &str)]) -> Sections {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn dpkg_packages_have_the_keys_of_ansibles_apt_manager() {
        let s = answer(&[
            ("dpkg", DPKG),
            ("arch", "amd64\n"),
            ("policy", POLICY),
            ("sources", SOURCES),
            (
                "show",
                "Package: adduser\nVersion: 3.134\nArchitecture: all\nSection: misc\n\n",
            ),
        ]);
        let packages = packages_of("dpkg", &s).expect("dpkg");
        assert_eq!(
            packages["adduser"],
            json!([{"name": "adduser", "version": "3.134", "arch": "all", "category": "misc",
                    "origin": "Debian", "source": "apt"}])
        );
        assert_eq!(packages["libc6"][0]["origin"], "");
        assert_eq!(
            packages["libc6"][0]["category"], "libs",
            "dpkg's when apt has none"
        );
        assert_eq!(packages["local-only"][0]["origin"], "");
        assert!(
            !packages.contains_key("gone"),
            "config-files only is not installed"
        );
    }

    /// `rpm -qa --qf` recorded on Fedora 40 (rpm 4.19); Ansible's rpm manager gives `None`
    /// for a missing tag (its `to_text` of the binding's `None`).
    #[test]
    fn rpm_packages_have_the_keys_of_ansibles_rpm_manager() {
        let s = answer(&[(
            "rpm",
            "yes\nbash\t5.2.26\t3.fc40\t(none)\tx86_64\nperl-Errno\t1.37\t506.fc40\t0\tx86_64\n\
             gpg-pubkey\ta15b79cc\t63d04c2c\t(none)\t(none)\n",
        )]);
        let packages = packages_of("rpm", &s).expect("rpm");
        assert_eq!(
            packages["bash"],
            json!([{"name": "bash", "version": "5.2.26", "release": "3.fc40", "epoch": "None",
                    "arch": "x86_64", "source": "rpm"}])
        );
        assert_eq!(packages["perl-Errno"][0]["epoch"], "0");
        assert_eq!(packages["gpg-pubkey"][0]["arch"], "None");
    }

    #[test]
    fn managers_are_chosen_as_ansible_chooses_them() {
        let s = answer(&[("dpkg", DPKG), ("arch", "amd64\n"), ("rpm", "yes\n")]);
        let auto = vec!["auto".to_string()];
        let (packages, warnings) = choose(&auto, false, &s).expect("apt");
        assert!(packages.contains_key("adduser") && warnings.is_empty());
        let (_, warnings) = choose(&auto, true, &s).expect("all");
        assert_eq!(warnings, ["Found \"rpm\" but no associated packages"]);
        let (err, _) = choose(&["nope".into()], false, &s).expect_err("unsupported");
        assert_eq!(err, "Unsupported package managers requested: nope");
        // Ansible warns only for a manager asked for by its own name, not by an alias.
        let (_, warnings) = choose(&["rpm".into()], false, &answer(&[])).expect_err("none");
        assert_eq!(
            warnings,
            ["Requested package manager rpm was not usable by this module: its command is not installed"]
        );
        let (err, warnings) = choose(&["yum".into()], false, &answer(&[])).expect_err("none");
        assert!(warnings.is_empty());
        assert!(
            err.starts_with(
                "Could not detect a supported package manager from the following list: ['yum']"
            ),
            "{err}"
        );
    }
}
