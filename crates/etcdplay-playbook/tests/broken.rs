//! The broken-playbook corpus: every `tests/corpus/broken/NAME.yml` must fail to load with
//! exactly the diagnostics in `NAME.expected` (all of them at once, sorted by position), or
//! load with exactly those warnings.
//! `UPDATE_SNAPSHOTS=1` rewrites the expectations; review the diff before keeping it.

mod support;

use support::*;

#[test]
fn every_broken_playbook_reports_exactly_the_expected_diagnostics() {
    let dir = corpus("broken");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 15,
        "the corpus has {} playbooks",
        names.len()
    );
    let mut failures = Vec::new();
    for name in &names {
        let stem = name.trim_end_matches(".yml");
        let (result, warnings) = load_with_warnings(&format!("broken/{name}"));
        let mut actual = match result {
            Ok(_) => "(loaded without errors)\n".to_string(),
            Err(d) => diag_text(&d) + "\n",
        };
        // Problems that only fail their task when it runs (module arguments, files of
        // dynamic includes) are warnings.
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
