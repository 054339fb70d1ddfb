//! Actions the engine carries out itself because they work on variables, not on hosts:
//! `debug`, `set_fact`, `fail`, `assert`, `pause`, `include_vars` (in `include_vars.rs`), and
//! `group_by`/`add_host`, which change the run's inventory (an [`InventoryChange`] applied
//! through the run's shared state). Each returns Ansible's result JSON; none of them opens a
//! connection.

use std::time::Duration;

use etcdplay_playbook::{ModuleCall, Task};
use etcdplay_template::Vars;
use serde_json::{json, Map, Value};

use crate::error::TaskError;
use crate::inventory::InventoryChange;
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
            // An integer, or its text (`debug: var=x verbosity=3`).
            let verbosity = args.get("verbosity").and_then(number).unwrap_or(0.0);
            if f64::from(run.engine.options.verbosity) < verbosity {
                return Ok(Some(
                    json!({"changed": false, "skipped": true, "skipped_reason": "Verbosity threshold not met."}),
                ));
            }
            if let Some(var) = args.get("var") {
                let name = match var {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                // ansible-core 2.19 shows an expression that fails (an undefined name, a
                // missing key) as an error marker with a warning, and the task is ok.
                let value = match templar.render_str(&format!("{{{{ {name} }}}}"), &origin, vars) {
                    Ok(value) => value,
                    Err(e) => {
                        let problem = e.problem();
                        run.engine.reporter.warning(&format!(
                            "Encountered 1 template error.\nerror 1 - {problem}\nOrigin: {origin}"
                        ));
                        Value::String(format!("<< error 1 - {problem} >>"))
                    }
                };
                json!({"changed": false, name: value})
            } else {
                let msg = args
                    .get("msg")
                    .cloned()
                    .unwrap_or_else(|| Value::String("Hello world!".into()));
                json!({"changed": false, "msg": msg})
            }
        }
        "include_vars" => run.run_include_vars(task, args, host, vars),
        "set_fact" => {
            let facts = match fact_names(run, args, &origin, vars)? {
                Ok(facts) => facts,
                Err(failure) => return Ok(Some(failure)),
            };
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
        "assert" => assert(run, call, args, vars, task)?,
        "pause" => {
            let seconds = args.get("seconds").and_then(number).unwrap_or(0.0)
                + args.get("minutes").and_then(number).unwrap_or(0.0) * 60.0;
            if seconds <= 0.0 && args.contains_key("prompt") {
                return Err(TaskError::Invalid(format!("{origin}: pause with a prompt waits for a keyboard; etcdplay runs unattended (give seconds: or minutes:)")));
            }
            tokio::time::sleep(Duration::from_secs_f64(seconds.max(0.0))).await;
            json!({"changed": false, "delta": seconds, "stdout": format!("Paused for {seconds} seconds")})
        }
        "group_by" => group_by(run, args, host, &origin)?,
        "add_host" => add_host(run, args, &origin)?,
        _ => return Ok(None),
    }))
}

/// The conditionals of `assert`'s `that`, as Ansible's assert action takes them: a list, or any
/// other value as a list of one. As written, not templated: each is evaluated as a conditional
/// (and reported as `assertion` as written); only a `that` that is entirely one template is
/// rendered first, and used if it gives a list. Arguments splatted from a template (`assert:
/// "{{ item }}"`) are already values.
fn assert_conditions(
    run: &PlayRun<'_>,
    call: &ModuleCall,
    args: &Map<String, Value>,
    vars: &Vars,
) -> Result<Option<Vec<Value>>, TaskError> {
    let origin = call.args_origin.to_string();
    let that = match call.args.get("that") {
        Some(Value::String(text)) if is_whole_template(text) => {
            match run.engine.templar.render_str(text, &origin, vars)? {
                Value::Array(items) => Value::Array(items),
                _ => Value::String(text.clone()),
            }
        }
        Some(raw) => raw.clone(),
        None => match args.get("that") {
            Some(value) => value.clone(),
            None => return Ok(None),
        },
    };
    Ok(Some(match that {
        Value::Array(items) => items,
        other => vec![other],
    }))
}

