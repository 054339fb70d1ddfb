//! `wait_for`: wait on the host until a TCP port is open/closed/drained or a file is
//! present/absent (optionally containing `search_regex`). The whole polling loop runs on the
//! host as one script, so waiting costs one round trip however long it takes. Port checks use
//! bash's `/dev/tcp` when bash exists, else a python3 socket; "drained" uses `ss`.
//! `search_regex` is searched as Python's `re.search` would (GNU `grep -P`, see
//! [`python_search`]); the match groups come from the first match, read back once the wait is
//! over and matched again with fancy-regex on the control node.
//! Like Ansible's, it does not run in check mode (it is reported skipped).

use etcdplay_transport::script::sh_quote;
use serde_json::{Map, Value};

use crate::host::Ctx;
use crate::{ModuleError, ModuleResult};

/// The shell condition (exit 0 = satisfied) for one poll.
pub(crate) fn condition(
    host: &str,
    port: Option<i64>,
    path: Option<&str>,
    state: &str,
    regex: Option<&str>,
    connect_timeout: i64,
) -> String {
    let h = sh_quote(host);
    let probe_port = |p: i64| {
        format!(
            "ep_open() {{ if command -v bash >/dev/null 2>&1; then timeout {connect_timeout} bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' {h} {p} 2>/dev/null; \
             else timeout {connect_timeout} python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()' {h} {p} {connect_timeout} 2>/dev/null; fi; }}\n"
        )
    };
    match (port, path) {
        (Some(p), _) => {
            let mut s = probe_port(p);
            let check = match (state, regex) {
                ("stopped" | "absent", _) => "! ep_open".to_string(),
                ("drained", _) => format!("! ss -Htn state established '( sport = :{p} )' | grep -q ."),
                (_, Some(re)) => format!(
                    "timeout {connect_timeout} bash -c 'exec 3<>\"/dev/tcp/$0/$1\"; cat <&3' {h} {p} 2>/dev/null | {}",
                    python_search(re, None, true)
                ),
                _ => "ep_open".to_string(),
            };
            s.push_str(&format!("ep_cond() {{ {check}; }}\n"));
            s
        }
        (None, Some(path)) => {
            let q = sh_quote(path);
            let check = match (state, regex) {
                ("absent" | "stopped", _) => format!("! [ -e {q} ]"),
                (_, Some(re)) => format!("[ -r {q} ] && {}", python_search(re, Some(&q), true)),
                _ => format!("[ -e {q} ]"),
            };
            format!("ep_cond() {{ {check}; }}\n")
        }
        // Neither port nor path: Ansible just sleeps for `timeout` seconds.
        (None, None) => "ep_cond() { false; }\n".to_string(),
    }
}

/// How much of the first match the host sends back for its groups.
const MAX_MATCH_BYTES: usize = 1 << 20;

/// A grep command searching `quoted_file` (or stdin) as Python's `re.search(pattern, data,
/// re.MULTILINE)` on bytes does: PCRE reads Python's syntax (`(?P<name>..)`, `\w`), `-z`
/// makes the whole data one record so a match may span lines, `(?m)` anchors at every line
/// and the C locale matches bytes. `quiet` only answers; else the first match is printed.
fn python_search(pattern: &str, quoted_file: Option<&str>, quiet: bool) -> String {
    let mode = if quiet { "-q" } else { "-o -m1" };
    let file = quoted_file.unwrap_or("");
    format!(
        "LC_ALL=C grep -aPz {mode} -- {} {file}",
        sh_quote(&format!("(?m){pattern}"))
    )
}

/// `match_groups` and `match_groupdict` of Ansible's result: the pattern's groups in the text
/// the host's search matched (unmatched groups are null).
fn match_groups(pattern: &str, matched: &str) -> (Vec<Value>, Map<String, Value>) {
    let flags = etcdplay_source::PyReFlags {
        multiline: true,
        ..Default::default()
    };
    let compiled = etcdplay_source::compile_python_regex(pattern, flags);
    let Ok(Some(caps)) = compiled
        .as_ref()
        .map(|re| re.captures(matched).ok().flatten())
    else {
        return (Vec::new(), Map::new());
    };
    let value = |m: Option<fancy_regex::Match<'_>>| {
        m.map_or(Value::Null, |m| Value::String(m.as_str().to_string()))
    };
    let groups = (1..caps.len()).map(|i| value(caps.get(i))).collect();
    let mut named = Map::new();
    if let Ok(re) = &compiled {
        for name in re.capture_names().flatten() {
            named.insert(name.to_string(), value(caps.name(name)));
        }
    }
    (groups, named)
}

