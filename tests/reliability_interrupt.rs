//! etcdplay interrupted by SIGINT, SIGTERM and SIGKILL while it uploads a 200 MB file and
//! while a long command runs: no destination is ever half-written (its sha256 is the old one or
//! the new one), a re-run converges, and no ssh master, mux client or remote helper is left on
//! the control node or the hosts. SIGINT and SIGTERM exit 99. Runs on private labs
//! (`labi1..2` on `etcdplaybr62`, 10.213.62.0/24; `labj1..2` on `etcdplaybr63`, 10.213.63.0/24), taken down at the end.

#![allow(clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const BIG: usize = 200 * 1024 * 1024;
const DEST: &str = "/root/big.bin";
const OLD: &str = "old content\n";

const PLAYBOOK: &str = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: upload
      copy:
        src: big.bin
        dest: /root/big.bin
        mode: \"0600\"
    - name: long command
      command: sleep 25
";

/// Writes `len` pseudo-random bytes (xorshift; incompressible enough for ssh).
fn write_big(path: &Path, len: usize) {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(path, data).expect("write big file");
}

fn sha256_local(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn sha256_text(s: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("f");
    std::fs::write(&p, s).expect("write");
    sha256_local(&p)
}

fn send(child: &Child, signal: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{signal} {}", child.id());
}

/// Waits for the child to exit; kills it (and fails) after `limit`.
fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("etcdplay did not exit within {limit:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `check` returns an empty list or `limit` passes; returns the last list.
fn settle(limit: Duration, mut check: impl FnMut() -> Vec<String>) -> (Vec<String>, Duration) {
    let started = Instant::now();
    loop {
        let left = check();
        if left.is_empty() || started.elapsed() > limit {
            return (left, started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// etcdplay's processes on a host: the remote loops (`etcdplay-PID-N` markers), upload scripts,
/// anything else mentioning etcdplay, and the playbook's own `sleep 25`.
fn host_helpers(private: &PrivateLab, host: &str) -> Vec<String> {
    let out = ssh(
        &private.lab,
        host,
        "ps -eo pid,args | grep -E '[e]tcdplay|[s]leep 25' || true",
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| format!("{host}: {l}"))
        .collect()
}

fn all_host_helpers(private: &PrivateLab) -> Vec<String> {
    private
        .lab
        .hosts
        .iter()
        .flat_map(|h| host_helpers(private, &h.name))
        .collect()
}

/// The file under the host's overlay upper dir, readable from the control node without SSH
/// (polling over SSH would be too slow to catch a fast upload in the act).
fn upper_path(private: &PrivateLab, host: &str, path: &str) -> PathBuf {
    private
        .config
        .host_dir(host)
        .join("upper")
        .join(path.trim_start_matches('/'))
}

/// Size of the upload's temporary file on `host`, if one exists.
fn tmp_upload_size(private: &PrivateLab, host: &str) -> Option<u64> {
    let dir = upper_path(private, host, "/root");
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.starts_with(".etcdplay-tmp.")
            .then(|| e.metadata().map(|m| m.len()).unwrap_or(0))
    })
}

#[test]
fn interrupted_uploads_leave_no_half_written_file_and_no_process_behind() {
    interrupt_cases(
        "labi",
        "etcdplaybr62",
        62,
        &[("INT", "upload"), ("TERM", "upload"), ("KILL", "upload")],
    );
}

/// While a long remote command runs, an interrupted etcdplay stops it: the remote shell's
/// lifeline kills its process group when the channel closes, so the command, the shell and
/// (after ControlPersist) the ssh masters are gone long before `sleep 25` would have ended.
#[test]
fn interrupted_long_commands_leave_no_process_behind() {
    interrupt_cases(
        "labj",
        "etcdplaybr63",
        63,
        &[("TERM", "command"), ("KILL", "command")],
    );
}

/// With `connection: local` there is no remote loop and so no lifeline: the script is a child
/// of etcdplay. SIGINT must still stop it and what it started in the background (a plain `&`
/// and a `nohup`), not only its shell. Needs no lab: the host is the control node itself.
#[test]
fn an_interrupted_local_command_leaves_no_process_behind() {
    let work = tempfile::tempdir().expect("tempdir");
    // Unique to this run, so that only processes this test started are looked for (and, if
    // the test fails, killed): `sleep 300.0PID1` and so on.
    let marker = format!("sleep 300.0{}", std::process::id());
    std::fs::write(
        work.path().join("hosts"),
        "[etcds]\nlocal1 ansible_connection=local\n",
    )
    .expect("write inventory");
    std::fs::write(
        work.path().join("site.yml"),
        format!(
            "- hosts: etcds\n  gather_facts: false\n  tasks:\n    - name: long local command\n      \
             shell: \"{marker}1 & nohup {marker}2 >/dev/null 2>&1 & {marker}3\"\n"
        ),
    )
    .expect("write playbook");
    let sleeps = || -> Vec<String> {
        local_processes(&marker)
            .into_iter()
            .filter(|l| {
                l.split_once(": ")
                    .is_some_and(|(_, cmd)| cmd.starts_with("sleep "))
            })
            .collect()
    };
    let mut child = Command::new(etcdplay_bin())
        .args(["apply", "-i", "hosts", "site.yml"])
        .current_dir(work.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn etcdplay");
    let deadline = Instant::now() + Duration::from_secs(30);
    while sleeps().len() < 3 {
        assert!(Instant::now() < deadline, "the command never started");
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "etcdplay ended early"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    let before = local_processes(&marker);
    send(&child, "INT");
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let mut stderr = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut s, &mut stderr);
    }
    let (left, took) = settle(Duration::from_secs(3), || local_processes(&marker));
    eprintln!(
        "INT during a local command: exit {:?}; before: {before:?}; left after {took:?}: {left:?}",
        status.code()
    );
    // Clean up what this run left (by pid, each carrying this run's marker) before asserting.
    for line in &left {
        if let Some((pid, _)) = line.split_once(':') {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
    assert_eq!(status.code(), Some(99), "{stderr}");
    assert!(
        left.is_empty(),
        "processes of the interrupted local command still running: {left:?}"
    );
}

fn interrupt_cases(prefix: &str, bridge: &str, octet: u8, cases: &[(&str, &str)]) {
    let private = PrivateLab::up(prefix, bridge, octet, 2);
    let subnet = format!("10.213.{octet}.");
    let first = format!("{prefix}1");
    let lab = &private.lab;
    let work = tempfile::tempdir().expect("tempdir");
    let inventory = ini_inventory(lab, work.path(), "etcds");
    let inv = inventory.to_str().expect("utf-8 path").to_string();
    std::fs::write(work.path().join("site.yml"), PLAYBOOK).expect("write");
    write_big(&work.path().join("big.bin"), BIG);
    let new_sha = sha256_local(&work.path().join("big.bin"));
    let old_sha = sha256_text(OLD);
    let args = [
        "apply",
        "-i",
        inv.as_str(),
        "--host-key-checking",
        "off",
        "site.yml",
    ];
    let mut problems: Vec<String> = Vec::new();

    // (signal, during): interrupt while the upload is in flight, or during `sleep 25`.
    for &(signal, during) in cases {
        for h in &lab.hosts {
            ssh_ok(
                lab,
                &h.name,
                &format!(
                    "rm -f /root/.etcdplay-tmp.*; printf '{}' > {DEST}",
                    OLD.trim_end().to_string() + "\\n"
                ),
            );
            assert_eq!(
                ssh_ok(lab, &h.name, &format!("sha256sum {DEST}"))
                    .split_whitespace()
                    .next(),
                Some(old_sha.as_str())
            );
        }
        let started = Instant::now();
        let mut child = Command::new(etcdplay_bin())
            .args(args)
            .current_dir(work.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn etcdplay");
        // Wait for the moment to strike: part of the file uploaded, or the command running.
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = None;
        while seen.is_none() {
            assert!(
                Instant::now() < deadline,
                "{signal}/{during}: the moment never came"
            );
            assert!(
                child.try_wait().expect("try_wait").is_none(),
                "{signal}/{during}: etcdplay ended early"
            );
            seen = match during {
                "upload" => tmp_upload_size(&private, &first)
                    .filter(|n| *n > 0 && (*n as usize) < BIG)
                    .map(|n| format!("{n} of {BIG} bytes uploaded")),
                _ => host_helpers(&private, &first)
                    .into_iter()
                    .find(|l| l.contains("sleep 25"))
                    .map(|_| "sleep 25 runs".into()),
            };
            if during == "upload" {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let at = started.elapsed();
        let cmdlines_before = local_processes(&subnet);
        send(&child, signal);
        let signalled = Instant::now();
        let status = wait_exit(&mut child, Duration::from_secs(30));
        let exit_took = signalled.elapsed();
        let stderr = child
            .stderr
            .take()
            .map(|mut s| {
                let mut t = String::new();
                let _ = std::io::Read::read_to_string(&mut s, &mut t);
                t
            })
            .unwrap_or_default();
        eprintln!("{signal} during {during} at {at:?} ({}), exit {:?} after {exit_took:?}; {} local ssh processes before", seen.unwrap_or_default(), status.code(), cmdlines_before.len());
        if signal != "KILL" {
            assert_eq!(status.code(), Some(99), "{signal}: {stderr}");
            assert!(stderr.contains("interrupted"), "{stderr}");
        }

        // No destination is half-written, on any host.
        for h in &lab.hosts {
            let sha = ssh_ok(lab, &h.name, &format!("sha256sum {DEST}"))
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            let state = if sha == old_sha {
                "old"
            } else if sha == new_sha {
                "new"
            } else {
                "HALF-WRITTEN"
            };
            let tmp = ssh_ok(lab, &h.name, "ls -la /root/ | grep etcdplay-tmp || true");
            eprintln!(
                "  {}: {DEST} is {state}; leftover temporary files: {:?}",
                h.name,
                tmp.trim()
            );
            if state == "HALF-WRITTEN" {
                let size = ssh_ok(lab, &h.name, &format!("stat -c %s {DEST}"));
                problems.push(format!(
                    "{signal}/{during}: {} {DEST} is half-written ({} of {BIG} bytes)",
                    h.name,
                    size.trim()
                ));
            }
        }
        // Nothing of ours is left: ssh masters/mux clients here, loops and scripts there.
        let (local, local_took) = settle(Duration::from_secs(15), || local_processes(&subnet));
        let (remote, remote_took) = settle(Duration::from_secs(15), || all_host_helpers(&private));
        eprintln!("  local ssh processes gone after {local_took:?}: {local:?}; host helpers gone after {remote_took:?}: {remote:?}");
        if !local.is_empty() {
            problems.push(format!(
                "{signal}/{during}: control node processes left 15 s later: {local:?}"
            ));
        }
        if !remote.is_empty() {
            problems.push(format!(
                "{signal}/{during}: host processes left 15 s later: {remote:?}"
            ));
        }
        // Leave nothing for the next case to trip over.
        let _ = settle(Duration::from_secs(70), || local_processes(&subnet));
        let _ = settle(Duration::from_secs(30), || all_host_helpers(&private));
    }

    // A full re-run converges: the new file everywhere, nothing temporary left.
    let playbook = PLAYBOOK.replace("sleep 25", "/bin/true");
    std::fs::write(work.path().join("site.yml"), playbook).expect("write");
    let out = etcdplay(work.path(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for h in &lab.hosts {
        let sha = ssh_ok(lab, &h.name, &format!("sha256sum {DEST}"));
        assert_eq!(
            sha.split_whitespace().next(),
            Some(new_sha.as_str()),
            "{}",
            h.name
        );
        let tmp = ssh_ok(lab, &h.name, "ls -a /root/ | grep -c etcdplay-tmp || true");
        eprintln!(
            "  after re-run {}: {} leftover temporary files",
            h.name,
            tmp.trim()
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    drop(private);
}
