//! `group`: create, change the gid of, or remove a group (`groupadd`/`groupmod`/`groupdel`, or
//! with `local: yes` libuser's `lgroupadd`/`lgroupmod`/`lgroupdel`, which write only the local
//! files), deciding from one probe (`getent group`, or the local `/etc/group` lines) with the
//! pure [`plan`].

use etcdplay_transport::script::sh_quote;
use etcdplay_transport::ExecOutput;

use crate::host::Ctx;
use crate::modules::accounts::{parse_group, GroupEnt};
use crate::probe::section;
use crate::read_ahead::{sections, text, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::{ModuleError, ModuleResult};

/// What the task asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GroupRequest {
    pub(crate) name: String,
    pub(crate) present: bool,
    pub(crate) gid: Option<u32>,
    pub(crate) system: bool,
    /// `local: yes`: libuser's commands, the local group file only.
    pub(crate) local: bool,
    /// `non_unique: yes`: the gid may be another group's too (`-o`).
    pub(crate) non_unique: bool,
    /// `force: yes`: remove even a user's primary group (`groupdel -f`).
    pub(crate) force: bool,
    pub(crate) gid_min: Option<u32>,
    pub(crate) gid_max: Option<u32>,
}

impl GroupRequest {
    fn command(&self, verb: &str) -> String {
        if self.local {
            format!("lgroup{verb}")
        } else {
            format!("group{verb}")
        }
    }

    /// The arguments Ansible refuses together, in its words.
    fn conflict(&self) -> Option<String> {
        if self.force && self.local {
            return Some(
                "force is not a valid option for local, force=True and local=True are mutually \
                 exclusive"
                    .into(),
            );
        }
        if self.non_unique && self.gid.is_none() {
            return Some("non_unique is True but all of the following are missing: gid".into());
        }
        if self.local && self.gid_min.is_some() {
            return Some("'gid_min' can not be used with 'local'".into());
        }
        if self.local && self.gid_max.is_some() {
            return Some("'gid_max' can not be used with 'local'".into());
        }
        None
    }
}

/// The command (argv) for the requested group state, or `None` when nothing is to be done.
pub(crate) fn plan(req: &GroupRequest, have: Option<&GroupEnt>) -> Option<Vec<String>> {
    let name = req.name.clone();
    match (have, req.present) {
        (None, false) => None,
        (Some(_), false) => {
            let mut cmd = vec![req.command("del")];
            if req.force {
                cmd.push("-f".into());
            }
            cmd.push(name);
            Some(cmd)
        }
        (None, true) => {
            let mut cmd = vec![req.command("add")];
            if let Some(g) = req.gid {
                cmd.extend(["-g".to_string(), g.to_string()]);
                if req.non_unique {
                    cmd.push("-o".into());
                }
            }
            if req.system {
                cmd.push("-r".into());
            }
            if let Some(min) = req.gid_min {
                cmd.extend(["-K".to_string(), format!("GID_MIN={min}")]);
            }
            if let Some(max) = req.gid_max {
                cmd.extend(["-K".to_string(), format!("GID_MAX={max}")]);
            }
            cmd.push(name);
            Some(cmd)
        }
        (Some(g), true) => match req.gid {
            Some(want) if want != g.gid => {
                let mut cmd = vec![req.command("mod"), "-g".into(), want.to_string()];
                if req.non_unique {
                    cmd.push("-o".into());
                }
                cmd.push(name);
                Some(cmd)
            }
            _ => None,
        },
    }
}

/// With `local: yes`, Ansible refuses a gid another local group already has (libuser would
/// not): "GID '1337' already exists with group 'group1_local_test'".
fn local_gid_taken(req: &GroupRequest, groups: &[GroupEnt]) -> Option<String> {
    let gid = req.gid.filter(|_| req.local && req.present)?;
    let other = groups.iter().find(|g| g.gid == gid && g.name != req.name)?;
    Some(format!(
        "GID '{gid}' already exists with group '{}'",
        other.name
    ))
}

fn optional_id(ctx: &Ctx<'_>, arg: &str) -> Result<Option<u32>, ModuleError> {
    ctx.args
        .int(arg)?
        .map(|g| u32::try_from(g).map_err(|_| ctx.bad(arg, format!("{g} is out of range"))))
        .transpose()
}

fn request(ctx: &Ctx<'_>) -> Result<GroupRequest, ModuleError> {
    Ok(GroupRequest {
        name: ctx.args.req_str("name")?,
        present: ctx
            .args
            .choice("state", &["present", "absent"], "present")?
            == "present",
        gid: optional_id(ctx, "gid")?,
        system: ctx.args.bool("system", false)?,
        local: ctx.args.bool("local", false)?,
        non_unique: ctx.args.bool("non_unique", false)?,
        force: ctx.args.bool("force", false)?,
        gid_min: optional_id(ctx, "gid_min")?,
        gid_max: optional_id(ctx, "gid_max")?,
    })
}

/// The probe: the group as the system resolves it, or with `local` the local file's entries
/// (all of them: a gid may be taken by another group). The read-ahead sends it early.
pub(crate) struct GroupProbe;

