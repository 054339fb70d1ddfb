//! The SSH transport: one multiplexed `ssh` master per host (the `openssh` crate with native
//! mux), and on it a small pool of long-lived remote shells that carry requests with one round
//! trip each. Large uploads stream over a channel of their own into the atomic put script.

use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::error::too_large_names_file;
use crate::host_agent::{upload_refused, AgentUse, HostAgent};
use crate::remote_shell::RemoteShell;
use crate::script::{
    become_refused, framed_put_script, framed_put_then_read, put_script, sh_quote, shell_command,
};
use crate::shell_pool::ShellPool;
use crate::shell_protocol::{encode_request, CallError};
use crate::ssh_args::config_text;
use crate::ssh_error_text::{describe_connect_error, error_chain};
use crate::{
    Become, ExecOutput, ExecRequest, HostKeyChecking, PutRequest, SshOptions, SshSetting,
    Transport, TransportError, MAX_EXEC_OUTPUT, MAX_GET_SIZE,
};

/// Uploads larger than this get their own channel instead of passing through a remote shell,
/// which would first copy them into its temporary directory.
const BULK_THRESHOLD: usize = 1024 * 1024;
/// Concurrent bulk upload channels per host; with the shell pool this stays below sshd's
/// `MaxSessions 10`.
const MAX_BULK_CHANNELS: usize = 2;
/// What openssh appends to the control directory: `/.ssh-connectionXXXXXX/master`.
const CONTROL_SUFFIX_LEN: usize = "/.ssh-connectionXXXXXX/master".len();
/// Unix socket paths must fit `sun_path` (108 bytes including the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Descriptors of this process an open, idle connection holds: its one remote shell's mux
/// session (the connection to the master's control socket, the shell's stdin and stdout). The
/// master is a process of its own and holds its descriptors itself. A host with several
/// requests at once opens more shells (up to 4, and 2 upload channels: 18 descriptors), which
/// only hosts many tasks are delegated to reach.
pub const DESCRIPTORS_PER_IDLE_CONNECTION: usize = 3;

/// How an upload channel ended without an error.
enum UploadEnd {
    Written,
    /// The agent it started refused to serve: it read nothing and wrote nothing.
    AgentRefused,
}

/// A connection to one host over SSH.
#[derive(Debug)]
pub struct SshTransport {
    host: String,
    /// `None` once closed. Shells and bulk channels hold clones of the `Arc`, so the master
    /// lives until the last of them is gone.
    session: Mutex<Option<Arc<Session>>>,
    control_socket: PathBuf,
    pool: ShellPool,
    bulk: Semaphore,
    /// Request ids, checked against the answer so a stream out of step is noticed.
    next_id: AtomicU64,
    /// Whether shells start the host agent, and whether closing installs it.
    agent: AgentUse,
}