/// The first match of `pattern` in the file at `path`, read on the host.
async fn first_match(ctx: &Ctx<'_>, pattern: &str, path: &str) -> Result<String, ModuleError> {
    let out = ctx
        .exec(format!(
            "{} | head -c {MAX_MATCH_BYTES} | tr -d '\\000'",
            python_search(pattern, Some(&sh_quote(path)), false)
        ))
        .await?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let state = a.choice(
        "state",
        &["started", "stopped", "present", "absent", "drained"],
        "started",
    )?;
    let host = a.str("host").unwrap_or_else(|| "127.0.0.1".into());
    let port = a.int("port")?;
    let path = a.str("path");
    if port.is_some() && path.is_some() {
        return Err(ctx.bad("port", "port and path are mutually exclusive"));
    }
    if state == "drained" && port.is_none() {
        return Err(ctx.bad("state", "state=drained requires port"));
    }
    if let Some(p) = port {
        if !(1..=65535).contains(&p) {
            return Err(ctx.bad("port", format!("{p} is not a TCP port")));
        }
    }
    let regex = a.str("search_regex");
    let delay = a.int("delay")?.unwrap_or(0).max(0);
    let timeout = a.int("timeout")?.unwrap_or(300).max(0);
    let sleep = a.int("sleep")?.unwrap_or(1).max(1);
    let connect_timeout = a.int("connect_timeout")?.unwrap_or(5).max(1);
    if ctx.call.check {
        return Ok(ModuleResult {
            skipped: true,
            msg: Some("wait_for does not run in check mode".into()),
            ..ModuleResult::default()
        });
    }
    let mut script = condition(
        &host,
        port,
        path.as_deref(),
        &state,
        regex.as_deref(),
        connect_timeout,
    );
    let neither = port.is_none() && path.is_none();
    script.push_str(&format!(
        "start=$(date +%s)\nsleep {delay}\nend=$((start + {delay} + {timeout}))\n\
         while :; do\n  if ep_cond; then echo $(( $(date +%s) - start )); exit 0; fi\n  \
         if [ \"$(date +%s)\" -ge \"$end\" ]; then echo $(( $(date +%s) - start )); exit {}; fi\n  sleep {sleep}\ndone\n",
        if neither { 0 } else { 3 }
    ));
    let out = ctx.exec(script).await?;
    let elapsed: i64 = out.stdout_str().trim().parse().unwrap_or(0);
    let mut res = ModuleResult::ok();
    res.set("elapsed", elapsed).set("state", state.clone());
    if let Some(p) = port {
        res.set("port", p);
    }
    if let Some(p) = &path {
        res.set("path", p.clone());
    }
    if let Some(r) = &regex {
        res.set("search_regex", r.clone());
    }
    // Ansible's result always holds the groups: those of the file's match, else empty.
    let (groups, named) = match (&regex, &path, out.rc) {
        (Some(re), Some(p), 0) if !matches!(state.as_str(), "absent" | "stopped") => {
            match_groups(re, &first_match(ctx, re, p).await?)
        }
        _ => (Vec::new(), Map::new()),
    };
    res.set("match_groups", groups)
        .set("match_groupdict", Value::Object(named));
    match out.rc {
        0 => Ok(res),
        3 => {
            let what = match (&path, port) {
                (Some(p), _) if matches!(state.as_str(), "absent" | "stopped") => {
                    format!("Timeout when waiting for {p} to be absent.")
                }
                (Some(p), _) if regex.is_some() => format!(
                    "Timeout when waiting for search string {} in {p}",
                    regex.clone().unwrap_or_default()
                ),
                (Some(p), _) => format!("Timeout when waiting for file {p}"),
                (None, Some(p)) if state == "drained" => {
                    format!("Timeout when waiting for {host}:{p} to drain")
                }
                (None, Some(p)) if matches!(state.as_str(), "stopped" | "absent") => {
                    format!("Timeout when waiting for {host}:{p} to stop.")
                }
                (None, Some(p)) => format!("Timeout when waiting for {host}:{p}"),
                _ => "Timeout".into(),
            };
            res.failed = true;
            res.msg = Some(a.str("msg").unwrap_or(what));
            Ok(res)
        }
        rc => Ok(ModuleResult::fail(format!(
            "wait_for script failed (rc {rc}): {}",
            out.stderr_str().trim()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::match_groups;
    use serde_json::json;

    // Python: re.search(r'completed (?P<foo>\w+) ([0-9]+)', 'completed data 123', re.M)
    // gives groups() ('data', '123') and groupdict() {'foo': 'data'}; an unmatched optional
    // group is None.
    #[test]
    fn groups_are_pythons() {
        let (groups, named) =
            match_groups(r"completed (?P<foo>\w+) ([0-9]+)", "completed data 123");
        assert_eq!(json!(groups), json!(["data", "123"]));
        assert_eq!(json!(named), json!({"foo": "data"}));
        let (groups, _) = match_groups(r"a(x)?b", "ab");
        assert_eq!(json!(groups), json!([null]));
    }
}
