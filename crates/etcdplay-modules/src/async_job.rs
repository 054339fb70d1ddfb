//! Async jobs (`async:`/`poll:`) of modules whose work is one host-side command (`command`,
//! `shell`): the module plans its request as usual, and instead of running it in the remote
//! shell, a launcher starts it detached on the host. The job runs in a session of its own
//! (`setsid`), so it survives the SSH connection and etcdplay itself, under a watchdog that
//! kills its process group when the time limit passes. Everything lives in the (become) user's
//! private `~/.ansible_async` (0700), as Ansible's does: `<jid>` is the status file, replaced
//! atomically (`{"started": 1, "finished": 0, ...}`, then `finished: 1` with the exit code and
//! times, or Ansible's "Timeout exceeded"), `<jid>.job/` holds the command's output and the
//! module's record of how to read it (`meta`). `async_status` (and the engine's polling) reads
//! both in one request and builds the module's result with the module's own code, since a
//! host may have no Python to write a JSON result with the output in it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use etcdplay_transport::script::{random_token, sh_quote};
use etcdplay_transport::{Become, ExecOutput, ExecRequest, Transport};
use serde_json::{json, Map, Value};

use crate::host::Ctx;
use crate::modules::command::JobOutput;
use crate::registry::{self, AsyncSupport};
use crate::{args, ModuleCall, ModuleError, ModuleResult};

/// The longest job id accepted from a playbook (`async_status: jid=`); ours are ~20 bytes.
const MAX_JID: usize = 64;

/// Whether a module can run as an async job, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsyncKind {
    /// One host-side command run detached on the host (`command`, `shell`).
    Detached,
    /// Control-node logic over several requests; run by the engine in a background task.
    Control,
    /// Ansible refuses `async` for it ("This action (copy) does not support async.").
    Refused,
}

/// How module `name` (any spelling) runs under `async:`; an unknown module is refused.
pub fn async_kind(name: &str) -> AsyncKind {
    match registry::lookup(name).map(|m| m.async_) {
        Some(AsyncSupport::Detached { .. }) => AsyncKind::Detached,
        Some(AsyncSupport::Control) => AsyncKind::Control,
        Some(AsyncSupport::Refused) | None => AsyncKind::Refused,
    }
}

/// Where a user's jobs live: Ansible's `async_dir` (`ansible_async_dir`), by default
/// `~/.ansible_async` of the task's (become) user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AsyncDir(Option<String>);

impl AsyncDir {
    /// `ansible_async_dir` as given (`~` and `~/...` are the user's home, as Ansible expands
    /// them on the host); `~otheruser` and names with a newline are refused.
    pub fn new(dir: Option<String>) -> Result<AsyncDir, ModuleError> {
        if let Some(d) = &dir {
            let other_home = d.starts_with('~') && d != "~" && !d.starts_with("~/");
            if d.trim().is_empty() || other_home || d.contains(['\n', '\0']) {
                return Err(ModuleError::bad(
                    "async",
                    "ansible_async_dir",
                    format!("'{d}' cannot be used as the async directory"),
                ));
            }
        }
        Ok(AsyncDir(dir))
    }

    /// The directory as a shell word (the home directory as `$HOME`).
    fn shell_word(&self) -> String {
        match self.0.as_deref() {
            None => "$HOME/.ansible_async".into(),
            Some("~") => "$HOME".into(),
            Some(d) => match d.strip_prefix("~/") {
                Some(rest) => format!("$HOME/{}", sh_quote(rest)),
                None if d.starts_with('/') => sh_quote(d),
                // Relative to the home directory, where Ansible's shell would start.
                None => format!("$HOME/{}", sh_quote(d)),
            },
        }
    }

    fn uses_home(&self) -> bool {
        self.shell_word().starts_with("$HOME")
    }
}

/// A job just started: what Ansible registers for a `poll: 0` task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedJob {
    pub jid: String,
    pub results_file: String,
}

impl StartedJob {
    /// The task result of starting the job (`poll: 0`), as Ansible reports it: always
    /// `changed`, `started` and not `finished`.
    pub fn to_json(&self) -> Value {
        json!({
            "ansible_job_id": self.jid,
            "results_file": self.results_file,
            "started": true,
            "finished": false,
            "changed": true,
            "failed": false,
        })
    }
}

