//! `etcdplay-bench-lab up N DIR` boots `labb1..labbN` and writes `DIR/hosts-K.yml` for each
//! K in {3, 10, 30, N} not above N; `down` removes the benchmark lab (the base image stays).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use etcdplay_bench::{bench_config, inventory_for, parse_count, BenchError};
use etcdplay_lab::LabManager;

const USAGE: &str = "etcdplay-bench-lab up N INVENTORY_DIR | etcdplay-bench-lab down";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The harness reads errors on stderr; this binary has no other output channel.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("etcdplay-bench-lab: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &[String]) -> Result<(), BenchError> {
    let manager = LabManager::new(bench_config());
    match args {
        [cmd, n, dir] if cmd == "up" => {
            let n = parse_count(n)?;
            manager.up(u64::from(n)).await?;
            write_inventories(&PathBuf::from(dir), n)
        }
        [cmd] if cmd == "down" => {
            manager.down().await?;
            Ok(())
        }
        _ => Err(BenchError::Usage(USAGE.to_owned())),
    }
}

/// One inventory per benchmark size, so a 3-host run never touches hosts 4..N.
fn write_inventories(dir: &Path, n: u8) -> Result<(), BenchError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BenchError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let config = bench_config();
    let mut sizes: Vec<u8> = [3, 10, 30, n].into_iter().filter(|k| *k <= n).collect();
    sizes.dedup();
    for k in sizes {
        let path = dir.join(format!("hosts-{k}.yml"));
        std::fs::write(&path, inventory_for(&config, k)).map_err(io(&path))?;
    }
    Ok(())
}
