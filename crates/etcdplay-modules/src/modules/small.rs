//! Small modules that need little more than one command on the host: `ping` (the host answers
//! and runs a shell), `raw` (a command line run as it is, always a change, as in Ansible),
//! `tempfile` (`mktemp` of a file or directory, always a change) and `getent` (a database of
//! NSS as `ansible_facts.getent_<database>`).

use etcdplay_transport::script::sh_quote;
use serde_json::{Map, Value};

use crate::host::Ctx;
use crate::{ModuleError, ModuleResult};

pub(crate) async fn ping(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let data = ctx.args.str("data").unwrap_or_else(|| "pong".to_string());
    if data == "crash" {
        // Ansible's documented way to test a failing module: the module raises an exception,
        // which ansible-core 2.19 reports as "Task failed: Module failed: boom".
        return Ok(ModuleResult::fail("Task failed: Module failed: boom"));
    }
    let out = ctx.exec("echo pong\n".to_string()).await?;
    if out.stdout_str().trim() != "pong" {
        return Err(ctx.protocol(format!("unexpected answer '{}'", out.stdout_str().trim())));
    }
    let mut res = ModuleResult::ok();
    res.set("ping", data);
    Ok(res)
}

pub(crate) async fn raw(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let line = ctx
        .args
        .str("_raw_params")
        .ok_or_else(|| ModuleError::missing("raw", "free_form"))?;
    let script = match ctx.args.str("executable") {
        Some(exe) => format!("exec {} -c {}\n", sh_quote(&exe), sh_quote(&line)),
        None => format!("{line}\n"),
    };
    let out = ctx.exec(script).await?;
    let stdout = out.stdout_str();
    let mut res = if out.rc == 0 {
        ModuleResult::ok()
    } else {
        ModuleResult::fail("non-zero return code")
    };
    res.changed = true;
    res.set("rc", out.rc)
        .set("stdout", stdout.clone())
        .set("stdout_lines", lines(&stdout))
        .set("stderr", out.stderr_str())
        .set("stderr_lines", lines(&out.stderr_str()));
    Ok(res)
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

pub(crate) async fn tempfile(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let state = a.choice("state", &["file", "directory"], "file")?;
    let prefix = a.str("prefix").unwrap_or_else(|| "ansible.".to_string());
    let suffix = a.str("suffix").unwrap_or_default();
    let dir = a.str("path");
    // Ansible's check and message: a prefix or suffix that is not its own basename (a path).
    for (name, value) in [("prefix", &prefix), ("suffix", &suffix)] {
        if value.contains('/') {
            return Ok(ModuleResult::fail(format!(
                "{name} must be a valid file name component, got {}",
                etcdplay_source::python_str_repr(value)
            )));
        }
    }
    let mut res = ModuleResult::ok();
    res.changed = true;
    res.set("state", state.clone());
    // The directory as given, or the host's temporary directory.
    let dir = match dir {
        Some(d) => sh_quote(&d),
        None => "\"${TMPDIR:-/tmp}\"".to_string(),
    };
    let mut cmd = String::from("mktemp");
    if state == "directory" {
        cmd.push_str(" -d");
    }
    cmd.push_str(&format!(" -p {dir}"));
    if !suffix.is_empty() {
        cmd.push_str(&format!(" --suffix={}", sh_quote(&suffix)));
    }
    cmd.push_str(&format!(" -- {}\n", sh_quote(&format!("{prefix}XXXXXXXX"))));
    match ctx.change(cmd).await? {
        Ok(out) => {
            res.set("path", out.stdout_str().trim().to_string());
            Ok(res)
        }
        Err(msg) => Ok(ModuleResult::fail(msg)),
    }
}

pub(crate) async fn getent(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let database = a.req_str("database")?;
    let key = a.str("key");
    let split = a.str("split");
    let fail_key = a.bool("fail_key", true)?;
    let mut cmd = format!("getent {}", sh_quote(&database));
    if let Some(k) = &key {
        cmd.push(' ');
        cmd.push_str(&sh_quote(k));
    }
    let out = ctx.exec(format!("{cmd}\n")).await?;
    // getent: 0 found, 1 bad arguments or database, 2 key not found, 3 no enumeration.
    match out.rc {
        0 => {}
        2 if !fail_key => {}
        2 => {
            return Ok(ModuleResult::fail(
                "One or more supplied key could not be found in the database.",
            ))
        }
        3 => {
            return Ok(ModuleResult::fail(
                "Enumeration not supported on this database.",
            ))
        }
        _ => {
            return Ok(ModuleResult::fail(format!(
                "Missing arguments, or database unknown: {}",
                out.stderr_str().trim()
            )))
        }
    }
    let entries = parse_getent(&out.stdout_str(), &database, split.as_deref());
    let mut facts = Map::new();
    facts.insert(format!("getent_{database}"), Value::Object(entries));
    let mut res = ModuleResult::ok();
    res.set("ansible_facts", Value::Object(facts));
    Ok(res)
}

/// `getent` output as Ansible's module shapes it: key → the remaining fields (split on `:`,
/// or on whitespace for `hosts`/`services`-like databases, or on `split`).
pub(crate) fn parse_getent(text: &str, database: &str, split: Option<&str>) -> Map<String, Value> {
    let colon = matches!(database, "passwd" | "group" | "shadow" | "gshadow");
    let mut out = Map::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<String> = match (split, colon) {
            (Some(sep), _) => line.split(sep).map(str::to_string).collect(),
            (None, true) => line.split(':').map(str::to_string).collect(),
            (None, false) => line.split_whitespace().map(str::to_string).collect(),
        };
        let Some((key, rest)) = fields.split_first() else {
            continue;
        };
        let value = match rest.len() {
            0 => Value::Null,
            _ => Value::Array(rest.iter().cloned().map(Value::String).collect()),
        };
        // Ansible keeps the first entry of a repeated key and lists later ones.
        out.entry(key.clone()).or_insert(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getent_output_becomes_ansibles_facts() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\netcd:x:999:999::/var/lib/etcd:/usr/sbin/nologin\n";
        let m = parse_getent(passwd, "passwd", None);
        assert_eq!(
            m["etcd"],
            serde_json::json!(["x", "999", "999", "", "/var/lib/etcd", "/usr/sbin/nologin"])
        );
        let hosts = "127.0.0.1       localhost\n10.0.0.1 lab1 lab1.local\n";
        let m = parse_getent(hosts, "hosts", None);
        assert_eq!(m["10.0.0.1"], serde_json::json!(["lab1", "lab1.local"]));
    }
}
