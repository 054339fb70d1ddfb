//! End to end: `etcd_backup_schedule` installs a snapshot timer on every member that keeps
//! the newest `etcd_backup_keep` verified snapshots locally, `etcdplay backup --collect`
//! brings the newest of each member home (sha256 and `snapshot status` checked, a sidecar
//! `etcdplay restore` accepts, and does: restored, a key written after the snapshot is gone),
//! and an empty schedule removes the timer again.
//!
//! Three private lab hosts (`lca1..3` on `etcdplaybr52`, 10.213.52.0/24, the lab of
//! `ca_rotation_e2e` and `alarm_e2e`: cargo runs test binaries one after the other), taken
//! down at the end. The schedule is every 5 seconds (`*:*:0/5`) so that the test sees the
//! retention at work.
//!
//! What Ansible does here: the timer and service are ordinary `template` and `systemd` tasks
//! of the built-in playbook (what Ansible would run the same way); the snapshot procedure is
//! etcdctl's (`snapshot save`, `snapshot status`).

#![allow(clippy::print_stderr)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{etcdctl_tls, ssh, ssh_ok, text, PrivateLab, TlsCluster};
use serde_json::Value;

/// The longest an `etcdplay` command may run before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(480);
/// Where the timer keeps its snapshots on the hosts (etcd_backup_host_dir's default).
const HOST_DIR: &str = "/var/backups/etcdplay/scheduled";

fn etcdplay(dir: &Path, args: &[&str]) -> Output {
    common::etcdplay_with_deadline(dir, args, DEADLINE)
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The snapshot names in the timer's directory on `host`.
fn host_snapshots(lab: &PrivateLab, host: &str) -> Vec<String> {
    ssh_ok(
        &lab.lab,
        host,
        &format!("ls -1 {HOST_DIR} 2>/dev/null | grep -E '^etcd-.*\\.db$' || true"),
    )
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn scheduled_snapshots_are_kept_locally_collected_verified_and_unscheduled() {
    let TlsCluster {
        lab,
        dir,
        inventory,
        pki,
        endpoints: eps,
    } = TlsCluster::deploy(
        "lca",
        "etcdplaybr52",
        52,
        3,
        &[
            "-e",
            "etcd_backup_schedule=*:*:0/5",
            "-e",
            "etcd_backup_keep=2",
        ],
    );
    let inv = inventory.as_str();
    let put = etcdctl_tls(&pki, &eps, &["put", "scheduled", "yes"]);
    assert!(put.status.success(), "{}", text(&put));
    for h in &lab.lab.hosts {
        let state = ssh_ok(
            &lab.lab,
            &h.name,
            "systemctl is-enabled etcd-snapshot.timer",
        );
        assert_eq!(state.trim(), "enabled", "{}", h.name);
    }

    // The timer runs every 5 s; after 25 s every member holds exactly the newest two. The
    // timer is then stopped (and a run in progress waited for), so that what is checked and
    // collected below is not pruned under the test's feet.
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(25));
    for h in &lab.lab.hosts {
        ssh_ok(
            &lab.lab,
            &h.name,
            "systemctl stop etcd-snapshot.timer; \
             while systemctl -q is-active etcd-snapshot.service; do sleep 0.2; done",
        );
    }
    for h in &lab.lab.hosts {
        let names = host_snapshots(&lab, &h.name);
        eprintln!(
            "{} after {:.0}s: {names:?}",
            h.name,
            started.elapsed().as_secs_f64()
        );
        assert_eq!(names.len(), 2, "{}: retention keeps 2: {names:?}", h.name);
        for n in &names {
            let sum = ssh_ok(&lab.lab, &h.name, &format!("cat {HOST_DIR}/{n}.sha256"));
            assert_eq!(sum.trim().len(), 64, "{}: {n}.sha256", h.name);
        }
        let partial = ssh(&lab.lab, &h.name, &format!("ls -a {HOST_DIR} | grep part"));
        assert!(!String::from_utf8_lossy(&partial.stdout).contains(".part.status"));
    }

    // Collect: the newest of each member, verified, with a sidecar.
    let out = etcdplay(dir.path(), &["backup", "-i", inv, "--collect", "--json"]);
    assert_eq!(out.status.code(), Some(0), "collect:\n{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(&out)));
    let collected = doc["result"]["collected"]
        .as_array()
        .expect("collected")
        .clone();
    eprintln!(
        "collected: {}",
        serde_json::to_string_pretty(&collected).unwrap_or_default()
    );
    assert_eq!(collected.len(), 3, "{doc}");
    for entry in &collected {
        let file = Path::new(entry["file"].as_str().expect("file")).to_path_buf();
        let host = entry["host"].as_str().expect("host");
        assert!(
            file.starts_with(dir.path().join("backups").join(host)),
            "{}",
            file.display()
        );
        assert_eq!(entry["sha256"].as_str(), Some(sha256_of(&file).as_str()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let sidecar: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{}.json", file.display())).expect("sidecar"),
        )
        .expect("sidecar JSON");
        assert_eq!(sidecar["sha256"], entry["sha256"]);
        assert_eq!(sidecar["format"], "etcdplay-backup/1");
        // The newest on the host.
        let name = file.file_name().and_then(|n| n.to_str()).expect("name");
        let on_host = host_snapshots(&lab, host);
        assert_eq!(
            on_host.iter().max().map(String::as_str),
            Some(name),
            "{host}"
        );
        let status = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["snapshot", "status", "-w", "json"])
            .arg(&file)
            .output()
            .expect("etcdctl snapshot status");
        assert!(status.status.success(), "{}", text(&status));
        let st: Value = serde_json::from_slice(&status.stdout).expect("status JSON");
        assert_eq!(st["revision"], entry["revision"], "{st}");
    }

    // A collected snapshot is one `etcdplay restore` takes (its sidecar checked): a key
    // written after it is gone once restored, the one before it is back.
    let put = etcdctl_tls(&pki, &eps, &["put", "after-snapshot", "x"]);
    assert!(put.status.success(), "{}", text(&put));
    let file = collected[0]["file"].as_str().expect("file").to_string();
    let restored = etcdplay(
        dir.path(),
        &["restore", "-i", inv, &file, "--force", "--json"],
    );
    assert_eq!(
        restored.status.code(),
        Some(0),
        "restore:\n{}\n{}",
        text(&restored),
        lab.journals("etcd", 40)
    );
    let get = |key: &str| {
        let out = etcdctl_tls(&pki, &eps, &["get", key, "--print-value-only"]);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(get("scheduled"), "yes");
    assert_eq!(get("after-snapshot"), "");
    eprintln!("restored from the collected {file}");

    // An empty schedule removes the timer; the snapshots taken stay.
    let off = etcdplay(dir.path(), &["apply", "-i", inv]);
    assert_eq!(off.status.code(), Some(0), "apply:\n{}", text(&off));
    for h in &lab.lab.hosts {
        let timer = ssh(
            &lab.lab,
            &h.name,
            "systemctl is-enabled etcd-snapshot.timer",
        );
        assert!(!timer.status.success(), "{}: timer still there", h.name);
        assert!(!host_snapshots(&lab, &h.name).is_empty(), "{}", h.name);
    }
}
