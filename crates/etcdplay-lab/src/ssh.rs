//! SSH between the machine and its lab hosts: the lab key (generated once, never printed), the
//! hosts' own host keys (kept per host name across `down`), and running a command on a host,
//! which `up` uses to decide a host is ready and tests use to inspect it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::Command;

use crate::cmd::run;
use crate::config::LabConfig;
use crate::error::LabError;
use crate::host::LabHost;
use crate::network::netns_exists;
use crate::prereq::resolve;

/// Options for an unattended login to a host whose host key may change between labs.
const SSH_OPTIONS: &[&str] = &[
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=2",
];

/// Generates the lab's ed25519 key pair if either half is missing, and returns the public key.
pub(crate) async fn ensure_key(key: &Path) -> Result<String, LabError> {
    let public = key.with_extension("pub");
    if let Some(dir) = key.parent() {
        std::fs::create_dir_all(dir).map_err(LabError::io(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(LabError::io(dir))?;
    }
    if !key.is_file() || !public.is_file() {
        for half in [key, public.as_path()] {
            if half.exists() {
                std::fs::remove_file(half).map_err(LabError::io(half))?;
            }
        }
        let key_arg = key.to_string_lossy();
        run(
            "ssh-keygen",
            [
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "etcdplay-lab",
                "-f",
                key_arg.as_ref(),
            ],
        )
        .await?;
    }
    // ssh refuses a private key others can read; make sure whatever is there is 0600.
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600))
        .map_err(LabError::io(key))?;
    let text = std::fs::read_to_string(&public).map_err(LabError::io(&public))?;
    Ok(text.trim().to_owned())
}

/// Generates the SSH host keys of one host under `prefix/etc/ssh` (only the missing ones).
pub(crate) async fn ensure_host_keys(prefix: &Path) -> Result<(), LabError> {
    let etc_ssh = prefix.join("etc/ssh");
    std::fs::create_dir_all(&etc_ssh).map_err(LabError::io(&etc_ssh))?;
    let prefix_arg = prefix.to_string_lossy();
    run("ssh-keygen", ["-A", "-f", prefix_arg.as_ref()]).await?;
    Ok(())
}

/// Writes the lab's known_hosts file: the public host keys of every host of this lab that has
/// keys (they are kept across `down`), under the host's address. Replaced atomically, so a
/// concurrent ssh never reads half of it.
pub(crate) fn write_known_hosts(config: &LabConfig) -> Result<(), LabError> {
    let mut text = String::new();
    for index in 1..=crate::MAX_HOSTS {
        let host = LabHost::new(index, config);
        let dir = config.host_keys_dir(&host.name).join("etc/ssh");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut keys: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pub"))
            .collect();
        keys.sort();
        for key in keys {
            let line = std::fs::read_to_string(&key).map_err(LabError::io(&key))?;
            let mut fields = line.split_whitespace();
            if let (Some(kind), Some(body)) = (fields.next(), fields.next()) {
                text.push_str(&format!("{} {kind} {body}\n", host.ip));
            }
        }
    }
    let path = config.known_hosts_path();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(LabError::io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(LabError::io(&path))
}

impl LabHost {
    /// The `ssh` arguments (options, key, `root@ip`) to reach this host; append a command.
    pub fn ssh_args(&self, user: &str) -> Vec<String> {
        let mut args: Vec<String> = SSH_OPTIONS.iter().map(|s| (*s).to_owned()).collect();
        args.push("-i".into());
        args.push(self.key_path.to_string_lossy().into_owned());
        args.push(format!("{user}@{}", self.ip));
        args
    }

    /// Runs a shell command on the host as `user` and returns its output. Refuses when the
    /// host's namespace does not exist: the address would then not be the lab's to talk to.
    pub async fn exec(
        &self,
        user: &str,
        command: &str,
        timeout: Duration,
    ) -> Result<Output, LabError> {
        let shown = format!("ssh {user}@{} {command}", self.ip);
        if !netns_exists(&self.netns) {
            return Err(LabError::Command {
                command: shown,
                status: "not run".into(),
                stderr: format!("network namespace {} does not exist", self.netns),
            });
        }
        let child = Command::new(resolve("ssh"))
            .args(self.ssh_args(user))
            .arg(command)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(timeout, child).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(LabError::Command {
                command: shown,
                status: "not started".into(),
                stderr: e.to_string(),
            }),
            Err(_) => Err(LabError::Command {
                command: shown,
                status: format!("timed out after {}s", timeout.as_secs()),
                stderr: String::new(),
            }),
        }
    }

    /// Whether the host answers SSH as root right now.
    pub async fn ssh_answers(&self) -> bool {
        matches!(self.exec("root", "true", Duration::from_secs(5)).await, Ok(out) if out.status.success())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LabConfig;

    #[test]
    fn ssh_args_end_with_key_and_target() {
        let host = LabHost::new(2, &LabConfig::default());
        let args = host.ssh_args("deploy");
        assert_eq!(args.last().map(String::as_str), Some("deploy@10.213.7.12"));
        assert!(args
            .windows(2)
            .any(|w| w[0] == "-o" && w[1] == "BatchMode=yes"));
        assert!(args
            .windows(2)
            .any(|w| w[0] == "-i" && w[1].ends_with("id_ed25519")));
    }

    #[tokio::test]
    async fn refuses_host_without_namespace() {
        let config = LabConfig {
            subnet: [127, 0, 0],
            ..LabConfig::default()
        };
        let mut host = LabHost::new(99, &config);
        host.netns = "etcdplay-lab-test-absent".into();
        let err = host
            .exec("root", "true", Duration::from_secs(1))
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("network namespace etcdplay-lab-test-absent does not exist"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn generates_key_once_with_private_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("ssh").join("id_ed25519");
        let first = ensure_key(&key).await.expect("keygen");
        assert!(first.starts_with("ssh-ed25519 "), "{first}");
        let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(ensure_key(&key).await.expect("again"), first);
        std::fs::remove_file(key.with_extension("pub")).expect("rm pub");
        assert_ne!(ensure_key(&key).await.expect("regen"), first);
    }
}
