//! The engine end to end on the control node itself (`LocalConnector`): a real playbook parsed by
//! etcdplay-playbook, real modules writing real files in a temporary directory. Hosts are
//! inventory names that all map to this machine, each with its own directory.

use std::path::Path;
use std::sync::{Arc, Mutex};

mod support;

use etcdplay_engine::{
    Engine, HostEvent, HostStatus, LocalConnector, Reporter, RunOptions, Stats, TaskKindLabel,
};
use etcdplay_modules::Registry;
use etcdplay_playbook::{load_playbook, LoadOptions};

use support::TinyInventory;

#[derive(Default)]
struct Recorder {
    lines: Mutex<Vec<String>>,
    stats: Mutex<Stats>,
}

impl Reporter for Recorder {
    fn play_start(&self, name: &str, _hosts: &[String]) {
        self.lines.lock().unwrap().push(format!("PLAY {name}"));
    }
    fn task_start(&self, kind: TaskKindLabel, header: &str, _hosts: &[String]) {
        self.lines
            .lock()
            .unwrap()
            .push(format!("{kind:?} {header}"));
    }
    fn host_event(&self, e: &HostEvent) {
        let item = e
            .item_label
            .as_ref()
            .map(|l| format!(" item={l}"))
            .unwrap_or_default();
        self.lines.lock().unwrap().push(format!(
            "{:?} {}{item} {}",
            e.status,
            e.host,
            e.msg.clone().unwrap_or_default()
        ));
    }
    fn warning(&self, message: &str) {
        self.lines
            .lock()
            .unwrap()
            .push(format!("WARNING {message}"));
    }
    fn recap(&self, stats: &Stats) {
        *self.stats.lock().unwrap() = stats.clone();
    }
}

const PLAYBOOK: &str = r#"
- name: converge nodes
  hosts: nodes
  gather_facts: no
  vars:
    greeting: "hello {{ inventory_hostname }}"
  handlers:
    - name: note restart
      copy: content="restarted" dest={{ workdir }}/restarted
  tasks:
    - name: make the work dir
      file: path={{ workdir }} state=directory mode=0755
    - name: write the config
      copy:
        content: "{{ greeting }}\nmembers={{ groups['nodes'] | join(',') }}\n"
        dest: "{{ workdir }}/app.conf"
        mode: "0640"
      notify: note restart
    - name: one line per item
      lineinfile: path={{ workdir }}/list create=yes line={{ item }}
      with_items: [a, b]
    - name: runs on the first host only
      command: echo first
      when: inventory_hostname == 'n1'
      changed_when: false
    - name: a command that is not a change
      command: cat {{ workdir }}/app.conf
      register: shown
      changed_when: false
      check_mode: false
    - name: remember
      set_fact:
        first_line: "{{ shown.stdout_lines[0] }}"
    - name: check what we learnt
      assert:
        that:
          - first_line == greeting
    - block:
        - name: fail on purpose
          fail: msg=boom
      rescue:
        - name: recovered
          copy:
            content: "rescued from {{ ansible_failed_task.name }}: {{ ansible_failed_result.msg }}"
            dest: "{{ workdir }}/rescued"
      always:
        - name: always runs
          debug: msg=always
"#;

async fn run(dir: &Path, options: RunOptions) -> (Stats, Vec<String>) {
    let ran = run_on(dir, &["n1", "n2"], options).await;
    (ran.stats, ran.lines)
}

/// What a run of `dir/site.yml` on local hosts showed.
struct Ran {
    stats: Stats,
    lines: Vec<String>,
    /// The `--timing` phases of its read-aheads (`read ahead (N probes)`, ...).
    reads: Vec<String>,
}

