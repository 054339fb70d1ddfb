//! Habits of Ansible's command line, checked against what Ansible prints (recorded from
//! ansible-core 2.19): `etcdplay apply --list-hosts --list-tasks --list-tags` prints what
//! `ansible-playbook` prints for the same flags (expected text recorded from ansible-core 2.19 on this playbook; the one
//! difference, host order within a play, is inventory order here and set order in Ansible, so
//! host lines are compared sorted). Nothing is contacted: every host is a local connection
//! that would not even be needed.

mod common;

use std::path::Path;
use std::process::Command;

use common::{etcdplay, text};

/// The inventory of the tests that run a play under both tools on this machine.
const LOCALHOST: &str =
    "localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n";

/// A project directory holding `files` (path inside it, content), their directories made.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, content) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }
    dir
}

/// The command running `site.yml` on the inventory `hosts` of the project `d` under `program`:
/// ansible-playbook, or etcdplay's `apply`.
fn play_command(program: &Path, d: &Path) -> Command {
    let mut command = Command::new(program);
    if program.ends_with("etcdplay") {
        command.arg("apply");
    }
    command.args(["-i", "hosts", "site.yml"]).current_dir(d);
    command
}

const PLAYBOOK: &str = r#"- name: first play
  hosts: nodes
  gather_facts: false
  tags: [p]
  roles:
    - role: web
      tags: [web]
  tasks:
    - name: named
      debug: msg=a
      tags: [a, b]
    - debug: msg=unnamed
    - block:
        - name: in block
          command: "true"
      tags: [blk]
- hosts: other,nodes
  gather_facts: false
  tasks:
    - name: second
      debug: msg=x
      tags: [never, dbg]
"#;

/// Recorded: `ansible-playbook -i hosts site.yml --list-hosts --list-tasks --list-tags -l n1,n3`.
const ANSIBLE: &str = "
playbook: site.yml

  play #1 (nodes): first play\tTAGS: [p]
    pattern: ['nodes']
    hosts (1):
      n1
    tasks:
      web : role task\tTAGS: [p, rt, web]
      named\tTAGS: [a, b, p]
      debug\tTAGS: [p]
      in block\tTAGS: [blk, p]
      TASK TAGS: [a, b, blk, p, rt, web]

  play #2 (other,nodes): other,nodes\tTAGS: []
    pattern: ['other,nodes']
    hosts (2):
      n3
      n1
    tasks:
      second\tTAGS: [dbg, never]
      TASK TAGS: [dbg, never]
";

/// The text with each run of host lines (six spaces, a name) sorted.
fn hosts_sorted(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<String> = Vec::new();
    for line in text.lines() {
        let is_host = line.starts_with("      n") && !line.contains('\t');
        if is_host {
            run.push(line.to_string());
            continue;
        }
        run.sort();
        out.append(&mut run);
        out.push(line.to_string());
    }
    run.sort();
    out.append(&mut run);
    out
}

