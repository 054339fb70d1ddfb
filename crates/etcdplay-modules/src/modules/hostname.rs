//! `hostname`: the host's name, now and across reboots. With systemd (`use: systemd`/`debian`,
//! or by default where `hostnamectl` answers) the transient and static names are read and set
//! with `hostnamectl`, as Ansible's systemd strategy does; `use: generic` keeps only
//! `/etc/hostname`; a host without a working `hostnamectl` (a container without systemd) gets
//! `/etc/hostname` plus `hostname NAME` for the running name. One probe reads both names and
//! the FQDN; the result carries Ansible's facts (`ansible_hostname`, `ansible_nodename`,
//! `ansible_fqdn`, `ansible_domain`) and its `hostname = NAME` diff.

use std::sync::Arc;

use etcdplay_transport::script::sh_quote;
use serde_json::{json, Value};

use crate::host::Ctx;
use crate::probe::section;
use crate::read_ahead::{sections, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::{Diff, ModuleError, ModuleResult};
use etcdplay_transport::ExecOutput;

/// How the names are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// `hostnamectl` for both names.
    Systemd,
    /// `/etc/hostname` only (Ansible's generic strategy: the running name is the file's).
    File,
    /// `/etc/hostname` and `hostname NAME` (no working hostnamectl).
    FileAndRunning,
}

/// What the probe found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Names {
    pub(crate) strategy: Strategy,
    pub(crate) current: String,
    pub(crate) permanent: String,
    pub(crate) fqdn: String,
}

/// The probe's sections as [`Names`]; `use_` is the task's `use`.
pub(crate) fn parse_names(
    has_hostnamectl: bool,
    transient: &str,
    static_name: &str,
    file: &str,
    running: &str,
    fqdn: &str,
    use_: Option<&str>,
) -> Result<Names, String> {
    let strategy = match use_ {
        Some("systemd" | "debian") if has_hostnamectl => Strategy::Systemd,
        Some("systemd" | "debian") => {
            return Err("Failed to find required executable \"hostnamectl\"".into())
        }
        Some("generic") => Strategy::File,
        Some(other) => {
            return Err(format!(
            "etcdplay's hostname knows the systemd, debian and generic strategies, not '{other}'"
        ))
        }
        None if has_hostnamectl => Strategy::Systemd,
        None => Strategy::FileAndRunning,
    };
    let first_line = |t: &str| t.lines().next().unwrap_or_default().trim().to_string();
    let (current, permanent) = match strategy {
        Strategy::Systemd => (transient.trim().to_string(), static_name.trim().to_string()),
        Strategy::File => (file.trim().to_string(), file.trim().to_string()),
        Strategy::FileAndRunning => (first_line(running), file.trim().to_string()),
    };
    Ok(Names {
        strategy,
        current,
        permanent,
        fqdn: first_line(fqdn),
    })
}

/// `hostname`'s probe: whether `hostnamectl` works, both names it knows, `/etc/hostname`, the
/// running name and the FQDN, whatever the task's `use` (the run picks what its strategy
/// needs).
pub(crate) struct HostnameProbe;

