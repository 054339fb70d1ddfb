//! `apt_repository` and `deb822_repository` for real on a lab host: the test builds a signed
//! flat repository (a `.deb`, its `Packages` index, a `Release` file clear-signed with a key
//! generated here with gpg) served from a `file:` URI, and adds it as a one-line source with
//! `signed-by` and as a deb822 `.sources` file with the key inline. apt then checks the
//! signature with the host's gpgv and installs from it. Each: check mode changes nothing,
//! a run changes once, a re-run changes nothing, removal removes.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const REPO: &str = "/srv/etcdplay-signed-repo";
const PACKAGE: &str = "etcdplay-repo-test";

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{cmd:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the repository in `dir/repo`; returns the armored public key.
fn build_signed_repo(dir: &Path) -> String {
    let gnupg = dir.join("gnupg");
    std::fs::create_dir_all(&gnupg).expect("mkdir");
    let gpg = |args: &[&str]| {
        let mut c = Command::new("gpg");
        c.arg("--homedir").arg(&gnupg).args(["--batch", "--yes"]);
        c.args(args);
        c
    };
    run_ok(&mut gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "etcdplay repo test <repo@localhost>",
        "ed25519",
        "sign",
        "never",
    ]));
    let key = run_ok(&mut gpg(&["--armor", "--export", "repo@localhost"]));
    let root = dir.join("pkg");
    std::fs::create_dir_all(root.join("DEBIAN")).expect("mkdir");
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {PACKAGE}\nVersion: 1.0\nArchitecture: all\n\
             Maintainer: etcdplay tests <tests@localhost>\nDescription: etcdplay repo test\n"
        ),
    )
    .expect("control");
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    let deb = repo.join(format!("{PACKAGE}_1.0_all.deb"));
    run_ok(
        Command::new("dpkg-deb")
            .args(["--build", "--root-owner-group"])
            .arg(&root)
            .arg(&deb),
    );
    let sha = |p: &Path| run_ok(Command::new("sha256sum").arg(p))[..64].to_string();
    let size = std::fs::metadata(&deb).expect("deb").len();
    let packages = format!(
        "Package: {PACKAGE}\nVersion: 1.0\nArchitecture: all\n\
         Maintainer: etcdplay tests <tests@localhost>\nDescription: etcdplay repo test\n\
         Filename: ./{PACKAGE}_1.0_all.deb\nSize: {size}\nSHA256: {}\n\n",
        sha(&deb)
    );
    std::fs::write(repo.join("Packages"), &packages).expect("Packages");
    let date = run_ok(Command::new("date").args(["-u", "-R"]));
    let release = format!(
        "Date: {}\nSHA256:\n {} {} Packages\n",
        date.trim(),
        sha(&repo.join("Packages")),
        packages.len()
    );
    std::fs::write(repo.join("Release"), release).expect("Release");
    let mut sign = gpg(&["--clearsign", "-o"]);
    sign.arg(repo.join("InRelease")).arg(repo.join("Release"));
    run_ok(&mut sign);
    key
}

/// Copies the repository to the host (a tar through ssh).
fn upload_repo(lab: &etcdplay_lab::Lab, host: &str, dir: &Path) {
    let tar = run_ok(
        Command::new("sh")
            .arg("-c")
            .arg(format!("tar -C {} -cf - repo | base64 -w0", dir.display())),
    );
    ssh_ok(
        lab,
        host,
        &format!("rm -rf {REPO} && mkdir -p {REPO} && echo {tar} | base64 -d | tar -C {REPO} --strip-components=1 -xf -"),
    );
}

fn apply(work: &Path, inv: &str, playbook: &str, extra: &[&str]) -> (Option<i32>, String) {
    std::fs::write(work.join("site.yml"), playbook).expect("write playbook");
    let mut args = vec!["apply", "-i", inv, "site.yml"];
    args.extend_from_slice(extra);
    let out = etcdplay(work, &args);
    (out.status.code(), text(&out))
}

fn changed(output: &str, host: &str) -> u64 {
    output
        .lines()
        .find(|l| l.starts_with(host) && l.contains(" : ok="))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("changed="))
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no recap for {host}:\n{output}"))
}

fn indent(text: &str, by: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(by)))
        .collect()
}

