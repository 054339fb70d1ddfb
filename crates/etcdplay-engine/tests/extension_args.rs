//! What an extension is told a task's arguments are is what the task runs with, including
//! `module_defaults`: the etcd layer's data-dir guard reads the unit a `systemd` task names,
//! and a unit named only in `module_defaults` (which Ansible passes to the module, as its
//! service target shows) must not escape it.

use std::sync::{Arc, Mutex};

mod support;

use async_trait::async_trait;
use etcdplay_engine::{
    Engine, EngineExtension, HostEvent, LocalConnector, Preflight, Reporter, RunOptions, Stats,
    TaskContext, TaskKindLabel,
};
use etcdplay_modules::Registry;
use etcdplay_playbook::{load_playbook, LoadOptions};
use serde_json::{Map, Value};

use support::TinyInventory;

struct Quiet;

impl Reporter for Quiet {
    fn play_start(&self, _name: &str, _hosts: &[String]) {}
    fn task_start(&self, _kind: TaskKindLabel, _header: &str, _hosts: &[String]) {}
    fn host_event(&self, _e: &HostEvent) {}
    fn warning(&self, _message: &str) {}
    fn recap(&self, _stats: &Stats) {}
}

/// Remembers the arguments of every task it is asked about and lets the task run.
#[derive(Default)]
struct Recorder(Mutex<Vec<Map<String, Value>>>);

#[async_trait]
impl EngineExtension for Recorder {
    async fn preflight(&self, ctx: &dyn TaskContext, hosts: &[String]) -> Preflight {
        let vars = ctx.vars(&hosts[0]);
        if let Ok(args) = ctx.module_args(&vars) {
            self.0.lock().unwrap().push(args);
        }
        Preflight::Proceed
    }
}

#[tokio::test]
async fn module_defaults_reach_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let playbook = r#"
- hosts: all
  gather_facts: false
  module_defaults:
    ansible.builtin.debug: {msg: "{{ 'from ' ~ 'defaults' }}"}
  tasks:
    - debug:
    - debug: {msg: own}
"#;
    std::fs::write(dir.path().join("site.yml"), playbook).unwrap();
    let book = load_playbook(
        &dir.path().join("site.yml"),
        &Registry,
        &LoadOptions::default(),
    )
    .expect("playbook parses");
    let recorder = Arc::new(Recorder::default());
    let engine = Engine::new(
        Arc::new(TinyInventory {
            hosts: vec!["n1".into()],
            root: dir.path().to_path_buf(),
        }),
        Arc::new(LocalConnector),
        Arc::new(Quiet),
        RunOptions::default(),
        vec![dir.path().to_path_buf()],
    )
    .with_extension(recorder.clone());
    engine.run(&book).await.expect("run");
    engine.close().await;
    let seen: Vec<Value> = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|a| a.get("msg").cloned().unwrap_or(Value::Null))
        .collect();
    assert_eq!(seen, vec![Value::from("from defaults"), Value::from("own")]);
}
