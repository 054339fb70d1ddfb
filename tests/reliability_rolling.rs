//! Losing the control node during a rolling restart of the built-in etcd playbook leaves the
//! cluster with quorum: a 3-member TLS cluster gets a tunable change that restarts members one
//! at a time; the moment the first member's etcd PID changes, etcdplay is killed with SIGKILL
//! (variant 1) or its ssh master connections are killed (variant 2). Within 30 s the cluster has
//! a leader and at least two healthy members, no two members were down at once, and a re-run
//! converges with all three healthy. A second test also demands that after the re-run every
//! member runs the new flags: the members the killed run had not reached yet are found stale
//! (their etcd started before the unit last changed), their lost restart notification is
//! restored with a warning saying why, and they are restarted one at a time; one more run then
//! restarts nothing. Runs on a private lab (`labq1..3` on `etcdplaybr18`, 10.213.18.0/24),
//! taken down at the end.

#![allow(clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use common::*;
use etcdplay_lab::netns_exists;

const SUBNET: &str = "10.213.18.";

struct Cluster {
    private: PrivateLab,
    dir: tempfile::TempDir,
    inventory: PathBuf,
}

impl Cluster {
    fn names(&self) -> Vec<String> {
        self.private
            .lab
            .hosts
            .iter()
            .map(|h| h.name.clone())
            .collect()
    }

    fn sh(&self, host: &str, command: &str) -> String {
        ssh_ok(&self.private.lab, host, command).trim().to_string()
    }

    /// Control-node PIDs of the etcd serving `host` (one kernel: the containers' processes
    /// show in our /proc), found by its `--name`; polling them is fast enough to catch the
    /// member while it is down, which polling over SSH is not.
    fn local_etcd(&self, host: &str) -> Vec<String> {
        local_processes(&format!("--name {host} "))
            .into_iter()
            .filter(|l| l.contains("/etcd --name"))
            .filter_map(|l| l.split(':').next().map(str::to_string))
            .collect()
    }

    /// The command line etcd on `host` runs with now (not the unit file: what the process got).
    fn running_cmdline(&self, host: &str) -> String {
        self.sh(
            host,
            "tr '\\0' ' ' < /proc/$(systemctl show -p MainPID --value etcd)/cmdline",
        )
    }

    /// Monotonic µs of the last (exit, enter) of etcd: one kernel, so comparable across hosts.
    fn window(&self, host: &str) -> (u64, u64) {
        let shown = self.sh(
            host,
            "systemctl show -p ActiveExitTimestampMonotonic -p ActiveEnterTimestampMonotonic etcd",
        );
        let field = |name: &str| -> u64 {
            shown
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{host}: no {name} in {shown}"))
        };
        (
            field("ActiveExitTimestampMonotonic"),
            field("ActiveEnterTimestampMonotonic"),
        )
    }

    fn etcdctl(&self, args: &[&str]) -> Output {
        let endpoints: Vec<String> = self
            .private
            .lab
            .hosts
            .iter()
            .map(|h| {
                assert!(netns_exists(&h.netns), "namespace {} is gone", h.netns);
                format!("https://{}:2379", h.ip)
            })
            .collect();
        let pki = self.dir.path().join("pki");
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", endpoints.join(",")))
            .arg(format!("--cacert={}", pki.join("ca.pem").display()))
            .arg(format!("--cert={}", pki.join("client.pem").display()))
            .arg(format!("--key={}", pki.join("client-key.pem").display()))
            .args(["--dial-timeout=3s", "--command-timeout=5s"])
            .args(args)
            .output()
            .expect("run etcdctl")
    }

    /// (healthy members, whether some member reports a leader).
    fn health(&self) -> (usize, bool, String) {
        let health = text(&self.etcdctl(&["endpoint", "health"]));
        let status = self.etcdctl(&["endpoint", "status", "-w", "json"]);
        let json = String::from_utf8_lossy(&status.stdout).into_owned();
        // A leader id other than 0 in any status answer means a leader is elected.
        let leader = json
            .split("\"leader\":")
            .skip(1)
            .any(|rest| !rest.trim_start().starts_with('0'));
        (
            health.matches("is healthy").count(),
            leader,
            format!("{health}\n{json}"),
        )
    }

    fn spawn_apply(&self, extra: &[&str], log: &Path) -> Child {
        let out = std::fs::File::create(log).expect("log");
        let err = out.try_clone().expect("log");
        Command::new(etcdplay_bin())
            .args(["apply", "-i", self.inventory.to_str().expect("utf-8 path")])
            .args(extra)
            .current_dir(self.dir.path())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn etcdplay")
    }

