//! `up`, `down` and `status` of a whole lab: the order of the steps (prerequisites, lock, key,
//! base, bridge, hosts in parallel, wait for SSH) and the discovery of what a previous run left.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::base::{ensure_base, mounted_under};
use crate::cmd::tail;
use crate::config::LabConfig;
use crate::error::LabError;
use crate::event::{quiet, LabEvent, Progress};
use crate::host::{parse_index, validate_count, LabHost, MAX_HOSTS};
use crate::lock::LabLock;
use crate::machine::{prepare_upper, reap, running_pid, start, stop};
use crate::mirror::system_mirror;
use crate::network::{
    ensure_bridge, ensure_host_net, existing_netns_indexes, link_exists, netns_exists,
    remove_bridge, remove_host_net,
};
use crate::prereq;
use crate::ssh::{ensure_key, write_known_hosts};

/// A lab that is up: the hosts asked for, all answering SSH.
#[derive(Debug, Clone)]
pub struct Lab {
    /// Hosts `lab1..labN`, in order.
    pub hosts: Vec<LabHost>,
    /// The private key that logs in to every host.
    pub key_path: PathBuf,
    /// Hosts beyond N that an earlier `up` started and that keep running.
    pub also_running: Vec<String>,
}

/// One host as `status` sees it.
#[derive(Debug, Clone)]
pub struct HostStatus {
    pub host: LabHost,
    /// The recorded nspawn pid, if that process still runs.
    pub pid: Option<i32>,
    /// Whether the host's network namespace exists.
    pub netns: bool,
    /// Whether the host answered SSH just now.
    pub ssh: bool,
}

/// Drives one lab described by a [`LabConfig`], reporting progress to a callback.
#[derive(Clone)]
pub struct LabManager {
    config: LabConfig,
    progress: Progress,
}

impl Default for LabManager {
    fn default() -> Self {
        LabManager::new(LabConfig::default())
    }
}

impl LabManager {
    /// A manager that reports nothing; see [`LabManager::with_progress`].
    pub fn new(config: LabConfig) -> LabManager {
        LabManager {
            config,
            progress: quiet(),
        }
    }

    /// Sends progress events to `progress`.
    pub fn with_progress(mut self, progress: Progress) -> LabManager {
        self.progress = progress;
        self
    }

    /// The configuration this manager works with.
    pub fn config(&self) -> &LabConfig {
        &self.config
    }

    /// The host with 1-based index `k` (its names and address; it need not be up).
    pub fn host(&self, k: u8) -> LabHost {
        LabHost::new(k, &self.config)
    }

    /// Brings hosts `lab1..labN` up (building the base first if missing) and waits until each
    /// answers SSH. Hosts already up stay up; hosts beyond N are left alone.
    pub async fn up(&self, n: u64) -> Result<Lab, LabError> {
        let count = validate_count(n)?;
        self.config.validate()?;
        prereq::check()?;
        let _lock = LabLock::acquire(&self.config.lock_file()).await?;
        let config = &self.config;
        for dir in [&config.state_dir, &config.run_dir] {
            std::fs::create_dir_all(dir).map_err(LabError::io(dir))?;
        }
        let public_key = ensure_key(&config.key_path()).await?;
        let base = ensure_base(config, &public_key, system_mirror, &self.progress).await?;
        // Hosts already up count too: the limits are per user, and every host runs as root.
        let total = self.known_indexes().len().max(usize::from(count)) as u64;
        for change in crate::limits::ensure_limits(total)? {
            (self.progress)(&LabEvent::LimitRaised { change });
        }
        ensure_bridge(config).await?;
        reap();
        let hosts: Vec<LabHost> = (1..=count).map(|k| self.host(k)).collect();
        let mut started = Vec::new();
        for host in &hosts {
            ensure_host_net(host, config).await?;
            if running_pid(config, host).is_some() {
                (self.progress)(&LabEvent::AlreadyUp {
                    host: host.name.clone(),
                });
                continue;
            }
            let upper = prepare_upper(config, host).await?;
            (self.progress)(&LabEvent::Starting {
                host: host.name.clone(),
            });
            start(config, host, &base, &upper)?;
            started.push(host.index);
        }
        write_known_hosts(config)?;
        self.wait_all(&hosts, &started).await?;
        let also_running = self
            .known_indexes()
            .into_iter()
            .filter(|k| *k > count)
            .map(|k| self.host(k))
            .filter(|h| running_pid(config, h).is_some())
            .map(|h| h.name)
            .collect();
        Ok(Lab {
            hosts,
            key_path: config.key_path(),
            also_running,
        })
    }

