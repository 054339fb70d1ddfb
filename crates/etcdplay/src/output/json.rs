//! `--output json FILE`: per task and host the status, whether it changed, how long it took and
//! the message, plus the recap, written once at the end of the run. Results are taken as the
//! engine reports them, so `no_log` values are already hidden.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use etcdplay_engine::{AsyncEvent, HostEvent, Reporter, Stats, TaskKindLabel};
use serde::Serialize;

#[derive(Serialize)]
struct Entry {
    play: String,
    task: String,
    host: String,
    item: Option<String>,
    status: etcdplay_engine::HostStatus,
    changed: bool,
    duration_ms: u128,
    msg: Option<String>,
}

#[derive(Default)]
struct State {
    play: String,
    task: String,
    entries: Vec<Entry>,
}

/// Collects events and writes them as one JSON document at the recap.
pub(crate) struct JsonReporter {
    path: PathBuf,
    state: Mutex<State>,
    /// Why the report could not be written, for the caller to report after the run.
    failure: Mutex<Option<std::io::Error>>,
}

/// The directory a report at `path` is written in (the current one for a bare file name).
fn report_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Checks, before any host is touched, that a report can be created beside `path`.
pub(crate) fn check_writable(path: &Path) -> std::io::Result<()> {
    tempfile::Builder::new()
        .prefix(".etcdplay-report-")
        .tempfile_in(report_dir(path))
        .map(drop)
}

impl JsonReporter {
    pub(crate) fn new(path: PathBuf) -> Self {
        JsonReporter {
            path,
            state: Mutex::new(State::default()),
            failure: Mutex::new(None),
        }
    }

    /// The error that kept the report from being written, if any.
    pub(crate) fn take_failure(&self) -> Option<std::io::Error> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Writes `text` to a new file of an unpredictable name beside the target (created
    /// exclusively, so a link planted there is never followed), then renames it over the
    /// target: a reader never sees half a report.
    fn write(&self, text: &str) -> std::io::Result<()> {
        use std::io::Write;
        let mut file = tempfile::Builder::new()
            .prefix(".etcdplay-report-")
            .tempfile_in(report_dir(&self.path))?;
        file.write_all(text.as_bytes())?;
        file.as_file().sync_all()?;
        file.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Reporter for JsonReporter {
    fn play_start(&self, name: &str, _hosts: &[String]) {
        self.state().play = name.to_string();
    }

    fn task_start(&self, _kind: TaskKindLabel, header: &str, _hosts: &[String]) {
        self.state().task = header.to_string();
    }

    fn host_event(&self, event: &HostEvent) {
        let mut s = self.state();
        let entry = Entry {
            play: s.play.clone(),
            task: s.task.clone(),
            host: event.host.clone(),
            item: event.item_label.clone(),
            status: event.status,
            changed: event.status == etcdplay_engine::HostStatus::Changed,
            duration_ms: event.duration.as_millis(),
            msg: event.msg.clone(),
        };
        s.entries.push(entry);
    }

    fn warning(&self, _message: &str) {}

    fn recap(&self, stats: &Stats) {
        let s = self.state();
        let doc = serde_json::json!({"results": s.entries, "stats": stats});
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        if let Err(e) = self.write(&(text + "\n")) {
            *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        }
    }
}

/// Sends every event to several reporters (the stream and the JSON file).
pub(crate) struct Fanout(pub(crate) Vec<std::sync::Arc<dyn Reporter>>);

impl Reporter for Fanout {
    fn play_start(&self, name: &str, hosts: &[String]) {
        self.0.iter().for_each(|r| r.play_start(name, hosts));
    }
    fn task_start(&self, kind: TaskKindLabel, header: &str, hosts: &[String]) {
        self.0
            .iter()
            .for_each(|r| r.task_start(kind, header, hosts));
    }
    fn host_event(&self, event: &HostEvent) {
        self.0.iter().for_each(|r| r.host_event(event));
    }
    fn retrying(&self, header: &str, host: &str, retries_left: u32, result: &serde_json::Value) {
        self.0
            .iter()
            .for_each(|r| r.retrying(header, host, retries_left, result));
    }
    fn included(&self, what: &str, hosts: &[String], item_label: Option<&str>) {
        self.0
            .iter()
            .for_each(|r| r.included(what, hosts, item_label));
    }
    fn task_end(&self) {
        self.0.iter().for_each(|r| r.task_end());
    }
    fn warning(&self, message: &str) {
        self.0.iter().for_each(|r| r.warning(message));
    }
    fn recap(&self, stats: &Stats) {
        self.0.iter().for_each(|r| r.recap(stats));
    }
    fn async_event(&self, event: &AsyncEvent) {
        self.0.iter().for_each(|r| r.async_event(event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_planted_beside_the_report_is_never_written_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").expect("write");
        let report = dir.path().join("report.json");
        // Where the report used to be staged.
        std::os::unix::fs::symlink(&victim, dir.path().join("report.tmp")).expect("symlink");
        let reporter = JsonReporter::new(report.clone());
        reporter.recap(&Stats::default());
        assert!(reporter.take_failure().is_none());
        assert_eq!(
            std::fs::read_to_string(&victim).expect("read"),
            "precious\n"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
        assert!(doc.get("stats").is_some(), "{doc}");
    }

    #[test]
    fn an_unwritable_report_is_an_error_not_silence() {
        let dir = tempfile::tempdir().expect("tempdir");
        let report = dir.path().join("missing-dir/report.json");
        assert!(check_writable(&report).is_err());
        let reporter = JsonReporter::new(report);
        reporter.recap(&Stats::default());
        assert!(reporter.take_failure().is_some());
    }
}
