//! `group`: create, change the gid of, or remove a local group (`groupadd`/`groupmod`/
//! `groupdel`), deciding from one `getent group` probe with the pure [`plan`].

use etcdplay_transport::script::sh_quote;

use crate::host::Ctx;
use crate::modules::accounts::{parse_group, GroupEnt};
use crate::probe::section;
use crate::{ModuleError, ModuleResult};

/// The command (argv) for the requested group state, or `None` when nothing is to be done.
pub(crate) fn plan(
    name: &str,
    present: bool,
    gid: Option<u32>,
    system: bool,
    have: Option<&GroupEnt>,
) -> Option<Vec<String>> {
    match (have, present) {
        (None, false) => None,
        (Some(_), false) => Some(vec!["groupdel".into(), name.into()]),
        (None, true) => {
            let mut cmd = vec!["groupadd".to_string()];
            if let Some(g) = gid {
                cmd.extend(["-g".to_string(), g.to_string()]);
            }
            if system {
                cmd.push("-r".into());
            }
            cmd.push(name.into());
            Some(cmd)
        }
        (Some(g), true) => match gid {
            Some(want) if want != g.gid => Some(vec![
                "groupmod".into(),
                "-g".into(),
                want.to_string(),
                name.into(),
            ]),
            _ => None,
        },
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let name = ctx.args.req_str("name")?;
    let present = ctx
        .args
        .choice("state", &["present", "absent"], "present")?
        == "present";
    let gid = ctx
        .args
        .int("gid")?
        .map(|g| u32::try_from(g).map_err(|_| ctx.bad("gid", format!("{g} is out of range"))))
        .transpose()?;
    let system = ctx.args.bool("system", false)?;
    let s = ctx
        .probe(&format!(
            "{}getent group {}\n{}",
            section("group"),
            sh_quote(&name),
            section("end")
        ))
        .await?;
    let have = parse_group(&String::from_utf8_lossy(
        s.get("group").map(Vec::as_slice).unwrap_or_default(),
    ));
    let mut res = ModuleResult::ok();
    res.set("name", name.clone())
        .set("state", if present { "present" } else { "absent" })
        .set("system", system);
    if present {
        if let Some(g) = gid.or(have.as_ref().map(|h| h.gid)) {
            res.set("gid", g);
        }
    }
    if let Some(cmd) = plan(&name, present, gid, system, have.as_ref()) {
        res.changed = true;
        if !ctx.call.check {
            let line: Vec<String> = cmd.iter().map(|w| sh_quote(w)).collect();
            // A new group's gid is chosen by groupadd: read it back in the same round trip,
            // as Ansible's result always carries `gid` for a present group.
            let script = if present {
                format!("{} && getent group {}", line.join(" "), sh_quote(&name))
            } else {
                line.join(" ")
            };
            match ctx.change(script).await? {
                Err(msg) => return Ok(ModuleResult::fail(msg)),
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

    #[test]
    fn group_decisions() {
        let have = parse_group("etcd:x:998:").unwrap();
        assert_eq!(plan("etcd", true, None, true, Some(&have)), None);
        assert_eq!(plan("etcd", true, Some(998), false, Some(&have)), None);
        assert_eq!(
            plan("etcd", true, Some(2379), false, Some(&have))
                .unwrap()
                .join(" "),
            "groupmod -g 2379 etcd"
        );
        assert_eq!(
            plan("etcd", true, Some(2379), true, None)
                .unwrap()
                .join(" "),
            "groupadd -g 2379 -r etcd"
        );
        assert_eq!(
            plan("etcd", false, None, false, Some(&have))
                .unwrap()
                .join(" "),
            "groupdel etcd"
        );
        assert_eq!(plan("etcd", false, None, false, None), None);
    }
}
