//! Debian packages for end-to-end tests: `.deb` files built with `dpkg-deb --build`, the
//! control node's python3-apt repacked for hosts (Ansible's apt and package_facts need it),
//! and files sent to a host on ssh's standard input (no argument-length limit).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::text;

pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{cmd:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The control node's python3-apt (same Debian release as the hosts) as a `.deb` again, its
/// dependencies cut to python3: the hosts have the libraries it links, not the data packages.
pub fn repack_python3_apt(work: &Path, repo: &Path) {
    let root = work.join("root-python3-apt");
    let listing = run_ok(Command::new("dpkg").args(["-L", "python3-apt"]));
    for file in listing.lines().map(Path::new).filter(|p| p.is_file()) {
        let target = root.join(file.strip_prefix("/").expect("absolute"));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(file, &target).expect("copy python3-apt file");
    }
    let version = run_ok(Command::new("dpkg-query").args(["-W", "-f=${Version}", "python3-apt"]));
    std::fs::create_dir_all(root.join("DEBIAN")).expect("mkdir");
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: python3-apt\nVersion: {version}\nArchitecture: amd64\nSection: python\nDepends: python3\n\
             Maintainer: etcdplay tests <tests@localhost>\nDescription: python3-apt, repacked\n"
        ),
    )
    .expect("control");
    build(
        &root,
        &repo.join(format!("python3-apt_{version}_amd64.deb")),
    );
}

pub fn build(root: &Path, deb: &Path) {
    run_ok(
        Command::new("dpkg-deb")
            .args(["--build", "--root-owner-group"])
            .arg(root)
            .arg(deb),
    );
}

/// Runs `command` on `host` as root with `input` as its standard input.
pub fn ssh_with_input(host: &etcdplay_lab::LabHost, command: &str, input: &Path) -> Output {
    assert!(
        etcdplay_lab::netns_exists(&host.netns),
        "namespace {} is gone",
        host.netns
    );
    Command::new("ssh")
        .arg("-i")
        .arg(&host.key_path)
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", host.known_hosts.display()))
        .arg(format!("root@{}", host.ip))
        .arg(command)
        .stdin(Stdio::from(std::fs::File::open(input).expect("open input")))
        .output()
        .expect("run ssh")
}
