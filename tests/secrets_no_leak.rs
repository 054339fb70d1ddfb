//! Private keys (a TLS key and an SSH key, generated fresh) never show up in what etcdplay
//! prints, in `--diff`, in the `--output json` file, in the hosts' journal or in any process's
//! command line on either side, and `no_log: true` hides a task's values everywhere. Every base64
//! body line of both keys is searched for in each place. Runs on a private one-host lab
//! (`labs1` on `etcdplaybr61`, 10.213.61.0/24) so the journal and process list hold only this test's traffic.

#![allow(clippy::print_stderr)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

/// The base64 body lines of a PEM / OpenSSH private key file (what must never leak).
fn body_lines(pem: &str) -> Vec<String> {
    let lines: Vec<String> = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect();
    assert!(
        lines.len() >= 3,
        "a key with too few body lines to test with: {pem}"
    );
    lines
}

fn generate_keys(dir: &Path) -> (String, String) {
    let tls = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(dir.join("tls.key"))
        .output()
        .expect("openssl");
    assert!(tls.status.success(), "{}", text(&tls));
    let ssh_key = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "reliability", "-f"])
        .arg(dir.join("id_ssh"))
        .output()
        .expect("ssh-keygen");
    assert!(ssh_key.status.success(), "{}", text(&ssh_key));
    (
        std::fs::read_to_string(dir.join("tls.key")).expect("tls key"),
        std::fs::read_to_string(dir.join("id_ssh")).expect("ssh key"),
    )
}

/// Samples every process command line on the control node and on the host while a run goes
/// on; the samples are searched afterwards.
struct Sampler {
    stop: Arc<AtomicBool>,
    local: Arc<Mutex<Vec<String>>>,
    remote: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(lab: &'static etcdplay_lab::Lab, host: String) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let local = Arc::new(Mutex::new(Vec::new()));
        let remote = Arc::new(Mutex::new(Vec::new()));
        let (s1, l1) = (stop.clone(), local.clone());
        let t1 = std::thread::spawn(move || {
            while !s1.load(Ordering::Relaxed) {
                let snapshot = local_processes("");
                if let Ok(mut all) = l1.lock() {
                    all.extend(snapshot);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let (s2, r2) = (stop.clone(), remote.clone());
        let t2 = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                let out = ssh(
                    lab,
                    &host,
                    "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done",
                );
                if let Ok(mut all) = r2.lock() {
                    all.push(String::from_utf8_lossy(&out.stdout).into_owned());
                }
            }
        });
        Sampler {
            stop,
            local,
            remote,
            threads: vec![t1, t2],
        }
    }

    /// Stops sampling; returns (control node samples, host samples).
    fn finish(self) -> (String, String) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let local = self.local.lock().map(|v| v.join("\n")).unwrap_or_default();
        let remote = self.remote.lock().map(|v| v.join("\n")).unwrap_or_default();
        (local, remote)
    }
}

