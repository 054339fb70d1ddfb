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

use common::{last_debug_json, repo_root, run_side_by_side, PrivateLab};

#[test]
fn user_and_group_arguments_end_as_under_ansible() {
    let lab = PrivateLab::up("lharn", "etcdplaybr46", 46, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let play = repo_root().join("tests/compat/accounts.yml");
    // Both end with the one ignored failure (local without libuser).
    let (ansible_text, our_text) = run_side_by_side(&lab, dir.path(), &play);
    assert_eq!(
        last_debug_json(&our_text, "testhost"),
        last_debug_json(&ansible_text, "testhost"),
        "etcdplay:\n{our_text}"
    );
}
