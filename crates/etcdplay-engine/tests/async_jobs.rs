//! `async:`/`poll:` and `async_status` on the control node (`LocalConnector`), compared with
//! what ansible-playbook 2.19.14 did with the same tasks against localhost
//! (`-i localhost, -c local`); its output is quoted in each test. Jobs live in the test user's
//! `~/.ansible_async`, as Ansible's do; every test removes the jobs it started.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;

use etcdplay_engine::{
    AsyncEvent, AsyncEventKind, Engine, HostEvent, HostStatus, LocalConnector, Reporter,
    RunOptions, Stats, TaskKindLabel,
};
use etcdplay_modules::Registry;
use etcdplay_playbook::{load_playbook, LoadOptions};
use serde_json::Value;

use support::TinyInventory;

/// Each task's last host event, by task header.
#[derive(Default)]
struct Recorder {
    current: Mutex<String>,
    events: Mutex<Vec<(String, HostEvent)>>,
    asyncs: Mutex<Vec<AsyncEventKind>>,
}

impl Reporter for Recorder {
    fn play_start(&self, _name: &str, _hosts: &[String]) {}
    fn task_start(&self, _kind: TaskKindLabel, header: &str, _hosts: &[String]) {
        *self.current.lock().unwrap() = header.to_string();
    }
    fn host_event(&self, e: &HostEvent) {
        let task = self.current.lock().unwrap().clone();
        self.events.lock().unwrap().push((task, e.clone()));
    }
    fn warning(&self, _message: &str) {}
    fn recap(&self, _stats: &Stats) {}
    fn async_event(&self, event: &AsyncEvent) {
        self.asyncs.lock().unwrap().push(event.kind);
    }
}

impl Recorder {
    /// The result of task `name` (its overall event, not per-item ones).
    fn result(&self, name: &str) -> (HostStatus, Value) {
        let events = self.events.lock().unwrap();
        let (_, e) = events
            .iter()
            .rev()
            .find(|(t, e)| t == name && e.item_label.is_none())
            .unwrap_or_else(|| panic!("no event for {name}: {:#?}", *events));
        (e.status, e.result.clone())
    }
    /// The per-item results of looped task `name`.
    fn items(&self, name: &str) -> Vec<Value> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter(|(t, e)| t == name && e.item_label.is_some())
            .map(|(_, e)| e.result.clone())
            .collect()
    }
}

async fn run(dir: &Path, playbook: &str, options: RunOptions) -> (Stats, Arc<Recorder>) {
    std::fs::write(dir.join("site.yml"), playbook).unwrap();
    let playbook = load_playbook(&dir.join("site.yml"), &Registry, &LoadOptions::default())
        .expect("playbook parses");
    let inventory = Arc::new(TinyInventory {
        hosts: vec!["n1".into()],
        root: dir.to_path_buf(),
    });
    let recorder = Arc::new(Recorder::default());
    let engine = Engine::new(
        inventory,
        Arc::new(LocalConnector),
        recorder.clone(),
        options,
        vec![dir.to_path_buf()],
    );
    let stats = engine.run(&playbook).await.expect("run");
    engine.close().await;
    (stats, recorder)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Removes a job's files (the tests' own cleanup; `mode: cleanup` is tested separately).
fn forget(result: &Value) {
    let file = text(result, "results_file");
    if !file.is_empty() {
        let _ = std::fs::remove_file(file);
        let _ = std::fs::remove_dir_all(format!("{file}.job"));
    }
}