    /// Runs apply to the end (killing it after 300 s); (exit code, output, duration).
    fn apply(&self, extra: &[&str]) -> (Option<i32>, String, Duration) {
        let log = self.dir.path().join("apply.log");
        let started = Instant::now();
        let mut child = self.spawn_apply(extra, &log);
        let status = wait_for(&mut child, Duration::from_secs(300));
        (
            status,
            std::fs::read_to_string(&log).unwrap_or_default(),
            started.elapsed(),
        )
    }
}

/// Waits for the child; kills it after `limit` and returns None.
fn wait_for(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts no two of the restarts after `since` (per host monotonic µs) overlapped.
fn assert_no_overlap(c: &Cluster, since: &[(String, u64)], what: &str) -> usize {
    let mut windows: Vec<(u64, u64, String)> = Vec::new();
    for (host, entered_before) in since {
        let (exit, enter) = c.window(host);
        if exit > *entered_before {
            windows.push((exit, enter, host.clone()));
        }
    }
    windows.sort();
    for pair in windows.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0 && pair[0].1 >= pair[0].0,
            "{what}: restarts overlapped: {} down {}..{}, {} down {}..{}",
            pair[0].2,
            pair[0].0,
            pair[0].1,
            pair[1].2,
            pair[1].0,
            pair[1].1
        );
    }
    for (a, b, h) in &windows {
        eprintln!(
            "  {what}: {h} down {:.2}s",
            b.saturating_sub(*a) as f64 / 1e6
        );
    }
    windows.len()
}

fn enter_times(c: &Cluster) -> Vec<(String, u64)> {
    c.names()
        .into_iter()
        .map(|h| {
            let (_, enter) = c.window(&h);
            (h, enter)
        })
        .collect()
}

/// ssh master processes of etcdplay on the control node talking to this lab.
fn ssh_masters() -> Vec<u32> {
    local_processes(SUBNET)
        .iter()
        .filter(|l| l.contains("ssh") && (l.contains("-M") || l.contains("ControlMaster")))
        .filter_map(|l| l.split(':').next()?.trim().parse().ok())
        .collect()
}

