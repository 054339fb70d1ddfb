//! Hosts that cannot be reached: one whose machine is stopped, one whose network drops every
//! packet (its bridge port is down), and one that dies in the middle of a play. Each is
//! reported UNREACHABLE with the reason, within the connect timeout, while the other hosts
//! finish; the run exits 3; once the host is back a re-run converges. Runs on a private lab
//! (`labr1..3`, 10.213.6.0/24) because it stops hosts; the lab is taken down at the end.

#![allow(clippy::print_stderr)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// One run of `etcdplay`, with the time each output line appeared.
struct TimedRun {
    lines: Vec<(Duration, String)>,
    code: Option<i32>,
    stderr: String,
}

impl TimedRun {
    fn text(&self) -> String {
        let out: Vec<&str> = self.lines.iter().map(|(_, l)| l.as_str()).collect();
        format!("{}\n{}", out.join("\n"), self.stderr)
    }

    /// When the first line containing all of `needles` appeared.
    fn when(&self, needles: &[&str]) -> Option<Duration> {
        self.lines
            .iter()
            .find(|(_, l)| needles.iter().all(|n| l.contains(n)))
            .map(|(t, _)| *t)
    }

    fn line(&self, needles: &[&str]) -> Option<&str> {
        self.lines
            .iter()
            .find(|(_, l)| needles.iter().all(|n| l.contains(n)))
            .map(|(_, l)| l.as_str())
    }
}

/// Runs etcdplay, calling `during(elapsed, line)` for each stdout line as it appears.
fn timed(cwd: &Path, args: &[&str], mut during: impl FnMut(Duration, &str)) -> TimedRun {
    let started = Instant::now();
    let mut child = Command::new(etcdplay_bin())
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn etcdplay");
    let stderr = child.stderr.take().expect("stderr");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let Ok(line) = line else { break };
        let t = started.elapsed();
        during(t, &line);
        lines.push((t, line));
    }
    let status = child.wait().expect("wait");
    TimedRun {
        lines,
        code: status.code(),
        stderr: err_thread.join().unwrap_or_default(),
    }
}

fn ip_link(dev: &str, state: &str) {
    assert!(etcdplay_lab::link_exists(dev), "{dev} does not exist");
    let ok = Command::new("ip")
        .args(["link", "set", "dev", dev, state])
        .status()
        .expect("ip")
        .success();
    assert!(ok, "ip link set dev {dev} {state}");
}

const PLAYBOOK: &str = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: first
      command: hostname
    - name: marker
      copy:
        dest: /etc/reliability-marker
        content: \"{{ inventory_hostname }}\\n\"
";

const LONG_PLAYBOOK: &str = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: first
      command: hostname
    - name: long sleep
      command: sleep 8
    - name: marker
      copy:
        dest: /etc/reliability-marker
        content: \"{{ inventory_hostname }}\\n\"
";

fn recap(run: &TimedRun, host: &str) -> String {
    run.lines
        .iter()
        .map(|(_, l)| l)
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .find(|l| l.starts_with(&format!("{host} ")))
        .cloned()
        .unwrap_or_else(|| panic!("no recap line for {host}:\n{}", run.text()))
}

