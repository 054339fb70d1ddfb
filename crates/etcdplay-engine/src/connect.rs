//! How the engine obtains a [`Transport`] for a host. The engine works out the target from the
//! host's connection variables (`ansible_host`, `ansible_port`, `ansible_user`,
//! `ansible_ssh_private_key_file`, `ansible_connection`); a [`Connector`] turns it into a live
//! transport. The CLI's connector opens SSH; tests use one that hands out local transports.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use etcdplay_transport::{LocalTransport, Prefetching, SshSetting, Transport, TransportError};
use tokio::sync::OnceCell;

use crate::error::ConnectError;

/// Where and how to reach one inventory host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTarget {
    /// The inventory name.
    pub host: String,
    /// `ansible_host`, or the inventory name.
    pub address: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub key_file: Option<String>,
    /// `ansible_ssh_common_args` then `ansible_ssh_extra_args`, parsed.
    pub ssh_settings: Vec<SshSetting>,
    pub kind: ConnectionKind,
}

/// `ansible_connection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionKind {
    Ssh,
    Local,
}

/// Opens transports.
#[async_trait]
pub trait Connector: Send + Sync {
    async fn connect(&self, target: &ConnectTarget) -> Result<Arc<dyn Transport>, TransportError>;
}

/// Hands out local transports for every host: `connection: local` everywhere. Used by unit
/// tests of the engine and by the `local` connection kind of other connectors.
#[derive(Debug, Default)]
pub struct LocalConnector;

#[async_trait]
impl Connector for LocalConnector {
    async fn connect(&self, target: &ConnectTarget) -> Result<Arc<dyn Transport>, TransportError> {
        Ok(Arc::new(LocalTransport::new(target.host.clone())))
    }
}

type Slot = Arc<OnceCell<Result<Arc<Prefetching>, ConnectError>>>;

/// Prints the host's pid counter: the last pid handed out in the host's pid namespace, which
/// is `cat`'s own. (The shell's `read` cannot do it: it reads byte by byte, and the kernel
/// answers a read of an integer sysctl past its first byte with end of file.)
const PID_COUNTER: &str = "cat /proc/sys/kernel/ns_last_pid";

async fn pid_counter(transport: &dyn Transport) -> Option<u64> {
    let out = transport
        .exec(etcdplay_transport::ExecRequest::script(PID_COUNTER))
        .await
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// One connection per target, opened at most once even when many tasks ask at the same time,
/// and closed together at the end of the run.
pub(crate) struct ConnectionPool {
    connector: Arc<dyn Connector>,
    slots: Mutex<HashMap<ConnectTarget, Slot>>,
    /// How long each connection took to open, for `--timing`.
    connect_times: Mutex<Vec<(String, std::time::Duration)>>,
    /// Whether to count the processes each SSH host starts during the run (`--timing`).
    counting: AtomicBool,
    /// The host's pid counter right after connecting, per SSH host.
    pid_start: Mutex<HashMap<String, u64>>,
    /// Pids handed out on each host from the first request to the last (see
    /// [`ConnectionPool::host_processes`]).
    processes: Mutex<Vec<(String, u64)>>,
}

impl std::hash::Hash for ConnectTarget {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.host.hash(state);
        self.address.hash(state);
        self.port.hash(state);
        self.user.hash(state);
        self.ssh_settings.hash(state);
    }
}

impl ConnectionPool {
    pub(crate) fn new(connector: Arc<dyn Connector>) -> Self {
        ConnectionPool {
            connector,
            slots: Mutex::new(HashMap::new()),
            connect_times: Mutex::new(Vec::new()),
            counting: AtomicBool::new(false),
            pid_start: Mutex::default(),
            processes: Mutex::default(),
        }
    }

    /// Counts the processes each SSH host starts (see [`ConnectionPool::host_processes`]).
    pub(crate) fn count_processes(&self) {
        self.counting.store(true, Ordering::Relaxed);
    }

    /// Per SSH host, how many pids the host handed out between etcdplay's first request and
    /// its last, read from the host's pid counter (`/proc/sys/kernel/ns_last_pid`): every
    /// process started on the host in that time, etcdplay's (its requests, the remote shells
    /// after the first, the commands its probes run) and any other (a busy host's own). The
    /// two readings are requests of their own and are counted (~4 processes). Filled in by
    /// [`ConnectionPool::close_all`].
    pub(crate) fn host_processes(&self) -> Vec<(String, u64)> {
        self.processes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The transport for `target`; an error is the reason the host is unreachable, remembered
    /// so that later tasks do not wait for the connect timeout again.
    pub(crate) async fn get(
        &self,
        target: &ConnectTarget,
    ) -> Result<Arc<dyn Transport>, ConnectError> {
        Ok(self.get_prefetching(target).await?)
    }

    /// [`ConnectionPool::get`], as the read-ahead wrapper every connection comes in (see
    /// `read_ahead.rs`).
    pub(crate) async fn get_prefetching(
        &self,
        target: &ConnectTarget,
    ) -> Result<Arc<Prefetching>, ConnectError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(target.clone()).or_default().clone()
        };
        slot.get_or_init(|| async {
            let started = std::time::Instant::now();
            let result = self.connector.connect(target).await;
            if let Ok(t) = &result {
                if self.counting.load(Ordering::Relaxed) && target.kind == ConnectionKind::Ssh {
                    if let Some(start) = pid_counter(t.as_ref()).await {
                        self.pid_start
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(target.host.clone(), start);
                    }
                }
            }
            let result = result
                .map(|t| Arc::new(Prefetching::new(t)))
                .map_err(ConnectError::from);
            self.connect_times
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((target.host.clone(), started.elapsed()));
            result
        })
        .await
        .clone()
    }

    /// The slowest connection opened so far: host and time.
    pub(crate) fn slowest_connect(&self) -> Option<(String, std::time::Duration)> {
        self.connect_times
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .max_by_key(|(_, d)| *d)
            .cloned()
    }

    /// Forgets a broken connection so the next request reconnects (after a host came back).
    pub(crate) fn forget(&self, target: &ConnectTarget) {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(target);
    }

    /// Closes every open transport.
    pub(crate) async fn close_all(&self) {
        let slots: Vec<(ConnectTarget, Slot)> = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        let closing = slots
            .iter()
            .filter_map(|(target, s)| Some((target, s.get()?.as_ref().ok()?.clone())))
            .map(|(target, t)| async move {
                self.count_end(&target.host, t.as_ref()).await;
                let _ = t.close().await;
            });
        futures::future::join_all(closing).await;
    }

    /// Reads the pid counter of a counted host once more, before its connection closes.
    async fn count_end(&self, host: &str, transport: &Prefetching) {
        let start = self
            .pid_start
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(host);
        let Some(start) = start else { return };
        // A counter that wrapped around (pid_max) in between gives no figure.
        if let Some(end) = pid_counter(transport).await.filter(|end| *end >= start) {
            self.processes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((host.to_string(), end - start));
        }
    }
}