#[test]
fn apt_repository_and_deb822_repository_add_a_signed_file_repository() {
    let private = PrivateLab::up("lmodb", "etcdplaybr45", 45, 1);
    let host = "lmodb1";
    let lab: &'static etcdplay_lab::Lab = Box::leak(Box::new(private.lab.clone()));
    let work = tempfile::tempdir().expect("tempdir");
    let inventory = ini_inventory(lab, work.path(), "lab");
    let inv = inventory.to_str().expect("utf-8");
    let key = build_signed_repo(work.path());
    upload_repo(lab, host, work.path());
    // The host has no internet: its own sources go aside, so `apt-get update` reads only ours.
    ssh_ok(
        lab,
        host,
        "mkdir -p /root/sources-aside && mv /etc/apt/sources.list /etc/apt/sources.list.d/* /root/sources-aside/ 2>/dev/null; true",
    );
    let installed = || {
        ssh_ok(
            lab,
            host,
            &format!("dpkg-query -W -f='${{Version}}' {PACKAGE} 2>/dev/null || true"),
        )
    };

    // A one-line source signed by a key file.
    let line = format!(
        "- hosts: {host}\n  gather_facts: false\n  tasks:\n\
         \x20   - copy:\n        dest: /etc/apt/keyrings/etcdplay-test.asc\n        content: |\n{}\
         \x20   - apt_repository:\n        repo: 'deb [signed-by=/etc/apt/keyrings/etcdplay-test.asc] file:{REPO} ./'\n        filename: etcdplay-test\n\
         \x20   - apt: {{name: {PACKAGE}}}\n",
        indent(&key, 10)
    );
    ssh_ok(lab, host, "mkdir -p /etc/apt/keyrings");
    let (code, out) = apply(work.path(), inv, &line, &["--check"]);
    assert_eq!(code, Some(0), "{out}");
    let listed = ssh_ok(lab, host, "ls /etc/apt/sources.list.d/");
    assert!(
        !listed.contains("etcdplay-test.list"),
        "check mode wrote: {listed}"
    );
    let (code, out) = apply(work.path(), inv, &line, &[]);
    assert_eq!((code, changed(&out, host)), (Some(0), 3), "{out}");
    assert_eq!(installed(), "1.0");
    assert_eq!(
        ssh_ok(lab, host, "cat /etc/apt/sources.list.d/etcdplay-test.list; stat -c %a /etc/apt/sources.list.d/etcdplay-test.list"),
        format!("deb [signed-by=/etc/apt/keyrings/etcdplay-test.asc] file:{REPO} ./\n644\n")
    );
    let (code, out) = apply(work.path(), inv, &line, &[]);
    assert_eq!((code, changed(&out, host)), (Some(0), 0), "{out}");
    let remove = format!(
        "- hosts: {host}\n  gather_facts: false\n  tasks:\n\
         \x20   - apt: {{name: {PACKAGE}, state: absent}}\n\
         \x20   - apt_repository: {{repo: 'deb [signed-by=/etc/apt/keyrings/etcdplay-test.asc] file:{REPO} ./', state: absent, update_cache: false}}\n"
    );
    let (code, out) = apply(work.path(), inv, &remove, &[]);
    assert_eq!((code, changed(&out, host)), (Some(0), 2), "{out}");
    assert!(!ssh_ok(lab, host, "ls /etc/apt/sources.list.d/").contains("etcdplay-test"));
    let (code, out) = apply(work.path(), inv, &remove, &[]);
    assert_eq!((code, changed(&out, host)), (Some(0), 0), "{out}");

    // The same repository as a deb822 source with the key inline.
    let deb822 = format!(
        "- hosts: {host}\n  gather_facts: false\n  tasks:\n\
         \x20   - deb822_repository:\n        name: etcdplay test\n        uris: 'file:{REPO}'\n        suites: ./\n        signed_by: |\n{}\
         \x20   - apt: {{name: {PACKAGE}, update_cache: true}}\n",
        indent(&key, 10)
    );
    let (code, out) = apply(work.path(), inv, &deb822, &["--check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!ssh_ok(lab, host, "ls /etc/apt/sources.list.d/").contains("etcdplay-test.sources"));
    let (code, out) = apply(work.path(), inv, &deb822, &[]);
    assert_eq!((code, changed(&out, host)), (Some(0), 2), "{out}");
    assert_eq!(installed(), "1.0");
    let written = ssh_ok(
        lab,
        host,
        "cat /etc/apt/sources.list.d/etcdplay-test.sources",
    );
    assert!(
        written.starts_with("X-Repolib-Name: etcdplay test\nSigned-By:\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n    .\n"),
        "{written}"
    );
    assert!(
        written.ends_with(&format!("Suites: ./\nTypes: deb\nURIs: file:{REPO}\n")),
        "{written}"
    );
    let (code, out) = apply(work.path(), inv, &deb822, &[]);
    assert_eq!((code, changed(&out, host)), (Some(0), 0), "{out}");
    let absent = format!(
        "- hosts: {host}\n  gather_facts: false\n  tasks:\n\
         \x20   - deb822_repository: {{name: etcdplay test, state: absent}}\n"
    );
    let (code, out) = apply(work.path(), inv, &absent, &[]);
    assert_eq!((code, changed(&out, host)), (Some(0), 1), "{out}");
    let (code, out) = apply(work.path(), inv, &absent, &[]);
    assert_eq!((code, changed(&out, host)), (Some(0), 0), "{out}");
    drop(private);
}
