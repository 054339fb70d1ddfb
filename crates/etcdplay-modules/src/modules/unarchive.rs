//! `unarchive`: unpack a tar (gz/bz2/xz, detected by tar) or zip archive into an existing
//! directory. A control-node archive is uploaded once to a content-addressed path under /tmp
//! (the probe checks whether that copy is already there, so re-runs upload nothing). The
//! archive is then extracted into a scratch directory on the host and compared with `dest`
//! file by file; only if something differs is it copied over, so a second run reports ok.
//! `creates:` short-circuits everything, as in Ansible.

use etcdplay_transport::script::sh_quote;

use crate::host::Ctx;
use crate::modules::write::sha1_hex;
use crate::probe::section;
use crate::{ModuleError, ModuleResult};

fn is_zip(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".zip")
}

/// The script that extracts `archive` to a scratch directory, lists what differs from `dest`
/// and, unless `check`, copies the tree over. Prints `unchanged` or `changed`.
pub(crate) fn extract_script(
    archive: &str,
    dest: &str,
    zip: bool,
    extra: &[String],
    owner: Option<&str>,
    group: Option<&str>,
    check: bool,
) -> String {
    let a = sh_quote(archive);
    let d = sh_quote(dest);
    let extra: Vec<String> = extra.iter().map(|e| sh_quote(e)).collect();
    let extract = if zip {
        format!("command -v unzip >/dev/null 2>&1 || {{ echo 'unzip is not installed on the host' >&2; exit 5; }}\nunzip -q -o {} {a} -d \"$t\"", extra.join(" "))
    } else {
        format!("tar -x -f {a} -C \"$t\" {}", extra.join(" "))
    };
    let mut owner_check = String::new();
    if let Some(o) = owner {
        owner_check.push_str(&format!(
            " || [ \"$(stat -c %U \"$d/$f\")\" != {} ]",
            sh_quote(o)
        ));
    }
    if let Some(g) = group {
        owner_check.push_str(&format!(
            " || [ \"$(stat -c %G \"$d/$f\")\" != {} ]",
            sh_quote(g)
        ));
    }
    let mut s = format!(
        "set -e\nd={d}\nt=$(mktemp -d)\ntrap 'rm -rf \"$t\"' EXIT\n\
         if [ -d \"$d\" ]; then chmod --reference=\"$d\" \"$t\"; chown --reference=\"$d\" \"$t\" 2>/dev/null || true; fi\n\
         {extract}\ncd \"$t\"\n\
         diffs=$(find . -mindepth 1 | while IFS= read -r f; do\n\
           if [ -L \"$f\" ]; then {{ [ -L \"$d/$f\" ] && [ \"$(readlink \"$f\")\" = \"$(readlink \"$d/$f\")\" ]; }} || {{ echo \"$f\"; continue; }}\n\
           elif [ -d \"$f\" ]; then {{ [ -d \"$d/$f\" ] && ! [ -L \"$d/$f\" ]; }} || {{ echo \"$f\"; continue; }}\n\
           else cmp -s \"$f\" \"$d/$f\" || {{ echo \"$f\"; continue; }}; fi\n\
           if false{owner_check}; then echo \"$f\"; fi\n\
         done)\n\
         if [ -z \"$diffs\" ]; then echo unchanged; exit 0; fi\necho changed\n"
    );
    if !check {
        // `cp -a .` also copies the staging directory's own mode and owner onto `dest`: the
        // staging directory was given dest's (above), so only an archive's `./` entry changes
        // them, as when tar extracts into dest directly.
        s.push_str("cp -a . \"$d/\"\n");
        let tops = "for f in * .[!.]* ..?*; do [ -e \"$f\" ] || [ -L \"$f\" ] || continue;";
        if let Some(o) = owner {
            s.push_str(&format!(
                "{tops} chown -R -h {} \"$d/$f\"; done\n",
                sh_quote(o)
            ));
        }
        if let Some(g) = group {
            s.push_str(&format!(
                "{tops} chgrp -R -h {} \"$d/$f\"; done\n",
                sh_quote(g)
            ));
        }
    }
    s
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let src = a.req_str("src")?;
    let dest = a.req_str("dest")?;
    let remote_src = a.bool("remote_src", false)?;
    let extra = a.list("extra_opts")?.unwrap_or_default();
    let (owner, group) = (a.str("owner"), a.str("group"));
    let local = if remote_src {
        None
    } else {
        Some(ctx.call.control.read_local(&src)?)
    };
    let zip = is_zip(&src);
    let archive = match &local {
        None => src.clone(),
        Some(bytes) => format!(
            "/tmp/.etcdplay-archive-{}{}",
            &sha1_hex(bytes)[..16],
            if zip { ".zip" } else { ".tar" }
        ),
    };

    // One round trip in the common case: the probe checks `creates`, `dest` and the archive,
    // and when the archive is already on the host it goes straight on to compare (and
    // extract). Only a first run with a control-node archive needs the upload and a second exec.
    let want_sum = local.as_ref().map(|b| sha1_hex(b));
    let archive_ok = match &want_sum {
        Some(sum) => format!(
            "[ -f {q} ] && [ \"$(sha1sum < {q} | cut -c1-40)\" = {sum} ]",
            q = sh_quote(&archive)
        ),
        None => format!("[ -f {} ]", sh_quote(&archive)),
    };
    let creates = a.str("creates");
    let creates_test = match &creates {
        Some(c) => format!("[ -e {} ]", sh_quote(c)),
        None => "false".to_string(),
    };
    let extract = extract_script(
        &archive,
        &dest,
        zip,
        &extra,
        owner.as_deref(),
        group.as_deref(),
        ctx.call.check,
    );
    let mut script = section("creates");
    script.push_str(&format!(
        "{creates_test} && echo yes
"
    ));
    script.push_str(&section("dest"));
    script.push_str(&format!(
        "[ -d {} ] && echo yes
",
        sh_quote(&dest)
    ));
    script.push_str(&section("result"));
    script.push_str(&format!(
        "if ! {creates_test} && [ -d {} ] && {archive_ok}; then ( {extract} ) ; echo \"rc=$?\"; fi
",
        sh_quote(&dest)
    ));
    script.push_str(&section("end"));
    let (s, probe_err) = ctx.probe_with_stderr(&script).await?;
    let yes = |k: &str| s.get(k).is_some_and(|v| v.starts_with(b"yes"));
    let mut res = ModuleResult::ok();
    res.set("dest", dest.clone())
        .set("src", src.clone())
        .set("handler", if zip { "ZipArchive" } else { "TgzArchive" });
    if yes("creates") {
        res.msg = Some(format!(
            "skipped, since {} exists",
            creates.unwrap_or_default()
        ));
        return Ok(res);
    }
    if !yes("dest") {
        return Ok(ModuleResult::fail(format!(
            "dest '{dest}' must be an existing dir"
        )));
    }
    let mut report =
        String::from_utf8_lossy(s.get("result").map(Vec::as_slice).unwrap_or_default())
            .into_owned();
    let mut stderr = probe_err;
    if report.trim().is_empty() {
        let Some(bytes) = &local else {
            return Ok(ModuleResult::fail(format!("Source '{src}' does not exist")));
        };
        ctx.put(
            &archive,
            std::sync::Arc::new(bytes.clone()),
            Some(0o600),
            None,
            None,
        )
        .await?;
        let out = ctx.exec(format!("( {extract} ); echo \"rc=$?\"\n")).await?;
        report = out.stdout_str();
        stderr = out.stderr_str();
    }
    let rc = report
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("rc="))
        .and_then(|r| r.trim().parse::<i32>().ok());
    if rc != Some(0) {
        return Ok(ModuleResult::fail(format!(
            "Failed to unpack {src} into {dest}: {}",
            stderr.trim()
        )));
    }
    match report.lines().next().unwrap_or("").trim() {
        "unchanged" => {}
        "changed" => res.changed = true,
        other => return Err(ctx.protocol(format!("unexpected unarchive report '{other}'"))),
    }
    Ok(res)
}