#[test]
fn down_hosts_and_hosts_dying_mid_play_are_unreachable_quickly_and_others_finish() {
    let private = PrivateLab::up("labr", "etcdplaybr6", 6, 3);
    let lab = &private.lab;
    let work = tempfile::tempdir().expect("tempdir");
    let inventory = ini_inventory(lab, work.path(), "etcds");
    let inv = inventory.to_str().expect("utf-8 path");
    std::fs::write(work.path().join("site.yml"), PLAYBOOK).expect("write");
    std::fs::write(work.path().join("long.yml"), LONG_PLAYBOOK).expect("write");
    for h in &lab.hosts {
        ssh_ok(lab, &h.name, "rm -f /etc/reliability-marker");
    }
    let args = ["apply", "-i", inv, "-T", "3", "--host-key-checking", "off"];

    // Fault 1: labr2's machine is stopped. Fault 2: labr3's bridge port is down, so every
    // packet to it is dropped and only the connect timeout can tell.
    private.stop_host("labr2");
    ip_link(&lab.hosts[2].veth, "down");
    let run = timed(work.path(), &[&args[..], &["site.yml"]].concat(), |_, _| {});
    ip_link(&lab.hosts[2].veth, "up");
    let all = run.text();
    eprintln!("--- two hosts down:\n{all}");
    assert_eq!(run.code, Some(3), "{all}");
    let stopped = run
        .when(&["fatal: [labr2]: UNREACHABLE!"])
        .unwrap_or_else(|| panic!("labr2 not unreachable:\n{all}"));
    let dropped = run
        .when(&["fatal: [labr3]: UNREACHABLE!"])
        .unwrap_or_else(|| panic!("labr3 not unreachable:\n{all}"));
    eprintln!(
        "time to UNREACHABLE with -T 3: stopped machine {stopped:?}, dropped packets {dropped:?}"
    );
    // The reason is ssh's own: nothing listens on a stopped machine's address; a host that
    // drops packets times out.
    let reason2 = run.line(&["fatal: [labr2]"]).unwrap_or_default();
    assert!(
        reason2.contains("Connection refused") || reason2.contains("No route to host"),
        "{reason2}"
    );
    let reason3 = run.line(&["fatal: [labr3]"]).unwrap_or_default();
    assert!(
        reason3.contains("timed out") || reason3.contains("No route to host"),
        "{reason3}"
    );
    assert!(
        stopped < Duration::from_secs(3),
        "stopped machine took {stopped:?}"
    );
    assert!(
        dropped < Duration::from_secs(3 + 2),
        "dropped packets took {dropped:?} with -T 3"
    );
    assert!(
        recap(&run, "labr1").contains("ok=2 ") && recap(&run, "labr1").contains("unreachable=0"),
        "{all}"
    );
    assert!(recap(&run, "labr2").contains("unreachable=1"), "{all}");
    assert!(recap(&run, "labr3").contains("unreachable=1"), "{all}");
    assert_eq!(
        ssh_ok(lab, "labr1", "cat /etc/reliability-marker"),
        "labr1\n"
    );
    let total = run.lines.last().map(|(t, _)| *t).unwrap_or_default();
    assert!(total < Duration::from_secs(15), "the run took {total:?}");

    // Back up: a re-run converges on all three.
    private.restart_missing();
    let again = etcdplay(work.path(), &[&args[..], &["site.yml"]].concat());
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    for h in &lab.hosts {
        assert_eq!(
            ssh_ok(lab, &h.name, "cat /etc/reliability-marker"),
            format!("{}\n", h.name)
        );
    }

    // Fault 3: labr2 dies while `sleep 8` runs on every host.
    for h in &lab.hosts {
        ssh_ok(lab, &h.name, "rm -f /etc/reliability-marker");
    }
    let mut killed_at = None;
    let run = timed(
        work.path(),
        &[&args[..], &["long.yml"]].concat(),
        |t, line| {
            if killed_at.is_none() && line.starts_with("TASK [long sleep]") {
                std::thread::sleep(Duration::from_secs(2));
                private.stop_host("labr2");
                killed_at = Some(t + Duration::from_secs(2));
            }
        },
    );
    let all = run.text();
    eprintln!("--- labr2 dies mid-play:\n{all}");
    let killed_at = killed_at.unwrap_or_else(|| panic!("the long task never started:\n{all}"));
    assert_eq!(run.code, Some(3), "{all}");
    let unreachable = run
        .when(&["fatal: [labr2]: UNREACHABLE!"])
        .unwrap_or_else(|| panic!("labr2 not unreachable:\n{all}"));
    eprintln!("host stopped at {killed_at:?} (stop took until the machine was gone), UNREACHABLE at {unreachable:?}");
    assert!(
        unreachable >= killed_at.saturating_sub(Duration::from_secs(2)),
        "{all}"
    );
    for other in ["labr1", "labr3"] {
        let r = recap(&run, other);
        assert!(
            r.contains("ok=3 ") && r.contains("failed=0") && r.contains("unreachable=0"),
            "{all}"
        );
        assert_eq!(
            ssh_ok(lab, other, "cat /etc/reliability-marker"),
            format!("{other}\n")
        );
    }
    assert!(recap(&run, "labr2").contains("unreachable=1"), "{all}");

    // labr2 comes back; the same playbook converges everywhere.
    private.restart_missing();
    let again = etcdplay(work.path(), &[&args[..], &["long.yml"]].concat());
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    for h in &lab.hosts {
        assert_eq!(
            ssh_ok(lab, &h.name, "cat /etc/reliability-marker"),
            format!("{}\n", h.name)
        );
    }
    let left = local_processes("10.213.6.");
    assert!(
        left.is_empty(),
        "ssh processes left on the control node: {left:?}"
    );
    drop(private);
}
