//! A change and the read-ahead probes of the next task in one request. On a host that is
//! converging, every task changed something, so read-ahead answers never survive from one task
//! to the next: each task sent its probe alone, then its change, two round trips (and two runs
//! of the remote loop's per-request processes) per task. Sending the next task's probes right
//! after this task's change, in the change's own request, makes it one. The probes run after
//! the change has finished, so they read what the next task will see, and the change's answer
//! comes back exactly as it would alone: its stdout and stderr end at markers that carry a
//! random token (printed on lines of their own, after a newline that is not part of the
//! answer), its exit status travels on the stdout marker, and everything after the markers
//! is [`crate::prefetch::batch_script`]'s.

use crate::prefetch::batch_script;
use crate::ExecOutput;

/// `change` (run in a subshell of its own, with the request's input, as it would run alone),
/// then the batch of `scripts` after `prelude`. The host agent's prefill words of both go on
/// the first line, where it looks, when the change's own act is the agent's (see
/// `host_agent::joined_hints`).
pub(crate) fn change_then_batch(
    change: &str,
    scripts: &[&str],
    token: &str,
    prelude: &str,
) -> String {
    let batch = batch_script(scripts, token, prelude);
    let (hint, change, batch) = crate::host_agent::joined_hints(change, &batch);
    format!(
        "{hint}(\n{change}\n)\nep_crc=$?\nprintf '\\n@@{token} change %s\\n' \"$ep_crc\"\nprintf '\\n@@{token} change\\n' >&2\n{batch}"
    )
}

/// Splits the output of [`change_then_batch`]: the change's own answer, and the batch's output
/// (for [`crate::prefetch::split_batch`]) when both markers are there. Without them (the
/// request was cut short) everything is the change's, with the request's exit status.
pub(crate) fn split_change(out: ExecOutput, token: &str) -> (ExecOutput, Option<ExecOutput>) {
    let out_mark = format!("\n@@{token} change ");
    let err_mark = format!("\n@@{token} change\n");
    let found = find(&out.stdout, out_mark.as_bytes()).and_then(|at| {
        let start = at + out_mark.len();
        let end = start + out.stdout[start..].iter().position(|&b| b == b'\n')?;
        let rc: i32 = std::str::from_utf8(&out.stdout[start..end])
            .ok()?
            .parse()
            .ok()?;
        let err_at = find(&out.stderr, err_mark.as_bytes())?;
        Some((at, end + 1, rc, err_at))
    });
    let Some((out_at, out_rest, rc, err_at)) = found else {
        return (out, None);
    };
    let change = ExecOutput {
        rc,
        stdout: out.stdout[..out_at].to_vec(),
        stderr: out.stderr[..err_at].to_vec(),
    };
    let batch = ExecOutput {
        rc: out.rc,
        stdout: out.stdout[out_rest..].to_vec(),
        stderr: out.stderr[err_at + err_mark.len()..].to_vec(),
    };
    (change, Some(batch))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prefetch::split_batch;
    use crate::script::random_token;

    fn sh(script: &str, stdin: &[u8]) -> ExecOutput {
        use std::io::Write;
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        ExecOutput {
            rc: out.status.code().unwrap(),
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }

    /// The change answers as it does alone (output without a final newline, binary bytes,
    /// stderr, its input, `exit`, `set -e`, a trap), and the probes after it see what it did.
    #[test]
    fn the_change_answers_as_alone_and_the_probes_read_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        let changes = [
            format!("set -e\ncat >{}\nprintf 'no newline'", f.display()),
            format!(
                "printf '\\0\\001x\\n\\n'; echo oops >&2; cat >{}; exit 3",
                f.display()
            ),
            format!(
                "trap 'echo trap' EXIT\nset -e\ncat >{}\nfalse\necho never",
                f.display()
            ),
        ];
        let probe = format!("cat {}", f.display());
        for change in &changes {
            let _ = std::fs::remove_file(&f);
            let alone = sh(change, b"written");
            let _ = std::fs::remove_file(&f);
            let token = random_token();
            let out = sh(
                &change_then_batch(change, &[&probe], &token, ""),
                b"written",
            );
            let (answer, batch) = split_change(out, &token);
            assert_eq!(answer, alone, "{change}");
            let parts = split_batch(&batch.unwrap(), 1, &token);
            assert_eq!(
                parts[0].as_ref().map(|p| p.stdout.as_slice()),
                Some(&b"written"[..]),
                "{change}"
            );
        }
    }

    /// Output that lacks the markers is the change's, whole.
    #[test]
    fn without_markers_everything_is_the_changes() {
        let out = ExecOutput {
            rc: 255,
            stdout: b"partial".to_vec(),
            stderr: b"broken".to_vec(),
        };
        let (answer, batch) = split_change(out.clone(), "t");
        assert_eq!(answer, out);
        assert!(batch.is_none());
    }
}
