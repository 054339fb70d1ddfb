//! `command` and `shell`: run a program on the host. They always report `changed` unless
//! `creates:`/`removes:` say the work is already done; a non-zero exit is a failure with
//! Ansible's message "non-zero return code". `command` runs its words without a shell (the
//! free-form line is split like Python's shlex and each word quoted), `shell` runs the text
//! with `/bin/sh` or `executable:`. The `creates`/`removes` check runs in the same round trip.

use std::time::{Duration, Instant, SystemTime};

use etcdplay_transport::script::{random_token, sh_quote, shlex_split};
use etcdplay_transport::{ExecOutput, ExecRequest};
use serde_json::{json, Value};

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

/// Arguments Ansible refuses with a task failure, in its words: `shell` given
/// `expand_argument_vars` (a `command` argument), `command` given both or none of `argv` and
/// a command line.
fn refused(ctx: &Ctx<'_>) -> Option<&'static str> {
    let args = &ctx.args;
    if ctx.module() == "shell" {
        return args
            .has("expand_argument_vars")
            .then_some("Unsupported parameters for (shell) module: expand_argument_vars");
    }
    let line = args.str("cmd").is_some() || args.str("_raw_params").is_some();
    let argv = args.list("argv").ok().flatten().is_some();
    match (argv, line) {
        (true, true) => Some("parameters are mutually exclusive: _raw_params|cmd|argv"),
        (false, false) => Some("one of the following is required: _raw_params, cmd, argv"),
        _ => None,
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    // A task failure, as in Ansible (the async path, which cannot fail a task before its job
    // starts, refuses the argument in `plan`).
    if let Some(problem) = refused(ctx) {
        return Ok(ModuleResult::fail(problem));
    }
    let plan = plan(ctx)?;
    if ctx.call.check && !plan.guarded {
        // Nothing to ask the host: the command would run, which check mode does not do.
        return finished(&plan, None);
    }
    let start = SystemTime::now();
    let clock_start = Instant::now();
    let out = ctx.exec_req(plan.request.clone()).await?;
    let elapsed = clock_start.elapsed();
    let end = SystemTime::now();
    finished(&plan, Some(&JobOutput::new(out, start, end, elapsed)))
}

/// What `command`/`shell` send to the host and what is needed to read the answer: the
/// engine runs the request itself when the task is `async` (see `async_job.rs`), and gives the
/// answer back to [`finish`] with this plan's [`CommandPlan::finish_data`].
pub(crate) struct CommandPlan {
    pub(crate) request: ExecRequest,
    /// `cmd` of the result: the words (`command`) or the text (`shell`).
    cmd_field: Value,
    /// The random skip marker of this request.
    mark: String,
    creates: Option<String>,
    removes: Option<String>,
    guarded: bool,
    check: bool,
    strip: bool,
    /// `command`'s warning that it ignores `executable:`.
    warning: Option<String>,
}

impl CommandPlan {
    /// The plan's decoding half as JSON, kept with an async job on the host.
    pub(crate) fn finish_data(&self) -> Value {
        json!({
            "cmd": self.cmd_field,
            "mark": self.mark,
            "creates": self.creates,
            "removes": self.removes,
            "guarded": self.guarded,
            "check": self.check,
            "strip": self.strip,
            "warning": self.warning,
        })
    }

    fn from_finish_data(data: &Value) -> Option<CommandPlan> {
        let text = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_string);
        let flag = |k: &str| data.get(k).and_then(Value::as_bool);
        Some(CommandPlan {
            request: ExecRequest::default(),
            cmd_field: data.get("cmd")?.clone(),
            mark: text("mark")?,
            creates: text("creates"),
            removes: text("removes"),
            guarded: flag("guarded")?,
            check: flag("check")?,
            strip: flag("strip")?,
            warning: text("warning"),
        })
    }
}

/// What a command's run gave: its exit code, output and when it started and ended.
pub(crate) struct JobOutput {
    pub(crate) out: ExecOutput,
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    pub(crate) elapsed: Duration,
}

impl JobOutput {
    pub(crate) fn new(
        out: ExecOutput,
        start: SystemTime,
        end: SystemTime,
        elapsed: Duration,
    ) -> Self {
        JobOutput {
            out,
            start,
            end,
            elapsed,
        }
    }
}

/// Works out the request of a `command`/`shell` task. In check mode the request only runs the
/// `creates`/`removes` test (an unguarded command is not run at all, see [`run`]; as an async
/// job it is a request that does nothing, as Ansible's check-mode job is).
pub(crate) fn plan(ctx: &Ctx<'_>) -> Result<CommandPlan, ModuleError> {
    let shell = ctx.module() == "shell";
    let mark = format!("{SKIP_MARK}{}:", random_token());
    let args = &ctx.args;
    if let Some(problem) = refused(ctx) {
        return Err(ctx.bad("cmd", problem));
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
            // Task failures in `run` (see `refused`).
            (Some(_), Some(_)) | (None, None) => {
                return Err(ctx.bad("cmd", refused(ctx).unwrap_or_default()))
            }
        };
        if words.is_empty() {
            return Err(ctx.bad("cmd", "no command given"));
        }
        let line = exec_words(&words, args.bool("expand_argument_vars", true)?, &mark);
        (
            line,
            Value::Array(words.into_iter().map(Value::String).collect()),
        )
    };

    let mut script = String::new();
    // Physically (`-P`): Ansible's module enters the directory with Python's `os.chdir`, so
    // the command's `$PWD` has no symbolic links.
    if let Some(dir) = args.str("chdir") {
        script.push_str(&format!(
            "cd -P -- {} 2>/dev/null || {{ echo '{mark}chdir' >&2; exit {SKIP_RC}; }}\n",
            sh_quote(&dir)
        ));
    }
    let creates = args.str("creates");
    let removes = args.str("removes");
    if let Some(c) = &creates {
        script.push_str(&format!("set -- {}\nif [ -e \"$1\" ] || [ -L \"$1\" ]; then echo '{mark}creates' >&2; exit {SKIP_RC}; fi\n", glob_quote(c)));
    }
    if let Some(r) = &removes {
        script.push_str(&format!("set -- {}\nif ! [ -e \"$1\" ] && ! [ -L \"$1\" ]; then echo '{mark}removes' >&2; exit {SKIP_RC}; fi\n", glob_quote(r)));
    }
    let guarded = creates.is_some() || removes.is_some();
    let check = ctx.call.check;
    if check {
        script.push_str("exit 0\n");
    } else {
        script.push_str(&command_line);
        script.push('\n');
    }

    let mut request = ExecRequest::script(script);
    if let Some(input) = args.str("stdin") {
        let mut bytes = input.into_bytes();
        if ctx.args.bool("stdin_add_newline", true)? {
            bytes.push(b'\n');
        }
        request.stdin = bytes;
    }
    request.become_ = ctx.call.become_.cloned();
    Ok(CommandPlan {
        request,
        cmd_field,
        mark,
        creates,
        removes,
        guarded,
        check,
        strip: ctx.args.bool("strip_empty_ends", true)?,
        warning: ignored_executable(ctx),
    })
}

