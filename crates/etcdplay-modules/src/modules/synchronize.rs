//! `synchronize` (ansible.posix): rsync between the control node and a host, over ssh with the
//! host's connection settings (address, user, port, private key, and with `use_ssh_args` the
//! inventory's ssh arguments). This file holds the arguments and the pure parts: the rsync
//! command line, built flag by flag as the collection's module builds it, the `[user@]host:path`
//! of the remote side, and the result read from rsync's `--out-format` lines. The engine
//! (`etcdplay-engine`'s `synchronize.rs`) resolves the paths and runs rsync on the control node.

use etcdplay_transport::script::sh_quote;
use serde_json::{json, Map, Value};

use crate::spec::{optional as arg, ArgSpec, ArgType};

/// The collection's argument spec (ansible.posix 2.1), without its internal `_` arguments.
pub(crate) const SYNCHRONIZE: &[ArgSpec] = &[
    ArgSpec {
        name: "src",
        kind: ArgType::Path,
        required: true,
        aliases: &[],
    },
    ArgSpec {
        name: "dest",
        kind: ArgType::Path,
        required: true,
        aliases: &[],
    },
    arg("dest_port", ArgType::Int),
    arg("delete", ArgType::Bool),
    arg("private_key", ArgType::Path),
    arg("rsync_path", ArgType::Str),
    arg("archive", ArgType::Bool),
    arg("checksum", ArgType::Bool),
    arg("compress", ArgType::Bool),
    arg("existing_only", ArgType::Bool),
    arg("dirs", ArgType::Bool),
    arg("recursive", ArgType::Bool),
    arg("links", ArgType::Bool),
    arg("copy_links", ArgType::Bool),
    arg("perms", ArgType::Bool),
    arg("times", ArgType::Bool),
    arg("owner", ArgType::Bool),
    arg("group", ArgType::Bool),
    arg("set_remote_user", ArgType::Bool),
    arg("rsync_timeout", ArgType::Int),
    arg("rsync_opts", ArgType::List),
    arg("use_ssh_args", ArgType::Bool),
    arg("ssh_connection_multiplexing", ArgType::Bool),
    arg("partial", ArgType::Bool),
    arg("verify_host", ArgType::Bool),
    arg("delay_updates", ArgType::Bool),
    arg("mode", ArgType::Str),
    arg("link_dest", ArgType::List),
];

/// The marker rsync prints before each changed item (`--out-format`).
const CHANGED: &str = "<<CHANGED>>";

/// What the engine knows of the host and the run for the command line.
pub struct RsyncSide {
    /// `ansible_host` (or the inventory name).
    pub address: String,
    /// The login user (`None`: ssh's default, or `set_remote_user: no`).
    pub user: Option<String>,
    /// `ansible_port`.
    pub port: Option<u16>,
    /// `ansible_ssh_private_key_file`.
    pub private_key: Option<String>,
    /// The inventory's ssh arguments as one text (for `use_ssh_args`).
    pub ssh_args: Option<String>,
    /// `sudo rsync` / `sudo -u USER rsync` when the task becomes another user with sudo.
    pub become_rsync_path: Option<String>,
    /// `src` already resolved on the control node (push) or as given (pull).
    pub src: String,
    pub dest: String,
    pub check: bool,
}

fn flag(args: &Map<String, Value>, key: &str) -> Option<bool> {
    match args.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => etcdplay_source::parse_bool(s),
        _ => None,
    }
}

fn words(args: &Map<String, Value>, key: &str) -> Vec<String> {
    match args.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
            .collect(),
        Some(Value::String(s)) => s.split(',').map(String::from).collect(),
        _ => Vec::new(),
    }
}

