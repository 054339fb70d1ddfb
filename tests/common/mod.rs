//! The end-to-end harness: lab hosts brought up once per test binary (or reused when already
//! running), the `etcdplay` binary of this build, and helpers to run commands on hosts.
//! Every address used here belongs to a lab network namespace, checked to exist before use.

#![allow(dead_code)]

pub mod debrepo;
pub mod snapshot;
pub mod writer;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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
        let lab = rt
            .block_on(etcdplay_lab::ensure_up(n))
            .unwrap_or_else(|e| panic!("lab up {n}: {e}"));
        for h in &lab.hosts {
            assert!(
                netns_exists(&h.netns),
                "namespace {} of {} is missing",
                h.netns,
                h.name
            );
        }
        lab
    })
}

fn unsafe_is_root() -> bool {
    // `id -u` rather than libc: the harness has no unsafe code.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A program of the real Ansible that `scripts/install-deps` puts in its own virtualenv
/// (`ansible-playbook`, `ansible-vault`, ...), for tests that compare with it.
pub fn ansible_bin(name: &str) -> PathBuf {
    let bin = Path::new("/opt/etcdplay-ansible/bin").join(name);
    assert!(
        bin.exists(),
        "{} is missing: run scripts/install-deps first",
        bin.display()
    );
    bin
}

/// The `etcdplay` binary built with this test (cargo builds workspace binaries before tests).
pub fn etcdplay_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("etcdplay");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        bin.display()
    );
    bin
}

/// Runs `etcdplay` with `args` in `cwd`.
pub fn etcdplay(cwd: &Path, args: &[&str]) -> Output {
    Command::new(etcdplay_bin())
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run etcdplay")
}

/// Runs a shell command on a lab host as root over SSH.
pub fn ssh(lab: &Lab, host: &str, command: &str) -> Output {
    let h = lab
        .hosts
        .iter()
        .find(|h| h.name == host)
        .unwrap_or_else(|| panic!("no lab host {host}"));
    assert!(netns_exists(&h.netns), "namespace {} is gone", h.netns);
    Command::new("ssh")
        .args(["-i"])
        .arg(&lab.key_path)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=5",
        ])
        .arg(format!("root@{}", h.ip))
        .arg(command)
        .output()
        .expect("run ssh")
}

