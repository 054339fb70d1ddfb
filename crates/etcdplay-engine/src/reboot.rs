//! The `reboot` action, run by the engine because it outlives its connection, as Ansible's
//! action plugin does: the boot id is read (`boot_time_command`), the shutdown command found in
//! `search_paths` and sent (a connection closed under it counts as sent), `post_reboot_delay`
//! waited, then the host is reconnected until its boot id differs and until `test_command`
//! passes, each within `reboot_timeout`, pausing 2^n seconds (at most 12) between tries. Every
//! try opens a fresh connection: the pool's old one died with the host. Check mode changes
//! nothing and reports `changed`, `rebooted`, `elapsed: 0`, as Ansible; the local connection
//! is refused (it would reboot the control node).

use std::sync::Arc;
use std::time::{Duration, Instant};

use etcdplay_modules::{python_list, reboot_backoff, reboot_plan, RebootPlan};
use etcdplay_playbook::Task;
use etcdplay_template::Vars;
use etcdplay_transport::script::sh_quote;
use etcdplay_transport::{Become, ExecOutput, ExecRequest, Transport};
use serde_json::{json, Map, Value};

use crate::connect::{ConnectTarget, ConnectionKind};
use crate::error::TaskError;
use crate::play::PlayRun;
use crate::scope::TaskScope;

/// How long one try may take before it counts as failed (a host going down can leave a
/// connection that neither answers nor closes).
const TRY_LIMIT: Duration = Duration::from_secs(20);

/// One reboot on one host: what it connects to and as whom.
struct Rebooting<'a> {
    run: &'a PlayRun<'a>,
    target: ConnectTarget,
    become_: Option<Become>,
}

impl Rebooting<'_> {
    /// Runs `script` on the pool's connection (opened when none is open).
    async fn exec(&self, script: &str) -> Result<ExecOutput, String> {
        let transport: Arc<dyn Transport> = self
            .run
            .engine
            .pool
            .get(&self.target)
            .await
            .map_err(|e| e.to_string())?;
        let mut req = ExecRequest::script(script);
        req.become_ = self.become_.clone();
        transport.exec(req).await.map_err(|e| e.to_string())
    }

    /// [`Rebooting::exec`] bounded by `limit`; a failed or timed-out try drops the connection
    /// so the next one reconnects.
    async fn try_exec(&self, script: &str, limit: Duration) -> Result<ExecOutput, String> {
        let out = match tokio::time::timeout(limit, self.exec(script)).await {
            Ok(out) => out,
            Err(_) => Err(format!("no answer within {}s", limit.as_secs())),
        };
        if out.is_err() {
            self.run.engine.pool.forget(&self.target);
        }
        out
    }

    /// The boot id, trimmed; `Err` when the command fails.
    async fn boot_id(&self, plan: &RebootPlan, limit: Duration) -> Result<String, String> {
        let out = self.try_exec(&plan.boot_time_command, limit).await?;
        if out.rc != 0 {
            return Err(format!(
                "Failed to get last boot time information (rc={}): {} {}",
                out.rc,
                out.stdout_str().trim(),
                out.stderr_str().trim()
            ));
        }
        Ok(out.stdout_str().trim().to_string())
    }

    /// Tries `attempt` until it succeeds or `timeout` passes (Ansible's
    /// `do_until_success_or_timeout`); `Err` is Ansible's timeout message.
    async fn until_success<F, Fut>(
        &self,
        what: &str,
        timeout: u64,
        attempt: F,
    ) -> Result<(), String>
    where
        F: Fn(Duration) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let end = Instant::now() + Duration::from_secs(timeout);
        let mut failures = 0;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            if attempt(left.min(TRY_LIMIT)).await.is_ok() {
                return Ok(());
            }
            let pause = Duration::from_secs_f64(reboot_backoff(failures, jitter()));
            failures += 1;
            tokio::time::sleep(pause.min(end.saturating_duration_since(Instant::now()))).await;
        }
        Err(format!("Timed out waiting for {what} (timeout={timeout})"))
    }

    /// The shutdown program's path: as given when absolute, else the first of the search
    /// paths that has it (Ansible runs its `find` module there).
    async fn program(&self, plan: &RebootPlan) -> Result<String, String> {
        if plan.program.starts_with('/') {
            return Ok(plan.program.clone());
        }
        let dirs: Vec<String> = plan.search_paths.iter().map(|d| sh_quote(d)).collect();
        let script = format!(
            "for d in {}; do [ -e \"$d\"/{} ] && {{ printf '%s\\n' \"$d\"/{}; exit 0; }}; done; exit 0",
            dirs.join(" "),
            sh_quote(&plan.program),
            sh_quote(&plan.program)
        );
        let out = self.try_exec(&script, TRY_LIMIT).await?;
        let found = out.stdout_str().lines().next().map(str::to_string);
        found.filter(|f| !f.is_empty()).ok_or_else(|| {
            format!(
                "Unable to find command \"{}\" in search paths: {}",
                plan.program,
                python_list(&plan.search_paths)
            )
        })
    }
}

