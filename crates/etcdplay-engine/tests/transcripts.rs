//! Engine behaviour as transcripts: a playbook in, the events the engine reports out, compared
//! with the expected text written next to the playbook (in the manner of rust-analyzer's
//! `check(input, expect)`). Hosts `n1` and `n2` are this machine through `LocalConnector`, each
//! with a scratch directory in `workdir`, so tasks run real modules without the lab.
//! `UPDATE_EXPECT=1 cargo test -p etcdplay-engine --test transcripts` rewrites the expectations
//! after a deliberate change; review the diff.

use std::sync::{Arc, Mutex};

mod support;

use support::TinyInventory;

use etcdplay_engine::{
    Engine, HostEvent, HostStatus, LocalConnector, Reporter, RunOptions, Stats, TaskKindLabel,
};
use etcdplay_modules::Registry;
use etcdplay_playbook::{load_playbook, LoadOptions};
use expect_test::{expect, Expect};

/// Writes one line per event, as terse as Ansible's stream: what the engine decided, not how
/// long it took. Hosts run a task in parallel, so a task's host lines are written in host
/// order (each host's own lines keep their order) when the next header comes.
#[derive(Default)]
struct Transcript {
    lines: Mutex<Vec<String>>,
    pending: Mutex<Vec<(String, String)>>,
}

impl Transcript {
    fn push(&self, line: String) {
        self.flush();
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }

    fn flush(&self) {
        let mut pending =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        pending.sort_by(|a, b| a.0.cmp(&b.0));
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.extend(pending.into_iter().map(|(_, line)| line));
    }

    fn text(&self) -> String {
        self.flush();
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }
}

impl Reporter for Transcript {
    fn play_start(&self, name: &str, _hosts: &[String]) {
        self.push(format!("PLAY [{name}]"));
    }
    fn task_start(&self, kind: TaskKindLabel, header: &str, _hosts: &[String]) {
        let word = match kind {
            TaskKindLabel::Task => "TASK",
            TaskKindLabel::Handler => "HANDLER",
        };
        self.push(format!("{word} [{header}]"));
    }
    fn host_event(&self, e: &HostEvent) {
        let status = match e.status {
            HostStatus::Ok => "ok",
            HostStatus::Changed => "changed",
            HostStatus::Skipped => "skipping",
            HostStatus::Failed => "failed",
            HostStatus::Ignored => "ignored",
            HostStatus::Unreachable => "unreachable",
        };
        let item = e
            .item_label
            .as_ref()
            .map(|l| format!(" (item={l})"))
            .unwrap_or_default();
        let msg = e
            .msg
            .as_ref()
            .filter(|m| !m.is_empty())
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let host = match &e.delegated_to {
            Some(to) => format!("{} -> {to}", e.host),
            None => e.host.clone(),
        };
        let shown = match &e.debug_output {
            Some(v) => format!(" => {v}"),
            None => String::new(),
        };
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((
                e.host.clone(),
                format!("  {status}: [{host}]{item}{msg}{shown}"),
            ));
    }
    fn warning(&self, message: &str) {
        self.push(format!("WARNING: {message}"));
    }
    fn recap(&self, stats: &Stats) {
        for (host, s) in stats {
            self.push(format!(
                "RECAP {host} ok={} changed={} failed={} skipped={} rescued={} ignored={}",
                s.ok, s.changed, s.failed, s.skipped, s.rescued, s.ignored
            ));
        }
    }
}

/// Runs `playbook` on n1 and n2 and compares the transcript with `expect`.
fn check(playbook: &str, expect: Expect) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.yml");
    std::fs::write(&path, playbook).expect("write playbook");
    let book = load_playbook(&path, &Registry, &LoadOptions::default()).expect("parses");
    let transcript = Arc::new(Transcript::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let engine = Engine::new(
            Arc::new(TinyInventory {
                hosts: vec!["n1".into(), "n2".into()],
                root: dir.path().to_path_buf(),
            }),
            Arc::new(LocalConnector),
            transcript.clone(),
            RunOptions::default(),
            vec![dir.path().to_path_buf()],
        );
        engine.run(&book).await.expect("run");
        engine.close().await;
    });
    // Messages name files by their full path: the scratch directory is left out.
    let shown = transcript
        .text()
        .replace(&format!("{}/", dir.path().display()), "");
    expect.assert_eq(&(shown + "\n"));
}

