//! `apt_key` as Ansible's: `tests/e2e/apt-key` runs on the control node (local connection)
//! under ansible-playbook 2.19.14 and under etcdplay, each in a keyring file of its own scratch
//! directory (never the machine's keyrings), with a key generated here by gpg, and the results
//! its last task prints must be equal. Observed with ansible-playbook: check mode `changed`
//! with `before: []` and no `after`; the add `changed` with `after: [LONGID]`; again unchanged;
//! removal by the long id `changed` with `after: []`, then unchanged; inline data `changed`;
//! `0x` + the short id in lower case unchanged with `before` of short ids and `id` as given;
//! `id: 12345` fails with "Invalid key_id". Needs apt-key and gpg on the control node.

mod common;

use std::process::Command;

use common::{
    ansible_bin, assert_same_results, both_succeeded, etcdplay_bin, gpg_test_key, key_scratch,
    last_results, local_inventory, repo_root,
};

#[test]
fn apt_key_results_are_ansibles() {
    let root = tempfile::tempdir().expect("tempdir");
    let key = gpg_test_key(root.path()).armored;
    let inventory = local_inventory(root.path());
    let play = repo_root().join("tests/e2e/apt-key/site.yml");
    let theirs_dir = key_scratch(root.path(), "ansible", &key)
        .display()
        .to_string();
    let ours_dir = key_scratch(root.path(), "etcdplay", &key)
        .display()
        .to_string();
    let ansible = Command::new(ansible_bin("ansible-playbook"))
        .arg("-i")
        .arg(&inventory)
        .arg(&play)
        .args(["-e", &format!("dir={theirs_dir}")])
        .env("ANSIBLE_NOCOLOR", "1")
        .env("GNUPGHOME", format!("{theirs_dir}/gnupg"))
        .current_dir(root.path())
        .output()
        .expect("run ansible-playbook");
    let ours = Command::new(etcdplay_bin())
        .arg("apply")
        .arg("-i")
        .arg(&inventory)
        .arg(&play)
        .args(["-e", &format!("dir={ours_dir}")])
        .env("GNUPGHOME", format!("{ours_dir}/gnupg"))
        .current_dir(root.path())
        .output()
        .expect("run etcdplay");
    let (ansible_text, our_text) = both_succeeded(&ansible, &ours);
    let (theirs, mine) = last_results(&ansible_text, &our_text, "h");
    assert_same_results(&theirs, &mine, &our_text);
    assert_eq!(theirs["msg"]["file"]["changed"], true);
}
