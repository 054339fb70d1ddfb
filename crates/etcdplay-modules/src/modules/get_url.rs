//! `get_url`: download a URL on the host into `dest` (a directory destination gets the URL's
//! file name). The probe stats the destination and computes its checksum; with `force: no`
//! (the default) an existing file whose checksum matches is left alone without any download.
//! Otherwise the host downloads with curl, wget or python3 (whichever exists) into a temporary
//! file, verifies `checksum: ALGO:HEX`, and replaces the destination only if the bytes differ.
//! The URL travels on the script's stdin, never in a process argument, so credentials in it
//! do not show in `ps`.

use etcdplay_transport::script::sh_quote;
use etcdplay_transport::ExecRequest;

use crate::attrs::Attrs;
use crate::host::Ctx;
use crate::probe::{section, PathState};
use crate::{ModuleError, ModuleResult};

/// `sha256:abcd...` → (`sha256sum`, `abcd...`).
pub(crate) fn parse_checksum(spec: &str) -> Result<(&'static str, String), String> {
    let (algo, hex) = spec
        .split_once(':')
        .ok_or_else(|| format!("checksum '{spec}' must be ALGORITHM:HEX"))?;
    let tool = match algo.to_ascii_lowercase().as_str() {
        "md5" => "md5sum",
        "sha1" => "sha1sum",
        "sha224" => "sha224sum",
        "sha256" => "sha256sum",
        "sha384" => "sha384sum",
        "sha512" => "sha512sum",
        other => return Err(format!("unsupported checksum algorithm '{other}'")),
    };
    if hex.starts_with("http://") || hex.starts_with("https://") || hex.starts_with("file://") {
        return Err("a checksum URL is not supported by etcdplay; give the digest".into());
    }
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("checksum '{hex}' is not hexadecimal"));
    }
    Ok((tool, hex.to_ascii_lowercase()))
}