/// Ansible, `command: sh -c 'sleep 3; echo hi; echo err >&2'` with `async: 10, poll: 1`:
/// "ASYNC POLL ... finished=False" twice, then `changed`, registering `rc: 0`, `stdout: hi`,
/// `stderr: err`, `started: true`, `finished: true`, `ansible_job_id: j306336894420.21108`,
/// `results_file: /root/.ansible_async/j306336894420.21108`, `delta: 0:00:03.009025`. The
/// status file is removed once the result is read (Ansible's automatic cleanup).
#[tokio::test]
async fn poll_waits_for_the_commands_result() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (stats, rec) = run(
        dir.path(),
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - name: job
      command: sh -c 'sleep 2; echo hi; echo err >&2'
      async: 10
      poll: 1
"#,
        RunOptions::default(),
    )
    .await;
    let (status, r) = rec.result("job");
    assert_eq!(status, HostStatus::Changed, "{r:#}");
    assert_eq!(stats["n1"].failed, 0);
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(
        (text(&r, "stdout"), text(&r, "stderr")),
        ("hi", "err"),
        "{r:#}"
    );
    assert_eq!(r["rc"], 0);
    assert!(flag(&r, "started") && flag(&r, "finished"), "{r:#}");
    let jid = text(&r, "ansible_job_id");
    assert!(jid.starts_with('j') && jid.contains('.'), "{jid}");
    let file = text(&r, "results_file");
    assert!(file.ends_with(&format!("/.ansible_async/{jid}")), "{file}");
    assert!(text(&r, "delta").starts_with("0:00:02"), "{r:#}");
    assert!(
        !Path::new(file).exists(),
        "the status file was not cleaned up"
    );
    assert!(!Path::new(&format!("{file}.job")).exists());
}

/// Ansible, `shell: sleep 2; echo fired` with `async: 30, poll: 0`: `changed`, registering
/// only `ansible_job_id`, `results_file`, `started: true`, `finished: false`, `changed: true`,
/// `failed: false`; the play goes on at once. `async_status: jid=...` with `until:
/// s2.finished, retries: 10, delay: 1`: "FAILED - RETRYING" twice, then `changed` with the
/// command's result (`stdout: fired`, `attempts: 3`, `finished: true`). `mode: cleanup`: `ok`,
/// `erased: /root/.ansible_async/<jid>`, `started: false`, `finished: false`. A job id that
/// is no job: failed, "could not find job", `finished: true`.
#[tokio::test]
async fn poll_zero_fires_and_async_status_collects_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (_, rec) = run(
        dir.path(),
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - name: fire
      shell: sleep 2; echo fired
      async: 30
      poll: 0
      register: a2
    - name: fired at once
      command: "true"
    - name: status
      async_status:
        jid: "{{ a2.ansible_job_id }}"
      register: s2
      until: s2.finished
      retries: 10
      delay: 1
    - name: cleanup
      async_status:
        jid: "{{ a2.ansible_job_id }}"
        mode: cleanup
    - name: unknown
      async_status: jid=j1234.5678
      ignore_errors: true
"#,
        RunOptions::default(),
    )
    .await;
    let (status, fired) = rec.result("fire");
    assert_eq!(status, HostStatus::Changed);
    let mut keys: Vec<&String> = fired.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "ansible_job_id",
            "changed",
            "failed",
            "finished",
            "results_file",
            "started"
        ]
    );
    assert!(flag(&fired, "started") && !flag(&fired, "finished"));
    let (_, _) = rec.result("fired at once");
    let (status, s) = rec.result("status");
    assert_eq!(status, HostStatus::Changed, "{s:#}");
    assert_eq!(text(&s, "stdout"), "fired");
    assert_eq!(text(&s, "cmd"), "sleep 2; echo fired");
    assert!(flag(&s, "finished"));
    assert!(s["attempts"].as_u64().unwrap() >= 2, "{s:#}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    let (status, c) = rec.result("cleanup");
    assert_eq!(status, HostStatus::Ok, "{c:#}");
    let file = text(&fired, "results_file");
    assert_eq!(text(&c, "erased"), file);
    assert!(!flag(&c, "started") && !flag(&c, "finished"));
    assert!(!Path::new(file).exists());
    let (status, u) = rec.result("unknown");
    assert_eq!(status, HostStatus::Ignored);
    assert_eq!(text(&u, "msg"), "could not find job");
    assert!(flag(&u, "finished"));
}

