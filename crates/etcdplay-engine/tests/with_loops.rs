//! `with_<lookup>` loops run through the lookup plugins, compared with ansible-core 2.19.14:
//! the playbook below, run by `ansible-playbook -i localhost, -c local` (with
//! community.general for `with_flattened`), wrote the `out.json` and `ff` asserted here
//! (fileglob sorted: Ansible's order is the directory's).

use std::path::Path;
use std::sync::Arc;

mod support;

use etcdplay_engine::{
    Engine, HostEvent, LocalConnector, Reporter, RunOptions, Stats, TaskKindLabel,
};
use etcdplay_modules::Registry;
use etcdplay_playbook::{load_playbook, LoadOptions};

use support::TinyInventory;

/// Keeps the messages of failed tasks, for assertion messages.
#[derive(Default)]
struct Quiet(std::sync::Mutex<Vec<String>>);

impl Reporter for Quiet {
    fn play_start(&self, _name: &str, _hosts: &[String]) {}
    fn task_start(&self, _kind: TaskKindLabel, _header: &str, _hosts: &[String]) {}
    fn host_event(&self, e: &HostEvent) {
        if let Some(msg) = &e.msg {
            self.0
                .lock()
                .unwrap()
                .push(format!("{:?}: {msg}", e.status));
        }
    }
    fn warning(&self, _message: &str) {}
    fn recap(&self, _stats: &Stats) {}
}

const PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: false
  vars:
    users:
      - {name: alice, keys: [k1, k2]}
      - {name: bob, keys: [k3]}
  tasks:
    - {debug: {msg: "{{ item }}"}, with_nested: [[1, 2], [a, b]], register: nested}
    - {debug: {msg: "{{ item }}"}, with_together: [[1, 2], [a]], register: together}
    - {debug: {msg: "{{ item }}"}, with_subelements: ["{{ users }}", keys], register: subelements}
    - {debug: {msg: "{{ item }}"}, with_sequence: start=2 end=6 stride=2 format=n%02d, register: sequence}
    - {debug: {msg: "{{ item }}"}, with_dict: {a: 1}, register: dict}
    - {debug: {msg: "{{ item }}"}, with_indexed_items: [x, y], register: indexed}
    - {debug: {msg: "{{ item }}"}, with_flattened: [[1, [2]], 3], register: flattened}
    - {debug: {msg: "{{ item }}"}, with_random_choice: [only], register: random_choice}
    - {debug: {msg: "{{ item }}"}, with_lines: "printf 'l1\\nl2\\n'", register: lines}
    - {debug: {msg: "{{ item | basename }}"}, with_fileglob: "*.txt", register: fileglob}
    - {copy: {content: "{{ item | basename }}", dest: "{{ workdir }}/ff"}, with_first_found: [nope.txt, two.txt]}
    - copy:
        dest: "{{ workdir }}/out.json"
        content: "{{ {'nested': nested.results | map(attribute='item') | list,
                      'together': together.results | map(attribute='item') | list,
                      'subelements': subelements.results | map(attribute='item') | list,
                      'sequence': sequence.results | map(attribute='item') | list,
                      'dict': dict.results | map(attribute='item') | list,
                      'indexed': indexed.results | map(attribute='item') | list,
                      'flattened': flattened.results | map(attribute='item') | list,
                      'random_choice': random_choice.results | map(attribute='item') | list,
                      'lines': lines.results | map(attribute='item') | list,
                      'fileglob': fileglob.results | map(attribute='msg') | list} | to_json }}"
"#;

async fn run(dir: &Path, playbook: &str) -> (Stats, Vec<String>) {
    std::fs::write(dir.join("site.yml"), playbook).unwrap();
    let playbook = load_playbook(&dir.join("site.yml"), &Registry, &LoadOptions::default())
        .expect("playbook parses");
    let inventory = Arc::new(TinyInventory {
        hosts: vec!["n1".into()],
        root: dir.to_path_buf(),
    });
    let reporter = Arc::new(Quiet::default());
    let engine = Engine::new(
        inventory,
        Arc::new(LocalConnector),
        reporter.clone(),
        RunOptions::default(),
        vec![dir.to_path_buf()],
    );
    let stats = engine.run(&playbook).await.expect("run");
    engine.close().await;
    let messages = reporter.0.lock().unwrap().clone();
    (stats, messages)
}

#[tokio::test]
async fn with_loops_give_ansibles_items() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("files")).unwrap();
    std::fs::write(dir.path().join("files/one.txt"), "x\n").unwrap();
    std::fs::write(dir.path().join("files/two.txt"), "y\n").unwrap();
    std::fs::create_dir(dir.path().join("n1")).unwrap();
    let (stats, messages) = run(dir.path(), PLAYBOOK).await;
    assert_eq!(stats["n1"].failed, 0, "{messages:#?}");
    let out: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("n1/out.json")).unwrap())
            .unwrap();
    let expected = serde_json::json!({
        "nested": [[1, "a"], [1, "b"], [2, "a"], [2, "b"]], "together": [[1, "a"], [2, null]],
        "subelements": [[{"name": "alice"}, "k1"], [{"name": "alice"}, "k2"], [{"name": "bob"}, "k3"]],
        "sequence": ["n02", "n04", "n06"], "dict": [{"key": "a", "value": 1}],
        "indexed": [[0, "x"], [1, "y"]], "flattened": [1, 2, 3], "random_choice": ["only"],
        "lines": ["l1", "l2"], "fileglob": ["one.txt", "two.txt"]
    });
    assert_eq!(out, expected);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("n1/ff")).unwrap(),
        "two.txt"
    );
}

#[tokio::test]
async fn a_failing_lookup_fails_the_task_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let (stats, messages) = run(
        dir.path(),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg={{ item }}\n      with_sequence: start=1\n",
    )
    .await;
    assert_eq!(stats["n1"].failed, 1);
    let failure = messages.join("\n");
    assert!(
        failure.contains("site.yml:5:7") && failure.contains("must specify count or end"),
        "{failure}"
    );
}
