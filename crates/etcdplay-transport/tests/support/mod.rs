//! Test harness: a private sshd on 127.0.0.1 with its own host key, client key and
//! authorized_keys in a temporary directory, killed by pid when the harness is dropped.
//! Tests that need it skip (with a message) when sshd, ssh-keygen or root are missing.

#![allow(dead_code, clippy::print_stderr)]

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcdplay_transport::{
    ExecOutput, ExecRequest, HostKeyChecking, SshOptions, Transport, TransportError,
};

const SSHD: &str = "/usr/sbin/sshd";

pub(crate) struct Sshd {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) port: u16,
    child: Option<Child>,
}

/// Whether this machine can run the harness; prints why not otherwise.
pub(crate) fn available() -> bool {
    let ok = Path::new(SSHD).exists() && which("ssh-keygen") && which("ssh") && is_root();
    if !ok {
        eprintln!("SKIPPED: needs root, {SSHD}, ssh and ssh-keygen");
    }
    ok
}

pub(crate) fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn helper");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    /// Generates keys and config and starts sshd; waits until it accepts connections.
    pub(crate) fn start() -> Sshd {
        let dir = tempfile::Builder::new()
            .prefix("ep")
            .tempdir_in("/tmp")
            .unwrap();
        // Readable by other users: sshd reads authorized_keys as the logging-in user.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let d = dir.path();
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(d.join("client_key")));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        std::fs::set_permissions(
            d.join("authorized_keys"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::fs::create_dir(d.join("c")).unwrap();
        let mut sshd = Sshd {
            port: free_port(),
            dir,
            child: None,
        };
        sshd.new_host_key();
        sshd.spawn();
        sshd
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn new_host_key(&self) {
        let _ = std::fs::remove_file(self.path("host_key"));
        let _ = std::fs::remove_file(self.path("host_key.pub"));
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(self.path("host_key")));
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all("/run/sshd").unwrap();
        let d = self.dir.path().display();
        let config = format!(
            "ListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PermitRootLogin prohibit-password\nStrictModes no\nUsePAM yes\nPidFile {d}/sshd.pid\n\
             MaxSessions 10\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             LogLevel ERROR\n"
        );
        std::fs::write(self.path("sshd_config"), config).unwrap();
        let log = std::fs::File::create(self.path("sshd.log")).unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(self.path("sshd_config"))
            .arg("-p")
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Restarts sshd on the same port with a freshly generated host key.
    pub(crate) fn restart_with_new_host_key(&mut self) {
        self.stop();
        self.new_host_key();
        self.spawn();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
    }

    /// Client options for this sshd: root, the generated key, a private known_hosts file and
    /// no user ssh config.
    pub(crate) fn options(&self, host: &str) -> SshOptions {
        options_for(self.dir.path(), self.port, host)
    }
}

/// [`Sshd::options`] for a harness directory and port (used by a child process of a test,
/// which has no `Sshd` of its own).
pub(crate) fn options_for(dir: &Path, port: u16, host: &str) -> SshOptions {
    let mut o = SshOptions::new(host, "127.0.0.1");
    o.port = Some(port);
    o.user = Some("root".into());
    o.key_file = Some(dir.join("client_key"));
    o.connect_timeout = Duration::from_secs(5);
    o.host_key_checking = HostKeyChecking::AcceptNew;
    o.known_hosts = Some(dir.join("known_hosts"));
    o.ssh_config = Some(PathBuf::from("/dev/null"));
    o.control_dir = dir.join("c");
    o
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Pids of processes whose command line mentions `needle` (e.g. our control socket).
pub(crate) fn pids_mentioning(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmdline).contains(needle) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Waits up to `limit` for `cond` to hold.
pub(crate) fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A temporary local user (for the "sudo needs a password" case), removed on drop.
pub(crate) struct TempUser {
    pub(crate) name: String,
}

impl TempUser {
    pub(crate) fn create() -> Option<TempUser> {
        if !which("useradd") && !Path::new("/usr/sbin/useradd").exists() {
            return None;
        }
        let name = format!("epnp{}", std::process::id());
        let ok = Command::new("/usr/sbin/useradd")
            .args(["-M", "-d", "/nonexistent", "-s", "/bin/sh", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(TempUser { name })
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        // userdel refuses while the user still has processes (an sshd session winding down
        // after its connection was closed), so retry for a few seconds.
        eventually(Duration::from_secs(10), || {
            Command::new("/usr/sbin/userdel")
                .arg(&self.name)
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        });
    }
}

/// Lets a [`TempUser`] run anything as anyone through `sudo -n` (the usual "login as an admin
/// user, become root" setup); the sudoers drop-in is removed on drop.
pub(crate) struct SudoRule {
    path: PathBuf,
}

impl SudoRule {
    pub(crate) fn allow(user: &TempUser) -> Option<SudoRule> {
        let dir = Path::new("/etc/sudoers.d");
        if !dir.is_dir() || !which("sudo") {
            return None;
        }
        let path = dir.join(format!("etcdplay-test-{}", user.name));
        let rule = format!("{} ALL=(ALL:ALL) NOPASSWD: ALL\n", user.name);
        std::fs::write(&path, rule).ok()?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).ok()?;
        Some(SudoRule { path })
    }
}

impl Drop for SudoRule {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The process's peak resident set size so far, in KiB.
pub(crate) fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

fn describe(res: &Result<ExecOutput, TransportError>) -> String {
    match res {
        Ok(out) => format!(
            "succeeded with {} bytes of stdout and {} of stderr",
            out.stdout.len(),
            out.stderr.len()
        ),
        Err(e) => format!("failed: {e}"),
    }
}

/// Runs `script`, which prints `printed` bytes to `stream` (far over the 64 MiB limit), and
/// checks that the request fails with an error naming the host, the stream and the limit, and
/// that the process's peak RSS stays under `max_peak_kib` (see `output_bound*.rs`).
pub(crate) async fn refused_with_bounded_memory(
    t: &dyn Transport,
    script: &str,
    stream: &str,
    printed: u64,
    max_peak_kib: u64,
) {
    let before = peak_rss_kib();
    let started = Instant::now();
    let res = t.exec(ExecRequest::script(script)).await;
    let took = started.elapsed();
    let peak = peak_rss_kib();
    let outcome = describe(&res);
    eprintln!(
        "{}: {printed} bytes to {stream}: {outcome} after {took:.2?}; peak RSS {} MiB before, {} MiB after",
        t.host(),
        before / 1024,
        peak / 1024
    );
    assert!(
        peak < max_peak_kib,
        "peak RSS {} MiB for {printed} bytes of {stream} ({outcome})",
        peak / 1024
    );
    let message = match res {
        Ok(_) => panic!("{printed} bytes of {stream} were accepted"),
        Err(e) => e.to_string(),
    };
    for part in [t.host(), stream, "64 MiB"] {
        assert!(message.contains(part), "{message:?} does not name {part:?}");
    }
}
