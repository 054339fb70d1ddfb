//! The two root-level holes of the hardening review, attacked on a lab host the way an
//! unprivileged local user (`nobody`) would, while root runs an ordinary playbook there:
//! - `unarchive` of a control-node archive must never read the archive from a path another user
//!   can write: the attacker plants the archive where etcdplay used to cache it
//!   (`/tmp/.etcdplay-archive-<sha1>.tar`, with the right content so the checksum passes) and
//!   swaps in an archive of their own the moment root has read it for the checksum;
//! - `lineinfile`, `blockinfile`, `copy` and `template` on a destination the attacker replaced
//!   with a link to a root-only secret must never leave the secret readable: Ansible writes
//!   through the link (lineinfile/blockinfile, `follow: yes`) keeping the target's mode, or
//!   replaces the link with a new file of the default mode (copy/template).
//!
//! Everything lives under /srv/etcdplay-hardening-test (a directory per test) and is removed
//! first.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const AREA: &str = "/srv/etcdplay-hardening-test";
const HOST: &str = "lab1";

/// A watcher run as `nobody`: waits until root has read the planted archive to the end (the
/// checksum), then rewrites it with the attacker's archive. inotify through ctypes: the lab
/// hosts have python3 but no inotify-tools.
const WATCHER: &str = r#"
import ctypes, os, struct, sys
path, evil = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init()
IN_CLOSE_NOWRITE = 0x10
libc.inotify_add_watch(fd, path.encode(), IN_CLOSE_NOWRITE)
open(sys.argv[3], "w").close()
os.read(fd, 4096)
with open(evil, "rb") as src, open(path, "r+b") as dst:
    data = src.read(); dst.seek(0); dst.write(data); dst.truncate(); dst.flush()
open(sys.argv[3] + ".swapped", "w").close()
"#;

fn tar_of(dir: &Path, name: &str, file: &str, content: &str, out: &Path) {
    let src = dir.join(name);
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join(file), content).unwrap();
    let st = Command::new("tar")
        .arg("-cf")
        .arg(out)
        .arg("-C")
        .arg(&src)
        .arg(file)
        .status()
        .unwrap();
    assert!(st.success());
}

fn sha1_hex(bytes: &[u8]) -> String {
    let out = Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout)[..40].to_string()
}

