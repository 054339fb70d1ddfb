//! `synchronize` as ansible.posix's: `tests/e2e/synchronize` runs under ansible-playbook
//! 2.19.14 (with ansible.posix 2.1.0) against one lab host and under etcdplay against another,
//! rsync running on the control node over ssh with the inventory's address, user and key.
//! The lab hosts have no rsync: the test copies the control node's (and the libpopt it links,
//! the one library the hosts lack). The results the play's last task prints must be equal.
//! Observed with ansible-playbook: check mode `changed` and nothing written; the push
//! `changed` with rsync's itemized lines (`cd+++++++++ ./`, `>f+++++++++ a.txt`, ...), again
//! unchanged with no lines; with `delete`, `checksum` and `--exclude=skip.txt`
//! `*deleting   extra.txt`; the pull `changed` and the file on the control node.
//!
//! Runs on a private lab (`lmodc1..2` on `etcdplaybr53`, 10.213.53.0/24), taken down at the end.

mod common;

use std::process::Command;

use common::debrepo::{run_ok, ssh_with_input};
use common::{
    ansible_bin, assert_same_results, both_succeeded, etcdplay_bin, last_results, repo_root,
    testhost_inventory, text, PrivateLab,
};

#[test]
fn synchronize_results_are_the_collections() {
    let lab = PrivateLab::up("lmodc", "etcdplaybr53", 53, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let popt =
        run_ok(Command::new("readlink").args(["-f", "/usr/lib/x86_64-linux-gnu/libpopt.so.0"]));
    let rsync_tar = dir.path().join("rsync.tar");
    run_ok(
        Command::new("tar")
            .arg("-cf")
            .arg(&rsync_tar)
            .args([
                "-C",
                "/",
                "usr/bin/rsync",
                "usr/lib/x86_64-linux-gnu/libpopt.so.0",
            ])
            .arg(popt.trim().trim_start_matches('/')),
    );
    for host in &lab.lab.hosts {
        let out = ssh_with_input(host, "tar -xf - -C /", &rsync_tar);
        assert!(out.status.success(), "{}: {}", host.name, text(&out));
    }
    let play = repo_root().join("tests/e2e/synchronize/site.yml");
    let ansible_inv = testhost_inventory(dir.path(), "ansible", &lab.lab.hosts[0]);
    let etcdplay_inv = testhost_inventory(dir.path(), "etcdplay", &lab.lab.hosts[1]);
    let pull = |name: &str| {
        let p = dir.path().join(name);
        std::fs::create_dir_all(&p).expect("mkdir");
        format!("pulldir={}", p.display())
    };
    let ansible = Command::new(ansible_bin("ansible-playbook"))
        .args(["-i", &ansible_inv, "-e", &pull("ansible-pull")])
        .arg(&play)
        .env("ANSIBLE_NOCOLOR", "1")
        .env(
            "ANSIBLE_COLLECTIONS_PATH",
            "/opt/etcdplay-ansible/collections",
        )
        .current_dir(dir.path())
        .output()
        .expect("run ansible-playbook");
    let ours = Command::new(etcdplay_bin())
        .args(["apply", "-i", &etcdplay_inv, "-e", &pull("etcdplay-pull")])
        .arg(&play)
        .current_dir(dir.path())
        .output()
        .expect("run etcdplay");
    let (ansible_text, our_text) = both_succeeded(&ansible, &ours);
    let (theirs, mine) = last_results(&ansible_text, &our_text, "testhost");
    assert_same_results(&theirs, &mine, &our_text);
    assert_eq!(theirs["msg"]["push"]["changed"], true, "{ansible_text}");
    assert!(our_text.contains("*deleting   extra.txt"), "{our_text}");
}
