//! End to end: operating a TLS cluster deployed by the built-in playbook for the rest of its
//! life: `etcdplay backup`, `etcdplay restore` after every data dir is lost, scale down with
//! `etcd_member_state: absent`, and `etcdplay defrag`.
//!
//! Four private lab hosts (`lops1..4` on `etcdplaybr48`, 10.213.48.0/24), taken down at the
//! end; the shared lab is never touched. Steps:
//! 1. `apply` → four TLS members; 60 keys written.
//! 2. `backup --json --keep 1` twice: each JSON names the file, its sidecar, sha256 and
//!    revision; the file is 0600 and its sha256 is what the sidecar says; only the newest is kept.
//! 3. `restore` while the cluster works is refused (exit 2) and stops nothing.
//! 4. etcd stopped everywhere, the data dirs of three members deleted (the fourth left as a
//!    damaged one would be); `restore --json` → exit 0, every key back with its value, four
//!    healthy members, the revision read back at least the snapshot's, the fourth member's old
//!    dir kept as `data.pre-restore-*`; then a plain `apply` passes the data-dir guard.
//! 5. `etcd_member_state: absent` on lops4 (made the leader first) and `apply`, with a writer
//!    on the other three all along: three voting members remain, lops4's etcd is stopped and
//!    disabled, its data dir is kept as `data.removed-*`, and no write failed.
//! 6. 8 MB written, deleted and compacted; `defrag --json` with a writer: every member's
//!    backend shrinks, the leader is defragmented last, no write failed.
//!
//! What Ansible does here: nothing comparable (ansible-core has no etcd modules); the
//! procedures follow etcd's own disaster-recovery and member-removal documentation.

#![allow(clippy::print_stderr)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::writer::Writer;
use common::{assert_keys, etcdctl_tls, put_keys, ssh_ok, text, TlsCluster};
use serde_json::Value;

/// The longest an `etcdplay` command may run before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(480);

/// Keys written before the backup.
const KEYS: usize = 60;

fn etcdplay(dir: &Path, args: &[&str]) -> std::process::Output {
    common::etcdplay_with_deadline(dir, args, DEADLINE)
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(out)))
}

