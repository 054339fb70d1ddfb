//! The lab's network: one bridge with the gateway address, and per host a network namespace with
//! a veth pair into the bridge. Every function is idempotent and only touches names the lab
//! derives itself (`etcdplaybr0`, `etcdplay-labK`, `ep-labK`), never other interfaces.

use std::path::Path;

use crate::cmd::run;
use crate::config::LabConfig;
use crate::error::LabError;
use crate::host::{parse_index, LabHost};
use crate::machine::process_state;

/// Where `ip netns add` leaves a handle for each named namespace.
const NETNS_DIR: &str = "/run/netns";

/// Whether the named network namespace exists; check this before sending to a lab address.
pub fn netns_exists(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && Path::new(NETNS_DIR).join(name).exists()
}

/// Whether a network interface of that name exists in the machine's own namespace.
pub fn link_exists(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && Path::new("/sys/class/net").join(name).exists()
}

/// Indexes of the lab namespaces that exist (named `etcdplay-{host_prefix}K`).
pub(crate) fn existing_netns_indexes(host_prefix: &str) -> Vec<u8> {
    let prefix = format!("etcdplay-{host_prefix}");
    let mut found: Vec<u8> = std::fs::read_dir(NETNS_DIR)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| parse_index(&e.file_name().to_string_lossy(), &prefix))
                .collect()
        })
        .unwrap_or_default();
    found.sort_unstable();
    found
}

/// Creates the bridge with the gateway address if needed and brings it up.
pub(crate) async fn ensure_bridge(config: &LabConfig) -> Result<(), LabError> {
    let bridge = config.bridge.as_str();
    if !link_exists(bridge) {
        run("ip", ["link", "add", bridge, "type", "bridge"]).await?;
    }
    let cidr = format!("{}/24", config.gateway());
    let addrs = run("ip", ["-o", "-4", "addr", "show", "dev", bridge]).await?;
    if !has_address(&addrs, &cidr) {
        run("ip", ["addr", "add", &cidr, "dev", bridge]).await?;
    }
    run("ip", ["link", "set", bridge, "up"]).await?;
    Ok(())
}

/// Creates the host's namespace, its veth pair (`eth0` inside) and address, loopback and the
/// default route via the bridge (facts like a default IPv4 address depend on that route).
pub(crate) async fn ensure_host_net(host: &LabHost, config: &LabConfig) -> Result<(), LabError> {
    let ns = host.netns.as_str();
    if !netns_exists(ns) {
        run("ip", ["netns", "add", ns]).await?;
    }
    if !link_exists(&host.veth) {
        // Deleting one end of a veth pair deletes the other, so a missing host end means the
        // namespace has no eth0 either and the pair can be created afresh.
        run(
            "ip",
            [
                "link", "add", &host.veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ],
        )
        .await?;
    }
    run(
        "ip",
        ["link", "set", &host.veth, "master", &config.bridge, "up"],
    )
    .await?;
    let cidr = format!("{}/24", host.ip);
    let addrs = run("ip", ["-n", ns, "-o", "-4", "addr", "show", "dev", "eth0"]).await?;
    if !has_address(&addrs, &cidr) {
        run("ip", ["-n", ns, "addr", "add", &cidr, "dev", "eth0"]).await?;
    }
    run("ip", ["-n", ns, "link", "set", "lo", "up"]).await?;
    run("ip", ["-n", ns, "link", "set", "eth0", "up"]).await?;
    let gateway = config.gateway().to_string();
    run(
        "ip",
        [
            "-n", ns, "route", "replace", "default", "via", &gateway, "dev", "eth0",
        ],
    )
    .await?;
    Ok(())
}

/// Pids of processes living in the host's namespace (the container's, once booted).
pub(crate) async fn netns_pids(ns: &str) -> Result<Vec<i32>, LabError> {
    if !netns_exists(ns) {
        return Ok(Vec::new());
    }
    let out = run("ip", ["netns", "pids", ns]).await?;
    // A zombie cannot be killed again; it only waits for a parent that may never reap it.
    let live = |pid: &i32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        process_state(&stat).is_some_and(|s| s != 'Z' && s != 'X')
    };
    Ok(out
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(live)
        .collect())
}

/// Deletes the host's veth pair and namespace, whichever exist.
pub(crate) async fn remove_host_net(host: &LabHost) -> Result<(), LabError> {
    if link_exists(&host.veth) {
        run("ip", ["link", "del", &host.veth]).await?;
    }
    if netns_exists(&host.netns) {
        run("ip", ["netns", "del", &host.netns]).await?;
    }
    Ok(())
}

/// Deletes the bridge if it exists.
pub(crate) async fn remove_bridge(config: &LabConfig) -> Result<(), LabError> {
    if link_exists(&config.bridge) {
        run("ip", ["link", "del", &config.bridge]).await?;
    }
    Ok(())
}

/// Whether `ip -o addr show` output lists exactly this address/prefix.
fn has_address(ip_output: &str, cidr: &str) -> bool {
    ip_output.lines().any(|line| {
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            if w == "inet" {
                return words.next() == Some(cidr);
            }
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exact_address() {
        let out = "7: etcdplaybr0    inet 10.213.7.1/24 scope global etcdplaybr0\\       valid_lft forever\n";
        assert!(has_address(out, "10.213.7.1/24"));
        assert!(!has_address(out, "10.213.7.11/24"));
        assert!(!has_address(out, "10.213.7.1/16"));
        assert!(!has_address("", "10.213.7.1/24"));
    }

    #[test]
    fn rejects_path_like_names() {
        assert!(!netns_exists(""));
        assert!(!netns_exists("../netns"));
        assert!(!link_exists("../eth0"));
        assert!(link_exists("lo"));
    }
}
