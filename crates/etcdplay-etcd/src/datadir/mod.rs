//! The offline etcd data-dir reader. [`read_data_dir`] reconstructs the membership an etcd
//! member will restore when it restarts on a data dir (newest valid `.snap`, then the WAL's
//! conf changes, with the bbolt backend as cross-check or, for 3.6+, as primary), and
//! [`DataDirReport::verdict`] judges a planned peer configuration against it. The reader is
//! pure code over a [`DataDirSource`], so it runs the same on a local dir, on bytes fetched
//! from a remote host, or on the host itself (`etcdplay-datadir-reader`), whose result comes
//! back through [`encode_result`]/[`decode_result`].

mod bbolt;
mod check;
mod entry;
mod error;
mod member;
mod protobuf;
mod remote;
mod report;
mod seqread;
mod snap;
mod source;
mod verdict;
mod wal;
pub(crate) mod wire;

pub use check::read_data_dir;
pub use error::{Corruption, DataDirError};
pub use member::Member;
pub use protobuf::ProtoError;
pub use remote::{
    list_command, parse_list, read_command, shell_quote, size_command, CommandRunner, CommandSource,
};
pub use report::{BackendUse, DataDirReport, DataDirState, ReadOptions};
pub use source::{DataDirSource, LocalDir, MemDir, SourceError};
pub use verdict::{verdict, PeerPlan, PeerScheme, Verdict};
pub use wire::{decode_result, encode_result, WireError, WIRE_VERSION};