/// `[user@]host:path`, IPv6 addresses in brackets (the collection's `_format_rsync_rsh_target`).
pub fn remote_path(address: &str, user: Option<&str>, path: &str) -> String {
    let host = if address.contains(':') && !address.starts_with('[') {
        format!("[{address}]")
    } else {
        address.to_string()
    };
    match user {
        Some(u) => format!("{u}@{host}:{path}"),
        None => format!("{host}:{path}"),
    }
}

/// Whether either side is reached over a remote shell (`host:path`, not `rsync://`).
fn needs_rsh(src: &str, dest: &str) -> bool {
    let daemon = src.starts_with("rsync://") || dest.starts_with("rsync://");
    !daemon && (src.contains(':') || dest.contains(':'))
}

/// The rsync command line (one shell text, as the module runs it); `Err`: the failure.
pub fn rsync_command(args: &Map<String, Value>, side: &RsyncSide) -> Result<String, String> {
    let on = |k: &str, default: bool| flag(args, k).unwrap_or(default);
    let mut cmd = vec!["rsync".to_string()];
    if on("delay_updates", true) {
        cmd.extend(["--delay-updates".into(), "-F".into()]);
    }
    if on("compress", true) {
        cmd.push("--compress".into());
    }
    if let Some(t) = args
        .get("rsync_timeout")
        .and_then(Value::as_i64)
        .filter(|t| *t != 0)
    {
        cmd.push(format!("--timeout={t}"));
    }
    if side.check {
        cmd.push("--dry-run".into());
    }
    for (key, option) in [
        ("delete", "--delete-after"),
        ("existing_only", "--existing"),
        ("checksum", "--checksum"),
        ("copy_links", "--copy-links"),
    ] {
        if on(key, false) {
            cmd.push(option.into());
        }
    }
    let tri = ["recursive", "links", "perms", "times", "owner", "group"];
    if on("archive", true) {
        cmd.push("--archive".into());
        for key in tri {
            if flag(args, key) == Some(false) {
                cmd.push(format!("--no-{key}"));
            }
        }
    } else {
        for key in tri {
            if flag(args, key) == Some(true) {
                cmd.push(format!("--{key}"));
            }
        }
    }
    if on("dirs", false) {
        cmd.push("--dirs".into());
    }
    let rsync_opts = words(args, "rsync_opts");
    let rsh_needed = needs_rsh(&side.src, &side.dest);
    if rsh_needed && !rsync_opts.iter().any(|o| o.contains("--rsh")) {
        let mut ssh = vec!["ssh".to_string()];
        if !on("ssh_connection_multiplexing", false) {
            ssh.extend(["-S".into(), "none".into()]);
        }
        let key = args
            .get("private_key")
            .and_then(Value::as_str)
            .map(String::from)
            .or_else(|| side.private_key.clone());
        if let Some(key) = key {
            ssh.extend(["-i".into(), key]);
        }
        let port = args
            .get("dest_port")
            .and_then(Value::as_i64)
            .or(side.port.map(i64::from));
        if let Some(port) = port {
            ssh.extend(["-o".into(), format!("Port={port}")]);
        }
        if !on("verify_host", false) {
            ssh.extend(
                [
                    "-o",
                    "StrictHostKeyChecking=no",
                    "-o",
                    "UserKnownHostsFile=/dev/null",
                ]
                .map(String::from),
            );
        }
        let mut ssh_text = ssh
            .iter()
            .map(|w| sh_quote(w))
            .collect::<Vec<_>>()
            .join(" ");
        if on("use_ssh_args", false) {
            if let Some(extra) = side.ssh_args.as_deref().filter(|e| !e.is_empty()) {
                ssh_text.push(' ');
                ssh_text.push_str(extra);
            }
        }
        cmd.push(format!("--rsh={}", sh_quote(&ssh_text)));
    }
    let rsync_path = args
        .get("rsync_path")
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| side.become_rsync_path.clone());
    if let Some(path) = rsync_path {
        cmd.push(format!("--rsync-path={}", sh_quote(&path)));
    }
    cmd.extend(rsync_opts);
    if on("partial", false) {
        cmd.push("--partial".into());
    }
    let link_dest = words(args, "link_dest");
    if !link_dest.is_empty() {
        cmd.extend(["-H".into(), "-vv".into()]);
        cmd.extend(link_dest.iter().map(|l| format!("--link-dest={l}")));
    }
    cmd.push(format!(
        "--out-format={}",
        sh_quote(&format!("{CHANGED}%i %n%L"))
    ));
    cmd.push(sh_quote(&side.src));
    cmd.push(sh_quote(&side.dest));
    Ok(cmd.join(" "))
}

