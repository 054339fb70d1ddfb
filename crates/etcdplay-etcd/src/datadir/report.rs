//! The reader's inputs and outputs: [`ReadOptions`] (where the WAL is, how to use the bbolt
//! backend, read block size) and [`DataDirReport`] (uninitialised, or the restored membership
//! with the local member's id and any warnings worth showing an operator).

use super::member::Member;

/// How the bbolt backend (`member/snap/db`) takes part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendUse {
    /// etcd 3.4/3.5 restore membership from `.snap` + WAL; bbolt may hold stale members
    /// (3.4's `snapshot restore` keeps the old ones), so differences only produce warnings.
    CrossCheck,
    /// etcd 3.6+ restore membership from bbolt.
    Primary,
    /// Do not open the backend.
    Skip,
}

impl BackendUse {
    /// The right mode for an etcd `major.minor` version.
    pub fn for_version(major: u32, minor: u32) -> Self {
        if (major, minor) >= (3, 6) {
            BackendUse::Primary
        } else {
            BackendUse::CrossCheck
        }
    }
}

/// Where and how to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// `--wal-dir` when set (absolute, or relative to the data dir); default `member/wal`.
    pub wal_dir: Option<String>,
    pub backend: BackendUse,
    /// WAL read-ahead in bytes: one `read_at` per block. Larger suits remote sources.
    pub block_size: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            wal_dir: None,
            backend: BackendUse::CrossCheck,
            block_size: 1 << 20,
        }
    }
}

/// What a data dir holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct DataDirReport {
    pub state: DataDirState,
}

/// Uninitialised (no WAL: etcd will bootstrap from its flags) or the restored membership.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DataDirState {
    Uninitialized,
    Initialized {
        /// The member that owns this data dir (WAL metadata).
        local_id: u64,
        cluster_id: u64,
        /// Members sorted by id.
        members: Vec<Member>,
        /// Oddities that do not change the verdict (stale backend entries, skipped broken
        /// snapshots, uncommitted conf changes).
        warnings: Vec<String>,
    },
}

impl DataDirReport {
    /// The local member's entry, if it is still a member.
    pub fn local_member(&self) -> Option<&Member> {
        match &self.state {
            DataDirState::Uninitialized => None,
            DataDirState::Initialized {
                local_id, members, ..
            } => members.iter().find(|m| m.id == *local_id),
        }
    }
}
