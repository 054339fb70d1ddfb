//! Parsing whole playbooks from the corpus into the model: an etcd deployment in the INI-era
//! role layout and a playbook exercising every construct, compared as outline snapshots and by
//! direct assertions on the fields the engine relies on.

mod support;

use etcdplay_playbook::{Flag, LoopKind, Serial, Strategy, TaskKind, VarsSource};
use serde_json::json;
use support::*;

#[test]
fn etcd_role_playbook_snapshot() {
    let pb = load("etcd/site.yml").unwrap_or_else(|d| panic!("{}", diag_text(&d)));
    assert_snapshot("etcd/site.snapshot", &render(&pb));
}

#[test]
fn etcd_role_playbook_fields() {
    let pb = load("etcd/site.yml").unwrap_or_else(|d| panic!("{}", diag_text(&d)));
    assert_eq!(pb.plays.len(), 2, "import_playbook is flattened");
    let play = &pb.plays[0];
    assert_eq!(play.hosts, "etcds");
    assert_eq!(play.become_, Some(Flag::Bool(true)));
    assert_eq!(play.serial, vec![Serial::Count(1), Serial::Percent(50)]);
    assert_eq!(play.vars["etcd_version"], json!("3.4.23"));
    let etcds = &play.roles[0];
    assert_eq!(etcds.name, "etcds");
    assert_eq!(etcds.role.dependencies[0].name, "common");
    assert_eq!(
        etcds.role.dependencies[0].params["etcd_user"],
        json!("etcd")
    );
    assert_eq!(etcds.role.defaults["etcd_client_port"], json!(2379));
    assert_eq!(
        etcds.role.vars["etcd_name"],
        json!("etcd{{ groups.etcds.index(inventory_hostname) }}")
    );

    let tasks = &etcds.role.tasks;
    let service = tasks
        .iter()
        .find(|t| t.name.as_deref() == Some("Create etcd service"))
        .expect("service task");
    let TaskKind::Module(m) = &service.kind else {
        panic!("module expected")
    };
    assert_eq!(m.name, "template");
    assert_eq!(m.args["src"], json!("etcd.service.j2"));
    assert_eq!(m.args["dest"], json!("/etc/systemd/system/etcd.service"));
    assert_eq!(service.role.as_deref(), Some("etcds"));
    assert_eq!(
        service.origin.file,
        "tests/corpus/etcd/roles/etcds/tasks/main.yml"
    );
    assert_eq!((service.origin.line, service.origin.col), (17, 3));

    let start = tasks
        .iter()
        .find(|t| t.name.as_deref() == Some("Start etcd daemon"))
        .expect("start task");
    let TaskKind::Module(m) = &start.kind else {
        panic!("module expected")
    };
    assert_eq!(m.name, "systemd");
    assert_eq!(
        json!(m.args),
        json!({"name": "etcd", "state": "started", "enabled": "yes", "daemon_reload": "yes"})
    );

    let dirs = &tasks[1];
    let l = dirs.loop_.as_ref().expect("with_dict");
    assert_eq!(l.kind, LoopKind::With("dict".into()));
    assert_eq!(l.items, json!("{{ etcd_dirs }}"));

    let include = &tasks[2];
    assert_eq!(include.when, vec!["enable_tls | bool"]);
    assert_eq!(
        include.header_name(),
        "etcds : include_tasks",
        "unnamed tasks show their action"
    );
    assert_eq!(service.header_name(), "etcds : Create etcd service");
    let TaskKind::IncludeTasks(i) = &include.kind else {
        panic!("include expected")
    };
    assert!(!i.is_static);
    assert_eq!(
        i.tasks.as_ref().map(Vec::len),
        Some(1),
        "a literal include is pre-parsed"
    );

    let wait = tasks.last().expect("tasks");
    assert_eq!(wait.changed_when, Some(vec!["False".to_string()]));

    let handlers: Vec<_> = play
        .all_handlers()
        .iter()
        .map(|h| h.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(handlers, vec!["restart etcd", "reload systemd"]);
    assert_eq!(play.all_handlers()[0].listen, vec!["etcd config changed"]);

    let verify = &pb.plays[1];
    assert_eq!(verify.tags, vec!["verify"]);
    assert_eq!(verify.gather_facts, Some(Flag::Bool(false)));
    assert_eq!(
        verify.playbook_dir,
        std::path::Path::new("tests/corpus/etcd")
    );
}

#[test]
fn constructs_snapshot() {
    let pb = load("constructs/site.yml").unwrap_or_else(|d| panic!("{}", diag_text(&d)));
    assert_snapshot("constructs/site.snapshot", &render(&pb));
}

#[test]
fn constructs_fields() {
    let pb = load("constructs/site.yml").unwrap_or_else(|d| panic!("{}", diag_text(&d)));
    let play = &pb.plays[0];
    assert_eq!(play.strategy, Strategy::Free);
    assert_eq!(play.hosts, "etcds,!backup");
    assert_eq!(play.max_fail_percentage, Some(25.0));
    assert_eq!(play.tags, vec!["deploy", "etcd"]);
    let by_name = |n: &str| {
        play.tasks
            .iter()
            .find(|t| t.name.as_deref() == Some(n))
            .unwrap_or_else(|| panic!("{n}"))
    };

    let shell = by_name("free form with chdir");
    let TaskKind::Module(m) = &shell.kind else {
        panic!()
    };
    assert_eq!(m.name, "shell");
    assert_eq!(
        json!(m.args),
        json!({"chdir": "/tmp", "_raw_params": "echo \"a b\" | tee out x=1"})
    );

    let merged = by_name("args merged");
    let TaskKind::Module(m) = &merged.kind else {
        panic!()
    };
    assert_eq!(m.name, "copy", "ansible.builtin.copy is canonicalised");
    assert_eq!(
        json!(m.args),
        json!({"content": "x", "dest": "/tmp/inline", "mode": "0600"})
    );

    let local = by_name("local action");
    assert_eq!(local.delegate_to.as_deref(), Some("localhost"));
    let TaskKind::Module(m) = &local.kind else {
        panic!()
    };
    assert_eq!(
        (m.name.as_str(), &m.args["msg"]),
        ("debug", &json!("on the controller"))
    );

    let block = by_name("a block");
    let TaskKind::Block(b) = &block.kind else {
        panic!()
    };
    assert_eq!((b.block.len(), b.rescue.len(), b.always.len()), (2, 1, 1));
    assert_eq!(
        block.become_,
        Some(Flag::Template("{{ use_become }}".into()))
    );

    let looped = by_name("loop with control");
    let lc = looped.loop_control.as_ref().expect("loop_control");
    assert_eq!(
        (lc.loop_var.as_str(), lc.index_var.as_deref()),
        ("member", Some("idx"))
    );
    assert_eq!(lc.pause, Some(json!(1)));
    assert_eq!(
        looped.loop_.as_ref().map(|l| &l.kind),
        Some(&LoopKind::Loop)
    );

    let vars = by_name("include vars");
    let TaskKind::IncludeVars(v) = &vars.kind else {
        panic!()
    };
    assert_eq!(v.source, VarsSource::File("extra.yml".into()));
    assert_eq!(v.name.as_deref(), Some("extra"));

    let import = by_name("import a file");
    let TaskKind::IncludeTasks(i) = &import.kind else {
        panic!()
    };
    assert!(i.is_static);
    assert_eq!(i.tasks.as_ref().map(Vec::len), Some(2));

    let dynamic = by_name("include a templated file");
    let TaskKind::IncludeTasks(i) = &dynamic.kind else {
        panic!()
    };
    assert!(i.tasks.is_none());
    assert_eq!(
        i.context.search_dirs,
        vec![std::path::PathBuf::from("tests/corpus/constructs")]
    );

    let role = by_name("import a role");
    let TaskKind::IncludeRole(r) = &role.kind else {
        panic!()
    };
    let loaded = r.role.as_ref().expect("import_role is loaded");
    assert_eq!(loaded.tasks.len(), 1, "tasks_from picks other.yml");
    assert_eq!(loaded.tasks[0].role.as_deref(), Some("helper"));

    let retry = by_name("retry until");
    assert_eq!(retry.until, Some(vec!["result.rc == 0".to_string()]));
    assert_eq!(retry.retries, Some(json!(3)));
    assert_eq!(
        retry.ignore_errors,
        Some(Flag::Bool(true)),
        "`ignore_errors: On` is a YAML 1.1 boolean"
    );
    assert_eq!(
        retry.no_log,
        Some(Flag::Bool(true)),
        "`no_log: \"yes\"` is an Ansible boolean string"
    );
}
