//! `async:` and `poll:` as Ansible runs them. A task with `async: N` starts its module as a job
//! and, with `poll: 0`, registers the job (`ansible_job_id`, `results_file`, `started`,
//! `finished: false`) and goes on; with `poll: M` (default 15) it asks the job's status every M
//! seconds until the job finished (its module result) or N seconds were used up ("async task
//! did not complete within the requested time", and the job is killed).
//!
//! With `poll`, the engine itself ends a job whose time is up: the host-side watchdog only acts
//! `poll` + 5 s later, in case etcdplay is gone by then. Without `poll` the watchdog ends it
//! after `async` seconds with Ansible's "Timeout exceeded", which `async_status` then reports.
//!
//! A module whose work is one host command (`command`, `shell`) runs detached on the host
//! (etcdplay-modules' `async_job.rs`) and outlives the connection and etcdplay. Modules made of
//! control-node logic over several requests run in a background task of etcdplay, whose status
//! and result are written to the same status file on the host, so `async_status` reads both
//! alike; such a job ends with etcdplay (ANSIBLE_COMPAT.md). What Ansible refuses to run
//! async (`copy`, `template`, `debug`, ...) fails with Ansible's message.

use std::sync::Arc;
use std::time::Duration;

use etcdplay_modules::{AsyncDir, AsyncKind, ModuleResult, StartedJob};
use etcdplay_playbook::{ModuleCall, Task};
use etcdplay_template::Vars;
use etcdplay_transport::{Become, Transport};
use serde_json::{json, Map, Value};

use crate::error::TaskError;
use crate::events::{AsyncEvent, AsyncEventKind};
use crate::play::PlayRun;
use crate::scope::TaskScope;

/// Ansible's default `poll` (`DEFAULT_POLL_INTERVAL`).
const DEFAULT_POLL: u64 = 15;

/// A task's `async`/`poll`, in seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AsyncSpec {
    pub(crate) limit: u64,
    pub(crate) poll: u64,
}

impl AsyncSpec {
    /// When the job's own watchdog kills it (see the module comment).
    fn kill_after(&self) -> u64 {
        if self.poll == 0 {
            self.limit
        } else {
            self.limit.saturating_add(self.poll).saturating_add(5)
        }
    }
}

/// A control-node job: the module and everything it needs, owned, for a background task.
struct ControlJob {
    name: String,
    dir: AsyncDir,
    args: Map<String, Value>,
    check: bool,
    diff: bool,
    become_: Option<Become>,
    transport: Arc<dyn Transport>,
    limit: u64,
}

