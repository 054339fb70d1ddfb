//! Reading certificates back: the facts etcdplay needs to decide whether an existing
//! certificate can be reused (names, dates, key usages, public key, issuer) and whether it
//! was really signed by a given CA.

use std::collections::BTreeSet;

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;

use crate::san::{self, San};

/// The parts of a certificate that reuse decisions and `pki show` look at.
#[derive(Clone, Debug)]
pub(crate) struct CertSummary {
    /// The DER bytes of the certificate.
    pub(crate) der: Vec<u8>,
    /// Subject in OpenSSL-like one-line form.
    pub(crate) subject: String,
    /// The first common name of the subject, if any.
    pub(crate) common_name: Option<String>,
    /// Issuer in the same form.
    pub(crate) issuer: String,
    /// Subject alternative names.
    pub(crate) sans: BTreeSet<San>,
    /// Start of validity.
    pub(crate) not_before: OffsetDateTime,
    /// End of validity.
    pub(crate) not_after: OffsetDateTime,
    /// Whether the EKU extension lists serverAuth.
    pub(crate) server_auth: bool,
    /// Whether the EKU extension lists clientAuth.
    pub(crate) client_auth: bool,
    /// Whether basic constraints mark it as a CA.
    pub(crate) is_ca: bool,
    /// The raw subject public key (the BIT STRING contents), to compare with a key file.
    pub(crate) public_key: Vec<u8>,
}

/// Decodes the first certificate of a PEM text. The error is a short reason for messages.
pub(crate) fn first_cert_der(pem_bytes: &[u8]) -> Result<Vec<u8>, String> {
    for pem in Pem::iter_from_buffer(pem_bytes) {
        let pem = pem.map_err(|e| format!("not valid PEM: {e}"))?;
        if pem.label == "CERTIFICATE" {
            return Ok(pem.contents);
        }
    }
    Err("no CERTIFICATE block found".to_owned())
}

/// The certificate blocks of a PEM text, each as its own PEM text (`BEGIN` to `END` line), in
/// order. A trust bundle (`ca.pem` during a CA rotation) holds two; anything between blocks
/// is dropped.
pub(crate) fn cert_blocks(text: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        blocks.push(format!("{}\n", &rest[start..end]));
        rest = &rest[end..];
    }
    blocks
}

/// The SHA-256 fingerprint of a DER certificate, lowercase hex (what `openssl x509
/// -fingerprint -sha256` prints, without colons).
pub(crate) fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses DER into an x509-parser certificate, with a short reason on failure.
pub(crate) fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| format!("not a valid X.509 certificate: {e}"))
}

/// Reads the summary of the first certificate in a PEM text.
pub(crate) fn summarize_pem(pem_bytes: &[u8]) -> Result<CertSummary, String> {
    summarize_der(first_cert_der(pem_bytes)?)
}

/// Reads the summary of a DER certificate.
pub(crate) fn summarize_der(der: Vec<u8>) -> Result<CertSummary, String> {
    let cert = parse_der(&der)?;
    let eku = cert
        .extended_key_usage()
        .map_err(|e| format!("bad extended key usage extension: {e}"))?;
    let (server_auth, client_auth) = eku.map_or((false, false), |ext| {
        (
            ext.value.server_auth || ext.value.any,
            ext.value.client_auth || ext.value.any,
        )
    });
    let is_ca = cert
        .basic_constraints()
        .map_err(|e| format!("bad basic constraints extension: {e}"))?
        .is_some_and(|ext| ext.value.ca);
    let validity = cert.validity();
    let summary = CertSummary {
        subject: cert.subject().to_string(),
        common_name: cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned),
        issuer: cert.issuer().to_string(),
        sans: san::from_x509(&cert),
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
        server_auth,
        client_auth,
        is_ca,
        public_key: cert.public_key().subject_public_key.data.to_vec(),
        der: Vec::new(),
    };
    drop(cert);
    Ok(CertSummary { der, ..summary })
}

/// Whether `cert_der` names `ca_der`'s subject as its issuer (byte for byte, as TLS libraries
/// compare) and carries a valid signature by the CA's key.
pub(crate) fn is_signed_by(cert_der: &[u8], ca_der: &[u8]) -> bool {
    let (Ok(cert), Ok(ca)) = (parse_der(cert_der), parse_der(ca_der)) else {
        return false;
    };
    cert.issuer().as_raw() == ca.subject().as_raw()
        && cert.verify_signature(Some(ca.public_key())).is_ok()
}

/// Whether the first certificate of a PEM text may authenticate a TLS client: its extended
/// key usage lists clientAuth or anyExtendedKeyUsage, or it has no EKU extension at all
/// (RFC 5280 4.2.1.12, and what Go's TLS stack accepts for etcd's `--client-cert-auth`).
/// `None` when the text holds no readable certificate: the caller cannot know.
pub fn client_auth_allowed(pem_bytes: &[u8]) -> Option<bool> {
    let der = first_cert_der(pem_bytes).ok()?;
    let cert = parse_der(&der).ok()?;
    match cert.extended_key_usage().ok()? {
        None => Some(true),
        Some(ext) => Some(ext.value.client_auth || ext.value.any),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair};

    fn pem_with(eku: Vec<ExtendedKeyUsagePurpose>) -> String {
        let mut params = CertificateParams::new(vec!["m1".to_owned()]).unwrap();
        params.extended_key_usages = eku;
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn client_auth_follows_the_extended_key_usage() {
        use ExtendedKeyUsagePurpose::{Any, ClientAuth, ServerAuth};
        let both = pem_with(vec![ServerAuth, ClientAuth]);
        assert_eq!(client_auth_allowed(both.as_bytes()), Some(true));
        let server_only = pem_with(vec![ServerAuth]);
        assert_eq!(client_auth_allowed(server_only.as_bytes()), Some(false));
        assert_eq!(
            client_auth_allowed(pem_with(vec![Any]).as_bytes()),
            Some(true)
        );
        // No EKU extension: any usage.
        assert_eq!(client_auth_allowed(pem_with(vec![]).as_bytes()), Some(true));
        assert_eq!(client_auth_allowed(b"not a certificate"), None);
    }
}