/// A string that is one `{{ ... }}` and nothing else.
fn is_whole_template(text: &str) -> bool {
    let text = text.trim();
    text.starts_with("{{") && text.ends_with("}}")
}

/// `assert`: the first condition that does not hold fails the task, naming it.
fn assert(
    run: &PlayRun<'_>,
    call: &ModuleCall,
    args: &Map<String, Value>,
    vars: &Vars,
    task: &Task,
) -> Result<Value, TaskError> {
    let origin = call.args_origin.to_string();
    let Some(that) = assert_conditions(run, call, args, vars)? else {
        return Err(TaskError::Invalid(format!("{origin}: assert needs 'that'")));
    };
    for expr in &that {
        // A boolean (a `that:` templated to `True`) is its own result.
        let holds = match expr {
            Value::Bool(b) => *b,
            other => run.engine.templar.eval_condition(
                &value_text(other),
                &task.origin.to_string(),
                vars,
            )?,
        };
        if !holds {
            let msg = args
                .get("fail_msg")
                .or_else(|| args.get("msg"))
                .cloned()
                .unwrap_or_else(|| Value::String("Assertion failed".into()));
            return Ok(
                json!({"changed": false, "failed": true, "assertion": expr, "evaluated_to": false, "msg": msg}),
            );
        }
    }
    let quiet = args.get("quiet").and_then(Value::as_bool).unwrap_or(false);
    let msg = match args.get("success_msg") {
        Some(msg) if !quiet => msg.clone(),
        _ => Value::String("All assertions passed".into()),
    };
    Ok(json!({"changed": false, "msg": msg}))
}

/// `set_fact`'s variables with their names rendered (Ansible templates them, "for dynamic
/// storage"); a name that is not a valid variable name afterwards fails the task, in
/// Ansible's words.
fn fact_names(
    run: &PlayRun<'_>,
    args: &Map<String, Value>,
    origin: &str,
    vars: &Vars,
) -> Result<Result<Map<String, Value>, Value>, TaskError> {
    let mut facts = Map::new();
    for (name, value) in args.iter().filter(|(k, _)| *k != "cacheable") {
        let name = if etcdplay_template::is_possibly_template(name) {
            run.engine.templar.render_string(name, origin, vars)?
        } else {
            name.clone()
        };
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            let msg = format!(
                "Task failed: Invalid variable name {}.",
                etcdplay_source::python_str_repr(&name)
            );
            return Ok(Err(json!({"changed": false, "failed": true, "msg": msg})));
        }
        facts.insert(name, value.clone());
    }
    Ok(Ok(facts))
}

/// A group name as Ansible's `group_by` makes it: spaces become dashes.
fn group_name(v: &Value) -> String {
    value_text(v).replace(' ', "-")
}

/// `group_by`: the host joins the group named by `key`, under `parents` (default `all`).
fn group_by(
    run: &PlayRun<'_>,
    args: &Map<String, Value>,
    host: &str,
    origin: &str,
) -> Result<Value, TaskError> {
    let Some(key) = args.get("key") else {
        return Ok(
            json!({"changed": false, "failed": true, "msg": "the 'key' param is required when using group_by"}),
        );
    };
    let group = group_name(key);
    let parents: Vec<String> = match args.get("parents") {
        None => vec!["all".to_string()],
        Some(Value::Array(items)) => items.iter().map(group_name).collect(),
        Some(v) => vec![group_name(v)],
    };
    let change = InventoryChange::GroupBy {
        host: host.to_string(),
        group: group.clone(),
        parents: parents.clone(),
    };
    let changed = run
        .engine
        .shared
        .change_inventory(&change)
        .map_err(|e| TaskError::Invalid(format!("{origin}: group_by: {e}")))?;
    Ok(json!({"changed": changed, "add_group": group, "parent_groups": parents}))
}

