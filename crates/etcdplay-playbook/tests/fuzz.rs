//! A bounded fuzz test: the corpus playbooks and role files, mutated at random (lines dropped,
//! duplicated or re-indented, characters replaced by YAML and Jinja punctuation, keys swapped
//! for near misses), must always load to a model or to diagnostics — never panic or hang.
//! The generator is a fixed-seed xorshift so a failure names a reproducible case.

// Long runs print their inputs and timings (ETCDPLAY_FUZZ_SCALE/SEED).
#![allow(clippy::print_stderr)]

mod support;

use std::path::{Path, PathBuf};

use etcdplay_modules::Registry;
use etcdplay_playbook::{load_playbook, LoadOptions};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    ":",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "'",
    "\"",
    "{{",
    "}}",
    "{%",
    "=",
    "&a",
    "*a",
    "<<: *a",
    "!!str",
    "|",
    ">",
    "#",
    "\t",
    "  ",
    "yes",
    "~",
    "0644",
    "block:",
    "loop: x",
    "import_tasks: site.yml",
    "include_role: {name: etcds}",
    "when:",
    "roles:",
    "\\",
    "%",
    "@",
    "- import_playbook: site.yml",
];

fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..1 + rng.below(4) {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let i = rng.below(lines.len());
        match rng.below(6) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => lines[i] = format!("{}{}", " ".repeat(rng.below(5)), lines[i].trim_start()),
            3 | 4 => {
                let piece = PIECES[rng.below(PIECES.len())];
                let line = &mut lines[i];
                let mut at = rng.below(line.len() + 1);
                while !line.is_char_boundary(at) {
                    at -= 1;
                }
                line.insert_str(at, piece);
            }
            _ => {
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
        }
    }
    lines.join("\n") + "\n"
}

fn copy_tree(from: &Path, to: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read corpus").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            files.extend(copy_tree(&entry.path(), &target));
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
            if target.extension().is_some_and(|e| e == "yml") {
                files.push(target);
            }
        }
    }
    files
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

#[test]
fn mutated_playbooks_never_panic() {
    let mut rng = Rng(fuzz_seed(0x5eed_1234_abcd_ef01));
    let started = std::time::Instant::now();
    let (mut loaded, mut rejected) = (0, 0);
    for corpus_name in ["etcd", "constructs"] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let files = copy_tree(&support::corpus(corpus_name), tmp.path());
        let originals: Vec<String> = files
            .iter()
            .map(|f| std::fs::read_to_string(f).expect("read"))
            .collect();
        for round in 0..150 * fuzz_scale() {
            let k = rng.below(files.len());
            let mutated = mutate(&originals[k], &mut rng);
            std::fs::write(&files[k], &mutated).expect("write");
            let site = tmp.path().join("site.yml");
            let result = std::panic::catch_unwind(|| {
                load_playbook(&site, &Registry, &LoadOptions::default()).is_ok()
            });
            match result {
                Ok(true) => loaded += 1,
                Ok(false) => rejected += 1,
                Err(_) => panic!(
                    "{corpus_name} round {round}: panic with {} =\n{mutated}",
                    files[k].display()
                ),
            }
            std::fs::write(&files[k], &originals[k]).expect("restore");
        }
    }
    eprintln!(
        "fuzz: {} mutated playbooks in {:.1?}",
        loaded + rejected,
        started.elapsed()
    );
    // Both outcomes must occur, or the mutations are too weak (or too strong) to test anything.
    assert!(
        loaded > 10 && rejected > 10,
        "loaded {loaded}, rejected {rejected}"
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(fuzz_seed(0xfeed_f00d_dead_beef));
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("p.yml");
    for _ in 0..200 * fuzz_scale() {
        let mut s = String::new();
        for _ in 0..rng.below(40) {
            s.push_str(PIECES[rng.below(PIECES.len())]);
            if rng.below(3) == 0 {
                s.push('\n');
            }
        }
        std::fs::write(&path, &s).expect("write");
        let r = std::panic::catch_unwind(|| {
            load_playbook(&path, &Registry, &LoadOptions::default()).is_ok()
        });
        assert!(r.is_ok(), "panic on {s:?}");
    }
}
