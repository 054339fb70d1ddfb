//! Live progress on a terminal: while a task runs, a line under the stream shows which hosts it
//! is still waiting for and for how long. Off when stdout is not a terminal (CI, pipes), where
//! only the plain stream is written.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use etcdplay_engine::{AsyncEvent, HostEvent, Reporter, Stats, TaskKindLabel};
use indicatif::{ProgressBar, ProgressStyle};

use super::stream::StreamReporter;

/// The stream reporter with a spinner line kept below it.
pub(crate) struct ProgressReporter {
    stream: StreamReporter<std::io::Stdout>,
    bar: ProgressBar,
    waiting: Mutex<BTreeSet<String>>,
}

impl ProgressReporter {
    pub(crate) fn new(verbose: u8) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        ProgressReporter {
            stream: StreamReporter::new(std::io::stdout(), verbose),
            bar,
            waiting: Mutex::new(BTreeSet::new()),
        }
    }

    fn refresh(&self) {
        let waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let names: Vec<&str> = waiting.iter().map(String::as_str).take(8).collect();
        let more = waiting.len().saturating_sub(names.len());
        let suffix = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        self.bar.set_message(if waiting.is_empty() {
            String::new()
        } else {
            format!("waiting for {}{suffix}", names.join(", "))
        });
    }

    fn print(&self, f: impl FnOnce()) {
        self.bar.suspend(|| {
            f();
            let _ = std::io::stdout().flush();
        });
    }
}

impl Reporter for ProgressReporter {
    fn play_start(&self, name: &str, hosts: &[String]) {
        self.print(|| self.stream.play_start(name, hosts));
    }
    fn task_start(&self, kind: TaskKindLabel, header: &str, hosts: &[String]) {
        self.bar.reset_elapsed();
        *self.waiting.lock().unwrap_or_else(|p| p.into_inner()) = hosts.iter().cloned().collect();
        self.print(|| self.stream.task_start(kind, header, hosts));
        self.refresh();
    }
    fn host_event(&self, event: &HostEvent) {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&event.host);
        self.print(|| self.stream.host_event(event));
        self.refresh();
    }
    fn retrying(&self, header: &str, host: &str, retries_left: u32, result: &serde_json::Value) {
        self.print(|| self.stream.retrying(header, host, retries_left, result));
    }
    fn included(&self, what: &str, hosts: &[String], item_label: Option<&str>) {
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            hosts.iter().for_each(|h| {
                waiting.remove(h);
            });
        }
        self.print(|| self.stream.included(what, hosts, item_label));
        self.refresh();
    }
    fn task_end(&self) {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.refresh();
    }
    fn warning(&self, message: &str) {
        self.print(|| self.stream.warning(message));
    }
    fn async_event(&self, event: &AsyncEvent) {
        self.print(|| self.stream.async_event(event));
    }
    fn recap(&self, stats: &Stats) {
        self.bar.finish_and_clear();
        self.stream.recap(stats);
    }
}
