//! `user`: create, modify or remove a local account with `useradd`/`usermod`/`userdel`.
//! The probe reads `getent passwd`, the primary group, the supplementary groups and whether the
//! requested groups exist, in one round trip; the pure [`plan`] turns the difference into one
//! command line.

use etcdplay_transport::script::sh_quote;

use crate::host::Ctx;
use crate::modules::accounts::{parse_group, parse_passwd, GroupEnt, Passwd};
use crate::probe::section;
use crate::{ModuleError, ModuleResult};

/// The account as the task wants it; `None` fields are left alone.
#[derive(Debug, Clone, Default)]
pub(crate) struct WantUser {
    pub(crate) name: String,
    pub(crate) present: bool,
    pub(crate) uid: Option<u32>,
    pub(crate) group: Option<String>,
    pub(crate) groups: Option<Vec<String>>,
    pub(crate) append: bool,
    pub(crate) shell: Option<String>,
    pub(crate) home: Option<String>,
    pub(crate) comment: Option<String>,
    pub(crate) system: bool,
    pub(crate) create_home: bool,
    pub(crate) remove: bool,
    pub(crate) force: bool,
}

/// The account as the host has it.
#[derive(Debug, Clone, Default)]
pub(crate) struct HaveUser {
    pub(crate) passwd: Option<Passwd>,
    pub(crate) primary: Option<GroupEnt>,
    /// Supplementary groups (primary excluded).
    pub(crate) groups: Vec<String>,
}

fn group_matches(wanted: &str, g: &GroupEnt) -> bool {
    wanted == g.name || wanted.parse::<u32>().is_ok_and(|id| id == g.gid)
}

/// The command (argv) that brings the account to `want`, or `None` when it already is.
pub(crate) fn plan(want: &WantUser, have: &HaveUser) -> Option<Vec<String>> {
    let mut cmd: Vec<String> = Vec::new();
    let push = |cmd: &mut Vec<String>, flag: &str, v: &str| {
        cmd.push(flag.into());
        cmd.push(v.into());
    };
    match (&have.passwd, want.present) {
        (None, false) => None,
        (Some(_), false) => {
            cmd.push("userdel".into());
            if want.remove {
                cmd.push("-r".into());
            }
            if want.force {
                cmd.push("-f".into());
            }
            cmd.push(want.name.clone());
            Some(cmd)
        }
        (None, true) => {
            cmd.push("useradd".into());
            if let Some(uid) = want.uid {
                push(&mut cmd, "-u", &uid.to_string());
            }
            if let Some(g) = &want.group {
                push(&mut cmd, "-g", g);
            }
            if let Some(gs) = want.groups.as_ref().filter(|g| !g.is_empty()) {
                push(&mut cmd, "-G", &gs.join(","));
            }
            if let Some(c) = &want.comment {
                push(&mut cmd, "-c", c);
            }
            if let Some(h) = &want.home {
                push(&mut cmd, "-d", h);
            }
            if let Some(s) = &want.shell {
                push(&mut cmd, "-s", s);
            }
            if want.system {
                cmd.push("-r".into());
            }
            cmd.push(if want.create_home { "-m" } else { "-M" }.into());
            cmd.push(want.name.clone());
            Some(cmd)
        }
        (Some(p), true) => {
            cmd.push("usermod".into());
            if let Some(uid) = want.uid.filter(|u| *u != p.uid) {
                push(&mut cmd, "-u", &uid.to_string());
            }
            if let Some(g) = &want.group {
                let same = have.primary.as_ref().is_some_and(|pg| group_matches(g, pg))
                    || g.parse::<u32>().is_ok_and(|id| id == p.gid);
                if !same {
                    push(&mut cmd, "-g", g);
                }
            }
            if let Some(gs) = &want.groups {
                let primary_name = have
                    .primary
                    .as_ref()
                    .map(|g| g.name.clone())
                    .unwrap_or_default();
                let wanted: Vec<&String> = gs.iter().filter(|g| **g != primary_name).collect();
                let missing = wanted.iter().any(|g| !have.groups.contains(g));
                let extra = have.groups.iter().any(|g| !gs.contains(g));
                if want.append && missing {
                    cmd.push("-a".into());
                    push(&mut cmd, "-G", &gs.join(","));
                } else if !want.append && (missing || extra) {
                    push(&mut cmd, "-G", &gs.join(","));
                }
            }
            if let Some(c) = want.comment.as_ref().filter(|c| **c != p.comment) {
                push(&mut cmd, "-c", c);
            }
            if let Some(h) = want.home.as_ref().filter(|h| **h != p.home) {
                push(&mut cmd, "-d", h);
            }
            if let Some(s) = want.shell.as_ref().filter(|s| **s != p.shell) {
                push(&mut cmd, "-s", s);
            }
            if cmd.len() == 1 {
                return None;
            }
            cmd.push(want.name.clone());
            Some(cmd)
        }
    }
}