impl FirstProbe for HostnameProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        input.args.req_str("name")?;
        Ok(Some(with_funcs(&format!(
            "{}if command -v hostnamectl >/dev/null 2>&1 && hostnamectl --transient status >/dev/null 2>&1; then echo yes; fi\n\
             {}hostnamectl --transient status 2>/dev/null || :\n\
             {}hostnamectl --static status 2>/dev/null || :\n\
             {}cat /etc/hostname 2>/dev/null || :\n\
             {}hostname 2>/dev/null || uname -n\n\
             {}hostname -f 2>/dev/null || hostname 2>/dev/null || uname -n\n{}",
            section("systemd"),
            section("transient"),
            section("static"),
            section("file"),
            section("running"),
            section("fqdn"),
            section("end")
        ))))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let name = a.req_str("name")?;
    let use_ = a.str("use");
    let s = ctx.read_probe::<HostnameProbe>().await?;
    let text = |k: &str| {
        String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default()).into_owned()
    };
    let names = match parse_names(
        text("systemd").trim() == "yes",
        &text("transient"),
        &text("static"),
        &text("file"),
        &text("running"),
        &text("fqdn"),
        use_.as_deref(),
    ) {
        Ok(n) => n,
        Err(msg) => return Ok(ModuleResult::fail(msg)),
    };
    if names.strategy == Strategy::Systemd && name.len() > 64 {
        return Ok(ModuleResult::fail(
            "name cannot be longer than 64 characters on systemd servers, try a shorter name",
        ));
    }
    let set_current = names.current != name;
    let set_permanent = names.permanent != name;
    let mut res = ModuleResult::ok();
    res.changed = set_current || set_permanent;
    let mut fqdn = names.fqdn.clone();
    if res.changed && !ctx.call.check {
        match apply(ctx, &name, names.strategy, set_current, set_permanent).await? {
            Ok(after) => fqdn = after,
            Err(msg) => return Ok(ModuleResult::fail(msg)),
        }
    }
    let domain = fqdn.split_once('.').map(|(_, d)| d).unwrap_or_default();
    res.set("name", name.clone()).set(
        "ansible_facts",
        json!({
            "ansible_hostname": name.split('.').next().unwrap_or_default(),
            "ansible_nodename": name,
            "ansible_fqdn": fqdn,
            "ansible_domain": domain,
        }),
    );
    if res.changed {
        let before = if set_current {
            names.current
        } else {
            names.permanent
        };
        // Ansible returns this diff whether or not --diff was asked.
        res.diff = Some(Diff {
            before: Value::String(format!("hostname = {before}\n")),
            after: Value::String(format!("hostname = {name}\n")),
            before_header: None,
            after_header: None,
        });
    }
    Ok(res)
}

/// Sets the names; returns the FQDN afterwards, or why it failed.
async fn apply(
    ctx: &Ctx<'_>,
    name: &str,
    strategy: Strategy,
    set_current: bool,
    set_permanent: bool,
) -> Result<Result<String, String>, ModuleError> {
    let q = sh_quote(name);
    let mut script = String::new();
    match strategy {
        Strategy::Systemd => {
            if set_permanent {
                script.push_str(&format!(
                    "hostnamectl --pretty --static set-hostname {q} || exit 1\n"
                ));
            }
            if set_current {
                script.push_str(&format!(
                    "hostnamectl --transient set-hostname {q} || exit 1\n"
                ));
            }
        }
        Strategy::File | Strategy::FileAndRunning => {
            if set_permanent {
                ctx.put(
                    "/etc/hostname",
                    Arc::new(format!("{name}\n").into_bytes()),
                    None,
                    None,
                    None,
                )
                .await?;
            }
            if set_current && strategy == Strategy::FileAndRunning {
                script.push_str(&format!("hostname {q} || exit 1\n"));
            }
        }
    }
    script.push_str("hostname -f 2>/dev/null || hostname 2>/dev/null || uname -n\n");
    Ok(ctx.change(script).await?.map(|out| {
        out.stdout_str()
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strategy_follows_use_and_what_the_host_has() {
        // As a Debian host with systemd answers: transient and static names from hostnamectl.
        let n = parse_names(
            true,
            "lab1\n",
            "lab1\n",
            "lab1\n",
            "lab1\n",
            "lab1.lab\n",
            None,
        )
        .unwrap();
        assert_eq!(n.strategy, Strategy::Systemd);
        assert_eq!((n.current.as_str(), n.fqdn.as_str()), ("lab1", "lab1.lab"));
        // A container without systemd: the running name and /etc/hostname.
        let n = parse_names(false, "", "", "old\n", "tmp-1234\n", "tmp-1234\n", None).unwrap();
        assert_eq!(n.strategy, Strategy::FileAndRunning);
        assert_eq!(
            (n.current.as_str(), n.permanent.as_str()),
            ("tmp-1234", "old")
        );
        let n = parse_names(true, "a", "b", "c\n", "d", "d", Some("generic")).unwrap();
        assert_eq!((n.current.as_str(), n.permanent.as_str()), ("c", "c"));
        assert!(parse_names(false, "", "", "", "", "", Some("systemd")).is_err());
        assert!(parse_names(true, "", "", "", "", "", Some("openbsd")).is_err());
    }
}
