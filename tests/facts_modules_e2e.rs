//! `service_facts` and `package_facts` gather what Ansible's modules gather, on real hosts:
//! `tests/e2e/facts-modules` runs under ansible-playbook 2.19.14 on one fresh lab host and
//! under etcdplay on another (both with python3-apt, which Ansible's `apt` package manager
//! needs and etcdplay does not), and the facts its last task prints must be equal: every
//! service with its state, status and source, every package with its version, arch,
//! category and origin. Observed with ansible-playbook: 122 services (sysv `dbus`, `ssh`, ...;
//! systemd units with `status` from `list-unit-files`, `unknown` state for templates) and
//! 152 packages, `origin: Debian` for those in the host's lists.
//!
//! Runs on a private lab (`lmodc1..2` on `etcdplaybr53`, 10.213.53.0/24), taken down at the end.

#![allow(clippy::print_stderr)]

mod common;

use common::debrepo::{repack_python3_apt, ssh_with_input};
use common::{last_results, repo_root, run_side_by_side, text, PrivateLab};

#[test]
fn service_and_package_facts_are_ansibles() {
    let lab = PrivateLab::up("lmodc", "etcdplaybr53", 53, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    repack_python3_apt(dir.path(), &repo);
    let deb = std::fs::read_dir(&repo)
        .expect("repo")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("python3-apt deb");
    for host in &lab.lab.hosts {
        let out = ssh_with_input(
            host,
            "cat > /tmp/python3-apt.deb && dpkg -i /tmp/python3-apt.deb >/dev/null && rm /tmp/python3-apt.deb",
            &deb,
        );
        assert!(out.status.success(), "{}: {}", host.name, text(&out));
    }
    let play = repo_root().join("tests/e2e/facts-modules/site.yml");
    let (ansible_text, our_text) = run_side_by_side(&lab, dir.path(), &play);
    let (theirs, mine) = last_results(&ansible_text, &our_text, "testhost");
    let count = |v: &serde_json::Value, k: &str| v["msg"][k].as_object().map_or(0, |m| m.len());
    eprintln!(
        "ansible-playbook: {} services, {} packages; etcdplay: {} services, {} packages",
        count(&theirs, "services"),
        count(&theirs, "packages"),
        count(&mine, "services"),
        count(&mine, "packages")
    );
    for key in ["services", "packages"] {
        let (t, m) = (&theirs["msg"][key], &mine["msg"][key]);
        let (t, m) = (t.as_object().expect("theirs"), m.as_object().expect("ours"));
        for (name, value) in t {
            assert_eq!(m.get(name), Some(value), "{key} {name}");
        }
        assert_eq!(m.len(), t.len(), "{key}: etcdplay has more");
    }
    assert_eq!(mine, theirs);
}