    /// Waits for every host to answer SSH, in parallel; the first failure (in host order) wins.
    /// Hosts already up are checked too (another process may have started them a moment ago),
    /// but only the ones just `started` are announced as ready.
    async fn wait_all(&self, hosts: &[LabHost], started: &[u8]) -> Result<(), LabError> {
        let mut set = JoinSet::new();
        for host in hosts {
            let (host, config) = (host.clone(), self.config.clone());
            let progress = if started.contains(&host.index) {
                self.progress.clone()
            } else {
                quiet()
            };
            set.spawn(async move { (host.index, wait_ready(&config, &host, &progress).await) });
        }
        let mut failures = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((index, Err(e))) => failures.push((index, e)),
                Ok((_, Ok(()))) => {}
                Err(e) => failures.push((
                    0,
                    LabError::Io {
                        path: PathBuf::new(),
                        source: std::io::Error::other(e.to_string()),
                    },
                )),
            }
        }
        failures.sort_by_key(|(index, _)| *index);
        match failures.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Stops every host a previous `up` left (found by pid file, overlay dir or namespace),
    /// removes their namespaces, veths and overlays, then the bridge. Keeps the base image,
    /// the key and host keys. Returns the names of the hosts removed.
    pub async fn down(&self) -> Result<Vec<String>, LabError> {
        self.config.validate()?;
        prereq::check()?;
        let _lock = LabLock::acquire(&self.config.lock_file()).await?;
        let hosts: Vec<LabHost> = self
            .known_indexes()
            .into_iter()
            .map(|k| self.host(k))
            .collect();
        let mut set = JoinSet::new();
        for host in hosts.clone() {
            let (config, progress) = (self.config.clone(), self.progress.clone());
            set.spawn(async move {
                progress(&LabEvent::Stopping {
                    host: host.name.clone(),
                });
                let result = remove_host(&config, &host).await;
                if matches!(result, Ok(true)) {
                    progress(&LabEvent::Killed {
                        host: host.name.clone(),
                    });
                }
                (host.index, result)
            });
        }
        let mut failures = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((index, Err(e))) => failures.push((index, e)),
                Ok((_, Ok(_))) => {}
                Err(e) => failures.push((
                    0,
                    LabError::Io {
                        path: PathBuf::new(),
                        source: std::io::Error::other(e.to_string()),
                    },
                )),
            }
        }
        failures.sort_by_key(|(index, _)| *index);
        if let Some((_, e)) = failures.into_iter().next() {
            return Err(e);
        }
        remove_bridge(&self.config).await?;
        Ok(hosts.into_iter().map(|h| h.name).collect())
    }

    /// Every host a previous `up` left a trace of, with its pid, namespace and SSH state.
    pub async fn status(&self) -> Result<Vec<HostStatus>, LabError> {
        let mut set = JoinSet::new();
        for k in self.known_indexes() {
            let host = self.host(k);
            let config = self.config.clone();
            set.spawn(async move {
                let netns = netns_exists(&host.netns);
                let ssh = netns && host.ssh_answers().await;
                HostStatus {
                    pid: running_pid(&config, &host),
                    netns,
                    ssh,
                    host,
                }
            });
        }
        let mut all = Vec::new();
        while let Some(joined) = set.join_next().await {
            if let Ok(status) = joined {
                all.push(status);
            }
        }
        all.sort_by_key(|s| s.host.index);
        Ok(all)
    }

    /// Indexes of hosts with any trace: a pid file, an overlay dir, a namespace or a veth.
    pub fn known_indexes(&self) -> Vec<u8> {
        let prefix = self.config.host_prefix.as_str();
        let mut found: BTreeSet<u8> = existing_netns_indexes(prefix).into_iter().collect();
        let names_in = |dir: PathBuf, suffix: &str| -> Vec<u8> {
            std::fs::read_dir(dir)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter_map(|e| {
                            let name = e.file_name().to_string_lossy().into_owned();
                            parse_index(name.strip_suffix(suffix)?, prefix)
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        found.extend(names_in(self.config.run_dir.clone(), ".pid"));
        found.extend(names_in(self.config.state_dir.join("hosts"), ""));
        found.extend((1..=MAX_HOSTS).filter(|k| link_exists(&self.host(*k).veth)));
        found.into_iter().collect()
    }
}

/// Waits until `host` answers SSH; fails early if its nspawn exits, late after the timeout.
async fn wait_ready(
    config: &LabConfig,
    host: &LabHost,
    progress: &Progress,
) -> Result<(), LabError> {
    let started = Instant::now();
    loop {
        if host.ssh_answers().await {
            progress(&LabEvent::Ready {
                host: host.name.clone(),
                took: started.elapsed(),
            });
            return Ok(());
        }
        if running_pid(config, host).is_none() {
            return Err(host_failed(
                config,
                host,
                "systemd-nspawn exited before SSH answered".into(),
            ));
        }
        if started.elapsed() > config.ssh_timeout {
            return Err(host_failed(
                config,
                host,
                format!("no SSH answer within {}s", config.ssh_timeout.as_secs()),
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A host failure carrying the last lines of its nspawn log.
fn host_failed(config: &LabConfig, host: &LabHost, reason: String) -> LabError {
    let log = config.log_file(&host.name);
    let text = std::fs::read(&log)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut log_tail = tail(&strip_ansi(&text), 15);
    if log_tail.is_empty() {
        log_tail = "(empty)".to_owned();
    }
    LabError::HostFailed {
        host: host.name.clone(),
        ip: host.ip.to_string(),
        reason,
        log,
        log_tail,
    }
}

/// Removes the console's colour escapes so a log tail reads cleanly in an error.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip `ESC [ ... final-byte`.
            if chars.next() == Some('[') {
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// Stops one host and removes everything `up` made for it except its host keys.
async fn remove_host(config: &LabConfig, host: &LabHost) -> Result<bool, LabError> {
    let killed = stop(config, host).await?;
    remove_host_net(host).await?;
    let dir = config.host_dir(&host.name);
    if dir.exists() {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        if let Some(mount) = mounted_under(&mounts, &dir) {
            return Err(LabError::Command {
                command: format!("remove {}", dir.display()),
                status: "refused".into(),
                stderr: format!("{mount} is still mounted"),
            });
        }
        std::fs::remove_dir_all(&dir).map_err(LabError::io(&dir))?;
    }
    Ok(killed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_console_colours() {
        assert_eq!(
            strip_ansi("[\u{1b}[0;32m  OK  \u{1b}[0m] Started\r\n"),
            "[  OK  ] Started\n"
        );
    }

    #[tokio::test]
    async fn invalid_counts_fail_before_anything_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LabConfig {
            state_dir: dir.path().join("state"),
            run_dir: dir.path().join("run"),
            ..LabConfig::default()
        };
        let manager = LabManager::new(config);
        for n in [0, 101, 300] {
            let err = manager
                .up(n)
                .await
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert_eq!(
                err,
                format!("lab size must be between 1 and 100 hosts, got {n}")
            );
        }
        assert!(!dir.path().join("state").exists() && !dir.path().join("run").exists());
    }

    #[test]
    fn finds_traces_in_its_own_dirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = LabConfig {
            state_dir: dir.path().join("state"),
            run_dir: dir.path().join("run"),
            ..LabConfig::default()
        };
        std::fs::create_dir_all(config.host_dir("lab4")).expect("mkdir");
        std::fs::create_dir_all(config.host_dir("notalab")).expect("mkdir");
        std::fs::create_dir_all(&config.run_dir).expect("mkdir");
        std::fs::write(config.pid_file("lab7"), "1\n").expect("write");
        std::fs::write(config.log_file("lab9"), "").expect("write");
        std::fs::write(config.pid_file("other5"), "1\n").expect("write");
        let found = LabManager::new(config.clone()).known_indexes();
        assert!(found.contains(&4) && found.contains(&7), "{found:?}");
        assert!(!found.contains(&9) && !found.contains(&5), "{found:?}");
        config.host_prefix = "other".into();
        assert!(LabManager::new(config).known_indexes().contains(&5));
    }
}
