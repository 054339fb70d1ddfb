//! The certificate authority: created once on the control node or brought by the user, and
//! used to sign member and client certificates. It holds the CA private key, so its `Debug`
//! is written by hand and shows only public facts.

use std::fmt;
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, Issuer, KeyPair};
use time::OffsetDateTime;

use crate::error::PkiError;
use crate::inspect::{self, CertSummary};
use crate::profile;

/// A loaded CA: its certificate and private key.
pub(crate) struct CertAuthority {
    /// Where the certificate is stored, for messages.
    cert_path: PathBuf,
    /// The CA certificate exactly as stored (PEM).
    cert_pem: String,
    /// Facts read from the certificate.
    summary: CertSummary,
    /// The private key. Never printed.
    key: KeyPair,
}

impl fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertAuthority")
            .field("cert_path", &self.cert_path)
            .field("subject", &self.summary.subject)
            .field("not_after", &self.summary.not_after)
            .field("key", &"<private key elided>")
            .finish()
    }
}

/// Loads a PEM private key. Failures carry fixed reasons only: a parser's message could
/// quote the input, and the input is secret.
pub(crate) fn load_key(path: &Path, pem: &str) -> Result<KeyPair, PkiError> {
    let bad = |reason: &str| PkiError::BadKey {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    if pem.contains("-----BEGIN RSA PRIVATE KEY-----")
        || pem.contains("-----BEGIN EC PRIVATE KEY-----")
    {
        return Err(bad(
            "the key is in a legacy format (PKCS#1 or SEC1); convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in OLD -out NEW`",
        ));
    }
    if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(bad(
            "the key is encrypted; etcdplay needs an unencrypted PKCS#8 key",
        ));
    }
    if !pem.contains("-----BEGIN PRIVATE KEY-----") {
        return Err(bad("no PKCS#8 'PRIVATE KEY' PEM block found"));
    }
    KeyPair::from_pem(pem).map_err(|_| {
        bad("the PKCS#8 key could not be decoded, or its algorithm is not supported (ECDSA P-256/P-384, Ed25519, RSA)")
    })
}

