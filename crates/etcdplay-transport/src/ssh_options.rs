//! How to reach one host over SSH: the inventory-level settings (address, port, user, key,
//! timeout, host key policy) that [`crate::SshTransport::connect`] turns into one multiplexed
//! `ssh` master connection.

use std::path::PathBuf;
use std::time::Duration;

use crate::{HostAgent, SshSetting};

/// What to do with the host's SSH key, as Ansible's `host_key_checking` and OpenSSH's
/// `StrictHostKeyChecking` describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyChecking {
    /// Whatever the user's ssh configuration says for this host (`~/.ssh/config`, the
    /// inventory's `ansible_ssh_common_args`), as Ansible's default `host_key_checking = True`
    /// leaves it; OpenSSH's own default (`ask`) refuses an unknown host in batch mode.
    #[default]
    SshConfig,
    /// The key must already be in known_hosts (`StrictHostKeyChecking=yes`).
    Strict,
    /// An unknown host's key is recorded, a changed key is refused (`accept-new`).
    AcceptNew,
    /// Any key is accepted and nothing is remembered (`StrictHostKeyChecking=no` with
    /// known_hosts `/dev/null` unless a file is given), like `host_key_checking = False`.
    Off,
}

impl HostKeyChecking {
    /// Parses the spelling used on the command line: `ssh-config`, `strict`, `accept-new` or
    /// `off`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ssh-config" => Some(HostKeyChecking::SshConfig),
            "strict" | "yes" => Some(HostKeyChecking::Strict),
            "accept-new" => Some(HostKeyChecking::AcceptNew),
            "off" | "no" => Some(HostKeyChecking::Off),
            _ => None,
        }
    }
}

/// Everything needed to open the SSH connection to one host.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Inventory name of the host (used in errors and reports).
    pub host: String,
    /// What `ssh` connects to: `ansible_host`, or the inventory name.
    pub address: String,
    /// `ansible_port`; `None` leaves it to ssh config (22).
    pub port: Option<u16>,
    /// `ansible_user`; `None` leaves it to ssh config.
    pub user: Option<String>,
    /// `ansible_ssh_private_key_file`; when set only this key is offered.
    pub key_file: Option<PathBuf>,
    /// TCP connect + handshake timeout; ssh only takes whole seconds (rounded up, at least 1).
    pub connect_timeout: Duration,
    pub host_key_checking: HostKeyChecking,
    /// The known_hosts file to use instead of `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// An ssh client config file to use instead of `~/.ssh/config` (`ssh -F`).
    pub ssh_config: Option<PathBuf>,
    /// Directory for the control socket. Must be short: unix socket paths are limited to
    /// 108 bytes and openssh appends `/.ssh-connectionXXXXXX/master`.
    pub control_dir: PathBuf,
    /// How long an idle master survives its client (a crashed run leaves no master behind
    /// for longer than this). A transport keeps a remote shell channel open for as long as it
    /// lives, so the master is never idle while in use and this can be short.
    pub control_persist: Duration,
    /// Settings from `ansible_ssh_common_args`/`ansible_ssh_extra_args`, passed to ssh
    /// through a generated client config (see [`crate::parse_ssh_args`]). Those etcdplay
    /// sets on ssh's command line itself (host key checking, control socket, timeouts) keep
    /// etcdplay's values.
    pub extra_settings: Vec<SshSetting>,
    /// The host agent shells start where it is installed (and which closing installs on a
    /// host reached as root); `None`: the shell loop only.
    pub agent: Option<HostAgent>,
}

impl SshOptions {
    /// Options with the defaults etcdplay uses: 10 s connect timeout, the host key policy of
    /// the user's ssh configuration, the system
    /// temporary directory for the control socket, masters exiting after 5 s idle (so a
    /// SIGKILLed etcdplay leaves no ssh master behind for longer).
    pub fn new(host: impl Into<String>, address: impl Into<String>) -> Self {
        SshOptions {
            host: host.into(),
            address: address.into(),
            port: None,
            user: None,
            key_file: None,
            connect_timeout: Duration::from_secs(10),
            host_key_checking: HostKeyChecking::default(),
            known_hosts: None,
            ssh_config: None,
            control_dir: std::env::temp_dir(),
            control_persist: Duration::from_secs(5),
            extra_settings: Vec::new(),
            agent: None,
        }
    }

    /// The connect timeout in whole seconds as ssh wants it: rounded up, never 0.
    pub(crate) fn connect_timeout_secs(&self) -> u64 {
        let d = self.connect_timeout;
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        secs.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_is_rounded_up_to_whole_seconds() {
        let mut o = SshOptions::new("h", "127.0.0.1");
        o.connect_timeout = Duration::from_millis(1500);
        assert_eq!(o.connect_timeout_secs(), 2);
        o.connect_timeout = Duration::ZERO;
        assert_eq!(o.connect_timeout_secs(), 1);
        o.connect_timeout = Duration::from_secs(10);
        assert_eq!(o.connect_timeout_secs(), 10);
    }

    #[test]
    fn host_key_policy_spellings() {
        assert_eq!(
            HostKeyChecking::parse("strict"),
            Some(HostKeyChecking::Strict)
        );
        assert_eq!(
            HostKeyChecking::parse("accept-new"),
            Some(HostKeyChecking::AcceptNew)
        );
        assert_eq!(HostKeyChecking::parse("off"), Some(HostKeyChecking::Off));
        assert_eq!(HostKeyChecking::parse("maybe"), None);
    }
}
