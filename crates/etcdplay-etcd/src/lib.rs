//! etcd-specific knowledge for etcdplay, none of which needs the play runner: the offline
//! data-dir reader ([`datadir`]), which reconstructs the membership an etcd data dir will
//! restore on restart from the WAL, `.snap` files and the bbolt backend and judges whether a
//! planned peer configuration (for example a switch to `https://` peer URLs) is safe to apply;
//! a client of a live cluster ([`client`]); and what a systemd unit that runs etcd says
//! ([`unit`]: its effective settings, and whether the running member is stale).

pub mod client;
pub mod datadir;
pub mod unit;

pub use client::{
    cluster_ok, cluster_problems, render_status_table, serving_problems, ClientError,
    ClusterClient, ClusterMember, EndpointStatus, EndpointTls, EtcdVersion, MemberAdded,
    MembershipRefusal, SecretKeyPem, VersionReport,
};
pub use datadir::{
    decode_result, encode_result, read_data_dir, verdict, BackendUse, CommandRunner, CommandSource,
    Corruption, DataDirError, DataDirReport, DataDirSource, DataDirState, LocalDir, MemDir, Member,
    PeerPlan, PeerScheme, ReadOptions, SourceError, Verdict, WireError,
};
