//! End to end: `etcdplay apply --rotate-ca` replaces the CA of a running TLS cluster without
//! downtime, and a rotation cut short is finished by running it again.
//!
//! Three private lab hosts (`lca1..3` on `etcdplaybr52`, 10.213.52.0/24), taken down at the
//! end; the shared lab is never touched. Steps:
//! 1. `apply` → three TLS members; keys written; the old CA and the old client certificate
//!    are kept aside.
//! 2. `apply --rotate-ca --output json` with a writer over TLS all along (it reads `pki/` on
//!    every write): exit 0, no failed write; every phase's JSON entry says what it did; in
//!    `pki/` one CA (a new one), no rotation state, the CA key 0600; on every member the
//!    trust file is the new CA alone, the served certificate verifies against the new CA and
//!    not against the old one; etcdctl with the new client certificate works, with the old
//!    one it fails; every key is still there.
//! 3. A second `--rotate-ca`, killed once `pki/ca-rotation` says phase 2 is written, then run
//!    again: the rotation finishes from where it stood (the new CA is the one the first run
//!    created), the writer still never failed.
//!
//! What Ansible does here: nothing comparable (ansible-core has no etcd or CA rotation
//! modules); the procedure follows the usual trust-bundle rotation (trust both, re-issue,
//! drop the old), as Kubernetes documents for its own CA.

#![allow(clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::writer::Writer;
use common::{assert_keys, endpoints, put_keys, ssh_ok, text, PrivateLab, TlsCluster};
use serde_json::Value;

/// The longest an `etcdplay` command may run before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(600);

/// Keys written before the rotation and read back after.
const KEYS: usize = 20;

fn etcdplay(dir: &Path, args: &[&str]) -> Output {
    common::etcdplay_with_deadline(dir, args, DEADLINE)
}

/// The certificates of a PEM file, each as its own PEM text.
fn certs_of(pem: &str) -> Vec<String> {
    pem.split_inclusive("-----END CERTIFICATE-----")
        .filter(|c| c.contains("-----BEGIN CERTIFICATE-----"))
        .map(|c| c.trim().to_string())
        .collect()
}

/// The SHA-256 fingerprint of the first certificate of a PEM text, as openssl prints it.
fn fingerprint(pem: &str, scratch: &Path) -> String {
    let file = scratch.join("fp.pem");
    std::fs::write(&file, pem).expect("write pem");
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&file)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether `openssl verify` accepts the certificate in `cert` against the CA file `ca` alone.
fn verifies(ca: &Path, cert: &Path) -> bool {
    Command::new("openssl")
        .args(["verify", "-x509_strict", "-CAfile"])
        .arg(ca)
        .arg(cert)
        .output()
        .expect("openssl verify")
        .status
        .success()
}

/// The certificate a member serves on its client port, as PEM.
fn served_cert(ip: &str, pki: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {ip}:2379 -cert {c} -key {k} -showcerts </dev/null 2>/dev/null",
            c = pki.join("client.pem").display(),
            k = pki.join("client-key.pem").display(),
        ))
        .output()
        .expect("openssl s_client");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    certs_of(&shown)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{ip} served no certificate:\n{}", text(&out)))
}

/// etcdctl with explicit TLS files.
fn etcdctl_with(ca: &Path, cert: &Path, key: &Path, eps: &str, args: &[&str]) -> Output {
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={eps}"))
        .arg(format!("--cacert={}", ca.display()))
        .arg(format!("--cert={}", cert.display()))
        .arg(format!("--key={}", key.display()))
        .args(["--dial-timeout=2s", "--command-timeout=3s"])
        .args(args)
        .output()
        .expect("run etcdctl")
}

