//! Certificates for etcd clusters. A CA is created once on the control node (or brought by
//! the user) and kept in a PKI directory next to the inventory; member certificates (server
//! and client auth, with every name and address a member is reached by) and a client
//! certificate for tools are issued from it, reused while still good and re-issued when
//! names change, expiry nears, the CA changes or rotation is asked for. The CA itself is
//! rotated in three phases (`rotation.rs`), with `ca.pem` a trust bundle in between. Pure code: paths and
//! specs in, files out; no network. Private keys never appear in errors or `Debug` output.

mod ca;
mod dir;
mod error;
mod files;
mod inspect;
mod leaf;
mod material;
mod options;
mod profile;
mod report;
mod rotation;
mod san;
mod show;

pub use dir::{PkiDir, CA_CERT_FILE, CA_KEY_FILE, CLIENT_STEM};
pub use error::PkiError;
pub use files::read_private_key;
pub use inspect::client_auth_allowed;
pub use material::{LeafFiles, SecretPem};
pub use options::{EnsureOptions, Issued, MemberSpec};
pub use profile::{CLIENT_COMMON_NAME, DEFAULT_LEAF_VALIDITY_DAYS};
pub use report::EnsureReport;
pub use rotation::{RotationPhase, RotationState, RotationStep, ROTATION_STATE_FILE};
pub use san::San;
pub use show::{render_table, CertInfo};