async fn run_on(dir: &Path, hosts: &[&str], options: RunOptions) -> Ran {
    let playbook_path = dir.join("site.yml");
    let playbook =
        load_playbook(&playbook_path, &Registry, &LoadOptions::default()).expect("playbook parses");
    let inventory = Arc::new(TinyInventory {
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
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
    let reads = engine
        .timings()
        .iter()
        .filter(|t| t.phase.starts_with("read ahead"))
        .map(|t| t.phase.clone())
        .collect();
    engine.close().await;
    let lines = recorder.lines.lock().unwrap().clone();
    Ran {
        stats,
        lines,
        reads,
    }
}

#[tokio::test]
async fn converges_then_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.yml"), PLAYBOOK).unwrap();

    let (stats, lines) = run(dir.path(), RunOptions::default()).await;
    let n1 = &stats["n1"];
    assert_eq!(n1.failed, 0, "{lines:#?}");
    assert_eq!(n1.rescued, 1, "{lines:#?}");
    // dir, config, lineinfile (loop), rescue copy, handler
    assert_eq!(n1.changed, 5, "{lines:#?}");
    assert_eq!(n1.skipped, 0, "{lines:#?}");
    assert_eq!(stats["n2"].skipped, 1, "{lines:#?}");
    let conf = std::fs::read_to_string(dir.path().join("n2/app.conf")).unwrap();
    assert_eq!(conf, "hello n2\nmembers=n1,n2\n");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("n1/list")).unwrap(),
        "a\nb\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("n1/rescued")).unwrap(),
        "rescued from fail on purpose: boom"
    );
    assert!(dir.path().join("n1/restarted").exists(), "the handler ran");
    assert!(
        lines.iter().any(|l| l == "Handler note restart"),
        "{lines:#?}"
    );

    std::fs::remove_file(dir.path().join("n1/restarted")).unwrap();
    let (stats, lines) = run(dir.path(), RunOptions::default()).await;
    assert_eq!(stats["n1"].changed, 0, "{lines:#?}");
    assert_eq!(stats["n2"].changed, 0, "{lines:#?}");
    assert!(
        !dir.path().join("n1/restarted").exists(),
        "no change, so no handler"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("Handler")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn check_mode_reports_changes_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.yml"), PLAYBOOK).unwrap();
    run(dir.path(), RunOptions::default()).await;
    // Someone edits a managed file; check mode must see it and leave it alone.
    let list = dir.path().join("n1/list");
    std::fs::write(&list, "a\n").unwrap();
    std::fs::remove_file(dir.path().join("n1/restarted")).unwrap();
    let options = RunOptions {
        check: true,
        diff: true,
        ..RunOptions::default()
    };
    let (stats, lines) = run(dir.path(), options).await;
    assert_eq!(stats["n1"].changed, 1, "the list: {lines:#?}");
    assert_eq!(stats["n2"].changed, 0, "{lines:#?}");
    assert_eq!(std::fs::read_to_string(&list).unwrap(), "a\n");
    assert_eq!(stats["n1"].failed + stats["n2"].failed, 0, "{lines:#?}");
}

#[tokio::test]
async fn a_failing_host_leaves_the_play_and_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let playbook = r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: "false"
      when: inventory_hostname == 'n1'
    - copy: content=x dest={{ workdir }}-after
"#;
    std::fs::write(dir.path().join("site.yml"), playbook).unwrap();
    let (stats, lines) = run(dir.path(), RunOptions::default()).await;
    assert_eq!(stats["n1"].failed, 1, "{lines:#?}");
    assert_eq!(stats["n2"].failed, 0, "{lines:#?}");
    assert!(!dir.path().join("n1-after").exists());
    assert!(dir.path().join("n2-after").exists());
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{:?} n1", HostStatus::Failed))),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn dynamic_includes_render_names_per_host_and_loop() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.yml"),
        r#"
- hosts: all
  gather_facts: false
  vars:
    flavour: plain
  tasks:
    - include_tasks: "steps-{{ flavour }}.yml"
      loop: [one, two]
      loop_control:
        loop_var: step
    - include_role:
        name: "{{ 'marker' }}"
      when: inventory_hostname == 'n2'
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("steps-plain.yml"),
        "- lineinfile: path={{ workdir }}-steps create=yes line={{ step }}\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("roles/marker/tasks")).unwrap();
    std::fs::write(
        dir.path().join("roles/marker/tasks/main.yml"),
        "- copy: content=m dest={{ workdir }}-marker\n",
    )
    .unwrap();
    let (stats, lines) = run(dir.path(), RunOptions::default()).await;
    assert_eq!(stats["n1"].failed + stats["n2"].failed, 0, "{lines:#?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("n1-steps")).unwrap(),
        "one\ntwo\n"
    );
    assert!(dir.path().join("n2-marker").exists(), "{lines:#?}");
    assert!(!dir.path().join("n1-marker").exists(), "{lines:#?}");
}

