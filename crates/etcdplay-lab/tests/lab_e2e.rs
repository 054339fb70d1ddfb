//! End to end: a real two-host lab on this machine. Brings hosts up, logs in to each, checks
//! that systemd runs, that the hosts reach each other over the bridge and carry no etcd, then
//! takes the lab down and checks that no namespace, link or process is left. It uses its own
//! host prefix, bridge and subnet so it never disturbs the default lab other tests may be using.
//! Needs root: without it the test fails (it does not skip).

// A slow test says where its time goes.
#![allow(clippy::print_stderr)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcdplay_lab::{
    check_prerequisites, link_exists, netns_exists, running_pid, LabConfig, LabEvent, LabHost,
    LabManager,
};

/// A lab of its own: hosts `labt1`, `labt2` on `etcdplaybr9`, 10.213.9.0/24.
fn test_config() -> LabConfig {
    LabConfig {
        host_prefix: "labt".into(),
        bridge: "etcdplaybr9".into(),
        subnet: [10, 213, 9],
        ..LabConfig::default()
    }
}

/// Takes the test lab down if the test ends early, so a failure leaves nothing running.
struct DownOnDrop(LabConfig);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        let config = self.0.clone();
        // Drop runs inside the test's runtime: a separate thread gets its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                let _ = rt.block_on(LabManager::new(config).down());
            }
        })
        .join();
    }
}

