//! End to end: `--leftover-membership reset` of a running TLS cluster whose clients are
//! served over https only (the built-in playbook's default) leaves, on the control node, a
//! real snapshot of every member, taken over TLS with the member's certificate, that
//! `etcdctl snapshot restore` turns back into a data dir holding every key.
//!
//! Before the fix a member without a plain-http client URL was backed up as a `tar` of its
//! live data dir (a possibly torn bbolt copy), so this test failed at the first backup line.
//!
//! Three private lab hosts (`labw1..3` on `etcdplaybr72`, 10.213.72.0/24), taken down at the
//! end; the shared lab is never touched. Steps: bootstrap with `apply -i INV` (TLS), write
//! keys over TLS, then apply a plan that moves the peer and client ports (2390/2391): the
//! stored membership contradicts it. With etcdctl failing on one host the reset stops before
//! anything is stopped or deleted; then `--leftover-membership reset` backs up every member
//! and starts a fresh cluster. Each host's backup is checked (a snapshot, 0600, the host's
//! sha256, `snapshot status`) and restored on the control node into a throwaway etcd on
//! loopback, where every key written reads back with its value.

#![allow(clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::snapshot::{parse_get, restore_and_read, snapshot_backup};
use common::{endpoints, etcdctl_tls, ssh_ok, text, yaml_inventory, PrivateLab};

/// The longest an `etcdplay apply` may run before the test gives up on it.
const APPLY_DEADLINE: Duration = Duration::from_secs(420);

/// Keys written before the reset.
const KEYS: usize = 40;

