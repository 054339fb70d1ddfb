//! A writer for end-to-end tests that must show a cluster stayed up: a key written every
//! 200 ms with etcdctl over TLS (which reads the client certificate and CA from `pki/` on
//! every write, so it follows a rotation as a client that reloads its files would), each
//! attempt's time and outcome recorded.
//!
//! One failure is not the cluster's: a request that reaches a member in the last moments of
//! its shutdown, after its gRPC server stopped and before its listener closed, is answered
//! with an empty HTTP 200, which the etcd client reports as `missing content-type field`
//! (code Unknown) and, unlike a refused connection, does not retry on another endpoint. The
//! request was never handled, so the writer sends that put once more, as a client with a
//! retry policy would; the race is counted and printed, and every other failure, or a
//! failed second attempt, counts as a failed write.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::etcdctl_tls;

/// Writes a key every 200 ms until stopped; records each attempt's time and outcome.
pub struct Writer {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<(Instant, bool)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    pub fn start(pki: &Path, endpoints: String) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let log: Arc<Mutex<Vec<(Instant, bool)>>> = Arc::new(Mutex::new(Vec::new()));
        let (s, l, pki) = (stop.clone(), log.clone(), pki.to_path_buf());
        let thread = std::thread::spawn(move || {
            let mut i = 0u64;
            while !s.load(Ordering::SeqCst) && i < 10_000 {
                let put = || etcdctl_tls(&pki, &endpoints, &["put", &format!("writer/{i}"), "w"]);
                let mut out = put();
                if is_shutdown_race(&out) {
                    eprintln!("writer: put {i} reached a member as it shut down; sent again");
                    out = put();
                }
                let ok = out.status.success();
                if !ok {
                    eprintln!(
                        "writer: put {i} failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                }
                l.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((Instant::now(), ok));
                i += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Writer {
            stop,
            log,
            thread: Some(thread),
        }
    }

    /// Stops the writer: (writes, failures, longest failure window).
    pub fn finish(mut self) -> (usize, usize, Duration) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("writer");
        }
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let failed = log.iter().filter(|(_, ok)| !ok).count();
        let mut longest = Duration::ZERO;
        let mut last_ok = log.first().map(|(t, _)| *t);
        for (t, ok) in &log {
            if *ok {
                last_ok = Some(*t);
            } else if let Some(since) = last_ok {
                longest = longest.max(t.duration_since(since));
            }
        }
        (log.len(), failed, longest)
    }
}

/// Whether etcdctl failed because the member it reached was shutting down and answered the
/// gRPC request with an empty HTTP 200 (see the module comment).
fn is_shutdown_race(out: &std::process::Output) -> bool {
    !out.status.success()
        && String::from_utf8_lossy(&out.stderr).contains("transport: missing content-type field")
}