/// A fraction of a second from the clock, for the pauses' jitter (Ansible adds a random one).
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

/// The result of an error Ansible's action raises (its `AnsibleError`): no `rebooted`.
fn raised(msg: &str) -> Value {
    json!({"changed": false, "failed": true, "msg": format!("Task failed: {msg}")})
}

fn failed(msg: String, rebooted: bool, elapsed: u64) -> Value {
    json!({"changed": false, "failed": true, "rebooted": rebooted, "elapsed": elapsed, "msg": msg})
}

/// Runs the action for `host`; the result is Ansible's (`changed`, `rebooted`, `elapsed`).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    run: &PlayRun<'_>,
    task: &Task,
    scope: &TaskScope,
    host: &str,
    vars: &Vars,
    delegate: Option<&str>,
    args: &Map<String, Value>,
    origin: &str,
) -> Result<Value, TaskError> {
    let plan = match reboot_plan(args) {
        Ok(plan) => plan,
        Err(msg) => return Ok(raised(&msg)),
    };
    let target = run.target(host, task, vars, delegate)?;
    if target.kind == ConnectionKind::Local {
        let msg = "Running reboot with local connection would reboot the control node.";
        return Ok(failed(msg.into(), false, 0));
    }
    let (check, _) = run.check_and_diff(task, scope, vars, origin)?;
    if check {
        return Ok(json!({"changed": true, "elapsed": 0, "rebooted": true}));
    }
    let become_ = run.become_of(task, scope, vars, &target)?;
    let r = Rebooting {
        run,
        target,
        become_,
    };
    let before = match r.boot_id(&plan, TRY_LIMIT).await {
        Ok(id) => id,
        Err(msg) => {
            return Ok(json!({"changed": false, "failed": true, "reboot": false, "msg": msg}))
        }
    };
    let program = match r.program(&plan).await {
        Ok(p) => p,
        Err(msg) => return Ok(raised(&msg)),
    };
    let command = format!("{program} {}", plan.program_args);
    // A connection closed by the shutdown counts as the command sent (Ansible's
    // AnsibleConnectionFailure branch).
    let sent = tokio::time::timeout(TRY_LIMIT, r.exec(&command)).await;
    let start = Instant::now();
    r.run.engine.pool.forget(&r.target);
    if let Ok(Ok(out)) = &sent {
        if out.rc != 0 {
            let msg = format!(
                "Reboot command failed. Error was: '{}, {}'",
                out.stdout_str().trim(),
                out.stderr_str().trim()
            );
            return Ok(failed(msg, false, start.elapsed().as_secs()));
        }
    }
    tokio::time::sleep(Duration::from_secs(plan.post_reboot_delay)).await;
    let limit = |left: Duration| {
        plan.connect_timeout.map_or(left, |c| {
            left.min(Duration::from_secs(c).max(Duration::from_secs(1)))
        })
    };
    let booted = r
        .until_success("last boot time check", plan.reboot_timeout, |left| {
            let r = &r;
            let plan = &plan;
            let before = &before;
            async move {
                let now = r.boot_id(plan, limit(left)).await?;
                if now.is_empty() || &now == before {
                    return Err("boot time has not changed".into());
                }
                Ok(())
            }
        })
        .await;
    let tested = match booted {
        Ok(()) => {
            r.until_success("post-reboot test command", plan.reboot_timeout, |left| {
                let r = &r;
                let plan = &plan;
                async move {
                    let out = r.try_exec(&plan.test_command, left).await?;
                    if out.rc != 0 {
                        return Err(format!(
                            "Test command failed: {} {}",
                            out.stderr_str(),
                            out.stdout_str()
                        ));
                    }
                    Ok(())
                }
            })
            .await
        }
        Err(e) => Err(e),
    };
    let elapsed = start.elapsed().as_secs();
    Ok(match tested {
        Ok(()) => json!({"changed": true, "rebooted": true, "elapsed": elapsed}),
        Err(msg) => failed(msg, true, elapsed),
    })
}
