//! The local transport: runs scripts on the control node itself. It serves `connection: local`,
//! `delegate_to: localhost`, and unit tests of modules, which then exercise real shell commands
//! against a temporary directory instead of a fake.

use async_trait::async_trait;
use rustix::process::{kill_process_group, Pid, Signal};
use std::process::{ExitStatus, Stdio};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::error::too_large_names_file;
use crate::script::{atomic_put_script, become_refused, sh_quote, shell_command, strip_su_prompt};
use crate::{
    Become, BecomeMethod, ExecOutput, ExecRequest, PutRequest, Transport, TransportError,
    MAX_EXEC_OUTPUT, MAX_GET_SIZE,
};

/// Runs requests with the local `/bin/sh`.
#[derive(Debug, Clone)]
pub struct LocalTransport {
    host: String,
}

impl LocalTransport {
    /// A local transport that reports itself as inventory host `host`.
    pub fn new(host: impl Into<String>) -> Self {
        LocalTransport { host: host.into() }
    }

    fn io_error(&self, source: std::io::Error) -> TransportError {
        TransportError::Io {
            host: self.host.clone(),
            source,
        }
    }

    /// Runs a script, keeping at most `limit` bytes of its stdout and of its stderr. Past that
    /// the script's process group is killed and the request fails: the output is never read
    /// whole first and measured afterwards.
    async fn run(&self, request: ExecRequest, limit: u64) -> Result<ExecOutput, TransportError> {
        let (argv, prefix) = shell_command(request.become_.as_ref(), &request.script);
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .envs(request.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A process group of its own, so that a cancelled request can kill what the script
            // started in the background too (see `Script`).
            .process_group(0)
            .kill_on_drop(true);
        let mut script = Script::new(command.spawn().map_err(|e| self.io_error(e))?);
        let mut stdin = script.child.stdin.take().expect("stdin was piped");
        let mut stdout = script.child.stdout.take().expect("stdout was piped");
        let mut stderr = script.child.stderr.take().expect("stderr was piped");
        let mut input = prefix;
        input.extend_from_slice(&request.stdin);
        // Feed stdin concurrently with reading the output, so a script that writes a lot before
        // reading its input cannot deadlock against us.
        let feeder = tokio::spawn(async move {
            let _ = stdin.write_all(&input).await;
            drop(stdin);
        });
        let read = tokio::try_join!(
            read_capped(&mut stdout, limit, "stdout"),
            read_capped(&mut stderr, limit, "stderr"),
        );
        let (out_bytes, err_bytes) = match read {
            Ok(both) => both,
            Err(failed) => {
                // Closing our ends first: a writer we cannot signal (a sudo'd root process when
                // etcdplay is not root) then gets EPIPE instead of blocking on a full pipe.
                drop(stdout);
                drop(stderr);
                feeder.abort();
                script.kill_group();
                let _ = script.child.start_kill();
                let _ = script.wait().await;
                return Err(match failed {
                    Capped::Io(e) => self.io_error(e),
                    Capped::TooLarge(stream) => TransportError::OutputTooLarge {
                        host: self.host.clone(),
                        what: format!("the command's {stream}"),
                        limit,
                    },
                });
            }
        };
        let status = script.wait().await.map_err(|e| self.io_error(e))?;
        let _ = feeder.await;
        let mut out = ExecOutput {
            rc: status.code().unwrap_or(-1),
            stdout: out_bytes,
            stderr: err_bytes,
        };
        if let Some(b) = &request.become_ {
            if matches!(&b.method, BecomeMethod::Su(su) if su.password.is_some()) {
                strip_su_prompt(&mut out.stderr);
            }
            if let Some(e) = become_refused(&self.host, b, out.rc, &out.stderr) {
                return Err(e);
            }
        }
        Ok(out)
    }
}

/// Why one output stream of a script could not be read whole.
enum Capped {
    Io(std::io::Error),
    /// More than the limit arrived on this stream (`stdout` or `stderr`).
    TooLarge(&'static str),
}

/// Reads `reader` to its end, holding no more than `limit` bytes: as soon as more arrive it
/// stops reading and fails, so memory stays bounded whatever the script prints.
async fn read_capped<R: AsyncRead + Unpin>(
    reader: &mut R,
    limit: u64,
    stream: &'static str,
) -> Result<Vec<u8>, Capped> {
    let mut kept = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut chunk).await.map_err(Capped::Io)?;
        if n == 0 {
            return Ok(kept);
        }
        if (kept.len() + n) as u64 > limit {
            return Err(Capped::TooLarge(stream));
        }
        kept.extend_from_slice(&chunk[..n]);
    }
}