/// Starts the module of `call` as a detached job on `host`, which its watchdog kills after
/// `kill_after` seconds. Only for modules of [`AsyncKind::Detached`]; the arguments are
/// checked first.
pub async fn start_detached(
    call: ModuleCall<'_>,
    host: &dyn Transport,
    dir: &AsyncDir,
    kill_after: u64,
) -> Result<StartedJob, ModuleError> {
    let module = registry::lookup(call.name).ok_or_else(|| ModuleError::UnknownModule {
        name: call.name.to_string(),
        suggestion: None,
    })?;
    let AsyncSupport::Detached { plan, .. } = module.async_ else {
        return Err(ModuleError::NotImplemented {
            module: module.name.to_string(),
        });
    };
    let args = args::Args::parse(module.name, call.args)?;
    let ctx = Ctx { call, host, args };
    let (request, finish) = plan(&ctx)?;
    let meta = json!({"module": module.name, "finish": finish}).to_string();
    let launch = launch_request(&request, &meta, dir, kill_after)?;
    let out = ctx.exec_req(launch).await?;
    let text = out.stdout_str();
    let mut lines = text.lines();
    match (out.rc, lines.next(), lines.next()) {
        (0, Some(jid), Some(file)) if valid_jid(jid) => Ok(StartedJob {
            jid: jid.to_string(),
            results_file: file.to_string(),
        }),
        _ => Err(ctx.protocol(format!(
            "could not start the async job (rc {}): {}",
            out.rc,
            out.stderr_str().trim()
        ))),
    }
}

/// The request that starts a job: the module's script, its input and the module's `meta`
/// travel on the launcher's standard input (never in a command line), the launcher's own text
/// holds only lengths, the time limit and a random job id.
fn launch_request(
    job: &ExecRequest,
    meta: &str,
    dir: &AsyncDir,
    limit: u64,
) -> Result<ExecRequest, ModuleError> {
    let mut script = String::new();
    for (name, value) in &job.env {
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(ModuleError::bad(
                "async",
                "environment",
                format!("invalid environment variable name {name:?}"),
            ));
        }
        script.push_str(&format!("export {name}={}\n", sh_quote(value)));
    }
    script.push_str(&job.script);
    let launcher = format!(
        "jr={} ml={} sl={} limit={limit}\n{LAUNCHER}{}{LAUNCH_JOB}",
        random_jid_prefix(),
        meta.len(),
        script.len(),
        job_dir(dir)
    );
    let mut stdin = Vec::with_capacity(meta.len() + script.len() + job.stdin.len());
    stdin.extend_from_slice(meta.as_bytes());
    stdin.extend_from_slice(script.as_bytes());
    stdin.extend_from_slice(&job.stdin);
    let mut req = ExecRequest::script(launcher);
    req.stdin = stdin;
    req.become_ = job.become_.clone();
    Ok(req)
}

/// Ansible's job ids are `j` and twelve random digits, then `.` and the wrapper's pid.
fn random_jid_prefix() -> String {
    let digits: String = random_token()
        .chars()
        .filter_map(|c| c.to_digit(16).map(|d| char::from(b'0' + (d % 10) as u8)))
        .take(12)
        .collect();
    format!("j{digits}")
}

/// The launcher, run as the task's user. `~/.ansible_async` must be a real directory of that
/// user (not a link, not someone else's), closed to others. The job directory is new
/// (`mkdir` fails on an existing name). The status file exists before the watchdog starts, so
/// a status request right after the launch finds the job. `setsid` puts the watchdog in a
/// session of its own: the remote loop's lifeline, which kills its process group when the
/// connection closes, does not reach it.
const LAUNCHER: &str = r#"um=$(umask)
command -v setsid >/dev/null 2>&1 || { echo "async needs setsid (util-linux) on the host" >&2; exit 1; }
"#;

/// Opens the user's job directory `$a` (created 0700; refused when it is a link or another
/// user's) and names a new job `$jid` from the random `$jr` and this shell's pid, as Ansible's
/// ids are. Shared by the launcher and the control-node jobs.
fn job_dir(dir: &AsyncDir) -> String {
    let mut script = String::from("umask 077\n");
    if dir.uses_home() {
        script.push_str(
            "[ -n \"$HOME\" ] && [ \"$HOME\" != / ] || { echo \"no home directory for $(id -un) to keep async jobs in\" >&2; exit 1; }\n",
        );
    }
    script.push_str(&format!("a={}\n", dir.shell_word()));
    script.push_str(JOB_DIR_CHECK);
    script
}

