//! An Ansible-style etcd role (INI `[etcds]` inventory, k=v tasks, a unit templated from
//! `groups`/`hostvars`/`ansible_default_ipv4`, the etcd binary copied from the control node, a
//! restart handler) run unchanged by `etcdplay apply` on three lab hosts.

mod common;

use common::*;

const RESET: &str = "systemctl stop etcd 2>/dev/null; systemctl disable etcd 2>/dev/null; \
    rm -rf /var/lib/etcd /etc/etcd /etc/systemd/system/etcd.service /usr/local/bin/etcd /usr/local/bin/etcdctl; \
    systemctl daemon-reload; true";

fn recap_lines(output: &str) -> Vec<String> {
    output
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .skip(1)
        .filter(|l| l.contains(" : ok="))
        .map(str::to_string)
        .collect()
}

fn etcd_pid(lab: &etcdplay_lab::Lab, host: &str) -> String {
    ssh_ok(lab, host, "systemctl show -p MainPID --value etcd")
        .trim()
        .to_string()
}

#[test]
fn ansible_style_etcd_role_forms_a_healthy_cluster_and_reruns_without_changes() {
    let lab = lab(3);
    for h in &lab.hosts {
        ssh_ok(lab, &h.name, RESET);
    }
    let work = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("tests/e2e/etcd-role"), work.path());
    let inventory = ini_inventory(lab, work.path(), "etcds");
    let inv = inventory.to_str().unwrap();

    let first = etcdplay(work.path(), &["apply", "-i", inv, "site.yml"]);
    let first_text = text(&first);
    assert_eq!(
        first.status.code(),
        Some(0),
        "first apply failed:\n{first_text}"
    );
    let recap = recap_lines(&first_text);
    assert_eq!(recap.len(), 3, "{first_text}");
    assert!(
        recap.iter().all(|l| !l.contains("changed=0 ")),
        "a fresh host must change: {recap:#?}"
    );
    // etcd was started by this run after the changes that notified the restart handler, so
    // the handler has nothing to do: it reports ok on every host and restarts nothing.
    let handler = first_text
        .split("RUNNING HANDLER [etcds : restart etcd]")
        .nth(1)
        .unwrap_or_default();
    let handler = handler.split("PLAY RECAP").next().unwrap_or_default();
    for h in &lab.hosts {
        assert!(
            handler.contains(&format!("ok: [{}]", h.name)),
            "{} restarted again:\n{first_text}",
            h.name
        );
    }
    assert!(!handler.contains("changed:"), "{first_text}");

    let endpoints: Vec<String> = lab
        .hosts
        .iter()
        .map(|h| format!("http://{}:2379", h.ip))
        .collect();
    let health = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &endpoints.join(","), "endpoint", "health"])
        .output()
        .expect("etcdctl");
    let health_text = text(&health);
    assert!(health.status.success(), "{health_text}");
    assert_eq!(
        health_text.matches("is healthy").count(),
        3,
        "{health_text}"
    );
    let members = ssh_ok(
        lab,
        "lab1",
        "ETCDCTL_API=3 /usr/local/bin/etcdctl --endpoints http://127.0.0.1:2379 member list",
    );
    for name in ["etcd1", "etcd2", "etcd3"] {
        assert!(members.contains(name), "member {name} missing: {members}");
    }

    let pids: Vec<String> = lab.hosts.iter().map(|h| etcd_pid(lab, &h.name)).collect();
    let second = etcdplay(work.path(), &["apply", "-i", inv, "site.yml"]);
    let second_text = text(&second);
    assert_eq!(
        second.status.code(),
        Some(0),
        "second apply failed:\n{second_text}"
    );
    let recap = recap_lines(&second_text);
    assert_eq!(recap.len(), 3, "{second_text}");
    assert!(
        recap
            .iter()
            .all(|l| l.contains("changed=0 ") && l.contains("failed=0 ")),
        "second run changed something:\n{second_text}"
    );
    let pids_after: Vec<String> = lab.hosts.iter().map(|h| etcd_pid(lab, &h.name)).collect();
    assert_eq!(pids, pids_after, "a no-change run restarted etcd");

    // `etcdplay health` follows the cluster: every member healthy → 0; one member stopped → 2,
    // naming it. The role's cluster speaks plain HTTP, which must be asked for: without PKI
    // files etcdplay never quietly falls back to http://.
    let no_pki = etcdplay(
        work.path(),
        &["health", "-i", inv, "-e", "etcd_group=etcds"],
    );
    assert_eq!(no_pki.status.code(), Some(5), "{}", text(&no_pki));
    assert!(
        text(&no_pki).contains("etcd_tls=false"),
        "{}",
        text(&no_pki)
    );
    let healthy = etcdplay(
        work.path(),
        &[
            "health",
            "-i",
            inv,
            "-e",
            "etcd_group=etcds",
            "-e",
            "etcd_tls=false",
        ],
    );
    let healthy_text = text(&healthy);
    assert_eq!(healthy.status.code(), Some(0), "{healthy_text}");
    assert_eq!(
        healthy_text.matches("|    true |").count(),
        3,
        "{healthy_text}"
    );
    let stopped = &lab.hosts[2];
    ssh_ok(lab, &stopped.name, "systemctl stop etcd");
    let degraded = etcdplay(
        work.path(),
        &[
            "health",
            "-i",
            inv,
            "-e",
            "etcd_group=etcds",
            "-e",
            "etcd_tls=false",
            "--timeout",
            "3",
        ],
    );
    let degraded_text = text(&degraded);
    ssh_ok(lab, &stopped.name, "systemctl start etcd");
    assert_eq!(degraded.status.code(), Some(2), "{degraded_text}");
    assert!(
        degraded_text.contains(&stopped.ip.to_string()) && degraded_text.contains("UNHEALTHY"),
        "{degraded_text}"
    );
}
