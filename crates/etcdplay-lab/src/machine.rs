//! One host's container: prepares its overlay upper dir (hostname, machine-id, host keys),
//! starts `systemd-nspawn --boot` detached in cgroups of its own with its pid recorded, tells
//! whether it still runs, and powers it off (SIGTERM, then SIGKILL for it and anything left in
//! its namespace).

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

use crate::cgroup;
use crate::config::LabConfig;
use crate::error::LabError;
use crate::host::LabHost;
use crate::network::netns_pids;
use crate::prereq::{child_path, resolve};
use crate::ssh::ensure_host_keys;

/// Containers this process started. A process that lives on (a test binary) must reap what it
/// stopped, or its dead children linger as zombies; the CLI exits and leaves them to init.
static CHILDREN: Mutex<Vec<Child>> = Mutex::new(Vec::new());

/// Where nspawn keeps a per-machine directory it does not always remove after a kill.
const NSPAWN_PROPAGATE: &str = "/run/systemd/nspawn/propagate";

/// The overlay's upper dir; nspawn creates its work dir next to it (`.#upper…`), so removing the
/// host dir removes both.
pub(crate) fn upper_dir(config: &LabConfig, host: &LabHost) -> PathBuf {
    config.host_dir(&host.name).join("upper")
}

/// The `systemd-nspawn` arguments that boot `host` from `base` in its namespace. `--keep-unit`
/// and `--register=no` because there is no systemd or machined on the machine to talk to.
pub fn nspawn_args(host: &LabHost, base: &Path, upper: &Path) -> Vec<String> {
    vec![
        "--boot".into(),
        "--keep-unit".into(),
        "--register=no".into(),
        "--link-journal=no".into(),
        format!("--network-namespace-path=/run/netns/{}", host.netns),
        "-D".into(),
        base.display().to_string(),
        format!("--overlay={}:{}:/", base.display(), upper.display()),
        "-M".into(),
        host.name.clone(),
    ]
}

/// Writes what makes this host itself into its upper dir: hostname, hosts entry, a machine-id
/// (kept if already there), and host keys kept per host name across `down`.
pub(crate) async fn prepare_upper(config: &LabConfig, host: &LabHost) -> Result<PathBuf, LabError> {
    let upper = upper_dir(config, host);
    let etc = upper.join("etc");
    std::fs::create_dir_all(&etc).map_err(LabError::io(&etc))?;
    write(&etc.join("hostname"), &format!("{}\n", host.name), 0o644)?;
    // sudo warns "unable to resolve host" unless the hostname resolves.
    write(&etc.join("hosts"), &hosts_file(&host.name), 0o644)?;
    let machine_id = etc.join("machine-id");
    if std::fs::read_to_string(&machine_id)
        .map(|t| t.trim().len() != 32)
        .unwrap_or(true)
    {
        write(&machine_id, &format!("{}\n", new_machine_id()?), 0o444)?;
    }
    let keys = config.host_keys_dir(&host.name);
    ensure_host_keys(&keys).await?;
    let from = keys.join("etc/ssh");
    let to = etc.join("ssh");
    std::fs::create_dir_all(&to).map_err(LabError::io(&to))?;
    for entry in std::fs::read_dir(&from)
        .map_err(LabError::io(&from))?
        .flatten()
    {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("ssh_host_") {
            let dest = to.join(&name);
            std::fs::copy(entry.path(), &dest).map_err(LabError::io(&dest))?;
        }
    }
    Ok(upper)
}

