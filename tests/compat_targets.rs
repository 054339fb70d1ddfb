//! ansible-core 2.19.14's own integration targets that etcdplay passes keep passing: runs
//! `compat/targets/run` (on the source package `scripts/install-deps` downloads into
//! /var/cache/etcdplay-compat; the test itself uses no network) for the targets listed in `compat/targets/expected-green`,
//! under etcdplay only, each on a fresh lab host, and fails naming every listed target that
//! did not end green (exit 0, no failed or unreachable host in the recap). The list was
//! recorded from a run of the harness under both tools: each listed target is green under
//! ansible-playbook 2.19.14 on the same lab hosts too (compat/targets/RESULTS.md).
//! Runs on a private lab (`lharn1` on `etcdplaybr46`, 10.213.46.0/24), taken down at the end;
//! about 10 s per listed target.

#![allow(clippy::print_stderr)]

mod common;

use std::process::Command;

use common::{etcdplay_bin, repo_root};

#[test]
fn expected_green_targets_stay_green_under_etcdplay() {
    let root = repo_root();
    let results = tempfile::tempdir().expect("results dir");
    let out = Command::new("python3")
        .arg(root.join("compat/targets/run"))
        .args(["--tools", "etcdplay", "--timeout", "300"])
        .args([
            "--prefix",
            "lharn",
            "--bridge",
            "etcdplaybr46",
            "--octet",
            "46",
        ])
        .arg("--etcdplay")
        .arg(etcdplay_bin())
        .arg("--expect")
        .arg(root.join("compat/targets/expected-green"))
        .arg("--results")
        .arg(results.path())
        .output()
        .expect("run compat/targets/run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "compat/targets/run failed ({}):\n{stderr}\n{stdout}",
        out.status
    );
}
