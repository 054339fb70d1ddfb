//! TLS material for talking to etcd: the cluster CA that every server certificate must chain
//! to (there is no way to skip verification) and the client certificate etcd's
//! `--client-cert-auth` asks for. The private key is wrapped so that it never shows in
//! `Debug` output or errors, and is wiped from memory when dropped.

use std::fmt;
use std::sync::Once;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};
use zeroize::Zeroize;

use crate::client::error::ClientError;

/// A PEM private key. `Debug` prints a placeholder.
pub struct SecretKeyPem(String);

impl SecretKeyPem {
    /// Wraps the PEM text of a private key.
    pub fn new(pem: String) -> Self {
        Self(pem)
    }

    /// The PEM text. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKeyPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKeyPem(<private key elided>)")
    }
}

impl Drop for SecretKeyPem {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// CA and client identity used for every `https://` endpoint.
#[derive(Debug)]
pub struct EndpointTls {
    /// The cluster CA (PEM); servers must present a certificate it signed.
    pub ca_pem: String,
    /// The client certificate (PEM) presented to etcd.
    pub client_cert_pem: String,
    /// The client certificate's private key (PEM).
    pub client_key_pem: SecretKeyPem,
}

impl EndpointTls {
    /// Checks that each piece parses, so that a wrong file is reported up front instead of
    /// as a failed handshake (rustls silently skips unparsable CA certificates).
    pub(crate) fn validate(&self) -> Result<(), ClientError> {
        let certs = |what: &str, pem: &str| -> Result<(), ClientError> {
            let mut count = 0;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                cert.map_err(|e| {
                    ClientError::BadTls(format!("{what}: not a PEM certificate ({e})"))
                })?;
                count += 1;
            }
            if count == 0 {
                return Err(ClientError::BadTls(format!(
                    "{what}: no PEM certificate found"
                )));
            }
            Ok(())
        };
        certs("CA certificate", &self.ca_pem)?;
        certs("client certificate", &self.client_cert_pem)?;
        // The parser's error never quotes the input; still, say only what kind of problem it is.
        PrivateKeyDer::from_pem_slice(self.client_key_pem.expose().as_bytes())
            .map_err(|_| ClientError::BadTls("client key: no PEM private key found".into()))?;
        Ok(())
    }

    /// The tonic configuration: only the cluster CA as trust anchor, plus the identity.
    pub(crate) fn tonic_config(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(Identity::from_pem(
                &self.client_cert_pem,
                self.client_key_pem.expose(),
            ))
    }
}

/// Makes ring the process-wide rustls provider, once. Tonic uses the installed default when
/// there is one and ring otherwise; installing it keeps every other rustls user in the
/// process (SSH helpers, tests) on the same provider. An already installed provider wins.
pub(crate) fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let tls = EndpointTls {
            ca_pem: "CA".into(),
            client_cert_pem: "CERT".into(),
            client_key_pem: SecretKeyPem::new("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n".into()),
        };
        let shown = format!("{tls:?}");
        assert!(
            shown.contains("elided") && shown.contains("CERT"),
            "{shown}"
        );
        assert!(
            !shown.contains("c2VjcmV0") && !shown.contains("PRIVATE KEY"),
            "{shown}"
        );
    }

    #[test]
    fn garbage_is_rejected_without_echoing_the_key() {
        let tls = EndpointTls {
            ca_pem: "not a cert".into(),
            client_cert_pem: "x".into(),
            client_key_pem: SecretKeyPem::new("sekrit-key-text".into()),
        };
        let e = tls.validate().unwrap_err().to_string();
        assert!(e.contains("CA certificate"), "{e}");
    }
}
