//! How the engine obtains a [`Transport`] for a host. The engine works out the target from the
//! host's connection variables (`ansible_host`, `ansible_port`, `ansible_user`,
//! `ansible_ssh_private_key_file`, `ansible_connection`); a [`Connector`] turns it into a live
//! transport. The CLI's connector opens SSH; tests use one that hands out local transports.

use std::collections::HashMap;
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

/// One connection per target, opened at most once even when many tasks ask at the same time,
/// and closed together at the end of the run.
pub(crate) struct ConnectionPool {
    connector: Arc<dyn Connector>,
    slots: Mutex<HashMap<ConnectTarget, Slot>>,
    /// How long each connection took to open, for `--timing`.
    connect_times: Mutex<Vec<(String, std::time::Duration)>>,
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
        }
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
            let result = self
                .connector
                .connect(target)
                .await
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
        let slots: Vec<Slot> = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        let closing = slots
            .iter()
            .filter_map(|s| s.get().and_then(|r| r.as_ref().ok()).cloned())
            .map(|t| async move {
                let _ = t.close().await;
            });
        futures::future::join_all(closing).await;
    }
}