#[test]
fn a_tls_reset_leaves_a_snapshot_that_restores_every_key() {
    let started = Instant::now();
    let lab = PrivateLab::up("labw", "etcdplaybr72", 72, 3);
    eprintln!("lab up took {:.1}s", started.elapsed().as_secs_f64());
    let dir = tempfile::tempdir().expect("tempdir");
    let inv_path = yaml_inventory(&lab, dir.path());
    let inv = inv_path.to_str().expect("utf-8 path");
    let pki = dir.path().join("pki");

    // (1) A TLS cluster (the default) with keys, written and read over TLS.
    let first = common::etcdplay_with_deadline(dir.path(), &["apply", "-i", inv], APPLY_DEADLINE);
    assert_eq!(
        first.status.code(),
        Some(0),
        "TLS bootstrap failed:\n{}",
        text(&first)
    );
    let https = endpoints(&lab, "https", 2379);
    let mut written = BTreeMap::new();
    for i in 0..KEYS {
        let (key, value) = (
            format!("tls/key{i:02}"),
            format!("value {i} of the TLS cluster"),
        );
        let put = etcdctl_tls(&pki, &https, &["put", &key, &value]);
        assert!(put.status.success(), "{}", text(&put));
        written.insert(key, value);
    }
    let listing = etcdctl_tls(&pki, &https, &["get", "", "--from-key"]);
    assert!(listing.status.success(), "{}", text(&listing));
    assert_eq!(
        parse_get(&String::from_utf8_lossy(&listing.stdout)),
        written,
        "the cluster holds exactly the keys written"
    );
    // Clients are served over TLS only: the old code's plain-http snapshot has no URL to use.
    let members = text(&etcdctl_tls(&pki, &https, &["member", "list"]));
    assert!(!members.contains("http://"), "{members}");
    for h in &lab.lab.hosts {
        let unit = ssh_ok(&lab.lab, &h.name, "systemctl cat etcd");
        assert!(
            unit.contains(&format!(
                "--listen-client-urls https://{}:2379,https://127.0.0.1:2379",
                h.ip
            )),
            "{}: {unit}",
            h.name
        );
        let state = ssh_ok(&lab.lab, &h.name, "systemctl is-active etcd");
        assert_eq!(state.trim(), "active", "{}", h.name);
    }

    // (2) A plan on other ports: the data dirs' membership contradicts it; reset.
    let moved = ["-e", "etcd_peer_port=2390", "-e", "etcd_client_port=2391"];
    let mut args = vec!["apply", "-i", inv, "--leftover-membership", "reset"];
    args.extend_from_slice(&moved);

    // (2a) First with etcdctl failing on labw2 (a shim ahead of it on PATH): the running
    // member's snapshot fails, so the reset stops there, naming the host and etcdctl's
    // error; nothing is stopped or emptied, and no live data dir is archived instead.
    ssh_ok(
        &lab.lab,
        "labw2",
        r#"printf '#!/bin/sh\necho "Error: simulated snapshot failure" >&2\nexit 1\n' > /usr/local/sbin/etcdctl && chmod 755 /usr/local/sbin/etcdctl"#,
    );
    let shim = ssh_ok(&lab.lab, "labw2", "command -v etcdctl");
    assert_eq!(
        shim.trim(),
        "/usr/local/sbin/etcdctl",
        "the shim is not first on PATH"
    );
    let refused = common::etcdplay_with_deadline(dir.path(), &args, APPLY_DEADLINE);
    ssh_ok(&lab.lab, "labw2", "rm -f /usr/local/sbin/etcdctl");
    let out = text(&refused);
    eprintln!("reset with a failing snapshot:\n{out}");
    assert_ne!(refused.status.code(), Some(0), "{out}");
    for needle in [
        "labw2: etcd runs (unit etcd is active) but `etcdctl snapshot save` failed on every client URL",
        "Error: simulated snapshot failure",
    ] {
        assert!(out.contains(needle), "{needle:?} missing:\n{out}");
    }
    assert!(!out.contains("emptied the data dirs"), "{out}");
    for h in &lab.lab.hosts {
        let state = ssh_ok(&lab.lab, &h.name, "systemctl is-active etcd");
        assert_eq!(state.trim(), "active", "{} was stopped", h.name);
        let archives = ssh_ok(
            &lab.lab,
            &h.name,
            "ls /var/backups/etcdplay 2>/dev/null | grep -c 'data-dir.tar.gz$' || true",
        );
        assert_eq!(
            archives.trim(),
            "0",
            "{}: a live data dir was archived",
            h.name
        );
    }
    let kept = etcdctl_tls(&pki, &https, &["get", "", "--from-key"]);
    assert_eq!(
        parse_get(&String::from_utf8_lossy(&kept.stdout)),
        written,
        "the refused reset changed the cluster"
    );

    // (2b) The reset itself.
    let reset = common::etcdplay_with_deadline(dir.path(), &args, APPLY_DEADLINE);
    let out = text(&reset);
    eprintln!("reset output:\n{out}");
    assert_eq!(reset.status.code(), Some(0), "reset failed:\n{out}");
    assert!(
        out.contains("--leftover-membership reset: emptied the data dirs"),
        "{out}"
    );
    assert!(!out.contains("PRIVATE KEY"), "key material in the output");

    // (3) Every member's backup is a verified snapshot on the control node that restores
    // into a data dir with every key.
    for h in &lab.lab.hosts {
        let line = out
            .lines()
            .find(|l| {
                l.trim_start()
                    .starts_with(&format!("{}: backup of /var/lib/etcd/data at", h.name))
            })
            .unwrap_or_else(|| panic!("no backup line for {}:\n{out}", h.name));
        let (host, backup) = snapshot_backup(&lab.lab, dir.path(), &h.name, line, KEYS as u64);
        let restore_started = Instant::now();
        let restored = restore_and_read(&backup);
        eprintln!(
            "{host}: restored {} keys from {} in {:.1}s",
            restored.len(),
            backup.display(),
            restore_started.elapsed().as_secs_f64()
        );
        assert_eq!(
            restored,
            written,
            "the reset backup of {host} ({}) does not hold every key",
            backup.display()
        );
        // The client certificate was not uploaded (the member's own carries clientAuth), and
        // nothing of an upload is left behind anyway.
        let left = ssh_ok(
            &lab.lab,
            &h.name,
            "ls -d /run/etcdplay-snapshot.* 2>/dev/null || true",
        );
        assert_eq!(left.trim(), "", "{}: upload dir left behind", h.name);
    }

    // (4) The reset really started afresh on the planned ports.
    let moved_https = endpoints(&lab, "https", 2391);
    let members = text(&etcdctl_tls(&pki, &moved_https, &["member", "list"]));
    assert_eq!(members.matches(":2390").count(), 3, "{members}");
    let gone = etcdctl_tls(
        &pki,
        &moved_https,
        &["get", "tls/", "--prefix", "--keys-only"],
    );
    assert!(gone.status.success(), "{}", text(&gone));
    assert_eq!(
        String::from_utf8_lossy(&gone.stdout).trim(),
        "",
        "reset kept data"
    );
    eprintln!("whole test took {:.1}s", started.elapsed().as_secs_f64());
}
