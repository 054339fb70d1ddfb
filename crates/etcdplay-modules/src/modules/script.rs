//! `script`: a file of the control node (found as `copy`'s `src` is: role `files/`, playbook
//! directory, absolute path) run on the host, as Ansible's action does. One exec does it all:
//! `creates`/`removes` are tested first (nothing is uploaded when they say the work is done),
//! then the script arrives on stdin into a private `mktemp -d` directory, is made executable and
//! run by `/bin/sh` as the command line says (its first word replaced by the uploaded copy,
//! `executable` in front when given, from `chdir`), and the directory is removed when the
//! shell exits, whatever happened. Always a change, as in Ansible; a non-zero exit fails.

use etcdplay_transport::script::{random_token, sh_quote, shlex_split};
use etcdplay_transport::ExecRequest;

use crate::host::Ctx;
use crate::{ModuleError, ModuleResult};

/// Exit code plus a per-request stderr marker that say "creates/removes decided to skip" (as in
/// `command`, both must match so the script cannot fake a skip).
const SKIP_RC: i32 = 199;

/// The command line the host runs: `line` with its first word (the script as written) replaced
/// by the uploaded copy `uploaded` (a shell expression), `executable` in front.
pub(crate) fn host_command_line(
    line: &str,
    first_word: &str,
    uploaded: &str,
    executable: Option<&str>,
) -> String {
    let line = line.trim();
    let rest = line
        .find(first_word)
        .map(|at| &line[at + first_word.len()..])
        .unwrap_or("");
    // The first word may have been quoted on the task line: drop what is left of its quotes.
    let rest = rest.trim_start_matches(['\'', '"']);
    // `executable` is put in front as written, as Ansible does (`python3 -u` is two words).
    match executable {
        Some(exe) => format!("{exe} {uploaded}{rest}"),
        None => format!("{uploaded}{rest}"),
    }
}

/// The file name the script gets in the private directory (its base name, as Ansible keeps).
fn base_name(source: &str) -> String {
    let name = source.rsplit('/').next().unwrap_or(source);
    if name.is_empty() || name == "." || name == ".." {
        "script".to_string()
    } else {
        name.to_string()
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let line = match (a.str("_raw_params"), a.str("cmd")) {
        (Some(_), Some(_)) => {
            return Err(ctx.bad("cmd", "parameters are mutually exclusive: _raw_params|cmd"))
        }
        (Some(l), None) | (None, Some(l)) => l,
        (None, None) => {
            return Err(ctx.bad("cmd", "one of the following is required: _raw_params, cmd"))
        }
    };
    let words = shlex_split(line.trim()).map_err(|m| ctx.bad("cmd", m))?;
    let Some(source) = words.first().cloned() else {
        return Err(ctx.bad("cmd", "no script given"));
    };
    if let Some(dir) = a.str("chdir") {
        if !dir.starts_with('/') {
            return Ok(ModuleResult::fail(format!(
                "chdir {dir} must be an absolute path for a Unix-aware remote node"
            )));
        }
    }
    let creates = a.str("creates");
    let removes = a.str("removes");
    // The control-node file is read before the host is asked anything, as Ansible finds it
    // first: a missing script fails even when `creates` would skip.
    let content = ctx.call.control.read_local_shared(&source)?;

    let mark = format!("@@etcdplay:skip:{}:", random_token());
    let mut script = String::new();
    if let Some(c) = &creates {
        script.push_str(&format!(
            "if [ -e {q} ] || [ -L {q} ]; then echo '{mark}creates' >&2; exit {SKIP_RC}; fi\n",
            q = sh_quote(c)
        ));
    }
    if let Some(r) = &removes {
        script.push_str(&format!(
            "if ! [ -e {q} ] && ! [ -L {q} ]; then echo '{mark}removes' >&2; exit {SKIP_RC}; fi\n",
            q = sh_quote(r)
        ));
    }
    let guarded = creates.is_some() || removes.is_some();
    if ctx.call.check && !guarded {
        return Ok(ModuleResult {
            skipped: true,
            msg: Some("Check mode is not supported for this task.".into()),
            ..ModuleResult::default()
        });
    }
    let mut req = if ctx.call.check {
        script.push_str("exit 0\n");
        ExecRequest::script(script)
    } else {
        script.push_str(&upload_and_run(
            &line,
            &source,
            a.str("executable").as_deref(),
            a.str("chdir").as_deref(),
        ));
        ExecRequest::script(script)
    };
    if !ctx.call.check {
        req.stdin = content.to_vec();
    }
    let out = ctx.exec_req(req).await?;
    let stderr = out.stderr_str();
    if out.rc == SKIP_RC {
        if let Some(which) = stderr.lines().find_map(|l| l.strip_prefix(mark.as_str())) {
            let msg = if which == "creates" {
                format!(
                    "{} exists, matching creates option",
                    creates.unwrap_or_default()
                )
            } else {
                format!(
                    "{} does not exist, matching removes option",
                    removes.unwrap_or_default()
                )
            };
            return Ok(ModuleResult {
                skipped: true,
                msg: Some(msg),
                ..ModuleResult::default()
            });
        }
    }
    let mut res = ModuleResult::ok();
    res.changed = true;
    if ctx.call.check {
        return Ok(res);
    }
    let stdout = out.stdout_str();
    res.set("rc", out.rc)
        .set("stdout_lines", lines(&stdout))
        .set("stderr_lines", lines(&stderr))
        .set("stdout", stdout)
        .set("stderr", stderr);
    if out.rc != 0 {
        res.failed = true;
        res.msg = Some("non-zero return code".into());
    }
    Ok(res)
}

/// The shell text that writes stdin to a private directory, runs it and removes the directory.
fn upload_and_run(
    line: &str,
    source: &str,
    executable: Option<&str>,
    chdir: Option<&str>,
) -> String {
    let name = sh_quote(&base_name(source));
    let command = host_command_line(line, source, &format!("\"$ep_d\"/{name}"), executable);
    let mut s = String::new();
    s.push_str("ep_d=$(mktemp -d \"${TMPDIR:-/tmp}/etcdplay-script.XXXXXXXX\") || exit 1\n");
    s.push_str("trap 'rm -rf -- \"$ep_d\"' EXIT\n");
    s.push_str(&format!(
        "cat > \"$ep_d\"/{name} && chmod 0700 \"$ep_d\"/{name} || exit 1\n"
    ));
    if let Some(dir) = chdir {
        s.push_str(&format!(
            "cd -- {} || {{ echo 'Unable to change directory before execution' >&2; exit 1; }}\n",
            sh_quote(dir)
        ));
    }
    // In a subshell, not `exec`: the directory is removed after the script (and by the trap
    // on any earlier exit).
    s.push_str(&format!(
        "( {command}\n) </dev/null\nep_rc=$?\nrm -rf -- \"$ep_d\"\nexit $ep_rc\n"
    ));
    s
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_word_becomes_the_uploaded_copy() {
        assert_eq!(
            host_command_line(
                " files/setup.sh --force 'a b' ",
                "files/setup.sh",
                "/t/x",
                None
            ),
            "/t/x --force 'a b'"
        );
        assert_eq!(
            host_command_line(
                "run.py 1",
                "run.py",
                "/t/run.py",
                Some("/usr/bin/python3 -u")
            ),
            "/usr/bin/python3 -u /t/run.py 1"
        );
        assert_eq!(
            host_command_line("'my script.sh' x", "my script.sh", "/t/s", None),
            "/t/s x"
        );
        assert_eq!(base_name("roles/x/files/a.sh"), "a.sh");
    }
}
