//! End to end: `--leftover-membership migrate` moves a running plain-HTTP cluster deployed by
//! the built-in playbook to TLS without losing keys and without losing quorum (procedure A of
//! the data-dir notes: member update to https one member at a time).
//!
//! Three private lab hosts (`labm1..3` on `etcdplaybr17`, 10.213.17.0/24), taken down at the
//! end; the shared lab is never touched. Steps: bootstrap with `-e etcd_tls=false`, write 20
//! keys over HTTP, start a writer that keeps writing (over http, or https once the CA exists)
//! and run `apply --leftover-membership migrate` with the TLS plan. Then: exit 0, only
//! https:// peer URLs, every key reads back over TLS, no TLS-handshake rejection in any
//! journal after the migration, and the writer never failed for longer than a few seconds.
//! Then the stopped-cluster path (snapshot and restore): a second plain-HTTP cluster in another
//! data dir, etcd stopped everywhere, `apply --leftover-membership migrate` with the TLS plan
//! restores every member with https peer URLs and every key.

#![allow(clippy::print_stderr)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{endpoints, etcdctl_tls, ssh_ok, text, yaml_inventory, PrivateLab};

/// The longest an `etcdplay apply` may run before the test gives up on it.
const APPLY_DEADLINE: Duration = Duration::from_secs(420);

/// The longest run of failed writes tolerated while members restart one at a time.
const MAX_FAILURE_WINDOW: Duration = Duration::from_secs(6);

/// etcdctl on the control node over plain HTTP.
fn etcdctl_http(endpoints: &str, args: &[&str]) -> Output {
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoints}"))
        .args(["--dial-timeout=2s", "--command-timeout=3s"])
        .args(args)
        .output()
        .expect("run etcdctl")
}

/// Seconds since the epoch, with the fraction: journal lines are compared to it exactly.
fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// The host's etcd journal lines with the TLS-handshake rejection logged after `after`
/// (seconds since the epoch; the journal's `short-unix` timestamps share the kernel clock).
fn tls_rejections_after(lab: &PrivateLab, host: &str, after: f64) -> Vec<String> {
    let since = (after as u64).saturating_sub(1);
    let lines = ssh_ok(
        &lab.lab,
        host,
        &format!("journalctl -u etcd -o short-unix --no-pager --since @{since} | grep 'first record does not look like a TLS handshake' || true"),
    );
    lines
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .and_then(|t| t.parse::<f64>().ok())
                .is_none_or(|t| t > after)
        })
        .map(str::to_string)
        .collect()
}

/// The longest time between the last successful write and a later failed one.
fn longest_failure_window(log: &[(Instant, bool)]) -> Duration {
    let mut longest = Duration::ZERO;
    let Some(first) = log.first() else {
        return longest;
    };
    let mut last_ok = first.0;
    for (t, ok) in log {
        if *ok {
            last_ok = *t;
        } else {
            longest = longest.max(t.duration_since(last_ok));
        }
    }
    longest
}

