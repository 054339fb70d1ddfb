//! What the engine tells the outside world while it runs. The engine never prints: it sends these
//! events to a [`Reporter`], and the CLI turns them into Ansible's stream, a progress display, or
//! the `--output json` file. Results arrive here already stripped of `no_log` values.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// How one task ended on one host (or one loop item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    Ok,
    Changed,
    Skipped,
    Failed,
    /// Failed, but `ignore_errors` let the host go on.
    Ignored,
    Unreachable,
}

/// One host's outcome of the current task.
#[derive(Debug, Clone)]
pub struct HostEvent {
    pub host: String,
    pub status: HostStatus,
    /// `delegate_to` target, shown as `[host -> target]`.
    pub delegated_to: Option<String>,
    /// The loop item's label for per-item lines, `None` for the task's overall line.
    pub item_label: Option<String>,
    pub msg: Option<String>,
    /// The registered result (Ansible's JSON), for `-v` and JSON output.
    pub result: Value,
    /// A unified diff, when `--diff` is on and the module produced one.
    pub diff: Option<String>,
    /// What `debug:` asked to show, already formatted as Ansible shows it.
    pub debug_output: Option<Value>,
    pub duration: Duration,
}

impl HostEvent {
    /// An event with only a host and a status; the rest is set with struct update syntax
    /// (`HostEvent { msg, ..HostEvent::new(host, status) }`).
    pub fn new(host: impl Into<String>, status: HostStatus) -> HostEvent {
        HostEvent {
            host: host.into(),
            status,
            delegated_to: None,
            item_label: None,
            msg: None,
            result: Value::Null,
            diff: None,
            debug_output: None,
            duration: Duration::ZERO,
        }
    }
}

/// Per-host counters of the PLAY RECAP. As in Ansible, a changed task counts in `ok` too.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostStats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

/// Counters for every host the run touched, sorted by name as Ansible's recap is.
pub type Stats = BTreeMap<String, HostStats>;

/// One timing entry for `--timing`: a phase and how long its slowest host took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TimingEntry {
    pub phase: String,
    pub slowest_host: Option<String>,
    pub wall: Duration,
}

/// Receives the engine's events. Implementations must be cheap: they are called from the
/// engine's tasks while other hosts keep running.
pub trait Reporter: Send + Sync {
    fn play_start(&self, name: &str, hosts: &[String]);
    /// A task (or handler) begins on `hosts`; `header` is what goes between the brackets of
    /// `TASK [...]`, e.g. `etcds : Start etcd daemon`.
    fn task_start(&self, kind: TaskKindLabel, header: &str, hosts: &[String]);
    fn host_event(&self, event: &HostEvent);
    /// A dynamic include ran for `hosts`: `what` is the task file's full path, or the role's
    /// name for `include_role` (Ansible's `included: FILE for HOSTS` line, `=> (item=..)` in a
    /// loop). Each of those hosts counts one `ok` in the recap.
    fn included(&self, what: &str, hosts: &[String], item_label: Option<&str>) {
        let _ = (what, hosts, item_label);
    }
    /// A task with `until:`/`retries:` failed its condition on `host` and runs again
    /// (Ansible's `FAILED - RETRYING: [host]: TASK (N retries left).`); `result` is the
    /// attempt's.
    fn retrying(&self, header: &str, host: &str, retries_left: u32, result: &Value) {
        let _ = (header, host, retries_left, result);
    }
    fn task_end(&self) {}
    fn warning(&self, message: &str);
    fn recap(&self, stats: &Stats);
    /// What happened to a polled async job (Ansible's `ASYNC POLL`/`ASYNC OK`/`ASYNC FAILED`
    /// lines), before the task's own host event.
    fn async_event(&self, _event: &AsyncEvent) {}
}

/// A step of a polled async job on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncEvent {
    pub host: String,
    pub jid: String,
    pub kind: AsyncEventKind,
}

/// See [`AsyncEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsyncEventKind {
    /// The job was asked about and has not finished.
    Poll { started: bool, finished: bool },
    /// The job finished, not failed.
    Ok,
    /// The job failed or did not finish in time.
    Failed,
}

/// Whether a header is a task or a handler (Ansible prints `RUNNING HANDLER [...]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKindLabel {
    Task,
    Handler,
}