/// Looped tasks are read ahead item by item (each item's `when:` and arguments worked out as
/// its run works them out): on a run that changes nothing, the probes of every item of the
/// `loop:` and the `with_dict:` tasks and of the task after them go in one request (an item
/// whose `when:` is false sends none).
#[tokio::test]
async fn looped_tasks_are_read_ahead_item_by_item() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.yml"),
        r#"
- hosts: nodes
  gather_facts: no
  tasks:
    - file: path={{ workdir }}/{{ item }} state=directory
      loop: [a, b, c]
      when: item != 'c'
    - copy: content="{{ item.value }}" dest={{ workdir }}/{{ item.key }}/f
      with_dict: {a: 1, b: 2}
    - stat: path={{ workdir }}/a/f
"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("n1")).unwrap();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let ran = run_on(dir.path(), &["n1"], RunOptions::default()).await;
        runs.push((
            ran.stats["n1"].changed,
            ran.stats["n1"].failed,
            ran.reads,
            ran.lines,
        ));
    }
    let (changed, failed, _, lines) = &runs[0];
    assert_eq!((*changed, *failed), (2, 0), "{lines:#?}");
    assert!(!dir.path().join("n1/c").exists(), "{lines:#?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("n1/b/f")).unwrap(),
        "2"
    );
    // Two directories, two files and the stat: five probes, read in one request.
    let (changed, failed, read, lines) = &runs[1];
    assert_eq!((*changed, *failed), (0, 0), "{lines:#?}");
    assert_eq!(read, &["read ahead (5 probes)".to_string()], "{lines:#?}");
}

/// Every task here only probes first, so the first ones are read ahead in one request; each
/// change must make the next task look again instead of using an answer read before it.
#[tokio::test]
async fn read_ahead_answers_never_outlive_a_change() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.yml"),
        r#"
- hosts: nodes
  gather_facts: no
  tasks:
    - file: path={{ workdir }} state=directory
    - copy: {content: "one\n", dest: "{{ workdir }}/f"}
    - copy: {content: "one\n", dest: "{{ workdir }}/f"}
    - lineinfile: path={{ workdir }}/g line=two create=yes
    - copy: {content: "two\n", dest: "{{ workdir }}/g"}
    - stat: path={{ workdir }}/g
"#,
    )
    .unwrap();
    for host in ["n1", "n2"] {
        std::fs::create_dir_all(dir.path().join(host)).unwrap();
    }
    for read_ahead in [false, true] {
        for host in ["n1", "n2"] {
            let _ = std::fs::remove_file(dir.path().join(host).join("f"));
            let _ = std::fs::remove_file(dir.path().join(host).join("g"));
        }
        let options = || RunOptions {
            read_ahead,
            ..RunOptions::default()
        };
        let Ran {
            stats,
            lines,
            reads,
        } = run_on(dir.path(), &["n1", "n2"], options()).await;
        let read = reads.len();
        // copy (new f), lineinfile (new g): the second copy of f and the copy of g see what
        // the change before them wrote.
        assert_eq!(
            (stats["n1"].changed, stats["n1"].failed),
            (2, 0),
            "read_ahead={read_ahead} {lines:#?}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("n2/g")).unwrap(),
            "two\n"
        );
        assert_eq!(read > 0, read_ahead, "{read} read-aheads");

        let (stats, lines) = run(dir.path(), options()).await;
        assert_eq!(
            stats["n1"].changed + stats["n2"].changed,
            0,
            "read_ahead={read_ahead} {lines:#?}"
        );
    }
}

/// The probes read ahead with the facts serve the play's first tasks even though the play's
/// (empty) `pre_tasks` list ends in between: a run that changes nothing reads every probe
/// once, in the request that gathers the facts. (They used to be dropped when `pre_tasks`
/// ended and read again for the first task: a second `read ahead` line in `--timing`, and on
/// a fleet host some 30 processes more per run.)
#[tokio::test]
async fn probes_read_with_the_facts_serve_the_first_tasks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.yml"),
        r#"
