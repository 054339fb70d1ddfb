//! How the engine obtains a [`Transport`] for a host. The engine works out the target from the
//! host's connection variables (`ansible_host`, `ansible_port`, `ansible_user`,
//! `ansible_ssh_private_key_file`, `ansible_connection`); a [`Connector`] turns it into a live
//! transport. The CLI's connector opens SSH; tests use one that hands out local transports.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use etcdplay_transport::{LocalTransport, Prefetching, SshSetting, Transport, TransportError};
use tokio::sync::{OnceCell, Semaphore};

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

/// What the pool holds, for `--timing`, benchmarks and tests (see [`crate::Engine::connections`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionUsage {
    /// Connections open now.
    pub open: usize,
    /// The most connections that were open at the same time.
    pub peak_open: usize,
    /// Connections closed before the end of the run because the run was done with the host.
    pub released: usize,
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
/// at most `--forks` of them being opened at once; closed when the run no longer needs the
/// host ([`ConnectionPool::release`]) or at the end of the run ([`ConnectionPool::close_all`]).
pub(crate) struct ConnectionPool {
    connector: Arc<dyn Connector>,
    slots: Mutex<HashMap<ConnectTarget, Slot>>,
    /// `--forks` permits for opening connections: a task's fork permit already bounds most
    /// connects, but an extension's preflight or a delegation may ask outside it, and each
    /// SSH handshake costs a process and descriptors while it runs.
    opening: Semaphore,
    /// How many connections are open now, and the most that were open at once.
    held: AtomicUsize,
    peak_held: AtomicUsize,
    /// Connections closed before the end of the run because the run was done with the host.
    released: AtomicUsize,
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
    pub(crate) fn new(connector: Arc<dyn Connector>, forks: usize) -> Self {
        ConnectionPool {
            connector,
            slots: Mutex::new(HashMap::new()),
            opening: Semaphore::new(forks.max(1)),
            held: AtomicUsize::new(0),
            peak_held: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
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
            let opening = self.opening.acquire().await;
            let started = std::time::Instant::now();
            let result = self.connector.connect(target).await;
            drop(opening);
            if let Ok(t) = &result {
                let now = self.held.fetch_add(1, Ordering::SeqCst) + 1;
                self.peak_held.fetch_max(now, Ordering::SeqCst);
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
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(target);
        if slot.is_some_and(|s| matches!(s.get(), Some(Ok(_)))) {
            self.held.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Closes the open connections to `hosts` (as the inventory names them), for hosts the run
    /// is done with; a later request for one of them opens a new connection, as after
    /// [`ConnectionPool::forget`]. A failed connect stays remembered (it holds nothing, and
    /// keeps later tasks from waiting for the connect timeout again), and so does a connect
    /// still in progress. Call it only when no task of these hosts is running.
    pub(crate) async fn release(&self, hosts: &HashSet<String>) {
        if hosts.is_empty() {
            return;
        }
        let taken: Vec<(ConnectTarget, Slot)> = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let open: Vec<ConnectTarget> = slots
                .iter()
                .filter(|(t, s)| hosts.contains(&t.host) && matches!(s.get(), Some(Ok(_))))
                .map(|(t, _)| t.clone())
                .collect();
            open.into_iter()
                .filter_map(|t| slots.remove_entry(&t))
                .collect()
        };
        self.released.fetch_add(taken.len(), Ordering::SeqCst);
        self.close_slots(taken).await;
    }

    /// Closes every open transport.
    pub(crate) async fn close_all(&self) {
        let slots: Vec<(ConnectTarget, Slot)> = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        self.close_slots(slots).await;
    }

    /// Closes the open transports of `slots` (already taken out of the pool) at the same time.
    async fn close_slots(&self, slots: Vec<(ConnectTarget, Slot)>) {
        let closing = slots
            .iter()
            .filter_map(|(target, s)| Some((target, s.get()?.as_ref().ok()?.clone())))
            .map(|(target, t)| async move {
                self.count_end(&target.host, t.as_ref()).await;
                let _ = t.close().await;
                self.held.fetch_sub(1, Ordering::SeqCst);
            });
        futures::future::join_all(closing).await;
    }

    /// Connections open now, the most open at once so far, and how many were closed early
    /// because the run was done with their host.
    pub(crate) fn usage(&self) -> ConnectionUsage {
        ConnectionUsage {
            open: self.held.load(Ordering::SeqCst),
            peak_open: self.peak_held.load(Ordering::SeqCst),
            released: self.released.load(Ordering::SeqCst),
        }
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
            let mut processes = self.processes.lock().unwrap_or_else(|p| p.into_inner());
            // A host released and connected again adds to its figure.
            match processes.iter_mut().find(|(h, _)| h == host) {
                Some((_, count)) => *count += end - start,
                None => processes.push((host.to_string(), end - start)),
            }
        }
    }
}