impl SshTransport {
    /// Opens the master connection and the first remote shell. Connection failures, timeouts
    /// and host key problems are [`TransportError::Unreachable`] with ssh's own explanation.
    pub async fn connect(opts: SshOptions) -> Result<SshTransport, TransportError> {
        let host = opts.host.clone();
        let unreachable = |reason: String| TransportError::Unreachable {
            host: host.clone(),
            reason,
        };
        // The openssh crate puts the destination last without a `--`: an address or user that
        // starts with `-` would be read by ssh as an option (`-oProxyCommand=...`).
        if let Some(bad) = [Some(opts.address.as_str()), opts.user.as_deref()]
            .into_iter()
            .flatten()
            .find(|v| v.starts_with('-'))
        {
            return Err(unreachable(format!(
                "'{bad}' starts with '-': ssh would take it for an option; refused"
            )));
        }
        check_control_dir(&opts.control_dir).map_err(|source| TransportError::Io {
            host: host.clone(),
            source,
        })?;
        // Removed when this function returns: the master has read it by then.
        let generated_config = write_extra_config(&opts).map_err(|source| TransportError::Io {
            host: host.clone(),
            source,
        })?;
        let policy = match opts.host_key_checking {
            HostKeyChecking::SshConfig => match policy_of_settings(&opts.extra_settings) {
                Some(policy) => policy,
                None => configured_host_key_policy(&opts, generated_config.as_deref()).await,
            },
            explicit => explicit,
        };
        let builder = session_builder(&opts, generated_config.as_deref(), policy);
        // ssh's ConnectTimeout covers TCP connect and banner exchange; this outer bound also
        // covers a server that stalls later in the handshake.
        let limit = opts.connect_timeout * 2 + Duration::from_secs(5);
        let session = match tokio::time::timeout(limit, builder.connect_mux(&opts.address)).await {
            Err(_) => {
                return Err(unreachable(format!(
                    "ssh connection timed out after {}s",
                    limit.as_secs()
                )))
            }
            Ok(Err(e)) => return Err(unreachable(describe_connect_error(&e))),
            Ok(Ok(session)) => Arc::new(session),
        };
        let control_socket = session.control_socket().to_path_buf();
        let agent = AgentUse::new(opts.agent.clone());
        let first = RemoteShell::spawn(Arc::clone(&session), &agent)
            .await
            .map_err(|e| {
                unreachable(format!(
                    "could not start the remote shell: {}",
                    error_chain(&e)
                ))
            })?;
        let pool = ShellPool::new();
        pool.add_idle(first);
        Ok(SshTransport {
            host: opts.host,
            session: Mutex::new(Some(session)),
            control_socket,
            pool,
            bulk: Semaphore::new(MAX_BULK_CHANNELS),
            next_id: AtomicU64::new(1),
            agent,
        })
    }

    /// The ssh control socket of the master connection (for diagnostics and tests).
    pub fn control_socket(&self) -> &Path {
        &self.control_socket
    }

    fn session(&self) -> Result<Arc<Session>, TransportError> {
        let guard = self.session.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .clone()
            .ok_or_else(|| self.unreachable("the connection was closed".into()))
    }

    fn unreachable(&self, reason: String) -> TransportError {
        TransportError::Unreachable {
            host: self.host.clone(),
            reason,
        }
    }

    /// Turns a failure on an open connection into `Unreachable`, telling a dropped connection
    /// from a shell that died on its own.
    async fn broken(
        &self,
        session: &Session,
        what: &str,
        e: impl std::fmt::Display,
    ) -> TransportError {
        match session.check().await {
            Err(check) => {
                self.unreachable(format!("connection lost ({what}): {}", error_chain(&check)))
            }
            Ok(()) => self.unreachable(format!("{what} failed: {e}")),
        }
    }

    fn become_refused(
        &self,
        become_: Option<&Become>,
        rc: i32,
        stderr: &[u8],
    ) -> Option<TransportError> {
        become_refused(&self.host, become_?, rc, stderr)
    }

    /// Streams a large upload over a channel of its own into the atomic put script, or into
    /// the host agent where it serves this connection and writes such a file as the script
    /// would (see [`HostAgent::bulk_put_script`]). The content goes through the channel's
    /// stdin; only the script (paths, mode) is an argument.
    async fn put_bulk(&self, request: &PutRequest) -> Result<(), TransportError> {
        let by_agent = self.agent.serving().filter(|_| {
            request.become_.is_none()
                && request.owner.is_none()
                && request.group.is_none()
                && request.mode.is_none_or(|m| m <= 0o7777)
        });
        if let Some(agent) = by_agent {
            let len = request.content.len();
            let script = agent.bulk_put_script(request, len, &put_script(request, len));
            match self.stream_upload(request, &script, true).await? {
                UploadEnd::Written => return Ok(()),
                UploadEnd::AgentRefused => self.agent.turn_off(),
            }
        }
        let script = put_script(request, request.content.len());
        self.stream_upload(request, &script, false).await?;
        Ok(())
    }

