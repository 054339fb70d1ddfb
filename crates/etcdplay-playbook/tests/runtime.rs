//! The entry points the engine calls at run time, once it has rendered a templated name:
//! `find_task_file`/`load_task_file` for `include_tasks` and `load_role` for `include_role`,
//! using the `IncludeContext` the parser stored on the include.

mod support;

use etcdplay_modules::Registry;
use etcdplay_playbook::{
    find_task_file, load_role, load_task_file, LoadOptions, RoleSelectors, TaskKind,
};
use support::*;

fn templated_include() -> (etcdplay_playbook::IncludeTasks, etcdplay_playbook::Origin) {
    let pb = load("constructs/site.yml").unwrap_or_else(|d| panic!("{}", diag_text(&d)));
    let task = pb.plays[0]
        .tasks
        .iter()
        .find(|t| t.name.as_deref() == Some("include a templated file"))
        .expect("task");
    match &task.kind {
        TaskKind::IncludeTasks(i) => (i.clone(), task.origin.clone()),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn rendered_include_name_loads_from_the_stored_context() {
    let (include, origin) = templated_include();
    assert!(find_task_file("other.yml", &include.context).is_some());
    let tasks = load_task_file(
        "other.yml",
        &include.context,
        &origin,
        &Registry,
        &LoadOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{}", diag_text(&d)));
    let names: Vec<_> = tasks
        .iter()
        .map(|t| t.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, vec!["first imported", "second imported"]);
}

#[test]
fn missing_rendered_include_is_reported_at_the_including_task() {
    let (include, origin) = templated_include();
    assert!(find_task_file("nothere.yml", &include.context).is_none());
    let err = load_task_file(
        "nothere.yml",
        &include.context,
        &origin,
        &Registry,
        &LoadOptions::default(),
    )
    .expect_err("missing file");
    assert_eq!(
        diag_text(&err),
        "constructs/site.yml:82:7: task file `nothere.yml` not found (looked in: constructs)"
    );
}

#[test]
fn rendered_role_name_loads_the_role() {
    let (include, origin) = templated_include();
    let sel = RoleSelectors {
        tasks_from: Some("other".into()),
        ..RoleSelectors::default()
    };
    let role = load_role(
        "helper",
        &sel,
        &include.context,
        &origin,
        &Registry,
        &LoadOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{}", diag_text(&d)));
    assert_eq!(role.name, "helper");
    assert_eq!(role.tasks[0].name.as_deref(), Some("helper other"));
    assert_eq!(role.handlers.len(), 1);
    let err = load_role(
        "helpr",
        &RoleSelectors::default(),
        &include.context,
        &origin,
        &Registry,
        &LoadOptions::default(),
    )
    .expect_err("missing role");
    assert_eq!(
        diag_text(&err),
        "constructs/site.yml:82:7: role `helpr` not found (looked in: constructs/roles, constructs); did you mean `helper`?"
    );
}

#[test]
fn extra_role_paths_are_searched() {
    let opts = LoadOptions {
        role_paths: vec![corpus("etcd/roles")],
        ..LoadOptions::default()
    };
    let (include, origin) = templated_include();
    let role = load_role(
        "common",
        &RoleSelectors::default(),
        &include.context,
        &origin,
        &Registry,
        &opts,
    )
    .unwrap_or_else(|d| panic!("{}", diag_text(&d)));
    assert_eq!(role.defaults["etcd_user"], serde_json::json!("etcd"));
}
