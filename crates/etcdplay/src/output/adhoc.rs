//! What `ansible HOSTS -m MODULE` prints (its `minimal` callback), for `etcdplay run`: one
//! block per host and nothing else. `command`/`shell` show `host | CHANGED | rc=0 >>` and the
//! output; other modules `host | SUCCESS => {json}` with Python's `indent=4, sort_keys=True`.

use std::io::Write;
use std::sync::Mutex;

use etcdplay_engine::{HostEvent, HostStatus, Reporter, Stats, TaskKindLabel};
use serde_json::Value;

use super::displayed;
use super::pyjson::dumps_pretty;

/// Ansible's `MODULE_NO_JSON`: modules whose result is shown as their output, not as JSON.
const NO_JSON: &[&str] = &["command", "shell", "raw"];

/// Writes ad-hoc results to `out` (stdout in the CLI, a buffer in tests).
pub(crate) struct AdhocReporter<W: Write + Send> {
    out: Mutex<W>,
    as_output: bool,
}

impl<W: Write + Send> AdhocReporter<W> {
    /// A reporter for `module` (its canonical name).
    pub(crate) fn new(out: W, module: &str) -> Self {
        AdhocReporter {
            out: Mutex::new(out),
            as_output: NO_JSON.contains(&module),
        }
    }

    #[cfg(test)]
    fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// `host | STATE | rc=N >>` and what the command printed.
fn command_block(host: &str, result: &Value, state: &str) -> String {
    let text = |k: &str| {
        result
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let rc = result.get("rc").map_or("-1".to_string(), Value::to_string);
    format!(
        "{host} | {state} | rc={rc} >>\n{}{}{}\n",
        text("stdout"),
        text("stderr"),
        text("msg")
    )
}

impl<W: Write + Send> Reporter for AdhocReporter<W> {
    fn play_start(&self, _name: &str, _hosts: &[String]) {}
    fn task_start(&self, _kind: TaskKindLabel, _header: &str, _hosts: &[String]) {}

    fn host_event(&self, e: &HostEvent) {
        let host = &e.host;
        let changed = e.result.get("changed").and_then(Value::as_bool) == Some(true);
        let text = match e.status {
            HostStatus::Ok | HostStatus::Changed => {
                let state = if changed { "CHANGED" } else { "SUCCESS" };
                if self.as_output {
                    command_block(host, &e.result, state)
                } else {
                    format!(
                        "{host} | {state} => {}\n",
                        dumps_pretty(&displayed(&e.result))
                    )
                }
            }
            HostStatus::Failed | HostStatus::Ignored => {
                if self.as_output && e.result.get("rc").is_some() {
                    command_block(host, &e.result, "FAILED")
                } else {
                    format!(
                        "{host} | FAILED! => {}\n",
                        dumps_pretty(&displayed(&e.result))
                    )
                }
            }
            HostStatus::Unreachable => {
                format!("{host} | UNREACHABLE! => {}\n", dumps_pretty(&e.result))
            }
            HostStatus::Skipped => format!("{host} | SKIPPED\n"),
        };
        self.write(&text);
    }

    fn warning(&self, message: &str) {
        let mut err = std::io::stderr();
        let _ = writeln!(err, "[WARNING]: {message}");
    }

    fn recap(&self, _stats: &Stats) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shown(module: &str, status: HostStatus, result: Value) -> String {
        let r = AdhocReporter::new(Vec::new(), module);
        r.host_event(&HostEvent {
            result,
            ..HostEvent::new("lab1", status)
        });
        String::from_utf8(r.into_inner()).expect("utf-8")
    }

    #[test]
    fn blocks_look_like_ansibles_minimal_callback() {
        assert_eq!(
            shown(
                "command",
                HostStatus::Changed,
                json!({"changed": true, "rc": 0, "stdout": "active", "stderr": ""})
            ),
            "lab1 | CHANGED | rc=0 >>\nactive\n"
        );
        assert_eq!(
            shown(
                "shell",
                HostStatus::Failed,
                json!({"changed": true, "rc": 3, "stdout": "", "stderr": "inactive", "msg": "non-zero return code"})
            ),
            "lab1 | FAILED | rc=3 >>\ninactivenon-zero return code\n"
        );
        assert_eq!(
            shown(
                "file",
                HostStatus::Ok,
                json!({"path": "/x", "changed": false})
            ),
            "lab1 | SUCCESS => {\n    \"changed\": false,\n    \"path\": \"/x\"\n}\n"
        );
        assert_eq!(
            shown("stat", HostStatus::Ok, json!({"stat": {"exists": false}, "changed": false, "failed": false})),
            "lab1 | SUCCESS => {\n    \"changed\": false,\n    \"stat\": {\n        \"exists\": false\n    }\n}\n"
        );
    }
}
