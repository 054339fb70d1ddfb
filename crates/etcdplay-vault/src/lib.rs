//! Ansible Vault as etcdplay reads and writes it. [`codec`] is the file format (`$ANSIBLE_VAULT;
//! 1.1;AES256` and `1.2` with a vault id: PBKDF2-SHA256 keys, AES-256-CTR, HMAC-SHA256 checked
//! before anything is decrypted); [`Keyring`] holds the run's secrets and picks them in Ansible's
//! order; [`source`] is where passwords come from (files, scripts, client scripts, a prompt);
//! [`session`] is the keyring the CLI installs once for the whole run, used by every reader of
//! control-node files; [`redact`] remembers what was decrypted so that output never shows it.

pub mod codec;
mod error;
mod keyring;
pub mod redact;
pub mod session;
pub mod source;

pub use codec::{is_vaulted, MAX_VAULT_TEXT};
pub use error::{FormatProblem, VaultError};
pub use keyring::{Keyring, VaultSecret, DEFAULT_VAULT_ID};