#[test]
fn listings_match_ansible_playbook() {
    let dir = project(&[
        (
            "roles/web/tasks/main.yml",
            "- name: role task\n  debug: msg=r\n  tags: [rt]\n",
        ),
        ("site.yml", PLAYBOOK),
        (
            "hosts",
            "[nodes]\nn1 ansible_connection=local\nn2 ansible_connection=local\n\
             [other]\nn3 ansible_connection=local\n",
        ),
    ]);
    let d = dir.path();
    let out = etcdplay(
        d,
        &[
            "apply",
            "-i",
            "hosts",
            "site.yml",
            "--list-hosts",
            "--list-tasks",
            "--list-tags",
            "-l",
            "n1,n3",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ours = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(hosts_sorted(&ours), hosts_sorted(ANSIBLE), "\n{ours}");
}

/// `etcdplay run` prints what `ansible HOSTS -m MODULE -a ARGS` prints (recorded from
/// ansible-core 2.19 with the same inventory) and exits as it does.
#[test]
fn ad_hoc_commands_print_what_ansible_prints() {
    let dir = project(&[(
        "hosts",
        "[nodes]\nn1 ansible_connection=local\nn2 ansible_connection=local\n",
    )]);
    let d = dir.path();
    let run = |args: &[&str]| {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        etcdplay(d, &all)
    };
    // Ansible's output and exit code for each call.
    let cases: [(&[&str], i32, &str); 3] = [
        (
            &["n1", "-i", "hosts", "-a", "echo hi"],
            0,
            "n1 | CHANGED | rc=0 >>\nhi\n",
        ),
        (
            &["n1", "-i", "hosts", "-m", "shell", "-a", "echo err >&2; exit 3"],
            2,
            "n1 | FAILED | rc=3 >>\nerrnon-zero return code\n",
        ),
        (
            &["n1", "-i", "hosts", "-m", "stat", "-a", "path=/nonexistent"],
            0,
            "n1 | SUCCESS => {\n    \"changed\": false,\n    \"stat\": {\n        \"exists\": false\n    }\n}\n",
        ),
    ];
    for (args, code, stdout) in cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), stdout, "{args:?}");
    }
    // -b/--become-user are defaults for every task (needs root and sudo to become nobody).
    let out = run(&[
        "n1",
        "-i",
        "hosts",
        "-b",
        "--become-user",
        "nobody",
        "-a",
        "id -un",
    ]);
    if running_as_root() {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "n1 | CHANGED | rc=0 >>\nnobody\n",
            "{}",
            text(&out)
        );
    }
    // Every host of the pattern, each in its own block.
    let out = run(&["nodes", "-i", "hosts", "-m", "command", "-a", "true"]);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains("n1 | CHANGED | rc=0 >>") && shown.contains("n2 | CHANGED | rc=0 >>"),
        "{shown}"
    );
}

