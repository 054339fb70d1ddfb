//! Helpers of this crate's unit tests.

/// Whether process `pid` is alive; a zombie (killed, not yet reaped) counts as gone.
pub(crate) fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// Creates (once) a user with a home, a login shell and `password`; `false` without root.
pub(crate) fn ensure_user(name: &str, password: &str) -> bool {
    if !is_root() {
        return false;
    }
    let exists = || {
        std::process::Command::new("id")
            .arg(name)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !exists() {
        // Another test may be creating the same user at the same moment.
        let _ = std::process::Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", name])
            .status();
        if !exists() {
            return false;
        }
    }
    let mut chpasswd = std::process::Command::new("chpasswd")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("chpasswd");
    use std::io::Write;
    let mut input = chpasswd.stdin.take().expect("stdin");
    writeln!(input, "{name}:{password}").expect("write");
    drop(input);
    chpasswd.wait().expect("chpasswd").success()
}

/// Whether the tests run as root.
pub(crate) fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

/// The host agent built with this workspace (`target/<profile>/etcdplay-agent`, beside the
/// `deps` directory this test binary is in).
pub(crate) fn agent_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory")
        .join(crate::AGENT_NAME);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (`cargo build --workspace`, as scripts/test does)",
        path.display()
    );
    path
}

/// A [`crate::HostAgent`] whose cache directory is `dir`.
pub(crate) fn agent_in(dir: &std::path::Path) -> crate::HostAgent {
    let binary = crate::ShippedBinary::load(&agent_binary()).expect("agent loads");
    crate::HostAgent {
        binary: std::sync::Arc::new(binary),
        cache_dir: dir.to_string_lossy().into_owned(),
        may_install: true,
    }
}

/// A private directory (0700) holding the agent under the name a connection looks for.
pub(crate) fn private_agent_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let agent = agent_in(dir.path());
    let path = dir
        .path()
        .join(format!("{}-{}", crate::AGENT_NAME, agent.binary.tag()));
    std::fs::copy(agent_binary(), &path).expect("copy the agent");
    (dir, path)
}

/// Starts `command` as sshd starts a session's command: leading a process group of its own
/// (which a lifeline kills), its stdin and stdout piped, killed when dropped.
pub(crate) fn spawn_like_sshd(command: &mut tokio::process::Command) -> tokio::process::Child {
    command
        .process_group(0)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn")
}
