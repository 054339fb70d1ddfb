//! Subject alternative names: turning the strings an inventory provides (hostname,
//! `ansible_host`, reported addresses) into a normalised, deduplicated set in which
//! IP-looking strings are IP addresses, so a wanted set and a certificate's set compare exactly.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::PkiError;

/// One subject alternative name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum San {
    /// A DNS name, lower-cased, without a trailing dot.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns(name) => f.write_str(name),
            Self::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl San {
    /// Converts to the rcgen form used when issuing.
    pub(crate) fn to_rcgen(&self) -> Result<rcgen::SanType, rcgen::Error> {
        Ok(match self {
            Self::Dns(name) => rcgen::SanType::DnsName(name.clone().try_into()?),
            Self::Ip(ip) => rcgen::SanType::IpAddress(*ip),
        })
    }
}

/// Names every member certificate carries so that local tools (etcdctl on the host,
/// health checks through loopback) can verify it.
pub(crate) fn loopback_sans() -> [San; 3] {
    [
        San::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        San::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        San::Dns("localhost".to_owned()),
    ]
}

/// Parses one wanted SAN for `host`. Empty strings yield `None` (an unset `ansible_host`
/// should not be an error); brackets around an IPv6 address are accepted.
pub(crate) fn parse_san(host: &str, value: &str) -> Result<Option<San>, PkiError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let unbracketed = trimmed
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(trimmed);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(Some(San::Ip(ip)));
    }
    let invalid = |reason| PkiError::InvalidSan {
        host: host.to_owned(),
        value: value.to_owned(),
        reason,
    };
    let name = trimmed
        .strip_suffix('.')
        .unwrap_or(trimmed)
        .to_ascii_lowercase();
    if name.len() > 253 {
        return Err(invalid("longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(invalid("empty label"));
        }
        if label.len() > 63 {
            return Err(invalid("a label is longer than 63 characters"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("a label starts or ends with '-'"));
        }
        // Underscores are not valid in host names but are common in inventory names; TLS
        // libraries treat such a SAN as a plain non-matching name, so it does no harm.
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "only letters, digits, '-', '_' and '.' are allowed",
            ));
        }
    }
    Ok(Some(San::Dns(name)))
}

/// Builds the full wanted set for a member: its inventory name, the caller's extra names and
/// addresses, and the loopback names.
pub(crate) fn member_sans(name: &str, extra: &[String]) -> Result<BTreeSet<San>, PkiError> {
    let mut set: BTreeSet<San> = loopback_sans().into_iter().collect();
    for value in std::iter::once(name).chain(extra.iter().map(String::as_str)) {
        if let Some(san) = parse_san(name, value)? {
            set.insert(san);
        }
    }
    Ok(set)
}

/// Reads the SAN set out of a parsed certificate. Names of other kinds (e-mail, URI) are
/// kept as opaque DNS-like entries so that they count as a difference from the wanted set.
pub(crate) fn from_x509(cert: &x509_parser::certificate::X509Certificate<'_>) -> BTreeSet<San> {
    use x509_parser::extensions::GeneralName;
    let mut set = BTreeSet::new();
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return set;
    };
    for name in &ext.value.general_names {
        let san = match name {
            GeneralName::DNSName(dns) => San::Dns(dns.to_ascii_lowercase()),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => San::Ip(IpAddr::from(
                    <[u8; 4]>::try_from(*bytes).unwrap_or_default(),
                )),
                16 => San::Ip(IpAddr::from(
                    <[u8; 16]>::try_from(*bytes).unwrap_or_default(),
                )),
                _ => San::Dns(format!("<ip of {} bytes>", bytes.len())),
            },
            other => San::Dns(format!("<{other}>")),
        };
        set.insert(san);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_strings_become_ip_sans_and_duplicates_collapse() {
        let extra = vec![
            "10.0.0.5".to_owned(),
            " 10.0.0.5 ".to_owned(),
            "ETCD1.example.".to_owned(),
            "etcd1.example".to_owned(),
            "[fd00::1]".to_owned(),
            String::new(),
            "127.0.0.1".to_owned(),
        ];
        let set = member_sans("etcd1", &extra).unwrap();
        let shown: Vec<String> = set.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "etcd1",
                "etcd1.example",
                "localhost",
                "10.0.0.5",
                "127.0.0.1",
                "::1",
                "fd00::1"
            ]
        );
        assert!(set.contains(&San::Ip("10.0.0.5".parse().unwrap())));
    }

    #[test]
    fn garbage_is_rejected_with_host_and_value() {
        let err = member_sans("etcd1", &["bad name".to_owned()]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("etcd1") && msg.contains("\"bad name\""),
            "{msg}"
        );
        assert!(parse_san("h", "a..b").is_err());
        assert!(parse_san("h", "-a.b").is_err());
        assert!(parse_san("h", "fe80::1%eth0").is_err());
    }
}