    /// One upload channel running `script` with the content on its stdin; `may_start_agent`
    /// when the script may `exec` the agent, whose refusal is then told apart from a failure.
    async fn stream_upload(
        &self,
        request: &PutRequest,
        script: &str,
        may_start_agent: bool,
    ) -> Result<UploadEnd, TransportError> {
        let session = self.session()?;
        let _permit = self
            .bulk
            .acquire()
            .await
            .map_err(|_| self.unreachable("the connection was closed".into()))?;
        let (argv, prefix) = shell_command(request.become_.as_ref(), script);
        let mut child = Session::to_command(Arc::clone(&session), &argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .await
            .map_err(|e| {
                self.unreachable(format!(
                    "could not open an upload channel: {}",
                    error_chain(&e)
                ))
            })?;
        let (Some(mut stdin), Some(mut stderr_pipe)) =
            (child.stdin().take(), child.stderr().take())
        else {
            return Err(self.unreachable("upload channel has no pipes".into()));
        };
        // Write and read concurrently: if the script fails early it stops reading, and its
        // error message must still be collected.
        let content = &request.content;
        let write = async move {
            let r = match stdin.write_all(&prefix).await {
                Ok(()) => stdin.write_all(content).await,
                Err(e) => Err(e),
            };
            let _ = stdin.shutdown().await;
            r
        };
        let mut stderr = Vec::new();
        let read = stderr_pipe.read_to_end(&mut stderr);
        let (written, read) = tokio::join!(write, read);
        let status: Result<ExitStatus, openssh::Error> = child.wait().await;
        let rc = match status {
            Ok(status) => status.code().unwrap_or(-1),
            Err(e) => return Err(self.broken(&session, "upload", error_chain(&e)).await),
        };
        if let Some(e) = self.become_refused(request.become_.as_ref(), rc, &stderr) {
            return Err(e);
        }
        if may_start_agent && upload_refused(rc, &stderr) {
            return Ok(UploadEnd::AgentRefused);
        }
        if rc != 0 {
            return Err(self.file_error(&request.dest, &stderr));
        }
        // The script succeeded, so it read all of stdin; a write error would have made it fail.
        if let Err(e) = written.and(read.map(|_| ())) {
            return Err(self.broken(&session, "upload", e).await);
        }
        Ok(UploadEnd::Written)
    }

    /// Runs a script in a pooled remote shell; an answer announcing more than `limit` bytes of
    /// stdout or of stderr is refused before any of it is read.
    async fn run(&self, request: ExecRequest, limit: u64) -> Result<ExecOutput, TransportError> {
        let session = self.session()?;
        // Framing errors are caught before a shell is taken, so a bad request costs no shell.
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = encode_request(id, &request).map_err(|e| TransportError::Io {
            host: self.host.clone(),
            source: io::Error::new(io::ErrorKind::InvalidInput, e.0),
        })?;
        let mut lease = self
            .pool
            .checkout(&session, &self.agent)
            .await
            .map_err(|e| match e {
                openssh::Error::Disconnected => {
                    self.unreachable("the connection was closed".into())
                }
                e => self.unreachable(format!(
                    "could not start a remote shell: {}",
                    error_chain(&e)
                )),
            })?;
        let out = match lease.shell.call(id, &frame, limit).await {
            Ok(out) => out,
            // The shell is dropped with the lease: its stream is out of step. Closing its
            // channel makes the remote loop's lifeline kill whatever it still runs and remove
            // its directory, the unread output included.
            Err(CallError::TooLarge { stream, limit }) => {
                drop(lease);
                return Err(TransportError::OutputTooLarge {
                    host: self.host.clone(),
                    what: format!("the command's {stream}"),
                    limit,
                });
            }
            Err(CallError::Io(e)) => {
                drop(lease);
                return Err(self.broken(&session, "remote shell", e).await);
            }
        };
        self.pool.checkin(lease);
        if let Some(e) = self.become_refused(request.become_.as_ref(), out.rc, &out.stderr) {
            return Err(e);
        }
        Ok(out)
    }

    /// Installs the host agent (see [`crate::host_agent`]): its check, then the upload over
    /// a channel of its own, streamed from the copy every host shares.
    async fn install_agent(&self, agent: &HostAgent) -> Result<(), TransportError> {
        let out = self.exec(agent.install_check()).await?;
        if HostAgent::wants_upload(&out) {
            self.put_bulk(&agent.upload()).await?;
        }
        Ok(())
    }

    fn file_error(&self, path: &str, stderr: &[u8]) -> TransportError {
        TransportError::File {
            host: self.host.clone(),
            path: path.to_string(),
            message: String::from_utf8_lossy(stderr).trim().to_string(),
        }
    }
}

#[async_trait]
impl Transport for SshTransport {
    fn host(&self) -> &str {
        &self.host
    }

    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        self.run(request, MAX_EXEC_OUTPUT).await
    }

