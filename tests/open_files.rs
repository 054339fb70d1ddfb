//! A run too large for the open-file limit stops before touching any host, with the numbers
//! (issue #18: `--forks` and connection reuse at 1,000+ hosts). etcdplay holds each host's
//! connection of a `serial` batch while the batch runs (3 descriptors per SSH host, 64 and 8
//! per fork for the run itself), so 400 hosts with the default 50 forks need 1,664 open files:
//! under a limit of 1,024 the run is refused; in batches of 100 (764) it runs. Ansible has no
//! such check (its ssh masters are processes of their own) and runs both: a listed difference
//! (ANSIBLE_COMPAT.md, Engine). Every host is a local connection, so nothing leaves this
//! machine and the run that fits really runs.

mod common;

use std::fmt::Write as _;
use std::process::Command;

fn inventory(hosts: usize) -> String {
    let mut text = String::from("[fleet]\n");
    for i in 0..hosts {
        let _ = writeln!(text, "f{i:04} ansible_connection=local");
    }
    text
}

fn playbook(serial: Option<usize>) -> String {
    let serial = serial
        .map(|s| format!("  serial: {s}\n"))
        .unwrap_or_default();
    format!("- hosts: fleet\n  gather_facts: false\n{serial}  tasks:\n    - command: \"true\"\n")
}

/// `etcdplay apply` under an open-file limit of 1,024 (soft and hard).
fn apply_with_limit(dir: &std::path::Path) -> std::process::Output {
    Command::new("prlimit")
        .arg("--nofile=1024:1024")
        .arg(common::etcdplay_bin())
        .args(["apply", "-i", "hosts.ini", "site.yml"])
        .current_dir(dir)
        .output()
        .expect("run prlimit")
}

#[test]
fn a_run_past_the_open_file_limit_stops_before_any_host() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hosts.ini"), inventory(400)).unwrap();
    std::fs::write(dir.path().join("site.yml"), playbook(None)).unwrap();
    let out = apply_with_limit(dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let expected = "ERROR: this run may hold connections to 400 hosts at once, which needs \
                    about 1664 open files (3 per host and 464 for the run itself), but the \
                    open-file limit is 1024 (hard limit 1024)";
    assert!(stderr.contains(expected), "{stderr}");
    assert!(stderr.contains("about 186 hosts at once fit"), "{stderr}");
    // Nothing ran: no play, no task, no recap.
    assert!(!stdout.contains("TASK ["), "{stdout}");
    assert!(!stdout.contains("PLAY RECAP"), "{stdout}");
}

#[test]
fn the_same_run_in_batches_fits_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hosts.ini"), inventory(400)).unwrap();
    std::fs::write(dir.path().join("site.yml"), playbook(Some(100))).unwrap();
    let out = apply_with_limit(dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let recap_lines = stdout
        .lines()
        .filter(|l| l.starts_with('f') && l.contains("ok=1 ") && l.contains("failed=0"))
        .count();
    assert_eq!(recap_lines, 400, "{stdout}");
}