fn url_basename(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or("");
    if name.is_empty() {
        "index.html".into()
    } else {
        name.to_string()
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let url = a.req_str("url")?;
    let dest = a.req_str("dest")?;
    let force = a.bool("force", false)?;
    let timeout = a.int("timeout")?.unwrap_or(10).max(1);
    let insecure = !a.bool("validate_certs", true)?;
    let checksum = a
        .str("checksum")
        .filter(|c| !c.is_empty())
        .map(|c| parse_checksum(&c).map_err(|m| ctx.bad("checksum", m)))
        .transpose()?;
    let attrs = Attrs::from_args(a)?;
    if url.contains('\n') {
        return Err(ctx.bad("url", "a URL cannot contain a newline"));
    }

    let mut script = format!(
        "d={}\nif [ -d \"$d\" ]; then d=\"$d/\"{}; fi\n",
        sh_quote(&dest),
        sh_quote(&url_basename(&url))
    );
    script.push_str(&section("path"));
    script.push_str("printf '%s' \"$d\"\n");
    script.push_str(&section("stat"));
    script.push_str("ep_stat \"$d\"\n");
    if let Some((tool, _)) = &checksum {
        script.push_str(&section("sum"));
        script.push_str(&format!(
            "[ -f \"$d\" ] && {tool} < \"$d\" | cut -d' ' -f1\n"
        ));
    }
    script.push_str(&section("end"));
    let s = ctx.probe(&script).await?;
    let text = |k: &str| {
        String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default())
            .trim()
            .to_string()
    };
    let path = text("path");
    let st = PathState::parse(&text("stat")).map_err(|m| ctx.protocol(m))?;
    let mut res = ModuleResult::ok();
    res.set("url", url.clone()).set("dest", path.clone());
    if let Some(sum) = &st.sha1 {
        res.set("checksum_dest", sum.clone());
    }
    let checksum_ok = checksum.as_ref().map(|(_, want)| text("sum") == *want);
    let plan = attrs.plan(&path, &st);
    if st.exists && !force && checksum_ok != Some(false) {
        // Present and not forced: no download; only attributes may need fixing.
        res.msg = Some("file already exists".into());
        plan.fields().write(&mut res);
        if !plan.commands.is_empty() {
            res.changed = true;
            if !ctx.call.check {
                if let Err(msg) = ctx.change(plan.commands.join("\n")).await? {
                    return Ok(ModuleResult::fail(msg));
                }
            }
        }
        return Ok(res);
    }
    if ctx.call.check {
        res.changed = true;
        res.msg = Some("would download".into());
        return Ok(res);
    }

    let new_mode = match (&attrs.mode, st.exists) {
        (Some(m), true) => m.apply(st.mode, false),
        (Some(m), false) => m.apply(0o644, false),
        (None, true) => st.mode & 0o7777,
        (None, false) => 0o644,
    };
    let ins_curl = if insecure { " -k" } else { "" };
    let ins_wget = if insecure {
        " --no-check-certificate"
    } else {
        ""
    };
    let mut dl = format!(
        "set -e\nIFS= read -r curlcfg\nIFS= read -r url\nd={}\n\
         tmp=$(mktemp \"$(dirname -- \"$d\")/.etcdplay-dl.XXXXXXXX\")\ntrap 'rm -f \"$tmp\"' EXIT\n\
         if command -v curl >/dev/null 2>&1; then printf '%s\\n' \"$curlcfg\" | curl -fsSL{ins_curl} --max-time {timeout} -K - -o \"$tmp\" || {{ echo \"Request failed: curl exit $?\" >&2; exit 4; }}\n\
         elif command -v wget >/dev/null 2>&1; then printf '%s\\n' \"$url\" | wget -q{ins_wget} -T {timeout} -O \"$tmp\" -i - || {{ echo \"Request failed: wget exit $?\" >&2; exit 4; }}\n\
         elif command -v python3 >/dev/null 2>&1; then printf '%s' \"$url\" | python3 -c 'import sys,shutil,urllib.request; r=urllib.request.urlopen(sys.stdin.read(), timeout={timeout}); shutil.copyfileobj(r, open(sys.argv[1], \"wb\"))' \"$tmp\" || {{ echo 'Request failed' >&2; exit 4; }}\n\
         else echo 'no downloader on the host: install curl, wget or python3' >&2; exit 5; fi\n",
        sh_quote(&path)
    );
    if let Some((tool, want)) = &checksum {
        dl.push_str(&format!("got=$({tool} < \"$tmp\" | cut -d' ' -f1)\n[ \"$got\" = {want} ] || {{ echo \"The checksum for $d did not match {want}; it was $got.\" >&2; exit 6; }}\n"));
    }
    dl.push_str("new=$(sha1sum < \"$tmp\" | cut -c1-40)\nsize=$(stat -c %s \"$tmp\")\n");
    dl.push_str("if [ -f \"$d\" ] && [ \"$(sha1sum < \"$d\" | cut -c1-40)\" = \"$new\" ]; then echo \"same $new $size\"\n");
    if !plan.commands.is_empty() {
        dl.push_str(&format!("{}\n", plan.commands.join("\n")));
    }
    dl.push_str("exit 0\nfi\n");
    // Owner and group before the mode: chown clears setuid and setgid bits.
    if let Some(o) = &attrs.owner {
        dl.push_str(&format!("chown -- {} \"$tmp\"\n", sh_quote(o)));
    }
    if let Some(g) = &attrs.group {
        dl.push_str(&format!("chgrp -- {} \"$tmp\"\n", sh_quote(g)));
    }
    dl.push_str(&format!("chmod {new_mode:o} \"$tmp\"\n"));
    dl.push_str("mv -f \"$tmp\" \"$d\"\ntrap - EXIT\necho \"new $new $size\"\n");
    let curl_line = format!(
        "url = \"{}\"",
        url.replace('\\', "\\\\").replace('"', "\\\"")
    );
    let mut req = ExecRequest::script(dl);
    req.stdin = format!("{curl_line}\n{url}\n").into_bytes();
    let out = ctx.exec_req(req).await?;
    if out.rc != 0 {
        let mut r = ModuleResult::fail(out.stderr_str().trim().to_string());
        r.set("url", url).set("dest", path);
        return Ok(r);
    }
    let line = out.stdout_str();
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() != 3 {
        return Err(ctx.protocol(format!("unexpected download report '{}'", line.trim())));
    }
    res.changed = f[0] == "new" || !plan.commands.is_empty();
    res.set("checksum_src", f[1])
        .set("size", f[2].parse::<u64>().unwrap_or(0))
        .set("status_code", 200);
    res.set(
        "mode",
        crate::mode::format_mode(if f[0] == "new" { new_mode } else { plan.mode }),
    );
    res.msg = Some(format!("OK ({} bytes)", f[2]));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_specs() {
        assert_eq!(
            parse_checksum("sha256:ABCD").unwrap(),
            ("sha256sum", "abcd".to_string())
        );
        assert!(parse_checksum("sha256").is_err());
        assert!(parse_checksum("crc:00").is_err());
        assert!(parse_checksum("sha256:https://x/SHA256SUMS").is_err());
        assert_eq!(
            url_basename("https://x/etcd-v3.5.tar.gz?x=1"),
            "etcd-v3.5.tar.gz"
        );
    }
}