- hosts: nodes
  gather_facts: yes
  tasks:
    - file: path={{ workdir }} state=directory
    - copy: {content: "one\n", dest: "{{ workdir }}/f"}
    - lineinfile: path={{ workdir }}/g line=two create=yes
    - stat: path={{ workdir }}/g
"#,
    )
    .unwrap();
    for host in ["n1", "n2"] {
        std::fs::create_dir_all(dir.path().join(host)).unwrap();
    }
    let mut reads = Vec::new();
    // A converge, then a run that changes nothing.
    for round in 0..2 {
        let ran = run_on(dir.path(), &["n1", "n2"], RunOptions::default()).await;
        let stats = ran.stats;
        assert_eq!(stats["n1"].failed + stats["n2"].failed, 0);
        reads = ran.reads;
        if round == 1 {
            assert_eq!(stats["n1"].changed + stats["n2"].changed, 0);
        }
    }
    assert_eq!(reads.len(), 1, "{reads:#?}");
    assert!(
        reads[0].starts_with("read ahead with facts ("),
        "{reads:#?}"
    );
}

/// `become` is never skipped on a guess about who the login is: a local connection ignores
/// `ansible_user` (as Ansible's does), so a task meant for `nobody` must run as nobody even
/// when `ansible_user` says the login is nobody already. The keyword is a template, as the
/// find target's `become_user: "{{ test_user_name }}"` (Ansible templates it). (Needs root
/// and sudo.)
#[tokio::test]
#[allow(clippy::print_stderr)] // says why the test did nothing
async fn become_is_decided_on_the_host_not_guessed() {
    let me = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let have_sudo = std::process::Command::new("sh")
        .args(["-c", "command -v sudo"])
        .output()
        .is_ok_and(|o| o.status.success());
    if String::from_utf8_lossy(&me.stdout).trim() != "root" || !have_sudo {
        eprintln!("needs root and sudo; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("who");
    std::fs::write(
        dir.path().join("site.yml"),
        format!(
            r#"
- hosts: n1
  gather_facts: false
  vars:
    ansible_user: nobody
    target_user: nobody
  tasks:
    - command: id -un
      become: true
      become_user: "{{{{ target_user }}}}"
      register: who
    - copy: content="{{{{ who.stdout }}}} " dest={out}-{{{{ inventory_hostname }}}}
    - command: id -un
      become: true
      register: root_who
    - lineinfile: path={out}-{{{{ inventory_hostname }}}} line="{{{{ root_who.stdout }}}}"
"#,
            out = out.display()
        ),
    )
    .unwrap();
    let (stats, lines) = run(dir.path(), RunOptions::default()).await;
    assert_eq!(stats["n1"].failed, 0, "{lines:#?}");
    assert_eq!(
        std::fs::read_to_string(format!("{}-n1", out.display())).unwrap(),
        "nobody \nroot\n"
    );
}

/// As in Ansible, a host that failed is out of `ansible_play_hosts` and `ansible_play_batch`
/// (and `play_hosts`) for the rest of the play, but still in `ansible_play_hosts_all`.
#[tokio::test]
async fn failed_hosts_leave_ansible_play_hosts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.yml"),
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - fail: msg=out
      when: inventory_hostname == 'n2'
    - copy:
        content: "{{ ansible_play_hosts | join(',') }} {{ ansible_play_batch | join(',') }} {{ play_hosts | join(',') }} {{ ansible_play_hosts_all | join(',') }}"
        dest: "{{ workdir }}-seen"
"#,
    )
    .unwrap();
    let (stats, lines) = run(dir.path(), RunOptions::default()).await;
    assert_eq!(stats["n2"].failed, 1, "{lines:#?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("n1-seen")).unwrap(),
        "n1 n1 n1 n1,n2"
    );
}

/// A become method etcdplay does not implement fails the task by name and place; it is never
/// run with sudo instead (nor without become). (A written `become_method: pbrun` is refused
/// when parsing; a variable is only known when the task runs.)
#[tokio::test]
async fn an_unsupported_become_method_fails_the_task_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.yml"),
        r#"
