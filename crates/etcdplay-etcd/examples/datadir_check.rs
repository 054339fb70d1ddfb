//! Times the data-dir check on a real (big) data dir and prints the figure, with how many
//! bytes and read calls the reader needed. Make a dir with `examples/make-bench-datadir.sh`.
//! The read-ahead defaults to the engine's 8 MiB, so the time is close to what
//! `etcdplay-datadir-reader` spends on a host, and the bytes and calls printed are what
//! `data_dir_scheme_check` would transfer and run when it falls back to shell commands
//! (bench/datadir/run times the check).
//!
//! Usage: `cargo run --release -p etcdplay-etcd --example datadir_check -- DATA_DIR [RUNS [BLOCK_SIZE]]`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::cell::Cell;
use std::time::Instant;

use etcdplay_etcd::{
    read_data_dir, DataDirSource, DataDirState, LocalDir, PeerPlan, PeerScheme, ReadOptions,
    SourceError,
};

/// Wraps a source and counts what the reader asks of it.
struct Counting<S> {
    inner: S,
    bytes: Cell<u64>,
    db_bytes: Cell<u64>,
    reads: Cell<u64>,
}

impl<S: DataDirSource> DataDirSource for Counting<S> {
    fn list_dir(&self, dir: &str) -> Result<Option<Vec<String>>, SourceError> {
        self.inner.list_dir(dir)
    }
    fn file_size(&self, path: &str) -> Result<u64, SourceError> {
        self.inner.file_size(path)
    }
    fn read_at(&self, path: &str, offset: u64, buf: &mut [u8]) -> Result<usize, SourceError> {
        let n = self.inner.read_at(path, offset, buf)?;
        self.bytes.set(self.bytes.get() + n as u64);
        if path.ends_with("/db") {
            self.db_bytes.set(self.db_bytes.get() + n as u64);
        }
        self.reads.set(self.reads.get() + 1);
        Ok(n)
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: datadir_check DATA_DIR [RUNS [BLOCK_SIZE]]");
        std::process::exit(2);
    };
    let runs: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let src = Counting {
        inner: LocalDir::new(&dir),
        bytes: Cell::new(0),
        db_bytes: Cell::new(0),
        reads: Cell::new(0),
    };
    let block_size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(8 << 20);
    let opts = ReadOptions {
        block_size,
        ..ReadOptions::default()
    };
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..runs {
        src.bytes.set(0);
        src.db_bytes.set(0);
        src.reads.set(0);
        let t = Instant::now();
        let r = read_data_dir(&src, &opts);
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(r);
    }
    match last {
        Some(Ok(report)) => {
            if let DataDirState::Initialized {
                members, warnings, ..
            } = &report.state
            {
                println!("members: {}, warnings: {}", members.len(), warnings.len());
            }
            println!(
                "verdict for an https plan: {:?}",
                report.verdict(&PeerPlan::scheme(PeerScheme::Https))
            );
        }
        Some(Err(e)) => println!("error: {e}"),
        None => {}
    }
    println!(
        "check took {:.1} ms (best of {runs}); read {:.1} MB in {} read_at calls ({} bytes of db; read-ahead {block_size} bytes)",
        best * 1e3,
        src.bytes.get() as f64 / 1e6,
        src.reads.get(),
        src.db_bytes.get()
    );
}
