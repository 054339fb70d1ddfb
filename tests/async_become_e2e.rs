//! `async:`/`poll:`/`async_status` and `become_method: su` on a lab host over SSH: a polled
//! job, a fired job collected with an `until` loop, a job killed when its time is up (its
//! process gone on the host), a job that outlives the SSH connection and the etcdplay run that
//! started it, and su to another user from a root login and, with the password, from a login
//! that is not root (compared with ansible-playbook on the same host). Runs on a private lab
//! (`lasync1` on `etcdplaybr42`, 10.213.42.0/24), taken down at the end.

#![allow(clippy::print_stderr)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// A non-root login of the host that su's to the target with this password.
const LOGIN: &str = "lasynclogin";
const TARGET: &str = "lasyncsu";
const TARGET_PASSWORD: &str = "Su pass'word\"1";

fn apply(work: &Path, inventory: &Path, playbook: &str, extra: &[&str]) -> (bool, String) {
    std::fs::write(work.join("site.yml"), playbook).expect("write playbook");
    let mut args = vec!["apply", "-i", inventory.to_str().unwrap(), "site.yml"];
    args.extend_from_slice(extra);
    let out = etcdplay(work, &args);
    (out.status.success(), text(&out))
}

/// The users of the su tests: the target with a password, and a login that is not root,
/// reached with the lab's key.
fn make_users(lab: &PrivateLab, host: &str) {
    ssh_ok(
        &lab.lab,
        host,
        &format!(
            "set -e; for u in {LOGIN} {TARGET}; do id $u >/dev/null 2>&1 || useradd -m -s /bin/sh $u; done; \
             printf '%s\\n' '{TARGET}:{}' | chpasswd; \
             install -d -m 700 -o {LOGIN} -g {LOGIN} /home/{LOGIN}/.ssh; \
             install -m 600 -o {LOGIN} -g {LOGIN} /root/.ssh/authorized_keys /home/{LOGIN}/.ssh/",
            TARGET_PASSWORD.replace('\'', "'\\''")
        ),
    );
}

/// The inventory of the non-root login, with the su password as an inventory variable.
fn login_inventory(lab: &PrivateLab, work: &Path) -> std::path::PathBuf {
    let h = &lab.lab.hosts[0];
    let path = work.join("login.yml");
    std::fs::write(
        &path,
        format!(
            "all:\n  hosts:\n    {}:\n      ansible_host: {}\n      ansible_user: {LOGIN}\n      \
             ansible_ssh_private_key_file: {}\n      ansible_ssh_common_args: '-o StrictHostKeyChecking=yes -o UserKnownHostsFile={}'\n      \
             ansible_become_password: {}\n",
            h.name,
            h.ip,
            lab.lab.key_path.display(),
            h.known_hosts.display(),
            serde_json::to_string(TARGET_PASSWORD).unwrap()
        ),
    )
    .expect("write inventory");
    path
}

#[test]
fn async_jobs_and_su_on_a_lab_host() {
    let lab = PrivateLab::up("lasync", "etcdplaybr42", 42, 1);
    let host = lab.lab.hosts[0].name.clone();
    let work = tempfile::tempdir().expect("tempdir");
    let inventory = ini_inventory(&lab.lab, work.path(), "all");
    polled_job(work.path(), &inventory);
    fired_job_collected_by_an_until_loop(work.path(), &inventory);
    a_job_over_its_time_is_killed(&lab, &host, work.path(), &inventory);
    a_job_outlives_the_connection_and_the_run(&lab, &host, work.path(), &inventory);
    make_users(&lab, &host);
    su_from_root(work.path(), &inventory);
    su_with_a_password_like_ansible(&lab, work.path());
}

/// Ansible (localhost): a 3 s command with `async: 10, poll: 1` is `changed` after ~3 s with
/// the command's `stdout` and `finished: true`.
fn polled_job(work: &Path, inventory: &Path) {
    let started = Instant::now();
    let (ok, out) = apply(
        work,
        inventory,
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: sh -c 'sleep 3; echo three'
      async: 10
      poll: 1
      register: r
    - assert:
        that:
          - r.stdout == 'three'
          - r.finished
          - r.rc == 0
          - r.ansible_job_id is match('j[0-9]+[.][0-9]+')
          - r.results_file == '/root/.ansible_async/' + r.ansible_job_id
"#,
        &[],
    );
    assert!(ok, "{out}");
    assert!(started.elapsed() >= Duration::from_secs(3), "{out}");
}

/// Ansible (localhost): `poll: 0` registers `started`, not `finished`; `async_status` with
/// `until: s.finished` retries until the job's result is there.
fn fired_job_collected_by_an_until_loop(work: &Path, inventory: &Path) {
    let (ok, out) = apply(
        work,
        inventory,
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: sleep 2; echo fired
      async: 30
      poll: 0
      register: j
    - assert:
        that: [j.started, not j.finished, j.changed]
    - async_status: jid={{ j.ansible_job_id }}
      register: s
      until: s.finished
      retries: 10
      delay: 1
    - assert:
        that: [s.stdout == 'fired', s.attempts > 1]
    - async_status: jid={{ j.ansible_job_id }} mode=cleanup
"#,
        &[],
    );
    assert!(ok, "{out}");
}