/// Who a task runs as, in Ansible's order (checked with ansible-core 2.19 on this playbook):
/// a host or play variable (`ansible_become_user`) beats the `become_user` keyword, and a play's
/// `become: false` beats `-b` on the command line. Needs root and sudo.
#[test]
fn variables_beat_keywords_and_keywords_beat_the_command_line() {
    if !running_as_root() {
        return;
    }
    let dir = project(&[
        ("hosts", "localhost ansible_connection=local\n"),
        (
            "site.yml",
            "- hosts: localhost\n  gather_facts: false\n  become: true\n  become_user: nobody\n\
             \x20 vars:\n    ansible_become_user: root\n  tasks:\n\
             \x20   - command: id -un\n      register: who\n    - debug: var=who.stdout\n\
             - hosts: localhost\n  gather_facts: false\n  become: false\n  tasks:\n\
             \x20   - command: id -un\n      register: who2\n    - debug: var=who2.stdout\n",
        ),
    ]);
    let d = dir.path();
    let out = etcdplay(
        d,
        &[
            "apply",
            "-i",
            "hosts",
            "site.yml",
            "-b",
            "--become-user",
            "nobody",
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("\"who.stdout\": \"root\""), "{all}");
    assert!(all.contains("\"who2.stdout\": \"root\""), "{all}");
}

/// Whether the tests run as root (the become tests need it, and sudo).
fn running_as_root() -> bool {
    let id = std::process::Command::new("id")
        .arg("-u")
        .output()
        .expect("id");
    String::from_utf8_lossy(&id.stdout).trim() == "0"
}

/// The task headers and recap lines of a run's output, in order.
fn headers_and_recap(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with("PLAY [") || l.starts_with("TASK [") || l.contains(" : ok="))
        .map(|l| l.split(" *").next().unwrap_or(l).trim_end().to_owned())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// `--start-at-task` (a wildcard, into a block, facts gathered only once the play holds the
/// task, later plays whole) and `-l @file`, compared with ansible-core 2.19.14 on the same
/// playbook and local hosts. Ansible printed, for `--start-at-task 't*o' -l @limit` with
/// `b` in the limit file:
///   PLAY [all] / TASK [Gathering Facts] / TASK [two] / TASK [three] / PLAY [a] /
///   b : ok=3 changed=0 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0
/// and for a name no task has: both PLAY headers, no task, then
/// `No matching task "nomatch" found. Note: --start-at-task can only follow static includes.`
/// with exit code 0.
#[test]
fn start_at_task_and_limit_files_behave_as_in_ansible() {
    let dir = project(&[
        (
            "hosts",
            "a ansible_connection=local\nb ansible_connection=local\n",
        ),
        ("limit", "b\n"),
    ]);
    let d = dir.path();
    std::fs::write(
        d.join("p.yml"),
        "- hosts: all\n  tasks:\n    - name: one\n      debug: msg=one\n    - block:\n\
         \x20       - name: two\n          debug: msg=two\n    - name: three\n      debug: msg=three\n\
         - hosts: a\n  gather_facts: false\n  tasks:\n    - name: four\n      debug: msg=four\n",
    )
    .expect("write");
    let args = [
        "apply",
        "-i",
        "hosts",
        "p.yml",
        "--start-at-task",
        "t*o",
        "-l",
        "@limit",
    ];
    let out = etcdplay(d, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        headers_and_recap(&text(&out)),
        [
            "PLAY [all]",
            "TASK [Gathering Facts]",
            "TASK [two]",
            "TASK [three]",
            "PLAY [a]",
            "b : ok=3 changed=0 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0",
        ],
        "{}",
        text(&out)
    );

    let out = etcdplay(
        d,
        &[
            "apply",
            "-i",
            "hosts",
            "p.yml",
            "--start-at-task",
            "nomatch",
        ],
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(!shown.contains("TASK ["), "{shown}");
    assert!(
        shown.contains(
            "No matching task \"nomatch\" found. Note: --start-at-task can only follow static \
             includes."
        ),
        "{shown}"
    );

    let out = etcdplay(d, &["apply", "-i", "hosts", "p.yml", "-l", "@missing"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("unable to find limit file missing"),
        "{}",
        text(&out)
    );
}

/// ansible.cfg's `gathering` (and `ANSIBLE_GATHERING` over it) and `[privilege_escalation]`
/// `become`/`become_user`, run side by side with ansible-playbook on the same playbook: with
/// `smart` the second play gathers nothing (its host was gathered), with `explicit` only the
/// play saying `gather_facts: true` gathers, and the command runs as `nobody`. Needs root and
/// sudo (as the other become test).
#[test]
fn ansible_cfg_gathering_and_become_settings_behave_as_in_ansible() {
    if !running_as_root() {
        return;
    }
    let dir = project(&[
        ("hosts", LOCALHOST),
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - command: id -un\n      register: who\n\
             \x20   - debug: msg=\"{{ who.stdout }}\"\n\
             - hosts: all\n  tasks:\n    - debug: msg=second\n\
             - hosts: all\n  gather_facts: true\n  tasks:\n    - debug: msg=third\n",
        ),
    ]);
    let d = dir.path();
    let run = |program: &Path, gathering: &str, env: Option<&str>| {
        std::fs::write(
            d.join("ansible.cfg"),
            format!(
                "[defaults]\ngathering = {gathering}\n\
                 [privilege_escalation]\nbecome = True\nbecome_user = nobody\n"
            ),
        )
        .expect("write");
        let mut command = play_command(program, d);
        for var in ["ANSIBLE_CONFIG", "ANSIBLE_GATHERING", "ANSIBLE_BECOME"] {
            command.env_remove(var);
        }
        command.env_remove("ANSIBLE_BECOME_USER");
        if let Some(value) = env {
            command.env("ANSIBLE_GATHERING", value);
        }
        let out = command.output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let shown: Vec<String> = text(&out)
            .lines()
            .filter(|l| l.starts_with("TASK [Gathering") || l.contains("\"msg\":"))
            .map(|l| l.split(" *").next().unwrap_or(l).trim().to_owned())
            .collect();
        shown
    };
    let ansible = common::ansible_bin("ansible-playbook");
    let ours = common::etcdplay_bin();
    for (gathering, env) in [
        ("smart", None),
        ("explicit", None),
        ("smart", Some("explicit")),
    ] {
        let theirs = run(&ansible, gathering, env);
        let mine = run(&ours, gathering, env);
        assert_eq!(
            mine, theirs,
            "gathering = {gathering}, ANSIBLE_GATHERING={env:?}"
        );
        assert!(
            mine.contains(&"\"msg\": \"nobody\"".to_string()),
            "{mine:?}"
        );
    }
    // What Ansible printed for `smart`: one gathering, in the first play.
    let smart = run(&ours, "smart", None);
    assert_eq!(
        smart
            .iter()
            .filter(|l| l.starts_with("TASK [Gathering"))
            .count(),
        1,
        "{smart:?}"
    );
}

/// `ANSIBLE_ASYNC_DIR` (Ansible's `async_dir` setting) moves the async jobs' status files, as
/// with ansible-playbook 2.19.14, which left one `<jid>` file there for this play: the polled
/// job's file is cleaned up, the `poll: 0` job's stays.
#[test]
fn the_async_dir_setting_moves_the_jobs_status_files() {
    let dir = project(&[
        ("hosts", LOCALHOST),
        (
            "site.yml",
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: echo hi\n\
             \x20     async: 20\n      poll: 1\n      register: job\n    - assert:\n\
             \x20       that: job.stdout == 'hi'\n    - command: sleep 1\n      async: 20\n\
             \x20     poll: 0\n",
        ),
    ]);
    let d = dir.path();
    let run = |program: &Path, jobs: &Path| {
        let out = play_command(program, d)
            .env_remove("ANSIBLE_CONFIG")
            .env("ANSIBLE_ASYNC_DIR", jobs)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let names: Vec<String> = std::fs::read_dir(jobs)
            .expect("the jobs directory was made")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".job"))
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    };
    run(&common::ansible_bin("ansible-playbook"), &d.join("theirs"));
    run(&common::etcdplay_bin(), &d.join("ours"));
}

