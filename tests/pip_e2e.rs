//! `pip` as Ansible's, on real hosts: the lab hosts' python3 has no pip, so the test copies
//! the pip of Ansible's own virtualenv (pure Python, same Python 3.11), and the `packaging`
//! Ansible's module imports (etcdplay uses the copy pip carries), into each host's
//! `/usr/local/lib/python3.11/dist-packages`, and puts two versions of a wheel it builds here
//! (a zip with its dist-info) and a requirements file in `/srv/etcdplay-wheels`.
//! `tests/e2e/pip` runs under ansible-playbook 2.19.14 on one host and under etcdplay on the
//! other, and the results its last task prints must be equal. Observed with ansible-playbook:
//! check mode with `extra_args` `changed`; the install `changed` with `cmd`
//! `[/usr/bin/python3, -m, pip, install, --no-index, ..., etcdplay-pip-test==1.0]`, again
//! unchanged; check mode `>=1.0` unchanged, `>1.0,<2` changed (cmd `/usr/bin/python3 -m pip
//! list --format=freeze`); `latest` changed to 1.1; requirements already met unchanged;
//! removal changed, again unchanged; an unknown package fails; `version` with `latest` fails
//! with "version is incompatible with state=latest".
//!
//! Runs on a private lab (`lmodc1..2` on `etcdplaybr53`, 10.213.53.0/24), taken down at the end.

mod common;

use std::process::Command;

use common::debrepo::{run_ok, ssh_with_input};
use common::{assert_same_results, last_results, repo_root, run_side_by_side, text, PrivateLab};

/// Python (on the control node) writing a minimal wheel of `etcdplay-pip-test` VERSION into DIR.
const MAKE_WHEEL: &str = r#"import sys, zipfile
version, out = sys.argv[1], sys.argv[2]
info = f"etcdplay_pip_test-{version}.dist-info"
files = {
    "etcdplay_pip_test/__init__.py": f"VERSION = {version!r}\n",
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: etcdplay-pip-test\nVersion: {version}\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: etcdplay-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
with zipfile.ZipFile(f"{out}/etcdplay_pip_test-{version}-py3-none-any.whl", "w") as z:
    for name, body in files.items():
        z.writestr(name, body)
    z.writestr(f"{info}/RECORD", record)
"#;

#[test]
fn pip_results_are_ansibles() {
    let lab = PrivateLab::up("lmodc", "etcdplaybr53", 53, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let wheels = dir.path().join("wheels");
    std::fs::create_dir_all(&wheels).expect("mkdir");
    for version in ["1.0", "1.1"] {
        run_ok(
            Command::new("python3")
                .args(["-c", MAKE_WHEEL, version])
                .arg(&wheels),
        );
    }
    std::fs::write(wheels.join("requirements.txt"), "etcdplay-pip-test==1.1\n").expect("req");
    let wheels_tar = dir.path().join("wheels.tar");
    run_ok(
        Command::new("tar")
            .arg("-cf")
            .arg(&wheels_tar)
            .arg("-C")
            .arg(&wheels)
            .arg("."),
    );
    let pip_tar = dir.path().join("pip.tar");
    run_ok(Command::new("tar").arg("-cf").arg(&pip_tar).args([
        "-C",
        "/opt/etcdplay-ansible/lib/python3.11/site-packages",
        "pip",
        "packaging",
    ]));
    for host in &lab.lab.hosts {
        for (tarball, into) in [
            (&pip_tar, "/usr/local/lib/python3.11/dist-packages"),
            (&wheels_tar, "/srv/etcdplay-wheels"),
        ] {
            let out = ssh_with_input(
                host,
                &format!("mkdir -p {into} && tar -xf - -C {into}"),
                tarball,
            );
            assert!(out.status.success(), "{}: {}", host.name, text(&out));
        }
    }
    let play = repo_root().join("tests/e2e/pip/site.yml");
    let (ansible_text, our_text) = run_side_by_side(&lab, dir.path(), &play);
    let (theirs, mine) = last_results(&ansible_text, &our_text, "testhost");
    assert_same_results(&theirs, &mine, &our_text);
    assert_eq!(theirs["msg"]["installed_after"], true, "{ansible_text}");
}
