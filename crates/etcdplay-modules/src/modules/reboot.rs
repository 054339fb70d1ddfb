//! `reboot`'s arguments and the pure parts of Ansible's reboot action: the shutdown command
//! (`shutdown -r <minutes> "<msg>"`, or `reboot_command`), the delays (`*_sec` spellings
//! accepted, negatives as 0) and the pauses between checks (2^n seconds plus up to one, at most
//! 12 plus up to one). The engine runs the action itself (`etcdplay-engine`'s `reboot.rs`):
//! it reads the boot id, sends the command, reconnects until the boot id changed and the test
//! command passes, within `reboot_timeout`.

use serde_json::{Map, Value};

use crate::spec::{optional as arg, ArgSpec, ArgType};

/// Ansible's `_VALID_ARGS` of the reboot action, with the deprecated `*_sec` spellings.
pub(crate) const REBOOT: &[ArgSpec] = &[
    arg("boot_time_command", ArgType::Str),
    arg("connect_timeout", ArgType::Int),
    arg("connect_timeout_sec", ArgType::Int),
    arg("msg", ArgType::Str),
    arg("post_reboot_delay", ArgType::Int),
    arg("post_reboot_delay_sec", ArgType::Int),
    arg("pre_reboot_delay", ArgType::Int),
    arg("pre_reboot_delay_sec", ArgType::Int),
    arg("reboot_command", ArgType::Str),
    arg("reboot_timeout", ArgType::Int),
    arg("reboot_timeout_sec", ArgType::Int),
    arg("search_paths", ArgType::List),
    arg("test_command", ArgType::Str),
];

/// What the reboot action needs, read from its arguments with Ansible's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RebootPlan {
    /// The program to find (absolute, or a name looked up in `search_paths`).
    pub program: String,
    /// Its arguments, as one shell text.
    pub program_args: String,
    pub search_paths: Vec<String>,
    pub boot_time_command: String,
    pub test_command: String,
    pub post_reboot_delay: u64,
    pub reboot_timeout: u64,
    pub connect_timeout: Option<u64>,
}

fn int(args: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
    let value = args.get(key).or_else(|| args.get(&format!("{key}_sec")));
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("invalid literal for int() with base 10: '{n}'")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("invalid literal for int() with base 10: '{s}'")),
        Some(other) => Err(format!("invalid value for {key}: {other}")),
    }
}

fn text(args: &Map<String, Value>, key: &str) -> Option<String> {
    match args.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Reads the arguments; `Err` is the task's failure message.
pub fn reboot_plan(args: &Map<String, Value>) -> Result<RebootPlan, String> {
    let delay = |key: &str| Ok::<u64, String>(int(args, key)?.unwrap_or(0).max(0) as u64);
    let pre = delay("pre_reboot_delay")?;
    let (program, program_args) = match args.get("reboot_command") {
        Some(Value::String(cmd)) => match cmd.split_once(' ') {
            Some((program, rest)) => (program.to_string(), rest.to_string()),
            None => (cmd.clone(), String::new()),
        },
        Some(other) => {
            return Err(format!(
                "Invalid value given for 'reboot_command': '{other}' is not a string and conversion is not allowed."
            ))
        }
        None => {
            let msg = text(args, "msg").unwrap_or_else(|| "Reboot initiated by Ansible".into());
            ("shutdown".to_string(), format!("-r {} \"{msg}\"", pre / 60))
        }
    };
    let search_paths = match args.get("search_paths") {
        None => ["/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin"]
            .map(String::from)
            .to_vec(),
        Some(Value::String(s)) => s.split(',').map(|p| p.trim().to_string()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(String::from).ok_or(()))
            .collect::<Result<_, _>>()
            .map_err(|()| {
                format!(
                    "'search_paths' must be a string or flat list of strings, got {}",
                    Value::Array(items.clone())
                )
            })?,
        Some(other) => {
            return Err(format!(
                "'search_paths' must be a string or flat list of strings, got {other}"
            ))
        }
    };
    Ok(RebootPlan {
        program,
        program_args,
        search_paths,
        boot_time_command: text(args, "boot_time_command")
            .unwrap_or_else(|| "cat /proc/sys/kernel/random/boot_id".into()),
        test_command: text(args, "test_command").unwrap_or_else(|| "whoami".into()),
        post_reboot_delay: delay("post_reboot_delay")?,
        reboot_timeout: int(args, "reboot_timeout")?.unwrap_or(600).max(0) as u64,
        connect_timeout: int(args, "connect_timeout")?
            .filter(|t| *t > 0)
            .map(|t| t as u64),
    })
}

/// The pause after the `failures`-th failed check, as Ansible's backoff: `2^failures` seconds
/// plus `jitter` (0 to 1), at most 12 plus `jitter`.
pub fn reboot_backoff(failures: u32, jitter: f64) -> f64 {
    let exp = 2f64.powi(failures.min(10) as i32) + jitter;
    if exp > 12.0 {
        12.0 + jitter
    } else {
        exp
    }
}

/// Python's repr of a list of strings (`['/sbin', '/bin']`), for Ansible's messages.
pub fn python_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().expect("object").clone()
    }

    /// The commands Ansible's action builds (ansible-core 2.19 `plugins/action/reboot.py`).
    #[test]
    fn the_shutdown_command_is_ansibles() {
        let plan = reboot_plan(&args(json!({}))).expect("plan");
        assert_eq!(plan.program, "shutdown");
        assert_eq!(plan.program_args, "-r 0 \"Reboot initiated by Ansible\"");
        assert_eq!(plan.reboot_timeout, 600);
        assert_eq!(plan.test_command, "whoami");
        assert_eq!(
            plan.boot_time_command,
            "cat /proc/sys/kernel/random/boot_id"
        );
        let plan = reboot_plan(&args(json!({"pre_reboot_delay": 150, "msg": "bye",
            "post_reboot_delay_sec": -3, "reboot_timeout": "30"})))
        .expect("plan");
        assert_eq!(plan.program_args, "-r 2 \"bye\"");
        assert_eq!((plan.post_reboot_delay, plan.reboot_timeout), (0, 30));
        let plan =
            reboot_plan(&args(json!({"reboot_command": "systemctl reboot -i"}))).expect("plan");
        assert_eq!(
            (plan.program.as_str(), plan.program_args.as_str()),
            ("systemctl", "reboot -i")
        );
        let plan = reboot_plan(&args(json!({"reboot_command": "/sbin/reboot"}))).expect("plan");
        assert_eq!(
            (plan.program.as_str(), plan.program_args.as_str()),
            ("/sbin/reboot", "")
        );
        assert!(reboot_plan(&args(json!({"reboot_timeout": "soon"}))).is_err());
        assert_eq!(python_list(&plan.search_paths[..2]), "['/sbin', '/bin']");
    }

    #[test]
    fn pauses_grow_as_ansibles_do() {
        assert_eq!(reboot_backoff(0, 0.5), 1.5);
        assert_eq!(reboot_backoff(3, 0.0), 8.0);
        assert_eq!(reboot_backoff(4, 0.25), 12.25);
        assert_eq!(reboot_backoff(40, 0.0), 12.0);
    }
}
