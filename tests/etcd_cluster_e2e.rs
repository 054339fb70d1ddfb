//! End to end: the built-in etcd cluster playbook (`etcdplay apply -i INVENTORY`, no playbook)
//! on a lab of its own (hosts `labc1..4` on `etcdplaybr3`, 10.213.3.0/24), so that it never
//! disturbs the shared lab. One test walks the life of a cluster in order, because each step
//! starts from the state the previous one left:
//!
//! 1. fresh TLS deploy on three hosts: etcdctl with the client certificate sees every member
//!    healthy with `https://` peer URLs; plain HTTP and a certificate from another CA are
//!    refused; no journal has a plain-HTTP-on-TLS-port error;
//! 2. a second run changes nothing and restarts nothing (same PIDs, `changed=0`);
//! 3. a changed tunable restarts members one at a time (their down windows do not overlap)
//!    while a writer keeps writing with no long failure window; a member that leads hands its
//!    leadership over before it goes down;
//! 4. a fourth host joins the running cluster and serves every key;
//! 5. with one member down, a change that needs a restart is refused on another member;
//! 6. `-e etcd_tls=false` deploys a plain-HTTP cluster (fresh data dirs, etcd stopped first).
//!
//! The lab is taken down at the end, also when the test fails (set ETCDPLAY_KEEP_LAB=1 to
//! keep it for a look). Needs root.

// A slow test says where its time goes.
#![allow(clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcdplay_lab::{netns_exists, Lab, LabConfig, LabHost, LabManager};

/// This test's own lab.
fn lab_config() -> LabConfig {
    LabConfig {
        host_prefix: "labc".into(),
        bridge: "etcdplaybr3".into(),
        subnet: [10, 213, 3],
        ..LabConfig::default()
    }
}

/// Takes the lab down when the test ends, however it ends.
struct DownOnDrop(LabConfig);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        if std::env::var_os("ETCDPLAY_KEEP_LAB").is_some() {
            eprintln!("ETCDPLAY_KEEP_LAB set: lab {} left up", self.0.host_prefix);
            return;
        }
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

/// Where the test keeps its inventory and PKI, and the lab.
struct World {
    lab: Lab,
    dir: tempfile::TempDir,
}

impl World {
    fn host(&self, name: &str) -> &LabHost {
        self.lab
            .hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no lab host {name}"))
    }

    /// Writes the inventory with the first `n` hosts in group `etcd`.
    fn inventory(&self, n: usize) -> PathBuf {
        let hosts = &self.lab.hosts[..n.min(self.lab.hosts.len())];
        let text = etcdplay_lab::render_inventory(hosts);
        let path = self.dir.path().join("hosts.yml");
        std::fs::write(&path, text).expect("write inventory");
        path
    }

    fn pki(&self) -> PathBuf {
        self.dir.path().join("pki")
    }

