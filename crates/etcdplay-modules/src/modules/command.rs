//! `command` and `shell`: run a program on the host. They always report `changed` unless
//! `creates:`/`removes:` say the work is already done; a non-zero exit is a failure with
//! Ansible's message "non-zero return code". `command` runs its words without a shell (the
//! free-form line is split like Python's shlex and each word quoted), `shell` runs the text
//! with `/bin/sh` or `executable:`. The `creates`/`removes` check runs in the same round trip.

use std::time::{Instant, SystemTime};

use etcdplay_transport::script::{random_token, sh_quote, shlex_split};
use etcdplay_transport::ExecRequest;
use serde_json::Value;

use crate::clock;
use crate::host::Ctx;
use crate::{ModuleError, ModuleResult};

/// `command` takes `executable:` only to say it ignores it, in Ansible's words: the program
/// runs without a shell.
fn ignored_executable(ctx: &Ctx<'_>) -> Option<String> {
    let exe = ctx
        .args
        .str("executable")
        .filter(|_| ctx.module() == "command")?;
    Some(format!(
        "As of Ansible 2.4, the parameter 'executable' is no longer supported with the \
         'command' module. Not using '{exe}'."
    ))
}

/// Exit code plus stderr marker that says "creates/removes decided to skip"; both must match,
/// so a command that happens to exit with this code is not mistaken for a skip. The marker
/// carries a random token of this request, so a command cannot print it to fake a skip.
const SKIP_RC: i32 = 199;
const SKIP_MARK: &str = "@@etcdplay:skip:";

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let shell = ctx.module() == "shell";
    let args = &ctx.args;
    if shell && args.has("expand_argument_vars") {
        return Ok(ModuleResult::fail(
            "Unsupported parameters for (shell) module: expand_argument_vars",
        ));
    }
    let (command_line, cmd_field) = if shell {
        let text = args
            .str("cmd")
            .or_else(|| args.str("_raw_params"))
            .ok_or_else(|| ModuleError::missing("shell", "cmd"))?;
        let line = match args.str("executable") {
            Some(exe) => format!("exec {} -c {}", sh_quote(&exe), sh_quote(&text)),
            None => text.clone(),
        };
        (line, Value::String(text))
    } else {
        let words = match (
            args.list("argv")?,
            args.str("cmd").or_else(|| args.str("_raw_params")),
        ) {
            (Some(argv), None) => argv,
            (None, Some(text)) => shlex_split(&text).map_err(|m| ctx.bad("cmd", m))?,
            // Ansible's messages, as task failures.
            (Some(_), Some(_)) => {
                return Ok(ModuleResult::fail(
                    "parameters are mutually exclusive: _raw_params|cmd|argv",
                ))
            }
            (None, None) => {
                return Ok(ModuleResult::fail(
                    "one of the following is required: _raw_params, cmd, argv",
                ))
            }
        };
        if words.is_empty() {
            return Err(ctx.bad("cmd", "no command given"));
        }
        let quoted: Vec<String> = words.iter().map(|w| sh_quote(w)).collect();
        (
            format!("exec {}", quoted.join(" ")),
            Value::Array(words.into_iter().map(Value::String).collect()),
        )
    };

    let mut script = String::new();
    if let Some(dir) = args.str("chdir") {
        script.push_str(&format!(
            "cd -- {} || {{ echo 'Unable to change directory before execution' >&2; exit 1; }}\n",
            sh_quote(&dir)
        ));
    }
    let creates = args.str("creates");
    let removes = args.str("removes");
    let mark = format!("{SKIP_MARK}{}:", random_token());
    if let Some(c) = &creates {
        script.push_str(&format!("set -- {}\nif [ -e \"$1\" ] || [ -L \"$1\" ]; then echo '{mark}creates' >&2; exit {SKIP_RC}; fi\n", glob_quote(c)));
    }
    if let Some(r) = &removes {
        script.push_str(&format!("set -- {}\nif ! [ -e \"$1\" ] && ! [ -L \"$1\" ]; then echo '{mark}removes' >&2; exit {SKIP_RC}; fi\n", glob_quote(r)));
    }
    let guarded = creates.is_some() || removes.is_some();
    if ctx.call.check {
        if !guarded {
            let mut res = ModuleResult {
                skipped: true,
                msg: Some("Command would have run if not in check mode".into()),
                ..ModuleResult::default()
            };
            res.set("cmd", cmd_field);
            return Ok(res);
        }
        script.push_str("exit 0\n");
    } else {
        script.push_str(&command_line);
        script.push('\n');
    }

    let mut req = ExecRequest::script(script);
    if let Some(input) = args.str("stdin") {
        let mut bytes = input.into_bytes();
        if ctx.args.bool("stdin_add_newline", true)? {
            bytes.push(b'\n');
        }
        req.stdin = bytes;
    }
    let start = SystemTime::now();
    let clock_start = Instant::now();
    let out = ctx.exec_req(req).await?;
    let elapsed = clock_start.elapsed();
    let end = SystemTime::now();

    let stderr_text = out.stderr_str();
    let mut res = ModuleResult::default();
    res.set("cmd", cmd_field);
    if let Some(warning) = ignored_executable(ctx) {
        res.set("warnings", vec![warning]);
    }
    if out.rc == SKIP_RC {
        if let Some(which) = stderr_text
            .lines()
            .find_map(|l| l.strip_prefix(mark.as_str()))
        {
            let path = if which == "creates" {
                creates.unwrap_or_default()
            } else {
                removes.unwrap_or_default()
            };
            let text = if which == "creates" {
                format!("skipped, since {path} exists")
            } else {
                format!("skipped, since {path} does not exist")
            };
            res.set("rc", 0)
                .set("stdout", text.clone())
                .set("stdout_lines", vec![text.clone()])
                .set("stderr", "")
                .set("stderr_lines", Vec::<String>::new());
            res.msg = Some(text);
            return Ok(res);
        }
    }
    if ctx.call.check {
        res.changed = true;
        res.msg = Some("Command would have run if not in check mode".into());
        return Ok(res);
    }
    let strip = ctx.args.bool("strip_empty_ends", true)?;
    let stdout = tidy(&out.stdout_str(), strip);
    let stderr = tidy(&stderr_text, strip);
    res.changed = true;
    res.set("rc", out.rc)
        .set("stdout_lines", lines(&stdout))
        .set("stderr_lines", lines(&stderr))
        .set("stdout", stdout)
        .set("stderr", stderr)
        .set("start", clock::stamp(start))
        .set("end", clock::stamp(end))
        .set("delta", clock::delta(elapsed));
    if out.rc != 0 {
        res.failed = true;
        res.msg = Some("non-zero return code".into());
    } else {
        res.msg = Some(String::new());
    }
    Ok(res)
}

fn tidy(s: &str, strip: bool) -> String {
    if strip {
        s.trim_end_matches(['\n', '\r']).to_string()
    } else {
        s.to_string()
    }
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(String::from).collect()
}

/// Quotes a path for sh while leaving glob characters active, as `creates:` is a glob.
fn glob_quote(pattern: &str) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    for c in pattern.chars() {
        if "*?[]".contains(c) {
            if !literal.is_empty() {
                out.push_str(&sh_quote(&literal));
                literal.clear();
            }
            out.push(c);
        } else {
            literal.push(c);
        }
    }
    if !literal.is_empty() || out.is_empty() {
        out.push_str(&sh_quote(&literal));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_quoting_keeps_stars() {
        assert_eq!(
            glob_quote("/var/lib/etcd/member/*"),
            "/var/lib/etcd/member/*"
        );
        assert_eq!(glob_quote("/a b/*.db"), "'/a b/'*.db");
    }
}