/// Ansible, `shell: sleep 30` with `async: 6, poll: 1`: six polls, then failed with "async
/// task did not complete within the requested time - 6s" and `async_result` (the last
/// status, `finished: false`). Here the job is also killed at once: its process is gone when
/// the task ends (Ansible's watchdog kills it a few seconds later).
#[tokio::test]
async fn a_polled_job_over_its_time_fails_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let (_, rec) = run(
        dir.path(),
        &format!(
            r#"
- hosts: n1
  gather_facts: false
  tasks:
    - name: slow
      shell: echo $$ > {}; exec sleep 60
      async: 2
      poll: 1
      ignore_errors: true
"#,
            pid_file.display()
        ),
        RunOptions::default(),
    )
    .await;
    let (status, r) = rec.result("slow");
    assert_eq!(status, HostStatus::Ignored, "{r:#}");
    assert_eq!(
        text(&r, "msg"),
        "async task did not complete within the requested time - 2s"
    );
    assert!(!flag(&r["async_result"], "finished"), "{r:#}");
    assert_eq!(
        rec.asyncs.lock().unwrap().last(),
        Some(&AsyncEventKind::Failed)
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(
        !Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the job still runs"
    );
    forget(&r["async_result"]);
}

/// Ansible, `shell: sleep 30` with `async: 2, poll: 0`, then `async_status` 4 s later: failed,
/// "Timeout exceeded", `child_pid`, `finished: true` (its watchdog killed the job).
#[tokio::test]
async fn a_fired_job_over_its_time_is_killed_by_its_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let (_, rec) = run(
        dir.path(),
        &format!(
            r#"
- hosts: n1
  gather_facts: false
  tasks:
    - name: fire
      shell: echo $$ > {}; exec sleep 60
      async: 1
      poll: 0
      register: f
    - pause: seconds=3
    - name: status
      async_status: jid={{{{ f.ansible_job_id }}}}
      ignore_errors: true
"#,
            pid_file.display()
        ),
        RunOptions::default(),
    )
    .await;
    let (status, r) = rec.result("status");
    assert_eq!(status, HostStatus::Ignored, "{r:#}");
    assert_eq!(text(&r, "msg"), "Timeout exceeded");
    assert!(
        flag(&r, "finished") && r["child_pid"].as_u64().is_some(),
        "{r:#}"
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(!Path::new(&format!("/proc/{}", pid.trim())).exists());
    forget(&r);
}

/// Ansible, `command: echo {{ item }}` over `[a, b]` with `async: 10, poll: 0`: one job per
/// item (two ids); with `poll: 1`: each item's own result (`stdout: a`, `stdout: b`). A
/// failing command (`false`, poll 1): failed, "non-zero return code", `rc: 1`,
/// `finished: true`.
#[tokio::test]
async fn each_loop_item_is_a_job_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (_, rec) = run(
        dir.path(),
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - name: fire
      command: echo {{ item }}
      async: 10
      poll: 0
      loop: [a, b]
    - name: polled
      command: echo {{ item }}
      async: 10
      poll: 1
      loop: [a, b]
    - name: failing
      command: "false"
      async: 10
      poll: 1
      ignore_errors: true
"#,
        RunOptions::default(),
    )
    .await;
    let fired = rec.items("fire");
    assert_eq!(fired.len(), 2);
    assert_ne!(
        text(&fired[0], "ansible_job_id"),
        text(&fired[1], "ansible_job_id")
    );
    let polled = rec.items("polled");
    let out: Vec<&str> = polled.iter().map(|r| text(r, "stdout")).collect();
    assert_eq!(out, ["a", "b"]);
    let (status, r) = rec.result("failing");
    assert_eq!(status, HostStatus::Ignored);
    assert_eq!(
        (text(&r, "msg"), &r["rc"]),
        ("non-zero return code", &1.into())
    );
    assert!(flag(&r, "finished"));
    // The fired jobs finish by themselves; their files are the test's to remove.
    tokio::time::sleep(Duration::from_millis(500)).await;
    fired.iter().for_each(forget);
}

