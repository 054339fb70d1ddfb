//! `sysctl`: a kernel parameter's value, set now (`sysctl -w`) and kept across reboots in
//! `sysctl_file` (default `/etc/sysctl.conf`), as Ansible's module does: one probe
//! ([`SysctlProbe`], which the read-ahead sends early) reads the running value and the file,
//! the pure [`edit_file`] decides the file's new text, and the file is written through the
//! same atomic upload as every other file.

use std::collections::{BTreeMap, BTreeSet};

use etcdplay_transport::script::sh_quote;
use etcdplay_transport::ExecOutput;

use crate::host::Ctx;
use crate::probe::{decode_b64, section};
use crate::read_ahead::{sections, text, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::{ModuleError, ModuleResult};

/// The `key=value` lines of a sysctl.conf text, as Ansible's module reads them: lines trimmed,
/// blank lines, comments (`#`, `;`) and lines without `=` skipped, the last value of a key
/// winning (as it does when sysctl loads the file).
fn file_values(text: &str) -> BTreeMap<&str, &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(['#', ';']))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

/// The file's new text with `name` set to `value` (or removed, with `None`), written the way
/// Ansible's module rewrites the whole file: every line trimmed, each key kept once (its first
/// line, as `key=value`), `name` in place of its first line or appended.
pub(crate) fn edit_file(text: &str, name: &str, value: Option<&str>) -> String {
    let mut out = String::new();
    let mut seen = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        let pair = Some(line)
            .filter(|l| !l.starts_with(['#', ';']))
            .and_then(|l| l.split_once('='));
        let Some((k, v)) = pair.map(|(k, v)| (k.trim(), v.trim())) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        if !seen.insert(k) {
            continue;
        }
        match (k == name, value) {
            (true, Some(new)) => out.push_str(&format!("{k}={new}\n")),
            (true, None) => {}
            (false, _) => out.push_str(&format!("{k}={v}\n")),
        }
    }
    if let (false, Some(new)) = (seen.contains(name), value) {
        out.push_str(&format!("{name}={new}\n"));
    }
    out
}

/// A value as Ansible's module compares and writes it: booleans (`yes`, `True`, `off`, ...)
/// as `1`/`0`, anything else trimmed.
fn parsed_value(value: &str) -> String {
    const TRUE: [&str; 6] = ["y", "yes", "on", "1", "true", "t"];
    const FALSE: [&str; 6] = ["n", "no", "off", "0", "false", "f"];
    let lower = value.to_ascii_lowercase();
    if TRUE.contains(&lower.as_str()) {
        "1".into()
    } else if FALSE.contains(&lower.as_str()) {
        "0".into()
    } else {
        value.trim().into()
    }
}

/// Two values the same word for word (sysctl prints `4096\t87380`, files say `4096 87380`).
fn same_words(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// What the task does, decided as Ansible's module decides it from the file and the running
/// value (`None` when `sysctl -n` fails: an unknown key).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    changed: bool,
    write_file: bool,
    set_running: bool,
    reload: bool,
}

pub(crate) fn plan(
    in_file: Option<&str>,
    running: Option<&str>,
    value: &str,
    present: bool,
    sysctl_set: bool,
    reload: bool,
) -> Plan {
    let running_differs = running.is_none_or(|r| !same_words(r, value));
    let (mut changed, write_file) = match in_file {
        None => (present, present),
        Some(old) if !present && !old.is_empty() => (true, true),
        Some(old) if old != value => (true, true),
        Some(_) => (reload && running_differs, false),
    };
    let set_running = sysctl_set && present && running.is_some() && running_differs;
    changed |= sysctl_set && present && running_differs;
    Plan {
        changed,
        write_file,
        set_running,
        reload: changed && reload,
    }
}

/// The parameter's running value (`sysctl -n`, with its exit code: an unknown key fails) and
/// the file's text: the module's one read, which the read-ahead sends early.
pub(crate) struct SysctlProbe;

impl FirstProbe for SysctlProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let name = input.args.req_str("name")?.trim().to_string();
        let file = input
            .args
            .str("sysctl_file")
            .unwrap_or_else(|| DEFAULT_FILE.to_string());
        Ok(Some(with_funcs(&format!(
            "{}sysctl -e -n -- {} 2>/dev/null; ep_rc=$?\n{}echo \"$ep_rc\"\n{}ep_b64 {}\n{}",
            section("now"),
            sh_quote(&name),
            section("rc"),
            section("file"),
            sh_quote(&file),
            section("end")
        ))))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