    async fn put(&self, request: PutRequest) -> Result<(), TransportError> {
        if request.content.len() > BULK_THRESHOLD {
            return self.put_bulk(&request).await;
        }
        let out = self.exec(framed_put_script(&request)).await?;
        if out.rc != 0 {
            return Err(self.file_error(&request.dest, &out.stderr));
        }
        Ok(())
    }

    /// One request when the file is small enough for the remote loop and `after` runs as the
    /// put does: the write, then `after` in a subshell whose exit status is dropped, so that a
    /// non-zero exit can only be the write's (`set -e` stops before `after`).
    async fn put_then_read(
        &self,
        request: PutRequest,
        after: ExecRequest,
    ) -> Result<ExecOutput, TransportError> {
        if request.content.len() > BULK_THRESHOLD || request.become_ != after.become_ {
            self.put(request).await?;
            return self.exec(after).await;
        }
        let out = self.exec(framed_put_then_read(&request, after)).await?;
        if out.rc != 0 {
            return Err(self.file_error(&request.dest, &out.stderr));
        }
        Ok(out)
    }

    async fn get(&self, path: &str, become_: Option<&Become>) -> Result<Vec<u8>, TransportError> {
        let mut req = ExecRequest::script(format!("cat -- {}", sh_quote(path)));
        req.become_ = become_.cloned();
        let out = self
            .run(req, MAX_GET_SIZE)
            .await
            .map_err(|e| too_large_names_file(e, path))?;
        if out.rc != 0 {
            return Err(self.file_error(path, &out.stderr));
        }
        Ok(out.stdout)
    }

    async fn close(&self) -> Result<(), TransportError> {
        if let Some(agent) = self.agent.to_install() {
            // A cache for the next run: a host where it cannot be installed is served by the
            // shell loop as before, so a failure here is not the run's.
            let _ = self.install_agent(agent).await;
        }
        let session = self
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.pool.close().await;
        self.bulk.close();
        let Some(session) = session else {
            return Ok(());
        };
        match Arc::try_unwrap(session) {
            Ok(session) => session.close().await.map_err(|e| TransportError::Io {
                host: self.host.clone(),
                source: io::Error::other(error_chain(&e)),
            }),
            // A request is still running; the master is shut down when its last user
            // drops the session.
            Err(_shared) => Ok(()),
        }
    }
}

/// Writes the client config carrying the inventory's extra ssh settings, if there are any,
/// into the (private) control directory.
fn write_extra_config(opts: &SshOptions) -> io::Result<Option<tempfile::TempPath>> {
    if opts.extra_settings.is_empty() {
        return Ok(None);
    }
    let text = config_text(&opts.extra_settings, opts.ssh_config.as_deref());
    let mut file = tempfile::Builder::new()
        .prefix("etcdplay-ssh-")
        .suffix(".conf")
        .tempfile_in(&opts.control_dir)?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    Ok(Some(file.into_temp_path()))
}

