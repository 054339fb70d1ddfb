//! The local transport: runs scripts on the control node itself. It serves `connection: local`,
//! `delegate_to: localhost`, and unit tests of modules, which then exercise real shell commands
//! against a temporary directory instead of a fake.

use async_trait::async_trait;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::script::{atomic_put_script, sh_quote, shell_argv, sudo_wanted_password};
use crate::{Become, ExecOutput, ExecRequest, PutRequest, Transport, TransportError};

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
}

#[async_trait]
impl Transport for LocalTransport {
    fn host(&self) -> &str {
        &self.host
    }

    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        let argv = shell_argv(request.become_.as_ref());
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .arg("-c")
            .arg(&request.script)
            .envs(request.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| self.io_error(e))?;
        let mut stdin = child.stdin.take().expect("stdin was piped");
        let input = request.stdin;
        // Feed stdin concurrently with reading the output, so a script that writes a lot before
        // reading its input cannot deadlock against us.
        let feeder = tokio::spawn(async move {
            let _ = stdin.write_all(&input).await;
            drop(stdin);
        });
        let output = child
            .wait_with_output()
            .await
            .map_err(|e| self.io_error(e))?;
        let _ = feeder.await;
        let out = ExecOutput {
            rc: output.status.code().unwrap_or(-1),
            stdout: output.stdout,
            stderr: output.stderr,
        };
        if let Some(b) = &request.become_ {
            if out.rc != 0 && sudo_wanted_password(&out.stderr) {
                return Err(TransportError::BecomeNeedsPassword {
                    host: self.host.clone(),
                    user: b.user.clone(),
                    detail: out.stderr_str().trim().to_string(),
                });
            }
        }
        Ok(out)
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
        let out = self.exec(req).await?;
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