/// Every place a secret could leak to in one run, by name.
fn run_and_collect(
    lab: &'static etcdplay_lab::Lab,
    host: &str,
    dir: &Path,
    args: &[&str],
) -> (Option<i32>, Vec<(String, String)>) {
    let json = dir.join("out.json");
    let _ = std::fs::remove_file(&json);
    let cursor = ssh_ok(lab, host, "date +%s").trim().to_string();
    let sampler = Sampler::start(lab, host.to_string());
    let out = Command::new(etcdplay_bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run etcdplay");
    let (local, remote) = sampler.finish();
    let journal = ssh_ok(
        lab,
        host,
        &format!("journalctl --no-pager -o cat --since @{cursor}"),
    );
    let places = vec![
        (
            "stdout".to_string(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ),
        (
            "stderr".to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        (
            "--output json file".to_string(),
            std::fs::read_to_string(&json).unwrap_or_default(),
        ),
        ("host journal".to_string(), journal),
        ("control node cmdlines".to_string(), local),
        ("host cmdlines".to_string(), remote),
    ];
    (out.status.code(), places)
}

/// Names `place: line` for each key line found somewhere.
fn leaks(places: &[(String, String)], lines: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for (place, content) in places {
        // JSON escapes `/` never, `+` never; the raw line is what a leak would contain.
        for line in lines {
            if content.contains(line.as_str()) {
                found.push(format!("{place}: {line}"));
            }
        }
    }
    found
}

const COPY_PLAYBOOK: &str = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: TLS key from a file
      copy:
        src: tls.key
        dest: /etc/reliability-secrets/tls.key
        mode: \"0600\"
    - name: SSH key from a variable
      copy:
        content: \"{{ ssh_private_key }}\"
        dest: /etc/reliability-secrets/id_ssh
        mode: \"0600\"
";

const NO_LOG_PLAYBOOK: &str = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: show the secret
      debug:
        var: ssh_private_key
      no_log: true
    - name: read a key back
      command: cat /etc/reliability-secrets/tls.key
      register: read_back
      no_log: true
    - name: print the secret in a message
      debug:
        msg: \"key: {{ ssh_private_key }}\"
      no_log: true
    - name: a failing task that would print the key
      shell: \"cat /etc/reliability-secrets/tls.key; exit 3\"
      no_log: true
      ignore_errors: true
";

#[test]
fn private_keys_never_leak_and_no_log_hides_values_everywhere() {
    secrets_case("labs", "etcdplaybr61", 61, &[]);
}

/// The same with `--diff`: a diff of a key file must show that content is hidden, not the key.
#[test]
fn private_keys_never_leak_with_diff() {
    secrets_case("labk", "etcdplaybr64", 64, &["--diff"]);
}

fn secrets_case(prefix: &str, bridge: &str, octet: u8, extra: &[&str]) {
    // The guard takes the lab down when the test ends, passing or failing; the sampler threads
    // get a leaked copy of the host list.
    let private = PrivateLab::up(prefix, bridge, octet, 1);
    let host = format!("{prefix}1");
    let lab: &'static etcdplay_lab::Lab = Box::leak(Box::new(private.lab.clone()));
    let work = tempfile::tempdir().expect("tempdir");
    let d = work.path();
    let (tls, ssh_key) = generate_keys(d);
    let mut lines = body_lines(&tls);
    lines.extend(body_lines(&ssh_key));
    let inventory = ini_inventory(lab, d, "etcds");
    let inv = inventory.to_str().expect("utf-8").to_string();
    // The SSH key reaches the play as a variable, as a vault-less group_vars file would give it.
    let quoted = serde_json::to_string(&ssh_key).expect("json");
    std::fs::write(
        d.join("vars.json"),
        format!("{{\"ssh_private_key\": {quoted}}}"),
    )
    .expect("write vars");
    std::fs::write(d.join("copy.yml"), COPY_PLAYBOOK).expect("write");
    std::fs::write(d.join("nolog.yml"), NO_LOG_PLAYBOOK).expect("write");
    // Older, different files on the host make `--diff` have something to show.
    ssh_ok(lab, &host, "mkdir -p /etc/reliability-secrets && echo old > /etc/reliability-secrets/tls.key && echo old > /etc/reliability-secrets/id_ssh");

    let args = [
        &[
            "apply",
            "-i",
            inv.as_str(),
            "--host-key-checking",
            "off",
            "-e",
            "@vars.json",
            "-v",
            "--output",
            "json",
            "out.json",
        ][..],
        extra,
    ]
    .concat();
    let (code, places) = run_and_collect(lab, &host, d, &[&args[..], &["copy.yml"]].concat());
    let stdout = &places[0].1;
    assert_eq!(code, Some(0), "{stdout}\n{}", places[1].1);
    assert!(stdout.contains(&format!("changed: [{host}]")), "{stdout}");
    assert!(!places[2].1.is_empty(), "no JSON file written");
    // The keys did arrive: the test searches for something that exists.
    assert_eq!(
        ssh_ok(lab, &host, "cat /etc/reliability-secrets/tls.key"),
        tls
    );
    assert_eq!(
        ssh_ok(lab, &host, "cat /etc/reliability-secrets/id_ssh"),
        ssh_key
    );
    let sizes: Vec<String> = places
        .iter()
        .map(|(p, c)| format!("{p} {} bytes", c.len()))
        .collect();
    eprintln!(
        "copy run: searched {} key lines in {}",
        lines.len(),
        sizes.join(", ")
    );
    let found = leaks(&places, &lines);
    assert!(
        found.is_empty(),
        "private key lines leaked:\n{}\n--- stdout:\n{stdout}",
        found.join("\n")
    );

    let (code, places) = run_and_collect(lab, &host, d, &[&args[..], &["nolog.yml"]].concat());
    let stdout = &places[0].1;
    assert_eq!(code, Some(0), "{stdout}\n{}", places[1].1);
    assert!(
        stdout.contains("censored"),
        "no_log did not say it censored:\n{stdout}"
    );
    assert!(
        places[2].1.contains("read a key back"),
        "the JSON file lacks the no_log tasks:\n{}",
        places[2].1
    );
    let sizes: Vec<String> = places
        .iter()
        .map(|(p, c)| format!("{p} {} bytes", c.len()))
        .collect();
    eprintln!(
        "no_log run: searched {} key lines in {}",
        lines.len(),
        sizes.join(", ")
    );
    let found = leaks(&places, &lines);
    assert!(
        found.is_empty(),
        "no_log values leaked:\n{}\n--- stdout:\n{stdout}",
        found.join("\n")
    );
    drop(private);
}
