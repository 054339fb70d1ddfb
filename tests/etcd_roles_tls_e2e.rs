//! A TLS etcd deployment written the way the public etcd-roles repositories are
//! (`tests/e2e/etcd-roles-tls`: an INI `hosts` file with an `etcds` group, certificates made by
//! a `command` on the first member, `fetch`ed back to `{{ playbook_dir }}/roles/etcd/files/`
//! and `copy`ed out to every member) converges on three lab hosts with the playbook named by a
//! bare file name, then again from another working directory without a change.
//!
//! Before `playbook_dir` was absolute, the bare name made the role fetch to
//! `/roles/etcd/files/certs/` at the root of the control node, the copies found nothing and
//! the run waited forever on a `Type=notify` unit (issue #15).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

/// The recap line of each host, in the order printed.
fn recap_lines(output: &str) -> Vec<String> {
    output
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .filter(|l| l.contains(" : ok="))
        .map(str::to_string)
        .collect()
}

/// Runs `etcdplay apply -i hosts deploy.yml` (paths as given) in `cwd`, bounded in time so a
/// hung start fails the test instead of hanging it.
fn apply(cwd: &Path, inventory: &str, playbook: &str) -> (i32, String) {
    let out = etcdplay_with_deadline(
        cwd,
        &["apply", "-i", inventory, playbook],
        Duration::from_secs(300),
    );
    (out.status.code().unwrap_or(-1), text(&out))
}

fn endpoint_health(lab: &PrivateLab, certs: &Path, first: &str) -> (bool, String) {
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", endpoints(lab, "https", 2379)))
        .arg(format!("--cacert={}", certs.join("ca.pem").display()))
        .arg(format!(
            "--cert={}",
            certs.join(format!("{first}.pem")).display()
        ))
        .arg(format!(
            "--key={}",
            certs.join(format!("{first}-key.pem")).display()
        ))
        .args([
            "--dial-timeout=3s",
            "--command-timeout=5s",
            "endpoint",
            "health",
        ])
        .output()
        .expect("run etcdctl");
    (out.status.success(), text(&out))
}

#[test]
fn etcd_roles_style_tls_playbook_converges_by_bare_name_and_from_elsewhere() {
    let lab = PrivateLab::up("lroles", "etcdplaybr47", 47, 3);
    let work = tempfile::tempdir().expect("tempdir");
    let project = work.path().join("etcd-roles");
    copy_tree(&repo_root().join("tests/e2e/etcd-roles-tls"), &project);
    ini_inventory(&lab.lab, &project, "etcds"); // writes `hosts` beside deploy.yml

    // As its README says: cd into the repository, `-i hosts deploy.yml`.
    let (code, out) = apply(&project, "hosts", "deploy.yml");
    assert_eq!(code, 0, "first apply failed:\n{out}");
    let recap = recap_lines(&out);
    assert_eq!(recap.len(), 3, "{out}");
    assert!(recap.iter().all(|l| l.contains("failed=0")), "{out}");

    // The certificates came back under the playbook's directory, not the control node's root.
    let certs = project.join("roles/etcd/files/certs");
    let first = &lab.lab.hosts[0].name;
    for h in &lab.lab.hosts {
        for file in [format!("{}.pem", h.name), format!("{}-key.pem", h.name)] {
            assert!(
                certs.join(&file).is_file(),
                "{file} was not fetched:\n{out}"
            );
        }
    }
    assert!(
        !Path::new("/roles/etcd/files/certs").exists(),
        "fetched to the root"
    );
    // Every member serves the certificate made for it and the cluster answers over TLS.
    for h in &lab.lab.hosts {
        let served = ssh_ok(
            &lab.lab,
            &h.name,
            "sha256sum < /etc/etcd/ssl/member.pem | cut -d' ' -f1",
        );
        let made = ssh_ok(
            &lab.lab,
            first,
            &format!(
                "sha256sum < /root/etcd-cert-build/{}.pem | cut -d' ' -f1",
                h.name
            ),
        );
        assert_eq!(served, made, "{} has another member's certificate", h.name);
    }
    let (healthy, health) = endpoint_health(&lab, &certs, first);
    assert!(healthy, "cluster not healthy over TLS:\n{health}\n{out}");
    assert_eq!(health.matches("is healthy").count(), 3, "{health}");
    let pids: Vec<String> = lab
        .lab
        .hosts
        .iter()
        .map(|h| ssh_ok(&lab.lab, &h.name, "systemctl show -p MainPID --value etcd"))
        .collect();

    // From another working directory, by a relative path: nothing to change, nothing restarted.
    let (code, again) = apply(work.path(), "etcd-roles/hosts", "etcd-roles/deploy.yml");
    assert_eq!(code, 0, "second apply failed:\n{again}");
    let recap = recap_lines(&again);
    assert_eq!(recap.len(), 3, "{again}");
    assert!(
        recap
            .iter()
            .all(|l| l.contains("changed=0") && l.contains("failed=0")),
        "a re-run changed something:\n{again}"
    );
    let pids_after: Vec<String> = lab
        .lab
        .hosts
        .iter()
        .map(|h| ssh_ok(&lab.lab, &h.name, "systemctl show -p MainPID --value etcd"))
        .collect();
    assert_eq!(pids, pids_after, "a member was restarted");
    let (healthy, health) = endpoint_health(&lab, &certs, first);
    assert!(healthy, "{health}");
}