const JOB_DIR_CHECK: &str = r#"[ -e "$a" ] || [ -L "$a" ] || mkdir -p -m 700 -- "$a" || exit 1
if [ -L "$a" ] || ! [ -d "$a" ] || ! [ -O "$a" ]; then echo "$a is not a directory of $(id -un)" >&2; exit 1; fi
chmod 700 -- "$a" || exit 1
jid=$jr.$$
"#;

/// What the launcher does once [`job_dir`] has named the job. The watchdog (a session of its
/// own) starts the job and a timer in sessions of their own too, so that each can be killed
/// whole by its process group: the job when its time is up (the timer's TERM, or the engine's
/// through the pid in `watchdog`), the timer when the job ended first. (A timer that is a
/// subshell with a trap of its own is not enough: a TERM arriving before the subshell has
/// replaced the trap it inherited runs the watchdog's trap instead, and the subshell lives on.)
/// The timer is killed by group and by pid: a job that ends at once may end before the timer
/// has made its own session, when its group does not exist yet.
const LAUNCH_JOB: &str = r#"j=$a/$jid.job
mkdir -m 700 -- "$j" || exit 1
head -c "$ml" >"$j/meta" && head -c "$sl" >"$j/script" && cat >"$j/stdin" || exit 1
printf '{"started": 1, "finished": 0, "ansible_job_id": "%s"}\n' "$jid" >"$a/$jid.tmp" && mv -f -- "$a/$jid.tmp" "$a/$jid" || exit 1
setsid /bin/sh -c "$(cat <<'WATCHDOG'
a=$1 jid=$2 limit=$3 um=$4
j=$a/$jid.job
cd "${HOME:-/}" 2>/dev/null || cd /
printf '%s\n' "$$" >"$j/watchdog"
start=$(date +%s.%N)
(umask "$um"; exec setsid /bin/sh "$j/script") <"$j/stdin" >"$j/out" 2>"$j/err" &
job=$!
trap 'if [ -z "$done" ]; then to=1; kill -KILL "-$job" 2>/dev/null; fi' TERM
setsid /bin/sh -c 'sleep "$1"; kill -TERM "$2"' etcdplay-timer "$limit" "$$" &
t=$!
wait "$job"; rc=$?
if [ -n "$to" ]; then wait "$job"; fi
done=1
kill -KILL "-$t" "$t" 2>/dev/null; wait "$t"
end=$(date +%s.%N)
if [ -n "$to" ]; then
  printf '{"started": 1, "finished": 1, "failed": true, "msg": "Timeout exceeded", "child_pid": %s, "ansible_job_id": "%s"}\n' "$job" "$jid"
else
  printf '{"started": 1, "finished": 1, "ansible_job_id": "%s", "rc": %s, "start": "%s", "end": "%s"}\n' "$jid" "$rc" "$start" "$end"
fi >"$a/$jid.tmp" && mv -f -- "$a/$jid.tmp" "$a/$jid"
rm -f -- "$j/script" "$j/stdin"
WATCHDOG
)" etcdplay-async "$a" "$jid" "$limit" "$um" </dev/null >/dev/null 2>&1 &
printf '%s\n%s\n' "$jid" "$a/$jid"
"#;

/// Opens a job that the engine runs on the control node (a module of [`AsyncKind::Control`]):
/// its status file on the host says it started, as a detached job's does, so `async_status`
/// reads both kinds alike. [`close_control_job`] writes its result.
pub async fn open_control_job(
    host: &dyn Transport,
    become_: Option<&Become>,
    dir: &AsyncDir,
) -> Result<StartedJob, ModuleError> {
    let script = format!(
        "jr={}\n{}printf '{{\"started\": 1, \"finished\": 0, \"ansible_job_id\": \"%s\"}}\\n' \"$jid\" >\"$a/$jid.tmp\" && mv -f -- \"$a/$jid.tmp\" \"$a/$jid\" || exit 1\nprintf '%s\\n%s\\n' \"$jid\" \"$a/$jid\"\n",
        random_jid_prefix(),
        job_dir(dir)
    );
    let mut req = ExecRequest::script(script);
    req.become_ = become_.cloned();
    let out = host.exec(req).await?;
    let text = out.stdout_str();
    let mut lines = text.lines();
    match (out.rc, lines.next(), lines.next()) {
        (0, Some(jid), Some(file)) if valid_jid(jid) => Ok(StartedJob {
            jid: jid.to_string(),
            results_file: file.to_string(),
        }),
        _ => Err(ModuleError::protocol(
            host.host(),
            "async",
            format!(
                "could not start the async job (rc {}): {}",
                out.rc,
                out.stderr_str().trim()
            ),
        )),
    }
}