#[test]
fn a_running_http_cluster_migrates_to_tls_without_losing_keys_or_quorum() {
    let started = Instant::now();
    let lab = PrivateLab::up("labm", "etcdplaybr17", 17, 3);
    eprintln!("lab up took {:.1}s", started.elapsed().as_secs_f64());
    let dir = tempfile::tempdir().expect("tempdir");
    let inv_path = yaml_inventory(&lab, dir.path());
    let inv = inv_path.to_str().expect("utf-8 path");
    let pki = dir.path().join("pki");

    // (1) A plain-HTTP cluster with 20 keys.
    let first = common::etcdplay_with_deadline(
        dir.path(),
        &["apply", "-i", inv, "-e", "etcd_tls=false"],
        APPLY_DEADLINE,
    );
    assert_eq!(
        first.status.code(),
        Some(0),
        "HTTP bootstrap failed:\n{}",
        text(&first)
    );
    let http = endpoints(&lab, "http", 2379);
    for i in 0..20 {
        let put = etcdctl_http(&http, &["put", &format!("key{i}"), &format!("value{i}")]);
        assert!(put.status.success(), "{}", text(&put));
    }
    let before = text(&etcdctl_http(&http, &["member", "list"]));
    assert_eq!(before.matches("http://").count(), 6, "{before}");
    assert!(!pki.exists(), "the HTTP deploy made a CA");

    // (2) A writer through the whole migration: http first, https once the CA exists.
    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<Vec<(Instant, bool)>>> = Arc::new(Mutex::new(Vec::new()));
    let https = endpoints(&lab, "https", 2379);
    let writer = {
        let (stop, log, http, https, pki) = (
            stop.clone(),
            log.clone(),
            http.clone(),
            https.clone(),
            pki.clone(),
        );
        std::thread::spawn(move || {
            let deadline = Instant::now() + APPLY_DEADLINE + Duration::from_secs(30);
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline && i < 5000 {
                let (key, value) = (format!("writer/{i}"), format!("w{i}"));
                // TLS first once the CA exists: plain HTTP to a member that already serves
                // TLS would itself log the handshake rejection the test looks for.
                let tls_ready = pki.join("client-key.pem").exists();
                let mut ok = tls_ready
                    && etcdctl_tls(&pki, &https, &["put", &key, &value])
                        .status
                        .success();
                if !ok {
                    ok = etcdctl_http(&http, &["put", &key, &value]).status.success();
                }
                log.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((Instant::now(), ok));
                i += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));

    // (3) The TLS plan with migrate, on the running cluster.
    let migrate_started = now_secs();
    let migrated = common::etcdplay_with_deadline(
        dir.path(),
        &["apply", "-i", inv, "--leftover-membership", "migrate"],
        APPLY_DEADLINE,
    );
    let finished = now_secs();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer");
    let out = text(&migrated);
    eprintln!("migrate output:\n{out}");
    assert_eq!(migrated.status.code(), Some(0), "migrate failed:\n{out}");
    assert!(
        out.contains("one at a time (member update + restart)"),
        "the running cluster was not migrated in place:\n{out}"
    );

    // Only https peer URLs, and the same members (ids kept by the rolling procedure).
    let members = etcdctl_tls(&pki, &https, &["member", "list"]);
    let listed = text(&members);
    assert!(members.status.success(), "{listed}");
    for h in &lab.lab.hosts {
        assert!(
            listed.contains(&format!("started, {}, https://{}:2380", h.name, h.ip)),
            "{} not on https:\n{listed}",
            h.name
        );
    }
    assert!(!listed.contains("http://"), "{listed}");
    for line in before.lines().filter(|l| !l.trim().is_empty()) {
        let id = line.split(", ").next().unwrap_or_default();
        assert!(listed.contains(id), "member {id} lost its id:\n{listed}");
    }

    // Every key written before reads back over TLS.
    for i in 0..20 {
        let got = etcdctl_tls(
            &pki,
            &https,
            &["get", &format!("key{i}"), "--print-value-only"],
        );
        assert_eq!(
            String::from_utf8_lossy(&got.stdout).trim(),
            format!("value{i}"),
            "key{i}: {}",
            text(&got)
        );
    }
    let health = etcdctl_tls(&pki, &https, &["endpoint", "health"]);
    assert_eq!(
        text(&health).matches("is healthy").count(),
        3,
        "{}",
        text(&health)
    );

    // No member spoke plain HTTP to a TLS port once the migration finished.
    std::thread::sleep(Duration::from_secs(3));
    for h in &lab.lab.hosts {
        // Seen during the run (a member replaying its WAL dials the old http URLs briefly):
        // reported, not failed; only the state after the run counts.
        let during = tls_rejections_after(&lab, &h.name, migrate_started).len();
        eprintln!(
            "{}: {during} TLS-handshake rejections logged since the migrate run started",
            h.name
        );
        let hits = tls_rejections_after(&lab, &h.name, finished);
        assert!(
            hits.is_empty(),
            "{}: TLS rejections after the migration finished at {finished:.3}:\n{}",
            h.name,
            hits.join("\n")
        );
    }

    // Quorum held: failed writes never lasted longer than a few seconds.
    let log = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let failed = log.iter().filter(|(_, ok)| !ok).count();
    let longest = longest_failure_window(&log);
    eprintln!(
        "writer: {} writes, {failed} failed, longest failure window {:.1}s",
        log.len(),
        longest.as_secs_f64()
    );
    assert!(
        log.len() > 20,
        "the writer hardly ran: {} writes",
        log.len()
    );
    assert!(
        longest < MAX_FAILURE_WINDOW,
        "writes failed for {:.1}s during the migration",
        longest.as_secs_f64()
    );
    let ok_writes = log.iter().filter(|(_, ok)| *ok).count();
    let kept = etcdctl_tls(&pki, &https, &["get", "writer/", "--prefix", "--keys-only"]);
    let kept = String::from_utf8_lossy(&kept.stdout)
        .lines()
        .filter(|l| l.starts_with("writer/"))
        .count();
    assert!(
        kept >= ok_writes,
        "{ok_writes} acknowledged writes but {kept} writer keys in the cluster"
    );

    stopped_cluster_restores(&lab, dir.path(), inv);
    eprintln!("whole test took {:.1}s", started.elapsed().as_secs_f64());
}

/// (b) A stopped plain-HTTP cluster (its own data dir and token) is migrated by snapshot and
/// restore: every key survives and every peer URL is https.
fn stopped_cluster_restores(lab: &PrivateLab, dir: &Path, inv: &str) {
    let plain = [
        "-e",
        "etcd_data_dir=/var/lib/etcd/plain",
        "-e",
        "etcd_cluster_token=plain",
    ];
    for h in &lab.lab.hosts {
        ssh_ok(&lab.lab, &h.name, "systemctl stop etcd");
    }
    let mut args = vec!["apply", "-i", inv, "-e", "etcd_tls=false"];
    args.extend_from_slice(&plain);
    let boot = common::etcdplay_with_deadline(dir, &args, APPLY_DEADLINE);
    assert_eq!(
        boot.status.code(),
        Some(0),
        "second HTTP bootstrap failed:\n{}",
        text(&boot)
    );
    let http = endpoints(lab, "http", 2379);
    for i in 0..20 {
        let put = etcdctl_http(&http, &["put", &format!("stopped{i}"), &format!("s{i}")]);
        assert!(put.status.success(), "{}", text(&put));
    }
    for h in &lab.lab.hosts {
        ssh_ok(&lab.lab, &h.name, "systemctl stop etcd");
    }
    let mut args = vec!["apply", "-i", inv, "--leftover-membership", "migrate"];
    args.extend_from_slice(&plain);
    let migrated = common::etcdplay_with_deadline(dir, &args, APPLY_DEADLINE);
    let finished = now_secs();
    let out = text(&migrated);
    assert_eq!(
        migrated.status.code(),
        Some(0),
        "restore migrate failed:\n{out}"
    );
    assert!(
        out.contains("--leftover-membership migrate: restored every member"),
        "the stopped cluster was not restored:\n{out}"
    );
    let pki = dir.join("pki");
    let https = endpoints(lab, "https", 2379);
    let members = etcdctl_tls(&pki, &https, &["member", "list"]);
    let listed = text(&members);
    assert!(members.status.success(), "{listed}");
    for h in &lab.lab.hosts {
        assert!(
            listed.contains(&format!("started, {}, https://{}:2380", h.name, h.ip)),
            "{} not on https:\n{listed}",
            h.name
        );
    }
    assert!(!listed.contains("http://"), "{listed}");
    for i in 0..20 {
        let got = etcdctl_tls(
            &pki,
            &https,
            &["get", &format!("stopped{i}"), "--print-value-only"],
        );
        assert_eq!(
            String::from_utf8_lossy(&got.stdout).trim(),
            format!("s{i}"),
            "stopped{i}: {}",
            text(&got)
        );
    }
    std::thread::sleep(Duration::from_secs(3));
    for h in &lab.lab.hosts {
        let hits = tls_rejections_after(lab, &h.name, finished);
        assert!(
            hits.is_empty(),
            "{}: TLS rejections after the restore finished at {finished:.3}:\n{}",
            h.name,
            hits.join("\n")
        );
        let old = ssh_ok(&lab.lab, &h.name, "ls -d /var/lib/etcd/plain.pre-migrate-*");
        assert!(
            !old.trim().is_empty(),
            "{}: the old data dir was not kept",
            h.name
        );
    }
}
