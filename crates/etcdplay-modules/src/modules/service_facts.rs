//! `service_facts`: the host's services as `ansible_facts.services`, gathered as Ansible's
//! module gathers them on Linux: SysV scripts from `service --status-all` (where `service`
//! exists and neither `chkconfig` nor `rc-status` does), then systemd's units (`systemctl
//! list-units`), completed and given their enablement by `systemctl list-unit-files`, with
//! `systemctl show --property=ActiveState` for the unit files no unit is loaded from. One probe
//! runs every command; the pure [`gather`] reads its sections. Never a change.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::host::Ctx;
use crate::probe::section;
use crate::read_ahead::{sections, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::spec::ArgSpec;
use crate::{ModuleError, ModuleResult};
use etcdplay_transport::ExecOutput;

/// No arguments, as Ansible's module.
pub(crate) const SERVICE_FACTS: &[ArgSpec] = &[];

/// Unit states that win over `list-unit-files`' enablement (Ansible's `BAD_STATES`).
const BAD_STATES: [&str; 3] = ["not-found", "masked", "failed"];

/// The probe: every section is printed only where Ansible's module would run that command.
/// `rc=N` lines carry the exit codes; each unit file without a loaded unit gets one line
/// `NAME<TAB>RC<TAB>ActiveState=...` in section `shows`.
const SCRIPT: &str = r#"if command -v service >/dev/null 2>&1 && ! command -v chkconfig >/dev/null 2>&1 && ! command -v rc-status >/dev/null 2>&1; then
  out=$(LANG=C LC_ALL=C service --status-all 2>/dev/null); rc=$?
  [ -d /etc/init.d ] && echo initd=yes
  echo "rc=$rc"; printf '%s\n' "$out"
fi
@SYSTEMD@if command -v systemctl >/dev/null 2>&1 && { [ -e /run/systemd/system/ ] || [ -e /dev/.run/systemd/ ] || [ -e /dev/.systemd/ ] || [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; }; then
  units=$(LANG=C LC_ALL=C systemctl list-units --no-pager --type service --all --plain 2>/dev/null); urc=$?
  files=$(LANG=C LC_ALL=C systemctl list-unit-files --no-pager --type service --all 2>/dev/null); frc=$?
  echo yes
@UNITS@  echo "rc=$urc"; printf '%s\n' "$units"
@FILES@  echo "rc=$frc"; printf '%s\n' "$files"
@SHOWS@  if [ "$frc" -eq 0 ]; then
    listed=" "
    if [ "$urc" -eq 0 ]; then
      listed=" $(printf '%s\n' "$units" | while read -r u rest; do case "$u $rest" in *.service*) printf '%s ' "$u";; esac; done)"
    fi
    printf '%s\n' "$files" | while read -r u rest; do
      case "$u $rest" in *.service*) ;; *) continue;; esac
      case "$listed" in *" $u "*) continue;; esac
      s=$(LANG=C LC_ALL=C systemctl show "$u" --property=ActiveState 2>/dev/null)
      printf '%s\t%s\t%s\n' "$u" "$?" "$s"
    done
  fi
fi
"#;

/// The read-only probe (it can be read ahead with the play's other probes).
pub(crate) struct ServiceFactsProbe;

impl FirstProbe for ServiceFactsProbe {
    type Answer = Sections;

    fn script(_input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let script = format!("{}{SCRIPT}{}", section("sysv"), section("end"))
            .replace("@SYSTEMD@", &section("systemd"))
            .replace("@UNITS@", &format!("  {}", section("units")))
            .replace("@FILES@", &format!("  {}", section("files")))
            .replace("@SHOWS@", &format!("  {}", section("shows")));
        Ok(Some(with_funcs(&script)))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

/// A command's answer: its exit code and output (`None` when it did not run).
fn answer(s: &Sections, key: &str) -> Option<(i32, String)> {
    let text = String::from_utf8_lossy(s.get(key)?).into_owned();
    let (head, rest) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    let (head, rest) = match head.strip_prefix("initd=") {
        Some(_) => rest.split_once('\n').unwrap_or((rest, "")),
        None => (head, rest),
    };
    let rc = head.strip_prefix("rc=")?.trim().parse().ok()?;
    Some((rc, rest.to_string()))
}

/// What the probe saw, section by section.
pub(crate) struct Observed {
    /// `service --status-all`: exit code, output, and whether `/etc/init.d` exists.
    pub(crate) sysv: Option<(i32, String, bool)>,
    /// `list-units` and `list-unit-files` (exit code, output) on a systemd host.
    pub(crate) units: Option<(i32, String)>,
    pub(crate) files: Option<(i32, String)>,
    /// `show --property=ActiveState` of unit files no unit is loaded from: (exit code, output).
    pub(crate) shows: BTreeMap<String, (i32, String)>,
}

impl Observed {
    pub(crate) fn from_sections(s: &Sections) -> Observed {
        let initd = s.get("sysv").is_some_and(|v| v.starts_with(b"initd=yes"));
        let shows = String::from_utf8_lossy(s.get("shows").map(Vec::as_slice).unwrap_or_default())
            .lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, '\t');
                let (name, rc, out) = (f.next()?, f.next()?, f.next().unwrap_or(""));
                Some((name.to_string(), (rc.parse().ok()?, out.to_string())))
            })
            .collect();
        Observed {
            sysv: answer(s, "sysv").map(|(rc, out)| (rc, out, initd)),
            units: answer(s, "units"),
            files: answer(s, "files"),
            shows,
        }
    }
}

