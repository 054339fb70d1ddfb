//! The built-in etcd playbook with one host of group `etcd` unreachable: that host leaves the
//! play (UNREACHABLE, named in the recap), the two others form the cluster, the final health
//! wait covers only the hosts still in the play, and the run ends with exit 3 in seconds, not
//! after the 120 s health timeout with exit 2. Runs on a private lab (`labu1..2`,
//! 10.213.21.0/24); the unreachable host is 127.0.0.1 on a port nothing listens on.

#![allow(clippy::print_stderr)]

mod common;

use std::time::{Duration, Instant};

use common::*;

/// A local TCP port with nothing listening on it (bound, then released).
fn closed_local_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

#[test]
fn an_unreachable_member_leaves_the_play_and_the_others_form_a_healthy_cluster() {
    let private = PrivateLab::up("labu", "etcdplaybr21", 21, 2);
    let lab = &private.lab;
    let work = tempfile::tempdir().expect("tempdir");
    let mut inventory = etcdplay_lab::render_inventory(&lab.hosts);
    // A third member that cannot be reached, in the same group.
    let vars_at = inventory.find("      vars:\n").expect("vars line");
    inventory.insert_str(
        vars_at,
        &format!(
            "        labu9:\n          ansible_host: 127.0.0.1\n          ansible_port: {}\n          \
             ansible_user: root\n",
            closed_local_port()
        ),
    );
    let inv = work.path().join("hosts.yml");
    std::fs::write(&inv, inventory).expect("write inventory");

    let started = Instant::now();
    let out = etcdplay_with_deadline(
        work.path(),
        &["apply", "-i", inv.to_str().expect("utf-8")],
        Duration::from_secs(170),
    );
    let took = started.elapsed();
    let all = text(&out);
    eprintln!("--- one member unreachable ({took:?}):\n{all}");
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(
        took < Duration::from_secs(60),
        "took {took:?}: the health wait waited for the unreachable host"
    );
    let recap = |host: &str| {
        all.lines()
            .find(|l| l.starts_with(host) && l.contains(" : ok="))
            .unwrap_or_else(|| panic!("no recap line for {host}:\n{all}"))
            .to_string()
    };
    assert!(recap("labu9").contains("unreachable=1"), "{all}");
    for h in ["labu1", "labu2"] {
        assert!(
            recap(h).contains("failed=0") && recap(h).contains("unreachable=0"),
            "{all}"
        );
    }
    // The two members that were in the play form a healthy cluster.
    let endpoints: Vec<String> = lab
        .hosts
        .iter()
        .map(|h| format!("https://{}:2379", h.ip))
        .collect();
    let health = etcdplay(
        work.path(),
        &[
            "health",
            "--endpoints",
            &endpoints.join(","),
            "--pki-dir",
            work.path().join("pki").to_str().expect("utf-8"),
        ],
    );
    let table = text(&health);
    eprintln!("--- health:\n{table}");
    assert_eq!(health.status.code(), Some(0), "{table}");
    for h in &lab.hosts {
        assert!(table.contains(&h.ip.to_string()), "{table}");
    }
}