/// The host key policy the user's ssh configuration gives this host, read with `ssh -G` (the
/// openssh crate always puts a `StrictHostKeyChecking` on ssh's command line, which would
/// override the configuration). `ask`, OpenSSH's default, refuses unknown hosts in batch mode:
/// strict. Anything unreadable is strict too.
async fn configured_host_key_policy(
    opts: &SshOptions,
    generated_config: Option<&Path>,
) -> HostKeyChecking {
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.arg("-G");
    if let Some(config) = generated_config.or(opts.ssh_config.as_deref()) {
        cmd.arg("-F").arg(config);
    }
    if let Some(user) = &opts.user {
        cmd.arg("-l").arg(user);
    }
    if let Some(port) = opts.port {
        cmd.arg("-p").arg(port.to_string());
    }
    cmd.arg("--").arg(&opts.address);
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    match cmd.output().await {
        Ok(out) if out.status.success() => {
            host_key_policy_of(&String::from_utf8_lossy(&out.stdout))
        }
        _ => HostKeyChecking::Strict,
    }
}

/// The host key policy the inventory's own ssh arguments set, if they set one. They come
/// first in the generated config and ssh keeps the first value it reads, so this is what
/// `ssh -G` would print, without its process (about 15 ms of the control node's CPU per host,
/// before the connection can start).
fn policy_of_settings(settings: &[SshSetting]) -> Option<HostKeyChecking> {
    let set = settings
        .iter()
        .find(|s| s.keyword.eq_ignore_ascii_case("StrictHostKeyChecking"))?;
    Some(host_key_policy_of(&format!(
        "stricthostkeychecking {}",
        set.value
    )))
}

/// The `stricthostkeychecking` line of `ssh -G` output as a policy.
fn host_key_policy_of(effective_config: &str) -> HostKeyChecking {
    let value = effective_config.lines().find_map(|l| {
        let (key, value) = l.split_once(' ')?;
        key.eq_ignore_ascii_case("stricthostkeychecking")
            .then(|| value.trim().to_ascii_lowercase())
    });
    match value.as_deref() {
        Some("accept-new") => HostKeyChecking::AcceptNew,
        Some("false" | "no" | "off") => HostKeyChecking::Off,
        _ => HostKeyChecking::Strict,
    }
}

fn session_builder(
    opts: &SshOptions,
    generated_config: Option<&Path>,
    policy: HostKeyChecking,
) -> SessionBuilder {
    let mut b = SessionBuilder::default();
    if let Some(user) = &opts.user {
        b.user(user.clone());
    }
    if let Some(port) = opts.port {
        b.port(port);
    }
    if let Some(key) = &opts.key_file {
        b.keyfile(key);
    }
    if let Some(config) = generated_config.or(opts.ssh_config.as_deref()) {
        b.config_file(config);
    }
    b.known_hosts_check(match policy {
        HostKeyChecking::SshConfig | HostKeyChecking::Strict => KnownHosts::Strict,
        HostKeyChecking::AcceptNew => KnownHosts::Add,
        HostKeyChecking::Off => KnownHosts::Accept,
    });
    // "off" from the user's own configuration keeps their known_hosts settings as they are.
    match (&opts.known_hosts, opts.host_key_checking) {
        (Some(file), _) => {
            b.user_known_hosts_file(file);
        }
        // "off" must not pollute (or be vetoed by) the user's known_hosts.
        (None, HostKeyChecking::Off) => {
            b.user_known_hosts_file("/dev/null");
        }
        (None, _) => {}
    }
    b.connect_timeout(Duration::from_secs(opts.connect_timeout_secs()));
    // Notice a dead peer mid-run within ~45 s instead of hanging on TCP timeouts.
    b.server_alive_interval(Duration::from_secs(15));
    b.control_directory(&opts.control_dir);
    let idle = usize::try_from(opts.control_persist.as_secs()).unwrap_or(usize::MAX);
    b.control_persist(ControlPersist::IdleFor(
        NonZeroUsize::new(idle).unwrap_or(NonZeroUsize::MIN),
    ));
    b
}