#[test]
fn a_local_user_cannot_swap_the_archive_root_extracts() {
    let lab = lab(3);
    let area = format!("{AREA}/archive");
    let work = tempfile::tempdir().unwrap();
    let good = work.path().join("good.tar");
    let evil = work.path().join("evil.tar");
    tar_of(work.path(), "g", "good.txt", "good\n", &good);
    tar_of(work.path(), "e", "pwned", "attacker's file\n", &evil);
    let good_bytes = std::fs::read(&good).unwrap();
    let sum = sha1_hex(&good_bytes);
    // Where etcdplay used to cache it, and where an attacker would plant it.
    let planted = format!("/tmp/.etcdplay-archive-{}.tar", &sum[..16]);

    ssh_ok(
        lab,
        HOST,
        &format!(
            "rm -rf {area} /tmp/.etcdplay-archive-* /var/cache/etcdplay/archives; \
             mkdir -p {area}/dest {area}/attacker && chown nobody {area}/attacker"
        ),
    );
    // The attacker's files, copied over as root and handed to nobody.
    let b64 = |p: &Path| {
        let out = Command::new("base64").arg("-w0").arg(p).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    ssh_ok(
        lab,
        HOST,
        &format!(
            "echo {} | base64 -d > {area}/attacker/good.tar && echo {} | base64 -d > {area}/attacker/evil.tar && \
             chown nobody {area}/attacker/*.tar && \
             su nobody -s /bin/sh -c 'cp {area}/attacker/good.tar {planted}' && \
             cat > {area}/attacker/watch.py <<'EOF'\n{WATCHER}\nEOF\n\
             su nobody -s /bin/sh -c 'nohup python3 {area}/attacker/watch.py {planted} {area}/attacker/evil.tar {area}/attacker/ready </dev/null >/dev/null 2>&1 &' && \
             for i in $(seq 50); do [ -e {area}/attacker/ready ] && break; sleep 0.1; done; [ -e {area}/attacker/ready ]",
            b64(&good),
            b64(&evil)
        ),
    );

    std::fs::create_dir_all(work.path().join("files")).unwrap();
    std::fs::copy(&good, work.path().join("files/app.tar")).unwrap();
    std::fs::write(
        work.path().join("site.yml"),
        format!(
            "- hosts: {HOST}\n  gather_facts: false\n  tasks:\n    - unarchive:\n        src: app.tar\n        dest: {area}/dest\n"
        ),
    )
    .unwrap();
    let inventory = ini_inventory(lab, work.path(), "lab");
    let out = etcdplay(
        work.path(),
        &["apply", "-i", inventory.to_str().unwrap(), "site.yml"],
    );
    let listing = ssh_ok(
        lab,
        HOST,
        &format!(
            "pkill -u nobody -f watch.py; ls -A {area}/dest; \
             [ -e {area}/attacker/ready.swapped ] && echo swapped; \
             stat -c '%a %U' /var/cache/etcdplay/archives 2>&1; true"
        ),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !listing.contains("pwned"),
        "root extracted the attacker's archive:\n{listing}"
    );
    assert!(listing.contains("good.txt"), "{listing}");
    assert!(
        !listing.contains("swapped"),
        "root read the planted file:\n{listing}"
    );
    assert!(
        listing.contains("700 root"),
        "the archive cache is private:\n{listing}"
    );
    ssh_ok(lab, HOST, &format!("rm -rf {area} {planted}"));
}

#[test]
fn a_link_planted_at_a_destination_never_exposes_what_it_points_to() {
    let lab = lab(3);
    let area = format!("{AREA}/links");
    let work = tempfile::tempdir().unwrap();
    // Root's secrets (0600), and a directory of nobody's in which root manages four files:
    // nobody has replaced each of them with a link to a secret.
    ssh_ok(
        lab,
        HOST,
        &format!(
            "rm -rf {area} && mkdir -p {area}/secrets {area}/user && chown nobody {area}/user && \
             for f in a b c d; do printf 'secret-%s\\n' $f > {area}/secrets/$f; done && \
             chmod 600 {area}/secrets/* && \
             su nobody -s /bin/sh -c 'for f in a b c d; do ln -s {area}/secrets/$f {area}/user/$f.conf; done'"
        ),
    );
    std::fs::create_dir_all(work.path().join("templates")).unwrap();
    std::fs::write(work.path().join("templates/d.j2"), "rendered\n").unwrap();
    std::fs::write(
        work.path().join("site.yml"),
        format!(
            "- hosts: {HOST}\n  gather_facts: false\n  tasks:\n\
             \x20   - lineinfile: {{path: {area}/user/a.conf, line: added}}\n\
             \x20   - blockinfile: {{path: {area}/user/b.conf, block: added}}\n\
             \x20   - copy: {{content: \"new\\n\", dest: {area}/user/c.conf}}\n\
             \x20   - template: {{src: d.j2, dest: {area}/user/d.conf}}\n"
        ),
    )
    .unwrap();
    let inventory = ini_inventory(lab, work.path(), "lab");
    let out = etcdplay(
        work.path(),
        &["apply", "-i", inventory.to_str().unwrap(), "site.yml"],
    );
    assert!(out.status.success(), "{}", text(&out));
    // What nobody can read now, and what the files are.
    let seen = ssh(
        lab,
        HOST,
        &format!("su nobody -s /bin/sh -c 'cat {area}/user/*.conf' 2>/dev/null"),
    );
    let seen = String::from_utf8_lossy(&seen.stdout).into_owned();
    assert!(!seen.contains("secret-"), "nobody reads a secret:\n{seen}");
    let listing = ssh_ok(
        lab,
        HOST,
        &format!(
            "cd {area} && stat -c '%n %F %a' user/a.conf user/b.conf user/c.conf user/d.conf secrets/*; \
             cat secrets/a secrets/b"
        ),
    );
    let expected_stats = "user/a.conf symbolic link 777\nuser/b.conf symbolic link 777\n\
         user/c.conf regular file 644\nuser/d.conf regular file 644\n\
         secrets/a regular file 600\nsecrets/b regular file 600\n\
         secrets/c regular file 600\nsecrets/d regular file 600\n";
    assert!(listing.starts_with(expected_stats), "{listing}");
    // lineinfile and blockinfile edited the target itself, as Ansible does.
    assert!(listing.contains("secret-a\nadded\n"), "{listing}");
    assert!(
        listing.contains("secret-b\n") && listing.contains("\nadded\n"),
        "{listing}"
    );
    ssh_ok(lab, HOST, &format!("rm -rf {area}"));
}

/// The user's ssh configuration (here the inventory's `ansible_ssh_common_args`) decides about
/// host keys, as with Ansible's default `host_key_checking = True`: an unknown host is refused,
/// never silently added, and the lab's own known_hosts file lets the lab inventory check
/// strictly.
#[test]
fn an_unknown_host_key_is_refused_unless_the_users_config_says_otherwise() {
    let lab = lab(3);
    let work = tempfile::tempdir().unwrap();
    let host = &lab.hosts[0];
    let empty = work.path().join("known_hosts");
    std::fs::write(&empty, "").unwrap();
    std::fs::write(
        work.path().join("site.yml"),
        format!("- hosts: {HOST}\n  gather_facts: false\n  tasks:\n    - command: 'true'\n"),
    )
    .unwrap();
    let run = |ssh_args: &str| {
        let inv = work.path().join("hosts");
        std::fs::write(
            &inv,
            format!(
                "{} ansible_host={} ansible_user=root ansible_ssh_private_key_file={} \
                 ansible_ssh_common_args='{ssh_args}'\n",
                host.name,
                host.ip,
                lab.key_path.display()
            ),
        )
        .unwrap();
        etcdplay(
            work.path(),
            &["apply", "-i", inv.to_str().unwrap(), "site.yml"],
        )
    };
    let strict_empty = format!(
        "-o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
        empty.display()
    );
    let out = run(&strict_empty);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("Host key verification failed"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&empty).unwrap(),
        "",
        "nothing was added"
    );

    // OpenSSH's default (ask) refuses too in batch mode.
    let out = run(&format!("-o UserKnownHostsFile={}", empty.display()));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));

    // What the user's configuration allows, etcdplay does.
    let out = run(&format!(
        "-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={}",
        empty.display()
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // (Debian's ssh_config hashes the names it records: only that a key was added is seen.)
    let recorded = std::fs::read_to_string(&empty).unwrap();
    assert!(!recorded.is_empty(), "the key was recorded");

    // The lab's known_hosts holds the host's key: strict checking passes.
    let out = run(&format!(
        "-o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
        host.known_hosts.display()
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
