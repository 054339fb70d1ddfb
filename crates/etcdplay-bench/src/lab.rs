//! The benchmark lab's configuration and its inventories: one inventory per measured size
//! (the first N hosts), so 3-, 10- and 30-host runs share one set of booted hosts.

use etcdplay_lab::{render_inventory, LabConfig, LabHost, MAX_HOSTS};

use crate::error::BenchError;

/// Host names are `labbK`: distinct from the default lab (`lab`) and the lab test (`labt`).
pub const BENCH_PREFIX: &str = "labb";
/// A bridge of its own, so `down` removes nothing of another lab.
pub const BENCH_BRIDGE: &str = "etcdplaybr5";
/// The benchmark lab's /24: host K is `10.213.5.(10+K)`.
pub const BENCH_SUBNET: [u8; 3] = [10, 213, 5];

/// The benchmark lab: its own prefix, bridge and subnet; the state dir (and so the base image
/// and the SSH key) is the default lab's, so the base is not bootstrapped a second time.
/// `ETCDPLAY_BENCH_PREFIX`, `ETCDPLAY_BENCH_BRIDGE` and `ETCDPLAY_BENCH_OCTET` (the third
/// number of 10.213.X.0/24) put it elsewhere, so that a benchmark can run beside another
/// (`bench.py` reads the same variables).
pub fn bench_config() -> LabConfig {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let octet = var("ETCDPLAY_BENCH_OCTET").and_then(|v| v.parse::<u8>().ok());
    LabConfig {
        host_prefix: var("ETCDPLAY_BENCH_PREFIX").unwrap_or_else(|| BENCH_PREFIX.to_owned()),
        bridge: var("ETCDPLAY_BENCH_BRIDGE").unwrap_or_else(|| BENCH_BRIDGE.to_owned()),
        subnet: octet.map_or(BENCH_SUBNET, |o| [10, 213, o]),
        ..LabConfig::default()
    }
}

/// Parses a host count given on the command line (1..=the lab's maximum).
pub fn parse_count(text: &str) -> Result<u8, BenchError> {
    let bad = |reason: &str| BenchError::Count {
        got: text.to_owned(),
        reason: reason.to_owned(),
    };
    let n: u8 = text.parse().map_err(|_| bad("not a small whole number"))?;
    if n == 0 || n > MAX_HOSTS {
        return Err(bad(&format!("must be 1..={MAX_HOSTS}")));
    }
    Ok(n)
}

/// The inventory text for the first `n` hosts of the benchmark lab (group `etcd`).
pub fn inventory_for(config: &LabConfig, n: u8) -> String {
    let hosts: Vec<LabHost> = (1..=n).map(|k| LabHost::new(k, config)).collect();
    render_inventory(&hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_apart_from_the_default_lab() {
        let config = bench_config();
        let default = LabConfig::default();
        assert!(config.validate().is_ok());
        assert_ne!(config.bridge, default.bridge);
        assert_ne!(config.subnet, default.subnet);
        assert_ne!(config.host_prefix, default.host_prefix);
        assert_eq!(config.base_dir(), default.base_dir());
    }

    #[test]
    fn inventory_lists_the_first_n_hosts() {
        let text = inventory_for(&bench_config(), 3);
        assert!(text.contains("labb3:"));
        assert!(text.contains("ansible_host: 10.213.5.13"));
        assert!(!text.contains("labb4:"));
    }

    #[test]
    fn counts_out_of_range_are_refused() {
        assert_eq!(parse_count("30").ok(), Some(30));
        assert!(parse_count("0").is_err());
        assert!(parse_count("101").is_err());
        assert!(parse_count("ten").is_err());
    }
}