/// Where relative files are found (`ansible_search_path`: the roles on the dependency chain,
/// innermost first, the task file's directory, the playbook's), and the `included:` line of a
/// dynamic include: the whole output of ansible-playbook 2.19.14 and of etcdplay on the same
/// playbook must match line for line (banners aside), and both copy the same files. A role
/// `b` pulled in by `a` reads `a`'s `files/afile`; a task file included from `inc/` finds
/// `inc/files/data.txt`, `inc/other.txt` and `inc/templates/t.j2`.
#[test]
fn search_path_and_include_lines_match_ansible() {
    let dir = project(&[
        ("hosts", LOCALHOST),
        (
            "site.yml",
            "- hosts: all\n  gather_facts: false\n  roles: [a]\n  tasks:\n\
             \x20   - include_tasks: inc/sub.yml\n",
        ),
        (
            "inc/sub.yml",
            "- debug: msg=\"{{ lookup('file', 'data.txt') }}\"\n- debug: var=ansible_search_path\n\
             - copy: src=other.txt dest={{ out }}/other.txt\n\
             - template: src=t.j2 dest={{ out }}/t.txt\n",
        ),
        ("inc/files/data.txt", "from inc/files\n"),
        ("inc/other.txt", "other\n"),
        ("inc/templates/t.j2", "tmpl {{ 1 + 1 }}\n"),
        ("roles/a/meta/main.yml", "dependencies: [b]\n"),
        ("roles/a/tasks/main.yml", "- debug: msg=a\n"),
        ("roles/a/files/afile", "from a's files\n"),
        (
            "roles/b/tasks/main.yml",
            "- debug: msg=\"{{ lookup('file', 'afile') }}\"\n- debug: var=ansible_search_path\n",
        ),
    ]);
    let d = dir.path();
    let run = |program: &Path, out: &str| {
        std::fs::create_dir_all(d.join(out)).expect("mkdir");
        let dest = format!("out={}", d.join(out).display());
        let output = play_command(program, d)
            .args(["-e", &dest])
            .env_remove("ANSIBLE_CONFIG")
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        let lines: Vec<String> = text(&output)
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.ends_with("***"))
            .map(str::to_owned)
            .collect();
        let files = ["other.txt", "t.txt"]
            .map(|f| std::fs::read_to_string(d.join(out).join(f)).expect("copied"));
        (lines, files)
    };
    let theirs = run(&common::ansible_bin("ansible-playbook"), "theirs");
    let ours = run(&common::etcdplay_bin(), "ours");
    assert_eq!(ours.0, theirs.0);
    assert_eq!(ours.1, theirs.1);
    assert!(
        theirs.0.iter().any(|l| l.starts_with("included: ")),
        "{:?}",
        theirs.0
    );
}