/// Where the module keeps values across reboots unless `sysctl_file` says otherwise.
const DEFAULT_FILE: &str = "/etc/sysctl.conf";

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let name = a.req_str("name")?.trim().to_string();
    let present = a.choice("state", &["present", "absent"], "present")? == "present";
    let raw_value = a.str("value");
    if present && raw_value.is_none() {
        return Err(ModuleError::missing("sysctl", "value"));
    }
    let value = raw_value.as_deref().map(parsed_value).unwrap_or_default();
    let file = a
        .str("sysctl_file")
        .unwrap_or_else(|| DEFAULT_FILE.to_string());
    let sysctl_set = a.bool("sysctl_set", false)?;
    let reload = a.bool("reload", true)?;
    let ignoreerrors = a.bool("ignoreerrors", false)?;
    let q = sh_quote(&file);
    let s = ctx.read_probe::<SysctlProbe>().await?;
    let text_of = |key: &str| text(&s, key);
    let running = (text_of("rc").trim() == "0").then(|| text_of("now"));
    let old = String::from_utf8_lossy(&decode_b64(s.get("file")).unwrap_or_default()).into_owned();
    let in_file = file_values(&old).get(name.as_str()).map(|v| v.to_string());
    let plan = plan(
        in_file.as_deref(),
        running.as_deref(),
        &value,
        present,
        sysctl_set,
        reload,
    );
    let mut res = ModuleResult::ok();
    res.changed = plan.changed;
    if !plan.changed || ctx.call.check {
        return Ok(res);
    }
    let e = if ignoreerrors { " -e" } else { "" };
    if plan.set_running {
        let set = format!("sysctl{e} -w {}", sh_quote(&format!("{name}={value}")));
        if let Err(msg) = checked(ctx, set).await? {
            return Ok(ModuleResult::fail(format!("setting {name} failed: {msg}")));
        }
    }
    if plan.write_file {
        let new_text = edit_file(&old, &name, present.then_some(value.as_str()));
        ctx.put(
            &file,
            std::sync::Arc::new(new_text.into_bytes()),
            None,
            None,
            None,
        )
        .await?;
    }
    if plan.reload {
        if let Err(msg) = checked(ctx, format!("sysctl{e} -p {q}")).await? {
            return Ok(ModuleResult::fail(format!(
                "Failed to reload sysctl: {msg}"
            )));
        }
    }
    Ok(res)
}

/// Runs a sysctl command, failing as Ansible's module does: on a non-zero exit, or on the
/// errors sysctl prints while exiting 0 (`setting key "...": Invalid argument` or
/// `Read-only file system`).
async fn checked(ctx: &Ctx<'_>, command: String) -> Result<Result<(), String>, ModuleError> {
    Ok(
        match ctx.change(format!("LANG=C LC_ALL=C {command}")).await? {
            Err(msg) => Err(msg),
            Ok(out) => {
                let err = out.stderr_str();
                let silent_failure = err.lines().any(|l| {
                    l.starts_with("sysctl: setting key \"")
                        && (l.ends_with("\": Invalid argument")
                            || l.ends_with("\": Read-only file system"))
                });
                if silent_failure {
                    Err(err.trim().to_string())
                } else {
                    Ok(())
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ansible's module (ansible.posix 2.1.0) on the same texts rewrote the file to
    /// `# comment`, `net.ipv4.ip_forward=1`, `vm.swappiness=60` (lines trimmed, the duplicate
    /// dropped), appended a new key, and dropped the key on `state: absent`.
    #[test]
    fn the_conf_file_is_rewritten_as_ansible_rewrites_it() {
        let text = "# comment\n net.ipv4.ip_forward = 0\nvm.swappiness=60\nnet.ipv4.ip_forward=0\n";
        assert_eq!(
            edit_file(text, "net.ipv4.ip_forward", Some("1")),
            "# comment\nnet.ipv4.ip_forward=1\nvm.swappiness=60\n"
        );
        assert_eq!(
            edit_file(text, "fs.file-max", Some("100000")),
            "# comment\nnet.ipv4.ip_forward=0\nvm.swappiness=60\nfs.file-max=100000\n"
        );
        assert_eq!(
            edit_file(text, "net.ipv4.ip_forward", None),
            "# comment\nvm.swappiness=60\n"
        );
        assert_eq!(edit_file("", "a.b", Some("1")), "a.b=1\n");
        assert_eq!(file_values(text).get("net.ipv4.ip_forward"), Some(&"0"));
    }

    #[test]
    fn values_are_read_as_ansible_reads_them() {
        assert_eq!(parsed_value("yes"), "1");
        assert_eq!(parsed_value("False"), "0");
        assert_eq!(parsed_value(" 4096 87380 "), "4096 87380");
        assert!(same_words("4096\t87380\n", "4096 87380"));
    }

    /// The decisions of Ansible's `process()`: the file first; with the file right, `reload`
    /// (default true) still changes when the running value differs; `sysctl_set` (default
    /// false) sets the running value; an unknown key (`sysctl -e -n` fails) counts as differing.
    #[test]
    fn changes_are_decided_as_ansible_decides_them() {
        let p = |f, r, present, set, reload| plan(f, r, "1", present, set, reload);
        let fresh = p(None, Some("0"), true, false, true);
        assert_eq!(
            (
                fresh.changed,
                fresh.write_file,
                fresh.set_running,
                fresh.reload
            ),
            (true, true, false, true)
        );
        let converged = p(Some("1"), Some("1\n"), true, false, true);
        assert!(!converged.changed);
        let stale = p(Some("1"), Some("0"), true, false, true);
        assert_eq!(
            (stale.changed, stale.write_file, stale.reload),
            (true, false, true)
        );
        assert!(!p(Some("1"), Some("0"), true, false, false).changed);
        let set = p(Some("1"), Some("0"), true, true, false);
        assert_eq!(
            (set.changed, set.set_running, set.reload),
            (true, true, false)
        );
        assert!(p(Some("1"), None, true, false, true).changed);
        assert!(!p(None, Some("0"), false, false, true).changed);
        let remove = p(Some("0"), Some("0"), false, false, true);
        assert_eq!((remove.changed, remove.write_file), (true, true));
    }
}
