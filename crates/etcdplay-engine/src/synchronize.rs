//! The `synchronize` action (ansible.posix): rsync run on the control node towards the host
//! (`mode: push`) or from it (`pull`), over ssh with the host's address, login user, port and
//! private key, as the collection's action plugin prepares its module's arguments: a relative
//! control-node path is looked up like `copy`'s `src` (role `files/`, the playbook's
//! directory), a trailing slash kept; with `become` through sudo, rsync runs on the host as
//! `sudo -u USER rsync`; `use_ssh_args` adds Ansible's default ssh arguments and the
//! inventory's. On a local connection both paths are local. The command line and the result
//! are `etcdplay_modules::rsync_command`/`rsync_result`.

use etcdplay_modules::{remote_path, rsync_command, rsync_result, RsyncSide};
use etcdplay_playbook::Task;
use etcdplay_template::Vars;
use etcdplay_transport::BecomeMethod;
use serde_json::{json, Map, Value};

use crate::connect::ConnectionKind;
use crate::error::TaskError;
use crate::play::PlayRun;
use crate::scope::TaskScope;

/// Ansible's default `ssh_args`, which `use_ssh_args` passes on before the inventory's.
const DEFAULT_SSH_ARGS: &str = "-C -o ControlMaster=auto -o ControlPersist=60s";

fn failed(msg: impl Into<String>) -> Value {
    json!({"changed": false, "failed": true, "msg": msg.into()})
}

/// A control-node path as the action resolves it: absolute or `host:`-style as given, else
/// found like a `files/` source (the first candidate when none exists yet), its trailing slash
/// kept (rsync copies a directory's content then).
fn local_path(run: &PlayRun<'_>, vars: &Vars, path: &str) -> String {
    if path.starts_with('/') || path.contains(':') {
        return path.to_string();
    }
    let control = run.task_control(vars);
    let found = control
        .find("files", path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| run.play.playbook_dir.join(path).display().to_string());
    if path.ends_with('/') && !found.ends_with('/') {
        format!("{found}/")
    } else {
        found
    }
}

/// Runs the action for `host`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    run: &PlayRun<'_>,
    task: &Task,
    scope: &TaskScope,
    host: &str,
    vars: &Vars,
    delegate: Option<&str>,
    args: &Map<String, Value>,
    origin: &str,
) -> Result<Value, TaskError> {
    if delegate.is_some() {
        return Ok(failed(
            "etcdplay runs synchronize from the control node only: delegate_to is not supported",
        ));
    }
    let text = |k: &str| args.get(k).and_then(Value::as_str).map(String::from);
    let (Some(src), Some(dest)) = (text("src"), text("dest")) else {
        return Ok(failed(
            "synchronize requires both src and dest parameters are set",
        ));
    };
    let pull = match text("mode").as_deref() {
        None | Some("push") => false,
        Some("pull") => true,
        Some(other) => {
            return Ok(failed(format!(
                "value of mode must be one of: pull, push, got: {other}"
            )))
        }
    };
    let target = run.target(host, task, vars, None)?;
    let (check, diff) = run.check_and_diff(task, scope, vars, origin)?;
    let local = target.kind == ConnectionKind::Local;
    let set_remote_user = match args.get("set_remote_user") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => etcdplay_source::parse_bool(s).unwrap_or(true),
        _ => true,
    };
    let user = target.user.clone().filter(|_| set_remote_user && !local);
    let remote = |path: &str| {
        if local {
            local_path(run, vars, path)
        } else {
            remote_path(&target.address, user.as_deref(), path)
        }
    };
    let (src, dest) = if pull {
        (remote(&src), local_path(run, vars, &dest))
    } else {
        (local_path(run, vars, &src), remote(&dest))
    };
    let become_rsync_path = match run.become_of(task, scope, vars, &target)? {
        Some(b) if !local && matches!(b.method, BecomeMethod::Sudo(_)) => {
            Some(format!("sudo -u {} rsync", b.user))
        }
        _ => None,
    };
    let inventory_args = [
        Some(DEFAULT_SSH_ARGS.to_string()),
        run.var_string(vars, "ansible_ssh_common_args")?,
        run.var_string(vars, "ansible_ssh_extra_args")?,
    ];
    let ssh_args: Vec<String> = inventory_args
        .into_iter()
        .flatten()
        .filter(|a| !a.is_empty())
        .collect();
    let side = RsyncSide {
        address: target.address.clone(),
        user,
        port: target.port,
        private_key: target.key_file.clone(),
        ssh_args: Some(ssh_args.join(" ")),
        become_rsync_path,
        src,
        dest,
        check,
    };
    let cmd = match rsync_command(args, &side) {
        Ok(cmd) => cmd,
        Err(msg) => return Ok(failed(msg)),
    };
    let out = match tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&cmd)
        .stdin(std::process::Stdio::null())
        .output()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            return Ok(failed(format!(
                "could not run rsync on the control node: {e}"
            )))
        }
    };
    let link_dest = args.get("link_dest").is_some_and(|v| !v.is_null());
    Ok(rsync_result(
        &cmd,
        out.status.code().unwrap_or(-1),
        &String::from_utf8_lossy(&out.stdout),
        &String::from_utf8_lossy(&out.stderr),
        link_dest,
        diff,
    ))
}