/// `add_host`: a host (with `name:port` giving `ansible_ssh_port`) in the given groups, every
/// other argument one of its variables. Runs once for the play (the registry says it bypasses
/// the host loop).
fn add_host(
    run: &PlayRun<'_>,
    args: &Map<String, Value>,
    origin: &str,
) -> Result<Value, TaskError> {
    // Free-form words (`add_host: name host=x`) that are not a template giving a mapping,
    // which `module_args` has already merged: Ansible's action refuses them when it runs.
    if let Some(raw) = args.get("_raw_params") {
        return Ok(json!({"changed": false, "failed": true, "msg": format!(
            "Invalid raw parameters passed, requires a dictionary/mapping got a  {}",
            raw_params_class(raw)
        )}));
    }
    let Some(given) = ["name", "hostname", "host"]
        .iter()
        .find_map(|k| args.get(*k))
    else {
        return Ok(failure("name, host or hostname needs to be provided"));
    };
    let given = value_text(given);
    let mut vars = Map::new();
    let (name, port) = match split_port(&given) {
        Some((name, port)) => (name.to_string(), Some(port)),
        None => (given.clone(), None),
    };
    let groups: Vec<String> = match ["groupname", "groups", "group"]
        .iter()
        .find_map(|k| args.get(*k))
    {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(value_text).collect(),
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        Some(_) => return Ok(failure("Groups must be specified as a list.")),
    };
    let mut unique: Vec<String> = Vec::new();
    for g in groups
        .iter()
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
    {
        if !unique.contains(&g) {
            unique.push(g);
        }
    }
    // As Ansible: `host` and `group` are read above but also kept as variables.
    const SPECIAL: [&str; 4] = ["name", "hostname", "groupname", "groups"];
    for (k, v) in args.iter().filter(|(k, _)| !SPECIAL.contains(&k.as_str())) {
        vars.insert(k.clone(), v.clone());
    }
    // After the task's own variables, as Ansible adds it to the arguments.
    if let Some(port) = port {
        vars.insert("ansible_ssh_port".into(), json!(port));
    }
    let change = InventoryChange::AddHost {
        name: name.clone(),
        groups: unique.clone(),
        vars: vars.clone(),
    };
    let changed = run
        .engine
        .shared
        .change_inventory(&change)
        .map_err(|e| TaskError::Invalid(format!("{origin}: add_host: {e}")))?;
    Ok(
        json!({"changed": changed, "add_host": {"host_name": name, "groups": unique, "host_vars": vars}}),
    )
}

/// A failed result with Ansible's message (the action's own failures carry no location).
fn failure(msg: &str) -> Value {
    json!({"changed": false, "failed": true, "msg": msg})
}

/// The Python class Ansible's add_host names for raw parameters that are not a mapping: text
/// from a task file is a tagged string in ansible-core 2.19 (its data tagging), other values
/// come out of templates as plain Python values.
fn raw_params_class(raw: &Value) -> &'static str {
    match raw {
        Value::String(_) => "<class 'ansible.module_utils._internal._datatag._AnsibleTaggedStr'>",
        Value::Array(_) => "<class 'list'>",
        Value::Bool(_) => "<class 'bool'>",
        Value::Number(n) if n.is_f64() => "<class 'float'>",
        Value::Number(_) => "<class 'int'>",
        Value::Null => "<class 'NoneType'>",
        Value::Object(_) => "<class 'dict'>",
    }
}

/// `host:port` (or `[v6]:port`) split as Ansible's address parser does; `None` without a port.
fn split_port(address: &str) -> Option<(&str, u16)> {
    if let Some(rest) = address.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return Some((host, port.parse().ok()?));
    }
    let (host, port) = address.split_once(':')?;
    if host.is_empty() || port.contains(':') {
        return None;
    }
    Some((host, port.parse().ok()?))
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
        shown.remove("exception");
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
