//! `--output json FILE`: per task and host the status, whether it changed, how long it took and
//! the message, plus the recap, written once at the end of the run. Results are taken as the
//! engine reports them, so `no_log` values are already hidden.

use std::path::PathBuf;
use std::sync::Mutex;

use etcdplay_engine::{HostEvent, Reporter, Stats, TaskKindLabel};
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
}

impl JsonReporter {
    pub(crate) fn new(path: PathBuf) -> Self {
        JsonReporter {
            path,
            state: Mutex::new(State::default()),
        }
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
        let tmp = self.path.with_extension("tmp");
        // Written beside the target and renamed: a reader never sees half a report.
        let _ = std::fs::write(&tmp, text + "\n").and_then(|_| std::fs::rename(&tmp, &self.path));
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
    fn task_end(&self) {
        self.0.iter().for_each(|r| r.task_end());
    }
    fn warning(&self, message: &str) {
        self.0.iter().for_each(|r| r.warning(message));
    }
    fn recap(&self, stats: &Stats) {
        self.0.iter().for_each(|r| r.recap(stats));
    }
}
