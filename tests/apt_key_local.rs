//! `apt_key` as Ansible's: `tests/e2e/apt-key` runs on the control node (local connection)
//! under ansible-playbook 2.19.14 and under etcdplay, each in a keyring file of its own scratch
//! directory (never the machine's keyrings), with a key generated here by gpg, and the results
//! its last task prints must be equal. Observed with ansible-playbook: check mode `changed`
//! with `before: []` and no `after`; the add `changed` with `after: [LONGID]`; again unchanged;
//! removal by the long id `changed` with `after: []`, then unchanged; inline data `changed`;
//! `0x` + the short id in lower case unchanged with `before` of short ids and `id` as given;
//! `id: 12345` fails with "Invalid key_id". Needs apt-key and gpg on the control node.

mod common;

use std::path::Path;
use std::process::Command;

use common::debrepo::run_ok;
use common::{ansible_bin, etcdplay_bin, last_debug_json, repo_root, text};

/// A scratch directory with `key.asc` (an ed25519 key made here) and an empty `gnupg` home.
fn scratch(root: &Path, name: &str, key: &str) -> String {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("gnupg")).expect("mkdir");
    run_ok(Command::new("chmod").arg("700").arg(dir.join("gnupg")));
    std::fs::write(dir.join("key.asc"), key).expect("key");
    dir.display().to_string()
}

#[test]
fn apt_key_results_are_ansibles() {
    let root = tempfile::tempdir().expect("tempdir");
    let gnupg = root.path().join("maker");
    std::fs::create_dir_all(&gnupg).expect("mkdir");
    run_ok(Command::new("chmod").arg("700").arg(&gnupg));
    let gpg = |args: &[&str]| {
        let mut c = Command::new("gpg");
        c.arg("--homedir").arg(&gnupg).args(["--batch", "--yes"]);
        c.args(args);
        run_ok(&mut c)
    };
    gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "t <t@localhost>",
        "ed25519",
        "sign",
        "never",
    ]);
    let key = gpg(&["--armor", "--export", "t@localhost"]);
    let inventory = root.path().join("hosts");
    std::fs::write(
        &inventory,
        "h ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n",
    )
    .expect("inventory");
    let play = repo_root().join("tests/e2e/apt-key/site.yml");
    let theirs_dir = scratch(root.path(), "ansible", &key);
    let ours_dir = scratch(root.path(), "etcdplay", &key);
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
    let (ansible_text, our_text) = (text(&ansible), text(&ours));
    assert!(
        ansible.status.success(),
        "ansible-playbook:\n{ansible_text}"
    );
    assert!(ours.status.success(), "etcdplay:\n{our_text}");
    let (theirs, mine) = (
        last_debug_json(&ansible_text, "h"),
        last_debug_json(&our_text, "h"),
    );
    for (task, result) in theirs["msg"].as_object().expect("results") {
        assert_eq!(&mine["msg"][task], result, "{task}:\n{our_text}");
    }
    assert_eq!(mine, theirs);
    assert_eq!(theirs["msg"]["file"]["changed"], true);
}
