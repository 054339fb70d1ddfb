//! Runs every case under `tests/corpus/` and compares etcdplay's view of the inventory with what
//! the real `ansible-inventory` and `ansible --list-hosts` printed for it (`make-expected.sh`).

use std::fs;
use std::path::{Path, PathBuf};

use etcdplay_inventory::Inventory;
use serde_json::Value;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 4, "corpus has {} cases", cases.len());
    cases
}

fn load(case: &Path) -> Inventory {
    let sources: Vec<String> = fs::read_to_string(case.join("sources"))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            if l.contains(',') {
                l.to_string()
            } else {
                case.join(l).display().to_string()
            }
        })
        .collect();
    Inventory::load(&sources).unwrap_or_else(|d| panic!("{}: {d}", case.display()))
}

#[test]
fn list_json_matches_ansible_inventory() {
    for case in cases() {
        let inv = load(&case);
        let expected: Value =
            serde_json::from_str(&fs::read_to_string(case.join("expected-list.json")).unwrap())
                .unwrap();
        let got = inv.to_list_json();
        assert_eq!(
            got,
            expected,
            "{}: --list differs\n{}",
            case.display(),
            inv.to_list_json_string()
        );
    }
}

#[test]
fn graph_matches_ansible_inventory() {
    for case in cases() {
        let inv = load(&case);
        let expected = fs::read_to_string(case.join("expected-graph.txt")).unwrap();
        assert_eq!(
            inv.to_graph(false),
            expected.trim_end_matches('\n'),
            "{}: --graph differs",
            case.display()
        );
        let expected = fs::read_to_string(case.join("expected-graph-vars.txt")).unwrap();
        assert_eq!(
            inv.to_graph(true),
            expected.trim_end_matches('\n'),
            "{}: --graph --vars differs",
            case.display()
        );
    }
}

#[test]
fn patterns_match_ansible_list_hosts() {
    let mut checked = 0;
    for case in cases() {
        let inv = load(&case);
        let expected = fs::read_to_string(case.join("expected-patterns.txt")).unwrap();
        for line in expected.lines() {
            let mut cols = line.split('\t');
            let (pattern, limit, hosts) = (
                cols.next().unwrap(),
                cols.next().unwrap(),
                cols.next().unwrap_or(""),
            );
            let limit = (!limit.is_empty()).then_some(limit);
            let want: Vec<&str> = hosts.split(' ').filter(|h| !h.is_empty()).collect();
            match inv.select_limited(pattern, limit) {
                Ok(got) => assert_eq!(
                    got,
                    want,
                    "{}: pattern {pattern:?} limit {limit:?}",
                    case.display()
                ),
                Err(e) => assert!(
                    want.is_empty(),
                    "{}: pattern {pattern:?}: {e}, want {want:?}",
                    case.display()
                ),
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} patterns checked");
}