/// `/etc/hosts` of a host: loopback names and its own name.
pub(crate) fn hosts_file(name: &str) -> String {
    format!("127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}

/// A random 128-bit id in machine-id form (32 lowercase hex digits), from the kernel.
fn new_machine_id() -> Result<String, LabError> {
    let source = "/proc/sys/kernel/random/uuid";
    let uuid = std::fs::read_to_string(source).map_err(LabError::io(source))?;
    Ok(uuid.trim().replace('-', ""))
}

/// Starts the container detached: its own process group (a Ctrl-C on `lab up` must not kill
/// it), stdin from /dev/null, console and nspawn output to the host's log. Records the pid.
pub(crate) fn start(
    config: &LabConfig,
    host: &LabHost,
    base: &Path,
    upper: &Path,
) -> Result<i32, LabError> {
    std::fs::create_dir_all(&config.run_dir).map_err(LabError::io(&config.run_dir))?;
    let log_path = config.log_file(&host.name);
    let log = File::create(&log_path).map_err(LabError::io(&log_path))?;
    let log_err = log.try_clone().map_err(LabError::io(&log_path))?;
    // nspawn is started through `sh`, which first moves itself into the host's own cgroups.
    let cgroups = cgroup::create(&cgroup::host_cgroups(&host.name));
    let child = Command::new(resolve("sh"))
        .arg("-c")
        .arg(cgroup::ENTER_AND_EXEC)
        .arg("sh")
        .args(&cgroups)
        .arg("--")
        .arg(resolve("systemd-nspawn"))
        .args(nspawn_args(host, base, upper))
        .env("PATH", child_path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|e| LabError::Command {
            command: format!("systemd-nspawn -M {}", host.name),
            status: "not started".into(),
            stderr: e.to_string(),
        })?;
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let pid_file = config.pid_file(&host.name);
    write(&pid_file, &format!("{pid}\n"), 0o644)?;
    if let Ok(mut children) = CHILDREN.lock() {
        children.push(child);
    }
    wait_exec(pid, host);
    Ok(pid)
}

/// Waits (briefly) until the `sh` that enters the cgroups has become systemd-nspawn, so that
/// [`running_pid`] finds it from the start.
fn wait_exec(pid: i32, host: &LabHost) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !is_our_nspawn(pid, host) && Instant::now() < deadline {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if process_state(&stat).is_none_or(|s| s == 'Z' || s == 'X') {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The recorded pid of the host's nspawn, if the file holds one.
pub(crate) fn recorded_pid(config: &LabConfig, host: &LabHost) -> Option<i32> {
    std::fs::read_to_string(config.pid_file(&host.name))
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
}

/// The pid of the host's nspawn if it is still running. A recycled pid is not mistaken for
/// it: the process must be a live systemd-nspawn using this host's namespace.
pub fn running_pid(config: &LabConfig, host: &LabHost) -> Option<i32> {
    let pid = recorded_pid(config, host)?;
    is_our_nspawn(pid, host).then_some(pid)
}

/// Whether `pid` is a live (not zombie) systemd-nspawn in `host`'s namespace.
fn is_our_nspawn(pid: i32, host: &LabHost) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let stat = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
    let alive = process_state(&stat).is_some_and(|s| s != 'Z' && s != 'X');
    let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    let wanted = format!("--network-namespace-path=/run/netns/{}", host.netns);
    let ours = cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == wanted.as_bytes())
        && cmdline
            .split(|b| *b == 0)
            .next()
            .is_some_and(|a| a.ends_with(b"systemd-nspawn"));
    alive && ours
}

/// The state letter of a `/proc/PID/stat` line (after the parenthesized command name).
pub(crate) fn process_state(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Powers the host off: SIGTERM makes nspawn shut the container's systemd down; after
/// `timeout`, SIGKILL. Killing nspawn does not kill the container, so anything still living in
/// the host's namespace is killed too. Returns whether SIGKILL was needed.
pub(crate) async fn stop(config: &LabConfig, host: &LabHost) -> Result<bool, LabError> {
    let mut killed = false;
    if let Some(pid) = running_pid(config, host) {
        signal(pid, Signal::TERM);
        if !wait_gone(pid, host, config.stop_timeout).await {
            signal(pid, Signal::KILL);
            killed = true;
            wait_gone(pid, host, Duration::from_secs(5)).await;
        }
    }
    reap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Killed early, nspawn may leave a fork of itself that has not joined the namespace yet.
        let mut left = netns_pids(&host.netns).await?;
        left.extend(nspawn_forks(host));
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            return Err(LabError::Command {
                command: format!("kill processes in {}", host.netns),
                status: "timed out".into(),
                stderr: format!("still running: {left:?}"),
            });
        }
        killed = true;
        for pid in left {
            signal(pid, Signal::KILL);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    reap();
    for path in [config.pid_file(&host.name), config.log_file(&host.name)] {
        if path.exists() {
            std::fs::remove_file(&path).map_err(LabError::io(&path))?;
        }
    }
    // nspawn leaves this (empty) directory behind when it is killed; it is named after our host.
    let _ = std::fs::remove_dir(Path::new(NSPAWN_PROPAGATE).join(&host.name));
    cgroup::remove(&cgroup::host_cgroups(&host.name));
    Ok(killed)
}

/// Live systemd-nspawn processes (nspawn and its forks) started for this host.
fn nspawn_forks(host: &LabHost) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
                .filter(|pid| is_our_nspawn(*pid, host))
                .collect()
        })
        .unwrap_or_default()
}

/// Sends a signal, ignoring a process that is already gone.
fn signal(pid: i32, sig: Signal) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = kill_process(pid, sig);
    }
}

/// Waits until the host's nspawn is gone; false on timeout.
async fn wait_gone(pid: i32, host: &LabHost, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while is_our_nspawn(pid, host) {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    true
}

/// Collects the exit status of containers this process started and that have ended.
pub(crate) fn reap() {
    if let Ok(mut children) = CHILDREN.lock() {
        children.retain_mut(|child| !matches!(child.try_wait(), Ok(Some(_)) | Err(_)));
    }
}

/// Writes a small file with a mode.
fn write(path: &Path, text: &str, mode: u32) -> Result<(), LabError> {
    std::fs::write(path, text).map_err(LabError::io(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(LabError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nspawn_boots_in_the_host_namespace_with_an_overlay() {
        let host = LabHost::new(3, &LabConfig::default());
        let args = nspawn_args(&host, Path::new("/b"), Path::new("/h/lab3/upper"));
        assert_eq!(
            args,
            [
                "--boot",
                "--keep-unit",
                "--register=no",
                "--link-journal=no",
                "--network-namespace-path=/run/netns/etcdplay-lab3",
                "-D",
                "/b",
                "--overlay=/b:/h/lab3/upper:/",
                "-M",
                "lab3",
            ]
        );
    }

    #[test]
    fn parses_process_state_after_odd_names() {
        assert_eq!(process_state("42 (systemd-nspawn) S 1 42"), Some('S'));
        assert_eq!(process_state("42 (a) b) Z 1"), Some('Z'));
        assert_eq!(process_state("garbage"), None);
    }

    #[test]
    fn machine_ids_are_fresh_hex() {
        let a = new_machine_id().expect("id");
        let b = new_machine_id().expect("id");
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn hosts_file_resolves_own_name() {
        assert!(hosts_file("lab2").lines().any(|l| l == "127.0.1.1\tlab2"));
    }

    #[test]
    fn foreign_pid_is_not_ours() {
        let host = LabHost::new(1, &LabConfig::default());
        assert!(!is_our_nspawn(std::process::id() as i32, &host));
    }
}
