//! The benchmark's own lab: hosts `labb1..labbN` on bridge `etcdplaybr5` (10.213.5.0/24), kept
//! apart from the shared default lab so resetting or tearing it down never disturbs other tests.
//! The `bench/run` harness drives it through the `etcdplay-bench-lab` binary.

mod error;
mod lab;
pub mod sim;

pub use error::BenchError;
pub use lab::{bench_config, inventory_for, parse_count, BENCH_BRIDGE, BENCH_PREFIX, BENCH_SUBNET};
