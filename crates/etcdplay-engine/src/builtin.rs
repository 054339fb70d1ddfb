//! Actions the engine carries out itself because they work on variables, not on hosts:
//! `debug`, `set_fact`, `fail`, `assert`, `pause`, `include_vars` (in `include_vars.rs`). Each returns Ansible's result JSON; none of
//! them opens a connection.

use std::time::Duration;

use etcdplay_playbook::{ModuleCall, Task};
use etcdplay_template::Vars;
use serde_json::{json, Map, Value};

use crate::error::TaskError;
use crate::play::PlayRun;
use crate::task::number;

/// Runs `call` if it is an engine action; `Ok(None)` means "a host module, not mine".
pub(crate) async fn run(
    run: &PlayRun<'_>,
    call: &ModuleCall,
    args: &Map<String, Value>,
    host: &str,
    vars: &Vars,
    task: &Task,
) -> Result<Option<Value>, TaskError> {
    let origin = call.args_origin.to_string();
    let templar = &run.engine.templar;
    Ok(Some(match call.name.as_str() {
        "debug" => {
            let verbosity = args.get("verbosity").and_then(Value::as_u64).unwrap_or(0);
            if u64::from(run.engine.options.verbosity) < verbosity {
                return Ok(Some(
                    json!({"changed": false, "skipped": true, "skipped_reason": "Verbosity threshold not met."}),
                ));
            }
            if let Some(var) = args.get("var") {
                let name = match var {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let value = templar.render_str(&format!("{{{{ {name} }}}}"), &origin, vars)?;
                json!({"changed": false, name: value})
            } else {
                let msg = args
                    .get("msg")
                    .cloned()
                    .unwrap_or_else(|| Value::String("Hello world!".into()));
                json!({"changed": false, "msg": msg})
            }
        }
        "include_vars" => run.run_include_vars(task, args, host),
        "set_fact" => {
            let mut facts = args.clone();
            facts.remove("cacheable");
            let learnt = facts.clone();
            run.engine
                .shared
                .update_memory(host, |m| m.set_facts.extend(learnt));
            json!({"changed": false, "ansible_facts": facts})
        }
        "fail" => {
            let msg = args
                .get("msg")
                .cloned()
                .unwrap_or_else(|| Value::String("Failed as requested from task".into()));
            json!({"changed": false, "failed": true, "msg": msg})
        }
        "assert" => {
            let that: Vec<String> = match args.get("that") {
                Some(Value::Array(items)) => items.iter().map(value_text).collect(),
                Some(v) => vec![value_text(v)],
                None => return Err(TaskError::Invalid(format!("{origin}: assert needs 'that'"))),
            };
            let quiet = args.get("quiet").and_then(Value::as_bool).unwrap_or(false);
            for expr in &that {
                if !templar.eval_condition(expr, &task.origin.to_string(), vars)? {
                    let msg = args
                        .get("fail_msg")
                        .or_else(|| args.get("msg"))
                        .cloned()
                        .unwrap_or_else(|| Value::String("Assertion failed".into()));
                    return Ok(Some(
                        json!({"changed": false, "failed": true, "assertion": expr, "evaluated_to": false, "msg": msg}),
                    ));
                }
            }
            let msg = args
                .get("success_msg")
                .cloned()
                .unwrap_or_else(|| Value::String("All assertions passed".into()));
            let mut out = json!({"changed": false, "msg": msg});
            if quiet {
                out["msg"] = Value::String("All assertions passed".into());
            }
            out
        }
        "pause" => {
            let seconds = args.get("seconds").and_then(number).unwrap_or(0.0)
                + args.get("minutes").and_then(number).unwrap_or(0.0) * 60.0;
            if seconds <= 0.0 && args.contains_key("prompt") {
                return Err(TaskError::Invalid(format!("{origin}: pause with a prompt waits for a keyboard; etcdplay runs unattended (give seconds: or minutes:)")));
            }
            tokio::time::sleep(Duration::from_secs_f64(seconds.max(0.0))).await;
            json!({"changed": false, "delta": seconds, "stdout": format!("Paused for {seconds} seconds")})
        }
        _ => return Ok(None),
    }))
}

/// What `debug:` prints after `=>`: `{"msg": ...}` or `{"<var>": value}`; and `assert:`, whose
/// result Ansible always shows too (`{"changed": false, "msg": "All assertions passed"}`, with
/// `item` and `ansible_loop_var` in a loop).
pub(crate) fn debug_output(call: &ModuleCall, result: &Value) -> Option<Value> {
    if result.get("skipped").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    if call.name == "assert" {
        let mut shown = result.as_object()?.clone();
        shown.remove("failed");
        return Some(Value::Object(shown));
    }
    if call.name != "debug" {
        return None;
    }
    let mut shown = result.as_object()?.clone();
    shown.remove("changed");
    shown.remove("failed");
    shown.remove("item");
    shown.remove("ansible_loop_var");
    Some(Value::Object(shown))
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}
