//! Issue #16's "done when" role: `tests/e2e/package-role` installs two packages (`apt`, then
//! `package`) from a repository of `.deb` files this test builds (`dpkg-deb --build`) and serves
//! from a `file:` URI (the hosts have no internet), sets a kernel parameter with `sysctl`, writes
//! the web server's configuration with `ini_file`, edits a packaged file with `replace`, starts
//! the packaged service, and checks it over HTTP on the host's loopback with `uri`. The same
//! role runs under ansible-playbook 2.19.14 on one fresh lab host and under etcdplay on another,
//! twice each: the recaps must match run for run, the second must change nothing, and the files
//! the role wrote must be byte for byte the same on both hosts.
//!
//! Ansible's apt module needs python3-apt on the host (Ansible would install it itself, from the
//! same repository): the test repacks the control node's python3-apt into the repository and
//! installs it on both hosts first, so that the hosts stay alike. `sysctl` and `ini_file` come
//! from the ansible.posix and community.general collections that `scripts/install-deps` puts in
//! `/opt/etcdplay-ansible/collections`.
//!
//! Runs on a private lab (`lmodc1..2` on `etcdplaybr53`, 10.213.53.0/24), taken down at the end.

#![allow(clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::debrepo::{build, repack_python3_apt, run_ok, ssh_with_input};
use common::{ansible_bin, etcdplay_bin, repo_root, ssh_ok, testhost_inventory, text, PrivateLab};

/// Where the repository lives on the hosts.
const REPO: &str = "/srv/etcdplay-role-repo";
/// The role's own packages, built from `tests/e2e/package-role/debs/<name>`.
const ROLE_PACKAGES: [&str; 2] = ["etcdplay-role-web", "etcdplay-role-tools"];
/// The files the role writes, compared between the Ansible host and the etcdplay host.
const WRITTEN: [&str; 3] = [
    "/etc/pkgrole/web.ini",
    "/etc/sysctl.d/90-pkgrole.conf",
    "/usr/share/etcdplay-role-web/www/health",
];

/// Builds `<name>_1.0_all.deb` into `repo` from the tree `debs/<name>` of the fixture.
fn build_role_package(work: &Path, repo: &Path, name: &str) {
    let root = work.join(format!("root-{name}"));
    common::copy_tree(
        &repo_root().join("tests/e2e/package-role/debs").join(name),
        &root,
    );
    std::fs::create_dir_all(root.join("DEBIAN")).expect("mkdir");
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: 1.0\nArchitecture: all\nDepends: python3\n\
             Maintainer: etcdplay tests <tests@localhost>\nDescription: etcdplay role test\n"
        ),
    )
    .expect("control");
    // git keeps only the executable bit: the rest of each mode is set here.
    run_ok(Command::new("chmod").arg("-R").arg("go-w").arg(&root));
    build(&root, &repo.join(format!("{name}_1.0_all.deb")));
}

/// The flat repository: the packages and their `Packages` index, as a tarball to send.
fn build_repository(work: &Path) -> PathBuf {
    let repo = work.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    for name in ROLE_PACKAGES {
        build_role_package(work, &repo, name);
    }
    repack_python3_apt(work, &repo);
    let index = run_ok(
        Command::new("dpkg-scanpackages")
            .args([".", "/dev/null"])
            .current_dir(&repo),
    );
    std::fs::write(repo.join("Packages"), index).expect("Packages");
    let tarball = work.join("repo.tar");
    run_ok(
        Command::new("tar")
            .arg("-cf")
            .arg(&tarball)
            .arg("-C")
            .arg(&repo)
            .arg("."),
    );
    tarball
}

