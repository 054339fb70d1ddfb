//! Bounded fuzzing: random template sources, built from Jinja-ish fragments, must never panic
//! (errors are fine). The seed is fixed so a failure is reproducible; set ETCDPLAY_FUZZ_SEED
//! to explore other inputs.

// Long runs print their inputs and timings (ETCDPLAY_FUZZ_SCALE/SEED).
#![allow(clippy::print_stderr)]

use etcdplay_template::{Templar, Vars};
use serde_json::json;

const FRAGMENTS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{{-",
    "-}}",
    " if ",
    " else ",
    " endif ",
    " for ",
    " in ",
    " endfor ",
    " set ",
    " = ",
    "x",
    "y",
    "items",
    "d",
    "d.a",
    "d['b']",
    "items[0]",
    "items[-1]",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "'s'",
    "\"q\"",
    "1",
    "2.5",
    "-3",
    "none",
    "true",
    "false",
    " | ",
    "default(",
    "bool",
    "int",
    "string",
    "join(',')",
    "map(",
    "select(",
    "combine(",
    "to_json",
    "to_nice_json",
    "to_yaml",
    "from_json",
    "from_yaml",
    "regex_replace(",
    "regex_search(",
    "b64decode",
    "b64encode",
    "flatten",
    "unique",
    "sort",
    "first",
    "last",
    "length",
    "dict2items",
    "items2dict",
    "ternary(",
    "hash(",
    "version(",
    " is ",
    " not ",
    " and ",
    " or ",
    " == ",
    " + ",
    " - ",
    " ~ ",
    " // ",
    " % ",
    ".index(",
    ".split(",
    ".items()",
    "lookup(",
    "'env'",
    "'file'",
    "range(",
    "loop.index",
    "hostvars",
    "omit",
    "a",
    "b",
    "\n",
    " ",
    "raw",
    "endraw",
    "\\",
    "mandatory",
    "extract(",
    "ipwrap",
    "quote",
    "basename",
    "dirname",
];

#[test]
fn random_templates_never_panic() {
    let seed = std::env::var("ETCDPLAY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    let mut rng = fastrand::Rng::with_seed(seed);
    let templar = Templar::new(Vec::new());
    let vars = Vars::new(
        json!({
            "x": "{{ y }}", "y": 5, "items": [1, "{{ x }}", {"k": "v"}],
            "d": {"a": "{{ items }}", "b": null}, "a": "{{ b }}", "b": "{{ a }}"
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    );
    let mut rendered_ok = 0;
    let scale = std::env::var("ETCDPLAY_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    let total = 10_000 * scale;
    let started = std::time::Instant::now();
    for _ in 0..total {
        let len = rng.usize(1..24);
        let source: String = (0..len)
            .map(|_| FRAGMENTS[rng.usize(..FRAGMENTS.len())])
            .collect();
        if templar.render_str(&source, "fuzz", &vars).is_ok() {
            rendered_ok += 1;
        }
        let _ = templar.render_string(&source, "fuzz", &vars);
        let _ = templar.eval_condition(&source, "fuzz", &vars);
    }
    eprintln!(
        "fuzz: {total} templates (seed {seed}) in {:.1?}, {rendered_ok} rendered",
        started.elapsed()
    );
    // Sanity check that the generator produces some valid templates too.
    assert!(rendered_ok > 100, "only {rendered_ok} inputs rendered");
}
