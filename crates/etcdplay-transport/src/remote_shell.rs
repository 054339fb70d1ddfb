//! One long-lived remote `/bin/sh` running the [`crate::shell_protocol`] loop (or the host
//! agent, which speaks the same protocol: [`crate::host_agent`]) on its own SSH channel. Dropping it closes the channel's stdin, which ends the remote loop.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openssh::{Child, ChildStdin, ChildStdout, Session, Stdio};
use tokio::io::BufReader;

use crate::host_agent::{AgentUse, Started};
use crate::shell_protocol::{CallError, ShellChannel, LOOP_SCRIPT};
use crate::ExecOutput;

/// A remote shell ready to take requests.
#[derive(Debug)]
pub(crate) struct RemoteShell {
    channel: ShellChannel<ChildStdin, BufReader<ChildStdout>>,
    child: Child<Arc<Session>>,
}

/// Makes each shell's marker distinct, so an answer from the wrong stream is recognised.
static SHELL_COUNTER: AtomicU64 = AtomicU64::new(1);

impl RemoteShell {
    /// Opens a channel running the host agent if `agent` says to try it, else (or when it
    /// refuses or fails to start) the shell loop, and waits until it reports ready.
    pub(crate) async fn spawn(
        session: Arc<Session>,
        agent: &AgentUse,
    ) -> Result<Self, openssh::Error> {
        if let Some(prefix) = agent.start_prefix() {
            match Self::start(Arc::clone(&session), &prefix).await {
                Ok((shell, Started::AgentRefused)) => {
                    agent.turn_off();
                    shell.close().await;
                }
                Ok((shell, started)) => {
                    agent.note(started);
                    return Ok(shell);
                }
                // A broken cached copy (or a connection problem, which the loop then meets
                // as well): the loop, and no agent again on this connection.
                Err(_) => agent.turn_off(),
            }
        }
        let (shell, started) = Self::start(session, "").await?;
        agent.note(started);
        Ok(shell)
    }

    /// Starts `prefix` followed by the loop; the answer says which of them serves.
    async fn start(session: Arc<Session>, prefix: &str) -> Result<(Self, Started), openssh::Error> {
        let marker = format!(
            "etcdplay-{}-{}",
            std::process::id(),
            SHELL_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut child = Session::to_command(session, "/bin/sh")
            .arg("-c")
            .arg(format!("{prefix}{LOOP_SCRIPT}"))
            .arg("etcdplay")
            .arg(&marker)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .await?;
        let (Some(stdin), Some(stdout)) = (child.stdin().take(), child.stdout().take()) else {
            return Err(openssh::Error::ChildIo(io::Error::other(
                "remote shell has no pipes",
            )));
        };
        let mut channel = ShellChannel::new(stdin, BufReader::new(stdout), marker);
        let started = channel.ready().await.map_err(openssh::Error::ChildIo)?;
        Ok((RemoteShell { channel, child }, started))
    }

    /// Runs one encoded request whose stdout and stderr may each be at most `limit` bytes.
    /// After an error the shell must be dropped.
    pub(crate) async fn call(
        &mut self,
        id: u64,
        frame: &[u8],
        limit: u64,
    ) -> Result<ExecOutput, CallError> {
        self.channel.call(id, frame, limit).await
    }

    /// Ends the remote loop by closing its stdin and waits for the channel to close.
    pub(crate) async fn close(self) {
        let RemoteShell { channel, child } = self;
        let (stdin, stdout) = channel.into_parts();
        drop(stdin);
        drop(stdout);
        let _ = child.wait().await;
    }
}
