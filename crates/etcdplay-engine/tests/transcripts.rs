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
    fn retrying(&self, header: &str, host: &str, retries_left: u32, _result: &serde_json::Value) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((
                host.to_string(),
                format!("  FAILED - RETRYING: [{host}]: {header} ({retries_left} retries left)."),
            ));
    }
    fn included(&self, what: &str, hosts: &[String], item_label: Option<&str>) {
        let item = item_label
            .map(|l| format!(" => (item={l})"))
            .unwrap_or_default();
        self.push(format!("  included: {what} for {}{item}", hosts.join(", ")));
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
    check_files(playbook, &[], expect);
}

/// [`check`] with more files (roles, task files) beside the playbook, by relative path; the
/// transcript starts with the playbook's warnings (see `etcdplay_engine::playbook_warnings`).
fn check_files(playbook: &str, files: &[(&str, &str)], expect: Expect) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write file");
    }
    let path = dir.path().join("site.yml");
    std::fs::write(&path, playbook).expect("write playbook");
    // As the CLI loads playbooks: templated import names rendered with play vars, vars_files
    // and extra vars.
    let options = LoadOptions {
        import_names: Some(Arc::new(etcdplay_engine::ImportNameRenderer::new(
            etcdplay_template::Templar::new(Vec::new()),
        ))),
        ..LoadOptions::default()
    };
    let book = match load_playbook(&path, &Registry, &options) {
        Ok(book) => book,
        Err(d) => {
            let shown = d
                .to_string()
                .replace(&format!("{}/", dir.path().display()), "");
            expect.assert_eq(&format!("ERRORS\n{shown}\n"));
            return;
        }
    };
    let transcript = Arc::new(Transcript::default());
    let mut warnings = book.warnings.clone();
    warnings.extend(etcdplay_engine::playbook_warnings(
        &book,
        &etcdplay_template::Templar::new(Vec::new()),
    ));
    for w in warnings.sorted().iter() {
        transcript.push(format!("WARNING: {w}"));
    }
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

