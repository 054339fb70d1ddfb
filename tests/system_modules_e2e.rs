//! The modules of issue #16 item 3 (`tests/e2e/system-modules`) on a private lab host: the
//! playbook converges, a re-run changes nothing, and `--check` with other wishes reports
//! changes but alters nothing on the host. What the host looks like afterwards is read over
//! SSH, outside etcdplay.

mod common;

use std::path::Path;

use common::*;

/// What the playbook can touch on the host, as text.
const LISTING: &str = "hostnamectl --static status; hostname; readlink /etc/localtime; \
    cat /etc/modules-load.d/bridge.conf; stat -c '%n %a %U' /home/modauser/.ssh \
    /home/modauser/.ssh/authorized_keys /srv/moda/assembled.conf; \
    cat /home/modauser/.ssh/authorized_keys /srv/moda/known_hosts /srv/moda/assembled.conf \
    /srv/moda/motd /etc/cron.d/moda-tidy; grep scratch /etc/fstab; \
    findmnt -n -o FSTYPE,OPTIONS /srv/moda/scratch | tr -s ' ' | grep -o '^tmpfs.*size=[0-9]*k'";

fn recap(output: &str) -> String {
    output
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .find(|l| l.contains(" : ok="))
        .unwrap_or_else(|| panic!("no recap in:\n{output}"))
        .to_string()
}

fn apply(work: &Path, inv: &str, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["apply", "-i", inv, "site.yml"];
    args.extend_from_slice(extra);
    let out = etcdplay(work, &args);
    (out.status.code(), text(&out))
}

#[test]
fn system_modules_converge_stay_put_and_honour_check_mode() {
    let private = PrivateLab::up("lmoda", "etcdplaybr44", 44, 1);
    let lab = &private.lab;
    let host = lab.hosts[0].name.clone();
    let work = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("tests/e2e/system-modules"), work.path());
    let inventory = yaml_inventory(&private, work.path());
    let inv = inventory.to_str().unwrap();

    let (code, first) = apply(work.path(), inv, &[]);
    assert_eq!(code, Some(0), "converge failed:\n{first}");
    assert!(recap(&first).contains("changed=10 "), "{first}");
    let listing = ssh_ok(lab, &host, LISTING);
    // timedatectl links /etc/localtime relatively.
    let want = "moda-host\nmoda-host\n../usr/share/zoneinfo/Europe/Paris\nbridge\n\
/home/modauser/.ssh 700 modauser\n/home/modauser/.ssh/authorized_keys 600 modauser\n\
/srv/moda/assembled.conf 640 root\n\
no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0modakeymodakeymodakeymodakeymodakeymo moda@test\n\
example.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0modakeymodakeymodakeymodakeymodakeymo\n\
alpha\n# --\nbeta\nfirst\n\
#Ansible: moda tidy\n*/5 * * * * root find /srv/moda -name '*.tmp' -delete\n\
tmpfs /srv/moda/scratch tmpfs size=1m 0 0\ntmpfs rw,relatime,size=1024k\n";
    assert_eq!(listing, want);

    // Again: nothing changes (the script is skipped by `creates`).
    let (code, second) = apply(work.path(), inv, &[]);
    assert_eq!(code, Some(0), "{second}");
    assert!(
        recap(&second).contains("changed=0 "),
        "re-run changed something:\n{second}"
    );

    // Other wishes under --check: reported, not made.
    let (code, check) = apply(
        work.path(),
        inv,
        &[
            "--check",
            "-e",
            "new_name=other-name",
            "-e",
            "zone=Asia/Tokyo",
            "-e",
            "scratch_size=2m",
        ],
    );
    assert_eq!(code, Some(0), "{check}");
    assert!(recap(&check).contains("changed=3 "), "{check}");
    assert_eq!(
        ssh_ok(lab, &host, LISTING),
        want,
        "--check changed the host"
    );
}