#[test]
fn play_keywords_reach_every_task() {
    check(
        r#"
- hosts: nodes
  gather_facts: false
  no_log: true
  ignore_errors: true
  tasks:
    - name: hidden
      debug: msg=secret
    - name: fails but goes on
      fail: msg=secret-reason
    - name: shown again
      debug: msg=visible
      no_log: false
"#,
        expect![[r#"
            PLAY [nodes]
            TASK [hidden]
              ok: [n1]
              ok: [n2]
            TASK [fails but goes on]
              ignored: [n1]
              ignored: [n2]
            TASK [shown again]
              ok: [n1]: visible => {"msg":"visible"}
              ok: [n2]: visible => {"msg":"visible"}
            RECAP n1 ok=3 changed=0 failed=0 skipped=0 rescued=0 ignored=1
            RECAP n2 ok=3 changed=0 failed=0 skipped=0 rescued=0 ignored=1
        "#]],
    );
}

#[test]
fn loops_conditions_and_registered_results() {
    check(
        r#"
- hosts: nodes
  gather_facts: false
  tasks:
    - name: one file per item, n2 skips b
      copy: content={{ item }} dest={{ workdir }}-{{ item }}
      loop: [a, b]
      when: not (inventory_hostname == 'n2' and item == 'b')
      register: made
    - name: what was registered
      debug: msg="{{ made.results | map(attribute='changed') | list }}"
    - name: nothing left to do
      copy: content={{ item }} dest={{ workdir }}-{{ item }}
      loop: [a]
"#,
        expect![[r#"
            PLAY [nodes]
            TASK [one file per item, n2 skips b]
              changed: [n1] (item=a)
              changed: [n1] (item=b)
              changed: [n2] (item=a)
              skipping: [n2] (item=b)
            TASK [what was registered]
              ok: [n1] => {"msg":[true,true]}
              ok: [n2] => {"msg":[true,false]}
            TASK [nothing left to do]
              ok: [n1] (item=a)
              ok: [n2] (item=a)
            RECAP n1 ok=3 changed=1 failed=0 skipped=0 rescued=0 ignored=0
            RECAP n2 ok=3 changed=1 failed=0 skipped=0 rescued=0 ignored=0
        "#]],
    );
}

#[test]
fn blocks_rescue_always_and_handlers() {
    check(
        r#"
- hosts: nodes
  gather_facts: false
  handlers:
    - name: note
      debug: msg="handler on {{ inventory_hostname }}"
  tasks:
    - block:
        - name: change, then fail on n2
          copy: content=x dest={{ workdir }}-x
          notify: note
        - name: fail on n2
          fail: msg=boom
          when: inventory_hostname == 'n2'
      rescue:
        - name: recovered
          debug: msg="rescued {{ ansible_failed_result.msg }}"
      always:
        - name: always
          debug: msg=always
    - name: after the block
      debug: msg="{{ ansible_play_hosts | join(',') }}"
"#,
        expect![[r#"
            PLAY [nodes]
            TASK [change, then fail on n2]
              changed: [n1]
              changed: [n2]
            TASK [fail on n2]
              skipping: [n1]
              failed: [n2]: boom
            TASK [recovered]
              ok: [n2]: rescued boom => {"msg":"rescued boom"}
            TASK [always]
              ok: [n1]: always => {"msg":"always"}
              ok: [n2]: always => {"msg":"always"}
            TASK [after the block]
              ok: [n1]: n1,n2 => {"msg":"n1,n2"}
              ok: [n2]: n1,n2 => {"msg":"n1,n2"}
            HANDLER [note]
              ok: [n1]: handler on n1 => {"msg":"handler on n1"}
              ok: [n2]: handler on n2 => {"msg":"handler on n2"}
            RECAP n1 ok=4 changed=1 failed=0 skipped=1 rescued=0 ignored=0
            RECAP n2 ok=5 changed=1 failed=0 skipped=0 rescued=1 ignored=0
        "#]],
    );
}

/// As ansible-core 2.19 does (checked on the same playbook): `set_fact` in a loop sees what the
/// earlier items set, and a task that fails before its action runs still registers the failure.
#[test]
fn set_fact_loops_accumulate_and_failures_register() {
    check(
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - set_fact:
        acc: "{{ (acc | default([])) + [item] }}"
      loop: [1, 2, 3]
    - debug: var=acc
    - debug: msg="{{ nope }}"
      register: r
      ignore_errors: true
    - debug: msg="{{ r.failed }}"
"#,
        expect![[r#"
            PLAY [n1]
            TASK [set_fact]
              ok: [n1] (item=1)
              ok: [n1] (item=2)
              ok: [n1] (item=3)
            TASK [debug]
              ok: [n1] => {"acc":[1,2,3]}
            TASK [debug]
              ignored: [n1]: site.yml:9:14: 'nope' is undefined
            TASK [debug]
              ok: [n1] => {"msg":true}
            RECAP n1 ok=4 changed=0 failed=0 skipped=0 rescued=0 ignored=1
        "#]],
    );
}

/// `delegate_to` a name that is not in the inventory reaches that name, as in Ansible (here
/// through the play's local connection).
#[test]
fn delegate_to_a_host_outside_the_inventory() {
    check(
        r#"
- hosts: n1
  gather_facts: false
  connection: local
  tasks:
    - command: echo hi
      delegate_to: builder.example
      changed_when: false
"#,
        expect![[r#"
            PLAY [n1]
            TASK [command]
              ok: [n1 -> builder.example]
            RECAP n1 ok=1 changed=0 failed=0 skipped=0 rescued=0 ignored=0
        "#]],
    );
}
