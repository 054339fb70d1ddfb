//! The transport is the only part of etcdplay that talks to hosts. Everything above it (modules,
//! the engine) sees a host as a [`Transport`]: run a shell script and get its exit code and
//! output, upload bytes atomically, download a file. The SSH implementation keeps one connection
//! and one long-lived remote shell per host, so a request costs one round trip instead of a new
//! SSH channel and PAM session; the local implementation serves `connection: local` and tests.

mod change_batch;
mod error;
mod host_agent;
mod local;
mod prefetch;
mod remote_shell;
mod request;
pub mod script;
mod shell_pool;
mod shell_protocol;
mod shipped;
mod ssh;
mod ssh_args;
mod ssh_error_text;
mod ssh_options;
#[cfg(test)]
mod test_support;

pub use error::TransportError;
pub use host_agent::{agent_hint_path, HostAgent, AGENT_CACHE_DIR, AGENT_NAME, AGENT_PREFILL_HINT};
pub use local::LocalTransport;
pub use prefetch::{Prefetching, INLINE_PROBE};
pub use request::{
    Become, BecomeMethod, ExecOutput, ExecRequest, PutRequest, Secret, SuOptions, SudoOptions,
};
pub use shipped::{control_platform, ShippedBinary};
pub use ssh::{SshTransport, DESCRIPTORS_PER_IDLE_CONNECTION};
pub use ssh_args::{parse_ssh_args, SshArgsError, SshSetting};
pub use ssh_options::{HostKeyChecking, SshOptions};

use async_trait::async_trait;

/// The most a command may write to stdout, and separately to stderr, in one request; more fails
/// the request with [`TransportError::OutputTooLarge`] instead of growing etcdplay's memory
/// with whatever a host prints (300 MB of output once cost 2.4 GB of RSS). Generous for what
/// etcdplay reads through commands: probes and `slurp` carry file contents in base64 (a 48 MiB
/// file), the data-dir reader's commands return at most a 64 MiB bbolt page or an 8 MiB WAL
/// block, its shipped reader a JSON report of a few KiB.
pub const MAX_EXEC_OUTPUT: u64 = 64 << 20;

/// The most [`Transport::get`] reads of one file (`fetch`, the backups `--leftover-membership
/// migrate` copies back and restores): etcd's suggested maximum backend size
/// (`--quota-backend-bytes`), so that a backup of any member fits. The file is held in memory
/// whole.
pub const MAX_GET_SIZE: u64 = 8 << 30;

/// One host, as modules see it.
///
/// Implementations must be cheap to call concurrently: the engine may run several requests on
/// the same host at once (for example `free` strategy or `delegate_to`), and the implementation
/// is responsible for keeping concurrent SSH channels below sshd's `MaxSessions`.
#[async_trait]
pub trait Transport: Send + Sync {
    /// The inventory name of the host this transport reaches (used in errors).
    fn host(&self) -> &str;

    /// Runs `request.script` with `/bin/sh` on the host and returns its exit code and output.
    /// A non-zero exit code is not an error; only failing to run the script at all is.
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError>;

    /// Writes `request.content` to `request.dest` atomically: a temporary file in the same
    /// directory gets the mode, owner and group first and is then renamed over the destination,
    /// so a reader (or an interruption) never sees a half-written file.
    async fn put(&self, request: PutRequest) -> Result<(), TransportError>;

    /// [`Transport::exec`] of a request that changes nothing a task's probe reads (a look at
    /// files, the data-dir reader). Answers read ahead for later tasks stay kept, where any
    /// other request drops them (see [`Prefetching`]).
    async fn exec_reading(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        self.exec(request).await
    }

    /// [`Transport::exec`] of a change whose script etcdplay's own module wrote (no shell text
    /// of the user's outside quotes, so it parses as part of a larger script): a transport may
    /// send read-ahead probes of the next task right after it, in the same request (see
    /// [`Prefetching::prefetch_after_change`]).
    async fn exec_change(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        self.exec(request).await
    }

    /// [`Transport::put`], then `after` (a script that only reads, such as a stat of the file
    /// just written) as the same user, returning `after`'s answer. A transport that can runs
    /// both in one request (one round trip and one remote shell less per written file); the
    /// file is in place before `after` starts either way, and a failed write is the put's
    /// error, with `after` never run.
    async fn put_then_read(
        &self,
        request: PutRequest,
        after: ExecRequest,
    ) -> Result<ExecOutput, TransportError> {
        self.put(request).await?;
        self.exec(after).await
    }

    /// Reads a whole file from the host.
    async fn get(&self, path: &str, become_: Option<&Become>) -> Result<Vec<u8>, TransportError>;

    /// Closes the connection and stops every helper process this transport started.
    async fn close(&self) -> Result<(), TransportError>;
}