/// Stdout of a command on a host, asserting it succeeded.
pub fn ssh_ok(lab: &Lab, host: &str, command: &str) -> String {
    let out = ssh(lab, host, command);
    assert!(
        out.status.success(),
        "{host}: `{command}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An INI inventory with the lab hosts in group `group`, written into `dir`.
pub fn ini_inventory(lab: &Lab, dir: &Path, group: &str) -> PathBuf {
    let mut text = format!("[{group}]\n");
    for h in &lab.hosts {
        text.push_str(&format!(
            "{} ansible_host={} ansible_user=root ansible_ssh_private_key_file={} \
             ansible_ssh_common_args='-o StrictHostKeyChecking=yes -o UserKnownHostsFile={}'\n",
            h.name,
            h.ip,
            lab.key_path.display(),
            h.known_hosts.display()
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
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A lab of a test binary's own (its own host prefix, bridge and subnet), for tests that stop
/// hosts or cut their network and so must not touch the shared default lab. It reuses the
/// default base image; dropping the guard takes the whole private lab down.
pub struct PrivateLab {
    pub lab: Lab,
    pub config: etcdplay_lab::LabConfig,
}

impl PrivateLab {
    /// Brings up `n` hosts `{prefix}1..` on `bridge`, `10.213.{octet}.0/24`, after removing
    /// whatever an earlier, killed run of the same test left.
    pub fn up(prefix: &str, bridge: &str, octet: u8, n: u64) -> PrivateLab {
        assert!(unsafe_is_root(), "end-to-end tests need root");
        let config = etcdplay_lab::LabConfig {
            host_prefix: prefix.into(),
            bridge: bridge.into(),
            subnet: [10, 213, octet],
            ..etcdplay_lab::LabConfig::default()
        };
        let manager = etcdplay_lab::LabManager::new(config.clone());
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(manager.down())
            .unwrap_or_else(|e| panic!("private lab down: {e}"));
        let lab = rt
            .block_on(manager.up(n))
            .unwrap_or_else(|e| panic!("private lab up {n}: {e}"));
        for h in &lab.hosts {
            assert!(
                netns_exists(&h.netns),
                "namespace {} of {} is missing",
                h.netns,
                h.name
            );
        }
        PrivateLab { lab, config }
    }

    /// Starts again every host of the lab that is not running (after a test stopped one).
    pub fn restart_missing(&self) {
        let manager = etcdplay_lab::LabManager::new(self.config.clone());
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let n = self.lab.hosts.len() as u64;
        rt.block_on(manager.up(n))
            .unwrap_or_else(|e| panic!("private lab up again: {e}"));
    }

    /// The last `lines` lines of `unit`'s journal on every host, for a failure message: a
    /// lab (and its journals) is gone once the test has failed.
    pub fn journals(&self, unit: &str, lines: usize) -> String {
        let mut all = String::new();
        for h in &self.lab.hosts {
            let out = ssh(
                &self.lab,
                &h.name,
                &format!("journalctl -u {unit} -n {lines} --no-pager -o short-precise"),
            );
            all.push_str(&format!(
                "--- {} journal of {unit}:\n{}\n",
                h.name,
                text(&out)
            ));
        }
        all
    }

    /// Stops one host's machine the way a shutdown does: SIGTERM to its systemd-nspawn
    /// (which powers the container off), waiting until it is gone.
    pub fn stop_host(&self, name: &str) {
        let host = self
            .lab
            .hosts
            .iter()
            .find(|h| h.name == name)
            .expect("host of the private lab");
        let pid = etcdplay_lab::running_pid(&self.config, host)
            .unwrap_or_else(|| panic!("{name} is not running"));
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
        while etcdplay_lab::running_pid(&self.config, host).is_some() {
            assert!(std::time::Instant::now() < deadline, "{name} did not stop");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for PrivateLab {
    fn drop(&mut self) {
        let config = self.config.clone();
        // Drop may run inside a runtime: a thread of its own gets a fresh one.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Runtime::new() {
                let _ = rt.block_on(etcdplay_lab::LabManager::new(config).down());
            }
        })
        .join();
    }
}

/// Command lines of live processes on the control node that contain `needle`.
pub fn local_processes(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.trim_start().chars().next())
            == Some('Z');
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !zombie && text.contains(needle) {
            found.push(format!("{pid}: {text}"));
        }
    }
    found
}

/// Runs `etcdplay` in `cwd`, killing it (by its pid) when it outlives `deadline`.
pub fn etcdplay_with_deadline(cwd: &Path, args: &[&str], deadline: Duration) -> Output {
    let out_path = cwd.join(".apply.stdout");
    let err_path = cwd.join(".apply.stderr");
    let stdout = std::fs::File::create(&out_path).expect("stdout file");
    let stderr = std::fs::File::create(&err_path).expect("stderr file");
    let mut child = Command::new(etcdplay_bin())
        .args(args)
        .current_dir(cwd)
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("run etcdplay");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait etcdplay") {
            break status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let printed = std::fs::read_to_string(&out_path).unwrap_or_default()
                + &std::fs::read_to_string(&err_path).unwrap_or_default();
            panic!(
                "etcdplay {args:?} still running after {}s; it printed:\n{printed}",
                deadline.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "etcdplay {args:?} took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    }
}

/// The private lab's client URLs with `scheme` and `port`, checking every namespace exists
/// first.
pub fn endpoints(lab: &PrivateLab, scheme: &str, port: u16) -> String {
    lab.lab
        .hosts
        .iter()
        .map(|h| {
            assert!(netns_exists(&h.netns), "namespace {} is gone", h.netns);
            format!("{scheme}://{}:{port}", h.ip)
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// etcdctl on the control node over TLS with the cluster's client certificate from `pki`.
pub fn etcdctl_tls(pki: &Path, endpoints: &str, args: &[&str]) -> Output {
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoints}"))
        .arg(format!("--cacert={}", pki.join("ca.pem").display()))
        .arg(format!("--cert={}", pki.join("client.pem").display()))
        .arg(format!("--key={}", pki.join("client-key.pem").display()))
        .args(["--dial-timeout=2s", "--command-timeout=3s"])
        .args(args)
        .output()
        .expect("run etcdctl")
}

/// Writes keys `k/0..n` with values `v0..` over TLS (the keys an operation must keep).
pub fn put_keys(pki: &Path, endpoints: &str, n: usize) {
    for i in 0..n {
        let put = etcdctl_tls(
            pki,
            endpoints,
            &["put", &format!("k/{i}"), &format!("v{i}")],
        );
        assert!(put.status.success(), "put k/{i}: {}", text(&put));
    }
}

/// Reads keys `k/0..n` back and asserts each still holds the value [`put_keys`] wrote.
pub fn assert_keys(pki: &Path, endpoints: &str, n: usize) {
    for i in 0..n {
        let got = etcdctl_tls(
            pki,
            endpoints,
            &["get", &format!("k/{i}"), "--print-value-only"],
        );
        assert_eq!(
            String::from_utf8_lossy(&got.stdout).trim(),
            format!("v{i}"),
            "k/{i}: {}",
            text(&got)
        );
    }
}

/// The private lab's inventory as `etcdplay lab up` writes it (group `etcd`), in `dir`.
pub fn yaml_inventory(lab: &PrivateLab, dir: &Path) -> PathBuf {
    let text = etcdplay_lab::render_inventory(&lab.lab.hosts);
    let path = dir.join("hosts.yml");
    std::fs::write(&path, text).expect("write inventory");
    path
}

/// A TLS cluster that `etcdplay apply` deployed on a private lab: where the operation tests
/// start. Destructure it; dropping `lab` takes the hosts down, dropping `dir` removes the
/// inventory and `pki/`.
pub struct TlsCluster {
    pub lab: PrivateLab,
    /// The working directory: `hosts.yml`, and the `pki/` the run made.
    pub dir: tempfile::TempDir,
    /// The inventory's path, as the command line takes it.
    pub inventory: String,
    pub pki: PathBuf,
    /// Every member's client URL (`https://IP:2379,...`).
    pub endpoints: String,
}

impl TlsCluster {
    /// Brings up `n` hosts (see [`PrivateLab::up`]; the time it took is printed), writes
    /// their inventory and deploys the built-in cluster with `apply -i INV` plus `extra`.
    pub fn deploy(prefix: &str, bridge: &str, octet: u8, n: u64, extra: &[&str]) -> TlsCluster {
        let started = std::time::Instant::now();
        let lab = PrivateLab::up(prefix, bridge, octet, n);
        eprintln!("lab up took {:.1}s", started.elapsed().as_secs_f64());
        let dir = tempfile::tempdir().expect("tempdir");
        let inventory = yaml_inventory(&lab, dir.path())
            .to_str()
            .expect("utf-8 path")
            .to_string();
        let mut args = vec!["apply", "-i", inventory.as_str()];
        args.extend_from_slice(extra);
        let boot = etcdplay(dir.path(), &args);
        assert_eq!(boot.status.code(), Some(0), "bootstrap:\n{}", text(&boot));
        TlsCluster {
            pki: dir.path().join("pki"),
            endpoints: endpoints(&lab, "https", 2379),
            lab,
            dir,
            inventory,
        }
    }
}

/// An INI inventory in `dir/name` naming `testhost` the lab host `host` (strict host keys, the
/// host's Python for ansible-playbook), for tests that run a play under both tools.
pub fn testhost_inventory(dir: &Path, name: &str, host: &etcdplay_lab::LabHost) -> String {
    let line = format!(
        "testhost ansible_host={} ansible_user=root ansible_ssh_private_key_file={} \
         ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args='-o \
         StrictHostKeyChecking=yes -o UserKnownHostsFile={}'\n",
        host.ip,
        host.key_path.display(),
        host.known_hosts.display()
    );
    let path = dir.join(name);
    std::fs::write(&path, line).expect("write inventory");
    path.display().to_string()
}

/// The JSON the play's last `debug` printed for `host`, from `ok: [HOST] => {` to its `}`.
pub fn last_debug_json(output: &str, host: &str) -> serde_json::Value {
    let mark = format!("ok: [{host}] => ");
    let start = output
        .rfind(&format!("{mark}{{"))
        .unwrap_or_else(|| panic!("no debug output in:\n{output}"));
    let body = &output[start + mark.len()..];
    let end = body.find("\n}\n").expect("end of the debug output") + 2;
    serde_json::from_str(&body[..end]).unwrap_or_else(|e| panic!("{e}: {}", &body[..end]))
}

/// Runs `play` under ansible-playbook on the lab's first host and under etcdplay on its second
/// (each named `testhost` by its own inventory in `dir`); both must succeed. Their outputs,
/// Ansible's first.
pub fn run_side_by_side(lab: &PrivateLab, dir: &Path, play: &Path) -> (String, String) {
    let ansible_inv = testhost_inventory(dir, "ansible", &lab.lab.hosts[0]);
    let etcdplay_inv = testhost_inventory(dir, "etcdplay", &lab.lab.hosts[1]);
    let ansible = Command::new(ansible_bin("ansible-playbook"))
        .args(["-i", &ansible_inv])
        .arg(play)
        .env("ANSIBLE_NOCOLOR", "1")
        .current_dir(dir)
        .output()
        .expect("run ansible-playbook");
    let ours = Command::new(etcdplay_bin())
        .args(["apply", "-i", &etcdplay_inv])
        .arg(play)
        .current_dir(dir)
        .output()
        .expect("run etcdplay");
    both_succeeded(&ansible, &ours)
}

/// The outputs of a run under ansible-playbook and one under etcdplay, Ansible's first; both
/// must have succeeded (the failing one's output is the message).
pub fn both_succeeded(ansible: &Output, ours: &Output) -> (String, String) {
    let (ansible_text, our_text) = (text(ansible), text(ours));
    assert!(
        ansible.status.success(),
        "ansible-playbook:\n{ansible_text}"
    );
    assert!(ours.status.success(), "etcdplay:\n{our_text}");
    (ansible_text, our_text)
}

/// What the play's last `debug` printed for `host` under each tool, Ansible's first.
pub fn last_results(
    ansible_text: &str,
    our_text: &str,
    host: &str,
) -> (serde_json::Value, serde_json::Value) {
    (
        last_debug_json(ansible_text, host),
        last_debug_json(our_text, host),
    )
}

/// Asserts that etcdplay's results (`mine`) are Ansible's (`theirs`): task by task first, so
/// a difference names its task (with etcdplay's output), then as a whole.
pub fn assert_same_results(theirs: &serde_json::Value, mine: &serde_json::Value, our_text: &str) {
    for (task, result) in theirs["msg"].as_object().expect("results") {
        assert_eq!(&mine["msg"][task], result, "{task}:\n{our_text}");
    }
    assert_eq!(mine, theirs);
}

/// An inventory `dir/hosts` naming `h` the control node itself (local connection), for plays
/// run under both tools on this machine.
pub fn local_inventory(dir: &Path) -> PathBuf {
    let inventory = dir.join("hosts");
    std::fs::write(
        &inventory,
        "h ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n",
    )
    .expect("inventory");
    inventory
}

/// A signing key made here by gpg for the key modules' tests.
pub struct TestKey {
    /// The public key, ASCII-armored.
    pub armored: String,
    /// Its fingerprint (40 hex digits).
    pub fingerprint: String,
}

/// Makes an ed25519 signing key without passphrase, uid `t <t@localhost>`, in its own gpg home
/// `root/maker` (never the machine's keyrings).
pub fn gpg_test_key(root: &Path) -> TestKey {
    let maker = root.join("maker");
    std::fs::create_dir_all(&maker).expect("mkdir");
    debrepo::run_ok(Command::new("chmod").arg("700").arg(&maker));
    let gpg = |args: &[&str]| {
        let mut c = Command::new("gpg");
        c.arg("--homedir").arg(&maker).args(["--batch", "--yes"]);
        c.args(args);
        debrepo::run_ok(&mut c)
    };
    gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "t <t@localhost>",
        "ed25519",
        "sign",
        "never",
    ]);
    let armored = gpg(&["--armor", "--export", "t@localhost"]);
    let fingerprint = gpg(&["--with-colons", "--fingerprint", "t@localhost"])
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_string())
        })
        .expect("fingerprint");
    TestKey {
        armored,
        fingerprint,
    }
}

/// One tool's scratch directory `root/name` for a key module's play: `key.asc` holding `key`
/// and an empty gpg home `gnupg` (mode 700).
pub fn key_scratch(root: &Path, name: &str, key: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("gnupg")).expect("mkdir");
    debrepo::run_ok(Command::new("chmod").arg("700").arg(dir.join("gnupg")));
    std::fs::write(dir.join("key.asc"), key).expect("key");
    dir
}