/// Writes the result of a control-node job into its status file (atomically, by rename), marked
/// finished: what `async_status` then returns.
pub async fn close_control_job(
    host: &dyn Transport,
    become_: Option<&Become>,
    dir: &AsyncDir,
    job: &StartedJob,
    result: &Value,
) -> Result<(), ModuleError> {
    let mut status = match result {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    status.insert("started".into(), json!(1));
    status.insert("finished".into(), json!(1));
    status.insert("ansible_job_id".into(), json!(job.jid));
    let mut req = ExecRequest::script(format!(
        "umask 077\nf={}/{}\n[ -d \"${{f%/*}}\" ] || exit 0\ncat >\"$f.tmp\" && mv -f -- \"$f.tmp\" \"$f\"\n",
        dir.shell_word(),
        job.jid
    ));
    req.stdin = Value::Object(status).to_string().into_bytes();
    req.become_ = become_.cloned();
    let out = host.exec(req).await?;
    if out.rc != 0 {
        return Err(ModuleError::protocol(
            host.host(),
            "async",
            format!(
                "could not write the job's result: {}",
                out.stderr_str().trim()
            ),
        ));
    }
    Ok(())
}

/// Whether `jid` can name a job file: no path separators, no hidden or relative names.
fn valid_jid(jid: &str) -> bool {
    !jid.is_empty()
        && jid.len() <= MAX_JID
        && !jid.starts_with('.')
        && jid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// The script that prints a job's state: the results file's path, then `missing`, or
/// `status` and the status line; for a finished job started by [`start_detached`], the sizes
/// and bytes of its `meta`, stdout and stderr. One snapshot of the status file (it is replaced
/// by rename, never rewritten in place), so a job finishing meanwhile is seen as running or
/// finished, never half.
fn status_script(dir: &AsyncDir, jid: &str) -> String {
    format!(
        r#"f={}/{jid}
j=$f.job
printf '%s\n' "$f"
[ -f "$f" ] || {{ echo missing; exit 0; }}
s=$(cat -- "$f") || exit 1
printf 'status\n%s\n' "$s"
case "$s" in *'"finished": 1'*|*'"finished":1'*|*'"finished": true'*|*'"finished":true'*) ;; *) exit 0;; esac
[ -f "$j/meta" ] && [ -f "$j/out" ] && [ -f "$j/err" ] || exit 0
printf 'output %s %s %s\n' "$(wc -c <"$j/meta")" "$(wc -c <"$j/out")" "$(wc -c <"$j/err")"
cat -- "$j/meta" "$j/out" "$j/err"
"#,
        dir.shell_word()
    )
}

/// What a status request found.
#[derive(Debug, Clone, PartialEq)]
enum JobState {
    Missing,
    /// Removed by `mode: cleanup`.
    Erased,
    /// The status file's JSON, and for a finished command job its meta, stdout and stderr.
    Status(Map<String, Value>, Option<(Vec<u8>, Vec<u8>, Vec<u8>)>),
}