/// The repository in place of the host's sources (the hosts have no internet), and
/// python3-apt installed from it for Ansible's apt module. The host's package lists are made
/// old: they come from the lab's image, which a fresh machine builds minutes before this
/// test, and the role's `cache_valid_time: 3600` would then keep them, without the new
/// repository (both tools take the cache's time from apt's update-success stamp, else from
/// `/var/lib/apt/lists`).
fn prepare_host(lab: &PrivateLab, host: &etcdplay_lab::LabHost, tarball: &Path) {
    let out = ssh_with_input(
        host,
        &format!("rm -rf {REPO} && mkdir -p {REPO} && tar -xf - -C {REPO}"),
        tarball,
    );
    assert!(out.status.success(), "{}: {}", host.name, text(&out));
    ssh_ok(
        &lab.lab,
        &host.name,
        &format!(
            "echo 'deb [trusted=yes] file:{REPO} ./' > /etc/apt/sources.list && \
             rm -f /etc/apt/sources.list.d/* && dpkg -i {REPO}/python3-apt_*.deb >/dev/null && \
             rm -f /var/lib/apt/periodic/update-success-stamp && \
             touch -c -d @946684800 /var/lib/apt/lists"
        ),
    );
}

/// The recap's figures for `testhost` (`ok`, `changed`, `failed`, ...).
fn recap(output: &str) -> BTreeMap<String, u64> {
    let line = output
        .lines()
        .rev()
        .find(|l| l.starts_with("testhost") && l.contains(" ok="))
        .unwrap_or_else(|| panic!("no recap for testhost in:\n{output}"));
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

fn figures(recap: &BTreeMap<String, u64>) -> (u64, u64, u64) {
    let get = |k: &str| recap.get(k).copied().unwrap_or(0);
    (get("ok"), get("changed"), get("failed"))
}

/// The result word (`ok`, `changed`, ...) printed under the header `handler` starts with.
fn handler_result<'a>(output: &'a str, handler: &str) -> &'a str {
    output
        .split_once(handler)
        .and_then(|(_, rest)| rest.lines().nth(1))
        .and_then(|l| l.split(':').next())
        .unwrap_or("")
}

/// One run of the role by each tool at the same time, each on its own host.
fn run_both(dir: &Path, ansible_inv: &str, etcdplay_inv: &str, extra: &[&str]) -> (Output, Output) {
    let play = repo_root().join("tests/e2e/package-role/site.yml");
    let ansible = Command::new(ansible_bin("ansible-playbook"))
        .args(["-i", ansible_inv])
        .arg(&play)
        .args(extra)
        .env("ANSIBLE_NOCOLOR", "1")
        .env(
            "ANSIBLE_COLLECTIONS_PATH",
            "/opt/etcdplay-ansible/collections",
        )
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ansible-playbook");
    let ours = Command::new(etcdplay_bin())
        .args(["apply", "-i", etcdplay_inv])
        .arg(&play)
        .args(extra)
        .current_dir(dir)
        .output()
        .expect("run etcdplay");
    let ansible = ansible.wait_with_output().expect("wait ansible-playbook");
    (ansible, ours)
}