/// The module's result for rsync's exit code and output.
pub fn rsync_result(
    cmd: &str,
    rc: i32,
    out: &str,
    err: &str,
    link_dest: bool,
    diff: bool,
) -> Value {
    if rc != 0 {
        return json!({"changed": false, "failed": true, "msg": err, "rc": rc, "cmd": cmd});
    }
    let changed = if link_dest {
        !out.contains(&format!("{CHANGED}."))
    } else {
        out.contains(CHANGED)
    };
    let clean = out.replace(CHANGED, "");
    let lines: Vec<&str> = clean.split('\n').filter(|l| !l.is_empty()).collect();
    let mut result =
        json!({"changed": changed, "msg": clean, "rc": rc, "cmd": cmd, "stdout_lines": lines});
    if diff {
        result["diff"] = json!({"prepared": clean});
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side() -> RsyncSide {
        RsyncSide {
            address: "10.0.0.5".into(),
            user: Some("root".into()),
            port: None,
            private_key: Some("/k/id".into()),
            ssh_args: Some("-o ControlMaster=auto".into()),
            become_rsync_path: None,
            src: "/src/".into(),
            dest: remote_path("10.0.0.5", Some("root"), "/dst"),
            check: false,
        }
    }

    /// The command ansible.posix 2.1.0's module builds for the same arguments.
    #[test]
    fn the_command_line_is_the_collections() {
        let args = json!({"src": "/src/", "dest": "/dst", "delete": true, "rsync_opts": ["--exclude=.git"]});
        let cmd = rsync_command(args.as_object().expect("args"), &side()).expect("cmd");
        assert_eq!(
            cmd,
            "rsync --delay-updates -F --compress --delete-after --archive \
             --rsh='ssh -S none -i /k/id -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null' \
             --exclude=.git --out-format='<<CHANGED>>%i %n%L' /src/ root@10.0.0.5:/dst"
        );
        let args = json!({"archive": false, "recursive": true, "times": true, "checksum": true,
                          "use_ssh_args": true, "dest_port": 2222, "verify_host": true});
        let mut s = side();
        s.check = true;
        let cmd = rsync_command(args.as_object().expect("args"), &s).expect("cmd");
        assert!(cmd.contains("--dry-run --checksum --recursive --times --rsh='ssh -S none -i /k/id -o Port=2222 -o ControlMaster=auto'"), "{cmd}");
        assert_eq!(remote_path("fe80::1", None, "/x"), "[fe80::1]:/x");
    }

    #[test]
    fn the_result_is_read_from_rsyncs_lines() {
        let r = rsync_result(
            "c",
            0,
            "<<CHANGED>>>f+++++++++ a\n<<CHANGED>>cd+++++++++ d/\n",
            "",
            false,
            false,
        );
        assert_eq!(r["changed"], true);
        assert_eq!(
            r["stdout_lines"],
            json!([">f+++++++++ a", "cd+++++++++ d/"])
        );
        let r = rsync_result("c", 0, "", "", false, true);
        assert_eq!(
            (r["changed"].clone(), r["diff"]["prepared"].clone()),
            (json!(false), json!(""))
        );
        let r = rsync_result("c", 23, "", "rsync error", false, false);
        assert_eq!(
            (r["failed"].clone(), r["rc"].clone()),
            (json!(true), json!(23))
        );
    }
}
