//! End to end: a cluster filled up to its backend quota raises NOSPACE, `etcdplay health`
//! shows the alarm and each backend's size against its quota, `etcdplay alarm disarm` refuses
//! while the space is not reclaimed, and after a compaction and `etcdplay defrag` it clears
//! the alarm and writes work again.
//!
//! Three private lab hosts (`lca1..3` on `etcdplaybr52`, 10.213.52.0/24, the same lab as
//! `ca_rotation_e2e`: cargo runs test binaries one after the other), taken down at the end.
//! The quota is set through the built-in playbook's variable for etcd's flag,
//! `etcd_quota_backend_bytes` (16 MiB here).
//!
//! What Ansible does here: nothing comparable (ansible-core has no etcd modules); the
//! procedure is etcd's own for NOSPACE ("compact, defragment, disarm", etcd maintenance
//! guide), and `etcdctl alarm disarm` is what the disarm does per alarm.

#![allow(clippy::print_stderr)]

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{etcdctl_tls, text, TlsCluster};
use serde_json::Value;

/// The longest an `etcdplay` command may run before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(480);
/// The backend quota the cluster is deployed with.
const QUOTA: u64 = 16 * 1024 * 1024;

fn etcdplay(dir: &Path, args: &[&str]) -> Output {
    common::etcdplay_with_deadline(dir, args, DEADLINE)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(out)))
}

/// Writes 100 kB values until etcd refuses for lack of space; returns how many went in.
fn fill_until_nospace(pki: &Path, eps: &str) -> usize {
    let value = "x".repeat(100_000);
    for i in 0..1000 {
        let put = etcdctl_tls(pki, eps, &["put", &format!("fill/{i}"), &value]);
        if !put.status.success() {
            let said = text(&put);
            assert!(
                said.contains("database space exceeded"),
                "put {i} failed for another reason: {said}"
            );
            return i;
        }
    }
    panic!("1000 puts of 100 kB did not fill a {QUOTA}-byte quota");
}

#[test]
fn nospace_is_shown_refused_until_reclaimed_then_disarmed() {
    let quota_var = format!("etcd_quota_backend_bytes={QUOTA}");
    // `_lab` keeps the hosts up until the end of the test.
    let TlsCluster {
        lab: _lab,
        dir,
        inventory,
        pki,
        endpoints: eps,
    } = TlsCluster::deploy("lca", "etcdplaybr52", 52, 3, &["-e", &quota_var]);
    let inv = inventory.as_str();
    let healthy = etcdplay(dir.path(), &["health", "-i", inv]);
    assert_eq!(healthy.status.code(), Some(0), "{}", text(&healthy));
    eprintln!("before:\n{}", String::from_utf8_lossy(&healthy.stdout));
    assert!(
        String::from_utf8_lossy(&healthy.stdout).contains("17 MB ("),
        "the quota column shows the 16 MiB quota: {}",
        text(&healthy)
    );

    // Full: etcd refuses writes and raises NOSPACE.
    let written = fill_until_nospace(&pki, &eps);
    eprintln!("{written} values of 100 kB went in before NOSPACE");
    let full = etcdplay(dir.path(), &["health", "-i", inv]);
    let table = String::from_utf8_lossy(&full.stdout).into_owned();
    eprintln!("full:\n{table}{}", String::from_utf8_lossy(&full.stderr));
    assert_eq!(full.status.code(), Some(2), "{}", text(&full));
    assert!(table.contains("NOSPACE"), "{table}");
    let listed = etcdplay(dir.path(), &["alarm", "list", "-i", inv, "--json"]);
    let doc = json_of(&listed);
    let alarms = doc["alarms"].as_array().expect("alarms").clone();
    assert!(!alarms.is_empty(), "{doc}");
    assert!(alarms.iter().all(|a| a["alarm"] == "NOSPACE"), "{doc}");
    // etcd raises NOSPACE when a write would pass the quota: the backend is then close to it
    // (observed: 16723968 of 16777216 bytes).
    assert!(
        alarms.iter().any(|a| {
            let (size, quota) = (a["db_size"].as_u64(), a["quota_bytes"].as_u64());
            quota == Some(QUOTA) && size.is_some_and(|s| s * 10 > QUOTA * 9)
        }),
        "{doc}"
    );

    // Disarming before the space is reclaimed is refused: the next write would re-raise it.
    let early = etcdplay(dir.path(), &["alarm", "disarm", "-i", inv]);
    eprintln!("disarm before reclaiming: {}", text(&early).trim());
    assert_eq!(early.status.code(), Some(2), "{}", text(&early));
    assert!(text(&early).contains("etcdplay defrag"), "{}", text(&early));

    // Reclaim: delete, compact, defragment (which an alarm does not stop).
    let del = etcdctl_tls(&pki, &eps, &["del", "--prefix", "fill/"]);
    assert!(del.status.success(), "{}", text(&del));
    let status = etcdctl_tls(&pki, &eps, &["endpoint", "status", "-w", "json"]);
    let statuses: Vec<Value> = serde_json::from_slice(&status.stdout).expect("status JSON");
    let revision = statuses[0]["Status"]["header"]["revision"]
        .as_u64()
        .expect("revision");
    let compact = etcdctl_tls(
        &pki,
        &eps,
        &["compact", &revision.to_string(), "--physical"],
    );
    assert!(compact.status.success(), "{}", text(&compact));
    let defrag = etcdplay(dir.path(), &["defrag", "-i", inv, "--json"]);
    assert_eq!(defrag.status.code(), Some(0), "defrag:\n{}", text(&defrag));
    let done = json_of(&defrag);
    eprintln!(
        "defrag: {}",
        done["result"]["msg"].as_str().unwrap_or_default()
    );
    // NOSPACE makes every member count, whatever its free share said (under NOSPACE the
    // pages a compaction freed may not be counted yet: 9 % free was observed once).
    assert_eq!(done["result"]["nospace"], Value::Bool(true), "{done}");
    let members = done["result"]["members"].as_array().expect("members");
    assert!(
        members
            .iter()
            .all(|m| m["defragmented"] == Value::Bool(true)),
        "{done}"
    );

    // Now the alarm is cleared and writes work again.
    let disarm = etcdplay(dir.path(), &["alarm", "disarm", "-i", inv, "--json"]);
    let doc = json_of(&disarm);
    eprintln!("disarm: {doc}");
    assert_eq!(disarm.status.code(), Some(0), "{}", text(&disarm));
    let entries = doc["alarms"].as_array().expect("alarms");
    assert!(!entries.is_empty(), "{doc}");
    assert!(entries.iter().all(|a| a["outcome"] == "disarmed"), "{doc}");
    let put = etcdctl_tls(&pki, &eps, &["put", "after", "ok"]);
    assert!(put.status.success(), "{}", text(&put));
    let after = etcdplay(dir.path(), &["health", "-i", inv]);
    eprintln!("after:\n{}", String::from_utf8_lossy(&after.stdout));
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
    assert!(!String::from_utf8_lossy(&after.stdout).contains("NOSPACE"));
}
