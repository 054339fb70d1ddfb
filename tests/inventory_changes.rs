//! `group_by` and `add_host` change the run's inventory: the same playbook through real
//! ansible-playbook 2.19 and through `etcdplay` (local-connection hosts, no lab) must show the
//! same `groups`, `group_names`, host variables, second-play hosts and recap.

mod common;

use std::process::Command;

use common::{ansible_bin, etcdplay, text};

const INVENTORY: &str = "[web]\n\
h1 ansible_connection=local ansible_python_interpreter=/opt/etcdplay-ansible/bin/python\n\
h2 ansible_connection=local ansible_python_interpreter=/opt/etcdplay-ansible/bin/python\n";

const PLAYBOOK: &str = r#"- hosts: web
  gather_facts: false
  tasks:
    - group_by: {key: "kind_{{ inventory_hostname }}", parents: [dyn, "other stuff"]}
      register: g
    - debug: {msg: "{{ g.add_group }} {{ g.parent_groups }} {{ g.changed }}"}
    - group_by: {key: "kind_{{ inventory_hostname }}", parents: [dyn, "other stuff"]}
    - add_host: {name: "newhost:2222", groups: "added,dyn", ansible_connection: local, color: blue}
      register: a
    - debug: {msg: "{{ a.add_host }} {{ a.changed }}"}
      when: inventory_hostname == 'h1'
    - debug: {msg: "registered on h2: {{ a is defined }}"}
      when: inventory_hostname == 'h2'
    - ansible.builtin.add_host: {name: "newhost:2222", groups: "added,dyn", ansible_connection: local, color: blue}
    - debug: {msg: "{{ groups }} {{ group_names }}"}
    - add_host: {name: "{{ item }}", groups: looped}
      loop: [l1, l2]
    - debug: {msg: "{{ groups.looped }}"}
- hosts: dyn:&added
  gather_facts: false
  tasks:
    - debug: {msg: "{{ inventory_hostname }} {{ group_names }} {{ color }} {{ ansible_ssh_port }}"}
- hosts: other-stuff
  gather_facts: false
  tasks:
    - debug: {msg: "{{ inventory_hostname }} {{ group_names }}"}
"#;

/// What both tools must agree on: per task, each host's result with its message (hosts in
/// name order: both print them as they finish), and the recap.
fn comparable(out: &str) -> Vec<String> {
    let mut tasks: Vec<Vec<String>> = Vec::new();
    for line in out.lines().map(str::trim) {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.starts_with("TASK [") || line.starts_with("PLAY ") {
            tasks.push(vec![line]);
        } else if line.starts_with("\"msg\"") {
            if let Some(last) = tasks.last_mut().and_then(|t| t.last_mut()) {
                last.push(' ');
                last.push_str(&line);
            }
        } else if ["ok:", "changed:", "skipping:", "fatal:"]
            .iter()
            .any(|p| line.starts_with(p))
            || line.contains(" : ok=")
        {
            if let Some(task) = tasks.last_mut() {
                task.push(line);
            }
        }
    }
    tasks
        .into_iter()
        .flat_map(|mut t| {
            t[1..].sort();
            t
        })
        .collect()
}

#[test]
fn group_by_and_add_host_change_the_inventory_as_ansible_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("hosts"), INVENTORY).expect("write");
    std::fs::write(d.join("site.yml"), PLAYBOOK).expect("write");
    let ansible = Command::new(ansible_bin("ansible-playbook"))
        .args(["-i", "hosts", "site.yml"])
        .current_dir(d)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .output()
        .expect("run ansible-playbook");
    assert_eq!(ansible.status.code(), Some(0), "{}", text(&ansible));
    let ours = etcdplay(d, &["apply", "-i", "hosts", "site.yml"]);
    assert_eq!(ours.status.code(), Some(0), "{}", text(&ours));
    let want = comparable(&String::from_utf8_lossy(&ansible.stdout));
    let got = comparable(&String::from_utf8_lossy(&ours.stdout));
    // What Ansible printed, for the record: group_by "changed" then "ok", add_host once on h1,
    // `groups` = {'all': ['newhost', 'h1', 'h2'], 'ungrouped': [], 'web': ['h1', 'h2'],
    // 'kind_h1': ['h1'], 'dyn': ['newhost', 'h1', 'h2'], 'other-stuff': ['h1', 'h2'],
    // 'kind_h2': ['h2'], 'added': ['newhost']}, "newhost ['added', 'dyn'] blue 2222", and the
    // recap h1 ok=8 changed=2 skipped=1, h2 ok=6 changed=1 skipped=1, newhost ok=1.
    assert!(
        want.iter()
            .any(|l| l.contains("newhost ['added', 'dyn'] blue 2222")),
        "{want:#?}"
    );
    assert_eq!(got, want, "etcdplay:\n{}", text(&ours));
}
