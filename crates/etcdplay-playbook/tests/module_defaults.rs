//! A required argument `module_defaults` may give is not reported missing when parsing.
//! ansible-playbook 2.19.14 runs `service:` without arguments under
//! `module_defaults: {service: {name: ..}}` (its own service target does) and warns about
//! nothing; without defaults its `--syntax-check` is silent too and the task fails when it
//! runs (`missing required arguments: name`), which etcdplay announces as a warning.

use etcdplay_modules::Registry;
use etcdplay_playbook::{load_playbook, LoadOptions};

fn warnings_of(playbook: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.yml");
    std::fs::write(&path, playbook).expect("write");
    let book = load_playbook(&path, &Registry, &LoadOptions::default()).expect("loads");
    book.warnings.iter().map(|w| w.message.clone()).collect()
}

#[test]
fn defaults_at_any_level_may_give_required_arguments() {
    let task_level = "- hosts: all\n  tasks:\n    - service:\n      module_defaults:\n        service: {name: x}\n";
    assert!(warnings_of(task_level).is_empty());
    let block_level = "- hosts: all\n  tasks:\n    - block:\n        - service:\n      module_defaults:\n        service: {name: x}\n";
    assert!(warnings_of(block_level).is_empty());
    let play_level =
        "- hosts: all\n  module_defaults:\n    service: {name: x}\n  tasks:\n    - service:\n";
    assert!(warnings_of(play_level).is_empty());
    let none = "- hosts: all\n  tasks:\n    - service:\n";
    assert_eq!(
        warnings_of(none),
        vec!["`service` needs `name`".to_string()]
    );
}