    /// `etcdplay apply -i hosts.yml [extra]` with the built-in playbook.
    fn apply(&self, n: usize, extra: &[&str]) -> Output {
        let inv = self.inventory(n);
        let mut args = vec!["apply", "-i", inv.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        let started = Instant::now();
        let out = common::etcdplay_with_deadline(self.dir.path(), &args, APPLY_DEADLINE);
        eprintln!(
            "apply {extra:?} on {n} hosts took {:.1}s",
            started.elapsed().as_secs_f64()
        );
        out
    }

    /// The https client URLs of the first `n` hosts, checking each namespace exists.
    fn endpoints(&self, n: usize) -> String {
        self.lab
            .hosts
            .iter()
            .take(n)
            .map(|h| {
                assert!(netns_exists(&h.netns), "namespace {} is gone", h.netns);
                format!("https://{}:2379", h.ip)
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// etcdctl on the control node with the cluster's client certificate.
    fn etcdctl(&self, endpoints: &str, args: &[&str]) -> Output {
        let pki = self.pki();
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={endpoints}"))
            .arg(format!("--cacert={}", pki.join("ca.pem").display()))
            .arg(format!("--cert={}", pki.join("client.pem").display()))
            .arg(format!("--key={}", pki.join("client-key.pem").display()))
            .args(["--dial-timeout=3s", "--command-timeout=5s"])
            .args(args)
            .output()
            .expect("run etcdctl")
    }

    /// A shell command on a host as root.
    fn sh(&self, host: &str, command: &str) -> String {
        let h = self.host(host);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let out = rt
            .block_on(h.exec("root", command, Duration::from_secs(60)))
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert!(
            out.status.success(),
            "{host}: `{command}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn pid(&self, host: &str) -> u64 {
        self.sh(host, "systemctl show -p MainPID --value etcd")
            .parse()
            .expect("MainPID")
    }

    fn names(&self, n: usize) -> Vec<String> {
        self.lab
            .hosts
            .iter()
            .take(n)
            .map(|h| h.name.clone())
            .collect()
    }
}

/// The longest an `etcdplay apply` may take before the test gives up on it.
const APPLY_DEADLINE: Duration = Duration::from_secs(300);

fn text(out: &Output) -> String {
    common::text(out)
}

/// The `changed=N` of every host in the recap.
fn recap_changed(out: &str) -> Vec<(String, u64)> {
    out.lines()
        .filter(|l| l.contains(" ok=") && l.contains("changed="))
        .filter_map(|l| {
            let host = l.split_whitespace().next()?.to_string();
            let n = l
                .split("changed=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some((host, n))
        })
        .collect()
}

#[test]
fn etcd_cluster_lifecycle() {
    assert!(
        Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false),
        "end-to-end tests need root"
    );
    let config = lab_config();
    let _down = DownOnDrop(config.clone());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let started = Instant::now();
    // Start from fresh hosts: a lab left over from an earlier run may hold a cluster.
    if std::env::var_os("ETCDPLAY_KEEP_LAB").is_none() {
        rt.block_on(LabManager::new(config.clone()).down())
            .expect("lab down");
    }
    let lab = rt
        .block_on(LabManager::new(config).up(4))
        .expect("lab up 4");
    eprintln!("lab up took {:.1}s", started.elapsed().as_secs_f64());
    for h in &lab.hosts {
        assert!(
            netns_exists(&h.netns),
            "namespace {} of {} is missing",
            h.netns,
            h.name
        );
    }
    let world = World {
        lab,
        dir: tempfile::tempdir().expect("tempdir"),
    };

    fresh_tls_deploy(&world);
    no_op_rerun(&world);
    rolling_restart(&world);
    member_join(&world);
    quorum_guard(&world);
    plain_http(&world);
}

fn fresh_tls_deploy(w: &World) {
    let out = w.apply(3, &[]);
    assert!(out.status.success(), "fresh deploy failed:\n{}", text(&out));
    let all = w.endpoints(3);
    let health = w.etcdctl(&all, &["endpoint", "health"]);
    let shown = text(&health);
    assert!(health.status.success(), "endpoint health:\n{shown}");
    assert_eq!(shown.matches("is healthy").count(), 3, "{shown}");
    let members = w.etcdctl(&all, &["member", "list"]);
    let shown = text(&members);
    assert!(members.status.success(), "{shown}");
    for h in w.lab.hosts.iter().take(3) {
        assert!(
            shown.contains(&format!("{}, https://{}:2380", h.name, h.ip)),
            "{} missing from member list:\n{shown}",
            h.name
        );
    }
    assert!(!shown.contains("http://"), "{shown}");
    for h in w.names(3) {
        let hits = w.sh(&h, "journalctl -u etcd --no-pager | grep -c 'first record does not look like a TLS handshake' || true");
        assert_eq!(hits, "0", "{h}: plain HTTP spoken to a TLS port");
        // The key is for etcd only.
        assert_eq!(
            w.sh(&h, "stat -c '%a %U' /etc/etcd/pki/member-key.pem"),
            "600 etcd",
            "{h}"
        );
        assert_eq!(
            w.sh(&h, "stat -c '%a %U' /var/lib/etcd/data"),
            "700 etcd",
            "{h}"
        );
    }
    // The private key never shows in the run's output.
    assert!(
        !text(&out).contains("PRIVATE KEY"),
        "key material in output"
    );

    // Refused: plain HTTP, no client certificate, and a client certificate of another CA.
    let first = &w.lab.hosts[0];
    let plain = Command::new("etcdctl")
        .args([
            format!("--endpoints=http://{}:2379", first.ip).as_str(),
            "--dial-timeout=3s",
            "--command-timeout=3s",
            "get",
            "x",
        ])
        .output()
        .expect("etcdctl");
    assert!(
        !plain.status.success(),
        "plain HTTP was served:\n{}",
        text(&plain)
    );
    let no_cert = Command::new("etcdctl")
        .arg(format!("--endpoints=https://{}:2379", first.ip))
        .arg(format!("--cacert={}", w.pki().join("ca.pem").display()))
        .args(["--dial-timeout=3s", "--command-timeout=3s", "put", "x", "y"])
        .output()
        .expect("etcdctl");
    assert!(
        !no_cert.status.success(),
        "a client without certificate was served:\n{}",
        text(&no_cert)
    );
    let other = foreign_client_cert(w.dir.path());
    let foreign = Command::new("etcdctl")
        .arg(format!("--endpoints=https://{}:2379", first.ip))
        .arg(format!("--cacert={}", w.pki().join("ca.pem").display()))
        .arg(format!("--cert={}", other.join("client.pem").display()))
        .arg(format!("--key={}", other.join("client-key.pem").display()))
        .args(["--dial-timeout=3s", "--command-timeout=3s", "put", "x", "y"])
        .output()
        .expect("etcdctl");
    assert!(
        !foreign.status.success(),
        "a certificate of another CA was accepted:\n{}",
        text(&foreign)
    );
    // The cluster's own client certificate works for writes.
    let put = w.etcdctl(&all, &["put", "fresh", "yes"]);
    assert!(put.status.success(), "{}", text(&put));

    // `etcdplay pki show` lists what etcd_pki issued.
    let show = common::etcdplay(
        w.dir.path(),
        &["pki", "show", "--pki-dir", w.pki().to_str().expect("utf-8")],
    );
    let shown = text(&show);
    assert!(show.status.success(), "{shown}");
    for want in [
        "ca.pem",
        "labc1.pem",
        "labc2.pem",
        "labc3.pem",
        "client.pem",
    ] {
        assert!(shown.contains(want), "{want} missing:\n{shown}");
    }
}

/// A CA and a client certificate that have nothing to do with the cluster (openssl).
fn foreign_client_cert(base: &Path) -> PathBuf {
    let dir = base.join("foreign");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let script = "set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=other-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout client-key.pem -out client.csr -subj /CN=root 2>/dev/null
printf 'extendedKeyUsage=clientAuth\\n' > ext.cnf
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out client.pem -days 2 -extfile ext.cnf 2>/dev/null";
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(&dir)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl: {}", text(&out));
    dir
}

fn no_op_rerun(w: &World) {
    let before: Vec<u64> = w.names(3).iter().map(|h| w.pid(h)).collect();
    let out = w.apply(3, &[]);
    let shown = text(&out);
    assert!(out.status.success(), "re-run failed:\n{shown}");
    let recap = recap_changed(&shown);
    assert_eq!(recap.len(), 3, "recap:\n{shown}");
    for (host, changed) in &recap {
        assert_eq!(*changed, 0, "{host} changed on a re-run:\n{shown}");
    }
    let after: Vec<u64> = w.names(3).iter().map(|h| w.pid(h)).collect();
    assert_eq!(
        before, after,
        "etcd was restarted by a run that changed nothing"
    );
}

/// One member's down window during a restart, from systemd (monotonic µs, shared by every
/// machine since they run on one kernel).
fn down_window(w: &World, host: &str) -> (u64, u64) {
    let shown = w.sh(
        host,
        "systemctl show -p ActiveExitTimestampMonotonic -p ActiveEnterTimestampMonotonic etcd",
    );
    let field = |name: &str| -> u64 {
        shown
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{host}: no {name} in {shown}"))
    };
    (
        field("ActiveExitTimestampMonotonic"),
        field("ActiveEnterTimestampMonotonic"),
    )
}

fn rolling_restart(w: &World) {
    let before: Vec<u64> = w.names(3).iter().map(|h| w.pid(h)).collect();
    // A writer that keeps writing through the whole run and records every failed write.
    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<Vec<(Instant, bool)>>> = Arc::new(Mutex::new(Vec::new()));
    let endpoints = w.endpoints(3);
    let pki = w.pki();
    let writer = {
        let (stop, log) = (stop.clone(), log.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let out = Command::new("etcdctl")
                    .arg(format!("--endpoints={endpoints}"))
                    .arg(format!("--cacert={}", pki.join("ca.pem").display()))
                    .arg(format!("--cert={}", pki.join("client.pem").display()))
                    .arg(format!("--key={}", pki.join("client-key.pem").display()))
                    .args([
                        "--dial-timeout=2s",
                        "--command-timeout=2s",
                        "put",
                        &format!("rolling/{i}"),
                        "v",
                    ])
                    .output();
                let ok = out.map(|o| o.status.success()).unwrap_or(false);
                log.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((Instant::now(), ok));
                i += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let out = w.apply(3, &["-v", "-e", "etcd_snapshot_count=50000"]);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer");
    let shown = text(&out);
    assert!(out.status.success(), "rolling restart run failed:\n{shown}");
    // Leadership only moves by hand-over here, so the member that leads when its turn comes
    // (the first leader, at the latest) hands it over before it goes down.
    assert!(
        shown.contains("(leadership handed to "),
        "no member handed its leadership over before its restart:\n{shown}"
    );
    let after: Vec<u64> = w.names(3).iter().map(|h| w.pid(h)).collect();
    for (i, h) in w.names(3).iter().enumerate() {
        assert_ne!(before[i], after[i], "{h} was not restarted");
        assert!(
            w.sh(h, "systemctl cat etcd")
                .contains("--snapshot-count 50000"),
            "{h}: unit not updated"
        );
    }
    // No two members were down at the same time.
    let mut windows: Vec<(u64, u64, String)> = w
        .names(3)
        .iter()
        .map(|h| {
            let (a, b) = down_window(w, h);
            (a, b, h.clone())
        })
        .collect();
    windows.sort();
    for pair in windows.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "restarts overlapped: {} down {}..{}, {} down {}..{}",
            pair[0].2,
            pair[0].0,
            pair[0].1,
            pair[1].2,
            pair[1].0,
            pair[1].1
        );
    }
    // Quorum held: the longest run of failed writes is short.
    let log = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(
        log.len() > 10,
        "the writer hardly ran: {} writes",
        log.len()
    );
    let mut longest = Duration::ZERO;
    let mut last_ok = log[0].0;
    for (t, ok) in &log {
        if *ok {
            last_ok = *t;
        } else {
            longest = longest.max(t.duration_since(last_ok));
        }
    }
    let failed = log.iter().filter(|(_, ok)| !ok).count();
    eprintln!(
        "writer: {} writes, {failed} failed, longest failure window {:.1}s",
        log.len(),
        longest.as_secs_f64()
    );
    assert!(
        longest < Duration::from_secs(5),
        "writes failed for {:.1}s during the rolling restart",
        longest.as_secs_f64()
    );
}

fn member_join(w: &World) {
    let before: Vec<u64> = w.names(3).iter().map(|h| w.pid(h)).collect();
    for i in 0..20 {
        let put = w.etcdctl(
            &w.endpoints(3),
            &["put", &format!("before-join/{i}"), &format!("v{i}")],
        );
        assert!(put.status.success(), "{}", text(&put));
    }
    // The tunable of the rolling restart stays, so that only the join is new.
    let out = w.apply(4, &["-e", "etcd_snapshot_count=50000"]);
    let shown = text(&out);
    assert!(out.status.success(), "join run failed:\n{shown}");
    let all = w.endpoints(4);
    let members = w.etcdctl(&all, &["member", "list"]);
    let listed = text(&members);
    assert!(members.status.success(), "{listed}");
    assert_eq!(
        listed.lines().filter(|l| l.contains(", started, ")).count(),
        4,
        "{listed}"
    );
    // Promoted: the last column (is learner) is false everywhere.
    assert!(
        listed
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_end().ends_with("false")),
        "a learner is left:\n{listed}"
    );
    let health = w.etcdctl(&all, &["endpoint", "health"]);
    assert_eq!(
        text(&health).matches("is healthy").count(),
        4,
        "{}",
        text(&health)
    );
    // The new member serves every key, including those written before it joined.
    let fourth = format!("https://{}:2379", w.lab.hosts[3].ip);
    let got = w.etcdctl(&fourth, &["get", "before-join/", "--prefix", "--keys-only"]);
    assert!(got.status.success(), "{}", text(&got));
    assert_eq!(
        String::from_utf8_lossy(&got.stdout)
            .lines()
            .filter(|l| l.starts_with("before-join/"))
            .count(),
        20
    );
    let fresh = w.etcdctl(&fourth, &["get", "fresh", "--print-value-only"]);
    assert_eq!(String::from_utf8_lossy(&fresh.stdout).trim(), "yes");
    assert!(w
        .sh("labc4", "cat /etc/etcd/etcd-initial.env")
        .contains("ETCDPLAY_INITIAL_CLUSTER_STATE=existing"));
    // The old members were not restarted for the join.
    let after: Vec<u64> = w.names(3).iter().map(|h| w.pid(h)).collect();
    assert_eq!(before, after, "existing members restarted for a join");
    // And the grown cluster is stable: one more run changes nothing on any of the four.
    let again = w.apply(4, &["-e", "etcd_snapshot_count=50000"]);
    let shown = text(&again);
    assert!(again.status.success(), "{shown}");
    let recap = recap_changed(&shown);
    assert_eq!(recap.len(), 4, "{shown}");
    assert!(
        recap.iter().all(|(_, c)| *c == 0),
        "a run after the join changed something:\n{shown}"
    );
}

fn quorum_guard(w: &World) {
    w.sh("labc4", "systemctl stop etcd");
    let before = w.pid("labc1");
    let out = w.apply(4, &["-e", "etcd_snapshot_count=60000", "--limit", "labc1"]);
    let shown = text(&out);
    assert!(
        !out.status.success(),
        "a restart with a member down was not refused:\n{shown}"
    );
    assert!(
        shown.contains("refusing to restart etcd on labc1") && shown.contains("labc4"),
        "{shown}"
    );
    assert_eq!(
        w.pid("labc1"),
        before,
        "labc1 was restarted while labc4 was down"
    );
    w.sh("labc4", "systemctl start etcd");
}

fn plain_http(w: &World) {
    for h in w.names(4) {
        w.sh(&h, "systemctl stop etcd");
    }
    let extra = [
        "-e",
        "etcd_tls=false",
        "-e",
        "etcd_data_dir=/var/lib/etcd/plain",
        "-e",
        "etcd_cluster_token=plain",
    ];
    let out = w.apply(3, &extra);
    let shown = text(&out);
    assert!(out.status.success(), "plain HTTP deploy failed:\n{shown}");
    let endpoints: Vec<String> = w
        .lab
        .hosts
        .iter()
        .take(3)
        .map(|h| {
            assert!(netns_exists(&h.netns), "namespace {} is gone", h.netns);
            format!("http://{}:2379", h.ip)
        })
        .collect();
    let etcdctl = |args: &[&str]| {
        Command::new("etcdctl")
            .arg(format!("--endpoints={}", endpoints.join(",")))
            .args(["--dial-timeout=3s", "--command-timeout=5s"])
            .args(args)
            .output()
            .expect("etcdctl")
    };
    let health = etcdctl(&["endpoint", "health"]);
    assert_eq!(
        text(&health).matches("is healthy").count(),
        3,
        "{}",
        text(&health)
    );
    let members = etcdctl(&["member", "list"]);
    let listed = text(&members);
    assert_eq!(listed.matches(":2380").count(), 3, "{listed}");
    assert!(!listed.contains("https://"), "{listed}");
    assert!(!w
        .sh("labc1", "systemctl cat etcd")
        .contains("--client-cert-auth"));
}
