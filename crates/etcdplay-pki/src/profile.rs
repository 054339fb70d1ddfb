//! Certificate profiles: the names, validity periods, key usages and serial numbers etcdplay
//! puts in the CA, member and client certificates. rcgen's defaults (a fixed common name,
//! validity from 1975 to 4096, a serial derived from the key) are replaced everywhere here.

use std::collections::BTreeSet;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use time::{Duration, OffsetDateTime};

use crate::error::PkiError;
use crate::san::San;

/// Organisation name in every subject.
pub(crate) const ORGANIZATION: &str = "etcdplay";
/// Common name prefix of the CA etcdplay creates; a random suffix makes every CA's name
/// unique, so a certificate from another etcdplay CA is reported as "unknown issuer" rather
/// than as a confusing bad signature by a same-named CA.
pub(crate) const CA_COMMON_NAME: &str = "etcdplay CA";
/// Common name of the client certificate for tools (etcdctl, health checks).
pub const CLIENT_COMMON_NAME: &str = "etcdplay-client";
/// Validity of a CA etcdplay creates.
pub(crate) const CA_VALIDITY_DAYS: i64 = 3650;
/// Default validity of member and client certificates.
pub const DEFAULT_LEAF_VALIDITY_DAYS: i64 = 365;
/// How far in the past validity starts, so hosts whose clocks lag slightly accept new certs.
const BACKDATE: Duration = Duration::hours(1);

/// What a leaf certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeafKind {
    /// An etcd member: serves clients and peers and connects to peers.
    Member,
    /// A tool that connects to etcd.
    Client,
}

impl LeafKind {
    /// Extended key usages a certificate of this kind must carry.
    pub(crate) fn needs_server_auth(self) -> bool {
        self == Self::Member
    }
}

/// A random, positive, 16-byte serial number (RFC 5280 allows up to 20 bytes).
pub(crate) fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::Issue {
            what: "serial number".to_owned(),
            reason: "system random number generator failed".to_owned(),
        })?;
    // Clear the sign bit so the DER INTEGER is positive, and set the next one so the
    // encoding keeps its full length (no leading-zero trimming).
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn subject(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Parameters of a new CA valid for ten years from (slightly before) `now`.
pub(crate) fn ca_params(now: OffsetDateTime) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    let serial = random_serial()?;
    let suffix: String = serial.to_bytes()[12..]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    params.distinguished_name = subject(&format!("{CA_COMMON_NAME} {suffix}"));
    params.serial_number = Some(serial);
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
    // Path length 0: this CA signs leaf certificates only, never other CAs.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// Parameters of a member or client certificate.
pub(crate) fn leaf_params(
    kind: LeafKind,
    common_name: &str,
    sans: &BTreeSet<San>,
    validity_days: i64,
    now: OffsetDateTime,
) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject(common_name);
    params.subject_alt_names = sans
        .iter()
        .map(San::to_rcgen)
        .collect::<Result<_, _>>()
        .map_err(|e| PkiError::issue(format!("certificate for {common_name}"), &e))?;
    params.serial_number = Some(random_serial()?);
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(validity_days);
    params.is_ca = IsCa::ExplicitNoCa;
    // Key encipherment is listed as in etcd's own examples, for RSA-based TLS 1.2 peers.
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = if kind.needs_server_auth() {
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]
    } else {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    };
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_random_positive_and_full_length() {
        let a = random_serial().unwrap().to_bytes();
        let b = random_serial().unwrap().to_bytes();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert_eq!(a[0] & 0xc0, 0x40);
    }
}