/// Ansible (localhost, `async: 6, poll: 1`): failed, "async task did not complete within the
/// requested time - 6s". Here the job's process is gone on the host when the task ends.
fn a_job_over_its_time_is_killed(lab: &PrivateLab, host: &str, work: &Path, inventory: &Path) {
    let (ok, out) = apply(
        work,
        inventory,
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo $$ > /root/lasync-pid; exec sleep 300
      async: 3
      poll: 1
"#,
        &[],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("async task did not complete within the requested time - 3s"),
        "{out}"
    );
    let alive = ssh(
        &lab.lab,
        host,
        "kill -0 $(cat /root/lasync-pid) 2>/dev/null && echo alive || echo gone",
    );
    assert_eq!(String::from_utf8_lossy(&alive.stdout).trim(), "gone");
}

/// A fired job runs on after the run that started it has closed its SSH connection (the
/// remote shells' lifeline kills everything else they started), and a later run reads its
/// result by job id, as with Ansible's detached async_wrapper.
fn a_job_outlives_the_connection_and_the_run(
    lab: &PrivateLab,
    host: &str,
    work: &Path,
    inventory: &Path,
) {
    ssh_ok(&lab.lab, host, "rm -f /root/lasync-survived");
    let (ok, out) = apply(
        work,
        inventory,
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: sleep 4; echo survived | tee /root/lasync-survived
      async: 60
      poll: 0
      register: j
    - copy: content={{ j.ansible_job_id }} dest=/root/lasync-jid
"#,
        &[],
    );
    assert!(ok, "{out}");
    let jid = ssh_ok(&lab.lab, host, "cat /root/lasync-jid");
    assert_eq!(
        ssh_ok(
            &lab.lab,
            host,
            "cat /root/lasync-survived 2>/dev/null || echo not yet"
        )
        .trim(),
        "not yet"
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        ssh_ok(&lab.lab, host, "cat /root/lasync-survived").trim(),
        "survived"
    );
    let (ok, out) = apply(
        work,
        inventory,
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - async_status: jid={{ jid }}
      register: s
    - assert:
        that: [s.finished, s.stdout == 'survived', s.rc == 0]
    - async_status: jid={{ jid }} mode=cleanup
"#,
        &["-e", &format!("jid={}", jid.trim())],
    );
    assert!(ok, "{out}");
}

/// From a root login su asks for nothing.
fn su_from_root(work: &Path, inventory: &Path) {
    let (ok, out) = apply(
        work,
        inventory,
        &format!(
            r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: id -un
      become: true
      become_method: su
      become_user: {TARGET}
      register: who
    - assert:
        that: who.stdout == '{TARGET}'
"#
        ),
        &[],
    );
    assert!(ok, "{out}");
}

/// From a login that is not root, with `ansible_become_password`: ansible-playbook and
/// etcdplay both run `id -un` as the target (Ansible through a pty it answers su's prompt
/// on; etcdplay on su's standard input), and an async job under su lives in the target's
/// home. The password never appears in etcdplay's output.
fn su_with_a_password_like_ansible(lab: &PrivateLab, work: &Path) {
    let inventory = login_inventory(lab, work);
    let playbook = format!(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: id -un
      become: true
      become_method: su
      become_user: {TARGET}
      register: who
    - debug: msg="whoami={{{{ who.stdout }}}}"
"#
    );
    std::fs::write(work.join("ansible-su.yml"), &playbook).expect("write");
    // Ansible hands its module files to the target user, which needs setfacl on the host or
    // this setting ("Failed to set permissions on the temporary files Ansible needs to create
    // when becoming an unprivileged user"); pipelining does not apply to su.
    let ansible = std::process::Command::new(ansible_bin("ansible-playbook"))
        .args(["-i", inventory.to_str().unwrap(), "ansible-su.yml"])
        .env("ANSIBLE_SHELL_ALLOW_WORLD_READABLE_TEMP", "True")
        .current_dir(work)
        .output()
        .expect("ansible-playbook");
    let ansible_out = text(&ansible);
    assert!(
        ansible_out.contains(&format!("whoami={TARGET}")),
        "{ansible_out}"
    );
    let (ok, out) = apply(work, &inventory, &playbook, &["-v"]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("whoami={TARGET}")), "{out}");
    assert!(!out.contains("Su pass"), "the password was shown: {out}");
    // A file over 1 MiB goes over an upload channel of its own, through su's wrapper there.
    let big: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(work.join("big.bin"), &big).expect("write big file");
    let (ok, out) = apply(
        work,
        &inventory,
        &format!(
            r#"
- hosts: all
  gather_facts: false
  become: true
  become_method: su
  become_user: {TARGET}
  tasks:
    - copy: src=big.bin dest=/home/{TARGET}/big.bin
    - stat: path=/home/{TARGET}/big.bin
      register: big
    - assert:
        that:
          - big.stat.size == {size}
          - big.stat.pw_name == '{TARGET}'
    - command: id -un
      async: 10
      poll: 1
      register: r
    - assert:
        that:
          - r.stdout == '{TARGET}'
          - r.results_file is match('/home/{TARGET}/.ansible_async/')
"#,
            size = big.len()
        ),
        &[],
    );
    assert!(ok, "{out}");
}
