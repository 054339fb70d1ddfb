//! `stat`: report what is at a path (Ansible's `stat` result dict: exists, mode as `'0644'`,
//! isdir/isreg/islnk, size, uid/gid, pw_name/gr_name, sha1 checksum, times...). Read-only, so it
//! runs in check mode too, and never reports a change.

use etcdplay_transport::script::sh_quote;
use serde_json::{Map, Value};

use crate::host::Ctx;
use crate::mode::format_stat_mode;
use etcdplay_transport::ExecOutput;

use crate::probe::{section, Kind, PathState};
use crate::read_ahead::{sections, text, with_funcs, FirstProbe, ProbeInput};
use crate::{ModuleError, ModuleResult};

/// `stat`'s probe: the path (or where it leads, with `follow`), its access for the login, and
/// its checksum with the algorithm asked for.
pub(crate) struct StatProbe;

/// What [`StatProbe`] read: the path's state, its `rwx` access and its checksum.
pub(crate) struct StatAnswer {
    stat: PathState,
    access: String,
    sum: String,
}

impl FirstProbe for StatProbe {
    type Answer = StatAnswer;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let args = input.args;
        let path = args.req_str("path")?;
        let algo = args
            .str("checksum_algorithm")
            .unwrap_or_else(|| "sha1".into());
        let tool = match algo.as_str() {
            "sha1" => "sha1sum",
            "sha224" => "sha224sum",
            "sha256" => "sha256sum",
            "sha384" => "sha384sum",
            "sha512" => "sha512sum",
            "md5" => "md5sum",
            other => {
                return Err(ModuleError::bad(
                    args.module,
                    "checksum_algorithm",
                    format!("unsupported algorithm '{other}'"),
                ))
            }
        };
        let q = sh_quote(&path);
        let target = if args.bool("follow", false)? {
            format!("\"$(readlink -f -- {q} || printf '%s' {q})\"")
        } else {
            q.clone()
        };
        let mut script = format!("p={target}\n{}ep_stat \"$p\"\n", section("stat"));
        script.push_str(&section("access"));
        script.push_str(
            "[ -r \"$p\" ] && printf r; [ -w \"$p\" ] && printf w; [ -x \"$p\" ] && printf x; echo\n",
        );
        if args.bool("get_checksum", true)? {
            script.push_str(&section("sum"));
            script.push_str(&format!(
                "[ -f \"$p\" ] && [ -r \"$p\" ] && {tool} < \"$p\" | cut -d' ' -f1\n"
            ));
        }
        script.push_str(&section("end"));
        Ok(Some(with_funcs(&script)))
    }

    fn parse(out: &ExecOutput) -> Result<StatAnswer, String> {
        let s = sections(out)?;
        Ok(StatAnswer {
            stat: PathState::parse(text(&s, "stat").trim())?,
            access: text(&s, "access").trim().to_string(),
            sum: text(&s, "sum").trim().to_string(),
        })
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let path = ctx.args.req_str("path")?;
    let get_checksum = ctx.args.bool("get_checksum", true)?;
    let StatAnswer {
        stat: st,
        access,
        sum,
    } = ctx.read_probe::<StatProbe>().await?;
    let mut res = ModuleResult::ok();
    res.set(
        "stat",
        Value::Object(stat_dict(&path, &st, &access, get_checksum.then_some(sum))),
    );
    Ok(res)
}

/// Ansible's `stat` dictionary for a probed path.
pub(crate) fn stat_dict(
    path: &str,
    st: &PathState,
    access: &str,
    checksum: Option<String>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("exists".into(), st.exists.into());
    if !st.exists {
        return m;
    }
    let kind = st.kind.clone().unwrap_or(Kind::Other(String::new()));
    let other = |name: &str| matches!(&kind, Kind::Other(k) if k == name);
    m.insert("path".into(), path.into());
    m.insert("mode".into(), format_stat_mode(st.mode).into());
    m.insert("isdir".into(), (kind == Kind::Dir).into());
    m.insert("isreg".into(), (kind == Kind::File).into());
    m.insert("islnk".into(), (kind == Kind::Link).into());
    m.insert("isblk".into(), other("block special file").into());
    m.insert("ischr".into(), other("character special file").into());
    m.insert("isfifo".into(), other("fifo").into());
    m.insert("issock".into(), other("socket").into());
    m.insert("size".into(), st.size.into());
    m.insert("uid".into(), st.uid.into());
    m.insert("gid".into(), st.gid.into());
    m.insert("pw_name".into(), st.owner.clone().into());
    m.insert("gr_name".into(), st.group.clone().into());
    m.insert("inode".into(), st.inode.into());
    m.insert("dev".into(), st.dev.into());
    m.insert("nlink".into(), st.nlink.into());
    m.insert("mtime".into(), st.mtime.into());
    m.insert("atime".into(), st.atime.into());
    m.insert("ctime".into(), st.ctime.into());
    m.insert("readable".into(), access.contains('r').into());
    m.insert("writeable".into(), access.contains('w').into());
    m.insert("executable".into(), access.contains('x').into());
    for (bit, name) in [
        (0o400, "rusr"),
        (0o200, "wusr"),
        (0o100, "xusr"),
        (0o040, "rgrp"),
        (0o020, "wgrp"),
        (0o010, "xgrp"),
        (0o004, "roth"),
        (0o002, "woth"),
        (0o001, "xoth"),
    ] {
        m.insert(name.into(), (st.mode & bit != 0).into());
    }
    m.insert("isuid".into(), (st.mode & 0o4000 != 0).into());
    m.insert("isgid".into(), (st.mode & 0o2000 != 0).into());
    if let Some(target) = &st.link_target {
        m.insert("lnk_target".into(), target.clone().into());
        let source = if target.starts_with('/') {
            target.clone()
        } else {
            format!(
                "{}/{target}",
                path.rsplit_once('/').map(|p| p.0).unwrap_or(".")
            )
        };
        m.insert("lnk_source".into(), source.into());
    }
    if let Some(sum) = checksum.filter(|s| !s.is_empty()) {
        m.insert("checksum".into(), sum.into());
    }
    m
}
