//! The end-to-end harness: lab hosts brought up once per test binary (or reused when already
//! running), the `etcdplay` binary of this build, and helpers to run commands on hosts.
//! Every address used here belongs to a lab network namespace, checked to exist before use.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use etcdplay_lab::{netns_exists, Lab};

/// The lab of this test binary: `n` hosts, brought up on first use.
pub fn lab(n: u64) -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        assert!(
            unsafe_is_root(),
            "end-to-end tests need root (systemd-nspawn, network namespaces); run them as root"
        );
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let lab = rt.block_on(etcdplay_lab::ensure_up(n)).unwrap_or_else(|e| panic!("lab up {n}: {e}"));
        for h in &lab.hosts {
            assert!(netns_exists(&h.netns), "namespace {} of {} is missing", h.netns, h.name);
        }
        lab
    })
}

fn unsafe_is_root() -> bool {
    // `id -u` rather than libc: the harness has no unsafe code.
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// The `etcdplay` binary built with this test (cargo builds workspace binaries before tests).
pub fn etcdplay_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("etcdplay");
    assert!(bin.exists(), "{} is missing: run `cargo build --workspace` before the tests", bin.display());
    bin
}

/// Runs `etcdplay` with `args` in `cwd`.
pub fn etcdplay(cwd: &Path, args: &[&str]) -> Output {
    Command::new(etcdplay_bin()).args(args).current_dir(cwd).output().expect("run etcdplay")
}

/// Runs a shell command on a lab host as root over SSH.
pub fn ssh(lab: &Lab, host: &str, command: &str) -> Output {
    let h = lab.hosts.iter().find(|h| h.name == host).unwrap_or_else(|| panic!("no lab host {host}"));
    assert!(netns_exists(&h.netns), "namespace {} is gone", h.netns);
    Command::new("ssh")
        .args(["-i"])
        .arg(&lab.key_path)
        .args([
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=5",
        ])
        .arg(format!("root@{}", h.ip))
        .arg(command)
        .output()
        .expect("run ssh")
}

/// Stdout of a command on a host, asserting it succeeded.
pub fn ssh_ok(lab: &Lab, host: &str, command: &str) -> String {
    let out = ssh(lab, host, command);
    assert!(out.status.success(), "{host}: `{command}` failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An INI inventory with the lab hosts in group `group`, written into `dir`.
pub fn ini_inventory(lab: &Lab, dir: &Path, group: &str) -> PathBuf {
    let mut text = format!("[{group}]\n");
    for h in &lab.hosts {
        text.push_str(&format!(
            "{} ansible_host={} ansible_user=root ansible_ssh_private_key_file={}\n",
            h.name,
            h.ip,
            lab.key_path.display()
        ));
    }
    let path = dir.join("hosts");
    std::fs::write(&path, text).expect("write inventory");
    path
}

/// Copies a directory tree (a test playbook) into a scratch directory.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The repository root (where `tests/` lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
