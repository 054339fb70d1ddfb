//! Renders every corpus case and compares with what real Ansible produced
//! (`tests/corpus/make-expected.sh` regenerates the expected files with ansible-core).

mod support;

use std::path::Path;

use etcdplay_template::Templar;
use serde_json::{Map, Value as Json};
use support::{corpus_dir, host_vars, load_yaml};

/// A phrase each error case must share with Ansible's own message (case-insensitive).
const SHARED_ERROR_PHRASES: &[(&str, &str)] = &[
    ("err_undefined", "'etcd_nmae' is undefined"),
    ("err_nested_undefined", "'undefined_peer' is undefined"),
    ("err_cycle", "recursive loop detected"),
    (
        "err_filter_args",
        "dict2items requires a dictionary, got <class 'int'> instead.",
    ),
    ("err_unknown_filter", "no filter named 'no_such_filter'"),
];

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn extra_vars(name: &str, suffix: &str) -> Map<String, Json> {
    let path = corpus_dir().join(format!("{name}{suffix}"));
    if path.exists() {
        load_yaml(&path).as_object().cloned().unwrap_or_default()
    } else {
        Map::new()
    }
}

fn cases(suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(suffix))
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn template_files_render_exactly_like_ansible() {
    let templar = Templar::new(vec![corpus_dir()]);
    let mut failures = Vec::new();
    let mut checked = 0;
    for name in cases(".j2") {
        let dir = corpus_dir();
        let (vars, _) = host_vars("etcd1", &extra_vars(&name, ".vars.yml"));
        let result = templar.render_file(Path::new(&format!("{name}.j2")), &vars);
        let expected = read(&dir.join(format!("{name}.expected")));
        let expected_error = read(&dir.join(format!("{name}.expected-error")));
        match (result, expected, expected_error) {
            (Ok(out), Some(want), _) => {
                if out != want {
                    failures.push(format!(
                        "{name}: output differs\n--- ansible\n{want}\n--- etcdplay\n{out}"
                    ));
                }
            }
            (Err(err), _, Some(want)) => {
                let got = err.to_string();
                if got != want.trim_end() {
                    failures.push(format!(
                        "{name}: error differs\n  want: {}\n  got:  {got}",
                        want.trim_end()
                    ));
                }
                let ansible = read(&dir.join(format!("{name}.ansible-error"))).unwrap_or_default();
                if let Some((_, phrase)) =
                    SHARED_ERROR_PHRASES.iter().find(|(case, _)| *case == name)
                {
                    let phrase = phrase.to_lowercase();
                    if !ansible.to_lowercase().contains(&phrase)
                        || !got.to_lowercase().contains(&phrase)
                    {
                        failures.push(format!("{name}: '{phrase}' not in both messages\n  ansible: {ansible}  ours: {got}"));
                    }
                } else {
                    failures.push(format!("{name}: error case without a shared phrase"));
                }
            }
            (Ok(out), None, _) => {
                failures.push(format!("{name}: rendered but no .expected file:\n{out}"))
            }
            (Err(err), _, None) => failures.push(format!("{name}: unexpected error: {err}")),
        }
        checked += 1;
    }
    assert!(checked >= 15, "corpus looks incomplete: {checked} cases");
    assert!(
        failures.is_empty(),
        "{} of {checked} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn task_args_render_natively_like_ansible() {
    let templar = Templar::new(vec![corpus_dir()]);
    let mut checked = 0;
    for name in cases(".args.yml") {
        let extra = extra_vars(&name, ".args.yml");
        let (vars, _) = host_vars("etcd1", &extra);
        let args = extra.get("case_args").expect("case_args in args file");
        let got = templar
            .template_value(args, &format!("{name}.args.yml"), &vars)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want: Json = serde_json::from_str(
            &read(&corpus_dir().join(format!("{name}.expected.json"))).expect("expected.json"),
        )
        .expect("valid JSON");
        assert_eq!(got, want, "{name}");
        checked += 1;
    }
    assert!(checked >= 1);
}

#[test]
fn when_conditions_evaluate_like_ansible() {
    let templar = Templar::new(vec![corpus_dir()]);
    let mut checked = 0;
    for name in cases(".when.yml") {
        let extra = extra_vars(&name, ".when.yml");
        let (vars, _) = host_vars("etcd1", &extra);
        let conditions = extra["case_conditions"]
            .as_array()
            .expect("case_conditions list");
        let want: Vec<String> = serde_json::from_str(
            &read(&corpus_dir().join(format!("{name}.expected.json"))).expect("expected.json"),
        )
        .expect("valid JSON");
        assert_eq!(conditions.len(), want.len(), "{name}");
        for (condition, want) in conditions.iter().zip(&want) {
            let expr = condition.as_str().expect("condition text");
            let got = match templar.eval_condition(expr, &format!("{name}.when.yml"), &vars) {
                Ok(true) => "true".to_string(),
                Ok(false) => "false".to_string(),
                Err(_) => "error".to_string(),
            };
            assert_eq!(&got, want, "{name}: when: {expr}");
            checked += 1;
        }
    }
    assert!(checked >= 10);
}