/// Ansible with `check_mode: true`: `command: echo x`, `async: 10, poll: 1`: "ASYNC OK",
/// skipped, "Command would have run if not in check mode", `finished: true`, with a job id;
/// with `poll: 0`: `changed`, a started job. With `creates: /nonexistent`, poll 1: changed,
/// the same message. `debug` with async: failed, "This action (debug) does not support
/// async."; `copy`: "This action (copy) does not support async.".
#[tokio::test]
async fn check_mode_runs_the_job_in_check_mode_and_refused_actions_fail() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let (_, rec) = run(
        dir.path(),
        &format!(
            r#"
- hosts: n1
  gather_facts: false
  tasks:
    - name: check poll
      command: touch {m}
      async: 10
      poll: 1
      check_mode: true
    - name: check fire
      command: touch {m}
      async: 10
      poll: 0
      check_mode: true
    - name: check creates
      command: touch {m}
      args:
        creates: /nonexistent
      async: 10
      poll: 1
      check_mode: true
    - name: debug async
      debug: msg=hi
      async: 10
      poll: 1
      ignore_errors: true
    - name: copy async
      copy: content=x dest={m}
      async: 10
      poll: 1
      ignore_errors: true
"#,
            m = marker.display()
        ),
        RunOptions::default(),
    )
    .await;
    let (status, r) = rec.result("check poll");
    assert_eq!(status, HostStatus::Skipped, "{r:#}");
    assert_eq!(
        text(&r, "msg"),
        "Command would have run if not in check mode"
    );
    assert!(flag(&r, "finished") && !text(&r, "ansible_job_id").is_empty());
    let (status, fired) = rec.result("check fire");
    assert_eq!(status, HostStatus::Changed);
    assert!(flag(&fired, "started") && !flag(&fired, "finished"));
    let (status, r) = rec.result("check creates");
    assert_eq!(status, HostStatus::Changed, "{r:#}");
    assert_eq!(
        text(&r, "msg"),
        "Command would have run if not in check mode"
    );
    let (status, r) = rec.result("debug async");
    assert_eq!(status, HostStatus::Ignored);
    assert_eq!(
        text(&r, "msg"),
        "This action (debug) does not support async."
    );
    let (_, r) = rec.result("copy async");
    assert_eq!(
        text(&r, "msg"),
        "This action (copy) does not support async."
    );
    assert!(!marker.exists(), "check mode ran the command");
    tokio::time::sleep(Duration::from_millis(500)).await;
    forget(&fired);
}

/// Modules made of control-node logic (`file`, Ansible's generic modules, which accept async)
/// run in a background task whose result goes to the same status file. Ansible, `file:
/// state=absent` with `async: 10, poll: 0`: `changed`, a started job; with poll, the module's
/// own result.
#[tokio::test]
async fn control_node_modules_run_as_background_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let (_, rec) = run(
        dir.path(),
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - name: polled
      file: path={{ workdir }}-a state=touch
      async: 10
      poll: 1
    - name: fire
      file: path={{ workdir }}-b state=touch
      async: 10
      poll: 0
      register: f
    - name: status
      async_status: jid={{ f.ansible_job_id }}
      register: s
      until: s.finished
      retries: 5
      delay: 1
    - name: cleanup
      async_status: jid={{ f.ansible_job_id }} mode=cleanup
"#,
        RunOptions::default(),
    )
    .await;
    let (status, r) = rec.result("polled");
    assert_eq!(status, HostStatus::Changed, "{r:#}");
    assert!(flag(&r, "finished"));
    assert_eq!(
        text(&r, "dest"),
        dir.path().join("n1-a").display().to_string(),
        "{r:#}"
    );
    assert!(dir.path().join("n1-a").exists());
    let (status, r) = rec.result("status");
    assert_eq!(status, HostStatus::Changed, "{r:#}");
    assert_eq!(text(&r, "state"), "file");
    assert!(dir.path().join("n1-b").exists());
}