- hosts: n1
  gather_facts: false
  vars:
    ansible_become_method: pbrun
  tasks:
    - copy: content=x dest={{ workdir }}-su
      become: true
    - copy: content=x dest={{ workdir }}-plain
"#,
    )
    .unwrap();
    let (stats, lines) = run(dir.path(), RunOptions::default()).await;
    assert_eq!(stats["n1"].failed, 1, "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("site.yml:7:7: become_method 'pbrun' is not supported")),
        "{lines:#?}"
    );
    assert!(!dir.path().join("n1-su").exists());
}

/// `become_method: su` runs `su [become_flags] USER -c ...` with `become_exe`: a user whose
/// shell is nologin cannot be become with su alone ("This account is currently not
/// available.", as `su epnologin -c id` says), `become_flags: -s /bin/sh` makes it work, as
/// with Ansible's su plugin (`su -s /bin/sh epnologin -c ...`); `ansible_become_exe` names
/// the program, and a missing one fails the task. (Needs root: su asks root no password.)
#[tokio::test]
#[allow(clippy::print_stderr)]
async fn su_takes_become_flags_and_become_exe() {
    if !support::ensure_user("epnologin", "/usr/sbin/nologin") {
        eprintln!("needs root (useradd); skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.yml"),
        r#"
- hosts: n1
  gather_facts: false
  become: true
  become_method: su
  become_user: epnologin
  tasks:
    - name: plain
      command: id -un
      register: plain
      ignore_errors: true
    - name: flags
      command: id -un
      become_flags: -s /bin/sh
      register: flags
    - name: exe
      command: id -un
      become_flags: -s /bin/sh
      vars:
        ansible_become_exe: /bin/su
      register: exe
    - name: missing exe
      command: id -un
      vars:
        ansible_become_exe: /nonexistent/su
      register: missing
      ignore_errors: true
    - copy:
        content: "{{ plain.failed }} {{ flags.stdout }} {{ exe.stdout }} {{ missing.failed }}"
        dest: "{{ workdir }}-su"
      become: false
"#,
    )
    .unwrap();
    let (stats, lines) = run(dir.path(), RunOptions::default()).await;
    assert_eq!(stats["n1"].failed, 0, "{lines:#?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("n1-su")).unwrap(),
        "True epnologin epnologin True"
    );
}

/// Writes `files` (path, text) under `dir`, creating directories.
fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Runs `dir/site.yml` on a thread with the 8 MiB stack of the main thread, which polls a real
/// run; the test harness's threads have 2 MiB, less than the deepest nesting the engine allows
/// needs in a debug build. Without the bounds these runs overflow any stack.
fn run_on_main_sized_stack(dir: &Path) -> (Stats, Vec<String>) {
    let dir = dir.to_path_buf();
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(run(&dir, RunOptions::default()))
        })
        .unwrap()
        .join()
        .unwrap()
}

/// Asserts that an include that never stops failed both hosts as a task failure naming
/// `include_at` and `limit` (the run itself returned: no stack overflow), after `levels` runs
/// of the task named "one level down"; the task after the include did not run.
fn assert_too_deep(
    dir: &Path,
    (stats, lines): &(Stats, Vec<String>),
    include_at: &str,
    limit: &str,
    levels: usize,
) {
    for host in ["n1", "n2"] {
        assert_eq!(stats[host].failed, 1, "{host}: {lines:#?}");
        assert!(!dir.join(format!("{host}-after")).exists(), "{lines:#?}");
    }
    let ran = lines
        .iter()
        .filter(|l| l.ends_with("one level down"))
        .count();
    assert_eq!(ran, levels, "{lines:#?}");
    let failure = lines
        .iter()
        .find(|l| l.starts_with(&format!("{:?} n1 ", HostStatus::Failed)))
        .unwrap_or_else(|| panic!("no failure: {lines:#?}"));
    assert!(
        failure.contains(limit) && failure.contains(include_at),
        "{failure}"
    );
}

const SITE_INCLUDING: &str = "- hosts: all
  gather_facts: false
  vars: {go: true}
  tasks:
    - INCLUDE
    - copy: content=x dest={{ workdir }}-after
";

fn site(include: &str) -> String {
    SITE_INCLUDING.replace("INCLUDE", include)
}

