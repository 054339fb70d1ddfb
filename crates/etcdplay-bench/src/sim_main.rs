//! `etcdplay-bench-sim [--sizes 100,1000,10000] [--forks F]`: the engine's own CPU and memory
//! per host over simulated hosts (see `sim/`). Each size runs in a child process of its own so
//! that its peak RSS is its own; one line per size, then the per-host figures side by side.
//! `etcdplay-bench-sim --hosts N` is one such child: it records a run on this machine (in a
//! scratch directory), replays it for N hosts and prints one JSON line.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use etcdplay_bench::sim::{
    write_project, Recording, RecordingConnector, ReplayConnector, SimInventory,
};
use etcdplay_engine::{
    ConnectionUsage, Connector, Engine, HostEvent, Reporter, RunOptions, Stats, TaskKindLabel,
};
use etcdplay_modules::Registry;
use etcdplay_playbook::{load_playbook, LoadOptions};
use serde_json::{json, Value};

const USAGE: &str = "etcdplay-bench-sim [--sizes N,N,...] [--forks F] | --hosts N [--forks F]";

/// Counts what the engine reports and prints nothing: the cost measured is the engine's.
#[derive(Default)]
struct Quiet;

impl Reporter for Quiet {
    fn play_start(&self, _name: &str, _hosts: &[String]) {}
    fn task_start(&self, _kind: TaskKindLabel, _header: &str, _hosts: &[String]) {}
    fn host_event(&self, _event: &HostEvent) {}
    fn warning(&self, _message: &str) {}
    fn recap(&self, _stats: &Stats) {}
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sizes = vec![100u64, 1_000, 10_000];
    let mut hosts = None;
    let mut forks = 50usize;
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--sizes" => sizes = value.split(',').filter_map(|s| s.parse().ok()).collect(),
            "--hosts" => hosts = value.parse().ok(),
            "--forks" => forks = value.parse().unwrap_or(forks),
            _ => {
                eprintln!("usage: {USAGE}");
                return ExitCode::FAILURE;
            }
        }
        i += 2;
    }
    match hosts {
        Some(n) => match one_size(n, forks) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("etcdplay-bench-sim: {e}");
                ExitCode::FAILURE
            }
        },
        None => all_sizes(&sizes, forks),
    }
}

/// Runs each size in a child process and prints a table of the per-host figures.
#[allow(clippy::print_stdout, clippy::print_stderr)]
fn all_sizes(sizes: &[u64], forks: usize) -> ExitCode {
    let Ok(me) = std::env::current_exe() else {
        eprintln!("etcdplay-bench-sim: cannot find its own executable");
        return ExitCode::FAILURE;
    };
    println!(
        "{:>7} {:>8} {:>9} {:>13} {:>9} {:>12} {:>8} {:>6} {:>6} {:>10} {:>9} {:>9}",
        "hosts",
        "wall s",
        "cpu s",
        "cpu ms/host",
        "peak MB",
        "KB/host",
        "changed",
        "failed",
        "misses",
        "peak conns",
        "conns end",
        "released"
    );
    // A replay that drifted from its recording (a request it cannot answer, a host failing
    // on it) measures something else than a no-change run: the table says so and the exit
    // status too.
    let mut drifted = false;
    for &n in sizes {
        let out = std::process::Command::new(&me)
            .args(["--hosts", &n.to_string(), "--forks", &forks.to_string()])
            .output();
        let line = match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
            Ok(o) => {
                eprintln!("{n} hosts failed: {}", String::from_utf8_lossy(&o.stderr));
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("{n} hosts: {e}");
                return ExitCode::FAILURE;
            }
        };
        let v: Value = serde_json::from_str(line.trim()).unwrap_or_default();
        let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:>7} {:>8.2} {:>9.2} {:>13.3} {:>9.1} {:>12.1} {:>8} {:>6} {:>6} {:>10} {:>9} {:>9}",
            n,
            f("wall_s"),
            f("cpu_s"),
            f("cpu_s") * 1000.0 / n as f64,
            f("peak_rss_kb") / 1024.0,
            (f("peak_rss_kb") - f("base_rss_kb")) / n as f64,
            v["changed"],
            v["failed"],
            v["misses"],
            v["peak_open_connections"],
            v["open_connections_at_end"],
            v["released_connections"],
        );
        drifted |= v["failed"].as_u64() != Some(0) || v["misses"].as_u64() != Some(0);
    }
    if drifted {
        eprintln!("etcdplay-bench-sim: the replay drifted from the recording (failed hosts or missed requests above)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Records the playbook on this machine, then replays it for `n` simulated hosts.
fn one_size(n: u64, forks: usize) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let project = write_project().map_err(|e| e.to_string())?;
        let playbook = load_playbook(&project.playbook(), &Registry, &LoadOptions::default())
            .map_err(|e| format!("{e:?}"))?;
        let root = project.dir.path().join("hosts");
        let recording = Arc::new(Recording::default());
        let recorder: Arc<dyn Connector> = Arc::new(RecordingConnector {
            recording: recording.clone(),
        });
        // Converge once, then record the no-change run that the replay repeats.
        for _ in 0..2 {
            let rec = vec!["simhost-rec".to_owned()];
            run(&project, &playbook, rec, &root, recorder.clone(), forks).await?;
        }
        let base_rss_kb = status_kb("VmRSS");
        let names: Vec<String> = (0..n).map(|i| format!("simhost-{i:06}")).collect();
        let replay: Arc<dyn Connector> = Arc::new(ReplayConnector {
            recording: recording.clone(),
        });
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let (stats, usage) = run(&project, &playbook, names, &root, replay, forks).await?;
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_before;
        let changed: u64 = stats.values().map(|s| s.changed as u64).sum();
        let failed: u64 = stats.values().map(|s| s.failed as u64).sum();
        Ok(json!({
            "hosts": n,
            "forks": forks,
            "wall_s": wall,
            "cpu_s": cpu,
            "base_rss_kb": base_rss_kb,
            "peak_rss_kb": status_kb("VmHWM"),
            "changed": changed,
            "failed": failed,
            "misses": recording.misses.load(Ordering::Relaxed),
            "puts": recording.puts.load(Ordering::Relaxed),
            "recorded_requests": recording.len(),
            // Connections open at most at once, still open when the run ended (before the
            // final close), and closed early because the run was done with their host.
            "peak_open_connections": usage.peak_open,
            "open_connections_at_end": usage.open,
            "released_connections": usage.released,
        })
        .to_string())
    })
}

async fn run(
    project: &etcdplay_bench::sim::SimProject,
    playbook: &etcdplay_playbook::Playbook,
    hosts: Vec<String>,
    root: &std::path::Path,
    connector: Arc<dyn Connector>,
    forks: usize,
) -> Result<(Stats, ConnectionUsage), String> {
    let inventory = Arc::new(SimInventory::new(hosts, root));
    let options = RunOptions {
        forks,
        ..RunOptions::default()
    };
    let engine = Engine::new(
        inventory,
        connector,
        Arc::new(Quiet),
        options,
        vec![project.dir.path().to_path_buf()],
    );
    let stats = engine.run(playbook).await.map_err(|e| e.to_string());
    let usage = engine.connections();
    engine.close().await;
    Ok((stats?, usage))
}

/// User plus system CPU time of this process, in seconds, to the nanosecond (the clock ticks
/// of `/proc/self/stat` are too coarse for 100 hosts).
fn cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// A `Vm*` line of `/proc/self/status`, in kB.
fn status_kb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}
