//! The data-dir guard on real hosts: an HTTP etcd 3.4 cluster is bootstrapped on three lab
//! hosts with the Ansible-style etcd role, keys are written, etcd is stopped everywhere, and
//! the same role is applied again with TLS peer URLs. etcdplay must refuse with exit code 2
//! and a full explanation, start etcd nowhere, leave every data-dir byte as it was, and no
//! journal may show the TLS-handshake rejection that the classic failure produces. Then the
//! two repairs: `migrate` keeps every key, and `reset` starts fresh after a backup that
//! `etcdctl snapshot restore` turns back into a working etcd holding the dropped keys.
//!
//! The test stops etcd and rewrites units, so it runs on a lab of its own (hosts `labd1..3` on
//! `etcdplaybr4`, 10.213.4.0/24) that it takes down at the end, never on the shared lab.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::snapshot::{restore_and_read, snapshot_backup};
use common::*;
use etcdplay_lab::{netns_exists, Lab, LabConfig, LabManager};

fn config() -> LabConfig {
    LabConfig {
        host_prefix: "labd".into(),
        bridge: "etcdplaybr4".into(),
        subnet: [10, 213, 4],
        ..LabConfig::default()
    }
}

/// Takes this test's lab down however the test ends.
struct DownOnDrop(LabConfig);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        let config = self.0.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(LabManager::new(config).down());
            }
        })
        .join();
    }
}

const RESET: &str = "systemctl stop etcd 2>/dev/null; systemctl disable etcd 2>/dev/null; \
    rm -rf /var/lib/etcd /etc/etcd /etc/systemd/system/etcd.service /usr/local/bin/etcd /usr/local/bin/etcdctl; \
    systemctl daemon-reload; true";

const ETCDCTL: &str = "ETCDCTL_API=3 /usr/local/bin/etcdctl --endpoints http://127.0.0.1:2379";

/// sha256 of every file in the host's data dirs, in name order.
fn data_dir_sums(lab: &Lab, host: &str) -> String {
    ssh_ok(
        lab,
        host,
        "cd /var/lib/etcd && find . -type f -print0 | sort -z | xargs -0 sha256sum",
    )
}

/// The 20 keys written at the start, read through the cluster, with a healthy cluster.
fn assert_keys(lab: &Lab) {
    for i in [0, 7, 19] {
        let got = ssh_ok(
            lab,
            "labd3",
            &format!("{ETCDCTL} get key{i} --print-value-only"),
        );
        assert_eq!(got.trim(), format!("value{i}"), "key{i} lost");
    }
    let health = ssh_ok(
        lab,
        "labd1",
        &format!("{ETCDCTL} endpoint health --cluster 2>&1"),
    );
    assert_eq!(health.matches("is healthy").count(), 3, "{health}");
}

