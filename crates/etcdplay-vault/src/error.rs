//! What can go wrong with vault data, in Ansible's words where Ansible has words for it. None
//! of these carries a password or a decrypted byte.

/// A vault problem. Callers add the file (and line) it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The run has no vault secret at all.
    #[error("Attempting to decrypt but no vault secrets found.")]
    NoSecrets,
    /// No secret passed the HMAC check (wrong password, or the data was changed).
    #[error("Decryption failed (no vault secrets were found that could decrypt).")]
    NoSecretDecrypts,
    /// The text is not vault data or is damaged (truncated, not hex, wrong layout).
    #[error("Vault format error: {0}")]
    Format(FormatProblem),
    /// Only AES256 exists in format 1.1/1.2.
    #[error("Cipher '{0}' could not be found.")]
    UnknownCipher(String),
    /// More vault text than etcdplay decrypts.
    #[error("vault data larger than {} MiB; refused", .limit >> 20)]
    TooLarge { limit: usize },
    /// Encrypting needs a secret.
    #[error("A vault password must be specified to encrypt data")]
    NoEncryptSecret,
    /// `--encrypt-vault-id` names no known secret.
    #[error(
        "Did not find a match for --encrypt-vault-id={wanted} in the known vault-ids [{}]",
        python_list(known)
    )]
    NoEncryptVaultId { wanted: String, known: Vec<String> },
    /// Encrypting what already is vault data (Ansible refuses too).
    #[error("input is already encrypted")]
    AlreadyEncrypted,
    /// The system's random source failed (no salt, no encryption).
    #[error("cannot get random bytes for the salt: {0}")]
    Random(String),
}

/// Which part of the vault text is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatProblem {
    #[error("no $ANSIBLE_VAULT header")]
    NoHeader,
    #[error("the header needs a version and a cipher ($ANSIBLE_VAULT;1.1;AES256)")]
    BadHeader,
    #[error("the body is not hexadecimal")]
    BodyNotHex,
    #[error("the body needs a salt, an HMAC and a ciphertext (truncated?)")]
    MissingParts,
    #[error("the salt is not hexadecimal")]
    SaltNotHex,
    #[error("the HMAC is not hexadecimal")]
    HmacNotHex,
    #[error("the ciphertext is not hexadecimal")]
    CiphertextNotHex,
    #[error("the ciphertext is not a whole number of AES blocks (truncated?)")]
    CiphertextLength,
    #[error("the padding is invalid")]
    Padding,
    #[error("an inline value must decrypt to UTF-8 text")]
    NotUtf8,
}

/// `['a', 'b']`, as Ansible prints the list of known vault ids.
fn python_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(", ")
}
