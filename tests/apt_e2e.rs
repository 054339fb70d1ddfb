//! `apt` and `package` for real on a lab host: a local repository of `.deb` packages this test
//! builds (`dpkg-deb --build`) and serves from a `file:` URI (the hosts have no internet), put
//! in place of the host's sources for the test and restored after. Install, a re-run that
//! changes nothing, `state: latest` after a new version appears (in check mode first), `deb:`,
//! and removal through `package`.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const HOST: &str = "lab1";
const REPO: &str = "/srv/etcdplay-apt-test-repo";
const PACKAGE: &str = "etcdplay-apt-test";

/// Builds `etcdplay-apt-test_VERSION_all.deb` in `dir`; returns its path.
fn build_deb(dir: &Path, version: &str) -> std::path::PathBuf {
    let root = dir.join(format!("pkg-{version}"));
    std::fs::create_dir_all(root.join("DEBIAN")).expect("mkdir");
    std::fs::create_dir_all(root.join("usr/share").join(PACKAGE)).expect("mkdir");
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\n\
             Maintainer: etcdplay tests <tests@localhost>\nDescription: a package for etcdplay tests\n"
        ),
    )
    .expect("control");
    std::fs::write(
        root.join("usr/share").join(PACKAGE).join("version"),
        format!("{version}\n"),
    )
    .expect("payload");
    let deb = dir.join(format!("{PACKAGE}_{version}_all.deb"));
    let st = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&root)
        .arg(&deb)
        .output()
        .expect("dpkg-deb");
    assert!(st.status.success(), "dpkg-deb: {}", text(&st));
    deb
}

/// The `Packages` index entry of `deb` (a flat repository: files beside the index).
fn index_entry(deb: &Path, version: &str) -> String {
    let bytes = std::fs::read(deb).expect("read deb");
    let sha = Command::new("sha256sum")
        .arg(deb)
        .output()
        .expect("sha256sum");
    let sha = String::from_utf8_lossy(&sha.stdout)[..64].to_string();
    format!(
        "Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\n\
         Maintainer: etcdplay tests <tests@localhost>\nDescription: a package for etcdplay tests\n\
         Filename: ./{}\nSize: {}\nSHA256: {sha}\n\n",
        deb.file_name().expect("name").to_string_lossy(),
        bytes.len()
    )
}

/// Copies a control-node file to the host (base64 through ssh).
fn upload(lab: &etcdplay_lab::Lab, local: &Path, remote: &str) {
    let b64 = Command::new("base64")
        .arg("-w0")
        .arg(local)
        .output()
        .expect("base64");
    ssh_ok(
        lab,
        HOST,
        &format!(
            "echo {} | base64 -d > {remote}",
            String::from_utf8_lossy(&b64.stdout)
        ),
    );
}

/// Puts the host's apt sources back however the test ends.
struct RestoreSources<'a>(&'a etcdplay_lab::Lab);

impl Drop for RestoreSources<'_> {
    fn drop(&mut self) {
        let _ = ssh(
            self.0,
            HOST,
            &format!(
                "mv -f {REPO}.sources.list /etc/apt/sources.list; rm -rf {REPO}; \
                 dpkg --purge {PACKAGE} >/dev/null 2>&1; true"
            ),
        );
    }
}

fn installed_version(lab: &etcdplay_lab::Lab) -> String {
    ssh_ok(
        lab,
        HOST,
        &format!("dpkg-query -W -f='${{Version}}' {PACKAGE} 2>/dev/null || true"),
    )
}

fn apply(work: &Path, inv: &str, playbook: &str, extra: &[&str]) -> (Option<i32>, String) {
    std::fs::write(work.join("site.yml"), playbook).expect("write playbook");
    let mut args = vec!["apply", "-i", inv, "site.yml"];
    args.extend_from_slice(extra);
    let out = etcdplay(work, &args);
    (out.status.code(), text(&out))
}

fn changed(output: &str) -> u64 {
    output
        .lines()
        .find(|l| l.starts_with(HOST) && l.contains(" : ok="))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("changed="))
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no recap for {HOST}:\n{output}"))
}