#[async_trait]
impl Transport for LocalTransport {
    fn host(&self) -> &str {
        &self.host
    }

    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        self.run(request, MAX_EXEC_OUTPUT).await
    }

    async fn put(&self, request: PutRequest) -> Result<(), TransportError> {
        let dest = request.dest.clone();
        let out = self.exec(atomic_put_script(&request)).await?;
        if out.rc != 0 {
            return Err(TransportError::File {
                host: self.host.clone(),
                path: dest,
                message: out.stderr_str().trim().to_string(),
            });
        }
        Ok(())
    }

    async fn get(&self, path: &str, become_: Option<&Become>) -> Result<Vec<u8>, TransportError> {
        let mut req = ExecRequest::script(format!("cat -- {}", sh_quote(path)));
        req.become_ = become_.cloned();
        let out = self
            .run(req, MAX_GET_SIZE)
            .await
            .map_err(|e| too_large_names_file(e, path))?;
        if out.rc != 0 {
            return Err(TransportError::File {
                host: self.host.clone(),
                path: path.to_string(),
                message: out.stderr_str().trim().to_string(),
            });
        }
        Ok(out.stdout)
    }

    async fn close(&self) -> Result<(), TransportError> {
        Ok(())
    }
}

/// A running local script, the leader of its own process group (its pgid is its pid).
///
/// Dropped before the script was waited for, which is what happens to a request that is
/// cancelled (etcdplay interrupted, the engine giving up on the task), it kills the whole group
/// with SIGKILL: `kill_on_drop` alone would kill only the `/bin/sh`, and a `cmd &` it started
/// would live on, reparented to init. This mirrors the remote loop's lifeline, which kills its
/// group when the channel closes. What deliberately left the group (`setsid`) survives, as it
/// does there.
///
/// The group is only signalled while the shell is unreaped: until then its pid cannot be given
/// to another process, so neither can the group id, and the signal can only reach processes of
/// this request. Once `wait` has reaped it, the group is forgotten; background children of a
/// script that ended normally are left alone, as on a host.
struct Script {
    child: Child,
    /// `None` once the shell has been reaped (or was gone before its pid was known).
    group: Option<Pid>,
}

impl Script {
    fn new(child: Child) -> Self {
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw);
        Script { child, group }
    }

    /// Kills every process still in the script's group (at most once).
    fn kill_group(&mut self) {
        if let Some(group) = self.group.take() {
            // ESRCH (all already gone) is the only expected failure, and nothing to act on.
            let _ = kill_process_group(group, Signal::KILL);
        }
    }

    /// Waits for the shell to exit; from then on the group is no longer ours to signal.
    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait().await?;
        self.group = None;
        Ok(status)
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        // Runs before `child` is dropped (and, through `kill_on_drop`, handed to tokio to
        // reap), so the shell is still unreaped here.
        self.kill_group();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exec_returns_code_and_both_streams() {
        let t = LocalTransport::new("localhost");
        let mut req = ExecRequest::script("cat; echo err >&2; exit 3");
        req.stdin = b"hello".to_vec();
        let out = t.exec(req).await.unwrap();
        assert_eq!(out.rc, 3);
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr, b"err\n");
    }

    use crate::test_support::alive;

    /// A request dropped while its script runs (what Ctrl-C does to every request in flight)
    /// kills the script's background children too, not only its shell.
    #[tokio::test]
    async fn a_cancelled_request_kills_the_scripts_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let t = LocalTransport::new("localhost");
        let script = format!(
            "sleep 300 & echo $! >>{p}; nohup sleep 301 >/dev/null 2>&1 & echo $! >>{p}; \
             sleep 302 & echo $! >>{p}; echo $$ >>{p}; wait",
            p = pids.display()
        );
        let request = t.exec(ExecRequest::script(script));
        let started = async {
            loop {
                let text = std::fs::read_to_string(&pids).unwrap_or_default();
                if text.lines().count() == 4 {
                    return text;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        };
        // The request is dropped as soon as the script is up.
        let started = tokio::select! {
            _ = request => panic!("the script ended by itself"),
            text = tokio::time::timeout(std::time::Duration::from_secs(10), started) => {
                text.expect("the script did not start")
            }
        };
        let started: Vec<&str> = started.lines().collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while started.iter().any(|p| alive(p)) && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let left: Vec<&&str> = started.iter().filter(|p| alive(p)).collect();
        for pid in &left {
            let _ = std::process::Command::new("kill")
                .args(["-9", pid])
                .status();
        }
        assert!(
            left.is_empty(),
            "still running after the request was dropped: {left:?}"
        );
    }

    #[tokio::test]
    async fn put_replaces_atomically_with_mode() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f.conf");
        std::fs::write(&dest, "old").unwrap();
        let t = LocalTransport::new("localhost");
        let req = PutRequest {
            dest: dest.to_string_lossy().into_owned(),
            content: b"new content".to_vec().into(),
            mode: Some(0o600),
            ..PutRequest::default()
        };
        t.put(req).await.unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new content");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file may remain");
        assert_eq!(
            t.get(&dest.to_string_lossy(), None).await.unwrap(),
            b"new content"
        );
    }
}
