//! What `etcdplay backup` and `etcdplay restore` say they did. Their playbooks' cluster
//! actions put `"operation": NAME` into the result that describes the operation's outcome;
//! this reporter keeps those results, every step's message per host and the failures and
//! warnings, and renders them as one JSON document (`--json`) or as the closing lines after
//! Ansible's stream. Results arrive with `no_log` values already hidden, and fact gathering
//! is left out.

use std::sync::Mutex;

use etcdplay_engine::{HostEvent, HostStatus, Reporter, Stats, TaskKindLabel};
use serde_json::{json, Map, Value};

#[derive(Debug, Default)]
struct State {
    task: String,
    steps: Vec<Value>,
    outcomes: Vec<Value>,
    failures: Vec<Value>,
    warnings: Vec<String>,
}

/// Collects an operation's results (see the module notes).
#[derive(Debug, Default)]
pub(crate) struct OperationReporter {
    state: Mutex<State>,
}

/// Fact gathering's header: its result is every fact of the host, not a step.
const GATHERING: &str = "Gathering Facts";

impl OperationReporter {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The JSON document of the run of `operation` that ended with exit code `code`.
    pub(crate) fn document(&self, operation: &str, code: i32) -> Value {
        let s = self.lock();
        let mut result = Map::new();
        for outcome in &s.outcomes {
            if let Value::Object(m) = outcome {
                for (k, v) in m {
                    if k == "operation" || k == "changed" {
                        continue;
                    }
                    // A list every host reports a part of (`collected`) is joined up.
                    match (result.get_mut(k), v) {
                        (Some(Value::Array(all)), Value::Array(part)) => {
                            all.extend(part.iter().cloned())
                        }
                        _ => {
                            result.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
        }
        json!({
            "operation": operation,
            "ok": code == 0 && s.failures.is_empty(),
            "exit_code": code,
            "result": result,
            "steps": s.steps,
            "failures": s.failures,
            "warnings": s.warnings,
        })
    }

    /// The closing lines after the stream: each outcome's message, then the failures.
    pub(crate) fn summary(&self) -> String {
        let s = self.lock();
        let mut out = String::new();
        for outcome in &s.outcomes {
            if let Some(msg) = outcome.get("msg").and_then(Value::as_str) {
                out.push_str(msg);
                out.push('\n');
            }
        }
        for failure in &s.failures {
            if let (Some(host), Some(msg)) = (
                failure.get("host").and_then(Value::as_str),
                failure.get("msg").and_then(Value::as_str),
            ) {
                out.push_str(&format!("FAILED: {host}: {msg}\n"));
            }
        }
        out
    }
}

impl Reporter for OperationReporter {
    fn play_start(&self, _name: &str, _hosts: &[String]) {}

    fn task_start(&self, _kind: TaskKindLabel, header: &str, _hosts: &[String]) {
        self.lock().task = header.to_string();
    }

    fn host_event(&self, event: &HostEvent) {
        let mut s = self.lock();
        if s.task == GATHERING && event.status != HostStatus::Failed {
            return;
        }
        if event.status == HostStatus::Skipped {
            return;
        }
        let msg = event.msg.clone().or_else(|| {
            event
                .result
                .get("msg")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let step = json!({
            "task": s.task,
            "host": event.host,
            "status": event.status,
            "msg": msg,
        });
        if matches!(event.status, HostStatus::Failed | HostStatus::Unreachable) {
            s.failures.push(step.clone());
        }
        s.steps.push(step);
        if event.result.get("operation").is_some() {
            let mut outcome = event.result.clone();
            if let Value::Object(m) = &mut outcome {
                m.insert("host".into(), Value::String(event.host.clone()));
                m.remove("failed");
            }
            s.outcomes.push(outcome);
        }
    }

    fn warning(&self, message: &str) {
        self.lock().warnings.push(message.to_string());
    }

    fn recap(&self, _stats: &Stats) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_carries_the_outcome_steps_and_failures() {
        let r = OperationReporter::default();
        r.task_start(TaskKindLabel::Task, GATHERING, &[]);
        r.host_event(&HostEvent {
            result: json!({"ansible_facts": {"big": 1}}),
            ..HostEvent::new("m1", HostStatus::Ok)
        });
        r.task_start(
            TaskKindLabel::Task,
            "Take, verify and keep the snapshot",
            &[],
        );
        r.host_event(&HostEvent::new("m2", HostStatus::Skipped));
        r.host_event(&HostEvent {
            result: json!({"changed": true, "operation": "backup", "file": "/b/x.db", "msg": "kept /b/x.db"}),
            ..HostEvent::new("m1", HostStatus::Changed)
        });
        r.task_start(TaskKindLabel::Task, "Other", &[]);
        r.host_event(&HostEvent {
            msg: Some("boom".into()),
            ..HostEvent::new("m3", HostStatus::Failed)
        });
        r.warning("careful");
        let doc = r.document("backup", 2);
        assert_eq!(doc["ok"], json!(false));
        assert_eq!(doc["result"]["file"], json!("/b/x.db"));
        assert_eq!(doc["result"]["host"], json!("m1"));
        assert_eq!(doc["steps"].as_array().map(Vec::len), Some(2), "{doc}");
        assert_eq!(doc["failures"][0]["msg"], json!("boom"));
        assert_eq!(doc["warnings"], json!(["careful"]));
        assert_eq!(r.summary(), "kept /b/x.db\nFAILED: m3: boom\n");
    }
}
