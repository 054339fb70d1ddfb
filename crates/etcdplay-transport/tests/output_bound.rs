//! A command that prints more than a request may return (security review #13: 300 MB of output
//! once cost 2.4 GB of RSS) fails with an error naming the host and the limit, and etcdplay's
//! memory stays far below the output's size: the local transport stops reading at the limit,
//! the SSH transport refuses the answer from its header. Peak RSS is the test process's own
//! `VmHWM`, so each transport has a test binary of its own (`output_bound_ssh.rs`: SSH).
//!
//! Only the public API of the transport is used (the error is checked through its message), so
//! that the same tests show what the code before the bound did.

#![allow(clippy::print_stderr)]

mod support;

use std::time::Duration;

use etcdplay_transport::{ExecRequest, LocalTransport, Transport};
use support::{eventually, pids_mentioning, refused_with_bounded_memory};

/// Bytes each command prints: far beyond the limit (64 MiB).
const PRINTED: u64 = 300_000_000;
/// What the test process may reach at its peak: the limit (64 MiB) plus the test's own
/// baseline and slack, well under the 286 MiB printed (the code before the bound kept all of
/// it: 289 MiB).
const MAX_PEAK_KIB: u64 = 100 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn local_output_over_the_limit_fails_with_bounded_memory() {
    let t = LocalTransport::new("control-node");
    // A count of bytes unique to this run, so that its `head` can be told from anyone else's.
    let count = PRINTED + u64::from(std::process::id() % 1000);
    let head = format!("head -c {count} /dev/zero");
    refused_with_bounded_memory(&t, &head, "stdout", count, MAX_PEAK_KIB).await;
    // The command was stopped, not left blocked on a pipe nobody reads.
    assert!(
        eventually(Duration::from_secs(3), || pids_mentioning(&head).is_empty()),
        "{head} still runs"
    );
    refused_with_bounded_memory(&t, &format!("{head} >&2"), "stderr", count, MAX_PEAK_KIB).await;
    // The transport goes on serving requests, and output up to the limit still arrives whole.
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
}