/// Builds [`HaveUser`] from the probe's sections.
pub(crate) fn parse_have(passwd: &str, primary: &str, groups: &str) -> HaveUser {
    let passwd = passwd.lines().next().and_then(parse_passwd);
    let primary = primary.lines().next().and_then(parse_group);
    let pname = primary.as_ref().map(|g| g.name.clone()).unwrap_or_default();
    let groups = if passwd.is_some() {
        groups
            .split_whitespace()
            .filter(|g| *g != pname)
            .map(String::from)
            .collect()
    } else {
        Vec::new()
    };
    HaveUser {
        passwd,
        primary,
        groups,
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let to_u32 = |arg: &str, v: Option<i64>| {
        v.map(|n| u32::try_from(n).map_err(|_| ctx.bad(arg, format!("{n} is out of range"))))
            .transpose()
    };
    let want = WantUser {
        name: a.req_str("name")?,
        present: a.choice("state", &["present", "absent"], "present")? == "present",
        uid: to_u32("uid", a.int("uid")?)?,
        group: a.str("group"),
        groups: a.list("groups")?,
        append: a.bool("append", false)?,
        shell: a.str("shell"),
        home: a.str("home"),
        comment: a.str("comment"),
        system: a.bool("system", false)?,
        create_home: a.bool("create_home", true)?,
        remove: a.bool("remove", false)?,
        force: a.bool("force", false)?,
    };
    let q = sh_quote(&want.name);
    let mut script = format!("{}getent passwd {q}\n", section("passwd"));
    script.push_str(&section("primary"));
    script.push_str(&format!(
        "g=$(getent passwd {q} | cut -d: -f4); [ -n \"$g\" ] && getent group \"$g\"\n"
    ));
    script.push_str(&section("groups"));
    script.push_str(&format!("getent passwd {q} >/dev/null && id -Gn {q}\n"));
    let needed: Vec<String> = want
        .group
        .iter()
        .cloned()
        .chain(want.groups.clone().unwrap_or_default())
        .collect();
    for (i, g) in needed.iter().enumerate() {
        script.push_str(&section(&format!("g{i}")));
        script.push_str(&format!(
            "getent group {} >/dev/null && echo yes\n",
            sh_quote(g)
        ));
    }
    script.push_str(&section("end"));
    let s = ctx.probe(&script).await?;
    let text = |k: &str| {
        String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default()).into_owned()
    };
    if want.present {
        if let Some((_, g)) = needed
            .iter()
            .enumerate()
            .find(|(i, _)| !text(&format!("g{i}")).starts_with("yes"))
        {
            return Ok(ModuleResult::fail(format!("Group {g} does not exist")));
        }
    }
    let have = parse_have(&text("passwd"), &text("primary"), &text("groups"));
    let mut res = ModuleResult::ok();
    res.set("name", want.name.clone())
        .set("state", if want.present { "present" } else { "absent" });
    if let Some(p) = &have.passwd {
        res.set("uid", want.uid.unwrap_or(p.uid))
            .set("home", want.home.clone().unwrap_or(p.home.clone()))
            .set("shell", want.shell.clone().unwrap_or(p.shell.clone()));
    }
    if let Some(gs) = &want.groups {
        res.set("groups", gs.join(","));
    }
    if let Some(cmd) = plan(&want, &have) {
        res.changed = true;
        if !ctx.call.check {
            let line: Vec<String> = cmd.iter().map(|w| sh_quote(w)).collect();
            // useradd picks uid/home/shell defaults: read the entry back in the same round
            // trip so that a new user's result carries them, as Ansible's does.
            let script = if want.present {
                format!(
                    "{} && getent passwd {}",
                    line.join(" "),
                    sh_quote(&want.name)
                )
            } else {
                line.join(" ")
            };
            match ctx.change(script).await? {
                Err(msg) => return Ok(ModuleResult::fail(msg)),
                Ok(out) => {
                    if let Some(p) = parse_passwd(out.stdout_str().lines().next().unwrap_or("")) {
                        res.set("uid", p.uid)
                            .set("home", p.home)
                            .set("shell", p.shell);
                    }
                }
            }
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want() -> WantUser {
        WantUser {
            name: "etcd".into(),
            present: true,
            create_home: true,
            ..WantUser::default()
        }
    }

    // Recorded `getent passwd etcd`, `getent group 998`, `id -Gn etcd` on Debian 12.
    fn have() -> HaveUser {
        parse_have(
            "etcd:x:998:998::/var/lib/etcd:/usr/sbin/nologin\n",
            "etcd:x:998:\n",
            "etcd ssl-cert\n",
        )
    }

    #[test]
    fn creates_missing_user() {
        let mut w = want();
        w.system = true;
        w.create_home = false;
        w.shell = Some("/usr/sbin/nologin".into());
        w.groups = Some(vec!["ssl-cert".into()]);
        let cmd = plan(&w, &HaveUser::default()).unwrap();
        assert_eq!(
            cmd.join(" "),
            "useradd -G ssl-cert -s /usr/sbin/nologin -r -M etcd"
        );
    }

    #[test]
    fn existing_user_changes_only_differences() {
        let h = have();
        assert_eq!(h.groups, vec!["ssl-cert".to_string()]);
        let mut w = want();
        w.shell = Some("/usr/sbin/nologin".into());
        w.group = Some("etcd".into());
        w.groups = Some(vec!["ssl-cert".into()]);
        assert_eq!(plan(&w, &h), None);
        w.home = Some("/srv/etcd".into());
        w.groups = Some(vec!["docker".into()]);
        w.append = true;
        assert_eq!(
            plan(&w, &h).unwrap().join(" "),
            "usermod -a -G docker -d /srv/etcd etcd"
        );
        w.append = false;
        w.groups = Some(vec![]);
        w.home = None;
        assert_eq!(plan(&w, &h).unwrap().join(" "), "usermod -G  etcd");
        w.groups = None;
        w.uid = Some(998);
        w.group = Some("998".into());
        assert_eq!(plan(&w, &h), None);
    }

    #[test]
    fn removal() {
        let mut w = want();
        w.present = false;
        assert_eq!(plan(&w, &HaveUser::default()), None);
        w.remove = true;
        assert_eq!(plan(&w, &have()).unwrap().join(" "), "userdel -r etcd");
    }
}
