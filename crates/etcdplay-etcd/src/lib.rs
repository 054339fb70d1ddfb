//! etcd-specific knowledge for etcdplay. Today this is the offline data-dir reader
//! ([`datadir`]): it reconstructs the membership an etcd data dir will restore on restart,
//! from the WAL, `.snap` files and the bbolt backend, and judges whether a planned peer
//! configuration (for example a switch to `https://` peer URLs) is safe to apply.

pub mod client;
pub mod datadir;

pub use client::{
    cluster_ok, cluster_problems, render_status_table, ClientError, ClusterClient, ClusterMember,
    EndpointStatus, EndpointTls, MemberAdded, MembershipRefusal, SecretKeyPem,
};
pub use datadir::{
    decode_result, encode_result, read_data_dir, verdict, BackendUse, CommandRunner, CommandSource,
    Corruption, DataDirError, DataDirReport, DataDirSource, DataDirState, LocalDir, MemDir, Member,
    PeerPlan, PeerScheme, ReadOptions, SourceError, Verdict, WireError,
};
