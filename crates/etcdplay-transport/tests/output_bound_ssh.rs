//! A command that prints more than a request may return (security review #13: 300 MB of output
//! once cost 2.4 GB of RSS) fails with an error naming the host and the limit, and etcdplay's
//! memory stays far below the output's size: the local transport stops reading at the limit,
//! the SSH transport refuses the answer from its header. Peak RSS is the test process's own
//! `VmHWM`, so each transport has a test binary of its own (`output_bound.rs`: local).
//!
//! Only the public API of the transport is used (the error is checked through its message), so
//! that the same tests show what the code before the bound did.

#![allow(clippy::print_stderr)]

mod support;

use std::time::Duration;

use etcdplay_transport::{ExecRequest, SshTransport, Transport};
use support::{eventually, refused_with_bounded_memory, Sshd};

/// Bytes each command prints: far beyond the limit (64 MiB).
const PRINTED: u64 = 300_000_000;
/// What the test process may reach at its peak: its baseline and slack. The answer is refused
/// from its header, so none of the output is read (the code before the bound held all of it).
const MAX_PEAK_KIB: u64 = 32 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn ssh_output_over_the_limit_fails_with_bounded_memory() {
    if !support::available() {
        return;
    }
    let sshd = Sshd::start();
    let t = match SshTransport::connect(sshd.options("node1")).await {
        Ok(t) => t,
        Err(e) => panic!("connect failed: {e}\nsshd log:\n{}", sshd.log()),
    };
    // The remote loop's private directory: the one idle shell takes the next request too.
    let dir = t
        .exec(ExecRequest::script("dirname \"$0\""))
        .await
        .expect("dirname")
        .stdout_str()
        .trim()
        .to_string();
    refused_with_bounded_memory(
        &t,
        &format!("head -c {PRINTED} /dev/zero"),
        "stdout",
        PRINTED,
        MAX_PEAK_KIB,
    )
    .await;
    // The refused shell's channel was closed: its lifeline removed the output it had stored
    // (the loop may recreate its files empty as it dies; never with the output in them).
    let output = std::path::Path::new(&dir).join("o");
    assert!(
        eventually(Duration::from_secs(5), || std::fs::metadata(&output)
            .map(|m| m.len() == 0)
            .unwrap_or(true)),
        "{} still holds the refused output",
        output.display()
    );
    refused_with_bounded_memory(
        &t,
        &format!("head -c {PRINTED} /dev/zero >&2"),
        "stderr",
        PRINTED,
        MAX_PEAK_KIB,
    )
    .await;
    // A new shell serves the next request.
    let out = t
        .exec(ExecRequest::script(
            "head -c 1000000 /dev/zero; echo done >&2",
        ))
        .await
        .expect("a request under the limit");
    assert_eq!(
        (out.stdout.len(), out.stderr.as_slice()),
        (1_000_000, &b"done\n"[..])
    );
    t.close().await.expect("close");
    // Leave no directory of this test's loops behind, whatever the lifeline raced with.
    let _ = std::fs::remove_dir_all(&dir);
}
