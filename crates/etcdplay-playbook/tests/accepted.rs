//! Constructs of public roles that `ansible-playbook --syntax-check` accepts: every
//! `tests/corpus/accepted/NAME.yml` (written for this test; its comment records what
//! ansible-core 2.19.14 printed) must load, with exactly the warnings in `NAME.expected`.
//! `UPDATE_SNAPSHOTS=1` rewrites the expectations; review the diff before keeping it.

mod support;

use support::*;

#[test]
fn every_construct_ansible_accepts_loads_with_the_expected_warnings() {
    let dir = corpus("accepted");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "the accepted corpus is empty");
    let mut failures = Vec::new();
    for name in &names {
        let stem = name.trim_end_matches(".yml");
        let (result, warnings) = load_with_warnings(&format!("accepted/{name}"));
        let mut actual = match result {
            Ok(_) => String::new(),
            Err(d) => format!("refused:\n{}\n", diag_text(&d)),
        };
        for w in warnings.iter() {
            actual.push_str(&strip(&format!("warning: {w}\n")));
        }
        let expected_path = dir.join(format!("{stem}.expected"));
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&expected_path, &actual).expect("write expectation");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "== {name}\n-- expected\n{expected}-- actual\n{actual}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
