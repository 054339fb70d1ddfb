//! The run's vault secrets and the order Ansible tries them in: for vault text whose header
//! names a vault id (1.2; a 1.1 text counts as `default`), the secrets with that label first,
//! then every other secret in the order they were given. The first secret whose HMAC matches
//! decrypts. Encryption uses the first secret, or the one `--encrypt-vault-id` names.

use std::fmt;

use zeroize::Zeroizing;

use crate::codec::{decrypt_envelope, encrypt, parse_envelope};
use crate::error::VaultError;

/// The label of a secret given without one, and of vault text without a vault id.
pub const DEFAULT_VAULT_ID: &str = "default";

/// One vault password and its label. `Debug` never shows the password.
#[derive(Clone)]
pub struct VaultSecret {
    label: String,
    password: Zeroizing<Vec<u8>>,
}

impl VaultSecret {
    pub fn new(label: impl Into<String>, password: Vec<u8>) -> Self {
        VaultSecret {
            label: label.into(),
            password: Zeroizing::new(password),
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub(crate) fn password(&self) -> &[u8] {
        &self.password
    }
}

impl fmt::Debug for VaultSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VaultSecret({:?}, <password hidden>)", self.label)
    }
}

/// The secrets of a run, in the order they were given.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    secrets: Vec<VaultSecret>,
}

/// Plaintext and the label of the secret that decrypted it.
#[derive(Debug)]
pub struct Decrypted {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub label: String,
}

impl Keyring {
    pub fn new(secrets: Vec<VaultSecret>) -> Self {
        Keyring { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn labels(&self) -> Vec<String> {
        self.secrets.iter().map(|s| s.label.clone()).collect()
    }

    /// Decrypts vault text, trying secrets in Ansible's order. The format is checked before
    /// any secret is needed, so damaged text is a format error even without a password.
    pub fn decrypt(&self, text: &[u8]) -> Result<Decrypted, VaultError> {
        let envelope = parse_envelope(text)?;
        if self.secrets.is_empty() {
            return Err(VaultError::NoSecrets);
        }
        let wanted = envelope.vault_id.as_deref().unwrap_or(DEFAULT_VAULT_ID);
        let matching = self.secrets.iter().filter(|s| s.label == wanted);
        let others = self.secrets.iter().filter(|s| s.label != wanted);
        for secret in matching.chain(others) {
            match decrypt_envelope(&envelope, secret.password()) {
                Ok(plaintext) => {
                    return Ok(Decrypted {
                        plaintext,
                        label: secret.label.clone(),
                    })
                }
                Err(VaultError::NoSecretDecrypts) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(VaultError::NoSecretDecrypts)
    }

    /// The secret to encrypt with: the one labelled `encrypt_vault_id`, else the first.
    pub fn encrypt_secret(
        &self,
        encrypt_vault_id: Option<&str>,
    ) -> Result<&VaultSecret, VaultError> {
        match encrypt_vault_id {
            Some(wanted) => self
                .secrets
                .iter()
                .find(|s| s.label == wanted)
                .ok_or_else(|| VaultError::NoEncryptVaultId {
                    wanted: wanted.to_string(),
                    known: self.labels(),
                }),
            None => self.secrets.first().ok_or(VaultError::NoEncryptSecret),
        }
    }

    /// Encrypts with [`Keyring::encrypt_secret`]; the header names its label (format 1.2)
    /// unless it is `default`.
    pub fn encrypt(
        &self,
        plaintext: &[u8],
        encrypt_vault_id: Option<&str>,
    ) -> Result<String, VaultError> {
        let secret = self.encrypt_secret(encrypt_vault_id)?;
        encrypt(plaintext, secret.password(), Some(&secret.label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(secrets: &[(&str, &str)]) -> Keyring {
        Keyring::new(
            secrets
                .iter()
                .map(|(l, p)| VaultSecret::new(*l, p.as_bytes().to_vec()))
                .collect(),
        )
    }

    #[test]
    fn the_secret_labelled_like_the_header_is_tried_first_then_the_others() {
        let text = encrypt(b"data", b"right", Some("prod")).unwrap();
        let keys = ring(&[("dev", "wrong"), ("other", "right"), ("prod", "right")]);
        assert_eq!(keys.decrypt(text.as_bytes()).unwrap().label, "prod");
        // No secret labelled prod: every secret is tried, in order.
        let keys = ring(&[("dev", "wrong"), ("other", "right")]);
        assert_eq!(keys.decrypt(text.as_bytes()).unwrap().label, "other");
        // The label is a hint only: a mislabelled secret still decrypts.
        let keys = ring(&[("prod", "wrong"), ("default", "right")]);
        assert_eq!(keys.decrypt(text.as_bytes()).unwrap().label, "default");
    }

    #[test]
    fn no_secret_and_no_matching_secret_are_ansibles_two_errors() {
        let text = encrypt(b"data", b"right", None).unwrap();
        assert_eq!(
            Keyring::default().decrypt(text.as_bytes()).unwrap_err(),
            VaultError::NoSecrets
        );
        assert_eq!(
            ring(&[("default", "wrong")])
                .decrypt(text.as_bytes())
                .unwrap_err(),
            VaultError::NoSecretDecrypts
        );
    }

    #[test]
    fn encrypting_uses_the_first_secret_or_the_named_one() {
        let keys = ring(&[("dev", "a"), ("prod", "b")]);
        let text = keys.encrypt(b"x", None).unwrap();
        assert!(text.starts_with("$ANSIBLE_VAULT;1.2;AES256;dev\n"));
        let text = keys.encrypt(b"x", Some("prod")).unwrap();
        assert!(text.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
        let e = keys.encrypt(b"x", Some("qa")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Did not find a match for --encrypt-vault-id=qa in the known vault-ids ['dev', 'prod']"
        );
        assert!(format!("{keys:?}").contains("<password hidden>"));
        assert!(!format!("{keys:?}").contains("\"a\""));
    }
}
