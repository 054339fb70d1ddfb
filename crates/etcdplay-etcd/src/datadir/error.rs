//! The reader's error type. Every variant names the file (and, inside a file, the byte
//! offset or raft index) so that "cannot verify" verdicts tell an operator where to look.

use super::protobuf::ProtoError;
use super::source::SourceError;

/// Why a data dir could not be read to a trustworthy membership. Serialisable (see
/// [`super::wire`]) so that a reader run on the host can hand it back unchanged.
#[derive(Debug, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum DataDirError {
    #[error("{path}: {source}")]
    Source {
        path: String,
        #[source]
        #[serde(with = "super::wire::source_error")]
        source: SourceError,
    },
    #[error("{path} at byte {offset}: {problem}")]
    Corrupt {
        path: String,
        offset: u64,
        problem: Corruption,
    },
    #[error("{dir}: WAL segments are not consecutive ({prev} is followed by {next})")]
    WalSequenceGap {
        dir: String,
        prev: String,
        next: String,
    },
    #[error("{dir}: no WAL metadata record, so the local member id is unknown")]
    NoMetadata { dir: String },
    #[error("{path} at byte {offset}: WAL metadata names member {found:x} of cluster {found_cluster:x}, earlier segments name {expected:x} of {expected_cluster:x}")]
    MetadataConflict {
        path: String,
        offset: u64,
        expected: u64,
        expected_cluster: u64,
        found: u64,
        found_cluster: u64,
    },
    #[error("{path} at byte {offset}: raft entry {index} is a ConfChangeV2, which this reader does not interpret")]
    ConfChangeV2 {
        path: String,
        offset: u64,
        index: u64,
    },
    #[error("{path} at byte {offset}: raft entry {index}: {problem}")]
    BadEntry {
        path: String,
        offset: u64,
        index: u64,
        problem: Corruption,
    },
    #[error("{path} at byte {offset}: raft entry {index} follows entry {last}, leaving a gap in the log")]
    EntryGap {
        path: String,
        offset: u64,
        index: u64,
        last: u64,
    },
    #[error("{path}: {problem}")]
    Backend { path: String, problem: Corruption },
}

/// What exactly is wrong with some bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum Corruption {
    #[error("file ends inside a record (torn or truncated write)")]
    Truncated,
    #[error("record of {0} bytes exceeds etcd's 10 MiB limit")]
    RecordTooLarge(u64),
    #[error("CRC mismatch: record says {stored:08x}, computed {computed:08x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error(transparent)]
    Proto(#[from] ProtoError),
    #[error("unknown WAL record type {0}")]
    UnknownRecordType(u64),
    #[error("unknown raft entry type {0}")]
    UnknownEntryType(u64),
    #[error("unknown conf change type {0}")]
    UnknownConfChangeType(u64),
    #[error("member JSON: {0}")]
    Json(String),
    #[error("{0}")]
    Format(String),
}