#[test]
fn package_role_converges_as_under_ansible_and_reruns_without_change() {
    let lab = PrivateLab::up("lmodc", "etcdplaybr53", 53, 2);
    let (ansible_host, our_host) = (&lab.lab.hosts[0], &lab.lab.hosts[1]);
    let dir = tempfile::tempdir().expect("tempdir");
    let tarball = build_repository(dir.path());
    for host in [ansible_host, our_host] {
        prepare_host(&lab, host, &tarball);
    }
    let ansible_inv = testhost_inventory(dir.path(), "ansible", ansible_host);
    let etcdplay_inv = testhost_inventory(dir.path(), "etcdplay", our_host);

    // Observed with ansible-playbook 2.19.14 on a fresh lab host: the first run
    // `ok=11 changed=8 failed=0` (facts, 2 packages, sysctl, 2 ini_file, replace, service
    // started, the handler's restart, uri, assert; the uri retried while the server came up),
    // the second `ok=10 changed=0 failed=0` (no handler). etcdplay's first run differs by the
    // one difference ANSIBLE_COMPAT.md lists for restart handlers: the handler follows the
    // task that started the service after every notifying change, so it is `ok` instead of
    // `changed` (ok=11 changed=7).
    let mut recaps = Vec::new();
    for run in ["first", "second"] {
        let (ansible, ours) = run_both(dir.path(), &ansible_inv, &etcdplay_inv, &[]);
        let (ansible_text, our_text) = (text(&ansible), text(&ours));
        assert!(
            ansible.status.success(),
            "ansible-playbook, {run} run:\n{ansible_text}"
        );
        assert!(ours.status.success(), "etcdplay, {run} run:\n{our_text}");
        let (theirs, mine) = (figures(&recap(&ansible_text)), figures(&recap(&our_text)));
        eprintln!("{run} run: ansible-playbook {theirs:?}, etcdplay {mine:?}");
        let handler = "RUNNING HANDLER [pkgrole : restart web] *";
        let skipped_restart = our_text.contains(handler)
            && handler_result(&our_text, handler) == "ok"
            && handler_result(&ansible_text, handler) == "changed";
        let expected = (theirs.0, theirs.1 - u64::from(skipped_restart), theirs.2);
        assert_eq!(
            mine, expected,
            "{run} run: etcdplay's recap (ok, changed, failed) differs from Ansible's\n\
             etcdplay:\n{our_text}\nansible-playbook:\n{ansible_text}"
        );
        recaps.push((theirs, mine));
    }
    assert_eq!(
        recaps[0].0,
        (11, 8, 0),
        "Ansible's first run is not the recorded one"
    );
    assert_eq!(
        recaps[1].0,
        (10, 0, 0),
        "Ansible's second run is not the recorded one"
    );
    assert_eq!(recaps[0].1, (11, 7, 0));
    assert_eq!(
        recaps[1].1,
        (10, 0, 0),
        "the second run is not a no-change run"
    );

    // Check mode on the converged hosts. Observed with ansible-playbook: `ok=8 changed=0
    // skipped=2` (uri does not run in check mode, nor the assert on its answer).
    let (ansible, ours) = run_both(dir.path(), &ansible_inv, &etcdplay_inv, &["--check"]);
    let (ansible_text, our_text) = (text(&ansible), text(&ours));
    assert!(
        ansible.status.success(),
        "ansible-playbook --check:\n{ansible_text}"
    );
    assert!(ours.status.success(), "etcdplay --check:\n{our_text}");
    let (theirs, mine) = (recap(&ansible_text), recap(&our_text));
    eprintln!("check run: ansible-playbook {theirs:?}, etcdplay {mine:?}");
    for figure in ["ok", "changed", "failed", "skipped"] {
        assert_eq!(
            mine.get(figure),
            theirs.get(figure),
            "--check {figure}:\netcdplay:\n{our_text}\nansible-playbook:\n{ansible_text}"
        );
    }
    assert_eq!(theirs.get("changed"), Some(&0));

    for file in WRITTEN {
        let cat = format!("cat {file}");
        assert_eq!(
            ssh_ok(&lab.lab, &our_host.name, &cat),
            ssh_ok(&lab.lab, &ansible_host.name, &cat),
            "{file} differs between the hosts"
        );
    }
    let state = "systemctl is-enabled etcdplay-role-web; systemctl is-active etcdplay-role-web; \
                 stat -c %a /etc/pkgrole/web.ini /etc/sysctl.d/90-pkgrole.conf; \
                 dpkg-query -W -f='${Package} ${Status}\\n' etcdplay-role-web etcdplay-role-tools";
    let ours = ssh_ok(&lab.lab, &our_host.name, state);
    assert_eq!(ours, ssh_ok(&lab.lab, &ansible_host.name, state));
    assert!(ours.starts_with("enabled\nactive\n644\n644\n"), "{ours}");
}
