//! Path variables as Ansible gives them, seen through the `etcdplay` binary on a
//! local-connection host (no lab): `playbook_dir` and `role_path` are absolute when the
//! playbook is named by a bare file name, run from its own directory or from another one, and
//! so are `inventory_file` and `inventory_dir` (ansible-core 2.19.14 with `-i hosts`: the
//! absolute path of `hosts` and of its directory).

mod common;

use common::{etcdplay, text};

const PLAYBOOK: &str = "- hosts: local\n  gather_facts: false\n  roles: [r1]\n  tasks:\n\
    \x20   - copy: content=\"{{ playbook_dir }}\" dest=\"{{ playbook_dir }}/seen-playbook-dir\"\n\
    \x20   - copy: content=\"{{ inventory_file }} {{ inventory_dir }}\" dest=\"{{ playbook_dir }}/seen-inv\"\n";
const ROLE_TASKS: &str =
    "- copy: content=\"{{ role_path }}\" dest=\"{{ playbook_dir }}/seen-role-path\"\n";

#[test]
fn playbook_dir_and_role_path_are_absolute_for_a_bare_playbook_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().canonicalize().expect("canonical");
    std::fs::create_dir_all(d.join("roles/r1/tasks")).expect("mkdir");
    std::fs::write(d.join("roles/r1/tasks/main.yml"), ROLE_TASKS).expect("write");
    std::fs::write(d.join("site.yml"), PLAYBOOK).expect("write");
    std::fs::write(d.join("hosts"), "local ansible_connection=local\n").expect("write");

    // From the playbook's own directory, by its bare name.
    let out = etcdplay(&d, &["apply", "-i", "hosts", "site.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let seen = |name: &str| std::fs::read_to_string(d.join(name)).expect(name);
    assert_eq!(seen("seen-playbook-dir"), d.display().to_string());
    assert_eq!(
        seen("seen-role-path"),
        d.join("roles/r1").display().to_string()
    );
    assert_eq!(
        seen("seen-inv"),
        format!("{} {}", d.join("hosts").display(), d.display())
    );

    // From another directory, by a relative path.
    std::fs::remove_file(d.join("seen-playbook-dir")).expect("rm");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let rel = |p: &str| format!("{}/{p}", d.display());
    let out = etcdplay(
        elsewhere.path(),
        &["apply", "-i", &rel("hosts"), &rel("site.yml")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(seen("seen-playbook-dir"), d.display().to_string());
}

/// A project's ansible.cfg is read as Ansible reads it (kubespray cannot load without its
/// `roles_path`): roles from `roles_path` (relative to the file), the default inventory, and
/// an `ANSIBLE_*` variable over the file.
#[test]
fn ansible_cfg_gives_roles_path_inventory_and_forks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().canonicalize().expect("canonical");
    std::fs::create_dir_all(d.join("shared/roles/r1/tasks")).expect("mkdir");
    std::fs::create_dir_all(d.join("project/inventory")).expect("mkdir");
    std::fs::write(d.join("shared/roles/r1/tasks/main.yml"), ROLE_TASKS).expect("write");
    std::fs::write(d.join("project/site.yml"), PLAYBOOK).expect("write");
    std::fs::write(
        d.join("project/inventory/hosts"),
        "local ansible_connection=local\n",
    )
    .expect("write");
    std::fs::write(
        d.join("project/ansible.cfg"),
        "[defaults]\nroles_path = ../shared/roles\ninventory = inventory/hosts\nforks = 3 ; comment\n",
    )
    .expect("write");
    let project = d.join("project");
    let out = etcdplay(&project, &["apply", "site.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(project.join("seen-role-path")).expect("role ran"),
        d.join("shared/roles/r1").display().to_string()
    );
    // A role named by a template is found in `roles_path` too when the include runs.
    std::fs::remove_file(project.join("seen-role-path")).expect("rm");
    std::fs::write(
        project.join("dynamic.yml"),
        "- hosts: local\n  gather_facts: false\n  vars:\n    which: r1\n  tasks:\n\
         \x20   - include_role:\n        name: \"{{ which }}\"\n",
    )
    .expect("write");
    let out = etcdplay(&project, &["apply", "dynamic.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(project.join("seen-role-path").exists(), "{}", text(&out));
    // Without the file, the same run cannot find the role or the inventory.
    std::fs::remove_file(project.join("ansible.cfg")).expect("rm");
    let out = etcdplay(&project, &["apply", "site.yml"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("no inventory"), "{}", text(&out));
    // A bad value names the file.
    std::fs::write(project.join("ansible.cfg"), "[defaults]\nforks = lots\n").expect("write");
    let out = etcdplay(&project, &["apply", "-i", "inventory/hosts", "site.yml"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("ansible.cfg [defaults]: forks = 'lots'"),
        "{}",
        text(&out)
    );
}