impl CertAuthority {
    /// Creates a new CA with an ECDSA P-256 key.
    pub(crate) fn generate(cert_path: &Path, now: OffsetDateTime) -> Result<Self, PkiError> {
        let key = KeyPair::generate().map_err(|e| PkiError::issue("CA key", &e))?;
        let params: CertificateParams = profile::ca_params(now)?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| PkiError::issue("CA", &e))?;
        let summary =
            inspect::summarize_der(cert.der().to_vec()).map_err(|reason| PkiError::Issue {
                what: "CA".to_owned(),
                reason,
            })?;
        Ok(Self {
            cert_path: cert_path.to_path_buf(),
            cert_pem: cert.pem(),
            summary,
            key,
        })
    }

    /// Loads an existing CA from its certificate text and key text, checking that the
    /// certificate is a CA and that the key belongs to it.
    pub(crate) fn load(
        cert_path: &Path,
        cert_pem: String,
        key_path: &Path,
        key_pem: &str,
    ) -> Result<Self, PkiError> {
        let bad_cert = |reason: String| PkiError::BadCert {
            path: cert_path.to_path_buf(),
            reason,
        };
        let summary = inspect::summarize_pem(cert_pem.as_bytes()).map_err(bad_cert)?;
        if !summary.is_ca {
            return Err(bad_cert(
                "not a CA certificate (basic constraints CA:TRUE missing)".to_owned(),
            ));
        }
        if summary.not_after <= OffsetDateTime::now_utc() {
            return Err(PkiError::CaExpired {
                path: cert_path.to_path_buf(),
                not_after: summary.not_after,
            });
        }
        let key = load_key(key_path, key_pem)?;
        if key.public_key_raw() != summary.public_key.as_slice() {
            return Err(PkiError::CaKeyMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            });
        }
        Ok(Self {
            cert_path: cert_path.to_path_buf(),
            cert_pem,
            summary,
            key,
        })
    }

    /// Loads the CA from a trust file that may hold several CA certificates (during a CA
    /// rotation, the old and the new one): the signer is the certificate whose public key is
    /// the key's; the others are only trusted. One certificate loads as [`Self::load`] does.
    pub(crate) fn load_signer(
        cert_path: &Path,
        bundle: &str,
        key_path: &Path,
        key_pem: &str,
    ) -> Result<Self, PkiError> {
        let blocks = inspect::cert_blocks(bundle);
        if blocks.len() <= 1 {
            return Self::load(cert_path, bundle.to_owned(), key_path, key_pem);
        }
        let public = load_key(key_path, key_pem)?.public_key_raw().to_vec();
        let signer = blocks.into_iter().find(|block| {
            inspect::summarize_pem(block.as_bytes()).is_ok_and(|s| s.public_key == public)
        });
        match signer {
            Some(block) => Self::load(cert_path, block, key_path, key_pem),
            None => Err(PkiError::CaKeyMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            }),
        }
    }

    /// The SHA-256 fingerprint of the CA certificate (hex).
    pub(crate) fn fingerprint(&self) -> String {
        inspect::fingerprint(&self.summary.der)
    }

    /// The CA certificate as PEM.
    pub(crate) fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate as DER.
    pub(crate) fn cert_der(&self) -> &[u8] {
        &self.summary.der
    }

    /// End of the CA's validity.
    pub(crate) fn not_after(&self) -> OffsetDateTime {
        self.summary.not_after
    }

    /// The private key as PEM, for writing it to disk.
    pub(crate) fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// An rcgen issuer signing with this CA's key under this CA's subject name.
    pub(crate) fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, PkiError> {
        Issuer::from_ca_cert_der(&self.summary.der.clone().into(), &self.key).map_err(|e| {
            PkiError::BadCert {
                path: self.cert_path.clone(),
                reason: format!("cannot be used for signing: {e}"),
            }
        })
    }

    /// Signs a leaf certificate and checks that the result really chains to this CA: rcgen
    /// re-encodes the CA's subject, and an unusual encoding in a user-supplied CA could
    /// otherwise produce certificates that TLS libraries reject.
    pub(crate) fn sign(
        &self,
        what: &str,
        params: &CertificateParams,
        leaf_key: &KeyPair,
    ) -> Result<rcgen::Certificate, PkiError> {
        let issuer = self.issuer()?;
        let cert = params
            .signed_by(leaf_key, &issuer)
            .map_err(|e| PkiError::issue(what, &e))?;
        if !inspect::is_signed_by(cert.der(), self.cert_der()) {
            return Err(PkiError::Issue {
                what: what.to_owned(),
                reason: "the CA's subject name cannot be reproduced exactly in the issuer field; use a CA with a plain subject (one attribute per RDN, UTF8/Printable strings)".to_owned(),
            });
        }
        Ok(cert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn expired_ca_is_refused_with_date_and_remedy() {
        let path = Path::new("pki/ca.pem");
        let old = CertAuthority::generate(path, OffsetDateTime::now_utc() - Duration::days(4000))
            .unwrap();
        let err =
            CertAuthority::load(path, old.cert_pem().to_owned(), path, &old.key_pem()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, PkiError::CaExpired { .. }), "{msg}");
        assert!(
            msg.contains("pki/ca.pem expired on") && msg.contains("remove both"),
            "{msg}"
        );
    }

    #[test]
    fn fresh_ca_loads_back_and_names_are_unique() {
        let path = Path::new("ca.pem");
        let a = CertAuthority::generate(path, OffsetDateTime::now_utc()).unwrap();
        let b = CertAuthority::generate(path, OffsetDateTime::now_utc()).unwrap();
        assert_ne!(a.summary.subject, b.summary.subject);
        assert!(a.summary.subject.starts_with("O=etcdplay, CN=etcdplay CA "));
        let loaded =
            CertAuthority::load(path, a.cert_pem().to_owned(), path, &a.key_pem()).unwrap();
        assert_eq!(loaded.cert_der(), a.cert_der());
        let mismatch = CertAuthority::load(path, a.cert_pem().to_owned(), path, &b.key_pem());
        assert!(matches!(mismatch, Err(PkiError::CaKeyMismatch { .. })));
    }
}