/// `async_status` of job `jid` on `host` as the task's user: Ansible's result keys
/// (`ansible_job_id`, `results_file`, `started`, `finished`, and the job's module result once it
/// finished). `mode: cleanup` removes the job's files. A job id that is no job is the failed
/// result Ansible gives ("could not find job").
pub async fn job_status(
    host: &dyn Transport,
    become_: Option<&Become>,
    dir: &AsyncDir,
    jid: &str,
    cleanup: bool,
) -> Result<ModuleResult, ModuleError> {
    if !valid_jid(jid) {
        return Err(ModuleError::bad(
            "async_status",
            "jid",
            format!("'{jid}' is not a job id"),
        ));
    }
    let mut req = ExecRequest::script(if cleanup {
        format!(
            "f={}/{jid}\nprintf '%s\\n' \"$f\"\n[ -f \"$f\" ] || {{ echo missing; exit 0; }}\nrm -rf -- \"$f\" \"$f.job\" && echo erased\n",
            dir.shell_word()
        )
    } else {
        status_script(dir, jid)
    });
    req.become_ = become_.cloned();
    let out = host.exec(req).await?;
    let protocol = |m: String| ModuleError::protocol(host.host(), "async_status", m);
    if out.rc != 0 {
        return Err(protocol(format!(
            "reading job {jid} failed (rc {}): {}",
            out.rc,
            out.stderr_str().trim()
        )));
    }
    let (file, state) = parse_status(&out.stdout).map_err(protocol)?;
    let mut res = ModuleResult::default();
    res.set("ansible_job_id", jid)
        .set("stdout", "")
        .set("stderr", "")
        .set("stdout_lines", Vec::<String>::new())
        .set("stderr_lines", Vec::<String>::new());
    match state {
        JobState::Missing => {
            res.failed = true;
            res.msg = Some("could not find job".into());
            res.set("results_file", file)
                .set("started", true)
                .set("finished", true);
        }
        JobState::Erased => {
            res.set("erased", file)
                .set("started", false)
                .set("finished", false);
        }
        JobState::Status(status, output) => {
            res.set("results_file", file).set("started", true);
            let finished = truthy(status.get("finished"));
            res.set("finished", finished);
            if finished {
                let job = match output {
                    Some(output) => job_result(&status, output).map_err(protocol)?,
                    None => status,
                };
                merge(&mut res, job);
            }
        }
    }
    Ok(res)
}

/// Ends a job that outlived its time: its watchdog kills the job's process group and writes
/// Ansible's "Timeout exceeded" status, which this waits for (up to five seconds), so the
/// job's processes are gone when it returns. A job that finished meanwhile is left as it is.
pub async fn kill_job(
    host: &dyn Transport,
    become_: Option<&Become>,
    dir: &AsyncDir,
    jid: &str,
) -> Result<(), ModuleError> {
    if !valid_jid(jid) {
        return Ok(());
    }
    let script = format!(
        r#"f={}/{jid}
done_() {{ case "$(cat -- "$f" 2>/dev/null)" in *'"finished": 1'*) return 0;; esac; [ -f "$f" ] || return 0; return 1; }}
done_ && exit 0
read -r p <"$f.job/watchdog" 2>/dev/null || exit 0
kill -TERM "$p" 2>/dev/null || exit 0
n=0
while ! done_ && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n+1)); done
"#,
        dir.shell_word()
    );
    let mut req = ExecRequest::script(script);
    req.become_ = become_.cloned();
    host.exec(req).await?;
    Ok(())
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

/// Adds the job's result keys to `res` (its `changed`/`failed`/`skipped`/`msg` become the
/// result's own), keeping `started`/`finished`/`ansible_job_id` as the status says.
fn merge(res: &mut ModuleResult, job: Map<String, Value>) {
    for (key, value) in job {
        match key.as_str() {
            "changed" => res.changed = truthy(Some(&value)),
            "failed" => res.failed = truthy(Some(&value)),
            "skipped" => res.skipped = truthy(Some(&value)),
            "msg" => res.msg = value.as_str().map(str::to_string),
            "started" | "finished" | "ansible_job_id" => {}
            _ => {
                res.data.insert(key, value);
            }
        }
    }
}

/// The module result of a finished command job, built by its module from the job's output;
/// a timed-out job's status is its result.
fn job_result(
    status: &Map<String, Value>,
    (meta, out, err): (Vec<u8>, Vec<u8>, Vec<u8>),
) -> Result<Map<String, Value>, String> {
    if status.contains_key("failed") {
        return Ok(status.clone());
    }
    let meta: Value =
        serde_json::from_slice(&meta).map_err(|e| format!("the job's meta file: {e}"))?;
    let module = meta.get("module").and_then(Value::as_str).unwrap_or("");
    let Some(AsyncSupport::Detached { finish, .. }) = registry::lookup(module).map(|m| m.async_)
    else {
        return Err(format!("the job names no async module ('{module}')"));
    };
    let rc = status
        .get("rc")
        .and_then(Value::as_i64)
        .ok_or("the job's status has no exit code")?;
    let start = epoch(status.get("start"));
    let end = epoch(status.get("end"));
    let job = JobOutput::new(
        ExecOutput {
            rc: rc as i32,
            stdout: out,
            stderr: err,
        },
        start,
        end,
        end.duration_since(start).unwrap_or_default(),
    );
    let result = finish(meta.get("finish").unwrap_or(&Value::Null), &job)
        .map_err(|e| e.to_string())?
        .to_json();
    match result {
        Value::Object(m) => Ok(m),
        _ => Ok(Map::new()),
    }
}