impl FirstProbe for GroupProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let name = input.args.req_str("name")?;
        let lookup = if input.args.bool("local", false)? {
            "cat /etc/group".to_string()
        } else {
            format!("getent group {}", sh_quote(&name))
        };
        Ok(Some(with_funcs(&format!(
            "{}{lookup}\n{}",
            section("group"),
            section("end")
        ))))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let req = request(ctx)?;
    if let Some(msg) = req.conflict() {
        return Ok(ModuleResult::fail(msg));
    }
    let s = ctx.read_probe::<GroupProbe>().await?;
    let text = text(&s, "group");
    let groups: Vec<GroupEnt> = text.lines().filter_map(parse_group).collect();
    // The local file may name a group twice; as Ansible, the last line counts.
    let have = groups.iter().rev().find(|g| g.name == req.name).cloned();
    if let Some(msg) = local_gid_taken(&req, &groups) {
        return Ok(ModuleResult::fail(msg));
    }
    let mut res = ModuleResult::ok();
    res.set("name", req.name.clone())
        .set("state", if req.present { "present" } else { "absent" })
        .set("system", req.system);
    if req.present {
        if let Some(g) = req.gid.or(have.as_ref().map(|h| h.gid)) {
            res.set("gid", g);
        }
    }
    if let Some(cmd) = plan(&req, have.as_ref()) {
        res.changed = true;
        if !ctx.call.check {
            let line: Vec<String> = cmd.iter().map(|w| sh_quote(w)).collect();
            // A missing libuser command fails as Ansible's get_bin_path does.
            let mut script = format!(
                "command -v {0} >/dev/null || {{ echo \"Failed to find required executable \
                 \\\"{0}\\\" in paths: $PATH\" >&2; exit 127; }}\n{1}",
                cmd[0],
                line.join(" ")
            );
            // A new group's gid is chosen by groupadd: read it back in the same round trip,
            // as Ansible's result always carries `gid` for a present group.
            if req.present {
                script.push_str(&format!(" && getent group {}", sh_quote(&req.name)));
            }
            match ctx.change(script).await? {
                Err(msg) => {
                    let mut failed = ModuleResult::fail(msg);
                    failed.set("name", req.name.clone());
                    return Ok(failed);
                }
                Ok(out) => {
                    if let Some(g) = parse_group(out.stdout_str().lines().next().unwrap_or("")) {
                        res.set("gid", g.gid);
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

    fn req(present: bool, gid: Option<u32>, system: bool) -> GroupRequest {
        GroupRequest {
            name: "etcd".into(),
            present,
            gid,
            system,
            ..GroupRequest::default()
        }
    }

    fn shown(cmd: Option<Vec<String>>) -> String {
        cmd.map(|c| c.join(" ")).unwrap_or_default()
    }

    #[test]
    fn group_decisions() {
        let have = parse_group("etcd:x:998:").unwrap();
        assert_eq!(plan(&req(true, None, true), Some(&have)), None);
        assert_eq!(plan(&req(true, Some(998), false), Some(&have)), None);
        assert_eq!(
            shown(plan(&req(true, Some(2379), false), Some(&have))),
            "groupmod -g 2379 etcd"
        );
        assert_eq!(
            shown(plan(&req(true, Some(2379), true), None)),
            "groupadd -g 2379 -r etcd"
        );
        assert_eq!(
            shown(plan(&req(false, None, false), Some(&have))),
            "groupdel etcd"
        );
        assert_eq!(plan(&req(false, None, false), None), None);
    }

    // The commands Ansible's Linux group module builds for the same arguments (group.py:
    // `-g GID -o` for non_unique, `-K GID_MIN=..`, `groupdel -f`, libuser's lgroup* for local).
    #[test]
    fn the_other_arguments_become_ansibles_options() {
        let have = parse_group("etcd:x:998:").unwrap();
        let unique = GroupRequest {
            non_unique: true,
            ..req(true, Some(0), false)
        };
        assert_eq!(shown(plan(&unique, None)), "groupadd -g 0 -o etcd");
        assert_eq!(shown(plan(&unique, Some(&have))), "groupmod -g 0 -o etcd");
        let ranged = GroupRequest {
            gid_min: Some(1500),
            gid_max: Some(1600),
            ..req(true, None, false)
        };
        assert_eq!(
            shown(plan(&ranged, None)),
            "groupadd -K GID_MIN=1500 -K GID_MAX=1600 etcd"
        );
        let forced = GroupRequest {
            force: true,
            ..req(false, None, false)
        };
        assert_eq!(shown(plan(&forced, Some(&have))), "groupdel -f etcd");
        let local = GroupRequest {
            local: true,
            ..req(true, Some(1337), false)
        };
        assert_eq!(shown(plan(&local, None)), "lgroupadd -g 1337 etcd");
        let taken = [parse_group("group1:x:1337:").unwrap()];
        assert_eq!(
            local_gid_taken(&local, &taken).as_deref(),
            Some("GID '1337' already exists with group 'group1'")
        );
    }

    // Ansible's messages for arguments it refuses together.
    #[test]
    fn conflicting_arguments_fail_with_ansibles_messages() {
        let both = GroupRequest {
            force: true,
            local: true,
            ..req(false, None, false)
        };
        assert!(both
            .conflict()
            .unwrap()
            .starts_with("force is not a valid option for local"));
        let no_gid = GroupRequest {
            non_unique: true,
            ..req(true, None, false)
        };
        assert_eq!(
            no_gid.conflict().as_deref(),
            Some("non_unique is True but all of the following are missing: gid")
        );
        let local_min = GroupRequest {
            local: true,
            gid_min: Some(1),
            ..req(true, None, false)
        };
        assert_eq!(
            local_min.conflict().as_deref(),
            Some("'gid_min' can not be used with 'local'")
        );
    }
}