/// The result of a command whose request was sent as an async job, from the plan's
/// [`CommandPlan::finish_data`] kept with the job.
pub(crate) fn finish(data: &Value, job: &JobOutput) -> Result<ModuleResult, ModuleError> {
    let plan = CommandPlan::from_finish_data(data).ok_or_else(|| ModuleError::Protocol {
        host: String::new(),
        module: "command".into(),
        message: "the async job's record of its command is damaged".into(),
    })?;
    if plan.check && !plan.guarded {
        return finished(&plan, None);
    }
    finished(&plan, Some(job))
}

/// The module result of `plan` given what its request printed (`None`: not sent, check mode).
fn finished(plan: &CommandPlan, job: Option<&JobOutput>) -> Result<ModuleResult, ModuleError> {
    let mut res = ModuleResult::default();
    res.set("cmd", plan.cmd_field.clone());
    let Some(job) = job else {
        res.skipped = true;
        res.msg = Some("Command would have run if not in check mode".into());
        return Ok(res);
    };
    let out = &job.out;
    let stderr_text = out.stderr_str();
    if let Some(warning) = &plan.warning {
        res.set("warnings", vec![warning.clone()]);
    }
    if out.rc == SKIP_RC {
        if let Some(which) = stderr_text
            .lines()
            .find_map(|l| l.strip_prefix(plan.mark.as_str()))
        {
            if which == "chdir" {
                return Ok(chdir_failed(plan));
            }
            if let Some(errno) = which.strip_prefix("exec:").and_then(|e| e.parse().ok()) {
                return Ok(exec_failed(plan, errno));
            }
            let path = if which == "creates" {
                plan.creates.clone().unwrap_or_default()
            } else {
                plan.removes.clone().unwrap_or_default()
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
    if plan.check {
        res.changed = true;
        res.msg = Some("Command would have run if not in check mode".into());
        return Ok(res);
    }
    let stdout = tidy(&out.stdout_str(), plan.strip);
    let stderr = tidy(&stderr_text, plan.strip);
    res.changed = true;
    res.set("rc", out.rc)
        .set("stdout_lines", lines(&stdout))
        .set("stderr_lines", lines(&stderr))
        .set("stdout", stdout)
        .set("stderr", stderr)
        .set("start", clock::stamp(job.start))
        .set("end", clock::stamp(job.end))
        .set("delta", clock::delta(job.elapsed));
    if out.rc != 0 {
        res.failed = true;
        res.msg = Some("non-zero return code".into());
    } else {
        res.msg = Some(String::new());
    }
    Ok(res)
}

/// Ansible's result when `chdir` cannot be entered: the command never ran, so its run's
/// fields are null.
fn chdir_failed(plan: &CommandPlan) -> ModuleResult {
    let mut res = ModuleResult::default();
    res.set("cmd", plan.cmd_field.clone())
        .set("rc", Value::Null)
        .set("start", Value::Null)
        .set("end", Value::Null)
        .set("delta", Value::Null)
        .set("stdout", "")
        .set("stdout_lines", Vec::<String>::new())
        .set("stderr", "")
        .set("stderr_lines", Vec::<String>::new());
    res.failed = true;
    res.msg = Some("Unable to change directory before execution.".into());
    res
}

/// `exec` of `words`, each built in a shell variable and passed quoted, so nothing else in it
/// is interpreted; with `expand`, expanded as Ansible's command module does by default
/// (`expand_argument_vars`): Python's `os.path.expandvars` (`$name`/`${name}` of the host's
/// environment; a variable that is not set stays as written, even after a backslash), then
/// `os.path.expanduser` of a leading `~`/`~user`. A program that cannot be executed is
/// reported with `mark` and its errno (see [`PROGRAM_CHECK`]), as Python's exec fails.
fn exec_words(words: &[String], expand: bool, mark: &str) -> String {
    let mut script = String::new();
    let mut refs = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let var = format!("__etcdplay_w{i}");
        if expand {
            script.push_str(&expanded_word(&var, word));
        } else {
            script.push_str(&format!("{var}={}\n", sh_quote(word)));
        }
        refs.push(format!("\"${var}\""));
    }
    script.push_str(
        &PROGRAM_CHECK
            .replace("@MARK@", mark)
            .replace("@RC@", &SKIP_RC.to_string()),
    );
    script.push_str(&format!("exec {}", refs.join(" ")));
    script
}

/// Finds the program `$__etcdplay_w0` as `execvp` does (a name with a `/` as it is, else the
/// first executable file of that name in `$PATH`) and, when there is none, reports errno 2
/// (ENOENT), or 13 (EACCES) for a path that is a directory or not executable.
const PROGRAM_CHECK: &str = r#"__etcdplay_p=
case $__etcdplay_w0 in
*/*) __etcdplay_p=$__etcdplay_w0 ;;
*) __etcdplay_ifs=$IFS; IFS=:
   for __etcdplay_d in ${PATH-/usr/bin:/bin}; do
     if [ -f "${__etcdplay_d:-.}/$__etcdplay_w0" ] && [ -x "${__etcdplay_d:-.}/$__etcdplay_w0" ]; then
       __etcdplay_p=${__etcdplay_d:-.}/$__etcdplay_w0; break
     fi
   done
   IFS=$__etcdplay_ifs ;;
esac
if [ -z "$__etcdplay_p" ] || ! [ -e "$__etcdplay_p" ]; then echo '@MARK@exec:2' >&2; exit @RC@; fi
if [ -d "$__etcdplay_p" ] || ! [ -x "$__etcdplay_p" ]; then echo '@MARK@exec:13' >&2; exit @RC@; fi
"#;

/// Python's `shlex.quote`, for the command line Ansible reports when it could not run one.
fn python_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\"'\"'"))
}

/// Ansible's result when the program could not be executed (Python's exec raised `errno`).
fn exec_failed(plan: &CommandPlan, errno: i64) -> ModuleResult {
    let words: Vec<String> = match &plan.cmd_field {
        Value::Array(words) => words
            .iter()
            .map(|w| python_quote(w.as_str().unwrap_or_default()))
            .collect(),
        other => vec![other.as_str().unwrap_or_default().to_string()],
    };
    let mut res = ModuleResult::default();
    res.set("cmd", words.join(" "))
        .set("rc", errno)
        .set("stdout", "")
        .set("stdout_lines", Vec::<String>::new())
        .set("stderr", "")
        .set("stderr_lines", Vec::<String>::new());
    res.failed = true;
    res.msg = Some("Error executing command.".into());
    res
}

/// Shell code that sets `var` to `word` expanded (see [`expanding_exec`]).
pub(crate) fn expanded_word(var: &str, word: &str) -> String {
    static VARIABLE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\$([A-Za-z0-9_]+|\{[^}]*\})").expect("valid regex")
    });
    let (tilde, rest) = tilde_prefix(word);
    // A tilde-prefix with any quote in it is not expanded: `~user` is written bare.
    let mut code = if tilde.is_empty() {
        format!("{var}=''\n")
    } else {
        format!("{var}={tilde}\n")
    };
    let append_literal = |code: &mut String, text: &str| {
        if !text.is_empty() {
            code.push_str(&format!("{var}=\"${var}\"{}\n", sh_quote(text)));
        }
    };
    let mut last = 0;
    for found in VARIABLE.captures_iter(rest) {
        let whole = found.get(0).expect("match");
        append_literal(&mut code, &rest[last..whole.start()]);
        last = whole.end();
        let name = found[1].trim_start_matches('{').trim_end_matches('}');
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            code.push_str(&format!(
                "if [ -n \"${{{name}+x}}\" ]; then {var}=\"${var}${{{name}}}\"; else {var}=\"${var}\"{}; fi\n",
                sh_quote(whole.as_str())
            ));
        } else {
            append_literal(&mut code, whole.as_str());
        }
    }
    append_literal(&mut code, &rest[last..]);
    code
}

/// A leading `~` or `~user` (up to the first `/`) that the shell's tilde expansion may expand
/// as Python's `expanduser` does (an unknown user stays as written), and the rest of `word`.
fn tilde_prefix(word: &str) -> (&str, &str) {
    if !word.starts_with('~') {
        return ("", word);
    }
    let end = word.find('/').unwrap_or(word.len());
    let user = &word[1..end];
    if user
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        (&word[..end], &word[end..])
    } else {
        ("", word)
    }
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