/// Runs a command on a host as root; returns (success, stdout).
async fn sh(host: &LabHost, command: &str) -> (bool, String) {
    let out = host
        .exec("root", command, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", host.name));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

/// Whether a pid is a live process (a zombie counts as gone: its parent may be a non-reaping init).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
        })
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// Live processes whose command line mentions one of the test lab's namespaces.
fn lab_processes(netns_prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(netns_prefix) && alive(pid) {
            found.push(format!("{pid}: {text}"));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_boot_talk_and_go_away() {
    if let Err(e) = check_prerequisites() {
        panic!("lab e2e test cannot run here: {e}");
    }
    let config = test_config();
    let manager = LabManager::new(config.clone());
    // A previous run that was killed may have left hosts: start from nothing.
    manager.down().await.expect("initial down");
    let guard = DownOnDrop(config.clone());

    let started = Instant::now();
    let lab = manager
        .up(2)
        .await
        .unwrap_or_else(|e| panic!("lab up 2: {e}"));
    eprintln!("lab up 2 took {:.1}s", started.elapsed().as_secs_f64());
    assert_eq!(
        lab.hosts
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>(),
        ["labt1", "labt2"]
    );
    let (h1, h2) = (&lab.hosts[0], &lab.hosts[1]);

    for host in &lab.hosts {
        assert!(netns_exists(&host.netns), "{} has no namespace", host.name);
        let (_, state) = sh(host, "systemctl is-system-running --wait").await;
        assert!(
            state == "running" || state == "degraded",
            "{}: system state {state:?}",
            host.name
        );
        assert_eq!(sh(host, "hostname").await, (true, host.name.clone()));
        let (ok, etcd) = sh(
            host,
            "command -v etcd etcdctl; ls /lib/systemd/system /etc/systemd/system | grep -i etcd",
        )
        .await;
        assert!(
            !ok && etcd.is_empty(),
            "{}: etcd present: {etcd:?}",
            host.name
        );
        let deploy = host
            .exec("deploy", "sudo -n id -u", Duration::from_secs(30))
            .await
            .expect("ssh deploy");
        assert_eq!(
            String::from_utf8_lossy(&deploy.stdout).trim(),
            "0",
            "{}: deploy has no passwordless sudo",
            host.name
        );
    }
    let (_, id1) = sh(h1, "cat /etc/machine-id").await;
    let (_, id2) = sh(h2, "cat /etc/machine-id").await;
    assert!(id1.len() == 32 && id1 != id2, "machine ids {id1:?} {id2:?}");

    // Host 1 reaches host 2's sshd across the bridge.
    assert!(netns_exists(&h2.netns));
    let probe = format!("python3 -c 'import socket; s=socket.create_connection((\"{}\", 22), 5); print(s.recv(8).decode())'", h2.ip);
    assert_eq!(sh(h1, &probe).await, (true, "SSH-2.0-".to_owned()));
    let (ok, route) = sh(h1, "ip -4 route show default").await;
    assert!(
        ok && route.starts_with(&format!("default via {}", config.gateway())),
        "{route:?}"
    );

    // A second `up` keeps the running hosts as they are.
    let pids: Vec<i32> = lab
        .hosts
        .iter()
        .map(|h| running_pid(&config, h).expect("pid"))
        .collect();
    let again = manager.up(2).await.expect("second up");
    let pids_again: Vec<i32> = again
        .hosts
        .iter()
        .map(|h| running_pid(&config, h).expect("pid"))
        .collect();
    assert_eq!(pids, pids_again);

    let stopping = Instant::now();
    let removed = manager.down().await.expect("down");
    eprintln!("lab down took {:.1}s", stopping.elapsed().as_secs_f64());
    assert_eq!(removed, ["labt1", "labt2"]);
    for host in &lab.hosts {
        assert!(!netns_exists(&host.netns), "{} left", host.netns);
        assert!(!link_exists(&host.veth), "{} left", host.veth);
        assert!(running_pid(&config, host).is_none());
        assert!(
            !config.host_dir(&host.name).exists(),
            "{} overlay left",
            host.name
        );
        assert!(!config.pid_file(&host.name).exists());
    }
    assert!(!link_exists(&config.bridge), "bridge left");
    for pid in pids {
        assert!(!alive(pid), "nspawn {pid} still alive");
    }
    let left = lab_processes("/run/netns/etcdplay-labt");
    assert!(left.is_empty(), "processes left: {left:?}");
    assert!(
        Path::new(&config.base_dir())
            .join("lib/systemd/systemd")
            .exists(),
        "base image must be kept"
    );

    // A container that does not power off in time: nspawn is killed, and since that leaves the
    // container's processes running, `down` must kill what is left in the namespace.
    let impatient = LabConfig {
        stop_timeout: Duration::ZERO,
        ..config.clone()
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let manager =
        LabManager::new(impatient.clone()).with_progress(Arc::new(move |e: &LabEvent| {
            if let Ok(mut all) = sink.lock() {
                all.push(e.clone());
            }
        }));
    let lab = manager
        .up(1)
        .await
        .unwrap_or_else(|e| panic!("lab up 1: {e}"));
    let host = &lab.hosts[0];
    let pid = running_pid(&impatient, host).expect("pid");
    assert!(sh(host, "true").await.0);
    manager.down().await.expect("down after kill");
    let killed = LabEvent::Killed {
        host: host.name.clone(),
    };
    assert!(
        events
            .lock()
            .map(|all| all.contains(&killed))
            .unwrap_or(false),
        "expected {killed:?}"
    );
    assert!(
        !alive(pid)
            && !netns_exists(&host.netns)
            && !link_exists(&host.veth)
            && !link_exists(&config.bridge)
    );
    let left = lab_processes("/run/netns/etcdplay-labt");
    assert!(left.is_empty(), "processes left after kill: {left:?}");

    // A host whose container exits: `up` fails at once, naming the host and quoting its log.
    // The base here is a directory that passes the lab's checks but is no OS tree to nspawn.
    let scratch = tempfile::tempdir().expect("tempdir");
    let broken = LabConfig {
        state_dir: scratch.path().join("state"),
        ..config.clone()
    };
    for file in [
        "lib/systemd/systemd",
        "etc/systemd/system/multi-user.target.wants/ssh.service",
    ] {
        let path = broken.base_dir().join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, "").expect("write");
    }
    let manager = LabManager::new(broken.clone());
    let started = Instant::now();
    let err = manager
        .up(1)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    eprintln!("expected failure reads:\n{err}");
    assert!(
        err.starts_with(
            "labt1 (10.213.9.11): systemd-nspawn exited before SSH answered; last lines of "
        ),
        "{err}"
    );
    assert!(err.contains("os-release"), "log tail missing from {err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "failure took {:?}",
        started.elapsed()
    );
    manager.down().await.expect("down after failure");
    assert!(!netns_exists("etcdplay-labt1") && !link_exists(&config.bridge));
    drop(guard);
}
