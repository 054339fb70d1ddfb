//! `rpm_key` as Ansible's: `tests/e2e/rpm-key` runs on the control node (local connection)
//! under ansible-playbook 2.19.14 and under etcdplay, each with HOME in a scratch directory
//! whose `.rpmmacros` moves rpm's database there (the machine's is never touched) and its own
//! GNUPGHOME, with a key generated here by gpg, also served over http on 127.0.0.1; the
//! results its last task prints must be equal. Observed with ansible-playbook: check mode
//! `changed`; a wrong fingerprint fails with "The specified fingerprint, '{'0000...9999'}',
//! does not match any key fingerprints in '{'<FPR>'}'"; the import `changed`, again unchanged,
//! by key id unchanged; removal `changed`, again unchanged; a key id alone fails with "When
//! importing a key, a valid file must be given", a missing file with "Not a valid key
//! <path>"; the URL `changed`, then unchanged. Needs rpm and gpg on the control node.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};

use common::{
    ansible_bin, assert_same_results, both_succeeded, etcdplay_bin, gpg_test_key, key_scratch,
    last_results, local_inventory, repo_root, TestKey,
};

/// One tool's scratch directory: `key.asc`, `home/.rpmmacros` (rpm's database in `db/`) and
/// an empty `gnupg` home.
fn scratch(root: &Path, name: &str, key: &str) -> String {
    let dir = key_scratch(root, name, key);
    std::fs::create_dir_all(dir.join("home")).expect("mkdir");
    std::fs::write(
        dir.join("home/.rpmmacros"),
        format!("%_dbpath {}\n", dir.join("db").display()),
    )
    .expect("rpmmacros");
    dir.display().to_string()
}

/// Serves `dir` over http on 127.0.0.1 (python3's http.server), stopped by pid on drop.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path) -> (Served, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .arg("--directory")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 http.server");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "http.server did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    (Served(child), port)
}

/// The command running `program` with `first` and the extra variables `extra`, with HOME and
/// GNUPGHOME in the scratch directory `dir`.
fn tool(program: &Path, first: &[&str], dir: &str, extra: &[String], cwd: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .args(first)
        .args(extra.iter().flat_map(|e| ["-e", e.as_str()]))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("HOME", format!("{dir}/home"))
        .env("GNUPGHOME", format!("{dir}/gnupg"))
        .current_dir(cwd);
    command
}

#[test]
fn rpm_key_results_are_ansibles() {
    let root = tempfile::tempdir().expect("tempdir");
    let TestKey {
        armored: key,
        fingerprint: fpr,
    } = gpg_test_key(root.path());
    let inv = local_inventory(root.path()).display().to_string();
    let play = repo_root()
        .join("tests/e2e/rpm-key/site.yml")
        .display()
        .to_string();
    let served = root.path().join("served");
    std::fs::create_dir_all(&served).expect("mkdir");
    std::fs::write(served.join("key.asc"), &key).expect("served key");
    let (_server, port) = serve(&served);
    let extra = |dir: &str| {
        vec![
            format!("dir={dir}"),
            format!("url=http://127.0.0.1:{port}/key.asc"),
            format!("fpr={fpr}"),
        ]
    };
    let theirs_dir = scratch(root.path(), "ansible", &key);
    let ours_dir = scratch(root.path(), "etcdplay", &key);
    let ansible = tool(
        &ansible_bin("ansible-playbook"),
        &["-i", &inv, &play],
        &theirs_dir,
        &extra(&theirs_dir),
        root.path(),
    )
    .output()
    .expect("run ansible-playbook");
    let ours = tool(
        &etcdplay_bin(),
        &["apply", "-i", &inv, &play],
        &ours_dir,
        &extra(&ours_dir),
        root.path(),
    )
    .output()
    .expect("run etcdplay");
    let (ansible_text, our_text) = both_succeeded(&ansible, &ours);
    let (mut theirs, mine) = last_results(&ansible_text, &our_text, "h");
    // The one path in a message: each tool's own scratch directory.
    let missing = theirs["msg"]["missing"]["msg"]
        .as_str()
        .expect("message")
        .replace(&theirs_dir, &ours_dir);
    theirs["msg"]["missing"]["msg"] = missing.into();
    assert_same_results(&theirs, &mine, &our_text);
}