/// `date +%s.%N` as written by the watchdog (`%N` may be missing outside GNU date).
fn epoch(v: Option<&Value>) -> SystemTime {
    let text = v.and_then(Value::as_str).unwrap_or("0");
    let secs: f64 = text
        .parse()
        .or_else(|_| text.split('.').next().unwrap_or("0").parse())
        .unwrap_or(0.0);
    UNIX_EPOCH + Duration::from_secs_f64(secs.max(0.0))
}

/// Splits the answer of [`status_script`]: the results file's path and what was found.
fn parse_status(stdout: &[u8]) -> Result<(String, JobState), String> {
    let mut rest = stdout;
    let mut line = || -> Result<String, String> {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("the answer ended early")?;
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 1..];
        Ok(text)
    };
    let file = line()?;
    match line()?.as_str() {
        "missing" => return Ok((file, JobState::Missing)),
        "erased" => return Ok((file, JobState::Erased)),
        "status" => {}
        other => return Err(format!("unexpected line {other:?}")),
    }
    let status_line = line().unwrap_or_default();
    let status = match serde_json::from_str::<Value>(&status_line) {
        Ok(Value::Object(m)) => m,
        // Written by rename only, so a status that does not parse was not written by a job.
        _ => {
            return Err(format!(
                "the status file holds no job status: {status_line:?}"
            ))
        }
    };
    let output = match line() {
        Ok(sizes) => {
            let n: Vec<usize> = sizes
                .strip_prefix("output ")
                .unwrap_or("")
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            let [m, o, e] = n[..] else {
                return Err(format!("unexpected line {sizes:?}"));
            };
            if rest.len() != m + o + e {
                return Err("the job's output changed while it was read".into());
            }
            let (meta, tail) = rest.split_at(m);
            let (out, err) = tail.split_at(o);
            Some((meta.to_vec(), out.to_vec(), err.to_vec()))
        }
        Err(_) => None,
    };
    Ok((file, JobState::Status(status, output)))
}

