//! Where the lab keeps things and how long it waits. One value describes a whole lab, so tests
//! can point a lab at other directories, while the CLI and test harness use [`LabConfig::default`].

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::LabError;

/// Paths, network names and timeouts of one lab.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Persistent state: the base image, per-host overlay dirs, the SSH key, host keys.
    pub state_dir: PathBuf,
    /// Runtime state that must vanish with a reboot (pids, logs, the lock), like the namespaces.
    pub run_dir: PathBuf,
    /// Hosts are named `{host_prefix}K`; their namespaces `etcdplay-{host_prefix}K`. Two labs
    /// with different prefixes, bridges and subnets coexist (the e2e test uses its own).
    pub host_prefix: String,
    /// The bridge all hosts plug into; the lab creates and deletes it.
    pub bridge: String,
    /// The first three octets of the lab's /24; `.1` is the bridge, `.(10+K)` is host K.
    pub subnet: [u8; 3],
    /// How long `up` waits for every host to answer SSH.
    pub ssh_timeout: Duration,
    /// How long `down` waits for a container to power off after SIGTERM before SIGKILL.
    pub stop_timeout: Duration,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            state_dir: PathBuf::from("/var/lib/etcdplay-lab"),
            run_dir: PathBuf::from("/run/etcdplay-lab"),
            host_prefix: "lab".to_owned(),
            bridge: "etcdplaybr0".to_owned(),
            subnet: [10, 213, 7],
            ssh_timeout: Duration::from_secs(180),
            stop_timeout: Duration::from_secs(20),
        }
    }
}

impl LabConfig {
    /// The finished base root (present only once a build completed).
    pub fn base_dir(&self) -> PathBuf {
        self.state_dir.join("base")
    }

    /// The private key `up` generates; its `.pub` sibling goes into the hosts.
    pub fn key_path(&self) -> PathBuf {
        self.state_dir.join("ssh").join("id_ed25519")
    }

    /// The known_hosts file `up` writes with the host keys of this lab's hosts (it made them),
    /// so that inventories can check host keys strictly.
    pub fn known_hosts_path(&self) -> PathBuf {
        self.state_dir
            .join("ssh")
            .join(format!("known_hosts.{}", self.host_prefix))
    }

    /// Per-host persistent directory holding the overlay's upper and work dirs.
    pub fn host_dir(&self, name: &str) -> PathBuf {
        self.state_dir.join("hosts").join(name)
    }

    /// SSH host keys of one host, kept across `down` so a re-created host keeps its identity
    /// and `known_hosts` entries of the user stay valid.
    pub fn host_keys_dir(&self, name: &str) -> PathBuf {
        self.state_dir.join("hostkeys").join(name)
    }

    /// The recorded pid of a host's systemd-nspawn.
    pub fn pid_file(&self, name: &str) -> PathBuf {
        self.run_dir.join(format!("{name}.pid"))
    }

    /// The console and nspawn output of a host.
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.run_dir.join(format!("{name}.log"))
    }

    /// Serializes `up`/`down` across processes (two test binaries, a user and a test).
    pub fn lock_file(&self) -> PathBuf {
        self.run_dir.join("lock")
    }

    /// Checks the names derived from this config fit Linux's limits (15 bytes per interface).
    pub fn validate(&self) -> Result<(), LabError> {
        let bad = |reason: String| Err(LabError::BadConfig { reason });
        let p = &self.host_prefix;
        let prefix_ok = (1..=8).contains(&p.len())
            && p.starts_with(|c: char| c.is_ascii_lowercase())
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !prefix_ok {
            return bad(format!("host prefix {p:?} must be 1 to 8 lowercase letters or digits, starting with a letter"));
        }
        let b = &self.bridge;
        if b.is_empty()
            || b.len() > 15
            || !b
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        {
            return bad(format!(
                "bridge name {b:?} must be 1 to 15 letters, digits, '-' or '_'"
            ));
        }
        Ok(())
    }

    /// The bridge's own address (the hosts' default gateway).
    pub fn gateway(&self) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, 1)
    }
}
