//! The run's keyring. The CLI installs it once, before any file is read; every reader of
//! control-node files (the YAML loader's `!vault` scalars, whole vaulted files, `copy` and
//! `template` sources, `lookup('file')`) decrypts through [`decrypt`], which also remembers
//! the plaintext for [`crate::redact`]. A process-wide value rather than a parameter because
//! vault data may sit in any file any crate reads, as Ansible's `VaultSecretsContext` is.
//!
//! An inline `!vault` value that cannot be decrypted is not an error where it is read: Ansible
//! 2.19 decrypts such values when they are used, so an unused one without its secret is fine.
//! The loader stores [`undecryptable`]'s marker instead, and the templating layer turns it
//! into Ansible's error when the variable is read ([`undecryptable_message`]).

use std::sync::{Arc, RwLock};

use zeroize::Zeroizing;

use crate::error::VaultError;
use crate::keyring::Keyring;
use crate::redact;

static KEYRING: RwLock<Option<Arc<Keyring>>> = RwLock::new(None);

/// Makes `keyring` the run's secrets (replacing any earlier one).
pub fn install(keyring: Keyring) {
    *KEYRING.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(keyring));
}

/// The installed keyring (empty when none was installed).
pub fn keyring() -> Arc<Keyring> {
    KEYRING
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Decrypts vault text with the run's keyring and remembers the plaintext for redaction.
pub fn decrypt(text: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let decrypted = keyring().decrypt(text)?;
    if let Ok(plain) = std::str::from_utf8(&decrypted.plaintext) {
        redact::remember(plain);
    }
    Ok(decrypted.plaintext)
}

const MARKER: &str = "\u{1}etcdplay-undecryptable-vault\u{1}";

/// The value a `!vault` scalar gets when it cannot be decrypted: it carries the error and
/// where the value was written (`file:line:col`), never any ciphertext or secret.
pub fn undecryptable(location: &str, error: &VaultError) -> String {
    format!("{MARKER}{location}: Attempt to use undecryptable variable: {error}")
}

/// The error to report when a variable holding [`undecryptable`]'s marker is used.
pub fn undecryptable_message(value: &str) -> Option<&str> {
    value.strip_prefix(MARKER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_names_the_place_and_the_error_only() {
        let v = undecryptable("vars.yml:3:7", &VaultError::NoSecrets);
        assert_eq!(
            undecryptable_message(&v),
            Some("vars.yml:3:7: Attempt to use undecryptable variable: Attempting to decrypt but no vault secrets found.")
        );
        assert_eq!(undecryptable_message("plain"), None);
    }
}