/// The `async_status` module: the state of a job on this host (see [`job_status`]).
pub(crate) async fn status_module(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let jid = ctx
        .args
        .str("jid")
        .ok_or_else(|| ModuleError::missing("async_status", "jid"))?;
    let cleanup = match ctx.args.str("mode").as_deref() {
        None | Some("status") => false,
        Some("cleanup") => true,
        Some(other) => {
            return Err(ctx.bad(
                "mode",
                format!("value of mode must be one of: status, cleanup, got: {other}"),
            ))
        }
    };
    let dir = AsyncDir::new(ctx.args.str("_async_dir"))?;
    job_status(ctx.host, ctx.call.become_, &dir, &jid, cleanup).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_async_dir_is_the_users_home_unless_set() {
        let word = |d: Option<&str>| AsyncDir::new(d.map(str::to_string)).unwrap().shell_word();
        assert_eq!(word(None), "$HOME/.ansible_async");
        assert_eq!(word(Some("~/jobs dir")), "$HOME/'jobs dir'");
        assert_eq!(word(Some("/var/tmp/j")), "/var/tmp/j");
        assert_eq!(word(Some("rel")), "$HOME/rel");
        for bad in ["~root/x", "", "a\nb"] {
            assert!(AsyncDir::new(Some(bad.into())).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn job_ids_cannot_leave_the_job_directory() {
        assert!(valid_jid("j123456789012.4242"));
        for bad in ["", "../x", ".x", "a/b", "j1 2", &"j".repeat(65)] {
            assert!(!valid_jid(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_status_answer_is_split_into_its_parts() {
        let answer = b"/root/.ansible_async/j1.2\nstatus\n{\"started\": 1, \"finished\": 1, \"rc\": 0}\noutput 2 3 2\n{}ab\nc\n";
        let (file, state) = parse_status(answer).unwrap();
        assert_eq!(file, "/root/.ansible_async/j1.2");
        let JobState::Status(status, Some((meta, out, err))) = state else {
            panic!("{state:?}")
        };
        assert_eq!(status.get("rc"), Some(&json!(0)));
        assert_eq!(
            (meta, out, err),
            (b"{}".to_vec(), b"ab\n".to_vec(), b"c\n".to_vec())
        );
        let (_, state) = parse_status(b"/x\nmissing\n").unwrap();
        assert_eq!(state, JobState::Missing);
        assert!(parse_status(b"/x\nstatus\n{\"a\": 1}\noutput 9 0 0\n{}").is_err());
    }
}

#[cfg(test)]
mod local_tests {
    use super::*;
    use etcdplay_transport::LocalTransport;

    struct NoFiles;
    impl crate::ControlNode for NoFiles {
        fn read_local(&self, _: &str) -> Result<Vec<u8>, ModuleError> {
            unreachable!()
        }
        fn render_template(&self, _: &str, _: &Map<String, Value>) -> Result<String, ModuleError> {
            unreachable!()
        }
        fn write_local(&self, _: &str, _: &[u8]) -> Result<(), ModuleError> {
            unreachable!()
        }
    }

    /// A job's status while it runs and once it finished, through the local shell.
    #[tokio::test]
    async fn a_detached_command_reports_running_then_its_result() {
        let host = LocalTransport::new("local");
        let mut args = Map::new();
        args.insert("_raw_params".into(), json!("sleep 1; echo done"));
        let call = ModuleCall {
            name: "shell",
            args: &args,
            check: false,
            diff: false,
            become_: None,
            control: &NoFiles,
        };
        let job = start_detached(call, &host, &AsyncDir::default(), 10)
            .await
            .unwrap();
        let running = job_status(&host, None, &AsyncDir::default(), &job.jid, false)
            .await
            .unwrap();
        assert_eq!(
            running.data.get("finished"),
            Some(&json!(false)),
            "{running:?}"
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let done = job_status(&host, None, &AsyncDir::default(), &job.jid, false)
            .await
            .unwrap();
        assert_eq!(done.data.get("stdout"), Some(&json!("done")), "{done:?}");
        let gone = job_status(&host, None, &AsyncDir::default(), &job.jid, true)
            .await
            .unwrap();
        assert_eq!(gone.data.get("erased"), Some(&json!(job.results_file)));
        assert!(!std::path::Path::new(&job.results_file).exists());
    }

    /// Jobs that end at once are reported finished at once: their watchdog must not wait for
    /// a timer it failed to stop (a race that left 1 job in 10 waiting for its time limit).
    #[tokio::test]
    async fn jobs_that_end_at_once_finish_at_once() {
        let host = LocalTransport::new("local");
        let mut args = Map::new();
        args.insert("_raw_params".into(), json!("true"));
        let mut jobs = Vec::new();
        for _ in 0..30 {
            let call = ModuleCall {
                name: "command",
                args: &args,
                check: false,
                diff: false,
                become_: None,
                control: &NoFiles,
            };
            jobs.push(
                start_detached(call, &host, &AsyncDir::default(), 60)
                    .await
                    .unwrap(),
            );
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut unfinished = 0;
        for job in &jobs {
            let status = job_status(&host, None, &AsyncDir::default(), &job.jid, false)
                .await
                .unwrap();
            if status.data.get("finished") != Some(&json!(true)) {
                unfinished += 1;
            }
            job_status(&host, None, &AsyncDir::default(), &job.jid, true)
                .await
                .unwrap();
        }
        assert_eq!(unfinished, 0);
    }

    /// Runs the launcher with `home` as `$HOME`; its exit status and stderr.
    fn launch_in(home: &std::path::Path, dir: &AsyncDir) -> (bool, String) {
        use std::io::Write;
        let req = launch_request(&ExecRequest::script("true"), "{}", dir, 5).unwrap();
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&req.script)
            .env("HOME", home)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&req.stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `~/.ansible_async` planted as a link (to a directory others can read, or anywhere) is
    /// refused, nothing is written through it; a real one is made 0700.
    #[test]
    fn the_job_directory_must_be_the_users_own_directory() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), home.path().join(".ansible_async")).unwrap();
        let (ok, err) = launch_in(home.path(), &AsyncDir::default());
        assert!(!ok && err.contains("is not a directory of"), "{err}");
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
        std::fs::remove_file(home.path().join(".ansible_async")).unwrap();
        let (ok, err) = launch_in(home.path(), &AsyncDir::default());
        assert!(ok, "{err}");
        let mode = std::fs::metadata(home.path().join(".ansible_async"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        std::thread::sleep(Duration::from_millis(300));
    }
}