/// One variant: start the change, strike when a member's etcd PID changes, check the cluster.
/// With `check_running`, also asserts that every etcd runs the new flags after the re-run.
fn interrupted_rolling(c: &Cluster, tunable: &str, how: &str, check_running: bool) {
    let names = c.names();
    let before: Vec<Vec<String>> = names.iter().map(|h| c.local_etcd(h)).collect();
    for (h, pids) in names.iter().zip(&before) {
        assert_eq!(
            pids.len(),
            1,
            "{h}: etcd processes {pids:?} of {:?}",
            local_processes(h)
        );
    }
    let since = enter_times(c);
    let log = c.dir.path().join(format!("{how}.log"));
    let arg = format!("etcd_snapshot_count={tunable}");
    let started = Instant::now();
    let mut child = c.spawn_apply(&["-e", &arg], &log);
    let deadline = Instant::now() + Duration::from_secs(240);
    let restarting = loop {
        assert!(
            Instant::now() < deadline,
            "{how}: no member restarted:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "{how}: etcdplay ended before any restart:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        if let Some(i) = (0..names.len()).find(|&i| c.local_etcd(&names[i]) != before[i]) {
            break names[i].clone();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let at = started.elapsed();
    let pids_then = c.local_etcd(&restarting);
    let struck = Instant::now();
    match how {
        "SIGKILL" => {
            child.kill().expect("SIGKILL etcdplay");
            let _ = child.wait();
        }
        _ => {
            let masters = ssh_masters();
            assert!(
                !masters.is_empty(),
                "no ssh master found: {:?}",
                local_processes(SUBNET)
            );
            for pid in &masters {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            eprintln!("  killed {} ssh masters", masters.len());
            let code = wait_for(&mut child, Duration::from_secs(240));
            eprintln!("  etcdplay after losing its connections exited {code:?}");
        }
    }
    let (healthy_then, _, _) = c.health();
    eprintln!("{how}: struck {at:?} after start, while {restarting} was restarting (its etcd PIDs then {pids_then:?}, was {before:?}; {healthy_then} healthy just after)");

    // Within 30 s: a leader and at least two healthy members.
    let (healthy, leader, shown) = loop {
        let (healthy, leader, shown) = c.health();
        if (healthy >= 2 && leader) || struck.elapsed() > Duration::from_secs(30) {
            break (healthy, leader, shown);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    eprintln!(
        "  {healthy} healthy, leader {leader}, {:.1}s after the strike",
        struck.elapsed().as_secs_f64()
    );
    assert!(
        healthy >= 2 && leader,
        "{how}: no quorum 30 s after the strike:\n{shown}"
    );
    // Give a restart that was still in flight time to finish before reading windows.
    let settle = Instant::now();
    while c.health().0 < 3 && settle.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let n = assert_no_overlap(c, &since, how);
    assert!(n >= 1, "{how}: no restart seen");

    // A re-run converges and ends with all three healthy.
    let flag = format!("--snapshot-count {tunable}");
    let old: Vec<&String> = names
        .iter()
        .filter(|h| !c.running_cmdline(h).contains(&flag))
        .collect();
    eprintln!("  before the re-run, {old:?} run the old configuration");
    let since = enter_times(c);
    let (code, out, took) = c.apply(&["-e", &arg]);
    eprintln!("  re-run exited {code:?} after {:.1}s", took.as_secs_f64());
    assert_eq!(code, Some(0), "{how}: re-run failed:\n{out}");
    for line in out
        .lines()
        .filter(|l| l.contains("configuration changed at"))
    {
        eprintln!("  re-run: {line}");
    }
    if check_running {
        // Each member left on the old configuration is named, with the reason.
        for h in &old {
            assert!(
                out.lines()
                    .any(|l| l.contains(&format!("{h}: etcd is running since"))
                        && l.contains("configuration changed at")),
                "{how}: the re-run did not say why {h} is restarted:\n{out}"
            );
        }
    }
    assert_no_overlap(c, &since, &format!("{how} re-run"));
    let (healthy, leader, shown) = c.health();
    assert!(
        healthy == 3 && leader,
        "{how}: not all healthy after the re-run:\n{shown}"
    );
    for h in &names {
        assert!(
            c.sh(h, "systemctl cat etcd")
                .contains(&format!("--snapshot-count {tunable}")),
            "{h}: unit not updated"
        );
        let running = c.running_cmdline(h);
        let current = running.contains(&format!("--snapshot-count {tunable}"));
        eprintln!(
            "  {h} runs the {} configuration",
            if current { "new" } else { "OLD" }
        );
        assert!(
            !check_running || current,
            "{how}: {h} still runs the old configuration after the re-run: {running}"
        );
    }
}

/// Both tests use the same private lab, so they never run at the same time.
static LAB_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A fresh 3-member TLS cluster on the private lab.
fn deploy() -> Cluster {
    let started = Instant::now();
    let private = PrivateLab::up("labq", "etcdplaybr18", 18, 3);
    eprintln!("lab up took {:.1}s", started.elapsed().as_secs_f64());
    let dir = tempfile::tempdir().expect("tempdir");
    let text = etcdplay_lab::render_inventory(&private.lab.hosts);
    let inventory = dir.path().join("hosts.yml");
    std::fs::write(&inventory, text).expect("inventory");
    let c = Cluster {
        private,
        dir,
        inventory,
    };
    let (code, out, took) = c.apply(&[]);
    eprintln!("fresh deploy took {:.1}s", took.as_secs_f64());
    assert_eq!(code, Some(0), "fresh deploy failed:\n{out}");
    assert_eq!(c.health().0, 3, "not all healthy after the deploy");
    c
}

#[test]
fn losing_the_control_node_mid_rolling_restart_keeps_quorum() {
    let _serial = LAB_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let started = Instant::now();
    let c = deploy();
    interrupted_rolling(&c, "50000", "SIGKILL", false);
    interrupted_rolling(&c, "60000", "ssh-loss", false);
    eprintln!("total {:.1}s", started.elapsed().as_secs_f64());
}

/// The restart handler was notified by the killed run, whose unit-file change is already on
/// every host; the re-run sees no change, so nothing notifies the handler again (Ansible loses
/// the notification). etcdplay's `state: started` task finds the members whose etcd started
/// before their unit changed and notifies the restart handler for them, saying why; after that
/// every member runs the new flags, and a further run restarts nothing.
#[test]
fn rerun_after_interrupted_rolling_restart_restarts_the_rest() {
    let _serial = LAB_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let c = deploy();
    interrupted_rolling(&c, "50000", "SIGKILL", true);
    let names = c.names();
    let before: Vec<Vec<String>> = names.iter().map(|h| c.local_etcd(h)).collect();
    let (code, out, took) = c.apply(&["-e", "etcd_snapshot_count=50000"]);
    eprintln!(
        "  converged re-run exited {code:?} after {:.1}s",
        took.as_secs_f64()
    );
    assert_eq!(code, Some(0), "a run after convergence failed:\n{out}");
    assert!(
        !out.contains("configuration changed at"),
        "a converged member was found stale:\n{out}"
    );
    let after: Vec<Vec<String>> = names.iter().map(|h| c.local_etcd(h)).collect();
    assert_eq!(
        before, after,
        "a run after convergence restarted etcd:\n{out}"
    );
}
