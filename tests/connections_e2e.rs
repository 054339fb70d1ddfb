//! Real SSH masters close once the run is done with their host (issue #18): a host that failed
//! loses its master before the next task, and after play 1 the host no later play targets
//! (lcn2: plays 2 and 3 name lcn1 and lcn1:lcn3) loses its, while etcdplay's own descriptors shrink with them. Watched from outside during
//! the run: the ssh master processes on the control node (their command line names the host's
//! address) and `/proc/<etcdplay>/fd`. Private lab `lcn1..3` (10.213.65.0/24).
//!
//! Ansible's side, with ansible-core 2.19.14 on the same plays (`-c local`): the failed host
//! takes no part in a later play whose pattern names it (`hosts: lcn1:lcn3` runs on lcn1); its ssh masters would
//! live on for ControlPersist (60 s) after the run, which etcdplay does not copy (see
//! ANSIBLE_COMPAT.md, Engine).

#![allow(clippy::print_stderr)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use etcdplay_lab::Lab;

const PLAYBOOK: &str = r#"- hosts: nodes
  gather_facts: false
  tasks:
    - command: "true"
    - fail: msg=boom
      when: inventory_hostname == 'lcn3'
    - name: watch after the failure
      command: sleep 3
- hosts: lcn1
  gather_facts: false
  tasks:
    - name: watch in play 2
      command: sleep 3
- hosts: lcn1:lcn3
  gather_facts: false
  tasks:
    - name: watch in play 3
      command: sleep 3
"#;

/// The lab hosts whose ssh master runs now.
fn masters(lab: &Lab) -> Vec<String> {
    // The openssh crate starts each master as `ssh -E log -S socket -M -f -N ... address`.
    let found = local_processes(" -M ");
    lab.hosts
        .iter()
        .filter(|h| {
            let ip = format!("{}", h.ip);
            found.iter().any(|p| {
                p.split_whitespace()
                    .any(|w| w == ip || w.ends_with(&format!("@{ip}")))
            })
        })
        .map(|h| h.name.clone())
        .collect()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn masters_close_when_the_run_is_done_with_their_host() {
    let private = PrivateLab::up("lcn", "etcdplaybr65", 65, 3);
    let lab = &private.lab;
    let work = tempfile::tempdir().expect("tempdir");
    let inventory = ini_inventory(lab, work.path(), "nodes");
    std::fs::write(work.path().join("site.yml"), PLAYBOOK).expect("write");
    let mut child = Command::new(etcdplay_bin())
        .args(["apply", "-i", inventory.to_str().unwrap(), "site.yml"])
        .current_dir(work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn etcdplay");
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    let mut output = String::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        output.push_str(&line);
        output.push('\n');
        if let Some(phase) = ["after the failure", "in play 2", "in play 3"]
            .into_iter()
            .find(|p| line.starts_with(&format!("TASK [watch {p}]")))
        {
            std::thread::sleep(Duration::from_millis(1500));
            seen.push((phase, masters(lab), open_fds(pid)));
        }
    }
    let status = child.wait().expect("wait");
    eprintln!("{output}");
    for (phase, m, fds) in &seen {
        eprintln!("{phase}: masters {m:?}, etcdplay's open descriptors {fds}");
    }
    assert_eq!(status.code(), Some(2), "lcn3 failed: {output}");
    assert_eq!(seen.len(), 3, "{output}");
    assert_eq!(
        seen[0].1,
        ["lcn1", "lcn2"],
        "the failed host's master is gone"
    );
    assert_eq!(seen[1].1, ["lcn1"], "only play 2's host is still needed");
    // Play 3's pattern names lcn3 too, but a failed host is out of the run.
    assert_eq!(seen[2].1, ["lcn1"]);
    assert!(
        seen[1].2 < seen[0].2,
        "etcdplay holds fewer descriptors with one host than with two: {seen:?}"
    );
    // The failed host took no part in play 3: its one ok is play 1's first task.
    let lcn3 = output
        .lines()
        .find(|l| l.starts_with("lcn3 "))
        .unwrap_or_default();
    assert!(
        lcn3.contains("ok=1 ") && lcn3.contains("failed=1 "),
        "{output}"
    );
    // One host's connection is DESCRIPTORS_PER_IDLE_CONNECTION (3) of etcdplay's descriptors.
    assert_eq!(seen[0].2 - seen[1].2, 3, "{seen:?}");
    let subnet = format!(
        "{}.",
        lab.hosts[0].ip.to_string().rsplit_once('.').unwrap().0
    );
    let left = local_processes(&subnet);
    assert!(left.is_empty(), "ssh processes left: {left:?}");
    drop(private);
}