#[test]
fn an_include_tasks_of_itself_fails_the_task_instead_of_overflowing_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("site.yml", &site("include_tasks: again.yml")),
            (
                "again.yml",
                "- name: one level down\n  debug: msg=down\n- include_tasks: again.yml\n",
            ),
        ],
    );
    let run = run_on_main_sized_stack(dir.path());
    // site.yml's include and 63 of again.yml's run; the 64th of again.yml (65th include) fails.
    assert_too_deep(
        dir.path(),
        &run,
        "again.yml:3:3",
        "deeper than 64 levels",
        64,
    );
}

#[test]
fn an_include_role_of_its_own_role_fails_the_task_instead_of_overflowing_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("site.yml", &site("include_role: name=selfish")),
            (
                "roles/selfish/tasks/main.yml",
                "- name: one level down\n  debug: msg=down\n- include_role: name=selfish\n",
            ),
        ],
    );
    let run = run_on_main_sized_stack(dir.path());
    let at = "roles/selfish/tasks/main.yml:3:3";
    assert_too_deep(dir.path(), &run, at, "deeper than 64 levels", 64);
}

/// The loader cannot see this cycle (the names are templates); only the run can.
#[test]
fn a_templated_include_alternating_between_two_files_fails_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let flip = "- name: one level down\n  debug: msg=down\n- include_tasks: \"{{ 'flop.yml' if go else 'flip.yml' }}\"\n";
    let flop = "- name: one level down\n  debug: msg=down\n- include_tasks: \"{{ 'flip.yml' if go else 'flop.yml' }}\"\n";
    write_files(
        dir.path(),
        &[
            (
                "site.yml",
                &site("include_tasks: \"{{ 'flip.yml' if go else 'flop.yml' }}\""),
            ),
            ("flip.yml", flip),
            ("flop.yml", flop),
        ],
    );
    let run = run_on_main_sized_stack(dir.path());
    // 64 levels from site.yml: flip, flop, ..., flop; the 65th include is flop.yml's.
    assert_too_deep(
        dir.path(),
        &run,
        "flop.yml:3:3",
        "deeper than 64 levels",
        64,
    );
    let failure = run.1.iter().find(|l| l.contains("include chain")).unwrap();
    assert!(failure.contains("flip.yml:3:3: flop.yml -> "), "{failure}");
}

/// The include bound alone would let a self-including file whose tasks sit in ten nested blocks
/// reach 64 x 11 levels, past any stack; the bound on all nesting stops it.
#[test]
fn a_self_include_inside_nested_blocks_fails_the_task_instead_of_overflowing_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let mut deep = String::new();
    for level in 0..10 {
        deep.push_str(&format!("{}- block:\n", "    ".repeat(level)));
    }
    let indent = "    ".repeat(10);
    deep.push_str(&format!(
        "{indent}- name: one level down\n{indent}  debug: msg=down\n{indent}- include_tasks: deep.yml\n"
    ));
    write_files(
        dir.path(),
        &[
            ("site.yml", &site("include_tasks: deep.yml")),
            ("deep.yml", &deep),
        ],
    );
    let run = run_on_main_sized_stack(dir.path());
    // Run k of deep.yml starts with 11(k-1)+1 levels open (its include, and ten blocks per run
    // before it): 17 runs reach their debug task, and the 18th finds 192 levels open at its
    // fifth block (line 5, column 19).
    assert_too_deep(
        dir.path(),
        &run,
        "deep.yml:5:19",
        "deeper than 192 levels",
        17,
    );
}

/// Recursion that a condition stops is legitimate and may go to the limit itself: 64 nested
/// includes (the first from site.yml) all run.
#[test]
fn a_self_include_that_a_condition_stops_runs_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("site.yml", &site("include_tasks: count.yml").replace("content=x", "content={{ level }}")),
            (
                "count.yml",
                "- set_fact: level={{ level | default(0) | int + 1 }}\n- include_tasks: count.yml\n  when: level | int < 64\n",
            ),
        ],
    );
    let (stats, lines) = run_on_main_sized_stack(dir.path());
    assert_eq!(stats["n1"].failed + stats["n2"].failed, 0, "{lines:#?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("n1-after")).unwrap(),
        "64"
    );
}
