//! Runs the system commands the lab drives (`ip`, `debootstrap`, `chroot`, `ssh-keygen`) and turns
//! a failure into a [`LabError::Command`] that names the command and quotes its stderr.

use std::ffi::OsStr;
use std::process::{Output, Stdio};

use tokio::process::Command;

use crate::error::LabError;
use crate::prereq::{child_path, resolve};

/// Runs `program args...` with stdin closed and returns its output, whatever the exit status.
pub(crate) async fn output<I, S>(program: &str, args: I) -> Result<(String, Output), LabError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let shown = std::iter::once(program.to_owned())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new(resolve(program))
        .args(&args)
        .env("PATH", child_path())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| LabError::Command {
            command: shown.clone(),
            status: "not started".into(),
            stderr: source.to_string(),
        })?;
    Ok((shown, out))
}

/// Runs a command that must succeed; returns its stdout.
pub(crate) async fn run<I, S>(program: &str, args: I) -> Result<String, LabError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let (shown, out) = output(program, args).await?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Command {
            command: shown,
            status: out.status.to_string(),
            stderr: tail(&String::from_utf8_lossy(&out.stderr), 10),
        })
    }
}

/// The last `n` non-empty lines of a text, for errors that should stay readable.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a\n", 5), "a");
        assert_eq!(tail("", 5), "");
    }

    #[tokio::test]
    async fn failure_names_command_and_stderr() {
        let err = run("sh", ["-c", "echo oops >&2; exit 3"])
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("`sh -c echo oops >&2; exit 3` failed (exit status: 3): oops"),
            "{err}"
        );
        assert_eq!(
            run("sh", ["-c", "echo fine"]).await.ok().as_deref(),
            Some("fine\n")
        );
    }
}
