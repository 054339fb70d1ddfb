//! `reboot` for real: `tests/e2e/reboot` runs under ansible-playbook 2.19.14 on one lab host and
//! under etcdplay on another at the same time. A lab host's `shutdown -r` ends its
//! systemd-nspawn (exit 133; nothing restarts it), so this test plays the hypervisor: a host
//! that stopped is booted again (a fresh boot id). The results the play's last task prints must
//! be equal. Observed with ansible-playbook: check mode `changed`, `rebooted`, `elapsed: 0`;
//! `reboot_command: "true"` with `reboot_timeout: 3` fails, `rebooted: true`, "Timed out
//! waiting for last boot time check (timeout=3)"; a program not in `search_paths` fails with
//! "Unable to find command \"no-such-shutdown\" in search paths: ['/usr/sbin']"; the reboot
//! `changed`, `rebooted`, keys changed/elapsed/failed/rebooted, and the boot id differs after.
//!
//! Runs on a private lab (`lmodc1..2` on `etcdplaybr53`, 10.213.53.0/24), taken down at the end.

#![allow(clippy::print_stderr)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    ansible_bin, assert_same_results, both_succeeded, etcdplay_bin, last_results, repo_root,
    testhost_inventory, PrivateLab,
};

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

#[test]
fn reboot_waits_for_a_new_boot_as_ansible_does() {
    let lab = PrivateLab::up("lmodc", "etcdplaybr53", 53, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let play = repo_root().join("tests/e2e/reboot/site.yml");
    let ansible_inv = testhost_inventory(dir.path(), "ansible", &lab.lab.hosts[0]);
    let etcdplay_inv = testhost_inventory(dir.path(), "etcdplay", &lab.lab.hosts[1]);
    let mut ansible = spawn(
        Command::new(ansible_bin("ansible-playbook"))
            .args(["-i", &ansible_inv])
            .arg(&play)
            .env("ANSIBLE_NOCOLOR", "1")
            .current_dir(dir.path()),
    );
    let mut ours = spawn(
        Command::new(etcdplay_bin())
            .args(["apply", "-i", &etcdplay_inv])
            .arg(&play)
            .current_dir(dir.path()),
    );
    // The hypervisor: boot again whatever host stopped, until both runs ended.
    let deadline = Instant::now() + Duration::from_secs(400);
    let mut restarts = 0;
    loop {
        let done = [ansible.try_wait(), ours.try_wait()]
            .iter()
            .all(|w| matches!(w, Ok(Some(_))));
        if done {
            break;
        }
        if Instant::now() > deadline {
            let _ = ansible.kill();
            let _ = ours.kill();
            panic!("the runs did not end within 400s");
        }
        let stopped = lab
            .lab
            .hosts
            .iter()
            .any(|h| etcdplay_lab::running_pid(&lab.config, h).is_none());
        if stopped {
            // Let the machine finish powering off before it is booted again.
            std::thread::sleep(Duration::from_secs(1));
            lab.restart_missing();
            restarts += 1;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let (ansible, ours) = (
        ansible.wait_with_output().expect("ansible-playbook"),
        ours.wait_with_output().expect("etcdplay"),
    );
    eprintln!("hosts booted again: {restarts}");
    let (ansible_text, our_text) = both_succeeded(&ansible, &ours);
    let (theirs, mine) = last_results(&ansible_text, &our_text, "testhost");
    assert_same_results(&theirs, &mine, &our_text);
    assert_eq!(theirs["msg"]["new_boot"], true, "{ansible_text}");
}