fn sha256_of(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// (6) 8 MB written and deleted, compacted: `etcdplay defrag` shrinks every member's
/// backend, the leader last, while a writer never fails.
fn defrag_after_a_delete_heavy_load(dir: &Path, inv: &str, pki: &Path, eps: &str) {
    let value = "x".repeat(100_000);
    for i in 0..80 {
        let put = etcdctl_tls(pki, eps, &["put", &format!("big/{i}"), &value]);
        assert!(put.status.success(), "{}", text(&put));
    }
    let del = etcdctl_tls(pki, eps, &["del", "--prefix", "big/"]);
    assert!(del.status.success(), "{}", text(&del));
    let status = etcdctl_tls(pki, eps, &["endpoint", "status", "-w", "json"]);
    let statuses: Vec<Value> = serde_json::from_slice(&status.stdout).expect("status JSON");
    let revision = statuses[0]["Status"]["header"]["revision"]
        .as_u64()
        .expect("revision");
    let compact = etcdctl_tls(pki, eps, &["compact", &revision.to_string(), "--physical"]);
    assert!(compact.status.success(), "{}", text(&compact));
    let writer = Writer::start(pki, eps.to_string());
    std::thread::sleep(Duration::from_secs(2));
    let out = etcdplay(dir, &["defrag", "-i", inv, "--json"]);
    std::thread::sleep(Duration::from_secs(2));
    let (writes, failures, longest) = writer.finish();
    eprintln!(
        "writer during defrag: {writes} writes, {failures} failed, longest failure window {:.1}s",
        longest.as_secs_f64()
    );
    assert_eq!(out.status.code(), Some(0), "defrag:\n{}", text(&out));
    let doc = json_of(&out);
    eprintln!(
        "defrag: {}",
        doc["result"]["msg"].as_str().unwrap_or_default()
    );
    let members = doc["result"]["members"].as_array().expect("members");
    assert_eq!(members.len(), 3, "{doc}");
    for m in members {
        assert_eq!(m["defragmented"], Value::Bool(true), "{m}");
        let (before, after) = (m["db_size_before"].as_u64(), m["db_size_after"].as_u64());
        assert!(after < before, "{m}");
    }
    assert_eq!(
        members[2]["leader"],
        Value::Bool(true),
        "leader last: {doc}"
    );
    assert_eq!(failures, 0, "writes failed during the defragmentation");
}

/// Makes the member at `ip` the leader with `etcdctl move-leader` sent to the current leader.
fn make_leader(pki: &Path, all: &str, ip: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = etcdctl_tls(pki, all, &["endpoint", "status", "-w", "json"]);
        let statuses: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let id_of = |s: &Value| s["Status"]["header"]["member_id"].as_u64();
        let leader = statuses
            .iter()
            .find(|s| id_of(s).is_some() && id_of(s) == s["Status"]["leader"].as_u64());
        let target = statuses.iter().find(|s| {
            s["Endpoint"]
                .as_str()
                .is_some_and(|e| e.contains(&format!("//{ip}:")))
        });
        if let (Some(leader), Some(target)) = (leader, target) {
            if id_of(leader) == id_of(target) {
                return;
            }
            let from = leader["Endpoint"].as_str().unwrap_or_default();
            let to = format!("{:x}", id_of(target).unwrap_or_default());
            let moved = etcdctl_tls(pki, from, &["move-leader", &to]);
            eprintln!("move-leader to {ip}: {}", text(&moved).trim());
        }
        assert!(
            Instant::now() < deadline,
            "could not make {ip} the leader: {}",
            text(&out)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn backup_restore_after_every_data_dir_is_lost_scale_down_and_defrag_without_a_failed_write() {
    let started = Instant::now();
    // (1) Four TLS members and some keys.
    let TlsCluster {
        lab,
        dir,
        inventory,
        pki,
        endpoints: all,
    } = TlsCluster::deploy("lops", "etcdplaybr48", 48, 4, &[]);
    let inv = inventory.as_str();
    put_keys(&pki, &all, KEYS);

    // (2) Two backups, keeping one.
    let backups = dir.path().join("backups");
    let mut last = Value::Null;
    for round in 0..2 {
        let out = etcdplay(dir.path(), &["backup", "-i", inv, "--keep", "1", "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "backup {round}:\n{}",
            text(&out)
        );
        let doc = json_of(&out);
        eprintln!("backup {round}: {}", doc["result"]["msg"]);
        assert_eq!(doc["ok"], Value::Bool(true), "{doc}");
        let chosen = doc["steps"][0]["msg"].as_str().unwrap_or_default();
        assert!(chosen.contains("(a follower"), "not a follower: {doc}");
        let file = Path::new(doc["result"]["file"].as_str().expect("file")).to_path_buf();
        assert!(file.starts_with(&backups), "{doc}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)
            .expect("backup")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
        let sidecar: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{}.json", file.display())).expect("sidecar"),
        )
        .expect("sidecar JSON");
        assert_eq!(sidecar["sha256"].as_str(), Some(sha256_of(&file).as_str()));
        assert_eq!(sidecar["sha256"], doc["result"]["sha256"]);
        assert!(
            sidecar["revision"].as_u64().unwrap_or(0) > KEYS as u64,
            "{sidecar}"
        );
        assert!(sidecar["cluster_id"].is_string(), "{sidecar}");
        // Names carry the second: two rounds in one second would share one.
        std::thread::sleep(Duration::from_millis(1100));
        last = doc;
    }
    let kept: Vec<String> = std::fs::read_dir(&backups)
        .expect("backups dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".db"))
        .collect();
    assert_eq!(kept.len(), 1, "--keep 1 left {kept:?}");
    let snapshot = last["result"]["file"].as_str().expect("file").to_string();
    let snapshot_revision = last["result"]["revision"].as_u64().expect("revision");
    // Written after the backup: gone after the restore.
    let put = etcdctl_tls(&pki, &all, &["put", "after-backup", "x"]);
    assert!(put.status.success(), "{}", text(&put));

    // (3) A working cluster is not restored without --force.
    let refused = etcdplay(dir.path(), &["restore", "-i", inv, &snapshot]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("refusing to restore: the cluster has quorum"),
        "{}",
        text(&refused)
    );
    let health = etcdctl_tls(&pki, &all, &["endpoint", "health"]);
    assert_eq!(
        text(&health).matches("is healthy").count(),
        4,
        "{}",
        text(&health)
    );

    // (4) Every member lost: etcd stopped everywhere, three data dirs deleted.
    for (i, h) in lab.lab.hosts.iter().enumerate() {
        ssh_ok(&lab.lab, &h.name, "systemctl stop etcd");
        if i > 0 {
            ssh_ok(&lab.lab, &h.name, "rm -rf /var/lib/etcd/data");
        }
    }
    let restored = etcdplay(dir.path(), &["restore", "-i", inv, &snapshot, "--json"]);
    let doc = json_of(&restored);
    eprintln!(
        "restore: {}",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    );
    assert_eq!(
        restored.status.code(),
        Some(0),
        "{}\n{}",
        text(&restored),
        lab.journals("etcd", 40)
    );
    assert!(
        doc["result"]["revision"].as_u64().unwrap_or(0) >= snapshot_revision,
        "{doc}"
    );
    assert_keys(&pki, &all, KEYS);
    let after = etcdctl_tls(&pki, &all, &["get", "after-backup", "--print-value-only"]);
    assert_eq!(
        String::from_utf8_lossy(&after.stdout).trim(),
        "",
        "{}",
        text(&after)
    );
    let health = etcdctl_tls(&pki, &all, &["endpoint", "health"]);
    assert_eq!(
        text(&health).matches("is healthy").count(),
        4,
        "{}",
        text(&health)
    );
    let first = &lab.lab.hosts[0].name;
    let aside = ssh_ok(&lab.lab, first, "ls -d /var/lib/etcd/data.pre-restore-*");
    assert!(
        !aside.trim().is_empty(),
        "{first}: the old data dir was not kept"
    );
    let again = etcdplay(dir.path(), &["apply", "-i", inv]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "apply after the restore:\n{}",
        text(&again)
    );

    // (5) Scale 4 → 3 with a writer on the members that stay.
    let leaving = lab.lab.hosts[3].name.clone();
    let host_vars = dir.path().join("host_vars");
    std::fs::create_dir_all(&host_vars).expect("host_vars");
    std::fs::write(
        host_vars.join(format!("{leaving}.yml")),
        "etcd_member_state: absent\n",
    )
    .expect("host vars");
    let staying: String = lab.lab.hosts[..3]
        .iter()
        .map(|h| format!("https://{}:2379", h.ip))
        .collect::<Vec<_>>()
        .join(",");
    // The hardest case: the leaving member leads, so it must hand over leadership first.
    make_leader(&pki, &all, &lab.lab.hosts[3].ip.to_string());
    let writer = Writer::start(&pki, staying.clone());
    std::thread::sleep(Duration::from_secs(2));
    let scaled = etcdplay(dir.path(), &["apply", "-i", inv, "-v"]);
    std::thread::sleep(Duration::from_secs(2));
    let (writes, failures, longest) = writer.finish();
    eprintln!("scale down output:\n{}", text(&scaled));
    eprintln!(
        "writer during scale down: {writes} writes, {failures} failed, longest failure window {:.1}s",
        longest.as_secs_f64()
    );
    assert_eq!(
        scaled.status.code(),
        Some(0),
        "scale down:\n{}",
        text(&scaled)
    );
    let members = etcdctl_tls(&pki, &staying, &["member", "list"]);
    let listed = text(&members);
    assert_eq!(listed.matches(", started, ").count(), 3, "{listed}");
    assert!(
        !listed.contains(&leaving) && !listed.contains("true"),
        "{listed}"
    );
    let state = ssh_ok(
        &lab.lab,
        &leaving,
        "systemctl is-enabled etcd || true; systemctl is-active etcd || true; ls -d /var/lib/etcd/data.removed-*",
    );
    assert!(
        state.contains("disabled") && state.contains("inactive") && state.contains("data.removed-"),
        "{leaving}: {state}"
    );
    assert!(writes > 10, "the writer hardly ran: {writes}");
    assert_eq!(failures, 0, "writes failed during the scale down");

    defrag_after_a_delete_heavy_load(dir.path(), inv, &pki, &staying);
    eprintln!("whole test took {:.1}s", started.elapsed().as_secs_f64());
}
