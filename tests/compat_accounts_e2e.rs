//! The user and group arguments Ansible accepts behave as under ansible-playbook on real hosts:
//! `tests/compat/accounts.yml` (group gid_min/gid_max, non_unique, local without libuser,
//! force; user password hash, expires, generate_ssh_key with ssh_key_*, uid_min/uid_max,
//! umask, password_lock, a plaintext password's warning; getent of the shadow entry) runs under
//! ansible-playbook 2.19.14 on one fresh lab host and under etcdplay on another, and the
//! summary its last task prints must be the same. Observed with ansible-playbook: groups
//! [changed, gid 1500, changed, 1500, local fails with 'Failed to find required executable
//! "lgroupadd" in paths: ...', removed]; user created with uid 1200, password
//! NOT_LOGGING_PASSWORD, key /home/vuser1/.ssh/id_rsa, "ssh-rsa", "2048" bits; the second run
//! unchanged with one warning (the key exists); the lock changed; the shadow entry "!$ 29281".
//! Runs on a private lab (`lharn1..2` on `etcdplaybr46`, 10.213.46.0/24), taken down at the end.

#![allow(clippy::print_stderr)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{ansible_bin, etcdplay_bin, repo_root, text, PrivateLab};

/// An INI inventory naming `testhost` the lab host `host` (strict host keys).
fn inventory(dir: &Path, name: &str, host: &etcdplay_lab::LabHost) -> String {
    let line = format!(
        "testhost ansible_host={} ansible_user=root ansible_ssh_private_key_file={} \
         ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args='-o \
         StrictHostKeyChecking=yes -o UserKnownHostsFile={}'\n",
        host.ip,
        host.key_path.display(),
        host.known_hosts.display()
    );
    let path = dir.join(name);
    std::fs::write(&path, line).expect("write inventory");
    path.display().to_string()
}

/// The JSON the play's last task (`debug`) prints, from `ok: [testhost] => {` to its `}`.
fn summary(output: &str) -> serde_json::Value {
    let start = output
        .rfind("ok: [testhost] => {")
        .unwrap_or_else(|| panic!("no debug output in:\n{output}"));
    let body = &output[start + "ok: [testhost] => ".len()..];
    let end = body.find("\n}\n").expect("end of the debug output") + 2;
    serde_json::from_str(&body[..end]).unwrap_or_else(|e| panic!("{e}: {}", &body[..end]))
}

#[test]
fn user_and_group_arguments_end_as_under_ansible() {
    let lab = PrivateLab::up("lharn", "etcdplaybr46", 46, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let play = repo_root().join("tests/compat/accounts.yml");
    let ansible_inv = inventory(dir.path(), "ansible", &lab.lab.hosts[0]);
    let etcdplay_inv = inventory(dir.path(), "etcdplay", &lab.lab.hosts[1]);
    let ansible = Command::new(ansible_bin("ansible-playbook"))
        .args(["-i", &ansible_inv])
        .arg(&play)
        .env("ANSIBLE_NOCOLOR", "1")
        .current_dir(dir.path())
        .output()
        .expect("run ansible-playbook");
    let ours = Command::new(etcdplay_bin())
        .args(["apply", "-i", &etcdplay_inv])
        .arg(&play)
        .current_dir(dir.path())
        .output()
        .expect("run etcdplay");
    let (ansible_text, our_text) = (text(&ansible), text(&ours));
    // Both end with the one ignored failure (local without libuser).
    assert!(
        ansible.status.success(),
        "ansible-playbook:\n{ansible_text}"
    );
    assert!(ours.status.success(), "etcdplay:\n{our_text}");
    assert_eq!(
        summary(&our_text),
        summary(&ansible_text),
        "etcdplay:\n{our_text}"
    );
}
