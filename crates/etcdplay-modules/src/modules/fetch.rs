//! `fetch`: copy a file from the host to the control node, into `dest/HOST/SRC` or, with
//! `flat: yes`, to `dest` itself (`dest/basename(src)` when `dest` ends in `/`). The probe
//! returns only the remote sha1, so an up-to-date local copy costs no transfer.

use etcdplay_transport::script::sh_quote;

use crate::host::Ctx;
use crate::modules::write::sha1_hex;
use crate::probe::{section, PathState};
use crate::{ModuleError, ModuleResult};

/// The control-node path a fetched file goes to.
pub(crate) fn local_dest(dest: &str, src: &str, host: &str, flat: bool) -> String {
    if flat {
        if dest.ends_with('/') {
            format!("{dest}{}", src.rsplit('/').next().unwrap_or(src))
        } else {
            dest.to_string()
        }
    } else {
        format!(
            "{}/{host}/{}",
            dest.trim_end_matches('/'),
            src.trim_start_matches('/')
        )
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let src = ctx.args.req_str("src")?;
    let dest = ctx.args.req_str("dest")?;
    let flat = ctx.args.bool("flat", false)?;
    let fail_on_missing = ctx.args.bool("fail_on_missing", true)?;
    let script = format!(
        "{}ep_stat {}\n{}",
        section("stat"),
        sh_quote(&src),
        section("end")
    );
    let s = ctx.probe(&script).await?;
    let st = PathState::parse(&String::from_utf8_lossy(
        s.get("stat").map(Vec::as_slice).unwrap_or_default(),
    ))
    .map_err(|m| ctx.protocol(m))?;
    let local = local_dest(&dest, &src, ctx.host.host(), flat);
    let mut res = ModuleResult::ok();
    res.set("dest", local.clone()).set("file", src.clone());
    let Some(remote_sum) = st.sha1.clone() else {
        let msg = if st.is_dir() {
            "remote file is a directory, fetch cannot work on directories"
        } else {
            "the remote file does not exist, not transferring, ignored"
        };
        if fail_on_missing || st.is_dir() {
            return Ok(ModuleResult::fail(msg));
        }
        res.msg = Some(msg.into());
        return Ok(res);
    };
    res.set("checksum", remote_sum.clone())
        .set("remote_checksum", remote_sum.clone());
    let local_sum = ctx.call.control.read_written(&local)?.map(|b| sha1_hex(&b));
    if local_sum.as_deref() == Some(remote_sum.as_str()) {
        return Ok(res);
    }
    res.changed = true;
    if !ctx.call.check {
        let bytes = ctx.host.get(&src, ctx.call.become_).await?;
        if ctx.args.bool("validate_checksum", true)? && sha1_hex(&bytes) != remote_sum {
            return Ok(ModuleResult::fail(format!(
                "checksum mismatch while fetching {src}: the file changed during transfer"
            )));
        }
        ctx.call.control.write_local(&local, &bytes)?;
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_layout() {
        assert_eq!(
            local_dest("out", "/etc/etcd/ca.pem", "node1", false),
            "out/node1/etc/etcd/ca.pem"
        );
        assert_eq!(
            local_dest("out/", "/etc/etcd/ca.pem", "node1", true),
            "out/ca.pem"
        );
        assert_eq!(
            local_dest("out/x.pem", "/etc/etcd/ca.pem", "node1", true),
            "out/x.pem"
        );
    }
}
