//! Checking a `--leftover-membership` backup the way an operator would rely on it: the copy
//! on the control node is private and byte for byte the host's file, `etcdctl snapshot
//! status` reads it, and `etcdctl snapshot restore` turns it into a data dir that a
//! throwaway etcd on loopback serves, every key readable.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use etcdplay_lab::Lab;

use super::{ssh_ok, text};

/// Runs a local command, asserting it succeeded; its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The control-node copy of one host's snapshot backup named in etcdplay's `HOST: backup of
/// DIR at PATH on the host, copied to LOCAL` line: a snapshot (not an archive of a data dir),
/// under `work/backups/HOST/`, mode 0600, byte for byte the host's file, and read by
/// `etcdctl snapshot status` as holding at least `min_keys` keys and revisions.
pub fn snapshot_backup(
    lab: &Lab,
    work: &Path,
    host: &str,
    line: &str,
    min_keys: u64,
) -> (String, PathBuf) {
    let on_host = line
        .split(" at ")
        .nth(1)
        .and_then(|r| r.split(" on the host").next())
        .unwrap_or_default();
    let local = PathBuf::from(line.rsplit(" copied to ").next().unwrap_or_default().trim());
    assert!(
        on_host.ends_with(".snapshot.db") && local.starts_with(work.join("backups").join(host)),
        "{host}: not a snapshot backup beside the inventory: {line}"
    );
    let meta = std::fs::metadata(&local).unwrap_or_else(|e| panic!("{}: {e}", local.display()));
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "{} is not private",
        local.display()
    );
    let remote_sum = ssh_ok(lab, host, &format!("sha256sum {on_host}"));
    let local_sum = run_ok(Command::new("sha256sum").arg(&local));
    assert_eq!(
        remote_sum.split_whitespace().next(),
        local_sum.split_whitespace().next(),
        "{host}: the copy {} differs from {on_host}",
        local.display()
    );
    let status = run_ok(
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["snapshot", "status", "-w", "json"])
            .arg(&local),
    );
    let status: serde_json::Value = serde_json::from_str(status.trim())
        .unwrap_or_else(|e| panic!("snapshot status of {}: {e}: {status}", local.display()));
    // Every revision the cluster wrote is in the backend.
    assert!(
        status["totalKey"].as_u64().unwrap_or(0) >= min_keys,
        "{}: {status}",
        local.display()
    );
    assert!(
        status["revision"].as_u64().unwrap_or(0) >= min_keys,
        "{}: {status}",
        local.display()
    );
    (host.to_string(), local)
}

/// Two distinct free TCP ports on 127.0.0.1: the kernel picks them while both listeners are
/// open (so not the same one twice); they are closed before etcd binds them.
pub fn free_ports() -> (u16, u16) {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    let (a, b) = (bind(), bind());
    let port = |l: &std::net::TcpListener| l.local_addr().expect("bound address").port();
    (port(&a), port(&b))
}

/// A throwaway etcd on the control node, killed by its pid however the test ends.
struct LocalEtcd(Child);

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Restores `snapshot` with `etcdctl snapshot restore` (which checks the hash `snapshot save`
/// appended) into a fresh dir, serves it with a one-member etcd on loopback high ports and
/// returns every key with its value.
pub fn restore_and_read(snapshot: &Path) -> BTreeMap<String, String> {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("restored");
    let (client, peer) = free_ports();
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let cluster = format!("restored={peer_url}");
    run_ok(
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["snapshot", "restore"])
            .arg(snapshot)
            .args([
                "--name",
                "restored",
                "--initial-cluster",
                &cluster,
                "--initial-advertise-peer-urls",
                &peer_url,
                "--data-dir",
            ])
            .arg(&data),
    );
    let log = scratch.path().join("etcd.log");
    let child = Command::new("etcd")
        .args(["--name", "restored", "--data-dir"])
        .arg(&data)
        .args([
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
            "--initial-cluster",
            &cluster,
        ])
        .stdout(std::fs::File::create(&log).expect("etcd log"))
        .stderr(std::fs::File::create(scratch.path().join("etcd.err")).expect("etcd log"))
        .spawn()
        .expect("start etcd");
    let mut etcd = LocalEtcd(child);
    let etcdctl = || {
        let mut c = Command::new("etcdctl");
        c.env("ETCDCTL_API", "3")
            .args(["--endpoints", &client_url, "--command-timeout", "3s"]);
        c
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = || std::fs::read_to_string(scratch.path().join("etcd.err")).unwrap_or_default();
        if let Ok(Some(status)) = etcd.0.try_wait() {
            panic!("the restored etcd exited ({status}):\n{}", logs());
        }
        if etcdctl()
            .args(["endpoint", "health"])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restored etcd did not become healthy:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let members = run_ok(etcdctl().args(["member", "list"]));
    assert_eq!(
        members.lines().count(),
        1,
        "the restore is a one-member cluster: {members}"
    );
    let listing = run_ok(etcdctl().args(["get", "", "--from-key"]));
    let keys = parse_get(&listing);
    eprintln!("restored {} keys from {}", keys.len(), snapshot.display());
    keys
}

/// `etcdctl get` output as keys and values: each key, then its value on a line of its own
/// (the tests write no value with a newline).
pub fn parse_get(listing: &str) -> BTreeMap<String, String> {
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(
        lines.len() % 2,
        0,
        "unexpected etcdctl get output: {listing}"
    );
    lines
        .chunks_exact(2)
        .map(|kv| (kv[0].to_string(), kv[1].to_string()))
        .collect()
}
