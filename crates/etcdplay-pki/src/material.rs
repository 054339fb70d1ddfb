//! Certificate and key contents handed to callers (the engine uploads them to hosts). The key
//! is wrapped so that it cannot end up in `Debug` output or logs by accident, and is wiped
//! from memory when dropped.

use std::fmt;

use zeroize::Zeroize;

/// A PEM private key. `Debug` prints a placeholder; use [`SecretPem::expose`] to get the text
/// for writing it to a host.
pub struct SecretPem(String);

impl SecretPem {
    pub(crate) fn new(text: String) -> Self {
        Self(text)
    }

    /// The PEM text. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretPem(<private key elided>)")
    }
}

impl Drop for SecretPem {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The certificate and key of a member or of the client, read from the PKI directory.
#[derive(Debug)]
pub struct LeafFiles {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The private key (PEM), hidden from `Debug`.
    pub key_pem: SecretPem,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let files = LeafFiles {
            cert_pem: "CERT".to_owned(),
            key_pem: SecretPem::new("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n".to_owned()),
        };
        let shown = format!("{files:?}");
        assert!(
            shown.contains("CERT") && shown.contains("elided"),
            "{shown}"
        );
        assert!(
            !shown.contains("PRIVATE KEY") && !shown.contains("c2VjcmV0"),
            "{shown}"
        );
        assert!(files.key_pem.expose().contains("c2VjcmV0"));
    }
}
