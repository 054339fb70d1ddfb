//! A small pool of [`RemoteShell`]s for one host. Requests queue on a semaphore so that at
//! most [`MAX_SHELLS`] channels are open for shells at any time, well below sshd's default
//! `MaxSessions 10`, leaving room for the bulk upload channels.

use std::sync::{Arc, Mutex};

use openssh::Session;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::host_agent::AgentUse;
use crate::remote_shell::RemoteShell;

/// Upper bound on concurrently open remote shells per host.
pub(crate) const MAX_SHELLS: usize = 4;

#[derive(Debug)]
pub(crate) struct ShellPool {
    idle: Mutex<Vec<RemoteShell>>,
    permits: Semaphore,
}

/// A shell checked out of the pool; give it back with [`ShellPool::checkin`] after a
/// successful request, or drop it (which closes its channel) after a failed one.
#[derive(Debug)]
pub(crate) struct Lease<'a> {
    pub(crate) shell: RemoteShell,
    _permit: SemaphorePermit<'a>,
}

impl ShellPool {
    pub(crate) fn new() -> Self {
        ShellPool {
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(MAX_SHELLS),
        }
    }

    /// Adds an already started shell (the one opened while connecting).
    pub(crate) fn add_idle(&self, shell: RemoteShell) {
        self.lock_idle().push(shell);
    }

    /// Waits for a free slot, then reuses an idle shell or opens a new one. Idle shells plus
    /// busy ones never exceed `MAX_SHELLS`: a new shell is only opened when none is idle.
    pub(crate) async fn checkout(
        &self,
        session: &Arc<Session>,
        agent: &AgentUse,
    ) -> Result<Lease<'_>, openssh::Error> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| openssh::Error::Disconnected)?;
        let idle = self.lock_idle().pop();
        let shell = match idle {
            Some(shell) => shell,
            None => RemoteShell::spawn(Arc::clone(session), agent).await?,
        };
        Ok(Lease {
            shell,
            _permit: permit,
        })
    }

    pub(crate) fn checkin(&self, lease: Lease<'_>) {
        if !self.permits.is_closed() {
            self.lock_idle().push(lease.shell);
        }
    }

    /// Refuses further checkouts and ends every idle shell. Shells still busy end when their
    /// request finishes and they are dropped.
    pub(crate) async fn close(&self) {
        self.permits.close();
        let shells: Vec<RemoteShell> = std::mem::take(&mut *self.lock_idle());
        for shell in shells {
            shell.close().await;
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<RemoteShell>> {
        // A panic while holding this lock cannot leave the Vec inconsistent.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}