fn check_control_dir(dir: &Path) -> io::Result<()> {
    let len = dir.as_os_str().len() + CONTROL_SUFFIX_LEN;
    if len > MAX_SOCKET_PATH {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "control directory {} is too long for an ssh control socket ({len} > {MAX_SOCKET_PATH} bytes); choose a shorter one",
                dir.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn an_address_or_user_that_looks_like_an_option_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (address, user) in [("-oProxyCommand=touch /tmp/x", None), ("h", Some("-oX=y"))] {
            let mut opts = SshOptions::new("h", address);
            opts.user = user.map(str::to_string);
            opts.control_dir = dir.path().to_path_buf();
            let Err(err) = SshTransport::connect(opts).await else {
                panic!("{address:?}/{user:?} was not refused");
            };
            assert!(
                err.to_string().contains("ssh would take it for an option"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_effective_ssh_config_decides_the_host_key_policy() {
        let of = |v: &str| host_key_policy_of(&format!("user root\nstricthostkeychecking {v}\n"));
        assert_eq!(of("true"), HostKeyChecking::Strict);
        assert_eq!(of("ask"), HostKeyChecking::Strict);
        assert_eq!(of("accept-new"), HostKeyChecking::AcceptNew);
        assert_eq!(of("false"), HostKeyChecking::Off);
        assert_eq!(host_key_policy_of("user root\n"), HostKeyChecking::Strict);
    }

    #[tokio::test]
    async fn a_users_ssh_config_is_read_not_overridden() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            "Host relaxed\n  StrictHostKeyChecking no\nHost *\n  StrictHostKeyChecking yes\n",
        )
        .unwrap();
        let mut opts = SshOptions::new("h", "relaxed");
        opts.ssh_config = Some(config.clone());
        assert_eq!(
            configured_host_key_policy(&opts, None).await,
            HostKeyChecking::Off
        );
        let mut opts = SshOptions::new("h", "127.0.0.1");
        opts.ssh_config = Some(config);
        assert_eq!(
            configured_host_key_policy(&opts, None).await,
            HostKeyChecking::Strict
        );
        // With no configuration at all, OpenSSH's default (ask) holds: strict in batch mode.
        let mut opts = SshOptions::new("h", "127.0.0.1");
        opts.ssh_config = Some(PathBuf::from("/dev/null"));
        assert_eq!(
            configured_host_key_policy(&opts, None).await,
            HostKeyChecking::Strict
        );
    }

    /// A policy the inventory's ssh arguments set is read from them, and is what `ssh -G`
    /// says of the config they are written to, whatever the user's own config says.
    #[tokio::test]
    async fn the_inventorys_own_policy_needs_no_ssh_g() {
        let dir = tempfile::tempdir().unwrap();
        let user_config = dir.path().join("config");
        std::fs::write(&user_config, "Host *\n  StrictHostKeyChecking accept-new\n").unwrap();
        for (value, want) in [
            ("no", HostKeyChecking::Off),
            ("off", HostKeyChecking::Off),
            ("yes", HostKeyChecking::Strict),
            ("ask", HostKeyChecking::Strict),
            ("accept-new", HostKeyChecking::AcceptNew),
        ] {
            let mut opts = SshOptions::new("h", "127.0.0.1");
            opts.ssh_config = Some(user_config.clone());
            opts.control_dir = dir.path().to_path_buf();
            opts.extra_settings = vec![
                SshSetting {
                    keyword: "UserKnownHostsFile".into(),
                    value: "/dev/null".into(),
                },
                SshSetting {
                    keyword: "StrictHostKeyChecking".into(),
                    value: value.into(),
                },
            ];
            assert_eq!(
                policy_of_settings(&opts.extra_settings),
                Some(want),
                "{value}"
            );
            let generated = write_extra_config(&opts).unwrap().unwrap();
            assert_eq!(
                configured_host_key_policy(&opts, Some(&generated)).await,
                want,
                "ssh -G with {value}"
            );
        }
        assert_eq!(policy_of_settings(&[]), None);
    }

    use super::*;

    #[test]
    fn long_control_dirs_are_refused_early() {
        assert!(check_control_dir(Path::new("/tmp")).is_ok());
        let long = PathBuf::from(format!("/tmp/{}", "x".repeat(100)));
        let err = check_control_dir(&long).unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");
    }
}
