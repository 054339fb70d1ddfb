//! Ansible's output stream, line for line: `PLAY [...]` and `TASK [...]` banners padded with
//! stars, one `ok:`/`changed:`/`skipping:`/`fatal:` line per host, `--diff` blocks, and the
//! `PLAY RECAP`. Users grep this output and compare it with Ansible's, so its shape is kept.

use std::io::Write;
use std::sync::Mutex;

use etcdplay_engine::{
    AsyncEvent, AsyncEventKind, HostEvent, HostStatus, Reporter, Stats, TaskKindLabel,
};
use serde_json::Value;

/// Writes Ansible's stream to any writer (stdout in the CLI, a buffer in tests).
pub(crate) struct StreamReporter<W: Write + Send> {
    out: Mutex<W>,
    verbose: u8,
    /// Warnings of module results already printed: Ansible prints each text once per run.
    warned: Mutex<std::collections::HashSet<String>>,
}

/// Ansible pads banners with `*` up to 80 columns (its default terminal width when not a tty).
fn banner(title: &str) -> String {
    let stars = 80usize.saturating_sub(title.chars().count() + 1).max(3);
    format!("{title} {}", "*".repeat(stars))
}

impl<W: Write + Send> StreamReporter<W> {
    pub(crate) fn new(out: W, verbose: u8) -> Self {
        StreamReporter {
            out: Mutex::new(out),
            verbose,
            warned: Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// The `[WARNING]:` lines of a result's `warnings` not printed before in this run, as
    /// Ansible prints them ahead of the host's status line.
    fn result_warnings(&self, result: &Value) -> String {
        let Some(Value::Array(warnings)) = result.get("warnings") else {
            return String::new();
        };
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        warnings
            .iter()
            .filter_map(Value::as_str)
            .filter(|w| warned.insert(w.to_string()))
            .map(|w| format!("[WARNING]: {w}\n"))
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn into_inner(self) -> W {
        self.out
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

fn host_label(event: &HostEvent) -> String {
    match &event.delegated_to {
        Some(target) if target != &event.host => format!("[{} -> {}]", event.host, target),
        _ => format!("[{}]", event.host),
    }
}

/// A failure's JSON as Ansible prints it after `=>`: compact, keys sorted (ansible-core 2.19:
/// `{"attempts": 2, "changed": true, "cmd": ...}`).
fn failure_json(event: &HostEvent) -> String {
    match &event.result {
        // The status says it failed: Ansible leaves `failed` out, and `exception` (a
        // traceback, printed only at -vvv).
        Value::Object(m) => {
            let mut shown = m.clone();
            shown.remove("failed");
            shown.remove("exception");
            shown.remove("warnings");
            super::pyjson::dumps_sorted(&Value::Object(shown))
        }
        _ => {
            let mut m = serde_json::Map::new();
            m.insert("changed".into(), Value::Bool(false));
            if let Some(msg) = &event.msg {
                m.insert("msg".into(), Value::String(msg.clone()));
            }
            super::pyjson::dumps(&Value::Object(m))
        }
    }
}

impl<W: Write + Send> Reporter for StreamReporter<W> {
    fn play_start(&self, name: &str, _hosts: &[String]) {
        self.write(&format!("\n{}\n", banner(&format!("PLAY [{name}]"))));
    }

    fn task_start(&self, kind: TaskKindLabel, header: &str, _hosts: &[String]) {
        let word = match kind {
            TaskKindLabel::Task => "TASK",
            TaskKindLabel::Handler => "RUNNING HANDLER",
        };
        self.write(&format!("\n{}\n", banner(&format!("{word} [{header}]"))));
    }

    fn retrying(&self, header: &str, host: &str, retries_left: u32, _result: &Value) {
        self.write(&format!(
            "FAILED - RETRYING: [{host}]: {header} ({retries_left} retries left).\n"
        ));
    }

    fn included(&self, what: &str, hosts: &[String], item_label: Option<&str>) {
        let item = item_label
            .map(|l| format!(" => (item={l})"))
            .unwrap_or_default();
        self.write(&format!(
            "included: {what} for {}{item}\n",
            hosts.join(", ")
        ));
    }

    fn host_event(&self, event: &HostEvent) {
        let host = host_label(event);
        let item = event
            .item_label
            .as_ref()
            .map(|l| format!(" => (item={l})"))
            .unwrap_or_default();
        let mut text = String::new();
        // Ansible prints a diff (its `v2_on_file_diff` comes first), then an empty line, then
        // the result's warnings and the host's status line.
        if let Some(diff) = event.diff.as_deref().filter(|d| !d.is_empty()) {
            text.push_str(diff);
            if !diff.ends_with('\n') {
                text.push('\n');
            }
            text.push('\n');
        }
        text.push_str(&self.result_warnings(&event.result));
        match event.status {
            HostStatus::Ok | HostStatus::Changed => {
                let word = if event.status == HostStatus::Ok {
                    "ok"
                } else {
                    "changed"
                };
                text.push_str(&format!("{word}: {host}{item}"));
                if let Some(shown) = &event.debug_output {
                    text.push_str(&format!(" => {}", super::pyjson::dumps_pretty(shown)));
                } else if self.verbose > 0 {
                    let shown = super::displayed(&event.result);
                    text.push_str(&format!(" => {}", super::pyjson::dumps_sorted(&shown)));
                }
            }
            // Ansible's per-item skip line ends with a space.
            HostStatus::Skipped if item.is_empty() => text.push_str(&format!("skipping: {host}")),
            HostStatus::Skipped => text.push_str(&format!("skipping: {host}{item} ")),
            // A loop's failure was shown by its items' lines: Ansible adds only `...ignoring`.
            HostStatus::Failed | HostStatus::Ignored
                if event.item_label.is_none() && event.result.get("results").is_some() =>
            {
                if event.status == HostStatus::Ignored {
                    self.write("...ignoring\n");
                }
                return;
            }
            HostStatus::Failed | HostStatus::Ignored => {
                if item.is_empty() {
                    text.push_str(&format!(
                        "fatal: {host}: FAILED! => {}",
                        failure_json(event)
                    ));
                } else {
                    // Ansible: `failed: [host] (item=x) => {...}`, without the arrow before
                    // the item that ok and changed lines have.
                    let label = event.item_label.as_deref().unwrap_or_default();
                    text.push_str(&format!(
                        "failed: {host} (item={label}) => {}",
                        failure_json(event)
                    ));
                }
                if event.status == HostStatus::Ignored {
                    text.push_str("\n...ignoring");
                }
            }
            HostStatus::Unreachable => {
                text.push_str(&format!(
                    "fatal: {host}: UNREACHABLE! => {}",
                    failure_json(event)
                ));
            }
        }
        text.push('\n');
        self.write(&text);
    }

    fn warning(&self, message: &str) {
        self.write(&format!("[WARNING]: {message}\n"));
    }

    fn async_event(&self, event: &AsyncEvent) {
        let (host, jid) = (&event.host, &event.jid);
        let py = |b: bool| if b { "True" } else { "False" };
        self.write(&match event.kind {
            AsyncEventKind::Poll { started, finished } => format!(
                "ASYNC POLL on {host}: jid={jid} started={} finished={}\n",
                py(started),
                py(finished)
            ),
            AsyncEventKind::Ok => format!("ASYNC OK on {host}: jid={jid}\n"),
            AsyncEventKind::Failed => format!("ASYNC FAILED on {host}: jid={jid}\n"),
        });
    }

    fn recap(&self, stats: &Stats) {
        let mut text = format!("\n{}\n", banner("PLAY RECAP"));
        for (host, s) in stats {
            text.push_str(&format!(
                "{host:<26} : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} rescued={:<4} ignored={:<4}\n",
                s.ok, s.changed, s.unreachable, s.failed, s.skipped, s.rescued, s.ignored
            ));
        }
        text.push('\n');
        self.write(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcdplay_engine::HostStats;

    /// ansible-playbook 2.19.14 on a 3 s job with `poll: 1`: "ASYNC POLL on localhost:
    /// jid=j306336894420.21108 started=True finished=False" (twice), then "ASYNC OK on
    /// localhost: jid=j306336894420.21108" before `changed: [localhost]`; a job over its time:
    /// "ASYNC FAILED on localhost: jid=...".
    #[test]
    fn async_lines_read_like_ansibles() {
        let r = StreamReporter::new(Vec::new(), 0);
        let event = |kind| AsyncEvent {
            host: "localhost".into(),
            jid: "j306336894420.21108".into(),
            kind,
        };
        r.async_event(&event(AsyncEventKind::Poll {
            started: true,
            finished: false,
        }));
        r.async_event(&event(AsyncEventKind::Ok));
        r.async_event(&event(AsyncEventKind::Failed));
        assert_eq!(
            String::from_utf8(r.into_inner()).unwrap(),
            "ASYNC POLL on localhost: jid=j306336894420.21108 started=True finished=False\n\
             ASYNC OK on localhost: jid=j306336894420.21108\n\
             ASYNC FAILED on localhost: jid=j306336894420.21108\n"
        );
    }

    /// ansible-playbook 2.19.14, `command: ls /dev/null` with `executable: /bogus` in a loop of
    /// one item and again alone: "[WARNING]: As of Ansible 2.4, the parameter 'executable' is
    /// no longer supported ..." once, before `changed: [localhost] => (item=1)`; the second
    /// task prints `changed: [localhost]` only. A failure's JSON leaves `warnings` and
    /// `exception` out.
    #[test]
    fn result_warnings_print_once_before_the_status() {
        let r = StreamReporter::new(Vec::new(), 0);
        let warning = "As of Ansible 2.4, the parameter 'executable' is no longer supported";
        let mut first = HostEvent::new("localhost", HostStatus::Changed);
        first.item_label = Some("1".into());
        first.result = serde_json::json!({"changed": true, "warnings": [warning]});
        r.host_event(&first);
        let mut again = HostEvent::new("localhost", HostStatus::Changed);
        again.result = serde_json::json!({"changed": true, "warnings": [warning]});
        r.host_event(&again);
        let mut failed = HostEvent::new("localhost", HostStatus::Failed);
        failed.result = serde_json::json!({"changed": false, "msg": "boom", "warnings": ["w2"],
            "exception": "(traceback unavailable)"});
        r.host_event(&failed);
        assert_eq!(
            String::from_utf8(r.into_inner()).unwrap(),
            format!(
                "[WARNING]: {warning}\nchanged: [localhost] => (item=1)\nchanged: [localhost]\n\
                 [WARNING]: w2\nfatal: [localhost]: FAILED! => {{\"changed\": false, \"msg\": \"boom\"}}\n"
            )
        );
    }

    #[test]
    fn renders_like_ansible() {
        let r = StreamReporter::new(Vec::new(), 0);
        r.play_start("etcd", &[]);
        r.task_start(TaskKindLabel::Task, "etcds : Start etcd daemon", &[]);
        r.host_event(&HostEvent::new("etcd1", HostStatus::Changed));
        r.host_event(&HostEvent::new("etcd2", HostStatus::Ok));
        r.host_event(&HostEvent::new("etcd3", HostStatus::Skipped));
        let mut failed = HostEvent::new("etcd1", HostStatus::Failed);
        failed.result = serde_json::json!({"changed": false, "msg": "boom"});
        r.host_event(&failed);
        let mut stats = Stats::new();
        stats.insert(
            "etcd1".into(),
            HostStats {
                ok: 3,
                changed: 1,
                ..HostStats::default()
            },
        );
        r.recap(&stats);
        let text = String::from_utf8(r.into_inner()).unwrap();
        let expected = "\nPLAY [etcd] ********************************************************************\n\
\nTASK [etcds : Start etcd daemon] ***********************************************\n\
changed: [etcd1]\nok: [etcd2]\nskipping: [etcd3]\n\
fatal: [etcd1]: FAILED! => {\"changed\": false, \"msg\": \"boom\"}\n\
\nPLAY RECAP *********************************************************************\n\
etcd1                      : ok=3    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   \n\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_failed_loop_shows_its_items_and_only_ignoring_after_them() {
        // ansible-playbook 2.19.14, `command: "false"` with `loop: [a]` and `ignore_errors`:
        // `failed: [localhost] (item=a) => {...}` then `...ignoring`, no line of its own for
        // the loop's result (`One or more items failed` is only registered).
        let r = StreamReporter::new(Vec::new(), 0);
        let mut item = HostEvent::new("lab1", HostStatus::Failed);
        item.item_label = Some("a".into());
        item.result = serde_json::json!({"changed": true, "failed": true, "rc": 1});
        r.host_event(&item);
        let mut summary = HostEvent::new("lab1", HostStatus::Ignored);
        summary.result = serde_json::json!({"failed": true, "results": [], "msg": "x"});
        r.host_event(&summary);
        summary.status = HostStatus::Failed;
        r.host_event(&summary);
        let text = String::from_utf8(r.into_inner()).unwrap();
        assert!(text.starts_with("failed: [lab1] (item=a) => {"), "{text}");
        assert!(text.ends_with("}\n...ignoring\n"), "{text}");
        assert_eq!(text.lines().count(), 2, "{text}");
    }

    #[test]
    fn a_diff_is_followed_by_an_empty_line_like_ansible() {
        let r = StreamReporter::new(Vec::new(), 0);
        let mut changed = HostEvent::new("lab1", HostStatus::Changed);
        changed.diff = Some("--- before: /f\n+++ after: /f\n@@ -1 +1 @@\n-old\n+new\n".into());
        r.host_event(&changed);
        let mut unchanged = HostEvent::new("lab2", HostStatus::Ok);
        unchanged.diff = Some(String::new());
        r.host_event(&unchanged);
        let text = String::from_utf8(r.into_inner()).unwrap();
        assert_eq!(
            text,
            "--- before: /f\n+++ after: /f\n@@ -1 +1 @@\n-old\n+new\n\nchanged: [lab1]\nok: [lab2]\n"
        );
    }
}