/// One service as Ansible's module describes it.
fn service(name: &str, state: &str, status: Option<&str>, source: &str) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("state".into(), json!(state));
    if let Some(status) = status {
        m.insert("status".into(), json!(status));
    }
    m.insert("source".into(), json!(source));
    Value::Object(m)
}

/// The `[ + ]  name` lines of `service --status-all` (Ansible's pattern
/// `^\s*\[ (\+|\-) \]\s+(.+)$`).
fn sysv_services(out: &str, services: &mut Map<String, Value>) {
    for line in out.lines() {
        let Some(rest) = line.trim_start().strip_prefix("[ ") else {
            continue;
        };
        let (state, after) = match (rest.strip_prefix("+ ]"), rest.strip_prefix("- ]")) {
            (Some(after), _) => ("running", after),
            (_, Some(after)) => ("stopped", after),
            _ => continue,
        };
        let name = after.trim_start();
        if after.starts_with(char::is_whitespace) && !name.is_empty() {
            services.insert(name.into(), service(name, state, None, "sysv"));
        }
    }
}

/// The `.service` lines of `list-units --plain`: name, load, active, sub, description.
fn unit_services(out: &str, services: &mut Map<String, Value>) {
    for line in out.lines().filter(|l| l.contains(".service")) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 4 {
            continue;
        }
        let but_last = &fields[..fields.len() - 1];
        let status = BAD_STATES
            .iter()
            .find(|bad| but_last.contains(bad))
            .copied()
            .unwrap_or(fields[2]);
        let state = if fields[3] == "running" {
            "running"
        } else {
            "stopped"
        };
        services.insert(
            fields[0].into(),
            service(fields[0], state, Some(status), "systemd"),
        );
    }
}

/// The `.service` lines of `list-unit-files`: a unit already listed gets the file's state as
/// its status (unless a bad state holds it); another is added with its `ActiveState`.
fn unit_file_services(
    out: &str,
    shows: &BTreeMap<String, (i32, String)>,
    services: &mut Map<String, Value>,
) -> Result<(), String> {
    for line in out.lines().filter(|l| l.contains(".service")) {
        let mut fields = line.split_whitespace();
        let (Some(name), Some(status)) = (fields.next(), fields.next()) else {
            return Err(format!(
                "Malformed output discovered from systemd list-unit-files: {line}"
            ));
        };
        match services.get_mut(name) {
            Some(known) => {
                let bad = known["status"]
                    .as_str()
                    .is_some_and(|s| BAD_STATES.contains(&s));
                if !bad {
                    known["status"] = json!(status);
                }
            }
            None => {
                let state = match shows.get(name) {
                    Some((0, out)) if !out.is_empty() => {
                        out.replace("ActiveState=", "").trim_end().to_string()
                    }
                    _ => "unknown".to_string(),
                };
                services.insert(name.into(), service(name, &state, Some(status), "systemd"));
            }
        }
    }
    Ok(())
}