/// The `--output json` entries of tasks whose name contains `needle`: (task, status, msg).
fn entries(report: &Path, needle: &str) -> Vec<(String, String, String)> {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(report).expect("report")).expect("JSON");
    let list = doc
        .get("tasks")
        .or_else(|| doc.get("results"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_else(|| panic!("no task list in the report: {doc}"));
    list.iter()
        .filter(|e| e["task"].as_str().is_some_and(|t| t.contains(needle)))
        .map(|e| {
            (
                e["task"].as_str().unwrap_or_default().to_string(),
                e["status"].as_str().unwrap_or_default().to_string(),
                e["msg"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Copies the old CA and the old client certificate and key aside.
fn keep_aside(pki: &Path, to: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(to).expect("mkdir");
    let copy = |name: &str| {
        let target = to.join(name);
        std::fs::copy(pki.join(name), &target).expect("copy");
        target
    };
    (copy("ca.pem"), copy("client.pem"), copy("client-key.pem"))
}

/// (2) What a finished rotation must leave: checked on the control node and every member.
fn check_rotated(lab: &PrivateLab, dir: &Path, pki: &Path, old: &(PathBuf, PathBuf, PathBuf)) {
    let (old_ca, old_cert, old_key) = old;
    let trust = std::fs::read_to_string(pki.join("ca.pem")).expect("ca.pem");
    let old_trust = std::fs::read_to_string(old_ca).expect("old ca");
    assert_eq!(
        certs_of(&trust).len(),
        1,
        "pki/ca.pem holds one CA:\n{trust}"
    );
    assert_ne!(
        fingerprint(&trust, dir),
        fingerprint(&old_trust, dir),
        "a new CA"
    );
    for leftover in ["ca-rotation", "ca-next.pem", "ca-next-key.pem"] {
        assert!(!pki.join(leftover).exists(), "{leftover} left in pki/");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(pki.join("ca-key.pem"))
        .expect("ca key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let new_ca = pki.join("ca.pem");
    // The CA key never leaves the control node: a line of it is on no host.
    let key_text = std::fs::read_to_string(pki.join("ca-key.pem")).expect("ca key");
    let key_line = key_text.lines().nth(1).expect("a key line").to_string();
    for h in &lab.lab.hosts {
        let found = common::ssh(
            &lab.lab,
            &h.name,
            &format!(
                "grep -rlF -- '{key_line}' /etc /root /tmp /var/backups /var/lib/etcd 2>/dev/null"
            ),
        );
        assert!(
            String::from_utf8_lossy(&found.stdout).trim().is_empty(),
            "{}: the CA key is on the host: {}",
            h.name,
            text(&found)
        );
        let on_host = ssh_ok(&lab.lab, &h.name, "cat /etc/etcd/pki/ca.pem");
        assert_eq!(
            certs_of(&on_host),
            certs_of(&trust),
            "{}: trust file is the new CA alone",
            h.name
        );
        assert!(
            !on_host.contains(certs_of(&old_trust)[0].as_str()),
            "{}: old CA still trusted",
            h.name
        );
        let served = dir.join(format!("served-{}.pem", h.name));
        std::fs::write(&served, served_cert(&h.ip.to_string(), pki)).expect("write");
        assert!(
            verifies(&new_ca, &served),
            "{}: served cert does not chain to the new CA",
            h.name
        );
        assert!(
            !verifies(old_ca, &served),
            "{}: served cert still chains to the old CA",
            h.name
        );
        let peer = dir.join(format!("member-{}.pem", h.name));
        std::fs::write(
            &peer,
            ssh_ok(&lab.lab, &h.name, "cat /etc/etcd/pki/member.pem"),
        )
        .expect("write");
        assert!(
            verifies(&new_ca, &peer) && !verifies(old_ca, &peer),
            "{}",
            h.name
        );
    }
    let eps = endpoints(lab, "https", 2379);
    let (cert, key) = (pki.join("client.pem"), pki.join("client-key.pem"));
    let ok = etcdctl_with(&new_ca, &cert, &key, &eps, &["get", "k/0"]);
    assert!(ok.status.success(), "new client cert: {}", text(&ok));
    let refused = etcdctl_with(&new_ca, old_cert, old_key, &eps, &["get", "k/0"]);
    assert!(
        !refused.status.success(),
        "the old client cert still works: {}",
        text(&refused)
    );
    eprintln!(
        "old client certificate refused: {}",
        text(&refused).lines().last().unwrap_or_default()
    );
    assert_keys(pki, &eps, KEYS);
}

/// Runs `apply --rotate-ca` and kills it (its own pid) once `pki/ca-rotation` records phase
/// 2; returns whether it was caught there (false: it finished first).
fn rotate_and_kill_in_phase_two(dir: &Path, inv: &str, pki: &Path) -> bool {
    let log = std::fs::File::create(dir.join("killed.log")).expect("log");
    let mut child = Command::new(common::etcdplay_bin())
        .args(["apply", "-i", inv, "--rotate-ca"])
        .current_dir(dir)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("run etcdplay");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return false;
        }
        let state = std::fs::read_to_string(pki.join("ca-rotation")).unwrap_or_default();
        if state.contains("phase=reissue") {
            // Let it start rolling phase 2 before the cut.
            std::thread::sleep(Duration::from_secs(3));
            let _ = child.kill();
            let _ = child.wait();
            eprintln!(
                "killed the rotation in phase 2 after {:.1}s",
                started.elapsed().as_secs_f64()
            );
            return true;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "rotation never reached phase 2"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_ca_is_replaced_without_a_failed_write_and_a_cut_rotation_resumes() {
    let started = Instant::now();
    // (1) Three TLS members and some keys; the old CA and client certificate kept aside.
    let TlsCluster {
        lab,
        dir,
        inventory,
        pki,
        endpoints: all,
    } = TlsCluster::deploy("lca", "etcdplaybr52", 52, 3, &[]);
    let inv = inventory.as_str();
    put_keys(&pki, &all, KEYS);
    let old = keep_aside(&pki, &dir.path().join("old"));

    // (2) The rotation, with a writer all along.
    let writer = Writer::start(&pki, all.clone());
    std::thread::sleep(Duration::from_secs(2));
    let report = dir.path().join("rotate.json");
    let report_arg = report.to_str().expect("utf-8");
    let out = etcdplay(
        dir.path(),
        &[
            "apply",
            "-i",
            inv,
            "--rotate-ca",
            "--output",
            "json",
            report_arg,
        ],
    );
    std::thread::sleep(Duration::from_secs(2));
    let (writes, failures, longest) = writer.finish();
    eprintln!(
        "writer during the CA rotation: {writes} writes, {failures} failed, longest failure \
         window {:.1}s",
        longest.as_secs_f64()
    );
    assert_eq!(out.status.code(), Some(0), "rotate:\n{}", text(&out));
    let key_text = std::fs::read_to_string(pki.join("ca-key.pem")).expect("ca key");
    let printed = text(&out) + &std::fs::read_to_string(&report).unwrap_or_default();
    for line in key_text.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!printed.contains(line), "the CA key was printed");
    }
    let phases = entries(&report, "CA rotation");
    for (task, status, msg) in &phases {
        eprintln!("{task}: {status}: {msg}");
    }
    let said = |needle: &str| phases.iter().any(|(_, _, msg)| msg.contains(needle));
    assert!(said("ca.pem trusts the old and the new CA"), "{phases:?}");
    assert!(
        said("checked first") && said("re-issued under the new CA"),
        "{phases:?}"
    );
    assert!(said("CA rotation finished"), "{phases:?}");
    check_rotated(&lab, dir.path(), &pki, &old);
    assert_eq!(failures, 0, "writes failed during the CA rotation");

    // (3) A second rotation cut short in phase 2, then run again.
    let old = keep_aside(&pki, &dir.path().join("old2"));
    let writer = Writer::start(&pki, all.clone());
    std::thread::sleep(Duration::from_secs(2));
    let caught = rotate_and_kill_in_phase_two(dir.path(), inv, &pki);
    let state = std::fs::read_to_string(pki.join("ca-rotation")).unwrap_or_default();
    eprintln!("after the cut: caught={caught}, pki/ca-rotation:\n{state}");
    let recorded_new = state
        .lines()
        .find_map(|l| l.strip_prefix("new_ca="))
        .map(str::to_string);
    let resumed = etcdplay(dir.path(), &["apply", "-i", inv, "--rotate-ca"]);
    std::thread::sleep(Duration::from_secs(2));
    let (writes, failures, longest) = writer.finish();
    eprintln!(
        "writer during the cut and resumed rotation: {writes} writes, {failures} failed, \
         longest failure window {:.1}s",
        longest.as_secs_f64()
    );
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "resume:\n{}",
        text(&resumed)
    );
    assert!(caught, "the first run finished before it could be cut");
    // The rotation went on with the CA the cut run created, not with a third one.
    let trust = std::fs::read_to_string(pki.join("ca.pem")).expect("ca.pem");
    let fp = fingerprint(&trust, dir.path())
        .rsplit('=')
        .next()
        .unwrap_or_default()
        .replace(':', "")
        .to_lowercase();
    assert_eq!(Some(fp), recorded_new, "resumed with the recorded new CA");
    check_rotated(&lab, dir.path(), &pki, &old);
    // No write may fail here either. (A put that reaches a member as it shuts down is sent
    // again by the writer, see common/writer.rs; that race is etcd's, not the rotation's.)
    assert_eq!(
        failures, 0,
        "{failures} writes failed during the cut and resumed rotation"
    );

    // Once rotated, a plain apply has nothing to do: nothing re-issued, nothing restarted.
    let again = etcdplay(dir.path(), &["apply", "-i", inv]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let recap: Vec<String> = String::from_utf8_lossy(&again.stdout)
        .lines()
        .filter(|l| l.contains(" : ok="))
        .map(str::to_string)
        .collect();
    eprintln!("plain apply after the rotation: {recap:?}");
    assert_eq!(recap.len(), 3, "{}", text(&again));
    assert!(recap.iter().all(|l| l.contains("changed=0 ")), "{recap:?}");
    eprintln!("whole test took {:.1}s", started.elapsed().as_secs_f64());
}