#[test]
fn a_tls_start_on_an_http_data_dir_is_refused_everywhere_and_changes_nothing() {
    let config = config();
    let manager = LabManager::new(config.clone());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(manager.down())
        .expect("initial down of the test lab");
    let _down = DownOnDrop(config);
    let lab = rt
        .block_on(manager.up(3))
        .unwrap_or_else(|e| panic!("lab up 3: {e}"));
    for h in &lab.hosts {
        assert!(
            netns_exists(&h.netns),
            "namespace {} of {} is missing",
            h.netns,
            h.name
        );
        ssh_ok(&lab, &h.name, RESET);
    }

    let work = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("tests/e2e/etcd-role"), work.path());
    copy_tree(&repo_root().join("tests/e2e/datadir"), work.path());
    let inventory = ini_inventory(&lab, work.path(), "etcds");
    let inv = inventory.to_str().unwrap();

    // (1) An HTTP cluster with data.
    let first = etcdplay(work.path(), &["apply", "-i", inv, "site.yml"]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "HTTP bootstrap failed:\n{}",
        text(&first)
    );
    for i in 0..20 {
        ssh_ok(&lab, "labd1", &format!("{ETCDCTL} put key{i} value{i}"));
    }
    let members = ssh_ok(&lab, "labd1", &format!("{ETCDCTL} member list"));
    // `8e9e05c52164694d, started, etcd1, http://10.213.4.11:2380, http://..., false`
    let listed: Vec<(String, String, String)> = members
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(", ").collect();
            (f.len() >= 4).then(|| (f[0].to_string(), f[2].to_string(), f[3].to_string()))
        })
        .collect();
    assert_eq!(listed.len(), 3, "{members}");
    for h in &lab.hosts {
        ssh_ok(&lab, &h.name, "systemctl stop etcd");
    }
    let before: Vec<String> = lab
        .hosts
        .iter()
        .map(|h| data_dir_sums(&lab, &h.name))
        .collect();
    assert!(
        before.iter().all(|s| s.contains("member/wal/")),
        "{before:?}"
    );
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();

    // (2) The same role with https peer URLs: refused, exit 2.
    let tls = etcdplay(work.path(), &["apply", "-i", inv, "tls.yml"]);
    let out = text(&tls);
    assert_eq!(
        tls.status.code(),
        Some(2),
        "the TLS apply must be refused:\n{out}"
    );
    for h in &lab.hosts {
        let planned = format!("https://{}:2380", h.ip);
        assert!(
            out.contains(&format!("data-dir scheme check refuses on {}", h.name)),
            "no refusal for {}:\n{out}",
            h.name
        );
        assert!(
            out.contains(&planned),
            "planned URL {planned} missing:\n{out}"
        );
    }
    for (id, name, peer) in &listed {
        assert!(
            out.contains(&format!("member {id} name={name} peer URLs: {peer}")),
            "member {id} {name} {peer} missing:\n{out}"
        );
    }
    for needle in [
        "/var/lib/etcd/default",
        "tls: first record does not look like a TLS handshake",
        "The data dir was not touched",
        "--leftover-membership migrate",
        "--leftover-membership reset",
    ] {
        assert!(out.contains(needle), "{needle:?} missing:\n{out}");
    }
    assert!(
        out.contains(&format!(
            "etcdplay apply -i {inv} tls.yml --leftover-membership migrate"
        )),
        "the remedy is not the exact command:\n{out}"
    );

    for (h, sums) in lab.hosts.iter().zip(&before) {
        let state = ssh(&lab, &h.name, "systemctl is-active etcd");
        assert_eq!(
            String::from_utf8_lossy(&state.stdout).trim(),
            "inactive",
            "etcd runs on {}",
            h.name
        );
        assert_eq!(
            &data_dir_sums(&lab, &h.name),
            sums,
            "the data dir of {} changed",
            h.name
        );
        let rejected = ssh(&lab, &h.name, &format!("journalctl -u etcd --since @{since} --no-pager | grep -c 'first record does not look like a TLS handshake'"));
        assert_eq!(
            String::from_utf8_lossy(&rejected.stdout).trim(),
            "0",
            "{} logged a TLS rejection",
            h.name
        );
    }

    // (2b) The unchanged HTTP role passes the guard and brings the cluster back.
    let back = etcdplay(work.path(), &["apply", "-i", inv, "site.yml"]);
    assert_eq!(back.status.code(), Some(0), "{}", text(&back));

    // (3a) migrate with the cluster running: rolling in place to port 2390, ids kept.
    let migrated = etcdplay(
        work.path(),
        &[
            "apply",
            "-i",
            inv,
            "port.yml",
            "--leftover-membership",
            "migrate",
        ],
    );
    let out = text(&migrated);
    assert_eq!(
        migrated.status.code(),
        Some(0),
        "rolling migrate failed:\n{out}"
    );
    assert!(
        out.contains("one at a time (member update + restart)"),
        "{out}"
    );
    let members = ssh_ok(&lab, "labd2", &format!("{ETCDCTL} member list"));
    for (id, name, peer) in &listed {
        let moved = peer.replace(":2380", ":2390");
        assert!(
            members.contains(&format!("{id}, started, {name}, {moved}")),
            "{name} ({id}) not moved to {moved}: {members}"
        );
    }
    assert_keys(&lab);
    for h in &lab.hosts {
        let backups = ssh_ok(&lab, &h.name, "ls /var/backups/etcdplay");
        assert!(
            backups.contains(".snapshot.db"),
            "{}: no snapshot backup: {backups}",
            h.name
        );
    }

    // (3b) migrate with the cluster stopped: snapshot and restore back to port 2380.
    for h in &lab.hosts {
        ssh_ok(&lab, &h.name, "systemctl stop etcd");
    }
    let migrated = etcdplay(
        work.path(),
        &[
            "apply",
            "-i",
            inv,
            "site.yml",
            "--leftover-membership",
            "migrate",
        ],
    );
    let out = text(&migrated);
    assert_eq!(
        migrated.status.code(),
        Some(0),
        "restore migrate failed:\n{out}"
    );
    assert!(
        out.contains("--leftover-membership migrate: restored every member"),
        "{out}"
    );
    let members = ssh_ok(&lab, "labd2", &format!("{ETCDCTL} member list"));
    for h in &lab.hosts {
        assert!(
            members.contains(&format!("http://{}:2380", h.ip)),
            "{} not on 2380: {members}",
            h.name
        );
        assert!(
            !members.contains(&format!("http://{}:2390", h.ip)),
            "{} still on 2390: {members}",
            h.name
        );
        let backups = ssh_ok(
            &lab,
            &h.name,
            "ls /var/backups/etcdplay; ls -d /var/lib/etcd/default.pre-migrate-*",
        );
        assert!(
            backups.contains(".data-dir.tar.gz") && backups.contains("pre-migrate"),
            "{}: {backups}",
            h.name
        );
        let local: Vec<_> = std::fs::read_dir(work.path().join("backups").join(&h.name))
            .expect("control-node backups")
            .collect();
        assert!(
            local.len() >= 2,
            "backups of {} beside the inventory: {local:?}",
            h.name
        );
    }
    assert_keys(&lab);

    // (4) reset: to port 2390 starting fresh; etcd runs, so the backups are snapshots. A
    // marker written just before proves below that the restored backup is this reset's, not
    // one of the migrations' older snapshots (which lack it).
    let marker = format!("reset-{since}");
    ssh_ok(
        &lab,
        "labd1",
        &format!("{ETCDCTL} put reset-marker {marker}"),
    );
    let reset = etcdplay(
        work.path(),
        &[
            "apply",
            "-i",
            inv,
            "port.yml",
            "--leftover-membership",
            "reset",
        ],
    );
    let out = text(&reset);
    assert_eq!(reset.status.code(), Some(0), "reset failed:\n{out}");
    assert!(
        out.contains("--leftover-membership reset: emptied the data dirs"),
        "{out}"
    );
    let mut reset_backups = Vec::new();
    for h in &lab.hosts {
        let line = out
            .lines()
            .find(|l| {
                l.trim_start()
                    .starts_with(&format!("{}: backup of", h.name))
            })
            .unwrap_or_default();
        assert!(
            line.contains(".snapshot.db on the host"),
            "{}: a running member is backed up by a snapshot: {line}",
            h.name
        );
        assert!(
            out.contains(&format!(
                "{}: backup of /var/lib/etcd/default at /var/backups/etcdplay/{}-",
                h.name, h.name
            )),
            "{out}"
        );
        // The 20 keys and the marker at least.
        reset_backups.push(snapshot_backup(&lab, work.path(), &h.name, line, 21));
    }
    let members = ssh_ok(&lab, "labd1", &format!("{ETCDCTL} member list"));
    assert_eq!(members.matches(":2390").count(), 3, "{members}");
    let gone = ssh_ok(
        &lab,
        "labd1",
        &format!("{ETCDCTL} get key7 --print-value-only"),
    );
    assert_eq!(gone.trim(), "", "reset kept data");
    // The keys the reset dropped from the cluster are in its backup: restored with etcdctl
    // into a throwaway etcd on the control node, every one reads back with its value.
    let (host, backup) = &reset_backups[0];
    let restored = restore_and_read(backup);
    for i in 0..20 {
        assert_eq!(
            restored.get(&format!("key{i}")).map(String::as_str),
            Some(format!("value{i}").as_str()),
            "key{i} is not in the reset backup of {host} ({}): {restored:?}",
            backup.display()
        );
    }
    assert_eq!(
        restored.get("reset-marker"),
        Some(&marker),
        "the backup of {host} predates the reset: {restored:?}"
    );
    // A fresh, consistent cluster passes the guard: a plain run changes nothing.
    let again = etcdplay(work.path(), &["apply", "-i", inv, "port.yml"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
}