/// The services and warnings Ansible's module reports for what the probe saw; `Err` is its
/// failure message.
pub(crate) fn gather(seen: &Observed) -> Result<(Map<String, Value>, Vec<String>), String> {
    let mut services = Map::new();
    let mut warnings = Vec::new();
    match &seen.sysv {
        Some((4, _, false)) | None => {}
        Some((0, out, _)) => sysv_services(out, &mut services),
        Some((rc, out, _)) => {
            warnings.push(format!("Unable to query 'service' tool ({rc}): "));
            sysv_services(out, &mut services);
        }
    }
    let mut systemd = Map::new();
    match &seen.units {
        Some((0, out)) => unit_services(out, &mut systemd),
        Some(_) => warnings.push("Could not list units from systemd: ".into()),
        None => {}
    }
    match &seen.files {
        Some((0, out)) => unit_file_services(out, &seen.shows, &mut systemd)?,
        Some(_) => warnings.push("Could not get unit files data from systemd: ".into()),
        None => {}
    }
    services.extend(systemd);
    Ok((services, warnings))
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let s = ctx.read_probe::<ServiceFactsProbe>().await?;
    let (services, warnings) = match gather(&Observed::from_sections(&s)) {
        Ok(found) => found,
        Err(msg) => return Ok(ModuleResult::fail(msg)),
    };
    let mut res = ModuleResult::ok();
    if !warnings.is_empty() {
        res.set("warnings", warnings);
    }
    if services.is_empty() {
        res.skipped = true;
        res.msg = Some(
            "Failed to find any services. This can be due to privileges or some other \
             configuration issue."
                .into(),
        );
        return Ok(res);
    }
    res.set("ansible_facts", json!({ "services": services }));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Debian 12 lab host (systemd 252), recorded: `service --status-all`, `list-units`
    /// and `list-unit-files` trimmed to a few lines of each kind.
    const SYSV: &str = " [ + ]  dbus\n [ - ]  hwclock.sh\n [ + ]  ssh\n";
    const UNITS: &str = "UNIT                                 LOAD      ACTIVE   SUB     DESCRIPTION\n\
auditd.service                       not-found inactive dead    auditd.service\n\
console-getty.service                loaded    active   running Console Getty\n\
getty@tty1.service                   loaded    inactive dead    Getty on tty1\n\
ssh.service                          loaded    active   running OpenBSD Secure Shell server\n\
systemd-journal-flush.service        loaded    active   exited  Flush Journal to Persistent Storage\n\
\n\
LOAD   = Reflects whether the unit definition was properly loaded.\n\
66 loaded units listed.\n\
To show all installed unit files use 'systemctl list-unit-files'.\n";
    const FILES: &str = "UNIT FILE                              STATE           PRESET\n\
console-getty.service                  enabled-runtime disabled\n\
getty@.service                         enabled         enabled\n\
hwclock.service                        masked          enabled\n\
ssh.service                            enabled         enabled\n\
systemd-journal-flush.service          static          -\n\
\n\
98 unit files listed.\n";

    fn observed() -> Observed {
        let mut shows = BTreeMap::new();
        shows.insert("getty@.service".to_string(), (1, String::new()));
        shows.insert(
            "hwclock.service".to_string(),
            (0, "ActiveState=inactive".to_string()),
        );
        Observed {
            sysv: Some((0, SYSV.into(), true)),
            units: Some((0, UNITS.into())),
            files: Some((0, FILES.into())),
            shows,
        }
    }

    /// What ansible-core 2.19.14's service_facts returned on that host for these services.
    #[test]
    fn services_are_gathered_as_ansible_gathers_them() {
        let (services, warnings) = gather(&observed()).expect("gathered");
        assert!(warnings.is_empty());
        let names: Vec<&str> = services.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "dbus",
                "hwclock.sh",
                "ssh",
                "auditd.service",
                "console-getty.service",
                "getty@tty1.service",
                "ssh.service",
                "systemd-journal-flush.service",
                "getty@.service",
                "hwclock.service"
            ]
        );
        assert_eq!(
            services["dbus"],
            json!({"name": "dbus", "state": "running", "source": "sysv"})
        );
        assert_eq!(services["hwclock.sh"]["state"], "stopped");
        assert_eq!(
            services["auditd.service"],
            json!({"name": "auditd.service", "state": "stopped", "status": "not-found", "source": "systemd"})
        );
        assert_eq!(
            services["console-getty.service"],
            json!({"name": "console-getty.service", "state": "running", "status": "enabled-runtime", "source": "systemd"})
        );
        assert_eq!(services["getty@tty1.service"]["status"], "inactive");
        assert_eq!(
            services["systemd-journal-flush.service"]["state"],
            "stopped"
        );
        assert_eq!(
            services["systemd-journal-flush.service"]["status"],
            "static"
        );
        assert_eq!(
            services["getty@.service"],
            json!({"name": "getty@.service", "state": "unknown", "status": "enabled", "source": "systemd"})
        );
        assert_eq!(services["hwclock.service"]["state"], "inactive");
        assert_eq!(services["hwclock.service"]["status"], "masked");
    }

    #[test]
    fn failures_and_absences_are_reported_as_ansible_reports_them() {
        let none = Observed {
            sysv: None,
            units: None,
            files: None,
            shows: BTreeMap::new(),
        };
        assert!(gather(&none).expect("nothing").0.is_empty());
        let broken = Observed {
            sysv: Some((4, String::new(), false)),
            units: Some((1, String::new())),
            files: Some((0, "lonely.service\n".into())),
            shows: BTreeMap::new(),
        };
        let err = gather(&broken).expect_err("malformed");
        assert!(err.starts_with("Malformed output"), "{err}");
        let warned = Observed {
            files: Some((1, String::new())),
            ..broken
        };
        let (services, warnings) = gather(&warned).expect("warned");
        assert!(services.is_empty());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }
}