/// Problems Ansible only reports when their task runs. ansible-core 2.19.14, same playbook on
/// localhost (`-c local`), printed: `TASK [a branch for another platform]` `skipping:`; `bad
/// argument` fatal "Unsupported parameters for (file) module: bogus. Supported parameters
/// include: _diff_peek, ..." (its own option list) `...ignoring`, then
/// `r.failed` true; the block's `copy` fatal "src (or content) is required" and the rescue ran;
/// `command` with a bad argument and `failed_when: false` ok, `c.failed` false; the Jinja
/// mistakes of a task whose `when:` is false: skipping (its `--syntax-check` passed, and the
/// role's handler file using `win_file` was never read). etcdplay says the same things ahead
/// as warnings. `with_fileglob` of a pattern nothing matches: no items, the task skipped in
/// both. (A k=v `msg="{{ oops }"` is refused by Ansible before the run: "failed at splitting
/// arguments, either an unbalanced jinja2 block or quotes"; so by etcdplay, see `kv.rs`.)
/// Different here: an include that runs a file with an unknown module: Ansible stops the
/// whole run there ("couldn't resolve module/action 'win_shell'", exit 4), etcdplay fails the
/// host.
#[test]
fn problems_of_tasks_that_may_not_run_are_warnings_then_task_failures() {
    check_files(
        r#"
- hosts: n1
  gather_facts: false
  roles: [helper]
  tasks:
    - name: a branch for another platform
      include_tasks: windows.yml
      when: false
    - name: bad argument
      file: path={{ workdir }} bogus=1
      register: r
      ignore_errors: true
    - debug: msg="{{ r.failed }}"
    - block:
        - copy: dest={{ workdir }}-x
      rescue:
        - debug: msg="rescued"
    - command: echo hi
      args:
        bogus: 1
      failed_when: false
      register: c
    - debug: msg="{{ c.failed }}"
    - name: jinja mistakes in a task that does not run
      debug: msg="{{ 1 | no_such_filter }} {{ 2 is no_such_test }}"
      when: false
    - name: a syntax error
      debug:
        msg: "{{ oops }"
      when: false
    - name: a lookup loop without items
      debug: msg="{{ item }}"
      with_fileglob: ["*.conf"]
      ignore_errors: true
    - name: this one runs
      include_tasks: windows.yml
"#,
        &[
            ("roles/helper/tasks/main.yml", "- debug: msg=helper\n"),
            (
                "roles/helper/handlers/main.yml",
                "- name: cleanup\n  include_tasks: cleanup.yml\n",
            ),
            (
                "roles/helper/tasks/cleanup.yml",
                "- win_file: path=C:\\\\temp state=absent\n",
            ),
            ("windows.yml", "- win_shell: echo hi\n"),
        ],
        expect![[r#"
            WARNING: roles/helper/tasks/cleanup.yml:1:3: unknown module or task keyword `win_file`; did you mean `ini_file`?
            WARNING: site.yml:10:32: `file` has no argument `bogus`
            WARNING: site.yml:15:17: `copy` needs `src` or `content`
            WARNING: site.yml:20:9: `command` has no argument `bogus`
            WARNING: site.yml:25:14: no filter named 'no_such_filter'
            WARNING: site.yml:25:14: no test named 'no_such_test'
            WARNING: site.yml:29:9: template syntax error: unexpected `}`, expected end of variable block
            WARNING: windows.yml:1:3: unknown module or task keyword `win_shell`
            PLAY [n1]
            TASK [helper : debug]
              ok: [n1]: helper => {"msg":"helper"}
            TASK [a branch for another platform]
              skipping: [n1]
            TASK [bad argument]
              ignored: [n1]: Unsupported parameters for (file) module: bogus. Supported parameters include: _diff_peek, access_time, access_time_format, attributes, follow, force, group, mode, modification_time, modification_time_format, owner, path, recurse, selevel, serole, setype, seuser, src, state, unsafe_writes (attr, dest, name).
            TASK [debug]
              ok: [n1] => {"msg":true}
            TASK [copy]
              failed: [n1]: src (or content) is required
            TASK [debug]
              ok: [n1]: rescued => {"msg":"rescued"}
            TASK [command]
              ok: [n1]: Unsupported parameters for (command) module: bogus. Supported parameters include: _raw_params, argv, chdir, cmd, creates, executable, expand_argument_vars, removes, stdin, stdin_add_newline, strip_empty_ends (free_form).
            TASK [debug]
              ok: [n1] => {"msg":false}
            TASK [jinja mistakes in a task that does not run]
              skipping: [n1]
            TASK [a syntax error]
              skipping: [n1]
            TASK [a lookup loop without items]
              skipping: [n1]
            TASK [this one runs]
              failed: [n1]: windows.yml:1:3: unknown module or task keyword `win_shell`
            RECAP n1 ok=6 changed=0 failed=1 skipped=4 rescued=1 ignored=1
        "#]],
    );
}

/// A role's own Python module (`library/make_repo.py`, as ansible-core's `setup_rpm_repo` has
/// `create_repo`). ansible-core 2.19.14, same files, `-i localhost, -c local`: `TASK [helper :
/// only on Red Hat]` `skipping:`; `TASK [helper : make a repo]` `changed:` (Ansible runs the
/// module); `TASK [debug]` ok; recap ok=2 changed=1 skipped=1. etcdplay runs no Python plugins:
/// it warns before the run and fails the task that runs (ignored here), then goes on.
#[test]
fn python_plugins_of_a_role_are_warnings_then_task_failures() {
    check_files(
        r#"
- hosts: n1
  gather_facts: false
  roles: [helper]
  tasks:
    - debug: msg=after
"#,
        &[
            (
                "roles/helper/tasks/main.yml",
                "- name: only on Red Hat\n  make_repo: tempdir=/tmp\n  when: false\n\
                 - name: make a repo\n  make_repo: tempdir=/tmp\n  ignore_errors: true\n",
            ),
            ("roles/helper/library/make_repo.py", "#!/usr/bin/python\n"),
        ],
        expect![[r#"
            WARNING: roles/helper/tasks/main.yml:2:14: `make_repo` is a Python plugin (roles/helper/library/make_repo.py), which etcdplay does not run; the task fails if it runs
            WARNING: roles/helper/tasks/main.yml:5:14: `make_repo` is a Python plugin (roles/helper/library/make_repo.py), which etcdplay does not run; the task fails if it runs
            PLAY [n1]
            TASK [helper : only on Red Hat]
              skipping: [n1]
            TASK [helper : make a repo]
              ignored: [n1]: roles/helper/tasks/main.yml:5:14: etcdplay does not implement the module `make_repo`
            TASK [debug]
              ok: [n1]: after => {"msg":"after"}
            RECAP n1 ok=2 changed=0 failed=0 skipped=1 rescued=0 ignored=1
        "#]],
    );
}

/// A role of `roles:`/`dependencies:` runs once per play and host, as ansible-core's targets
/// rely on (`setup_remote_tmp_dir` is a dependency of a target and of its other dependencies).
/// ansible-core 2.19.14, same files, `-i localhost, -c local`, printed in order: `tmp-ran`,
/// `a-ran` (a's dependency tmp had run), `b-ran`; `skipper` twice, both skipping (a role whose
/// tasks all skipped has not run); the second `tmp` of `roles:` nothing, `{role: tmp, x: 1}`
/// (other parameters) `tmp-ran`; each `include_role`/`import_role` of tmp `tmp-ran` (three
/// times); `include_role: a` only `a-ran` (its dependency tmp had run); recap ok=11 skipped=2.
#[test]
fn static_roles_run_once_per_play_and_host() {
    check_files(
        r#"
- hosts: n1
  gather_facts: false
  roles: [b, skipper, skipper, tmp, {role: tmp, x: 1}]
  tasks:
    - include_role: name=tmp
    - include_role: name=tmp
    - import_role: name=tmp
    - include_role: name=a
"#,
        &[
            ("roles/tmp/tasks/main.yml", "- debug: msg=tmp-ran\n"),
            ("roles/a/meta/main.yml", "dependencies: [tmp]\n"),
            ("roles/a/tasks/main.yml", "- debug: msg=a-ran\n"),
            ("roles/b/meta/main.yml", "dependencies: [tmp, a]\n"),
            ("roles/b/tasks/main.yml", "- debug: msg=b-ran\n"),
            (
                "roles/skipper/tasks/main.yml",
                "- debug: msg=skipper\n  when: false\n",
            ),
        ],
        expect![[r#"
            PLAY [n1]
            TASK [tmp : debug]
              ok: [n1]: tmp-ran => {"msg":"tmp-ran"}
            TASK [a : debug]
              ok: [n1]: a-ran => {"msg":"a-ran"}
            TASK [b : debug]
              ok: [n1]: b-ran => {"msg":"b-ran"}
            TASK [skipper : debug]
              skipping: [n1]
            TASK [skipper : debug]
              skipping: [n1]
            TASK [tmp : debug]
              ok: [n1]: tmp-ran => {"msg":"tmp-ran"}
            TASK [include_role : tmp]
              included: tmp for n1
            TASK [tmp : debug]
              ok: [n1]: tmp-ran => {"msg":"tmp-ran"}
            TASK [include_role : tmp]
              included: tmp for n1
            TASK [tmp : debug]
              ok: [n1]: tmp-ran => {"msg":"tmp-ran"}
            TASK [tmp : debug]
              ok: [n1]: tmp-ran => {"msg":"tmp-ran"}
            TASK [include_role : a]
              included: a for n1
            TASK [a : debug]
              ok: [n1]: a-ran => {"msg":"a-ran"}
            RECAP n1 ok=11 changed=0 failed=0 skipped=2 rescued=0 ignored=0
        "#]],
    );
}

/// The handlers of a role reached twice through dependencies exist once. ansible-core 2.19.14,
/// same files, `-i localhost, -c local`: `tmph : debug` changed, `c : debug`, `d : debug`, then
/// `RUNNING HANDLER [tmph : cleanup]` once; recap ok=4 changed=1.
#[test]
fn handlers_of_a_role_reached_twice_run_once() {
    check_files(
        "- hosts: n1\n  gather_facts: false\n  roles: [d]\n",
        &[
            (
                "roles/tmph/tasks/main.yml",
                "- debug: msg=tmp-ran\n  changed_when: true\n  notify: cleanup\n",
            ),
            (
                "roles/tmph/handlers/main.yml",
                "- name: cleanup\n  debug: msg=cleaned\n",
            ),
            ("roles/c/meta/main.yml", "dependencies: [tmph]\n"),
            ("roles/c/tasks/main.yml", "- debug: msg=c-ran\n"),
            ("roles/d/meta/main.yml", "dependencies: [tmph, c]\n"),
            ("roles/d/tasks/main.yml", "- debug: msg=d-ran\n"),
        ],
        expect![[r#"
            PLAY [n1]
            TASK [tmph : debug]
              changed: [n1]: tmp-ran => {"msg":"tmp-ran"}
            TASK [c : debug]
              ok: [n1]: c-ran => {"msg":"c-ran"}
            TASK [d : debug]
              ok: [n1]: d-ran => {"msg":"d-ran"}
            HANDLER [tmph : cleanup]
              ok: [n1]: cleaned => {"msg":"cleaned"}
            RECAP n1 ok=4 changed=1 failed=0 skipped=0 rescued=0 ignored=0
        "#]],
    );
}

/// `included:` lines and per-host `skipping:` lines of dynamic includes. ansible-core 2.19.14
/// on the same playbook (hosts n1, n2, `-c local`) printed, under `TASK [inc plain]`:
/// `included: <dir>/inc.yml for n1, n2`; under `TASK [inc when]`: `skipping: [n2]` then
/// `included: <dir>/inc.yml for n1`; under `TASK [inc loop]`: `included: <dir>/inc.yml for n1,
/// n2 => (item=1)` and `... => (item=2)`, both before either ran; under `TASK [inc role]`:
/// `skipping: [n2]`, `included: rr for n1`; and the recap `n1 ok=10`, `n2 ok=6 skipped=2`
/// (each `included:` counts as ok).
#[test]
fn dynamic_includes_print_included_and_skipping_lines() {
    check_files(
        r#"
- hosts: nodes
  gather_facts: false
  tasks:
    - name: inc plain
      include_tasks: inc.yml
    - name: inc when
      include_tasks: inc.yml
      when: inventory_hostname == 'n1'
    - name: inc loop
      include_tasks: inc.yml
      loop: [1, 2]
      loop_control:
        loop_var: x
    - name: inc role
      include_role: name=rr
      when: inventory_hostname == 'n1'
"#,
        &[
            ("inc.yml", "- debug: msg=\"in {{ x | default('-') }}\"\n"),
            ("roles/rr/tasks/main.yml", "- debug: msg=rr\n"),
        ],
        expect![[r#"
            PLAY [nodes]
            TASK [inc plain]
              included: inc.yml for n1, n2
            TASK [debug]
              ok: [n1]: in - => {"msg":"in -"}
              ok: [n2]: in - => {"msg":"in -"}
            TASK [inc when]
              skipping: [n2]
              included: inc.yml for n1
            TASK [debug]
              ok: [n1]: in - => {"msg":"in -"}
            TASK [inc loop]
              included: inc.yml for n1, n2 => (item=1)
              included: inc.yml for n1, n2 => (item=2)
            TASK [debug]
              ok: [n1]: in 1 => {"msg":"in 1"}
              ok: [n2]: in 1 => {"msg":"in 1"}
            TASK [debug]
              ok: [n1]: in 2 => {"msg":"in 2"}
              ok: [n2]: in 2 => {"msg":"in 2"}
            TASK [inc role]
              skipping: [n2]
              included: rr for n1
            TASK [rr : debug]
              ok: [n1]: rr => {"msg":"rr"}
            RECAP n1 ok=10 changed=0 failed=0 skipped=0 rescued=0 ignored=0
            RECAP n2 ok=6 changed=0 failed=0 skipped=2 rescued=0 ignored=0
        "#]],
    );
}

/// Ansible's special variables. ansible-core 2.19.14 (`-i inv/hosts` holding one host, play
/// `magic play` with `roles: [r1]`, no ansible.cfg) printed: `role_names=['r1']`,
/// `ansible_role_names=['r1']`, `ansible_dependent_role_names=[]`, `ansible_play_name=magic
/// play`, `ansible_play_hosts_all`/`ansible_play_batch`/`play_hosts` the host list,
/// `ansible_config_file` None (shown empty), `ansible_check_mode=False`,
/// `ansible_diff_mode=False`, `ansible_verbosity=0`, `ansible_forks=5` (its default; etcdplay's
/// is 50), `ansible_run_tags=['all']`, `ansible_skip_tags=[]`, `ansible_limit` undefined,
/// `ansible_version` with keys full, major, minor, revision, string (2.19),
/// `inventory_hostname_short` the name up to the first dot, and with `loop_control: {extended:
/// true, index_var: i}` over [a, b]: `{'index': 1, 'index0': 0, 'first': True, 'last': False,
/// 'length': 2, 'revindex': 2, 'revindex0': 1, 'allitems': ['a', 'b'], 'nextitem': 'b'}` then
/// `... 'previtem': 'a'}`, and `ansible_index_var=i`, `ansible_loop_var=item`. Here the
/// dependency `dep` of r1: Ansible (same playbook) printed `['r1'] ['r1'] ['r1', 'dep']`,
/// `['dep'] magic play` (`ansible_role_names` is a set there: its order may vary).
#[test]
fn special_variables() {
    check_files(
        r#"
- name: magic play
  hosts: n1
  gather_facts: false
  roles: [r1]
  tasks:
    - debug:
        msg:
          - "{{ role_names }} {{ ansible_play_role_names }} {{ ansible_role_names }}"
          - "{{ ansible_dependent_role_names }} {{ ansible_play_name }}"
          - "{{ ansible_play_hosts_all }} {{ ansible_play_batch }} {{ play_hosts }}"
          - "{{ ansible_config_file }} {{ ansible_check_mode }} {{ ansible_diff_mode }}"
          - "{{ ansible_verbosity }} {{ ansible_forks }} {{ ansible_run_tags }}"
          - "{{ ansible_skip_tags }} {{ ansible_limit | default('undefined') }}"
          - "{{ ansible_version.keys() | sort }} {{ ansible_version.major }}"
          - "{{ ansible_version.minor }} {{ inventory_hostname_short }}"
          - "{{ playbook_dir[0] == '/' }}"
    - debug: msg="{{ ansible_loop }} {{ i }} {{ ansible_index_var }} {{ ansible_loop_var }}"
      loop: [a, b]
      loop_control:
        extended: true
        index_var: i
"#,
        &[
            (
                "roles/r1/tasks/main.yml",
                "- debug: msg=\"{{ role_name }} {{ role_path[0] == '/' }}\"\n",
            ),
            ("roles/r1/meta/main.yml", "dependencies: [dep]\n"),
            (
                "roles/dep/tasks/main.yml",
                "- debug: msg=\"{{ role_name }}\"\n",
            ),
        ],
        expect![[r#"
            PLAY [magic play]
            TASK [dep : debug]
              ok: [n1]: dep => {"msg":"dep"}
            TASK [r1 : debug]
              ok: [n1]: r1 True => {"msg":"r1 True"}
            TASK [debug]
              ok: [n1] => {"msg":["['r1'] ['r1'] ['r1', 'dep']","['dep'] magic play","['n1'] ['n1'] ['n1']"," False False","0 50 ['all']","[] undefined","['full', 'major', 'minor', 'revision', 'string'] 2","19 n1",true]}
            TASK [debug]
              ok: [n1] (item=a): {'index': 1, 'index0': 0, 'first': True, 'last': False, 'length': 2, 'revindex': 2, 'revindex0': 1, 'allitems': ['a', 'b'], 'nextitem': 'b'} 0 i item => {"msg":"{'index': 1, 'index0': 0, 'first': True, 'last': False, 'length': 2, 'revindex': 2, 'revindex0': 1, 'allitems': ['a', 'b'], 'nextitem': 'b'} 0 i item"}
              ok: [n1] (item=b): {'index': 2, 'index0': 1, 'first': False, 'last': True, 'length': 2, 'revindex': 1, 'revindex0': 0, 'allitems': ['a', 'b'], 'previtem': 'a'} 1 i item => {"msg":"{'index': 2, 'index0': 1, 'first': False, 'last': True, 'length': 2, 'revindex': 1, 'revindex0': 0, 'allitems': ['a', 'b'], 'previtem': 'a'} 1 i item"}
            RECAP n1 ok=4 changed=0 failed=0 skipped=0 rescued=0 ignored=0
        "#]],
    );
}

/// A use of a role runs once per host in a play: ansible-core 2.19.14 on the same files
/// (`-c local`) ran `tmp` once for `a` and `b` (and not again as a role of the play), again for
/// `c`'s dependency with `x: 1` (other parameters), `dup` (`allow_duplicates: true`) twice, and
/// `skipper` twice (its only task was skipped, so it never counted as run). Recap ok=7
/// skipped=2.
#[test]
fn roles_run_once_unless_their_parameters_differ_or_they_allow_duplicates() {
    check_files(
        r#"
- hosts: n1
  gather_facts: false
  roles: [a, b, c, tmp, dup, dup, skipper, skipper]
"#,
        &[
            (
                "roles/tmp/tasks/main.yml",
                "- debug: msg=\"tmp {{ x | default(0) }}\"\n",
            ),
            ("roles/a/tasks/main.yml", "- debug: msg=a\n"),
            ("roles/a/meta/main.yml", "dependencies: [tmp]\n"),
            ("roles/b/tasks/main.yml", "- debug: msg=b\n"),
            ("roles/b/meta/main.yml", "dependencies: [tmp]\n"),
            ("roles/c/tasks/main.yml", "- debug: msg=c\n"),
            (
                "roles/c/meta/main.yml",
                "dependencies:\n  - role: tmp\n    x: 1\n",
            ),
            ("roles/dup/tasks/main.yml", "- debug: msg=dup\n"),
            ("roles/dup/meta/main.yml", "allow_duplicates: true\n"),
            (
                "roles/skipper/tasks/main.yml",
                "- debug: msg=never\n  when: false\n",
            ),
        ],
        expect![[r#"
            PLAY [n1]
            TASK [tmp : debug]
              ok: [n1]: tmp 0 => {"msg":"tmp 0"}
            TASK [a : debug]
              ok: [n1]: a => {"msg":"a"}
            TASK [b : debug]
              ok: [n1]: b => {"msg":"b"}
            TASK [tmp : debug]
              ok: [n1]: tmp 1 => {"msg":"tmp 1"}
            TASK [c : debug]
              ok: [n1]: c => {"msg":"c"}
            TASK [dup : debug]
              ok: [n1]: dup => {"msg":"dup"}
            TASK [dup : debug]
              ok: [n1]: dup => {"msg":"dup"}
            TASK [skipper : debug]
              skipping: [n1]
            TASK [skipper : debug]
              skipping: [n1]
            RECAP n1 ok=7 changed=0 failed=0 skipped=2 rescued=0 ignored=0
        "#]],
    );
}

/// `include_vars` as a task like any other, role variables seen by the play, `failed_when` on
/// `assert`. ansible-core 2.19.14 on the same files (`-c local`) printed: `iv` =
/// `{ansible_facts: {a: 1}, ansible_included_var_files: [<dir>/vars/a.yml], changed: false,
/// failed: false}`; the looped include registered `[{a: 1}, {b: 2}]` as the items' facts;
/// `dir: vars/d` included `c.yml, e.yaml, j.json, sub/s.yml` (directories in path order, files
/// in name order) giving `3 4 5 6`; `depth: 1, files_matching: ^c, name: only` gave `{c: 3}`;
/// `ignore_files: [c.yml], extensions: [yaml], ignore_unknown_extensions: true, name: ext`
/// gave `{e: 5}`; the role's `include_vars: extra.yml` found the role's `vars/extra.yml`; after
/// the role, play tasks saw its `vars/` and `defaults/` (`1 2`) but not its parameter (`U`);
/// `assert` failing with `failed_when: a.failed and false` was ok with `a.failed` false and
/// `failed_when_result: false`; a passing `assert` with `failed_when: not a.failed` failed
/// ("All assertions passed", `...ignoring`). Recap ok=16 ignored=1.
#[test]
fn include_vars_role_vars_and_failed_when_on_assert() {
    check_files(
        r#"
- hosts: n1
  gather_facts: false
  roles:
    - role: rv
      rparam: p1
  tasks:
    - include_vars: vars/a.yml
      register: iv
    - debug: msg="{{ iv.ansible_facts }} {{ iv.ansible_included_var_files | map('basename') | list }} {{ iv.failed }}"
    - include_vars: "vars/{{ item }}.yml"
      loop: [a, b]
      register: ivl
    - debug: msg="{{ ivl.results | map(attribute='ansible_facts') | list }}"
    - include_vars:
        dir: vars/d
      register: ivd
    - debug: msg="{{ ivd.ansible_included_var_files | map('basename') | list }} {{ c }} {{ s }} {{ e }} {{ j }}"
    - include_vars:
        dir: vars/d
        depth: 1
        files_matching: "^c"
        name: only
    - debug: msg="{{ only }}"
    - include_vars:
        dir: vars/d
        ignore_files: [c.yml]
        extensions: [yaml]
        ignore_unknown_extensions: true
        name: ext
    - debug: msg="{{ ext }}"
    - debug: msg="role vars after {{ rv_var | default('U') }} {{ rv_def | default('U') }} {{ rparam | default('U') }}"
    - assert:
        that: 1 == 2
      register: a
      failed_when: a.failed and false
    - debug: msg="{{ a.failed }} {{ a.failed_when_result }}"
    - assert:
        that: 1 == 1
      failed_when: not a.failed
      register: b
      ignore_errors: true
"#,
        &[
            ("vars/a.yml", "a: 1\n"),
            ("vars/b.yml", "b: 2\n"),
            ("vars/d/c.yml", "c: 3\n"),
            ("vars/d/e.yaml", "e: 5\n"),
            ("vars/d/j.json", "{\"j\": 6}\n"),
            ("vars/d/sub/s.yml", "s: 4\n"),
            ("roles/rv/vars/main.yml", "rv_var: 1\n"),
            ("roles/rv/vars/extra.yml", "rvf: fromrolevars\n"),
            ("roles/rv/defaults/main.yml", "rv_def: 2\n"),
            (
                "roles/rv/tasks/main.yml",
                "- include_vars: extra.yml\n- debug: msg=\"{{ rvf }}\"\n",
            ),
        ],
        expect![[r#"
            PLAY [n1]
            TASK [rv : include_vars]
              ok: [n1]
            TASK [rv : debug]
              ok: [n1]: fromrolevars => {"msg":"fromrolevars"}
            TASK [include_vars]
              ok: [n1]
            TASK [debug]
              ok: [n1]: {'a': 1} ['a.yml'] False => {"msg":"{'a': 1} ['a.yml'] False"}
            TASK [include_vars]
              ok: [n1] (item=a)
              ok: [n1] (item=b)
            TASK [debug]
              ok: [n1] => {"msg":[{"a":1},{"b":2}]}
            TASK [include_vars]
              ok: [n1]
            TASK [debug]
              ok: [n1]: ['c.yml', 'e.yaml', 'j.json', 's.yml'] 3 4 5 6 => {"msg":"['c.yml', 'e.yaml', 'j.json', 's.yml'] 3 4 5 6"}
            TASK [include_vars]
              ok: [n1]
            TASK [debug]
              ok: [n1] => {"msg":{"c":3}}
            TASK [include_vars]
              ok: [n1]
            TASK [debug]
              ok: [n1] => {"msg":{"e":5}}
            TASK [debug]
              ok: [n1]: role vars after 1 2 U => {"msg":"role vars after 1 2 U"}
            TASK [assert]
              ok: [n1]: Assertion failed => {"changed":false,"failed_when_result":false,"assertion":"1 == 2","evaluated_to":false,"msg":"Assertion failed"}
            TASK [debug]
              ok: [n1]: False False => {"msg":"False False"}
            TASK [assert]
              ignored: [n1]: All assertions passed => {"changed":false,"msg":"All assertions passed","failed_when_result":true}
            RECAP n1 ok=16 changed=0 failed=0 skipped=0 rescued=0 ignored=1
        "#]],
    );
}

/// `assert`'s `that` and Ansible's `contains` test. ansible-core 2.19.14 on the same playbook
/// (`-c local`): `that` templated to `True` by an argsplat loop item (`{'that': True}`, `{'that':
/// [True, '1 == 1']}`) passes ("All assertions passed"); a failed `that: "{{ a_var == 'two' }}"`
/// reports the assertion as written (`"assertion": "{{ a_var == 'two' }}"`); `result.msg is
/// contains("Assertion failed")` is Python's `in`, a substring test, so the `failed_when` of
/// the failing assert leaves it failed (`result is not failed or ...` is false).
#[test]
fn assert_takes_any_value_as_its_conditions() {
    check(
        r#"
- hosts: n1
  gather_facts: false
  vars:
    a_var: one
  tasks:
    - assert: "{{ item }}"
      loop:
        - that: '{{ a_var == "one" }}'
        - that: ['{{ a_var == "one" }}', 1 == 1]
    - assert:
        that: "{{ a_var == 'two' }}"
      register: result
      failed_when: result is not failed or result.msg is not contains("Assertion failed")
      ignore_errors: true
"#,
        expect![[r#"
            PLAY [n1]
            TASK [assert]
              ok: [n1] (item={'that': True}): All assertions passed => {"changed":false,"msg":"All assertions passed","item":{"that":true},"ansible_loop_var":"item"}
              ok: [n1] (item={'that': [True, '1 == 1']}): All assertions passed => {"changed":false,"msg":"All assertions passed","item":{"that":[true,"1 == 1"]},"ansible_loop_var":"item"}
            TASK [assert]
              ok: [n1]: Assertion failed => {"changed":false,"failed_when_result":false,"assertion":"{{ a_var == 'two' }}","evaluated_to":false,"msg":"Assertion failed"}
            RECAP n1 ok=2 changed=0 failed=0 skipped=0 rescued=0 ignored=0
        "#]],
    );
}

/// Conditions on a result that cannot be evaluated, and Ansible's `exception`.
/// ansible-core 2.19.14 on the same playbook (`-c local`): `changed_when: boomboomboom` fails
/// the task with the command's result kept (`stdout` "foo") and `changed_when_result` "Error
/// while evaluating conditional: 'boomboomboom' is undefined"; `failed_when` likewise with
/// `failed_when_result`; the debug lines print "True foo (traceback unavailable) True", "True
/// foo True", "False (traceback unavailable)" (`failed_when: false` on `exit 1` moves
/// `exception` to `failed_when_suppressed_exception`) and "(traceback unavailable)" (`exit 0`
/// failed by `failed_when: true`); `debug: var=forced verbosity=3` is skipped.
#[test]
fn result_conditions_that_fail_and_exceptions() {
    check(
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - command: echo foo
      changed_when: boomboomboom
      register: cw
      ignore_errors: true
    - debug: msg="{{ cw.failed }} {{ cw.stdout }} {{ cw.exception }} {{ cw.changed_when_result is contains('boomboomboom') }}"
    - command: echo foo
      failed_when: boomboomboom
      register: fw
      ignore_errors: true
    - debug: msg="{{ fw.failed }} {{ fw.stdout }} {{ fw.failed_when_result is contains('boomboomboom') }}"
    - shell: exit 1
      failed_when: false
      register: suppressed
    - debug: msg="{{ suppressed.exception is defined }} {{ suppressed.failed_when_suppressed_exception }}"
    - shell: exit 0
      failed_when: true
      register: forced
      ignore_errors: true
    - debug: msg="{{ forced.exception }}"
    - debug: var=forced verbosity=3
"#,
        expect![[r#"
            PLAY [n1]
            TASK [command]
              ignored: [n1]
            TASK [debug]
              ok: [n1]: True foo (traceback unavailable) True => {"msg":"True foo (traceback unavailable) True"}
            TASK [command]
              ignored: [n1]
            TASK [debug]
              ok: [n1]: True foo True => {"msg":"True foo True"}
            TASK [shell]
              changed: [n1]: non-zero return code
            TASK [debug]
              ok: [n1]: False (traceback unavailable) => {"msg":"False (traceback unavailable)"}
            TASK [shell]
              ignored: [n1]
            TASK [debug]
              ok: [n1]: (traceback unavailable) => {"msg":"(traceback unavailable)"}
            TASK [debug]
              skipping: [n1]
            RECAP n1 ok=8 changed=4 failed=0 skipped=1 rescued=0 ignored=3
        "#]],
    );
}

/// `environment:` at play, block (templated) and task level, and `command`'s expansion of
/// `$VARS` and `~user` in its words. ansible-core 2.19.14 on the same playbook (`-c local`)
/// printed ["play p", "block p", "task|p|$NOT_SET_X|\\task|/root|", "$LEVEL|"]: inner levels
/// win, a variable that is not set stays as written, `\$LEVEL` is expanded after the backslash,
/// and `expand_argument_vars: false` leaves the words alone.
#[test]
fn environment_levels_and_command_argument_expansion() {
    check(
        r#"
- hosts: n1
  gather_facts: false
  environment:
    LEVEL: play
    PLAYONLY: p
  vars:
    blockenv:
      LEVEL: block
  tasks:
    - shell: echo "$LEVEL $PLAYONLY"
      register: a
    - block:
        - shell: echo "$LEVEL $PLAYONLY"
          register: b
        - command: printf '%s|' $LEVEL ${PLAYONLY} $NOT_SET_X '\$LEVEL' ~root
          environment:
            LEVEL: task
          register: c
        - command: printf '%s|' $LEVEL
          args:
            expand_argument_vars: false
          register: d
      environment: "{{ blockenv }}"
    - debug: msg="{{ [a.stdout, b.stdout, c.stdout, d.stdout] }}"
"#,
        expect![[r#"
            PLAY [n1]
            TASK [shell]
              changed: [n1]
            TASK [shell]
              changed: [n1]
            TASK [command]
              changed: [n1]
            TASK [command]
              changed: [n1]
            TASK [debug]
              ok: [n1] => {"msg":["play p","block p","task|p|$NOT_SET_X|\\task|/root|","$LEVEL|"]}
            RECAP n1 ok=5 changed=4 failed=0 skipped=0 rescued=0 ignored=0
        "#]],
    );
}

/// Templated `set_fact` names and a `failed_when` that clears a task `until` retried in vain.
/// ansible-core 2.19.14 on the same playbook (`-c local`): `"path_{{ idx }}"` in a loop sets
/// `path_0` and `path_1` ("v0 v1"); a name rendering to `bad name` fails the task with "Task
/// failed: Invalid variable name 'bad name'."; `until: 1 == 0` with `retries: 2` prints two
/// "FAILED - RETRYING" lines, then `changed:` (not failed: `failed_when` said false) while the
/// registered result says failed ("True 2 False" for failed, attempts, failed_when_result).
#[test]
fn templated_fact_names_and_failed_when_over_until() {
    check(
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - set_fact:
        "path_{{ idx }}": "v{{ idx }}"
      loop: [a, b]
      loop_control:
        index_var: idx
    - debug: msg="{{ path_0 }} {{ path_1 }}"
    - set_fact:
        "{{ 'bad name' }}": 1
      ignore_errors: true
    - shell: 'true'
      register: cwa
      until: 1 == 0
      retries: 2
      delay: 0
      failed_when: cwa.attempts > 6
    - debug: msg="{{ cwa.failed }} {{ cwa.attempts }} {{ cwa.failed_when_result }}"
"#,
        expect![[r#"
            PLAY [n1]
            TASK [set_fact]
              ok: [n1] (item=a)
              ok: [n1] (item=b)
            TASK [debug]
              ok: [n1]: v0 v1 => {"msg":"v0 v1"}
            TASK [set_fact]
              ignored: [n1]: Task failed: Invalid variable name 'bad name'.
            TASK [shell]
              FAILED - RETRYING: [n1]: shell (2 retries left).
              FAILED - RETRYING: [n1]: shell (1 retries left).
              changed: [n1]
            TASK [debug]
              ok: [n1]: True 2 False => {"msg":"True 2 False"}
            RECAP n1 ok=5 changed=1 failed=0 skipped=0 rescued=0 ignored=1
        "#]],
    );
}

/// `include_vars` in a role as Ansible finds and reports it. ansible-core 2.19.14 on the same
/// role (`-c local`): `dir: webapp` is the role's `vars/webapp`, whose file without an extension
/// fails the task with `message` "... does not have a valid extension: yaml, yml, json", `msg`
/// "Task failed: Action failed: Unknown error." and `ansible_facts` {}; `extensions: ['', yml]`
/// accepts it; a folded `include_vars: >` file name loses its newline ("1"); `dir: vars` with
/// `depth: 1` is the role's `vars/` itself (no files at that depth: []).
#[test]
fn include_vars_search_and_failures_in_a_role() {
    check_files(
        "- hosts: n1\n  gather_facts: false\n  roles: [r]\n",
        &[
            (
                "roles/r/vars/webapp/file_without_extension",
                "---\nwebapp_version: \"1\"\n",
            ),
            (
                "roles/r/tasks/main.yml",
                r#"
- include_vars:
    dir: webapp
    ignore_unknown_extensions: False
  register: r
  ignore_errors: True
- debug: msg="{{ r.message | regex_replace('^.*/roles/', 'roles/') }} | {{ r.msg }} | {{ r.ansible_facts }}"
- include_vars:
    dir: webapp
    extensions: ['', 'yml']
- include_vars: >
    webapp/file_without_extension
- debug: msg="{{ webapp_version }}"
- include_vars:
    dir: vars
    depth: 1
  register: rr
- debug: msg="{{ rr.ansible_included_var_files }}"
"#,
            ),
        ],
        expect![[r#"
            PLAY [n1]
            TASK [r : include_vars]
              ignored: [n1]: Task failed: Action failed: Unknown error.
            TASK [r : debug]
              ok: [n1]: roles/r/vars/webapp/file_without_extension does not have a valid extension: yaml, yml, json | Task failed: Action failed: Unknown error. | {} => {"msg":"roles/r/vars/webapp/file_without_extension does not have a valid extension: yaml, yml, json | Task failed: Action failed: Unknown error. | {}"}
            TASK [r : include_vars]
              ok: [n1]
            TASK [r : include_vars]
              ok: [n1]
            TASK [r : debug]
              ok: [n1]: 1 => {"msg":"1"}
            TASK [r : include_vars]
              ok: [n1]
            TASK [r : debug]
              ok: [n1] => {"msg":[]}
            RECAP n1 ok=7 changed=0 failed=0 skipped=0 rescued=0 ignored=1
        "#]],
    );
}

/// `include_vars` of a file a tolerant lookup did not find, and `hash_behaviour: merge`.
/// ansible-core 2.19.14 on the same playbook (`-c local`): `lookup('first_found', ...,
/// errors='ignore')` gives None and the task fails with `message` "Could not find file on the
/// Ansible Controller.\nIf you are using a module ..."; `query(..., errors='warn')` is []; h2
/// merged over h1 gives {key0: 0, key1: 1, key2: {a: 21, b: 22}}, then h2 alone replaces it.
#[test]
fn include_vars_of_nothing_and_merged_hashes() {
    check_files(
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - include_vars:
        file: "{{ lookup('first_found', ['does_not_exist.yml'], errors='ignore') }}"
      ignore_errors: true
      register: nf
    - debug: msg="{{ nf.message }} | {{ query('first_found', ['does_not_exist.yml'], errors='warn') }}"
    - include_vars: h1.yml
    - include_vars:
        file: h2.yml
        hash_behaviour: merge
    - debug: msg="{{ config }}"
    - include_vars: h2.yml
    - debug: msg="{{ config }}"
"#,
        &[
            ("h1.yml", "config: {key0: 0, key2: {a: 21}}\n"),
            ("h2.yml", "config: {key1: 1, key2: {b: 22}}\n"),
        ],
        expect![[r#"
            PLAY [n1]
            TASK [include_vars]
              ignored: [n1]: Task failed: Action failed: Unknown error.
            TASK [debug]
              ok: [n1]: Could not find file on the Ansible Controller.
            If you are using a module and expect the file to exist on the remote, see the remote_src option | [] => {"msg":"Could not find file on the Ansible Controller.\nIf you are using a module and expect the file to exist on the remote, see the remote_src option | []"}
            TASK [include_vars]
              ok: [n1]
            TASK [include_vars]
              ok: [n1]
            TASK [debug]
              ok: [n1] => {"msg":{"key0":0,"key1":1,"key2":{"a":21,"b":22}}}
            TASK [include_vars]
              ok: [n1]
            TASK [debug]
              ok: [n1] => {"msg":{"key1":1,"key2":{"b":22}}}
            RECAP n1 ok=7 changed=0 failed=0 skipped=0 rescued=0 ignored=1
        "#]],
    );
}

/// Templates where Ansible allows them before or while a task runs. ansible-core 2.19.14 on the
/// same playbook (`-c local`) printed: `hello` from `command: "{{ cmd }}"`; `assert: "{{ item
/// }}"` over two `{that: ...}` mappings: ok for both items ("All assertions passed"), with a
/// warning that templated task args are unsafe; `action: "{{ mod }} msg=viaaction"` and
/// `local_action: "{{ mod }} msg=vialocal"` ran `debug`; `import_tasks: "t_{{ vf_file }}.yml"` (`vf_file` from
/// vars_files) printed `fromfile`; `import_role: name: "{{ rname }}"` (play vars) printed
/// `imported imp`; a flow mapping closed at column 1 gave `{a: 1, b: 2}`; headers `TASK [{{ mod
/// }}]` for the templated actions. Recap ok=8 (this test adds a `debug` of the registered
/// `via.msg`: ok=9).
#[test]
fn templated_free_form_arguments_actions_and_import_names() {
    check_files(
        r#"
- hosts: n1
  gather_facts: false
  vars:
    cmd: "echo hello"
    checks:
      - that: 1 == 1
      - that: 2 == 2
    mod: debug
    rname: imp
  vars_files: [vf.yml]
  tasks:
    - command: "{{ cmd }}"
      register: c
      changed_when: false
    - debug: msg="{{ c.stdout }}"
    - assert: "{{ item }}"
      loop: "{{ checks }}"
    - action: "{{ mod }} msg=viaaction"
      register: via
    - local_action: "{{ mod }} msg=vialocal"
    - debug: msg="{{ via.msg }}"
    - import_tasks: "t_{{ vf_file }}.yml"
    - import_role:
        name: "{{ rname }}"
    - debug:
        msg: {a: 1,
          b: 2
}
"#,
        &[
            ("vf.yml", "vf_file: one\n"),
            ("t_one.yml", "- debug: msg=fromfile\n"),
            (
                "roles/imp/tasks/main.yml",
                "- debug: msg=\"imported {{ role_name }}\"\n",
            ),
        ],
        expect![[r#"
            PLAY [n1]
            TASK [command]
              ok: [n1]
            TASK [debug]
              ok: [n1]: hello => {"msg":"hello"}
            TASK [assert]
              ok: [n1] (item={'that': '1 == 1'}): All assertions passed => {"changed":false,"msg":"All assertions passed","item":{"that":"1 == 1"},"ansible_loop_var":"item"}
              ok: [n1] (item={'that': '2 == 2'}): All assertions passed => {"changed":false,"msg":"All assertions passed","item":{"that":"2 == 2"},"ansible_loop_var":"item"}
            TASK [{{ mod }}]
              ok: [n1]: viaaction => {"msg":"viaaction"}
            TASK [{{ mod }}]
              ok: [n1 -> localhost]: vialocal => {"msg":"vialocal"}
            TASK [debug]
              ok: [n1]: viaaction => {"msg":"viaaction"}
            TASK [debug]
              ok: [n1]: fromfile => {"msg":"fromfile"}
            TASK [imp : debug]
              ok: [n1]: imported imp => {"msg":"imported imp"}
            TASK [debug]
              ok: [n1] => {"msg":{"a":1,"b":2}}
            RECAP n1 ok=9 changed=0 failed=0 skipped=0 rescued=0 ignored=0
        "#]],
    );
}

/// An import named by a variable known only when the play runs: ansible-core 2.19.14 refuses
/// the playbook before running it ("'host_only' is undefined", exit 4); so does etcdplay, with
/// the place.
#[test]
fn an_import_named_by_a_host_variable_is_refused_with_its_place() {
    check_files(
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - import_tasks: "{{ host_only }}.yml"
"#,
        &[],
        expect![[r#"
            ERRORS
            site.yml:5:21: `import_tasks` names its file with variables that are not known before the run (import name: 'host_only' is undefined); play vars, vars_files and extra vars are (use `include_tasks` for others)
        "#]],
    );
}

/// A module Ansible has and etcdplay does not run, in a branch for another platform (as the
/// `copy` integration target's `dnf` tasks for Red Hat; here `dnf5`, which etcdplay lacks): ansible-core 2.19.14 skipped the task
/// (`skipping: [localhost]`) and ran the rest; a typo (`copyy`) would refuse the playbook in both.
/// etcdplay warns before the run and fails the task only if it runs (here with
/// `ignore_errors`: Ansible would run `dnf` itself).
#[test]
fn a_module_ansible_has_fails_only_if_it_runs() {
    check(
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - name: only on Red Hat
      dnf5: name=acl state=present
      when: false
    - name: runs
      ansible.builtin.git: repo=x dest=/tmp/x
      ignore_errors: true
"#,
        expect![[r#"
            WARNING: site.yml:6:13: etcdplay does not implement the module `dnf5`; the task fails if it runs
            WARNING: site.yml:9:28: etcdplay does not implement the module `ansible.builtin.git`; the task fails if it runs
            PLAY [n1]
            TASK [only on Red Hat]
              skipping: [n1]
            TASK [runs]
              ignored: [n1]: site.yml:9:28: etcdplay does not implement the module `ansible.builtin.git`
            RECAP n1 ok=1 changed=0 failed=0 skipped=1 rescued=0 ignored=1
        "#]],
    );
}

/// A templated `loop_var`: ansible-core 2.19.14 (same playbook, `-c local`) printed `ok:
/// [localhost] => (item=x)` with `x outer_item`, then `(item=y)` with `y outer_item`.
#[test]
fn a_templated_loop_var() {
    check(
        r#"
- hosts: n1
  gather_facts: false
  vars:
    prefix: outer
  tasks:
    - debug: msg="{{ outer_item }} {{ ansible_loop_var }}"
      loop: [x, y]
      loop_control:
        loop_var: "{{ prefix }}_item"
"#,
        expect![[r#"
            PLAY [n1]
            TASK [debug]
              ok: [n1] (item=x): x outer_item => {"msg":"x outer_item"}
              ok: [n1] (item=y): y outer_item => {"msg":"y outer_item"}
            RECAP n1 ok=1 changed=0 failed=0 skipped=0 rescued=0 ignored=0
        "#]],
    );
}

/// `--tags` and dynamic includes: ansible-core 2.19.14 with `-t x` (same files, `-c local`)
/// printed only `TASK [tagged include]`, `included: <dir>/tagged_inside.yml for n1` and the
/// inner `debug` (ok=2): the untagged include does not run, nor the tagged task inside it.
#[test]
fn an_untagged_include_does_not_run_under_tags() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("tagged_inside.yml"),
        "- debug: msg=inner\n  tags: [x]\n",
    )
    .expect("write");
    let path = dir.path().join("site.yml");
    std::fs::write(
        &path,
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - name: untagged include
      include_tasks: tagged_inside.yml
    - name: tagged include
      include_tasks: tagged_inside.yml
      tags: [x]
"#,
    )
    .expect("write");
    let book = load_playbook(&path, &Registry, &LoadOptions::default()).expect("parses");
    let transcript = Arc::new(Transcript::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let engine = Engine::new(
            Arc::new(TinyInventory {
                hosts: vec!["n1".into()],
                root: dir.path().to_path_buf(),
            }),
            Arc::new(LocalConnector),
            transcript.clone(),
            RunOptions {
                tags: vec!["x".into()],
                ..RunOptions::default()
            },
            vec![dir.path().to_path_buf()],
        );
        engine.run(&book).await.expect("run");
        engine.close().await;
    });
    let shown = transcript
        .text()
        .replace(&format!("{}/", dir.path().display()), "");
    expect![[r#"
        PLAY [n1]
        TASK [tagged include]
          included: tagged_inside.yml for n1
        TASK [debug]
          ok: [n1]: inner => {"msg":"inner"}
        RECAP n1 ok=2 changed=0 failed=0 skipped=0 rescued=0 ignored=0
    "#]]
    .assert_eq(&(shown + "\n"));
}

/// `ansible_parent_role_names`/`_paths`: ansible-core 2.19.14 (same roles, `-c local`) printed
/// `mid ['outer']` in `mid` (included by `outer`), `inner ['mid', 'outer'] ['mid', 'outer']` in
/// `inner` (imported by `mid`), and `undefined` in the play's own task.
#[test]
fn parent_role_names_of_included_and_imported_roles() {
    check_files(
        r#"
- hosts: n1
  gather_facts: false
  roles: [outer]
  tasks:
    - debug: msg="{{ ansible_parent_role_names | default('undefined') }}"
"#,
        &[
            ("roles/outer/tasks/main.yml", "- include_role: name=mid\n"),
            (
                "roles/mid/tasks/main.yml",
                "- debug: msg=\"mid {{ ansible_parent_role_names }}\"\n- import_role: name=inner\n",
            ),
            (
                "roles/inner/tasks/main.yml",
                "- debug: msg=\"inner {{ ansible_parent_role_names }} {{ ansible_parent_role_paths | map(\\\"basename\\\") | list }}\"\n",
            ),
        ],
        expect![[r#"
            PLAY [n1]
            TASK [include_role : mid]
              included: mid for n1
            TASK [mid : debug]
              ok: [n1]: mid ['outer'] => {"msg":"mid ['outer']"}
            TASK [inner : debug]
              ok: [n1]: inner ['mid', 'outer'] ['mid', 'outer'] => {"msg":"inner ['mid', 'outer'] ['mid', 'outer']"}
            TASK [debug]
              ok: [n1]: undefined => {"msg":"undefined"}
            RECAP n1 ok=4 changed=0 failed=0 skipped=0 rescued=0 ignored=0
        "#]],
    );
}

/// ansible-core 2.19.14 on the same playbook (hosts n1, n2, `-c local`, the role `pub` with
/// `vars/` `pub_var: pv` and `defaults/` `pub_def: pd`): `TASK [include_role : pub]`; after it
/// `pv pd` (`public: true`); `command: "false"` with `until: u.rc == 0, retries: 2, delay: 0`
/// printed `FAILED - RETRYING: [n1]: command (2 retries left).` and `(1 retries left)`, then
/// failed (`...ignoring`) with `attempts: 2` and the module's own `msg` "non-zero return
/// code"; `u.attempts u.failed` gave `2 True`; a loop whose only item was skipped on n2 printed
/// `skipping: [n2] => (item=1)` and then `skipping: [n2]`; recap `n1 ok=6 changed=1 ...
/// skipped=0 ignored=1` and `n2 ok=5 changed=1 skipped=1 ignored=1` (the ignored failure
/// changed something: it counts in `changed`).
#[test]
fn retries_public_roles_and_skipped_loops() {
    check_files(
        r#"
- hosts: nodes
  gather_facts: false
  tasks:
    - include_role:
        name: pub
        public: true
    - debug: msg="{{ pub_var | default('U') }} {{ pub_def | default('U') }}"
    - command: "false"
      register: u
      until: u.rc == 0
      retries: 2
      delay: 0
      ignore_errors: true
    - debug: msg="{{ u.attempts }} {{ u.failed }} {{ u.msg }}"
    - debug: msg="in {{ item }}"
      loop: [1]
      when: inventory_hostname == 'n1'
"#,
        &[
            ("roles/pub/vars/main.yml", "pub_var: pv\n"),
            ("roles/pub/defaults/main.yml", "pub_def: pd\n"),
            ("roles/pub/tasks/main.yml", "- debug: msg=in-pub\n"),
        ],
        expect![[r#"
            PLAY [nodes]
            TASK [include_role : pub]
              included: pub for n1, n2
            TASK [pub : debug]
              ok: [n1]: in-pub => {"msg":"in-pub"}
              ok: [n2]: in-pub => {"msg":"in-pub"}
            TASK [debug]
              ok: [n1]: pv pd => {"msg":"pv pd"}
              ok: [n2]: pv pd => {"msg":"pv pd"}
            TASK [command]
              FAILED - RETRYING: [n1]: command (2 retries left).
              FAILED - RETRYING: [n1]: command (1 retries left).
              ignored: [n1]: non-zero return code
              FAILED - RETRYING: [n2]: command (2 retries left).
              FAILED - RETRYING: [n2]: command (1 retries left).
              ignored: [n2]: non-zero return code
            TASK [debug]
              ok: [n1]: 2 True non-zero return code => {"msg":"2 True non-zero return code"}
              ok: [n2]: 2 True non-zero return code => {"msg":"2 True non-zero return code"}
            TASK [debug]
              ok: [n1] (item=1): in 1 => {"msg":"in 1"}
              skipping: [n2] (item=1)
              skipping: [n2]
            RECAP n1 ok=6 changed=1 failed=0 skipped=0 rescued=0 ignored=1
            RECAP n2 ok=5 changed=1 failed=0 skipped=1 rescued=0 ignored=1
        "#]],
    );
}

/// `meta:` tasks: ansible-core 2.19.14 (same playbook, `-c local`) printed every header,
/// `skipping: [localhost]` under the `end_host` whose `when:` is false (not counted in the
/// recap), nothing under `flush_handlers` and the `end_host` that ends the host, and nothing
/// after it; an `end_play` under a false `when:` printed `skipping: [localhost]` and the play
/// went on (checked in a playbook of its own: skipped=0 in the recap).
#[test]
fn meta_tasks_have_headers_and_conditions() {
    check(
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - name: not ending
      meta: end_host
      when: false
    - name: not ending the play
      meta: end_play
      when: false
    - name: flush
      meta: flush_handlers
    - name: ending
      meta: end_host
      when: true
    - debug: msg=after
"#,
        expect![[r#"
            PLAY [n1]
            TASK [not ending]
              skipping: [n1]
            TASK [not ending the play]
              skipping: [n1]
            TASK [flush]
            TASK [ending]
            RECAP n1 ok=0 changed=0 failed=0 skipped=0 rescued=0 ignored=0
        "#]],
    );
}

/// `debug: var=` of an expression that fails: ansible-core 2.19.14 (same playbook, `-c
/// local`) printed `[WARNING]: Encountered 1 template error.` / `error 1 - 'nonexistent' is
/// undefined` / `Origin: ...` and `ok: [n1] => {"nonexistent": "<< error 1 - 'nonexistent' is
/// undefined >>"}`, the task ok and the play going on (`ok=3`).
#[test]
fn debug_var_of_a_failing_expression_is_an_error_marker() {
    check(
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - debug: var=nonexistent
    - debug: var=foo.bar
      vars: {foo: {}}
    - debug: msg=after
"#,
        expect![[r#"
            PLAY [n1]
            TASK [debug]
            WARNING: Encountered 1 template error.
            error 1 - 'nonexistent' is undefined
            Origin: site.yml:5:14
              ok: [n1] => {"nonexistent":"<< error 1 - 'nonexistent' is undefined >>"}
            TASK [debug]
            WARNING: Encountered 1 template error.
            error 1 - object of type 'dict' has no attribute 'bar'
            Origin: site.yml:6:14
              ok: [n1] => {"foo.bar":"<< error 1 - object of type 'dict' has no attribute 'bar' >>"}
            TASK [debug]
              ok: [n1]: after => {"msg":"after"}
            RECAP n1 ok=3 changed=0 failed=0 skipped=0 rescued=0 ignored=0
        "#]],
    );
}

/// `vars_files` names templated with play and host variables: ansible-core 2.19.14 loaded
/// `vf/prod.yml` for `vf/{{ env }}.yml` (`"x_from": "prod"`), and `vf/{{ inventory_hostname
/// }}.yml` per host.
#[test]
fn templated_vars_files_are_loaded_per_host() {
    check_files(
        r#"
- hosts: all
  gather_facts: false
  vars:
    env: prod
  vars_files:
    - "vf/{{ env }}.yml"
    - "vf/{{ inventory_hostname }}.yml"
  tasks:
    - debug: msg="{{ x_from }} {{ own }}"
"#,
        &[
            ("vf/prod.yml", "x_from: prod\n"),
            ("vf/n1.yml", "own: one\n"),
            ("vf/n2.yml", "own: two\n"),
        ],
        expect![[r#"
            PLAY [all]
            TASK [debug]
              ok: [n1]: prod one => {"msg":"prod one"}
              ok: [n2]: prod two => {"msg":"prod two"}
            RECAP n1 ok=1 changed=0 failed=0 skipped=0 rescued=0 ignored=0
            RECAP n2 ok=1 changed=0 failed=0 skipped=0 rescued=0 ignored=0
        "#]],
    );
}

/// Loops as ansible-core 2.19.14 runs them (same playbook, `-c local`): a looped
/// `include_tasks` over `with_sequence` passes `item`, `index_var` and `ansible_index_var` to
/// the included tasks (`0 0 i`, `1 1 i`); `with_dict` given a list fails and registers
/// `the 'dict' lookup plugin expects a dictionary, got '1' of type <class ...>)`; a loop over an
/// undefined variable with `when: false` is skipped; a `loop_control.label` naming the
/// registered variable is rendered with each item's result, so the skipped second item failed
/// with `Failed to template loop_control.label: object of type 'dict' has no attribute
/// 'stdout'` and is both failed and skipped (`True True`); `'abc' is contains('b')` is true;
/// a playbook task's `ansible_search_path` is `[playbook_dir]`.
#[test]
fn loops_as_ansible() {
    check_files(
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - include_tasks: inc.yml
      with_sequence: start=0 count=2
      loop_control:
        index_var: i
    - debug: msg="{{ item }}"
      with_dict: [1, 2]
      register: wd
      ignore_errors: true
    - debug: msg="loop"
      when: false
      loop: "{{ fake_var }}"
      register: skipped_loop
    - command: "echo {{ item }}"
      register: r
      loop: [changed, skipped]
      loop_control:
        label: "{{ r.stdout }}"
      when: item == "changed"
      ignore_errors: true
    - debug:
        msg:
          - "{{ wd.msg is contains('expects a dictionary') }}"
          - "{{ skipped_loop is skipped }}"
          - "{{ r.results[1].msg is contains(\"object of type 'dict' has no attribute 'stdout'\") }}"
          - "{{ r.results[1] is failed }} {{ r.results[1] is skipped }}"
          - "{{ 'abc' is contains('b') }}"
          - "{{ ansible_search_path | length }} {{ ansible_search_path[0] == playbook_dir }}"
"#,
        &[(
            "inc.yml",
            "- debug: msg=\"{{ item }} {{ i }} {{ ansible_index_var }}\"\n",
        )],
        expect![[r#"
            PLAY [n1]
            TASK [include_tasks]
              included: inc.yml for n1 => (item=0)
              included: inc.yml for n1 => (item=1)
            TASK [debug]
              ok: [n1]: 0 0 i => {"msg":"0 0 i"}
            TASK [debug]
              ok: [n1]: 1 1 i => {"msg":"1 1 i"}
            TASK [debug]
              ignored: [n1]: site.yml:10:7: invalid operation: the 'dict' lookup plugin expects a dictionary, got '1' of type <class 'int'>)
            TASK [debug]
              skipping: [n1]
            TASK [command]
              changed: [n1] (item=changed)
              failed: [n1] (item=skipped): Failed to template loop_control.label: object of type 'dict' has no attribute 'stdout'
              ignored: [n1]: One or more items failed
            TASK [debug]
              ok: [n1] => {"msg":[true,true,true,"True True",true,"1 True"]}
            RECAP n1 ok=7 changed=1 failed=0 skipped=1 rescued=0 ignored=2
        "#]],
    );
}

/// `package` picks its manager as Ansible's action does: `ansible_package_use` before the
/// facts. ansible-core 2.19.14 (`-c local`, same task) registered the msg `Could not find a
/// matching action for the "lola" package manager.` for a manager that is no module.
#[test]
fn package_takes_ansible_package_use() {
    check(
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - package: {name: doesnotmatter}
      vars: {ansible_package_use: lola}
      ignore_errors: true
"#,
        expect![[r#"
            PLAY [n1]
            TASK [package]
              ignored: [n1]: Could not find a matching action for the "lola" package manager.
            RECAP n1 ok=1 changed=0 failed=0 skipped=0 rescued=0 ignored=1
        "#]],
    );
}

/// `module_defaults` at play, block and task level. ansible-core 2.19.14 (`-c local`, same
/// playbook with a real path) printed the messages `play`, `own`, `block`, `task 1` (the
/// task's entry, under its FQCN, replaces the block's and is templated), `include` (an
/// included file's tasks take the enclosing block's defaults) and the file's mode `0600`.
#[test]
fn module_defaults_as_ansible() {
    check_files(
        r#"
- hosts: n1
  gather_facts: false
  module_defaults:
    debug: {msg: play}
    ansible.builtin.file: {mode: "0600"}
  tasks:
    - debug:
    - debug: {msg: own}
    - block:
        - debug:
        - debug:
          module_defaults:
            ansible.builtin.debug: {msg: "{{ 'task ' ~ x }}"}
      module_defaults:
        debug: {msg: block}
      vars: {x: 1}
    - block:
        - include_tasks: inc.yml
      module_defaults:
        debug: {msg: include}
    - file: {path: "{{ workdir }}-f", state: touch}
      register: f
    - debug: {msg: "{{ f.mode }}"}
"#,
        &[("inc.yml", "- debug:\n")],
        expect![[r#"
            PLAY [n1]
            TASK [debug]
              ok: [n1]: play => {"msg":"play"}
            TASK [debug]
              ok: [n1]: own => {"msg":"own"}
            TASK [debug]
              ok: [n1]: block => {"msg":"block"}
            TASK [debug]
              ok: [n1]: task 1 => {"msg":"task 1"}
            TASK [include_tasks]
              included: inc.yml for n1
            TASK [debug]
              ok: [n1]: include => {"msg":"include"}
            TASK [file]
              changed: [n1]
            TASK [debug]
              ok: [n1]: 0600 => {"msg":"0600"}
            RECAP n1 ok=8 changed=1 failed=0 skipped=0 rescued=0 ignored=0
        "#]],
    );
}

/// The recap counts an ignored failure that changed something in `changed`, a failure that
/// is not ignored only in `failed`. ansible-core 2.19.14 (`-c local`, same tasks, both
/// `command: false` results say `changed: true`): `ok=1 changed=1 failed=1 ignored=1`.
#[test]
fn only_ignored_failures_count_as_changed() {
    check(
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - command: "false"
      loop: [a]
      ignore_errors: true
    - command: "false"
      loop: [b]
"#,
        expect![[r#"
            PLAY [n1]
            TASK [command]
              failed: [n1] (item=a): non-zero return code
              ignored: [n1]: One or more items failed
            TASK [command]
              failed: [n1] (item=b): non-zero return code
              failed: [n1]: One or more items failed
            RECAP n1 ok=1 changed=1 failed=1 skipped=0 rescued=0 ignored=1
        "#]],
    );
}

/// Free-form words that are not `key=value` pairs for `add_host` and `group_by` (ansible-core
/// 2.19.14, same playbook with `-c local`): the playbook is accepted and each task fails when
/// it runs: `add_host: namefoo groupsbar` "Invalid raw parameters passed, requires a
/// dictionary/mapping got a  <class 'ansible.module_utils._internal._datatag._AnsibleTaggedStr'>",
/// `group_by: justwords here` and `group_by: key=foo extra words` "Invalid options for
/// group_by: _raw_params", `fail: msg=x bogus=1` "Invalid options for fail: bogus"; a template
/// giving a mapping is the arguments (`add_host: "{{ data }}"` without a name: "name, host or
/// hostname needs to be provided");
/// `script` with `async` fails "This action (script) does not support async."; `copy: some
/// words` is accepted too and fails "Task failed: Action 'ansible.builtin.copy' does not
/// support raw params." (etcdplay warns before the run, for `group_by` in the words of its
/// failure). An action written with its collection is named so: `ansible.builtin.group_by:
/// justwords here` "Invalid options for ansible.builtin.group_by: _raw_params",
/// `ansible.builtin.fail: msg=x bogus=1` "Invalid options for ansible.builtin.fail: bogus".
#[test]
fn raw_params_of_inventory_actions_and_refused_options() {
    check(
        r#"
- hosts: n1
  gather_facts: false
  vars:
    data: {groups: dyngroup, a_var: from dict}
  tasks:
    - add_host: namefoo groupsbar
      ignore_errors: true
    - add_host: "{{ data }}"
      ignore_errors: true
    - group_by: justwords here
      ignore_errors: true
    - group_by: key=foo extra words
      ignore_errors: true
    - fail: msg=x bogus=1
      ignore_errors: true
    - script: /some/script.sh
      async: 2
      ignore_errors: true
    - copy: some words dest=/nonexistent/x
      ignore_errors: true
    - ansible.builtin.group_by: justwords here
      ignore_errors: true
    - ansible.builtin.fail: msg=x bogus=1
      ignore_errors: true
"#,
        expect![[r#"
            WARNING: site.yml:11:17: Invalid options for group_by: _raw_params
            WARNING: site.yml:13:17: Invalid options for group_by: _raw_params
            WARNING: site.yml:15:19: `fail` has no argument `bogus`
            WARNING: site.yml:20:13: `copy` does not take a free-form argument (`some words`); write key=value pairs
            WARNING: site.yml:22:33: Invalid options for ansible.builtin.group_by: _raw_params
            WARNING: site.yml:24:35: `fail` has no argument `bogus`
            PLAY [n1]
            TASK [add_host]
              ignored: [n1]: Invalid raw parameters passed, requires a dictionary/mapping got a  <class 'ansible.module_utils._internal._datatag._AnsibleTaggedStr'>
            TASK [add_host]
              ignored: [n1]: name, host or hostname needs to be provided
            TASK [group_by]
              ignored: [n1]: Invalid options for group_by: _raw_params
            TASK [group_by]
              ignored: [n1]: Invalid options for group_by: _raw_params
            TASK [fail]
              ignored: [n1]: Invalid options for fail: bogus
            TASK [script]
              ignored: [n1]: This action (script) does not support async.
            TASK [copy]
              ignored: [n1]: Task failed: Action 'ansible.builtin.copy' does not support raw params.
            TASK [ansible.builtin.group_by]
              ignored: [n1]: Invalid options for ansible.builtin.group_by: _raw_params
            TASK [ansible.builtin.fail]
              ignored: [n1]: Invalid options for ansible.builtin.fail: bogus
            RECAP n1 ok=9 changed=0 failed=0 skipped=0 rescued=0 ignored=9
        "#]],
    );
}
