//! `async:`/`poll:`/`async_status` and `become_method: su` on a lab host over SSH: a polled
//! job, a fired job collected with an `until` loop, a job killed when its time is up (its
//! process gone on the host), a job that outlives the SSH connection and the etcdplay run that
//! started it, and su to another user from a root login and, with the password, from a login
//! that is not root (compared with ansible-playbook on the same host), and sudo with a
//! password (right, wrong, and given to a `NOPASSWD` login, which must not need it). Runs on a private lab
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
    login_inventory_of(lab, work, LOGIN, TARGET_PASSWORD)
}

/// An inventory logging in as `user` with the lab's key, `password` as
/// `ansible_become_password`.
fn login_inventory_of(
    lab: &PrivateLab,
    work: &Path,
    user: &str,
    password: &str,
) -> std::path::PathBuf {
    let h = &lab.lab.hosts[0];
    let path = work.join(format!("login-{user}.yml"));
    std::fs::write(
        &path,
        format!(
            "all:\n  hosts:\n    {}:\n      ansible_host: {}\n      ansible_user: {user}\n      \
             ansible_ssh_private_key_file: {}\n      ansible_ssh_common_args: '-o StrictHostKeyChecking=yes -o UserKnownHostsFile={}'\n      \
             ansible_become_password: {}\n",
            h.name,
            h.ip,
            lab.lab.key_path.display(),
            h.known_hosts.display(),
            serde_json::to_string(password).unwrap()
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
    sudo_with_a_password_like_ansible(&lab, &host, work.path());
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

/// A login whose sudo rule wants its password.
const SUDO_LOGIN: &str = "lasyncpw";
const SUDO_PASSWORD: &str = "Sudo pass'word 2";

/// sudo with `ansible_become_password`, side by side with ansible-playbook 2.19.14 on the same
/// host. Ansible, with the right password: `ok=4 changed=3` (command, debug, 3 MiB copy, small
/// copy), the files root's; again: `changed=1`. With a wrong one: `failed=1`, "Incorrect sudo
/// password". etcdplay must give the same recaps and files, never show the password, and never
/// read the script as a password (sudo's three attempts are spent on the empty lines after it).
/// The lab's `deploy` login has a `NOPASSWD` rule: a wrong password set for it is never used.
fn sudo_with_a_password_like_ansible(lab: &PrivateLab, host: &str, work: &Path) {
    ssh_ok(
        &lab.lab,
        host,
        &format!(
            "set -e; id {SUDO_LOGIN} >/dev/null 2>&1 || useradd -m -s /bin/sh {SUDO_LOGIN}; \
             printf '%s\\n' '{SUDO_LOGIN}:{}' | chpasswd; \
             echo '{SUDO_LOGIN} ALL=(ALL) ALL' >/etc/sudoers.d/{SUDO_LOGIN}; chmod 440 /etc/sudoers.d/{SUDO_LOGIN}; \
             install -d -m 700 -o {SUDO_LOGIN} -g {SUDO_LOGIN} /home/{SUDO_LOGIN}/.ssh; \
             install -m 600 -o {SUDO_LOGIN} -g {SUDO_LOGIN} /root/.ssh/authorized_keys /home/{SUDO_LOGIN}/.ssh/",
            SUDO_PASSWORD.replace('\'', "'\\''")
        ),
    );
    let big: Vec<u8> = (0..3u32 << 20).map(|i| (i % 241) as u8).collect();
    std::fs::write(work.join("sudo-big.bin"), &big).expect("write big file");
    let playbook = |dir: &str| {
        format!(
            r#"
- hosts: all
  gather_facts: false
  become: true
  tasks:
    - command: id -un
      register: who
    - debug: msg="whoami={{{{ who.stdout }}}}"
    - copy: src=sudo-big.bin dest=/root/{dir}/big.bin mode=0600
    - copy: content="small\n" dest=/root/{dir}/small.txt
"#
        )
    };
    ssh_ok(&lab.lab, host, "mkdir -p /root/theirs /root/ours");
    let recap = |out: &str| {
        out.lines()
            .find(|l| l.contains(" : ok="))
            .map(|l| {
                l.split_whitespace()
                    .skip(2)
                    .take(4)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    let ansible = |inventory: &Path| {
        std::fs::write(work.join("ansible-sudo.yml"), playbook("theirs")).expect("write");
        let out = std::process::Command::new(ansible_bin("ansible-playbook"))
            .args(["-i", inventory.to_str().unwrap(), "ansible-sudo.yml"])
            .current_dir(work)
            .output()
            .expect("ansible-playbook");
        text(&out)
    };
    let good = login_inventory_of(lab, work, SUDO_LOGIN, SUDO_PASSWORD);
    for round in 0..2 {
        let theirs = ansible(&good);
        let (ok, ours) = apply(work, &good, &playbook("ours"), &["-v"]);
        assert!(ok, "{ours}");
        assert_eq!(
            recap(&ours),
            recap(&theirs),
            "round {round}:\n{ours}\n{theirs}"
        );
        assert!(ours.contains("whoami=root"), "{ours}");
        assert!(
            !ours.contains("Sudo pass"),
            "the password was shown: {ours}"
        );
    }
    let sums = ssh_ok(
        &lab.lab,
        host,
        "cd /root && sha256sum theirs/big.bin ours/big.bin theirs/small.txt ours/small.txt \
         | awk '{print $1}' | uniq | wc -l; stat -c '%U %a' ours/big.bin",
    );
    assert_eq!(sums.trim(), "2\nroot 600", "{sums}");

    let bad = login_inventory_of(lab, work, SUDO_LOGIN, "not the password");
    let theirs = ansible(&bad);
    assert!(theirs.contains("Incorrect sudo password"), "{theirs}");
    let started = Instant::now();
    let (ok, ours) = apply(work, &bad, &playbook("ours"), &[]);
    assert!(!ok, "{ours}");
    assert_eq!(recap(&ours), recap(&theirs), "{ours}\n{theirs}");
    assert!(ours.contains("Incorrect sudo password"), "{ours}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );

    // `-K`: the password typed at the prompt (a terminal that `script` gives), used where no
    // variable sets one.
    let asked = work.join("sudo-asked.yml");
    let without = std::fs::read_to_string(&good).expect("read");
    let without: String = without
        .lines()
        .filter(|l| !l.contains("ansible_become_password"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&asked, without).expect("write");
    let command = format!(
        "{} apply -i {} site.yml -K",
        etcdplay_bin().display(),
        asked.display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(work)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        std::thread::sleep(Duration::from_secs(2));
        writeln!(stdin, "{SUDO_PASSWORD}").expect("type the password");
    }
    let out = child.wait_with_output().expect("wait");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("BECOME password:"), "{shown}");
    assert!(shown.contains("whoami=root"), "{shown}");

    let nopasswd = login_inventory_of(lab, work, "deploy", "not the password either");
    let (ok, ours) = apply(work, &nopasswd, &playbook("ours"), &[]);
    assert!(ok, "{ours}");
    assert!(ours.contains("whoami=root"), "{ours}");
}