impl PlayRun<'_> {
    /// The task's `async`/`poll` keywords rendered, or `None` when the task is not async
    /// (`async` absent or 0).
    pub(crate) fn async_of(
        &self,
        task: &Task,
        vars: &Vars,
    ) -> Result<Option<AsyncSpec>, TaskError> {
        let origin = task.origin.to_string();
        let seconds = |key: &str| -> Result<Option<u64>, TaskError> {
            let Some(raw) = task.extra.get(key) else {
                return Ok(None);
            };
            let value = self.engine.templar.template_value(raw, &origin, vars)?;
            match super::number(&value) {
                Some(n) if n >= 0.0 && n.fract() == 0.0 => Ok(Some(n as u64)),
                _ => Err(TaskError::Invalid(format!(
                    "{origin}: {key}: '{}' is not a whole number of seconds",
                    value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_string)
                ))),
            }
        };
        match seconds("async")? {
            None | Some(0) => Ok(None),
            Some(limit) => Ok(Some(AsyncSpec {
                limit,
                poll: seconds("poll")?.unwrap_or(DEFAULT_POLL),
            })),
        }
    }

    /// Runs the task's module as an async job (see the module comment).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn execute_async(
        &self,
        task: &Task,
        call: &ModuleCall,
        scope: &TaskScope,
        host: &str,
        vars: &Vars,
        delegate: Option<&str>,
        args: Map<String, Value>,
        spec: AsyncSpec,
    ) -> Result<(Value, Option<String>), TaskError> {
        let kind = etcdplay_modules::async_kind(&call.name);
        if kind == AsyncKind::Refused {
            return Err(TaskError::Invalid(format!(
                "This action ({}) does not support async.",
                call.name
            )));
        }
        let origin = call.args_origin.to_string();
        let target = self.target(host, task, vars, delegate)?;
        let become_ = self.become_of(task, scope, vars, &target)?;
        let transport = self.task_transport(&target, task, scope, vars).await?;
        let (check, diff) = self.check_and_diff(task, scope, vars, &origin)?;
        let control = self.task_control(vars);
        let dir = self.async_dir(vars)?;
        let job = match kind {
            AsyncKind::Detached => {
                let module_call = etcdplay_modules::ModuleCall {
                    name: &call.name,
                    args: &args,
                    check,
                    diff,
                    become_: become_.as_ref(),
                    control: &control,
                };
                etcdplay_modules::start_detached(
                    module_call,
                    transport.as_ref(),
                    &dir,
                    spec.kill_after(),
                )
                .await?
            }
            _ => {
                self.start_control_job(ControlJob {
                    name: call.name.clone(),
                    dir: dir.clone(),
                    args,
                    check,
                    diff,
                    become_: become_.clone(),
                    transport: transport.clone(),
                    limit: spec.kill_after(),
                })
                .await?
            }
        };
        if spec.poll == 0 {
            return Ok((job.to_json(), None));
        }
        let result = self
            .poll_job(host, transport.as_ref(), become_.as_ref(), &dir, &job, spec)
            .await?;
        let failed = result.get("failed").and_then(Value::as_bool) == Some(true);
        self.async_event(
            host,
            &job,
            if failed {
                AsyncEventKind::Failed
            } else {
                AsyncEventKind::Ok
            },
        );
        // Facts a module returns become the host's, as in the foreground.
        if let Some(Value::Object(facts)) = result.get("ansible_facts") {
            let facts = facts.clone();
            self.engine
                .shared
                .update_memory(host, |m| Arc::make_mut(&mut m.facts).extend(facts));
        }
        Ok((result, None))
    }

    /// Ansible's polling: sleep `poll`, ask, until the job finished or `limit` seconds were
    /// counted down; then the job's files are removed (finished) or the job killed (not).
    async fn poll_job(
        &self,
        host: &str,
        transport: &dyn Transport,
        become_: Option<&Become>,
        dir: &AsyncDir,
        job: &StartedJob,
        spec: AsyncSpec,
    ) -> Result<Value, TaskError> {
        let mut time_left = spec.limit as i64;
        let mut last = Value::Null;
        while time_left > 0 {
            tokio::time::sleep(Duration::from_secs(spec.poll)).await;
            let status =
                etcdplay_modules::job_status(transport, become_, dir, &job.jid, false).await?;
            let done = finished(&status) || status.failed || status.skipped;
            last = status.to_json();
            if done {
                break;
            }
            self.async_event(
                host,
                job,
                AsyncEventKind::Poll {
                    started: status.data.get("started").and_then(Value::as_bool) == Some(true),
                    finished: false,
                },
            );
            time_left -= spec.poll as i64;
        }
        if !last
            .get("finished")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            if self.abort_control_job(&job.jid) {
                // Its status says what happened, as a detached job's watchdog writes it.
                let ended = json!({"failed": true, "changed": false, "msg": "Timeout exceeded"});
                etcdplay_modules::close_control_job(transport, become_, dir, job, &ended).await?;
            }
            etcdplay_modules::kill_job(transport, become_, dir, &job.jid).await?;
            return Ok(json!({
                "failed": true,
                "changed": false,
                "msg": format!(
                    "async task did not complete within the requested time - {}s",
                    spec.limit
                ),
                "async_result": last,
            }));
        }
        etcdplay_modules::job_status(transport, become_, dir, &job.jid, true).await?;
        Ok(last)
    }

    /// Opens the job's status file on the host and runs the module in a background task that
    /// writes its result there (or Ansible's "Timeout exceeded" after `limit` seconds).
    async fn start_control_job(&self, job: ControlJob) -> Result<StartedJob, TaskError> {
        let started = etcdplay_modules::open_control_job(
            job.transport.as_ref(),
            job.become_.as_ref(),
            &job.dir,
        )
        .await?;
        let record = started.clone();
        let handle = tokio::spawn(async move {
            let call = etcdplay_modules::ModuleCall {
                name: &job.name,
                args: &job.args,
                check: job.check,
                diff: job.diff,
                become_: job.become_.as_ref(),
                control: &NoControlNode,
            };
            let run = etcdplay_modules::run(call, job.transport.as_ref());
            let result = match tokio::time::timeout(Duration::from_secs(job.limit), run).await {
                Ok(Ok(result)) => result.to_json(),
                Ok(Err(e)) => json!({"failed": true, "changed": false, "msg": e.to_string()}),
                Err(_) => json!({"failed": true, "changed": false, "msg": "Timeout exceeded"}),
            };
            // Nobody is left to tell when this fails: the status then stays unfinished, and a
            // poll reports the job as not completed in time.
            let _ = etcdplay_modules::close_control_job(
                job.transport.as_ref(),
                job.become_.as_ref(),
                &job.dir,
                &record,
                &result,
            )
            .await;
        });
        let mut jobs = self
            .engine
            .control_jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        jobs.retain(|_, job| !job.is_finished());
        jobs.insert(started.jid.clone(), handle.abort_handle());
        drop(jobs);
        Ok(started)
    }

    /// `ansible_async_dir`, where the task user's jobs live.
    pub(crate) fn async_dir(&self, vars: &Vars) -> Result<AsyncDir, TaskError> {
        let given = self
            .var_string(vars, "ansible_async_dir")?
            .or_else(|| self.engine.options.async_dir.clone());
        Ok(AsyncDir::new(given)?)
    }

    fn async_event(&self, host: &str, job: &StartedJob, kind: AsyncEventKind) {
        self.engine.reporter.async_event(&AsyncEvent {
            host: host.to_string(),
            jid: job.jid.clone(),
            kind,
        });
    }

    /// Stops the background task of a control-node job; whether `jid` was one still running.
    fn abort_control_job(&self, jid: &str) -> bool {
        let handle = self
            .engine
            .control_jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(jid);
        match handle {
            Some(handle) if !handle.is_finished() => {
                handle.abort();
                true
            }
            _ => false,
        }
    }
}

fn finished(status: &ModuleResult) -> bool {
    status.data.get("finished").and_then(Value::as_bool) == Some(true)
}

/// The control node as a background job sees it: nothing. The modules that read control-node
/// files (`copy`, `template`, `fetch`, `unarchive`) are those Ansible refuses to run async.
struct NoControlNode;

impl etcdplay_modules::ControlNode for NoControlNode {
    fn read_local(&self, path: &str) -> Result<Vec<u8>, etcdplay_modules::ModuleError> {
        Err(no_control(path))
    }
    fn render_template(
        &self,
        path: &str,
        _args: &Map<String, Value>,
    ) -> Result<String, etcdplay_modules::ModuleError> {
        Err(no_control(path))
    }
    fn write_local(&self, path: &str, _bytes: &[u8]) -> Result<(), etcdplay_modules::ModuleError> {
        Err(no_control(path))
    }
}

fn no_control(path: &str) -> etcdplay_modules::ModuleError {
    etcdplay_modules::ModuleError::Control {
        path: path.to_string(),
        message: "an async job has no access to control-node files".into(),
    }
}
