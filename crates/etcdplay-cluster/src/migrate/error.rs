//! Why `--leftover-membership migrate|reset` stopped. Before every backup exists and verifies
//! nothing has been stopped, moved or deleted; after that, the step that failed says where the
//! members were left.

use etcdplay_transport::TransportError;

use crate::backup::BackupError;

/// Why `migrate`/`reset` stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MigrateError {
    /// A member's backup could not be made or verified: nothing was changed after it.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// A command of a later step (stopping, emptying, restoring, rolling) failed.
    #[error(transparent)]
    Step(#[from] StepError),
    /// `block` never repairs; the guard does not ask it to.
    #[error("block mode does not repair")]
    BlockMode,
    #[error("{host}: the unit sets no --name, which a restore needs")]
    NoName { host: String },
    #[error("{host}: the unit sets no --initial-advertise-peer-urls, which a restore needs")]
    NoAdvertisePeerUrls { host: String },
    #[error("{host}: a separate --wal-dir is not supported by migrate yet")]
    SeparateWalDir { host: String },
    /// Restoring without this member would drop it from the cluster.
    #[error("stored member {id:x} ({name}) is not started by this task on any host; migrate needs every member in the play")]
    MemberOutsideThePlay { id: u64, name: String },
    #[error("{host}: reading {path}: {source}")]
    ReadSnapshot {
        host: String,
        path: String,
        #[source]
        source: TransportError,
    },
    #[error("{host}: uploading the snapshot: {source}")]
    UploadSnapshot {
        host: String,
        #[source]
        source: TransportError,
    },
    /// A member did not answer healthy within the wait after a restart.
    #[error("the cluster did not become healthy: {last}")]
    NotHealthy {
        #[source]
        last: StepError,
    },
}

/// A command run as root on a member's host that did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StepError {
    #[error("{host}: {source}")]
    Transport {
        host: String,
        #[source]
        source: TransportError,
    },
    #[error("{host}: `{command}` failed (exit {rc}): {stderr}")]
    Failed {
        host: String,
        /// The command's first line.
        command: String,
        rc: i32,
        stderr: String,
    },
}