#[test]
fn apt_installs_upgrades_and_removes_from_a_local_repository() {
    let lab = lab(3);
    let work = tempfile::tempdir().expect("tempdir");
    let inventory = ini_inventory(lab, work.path(), "lab");
    let inv = inventory.to_str().expect("utf-8");
    let v10 = build_deb(work.path(), "1.0");
    let v11 = build_deb(work.path(), "1.1");

    ssh_ok(
        lab,
        HOST,
        &format!(
            "rm -rf {REPO} && mkdir -p {REPO} && dpkg --purge {PACKAGE} >/dev/null 2>&1; \
             cp /etc/apt/sources.list {REPO}.sources.list && \
             echo 'deb [trusted=yes] file:{REPO} ./' > /etc/apt/sources.list"
        ),
    );
    let _restore = RestoreSources(lab);
    upload(lab, &v10, &format!("{REPO}/{PACKAGE}_1.0_all.deb"));
    std::fs::write(work.path().join("Packages"), index_entry(&v10, "1.0")).expect("index");
    upload(
        lab,
        &work.path().join("Packages"),
        &format!("{REPO}/Packages"),
    );

    let install = format!(
        "- hosts: {HOST}\n  gather_facts: false\n  tasks:\n\
         \x20   - apt: {{name: {PACKAGE}, update_cache: true}}\n"
    );
    let (code, out) = apply(work.path(), inv, &install, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(changed(&out), 1, "{out}");
    assert_eq!(installed_version(lab), "1.0");
    // The package is there (a cache refresh alone is no change when packages are asked for).
    let (code, out) = apply(work.path(), inv, &install, &[]);
    assert_eq!((code, changed(&out)), (Some(0), 0), "{out}");
    let refresh_only = format!(
        "- hosts: {HOST}\n  gather_facts: false\n  tasks:\n\
         \x20   - apt: {{update_cache: true, cache_valid_time: 3600}}\n"
    );
    let (code, out) = apply(work.path(), inv, &refresh_only, &[]);
    assert_eq!(
        (code, changed(&out)),
        (Some(0), 0),
        "a fresh cache is not refreshed:\n{out}"
    );

    // A new version in the repository: `latest` upgrades (check mode only says so).
    upload(lab, &v11, &format!("{REPO}/{PACKAGE}_1.1_all.deb"));
    std::fs::write(
        work.path().join("Packages"),
        index_entry(&v10, "1.0") + &index_entry(&v11, "1.1"),
    )
    .expect("index");
    upload(
        lab,
        &work.path().join("Packages"),
        &format!("{REPO}/Packages"),
    );
    let latest = format!(
        "- hosts: {HOST}\n  gather_facts: false\n  tasks:\n\
         \x20   - apt: {{name: {PACKAGE}, state: latest, update_cache: true}}\n"
    );
    let (code, out) = apply(work.path(), inv, &latest, &["--check"]);
    assert_eq!((code, changed(&out)), (Some(0), 1), "{out}");
    assert_eq!(installed_version(lab), "1.0", "check mode changed the host");
    let (code, out) = apply(work.path(), inv, &latest, &[]);
    assert_eq!((code, changed(&out)), (Some(0), 1), "{out}");
    assert_eq!(installed_version(lab), "1.1");
    let pinned = format!(
        "- hosts: {HOST}\n  gather_facts: false\n  tasks:\n\
         \x20   - apt: {{name: '{PACKAGE}=1.1', cache_valid_time: 3600}}\n"
    );
    let (code, out) = apply(work.path(), inv, &pinned, &[]);
    assert_eq!((code, changed(&out)), (Some(0), 0), "{out}");

    // `package` picks apt on this host; removal, then nothing more to remove.
    let absent = format!(
        "- hosts: {HOST}\n  gather_facts: false\n  tasks:\n\
         \x20   - package: {{name: {PACKAGE}, state: absent}}\n"
    );
    let (code, out) = apply(work.path(), inv, &absent, &[]);
    assert_eq!((code, changed(&out)), (Some(0), 1), "{out}");
    assert_eq!(installed_version(lab), "");
    let (code, out) = apply(work.path(), inv, &absent, &[]);
    assert_eq!((code, changed(&out)), (Some(0), 0), "{out}");

    // `deb:` installs a file on the host, once.
    let deb = format!(
        "- hosts: {HOST}\n  gather_facts: false\n  tasks:\n\
         \x20   - apt: {{deb: {REPO}/{PACKAGE}_1.0_all.deb}}\n"
    );
    let (code, out) = apply(work.path(), inv, &deb, &[]);
    assert_eq!((code, changed(&out)), (Some(0), 1), "{out}");
    assert_eq!(installed_version(lab), "1.0");
    let (code, out) = apply(work.path(), inv, &deb, &[]);
    assert_eq!((code, changed(&out)), (Some(0), 0), "{out}");
}
