//! The identity of one lab host: its index decides its name, address, namespace and veth, so
//! every part of the lab (and a test) derives the same names without shared state.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::config::LabConfig;
use crate::error::LabError;

/// The largest lab: host K gets `.(10+K)`, and `.110` still fits well inside the /24.
pub const MAX_HOSTS: u8 = 100;

/// One host of the lab, as tests and the inventory see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabHost {
    /// 1-based position in the lab.
    pub index: u8,
    /// `labK` (with the default prefix): machine name and hostname inside.
    pub name: String,
    /// `10.213.7.(10+K)` with the default config.
    pub ip: Ipv4Addr,
    /// The network namespace the host lives in (`etcdplay-labK`).
    pub netns: String,
    /// The host side of the veth pair, plugged into the bridge.
    pub veth: String,
    /// Private key that logs in as `root` and `deploy`.
    pub key_path: PathBuf,
    /// The lab's known_hosts file, which holds this host's keys once it has been up.
    pub known_hosts: PathBuf,
}

impl LabHost {
    /// The host with the given 1-based index (1..=[`MAX_HOSTS`]).
    pub fn new(index: u8, config: &LabConfig) -> LabHost {
        let [a, b, c] = config.subnet;
        let name = format!("{}{index}", config.host_prefix);
        LabHost {
            index,
            ip: Ipv4Addr::new(a, b, c, 10 + index),
            netns: format!("etcdplay-{name}"),
            // Interface names are limited to 15 bytes: `ep-` + 8-byte prefix + 3 digits is 14.
            veth: format!("ep-{name}"),
            key_path: config.key_path(),
            known_hosts: config.known_hosts_path(),
            name,
        }
    }
}

/// Checks a requested lab size and narrows it to the index type.
pub fn validate_count(n: u64) -> Result<u8, LabError> {
    match u8::try_from(n) {
        Ok(k) if (1..=MAX_HOSTS).contains(&k) => Ok(k),
        _ => Err(LabError::InvalidCount {
            got: n,
            max: MAX_HOSTS,
        }),
    }
}

/// The index in a lab host or namespace name (`lab7` → 7, `etcdplay-lab7` with that prefix);
/// `None` for anything the lab did not name, so foreign namespaces are never touched.
pub(crate) fn parse_index(name: &str, prefix: &str) -> Option<u8> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u8>()
        .ok()
        .filter(|k| (1..=MAX_HOSTS).contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_bounds() {
        assert!(matches!(
            validate_count(0),
            Err(LabError::InvalidCount { got: 0, .. })
        ));
        assert_eq!(validate_count(1).ok(), Some(1));
        assert_eq!(validate_count(3).ok(), Some(3));
        assert_eq!(validate_count(100).ok(), Some(100));
        assert!(validate_count(101).is_err());
        assert!(validate_count(300).is_err());
        assert!(validate_count(u64::MAX).is_err());
        let msg = validate_count(300)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(msg, "lab size must be between 1 and 100 hosts, got 300");
    }

    #[test]
    fn names_and_addresses() {
        let config = LabConfig::default();
        let h = LabHost::new(1, &config);
        assert_eq!(h.name, "lab1");
        assert_eq!(h.ip, Ipv4Addr::new(10, 213, 7, 11));
        assert_eq!(h.netns, "etcdplay-lab1");
        assert_eq!(h.veth, "ep-lab1");
        let last = LabHost::new(MAX_HOSTS, &config);
        assert_eq!(last.ip, Ipv4Addr::new(10, 213, 7, 110));
        assert!(last.veth.len() <= 15);
        let other = LabConfig {
            host_prefix: "labtest8".into(),
            ..LabConfig::default()
        };
        let t = LabHost::new(MAX_HOSTS, &other);
        assert_eq!(
            (t.name.as_str(), t.netns.as_str(), t.veth.as_str()),
            ("labtest8100", "etcdplay-labtest8100", "ep-labtest8100")
        );
        assert!(t.veth.len() <= 15);
    }

    #[test]
    fn config_names_are_checked() {
        assert!(LabConfig::default().validate().is_ok());
        for prefix in ["", "Lab", "1lab", "lab-x", "labtest89"] {
            let c = LabConfig {
                host_prefix: prefix.into(),
                ..LabConfig::default()
            };
            assert!(
                matches!(c.validate(), Err(LabError::BadConfig { .. })),
                "{prefix:?}"
            );
        }
        let c = LabConfig {
            bridge: "a-very-long-bridge".into(),
            ..LabConfig::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn parses_only_lab_names() {
        assert_eq!(parse_index("etcdplay-lab7", "etcdplay-lab"), Some(7));
        assert_eq!(parse_index("lab100", "lab"), Some(100));
        assert_eq!(parse_index("lab101", "lab"), None);
        assert_eq!(parse_index("lab0", "lab"), None);
        assert_eq!(parse_index("lab07", "lab"), None);
        assert_eq!(parse_index("lab", "lab"), None);
        assert_eq!(parse_index("lab1x", "lab"), None);
        assert_eq!(parse_index("etcdplay-lab1", "lab"), None);
    }
}