/// `ansible_async_dir` moves the jobs, for the job and for `async_status` alike. Ansible with
/// `ansible_async_dir: /tmp/lasync-ans/jobs`: `results_file` is
/// `/tmp/lasync-ans/jobs/j427834301359.17865` and `async_status` finds the job there
/// (`stdout: hi`). Here the directory is also made 0700.
#[tokio::test]
async fn ansible_async_dir_moves_the_jobs() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (stats, rec) = run(
        dir.path(),
        r#"
- hosts: n1
  gather_facts: false
  vars:
    ansible_async_dir: "{{ workdir }}-jobs"
  tasks:
    - name: fire
      command: echo hi
      async: 10
      poll: 0
      register: j
    - name: status
      async_status: jid={{ j.ansible_job_id }}
      register: s
      until: s.finished
      retries: 5
      delay: 1
    - name: polled
      file: path={{ workdir }}-f state=touch
      async: 10
      poll: 1
"#,
        RunOptions::default(),
    )
    .await;
    assert_eq!(stats["n1"].failed, 0);
    let jobs = dir.path().join("n1-jobs");
    let (_, fired) = rec.result("fire");
    let file = text(&fired, "results_file");
    assert!(file.starts_with(&format!("{}/j", jobs.display())), "{file}");
    let (_, s) = rec.result("status");
    assert_eq!(text(&s, "stdout"), "hi", "{s:#}");
    let (_, polled) = rec.result("polled");
    assert!(text(&polled, "results_file").starts_with(&jobs.display().to_string()));
    let mode = std::fs::metadata(&jobs).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

/// A control-node job over its time (`wait_for` a file that never comes, `async: 2, poll: 1`)
/// fails as a detached one does ("async task did not complete within the requested time -
/// 2s", Ansible's message for a module job it polled out), its background task is stopped,
/// and its status says "Timeout exceeded" as Ansible's watchdog writes it.
#[tokio::test]
async fn a_control_node_job_over_its_time_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (_, rec) = run(
        dir.path(),
        r#"
- hosts: n1
  gather_facts: false
  tasks:
    - name: slow
      wait_for: path={{ workdir }}-never timeout=30
      async: 2
      poll: 1
      register: w
      ignore_errors: true
    - name: status
      async_status: jid={{ w.async_result.ansible_job_id }}
      ignore_errors: true
    - name: cleanup
      async_status: jid={{ w.async_result.ansible_job_id }} mode=cleanup
"#,
        RunOptions::default(),
    )
    .await;
    let (status, r) = rec.result("slow");
    assert_eq!(status, HostStatus::Ignored, "{r:#}");
    assert_eq!(
        text(&r, "msg"),
        "async task did not complete within the requested time - 2s"
    );
    let (_, s) = rec.result("status");
    assert_eq!(text(&s, "msg"), "Timeout exceeded", "{s:#}");
    assert!(flag(&s, "finished"));
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// `become_method: su` (root login: su asks nothing) runs the task as the become user, and an
/// async job under become lives in that user's `~/.ansible_async`, where `async_status` with
/// the same become finds it (Ansible expands the async dir as the become user). Ansible's
/// own su run on this machine could not be compared: it needs its Python readable by the
/// target user; the lab test `su_becomes_another_user` compares `id -un`.
#[tokio::test]
#[allow(clippy::print_stderr)]
async fn su_and_async_jobs_under_become_use_the_become_users_home() {
    if !support::ensure_user("epasync", "/bin/sh") {
        eprintln!("needs root (useradd); skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (stats, rec) = run(
        dir.path(),
        r#"
- hosts: n1
  gather_facts: false
  become: true
  become_method: su
  become_user: epasync
  tasks:
    - name: who
      command: id -un
    - name: fire
      command: id -un
      async: 10
      poll: 0
      register: j
    - name: status
      async_status: jid={{ j.ansible_job_id }}
      register: s
      until: s.finished
      retries: 5
      delay: 1
    - name: cleanup
      async_status: jid={{ j.ansible_job_id }} mode=cleanup
"#,
        RunOptions::default(),
    )
    .await;
    assert_eq!(stats["n1"].failed, 0);
    let (_, who) = rec.result("who");
    assert_eq!(text(&who, "stdout"), "epasync");
    let (_, fired) = rec.result("fire");
    assert!(
        text(&fired, "results_file").starts_with("/home/epasync/.ansible_async/j"),
        "{fired:#}"
    );
    let (_, s) = rec.result("status");
    assert_eq!(text(&s, "stdout"), "epasync", "{s:#}");
}
