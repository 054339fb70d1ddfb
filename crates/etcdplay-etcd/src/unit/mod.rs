//! What a systemd unit that runs etcd says, read from text the host prints: the unit and its
//! drop-ins ([`ServiceUnit`]), etcd's effective settings from them ([`EtcdSettings`]), and
//! whether the running member is stale, i.e. started before its configuration last changed
//! ([`Staleness`], with the timestamps of [`parse_micros`]). Pure code: callers run the
//! scripts built here on the host and hand the output back.

mod service;
mod settings;
mod stale;
mod timestamp;

pub use service::{parse_env_file, split_words, ServiceUnit};
pub use settings::{raw_settings, ClientTls, EtcdSettings};
pub use stale::{
    config_inputs, parse_stat, show_script, stat_script, ServiceState, Staleness, TLS_FILE_KEYS,
};
pub use timestamp::{format_micros, parse_micros};
