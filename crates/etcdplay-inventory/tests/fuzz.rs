//! Bounded fuzzing: random bytes and mutated valid inventories through both parsers (and random
//! host patterns through the selector) must give diagnostics or results, never a panic. The RNG
//! is seeded so a failure reproduces; the failing input is printed.

// Long runs print their inputs and timings (ETCDPLAY_FUZZ_SCALE/SEED).
#![allow(clippy::print_stderr)]

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use etcdplay_inventory::Inventory;

/// xorshift64*: tiny, deterministic, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The bounded run in CI uses the defaults; a longer run sets `ETCDPLAY_FUZZ_SCALE` (inputs
/// multiplied by it) and `ETCDPLAY_FUZZ_SEED` (a different stream of inputs).
fn fuzz_scale() -> usize {
    std::env::var("ETCDPLAY_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1)
}

fn fuzz_seed(default: u64) -> u64 {
    std::env::var("ETCDPLAY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(default, |s: u64| s ^ default)
}

/// Bytes that mean something to one of the formats, so mutations hit interesting paths.
const SPECIAL: &[u8] = b"[]:,=#;'\"{}()\n\t -_*!&~01239azAZ.|\\@%&?";

fn seeds() -> Vec<Vec<u8>> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut out = Vec::new();
    for case in [
        "ini-etcd/hosts",
        "yaml-nested/hosts.yml",
        "priority/inventory.ini",
        "dir-multi/inv/02-more.yml",
    ] {
        out.push(fs::read(corpus.join(case)).unwrap());
    }
    out
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(3) {
        let pos = rng.below(v.len() + 1);
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = pos.min(v.len() - 1);
                v[i] = SPECIAL[rng.below(SPECIAL.len())];
            }
            1 => v.insert(pos, SPECIAL[rng.below(SPECIAL.len())]),
            2 if !v.is_empty() => {
                let end = (pos + rng.below(16)).min(v.len());
                v.drain(pos.min(end)..end);
            }
            3 => {
                // Duplicate a slice: repeated sections, hosts and ranges.
                let start = rng.below(v.len() + 1);
                let end = (start + rng.below(40)).min(v.len());
                let chunk = v[start..end].to_vec();
                v.splice(pos..pos, chunk);
            }
            _ => v.insert(pos, rng.next() as u8),
        }
    }
    v
}

fn random_pattern(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"aelsthcd019*?[]:!&~,()^$.-_| ";
    let words = [
        "all",
        "etcds",
        "clients",
        "cluster",
        "etcd1",
        "ungrouped",
        "localhost",
        "*",
        "~e.*",
        "etcds[1:]",
    ];
    let mut s = String::new();
    for _ in 0..1 + rng.below(4) {
        if rng.below(2) == 0 {
            s.push_str(words[rng.below(words.len())]);
        } else {
            for _ in 0..rng.below(6) {
                s.push(ALPHABET[rng.below(ALPHABET.len())] as char);
            }
        }
        s.push([':', ',', ':', '&'][rng.below(4)]);
    }
    s
}

/// Loads one input and uses the result; true when it loaded without diagnostics.
fn exercise(dir: &Path, name: &str, bytes: &[u8], rng: &mut Rng) -> bool {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    let source = path.display().to_string();
    let pattern = random_pattern(rng);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let Ok(inv) = Inventory::load(std::slice::from_ref(&source)) else {
            return false;
        };
        {
            let _ = inv.to_list_json();
            let _ = inv.to_graph(true);
            let _ = inv.select_limited(&pattern, Some("all:!etcd1"));
            for h in inv.hosts().iter().take(5) {
                let _ = inv.host_layers(h);
                let _ = inv.group_names_of(h);
            }
        }
        true
    }));
    match outcome {
        Ok(loaded) => loaded,
        Err(_) => panic!(
            "panic on {name} with pattern {pattern:?}, input:\n{}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

#[test]
fn parsers_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(fuzz_seed(0x5eed_1234_abcd_0042));
    let total = 3000 * fuzz_scale();
    let started = std::time::Instant::now();
    let seeds = seeds();
    let names = ["inventory", "inventory.yml", "inventory.ini"];
    let mut loaded = 0;
    for i in 0..total {
        let name = names[i % names.len()];
        let bytes = if i % 5 == 0 {
            (0..rng.below(300)).map(|_| rng.next() as u8).collect()
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, seed)
        };
        if exercise(dir.path(), name, &bytes, &mut rng) {
            loaded += 1;
        }
    }
    // Both outcomes must be exercised: inventories that load and inputs that are refused.
    eprintln!(
        "fuzz: {total} inventories in {:.1?}, {loaded} loaded",
        started.elapsed()
    );
    assert!(
        loaded > total / 15 && loaded < total * 9 / 10,
        "{loaded} of {total} inputs loaded"
    );
}

#[test]
fn patterns_never_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/ini-etcd/hosts");
    let inv = Inventory::load(&[corpus.display().to_string()]).unwrap();
    let mut rng = Rng(fuzz_seed(7));
    let total = 3000 * fuzz_scale();
    let mut matched = 0;
    for _ in 0..total {
        let pattern = random_pattern(&mut rng);
        let limit = random_pattern(&mut rng);
        if inv.select_limited(&pattern, Some(&limit)).is_ok() {
            matched += 1;
        }
        let _ = inv.unmatched_parts(&pattern);
    }
    // The generator is meant to produce both matching and failing patterns.
    eprintln!("fuzz: {total} host patterns, {matched} matched");
    assert!(
        matched > total / 30 && matched < total * 29 / 30,
        "matched {matched} of {total}"
    );
}
