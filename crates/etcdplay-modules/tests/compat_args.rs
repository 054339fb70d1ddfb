//! Arguments that ansible-core's integration targets pass and Ansible accepts, on a real local
//! host (a temporary directory). Each test's comment says what ansible-playbook 2.19.14 did
//! with the same task (local connection), which is what the assertions check.

mod common;

use common::Env;
use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn mode_of(p: &str) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

// ansible-playbook: `file: path=t/link state=file mode=0600` on a link to t/target changes
// t/target's mode and answers `"path": ".../t/target"`; with `follow: no` it fails with
// "file (.../t/link) is link, cannot continue".
#[tokio::test]
async fn file_follows_a_link_unless_told_not_to() {
    let env = Env::new();
    let target = env.p("target");
    let link = env.p("link");
    std::fs::write(&target, "x\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let r = env
        .run(
            "file",
            json!({"path": link, "state": "file", "mode": "0600"}),
        )
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(r.data["path"], json!(target));
    assert_eq!(mode_of(&target), 0o600);
    let again = env
        .run(
            "file",
            json!({"path": link, "state": "file", "mode": "0600"}),
        )
        .await;
    assert!(!again.changed && !again.failed, "{again:?}");
    let refused = env
        .run(
            "file",
            json!({"path": link, "state": "file", "follow": false}),
        )
        .await;
    assert!(refused.failed);
    assert_eq!(
        refused.msg.as_deref(),
        Some(format!("file ({link}) is link, cannot continue").as_str())
    );
}

// ansible-playbook: `modification_time: "202401021504.07"` with `access_time` the same is
// changed, then with `access_time: preserve` ok; the file's times are 2024-01-02 15:04:07 in
// the host's time zone. `modification_time: bad` fails with "Error while obtaining timestamp
// for time bad using format %Y%m%d%H%M.%S: time data 'bad' does not match format
// '%Y%m%d%H%M.%S'".
#[tokio::test]
async fn file_sets_modification_and_access_times() {
    let env = Env::new();
    let path = env.p("stamped");
    std::fs::write(&path, "x\n").unwrap();
    let args = json!({"path": path, "modification_time": "202401021504.07",
                      "access_time": "202401021504.07"});
    env.converges_opts("file", args, &path, false).await;
    let expected = std::process::Command::new("date")
        .args(["-d", "2024-01-02 15:04:07", "+%s"])
        .output()
        .unwrap();
    let expected: i64 = String::from_utf8_lossy(&expected.stdout)
        .trim()
        .parse()
        .unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!((meta.mtime(), meta.atime()), (expected, expected));
    let preserve = env
        .run(
            "file",
            json!({"path": path, "modification_time": "202401021504.07",
                   "access_time": "preserve"}),
        )
        .await;
    assert!(!preserve.changed && !preserve.failed, "{preserve:?}");
    // `now` is always a change, as with Ansible.
    let now = env
        .run("file", json!({"path": path, "modification_time": "now"}))
        .await;
    assert!(now.changed);
    let bad = env
        .run("file", json!({"path": path, "modification_time": "bad"}))
        .await;
    assert!(bad.failed);
    assert_eq!(
        bad.msg.as_deref(),
        Some(
            "Error while obtaining timestamp for time bad using format %Y%m%d%H%M.%S: \
             time data 'bad' does not match format '%Y%m%d%H%M.%S'"
        )
    );
}

// ansible-playbook: `mode: preserve` gives the destination the source's mode: a control-node
// `files/f` of mode 0751 -> 0751; `remote_src` from a host file of 0604 -> 0604; a template of
// 0705 -> 0705; inline `content:` -> 0600 (the private temporary file Ansible writes first).
#[tokio::test]
async fn copy_and_template_preserve_the_sources_mode() {
    let env = Env::new();
    let local = env.control.root.join("f");
    std::fs::write(&local, "hi\n").unwrap();
    std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o751)).unwrap();
    let dest = env.p("f");
    let r = env
        .converges(
            "copy",
            json!({"src": "f", "dest": dest, "mode": "preserve"}),
            &dest,
        )
        .await;
    assert_eq!((mode_of(&dest), &r.data["mode"]), (0o751, &json!("0751")));

    let remote = env.p("remote");
    std::fs::write(&remote, "r\n").unwrap();
    std::fs::set_permissions(&remote, std::fs::Permissions::from_mode(0o604)).unwrap();
    let r2 = env.p("r2");
    env.converges(
        "copy",
        json!({"src": remote, "remote_src": true, "dest": r2, "mode": "preserve"}),
        &r2,
    )
    .await;
    assert_eq!(mode_of(&r2), 0o604);

    let template = env.control.root.join("t.j2");
    std::fs::write(&template, "{{ name }}\n").unwrap();
    std::fs::set_permissions(&template, std::fs::Permissions::from_mode(0o705)).unwrap();
    let t = env.p("t");
    env.converges(
        "template",
        json!({"src": "t.j2", "dest": t, "mode": "preserve"}),
        &t,
    )
    .await;
    assert_eq!(mode_of(&t), 0o705);

    let c = env.p("c");
    env.converges(
        "copy",
        json!({"content": "x", "dest": c, "mode": "preserve"}),
        &c,
    )
    .await;
    assert_eq!(mode_of(&c), 0o600);
    // Other modules have no `preserve`.
    assert!(etcdplay_modules::check_arg_value("file", "mode", &json!("preserve")).is_some());
    assert!(etcdplay_modules::check_arg_value("copy", "mode", &json!("preserve")).is_none());
}

// ansible-playbook: `command: ls /dev/null` with `executable: /bogus` runs ls (stdout
// "/dev/null") and returns one warning "As of Ansible 2.4, the parameter 'executable' is no
// longer supported with the 'command' module. Not using '/bogus'."; `command:` with only
// `chdir` fails with "one of the following is required: _raw_params, cmd, argv"; a command
// line and `argv` together fail with "parameters are mutually exclusive: _raw_params|cmd|argv".
#[tokio::test]
async fn command_ignores_executable_with_ansibles_warning() {
    let env = Env::new();
    let r = env
        .run(
            "command",
            json!({"_raw_params": "ls /dev/null", "executable": "/bogus"}),
        )
        .await;
    assert!(!r.failed, "{r:?}");
    assert_eq!(r.data["stdout"], json!("/dev/null"));
    assert_eq!(
        r.data["warnings"],
        json!([
            "As of Ansible 2.4, the parameter 'executable' is no longer supported with \
                the 'command' module. Not using '/bogus'."
        ])
    );
    let none = env.run("command", json!({"chdir": "/"})).await;
    assert!(none.failed);
    assert_eq!(
        none.msg.as_deref(),
        Some("one of the following is required: _raw_params, cmd, argv")
    );
    let both = env
        .run(
            "command",
            json!({"_raw_params": "echo testing", "argv": ["echo", "testing"]}),
        )
        .await;
    assert!(both.failed);
    assert_eq!(
        both.msg.as_deref(),
        Some("parameters are mutually exclusive: _raw_params|cmd|argv")
    );
}

// ansible-playbook: `command: echo` and `shell: echo` with `chdir: /tmp/nope-nope` (missing)
// fail with {"changed": false, "cmd": ["echo"] (shell: "echo"), "delta": null, "end": null,
// "msg": "Unable to change directory before execution.", "rc": null, "start": null,
// "stderr": "", "stdout": "", ...}: the command never runs.
#[tokio::test]
async fn command_in_a_missing_chdir_fails_without_running() {
    let env = Env::new();
    let missing = env.p("nope");
    for (module, cmd) in [("command", json!(["echo"])), ("shell", json!("echo"))] {
        let r = env
            .run(module, json!({"_raw_params": "echo", "chdir": missing}))
            .await;
        assert!(r.failed && !r.changed, "{r:?}");
        assert_eq!(
            r.msg.as_deref(),
            Some("Unable to change directory before execution.")
        );
        assert_eq!(r.data["cmd"], cmd);
        for null in ["rc", "start", "end", "delta"] {
            assert_eq!(r.data[null], json!(null), "{null}");
        }
        assert_eq!(r.data["stdout"], json!(""));
        assert_eq!(r.data["stderr"], json!(""));
    }
}

// ansible-playbook (command_shell target): `shell: dirname "$PWD"` with `chdir: www/site`,
// where `www` links to `www_root`, prints `.../www_root`: the module enters the directory
// physically.
#[tokio::test]
async fn chdir_through_a_link_is_physical() {
    let env = Env::new();
    let site = env.p("www_root/site");
    std::fs::create_dir_all(&site).unwrap();
    std::os::unix::fs::symlink(env.p("www_root"), env.p("www")).unwrap();
    let r = env
        .run(
            "shell",
            json!({"_raw_params": "dirname \"$PWD\"", "chdir": env.p("www/site")}),
        )
        .await;
    assert!(!r.failed, "{r:?}");
    let parent = std::fs::canonicalize(env.p("www_root")).unwrap();
    assert_eq!(r.data["stdout"], json!(parent.to_string_lossy()));
}

// ansible-playbook: `command: commandthatdoesnotexist --would-be-awkward` fails with
// {"changed": false, "cmd": "commandthatdoesnotexist --would-be-awkward", "msg": "Error
// executing command.", "rc": 2, "stderr": "", "stdout": ""}; `/nonexist/x a` likewise (rc 2);
// `/etc/passwd a` (not executable) and `/tmp a` (a directory) with rc 13.
#[tokio::test]
async fn a_program_that_cannot_run_fails_as_pythons_exec() {
    let env = Env::new();
    for (line, rc) in [
        ("commandthatdoesnotexist --would-be-awkward", 2),
        ("/nonexist/x a", 2),
        ("/etc/passwd a", 13),
        ("/tmp a", 13),
    ] {
        let r = env.run("command", json!({"_raw_params": line})).await;
        assert!(r.failed && !r.changed, "{r:?}");
        assert_eq!(r.msg.as_deref(), Some("Error executing command."));
        assert_eq!(r.data["cmd"], json!(line));
        assert_eq!(r.data["rc"], json!(rc), "{line}");
        assert_eq!(r.data["stdout"], json!(""));
        assert_eq!(r.data["stderr"], json!(""));
    }
}

// ansible-playbook: `copy: content="bad\n" validate="grep -q ok %s"` fails with
// {"msg": "failed to validate", "exit_status": 1, "stdout": "", "stderr": ""} and leaves
// dest as it was; `lineinfile: line=bad validate="sh -c 'echo oops >&2; exit 3' %s"` fails
// with "failed to validate: rc:3 error:oops\n"; `blockinfile: validate=true` fails with
// "validate must contain %s: true"; a validate that passes writes the file (changed).
#[tokio::test]
async fn validate_runs_before_the_file_is_replaced() {
    let env = Env::new();
    let v1 = env.p("v1");
    let v2 = env.p("v2");
    std::fs::write(&v1, "a\n").unwrap();
    std::fs::write(&v2, "a\n").unwrap();
    let r = env
        .run(
            "copy",
            json!({"content": "bad\n", "dest": v1, "validate": "grep -q ok %s"}),
        )
        .await;
    assert!(r.failed);
    assert_eq!(r.msg.as_deref(), Some("failed to validate"));
    assert_eq!(
        (&r.data["exit_status"], &r.data["stdout"], &r.data["stderr"]),
        (&json!(1), &json!(""), &json!(""))
    );
    assert_eq!(std::fs::read_to_string(&v1).unwrap(), "a\n");
    let r = env
        .run(
            "lineinfile",
            json!({"path": v2, "line": "bad",
                   "validate": "sh -c 'echo oops >&2; exit 3' %s"}),
        )
        .await;
    assert_eq!(
        r.msg.as_deref(),
        Some("failed to validate: rc:3 error:oops\n")
    );
    let r = env
        .run(
            "blockinfile",
            json!({"path": v2, "block": "bad", "validate": "true"}),
        )
        .await;
    assert_eq!(r.msg.as_deref(), Some("validate must contain %s: true"));
    assert_eq!(std::fs::read_to_string(&v2).unwrap(), "a\n");
    let r = env
        .run(
            "lineinfile",
            json!({"path": v2, "line": "good", "validate": "grep -q good %s"}),
        )
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    let r = env
        .run(
            "copy",
            json!({"content": "ok\n", "dest": v1, "validate": "grep -q ok %s"}),
        )
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(std::fs::read_to_string(&v1).unwrap(), "ok\n");
    assert_eq!(std::fs::read_to_string(&v2).unwrap(), "a\ngood\n");
}

// ansible-playbook 2.19.14 (ping target): `ping: data=crash` fails with
// {"changed": false, "msg": "Task failed: Module failed: boom"}; `data: testing` answers
// `ping: testing`.
#[tokio::test]
async fn ping_crash_fails_as_ansible_reports_a_module_exception() {
    let env = Env::new();
    let r = env.run("ping", json!({"data": "crash"})).await;
    assert!(r.failed && !r.changed);
    assert_eq!(r.msg.as_deref(), Some("Task failed: Module failed: boom"));
    let r = env.run("ping", json!({"data": "testing"})).await;
    assert_eq!(r.data["ping"], json!("testing"));
}

// ansible-playbook on a systemd host: `service: name=ansible_test pattern=ansible_test_ser
// state=started` runs the systemd module with `pattern` dropped (warning 'Ignoring "pattern"
// as it is not used in "systemd"'); `daemon_reload: yes` reaches the systemd module.
#[test]
fn service_accepts_what_ansibles_service_action_passes_to_systemd() {
    let args = json!({"name": "ansible_test", "pattern": "ansible_test_ser",
                      "state": "started", "daemon_reload": true, "runlevel": "3",
                      "args": "-x"});
    let errors = etcdplay_modules::validate_args("service", args.as_object().unwrap());
    assert!(errors.is_empty(), "{errors:?}");
}

// ansible-playbook on a tar.gz holding inc/a.txt and exc/b.txt: `unarchive: list_files=yes
// exclude=["exc/*"] mode="u=rwX,go="` is changed, lists files ["inc/", "inc/a.txt"], leaves
// no exc/b.txt, gives inc/ 0700 and inc/a.txt 0600; the same task again is ok;
// `include: ["inc/a.txt"]` extracts only that file.
#[tokio::test]
async fn unarchive_selects_lists_and_sets_modes() {
    let env = Env::new();
    let tree = env.dir.path().join("tree");
    std::fs::create_dir_all(tree.join("inc")).unwrap();
    std::fs::create_dir_all(tree.join("exc")).unwrap();
    std::fs::write(tree.join("inc/a.txt"), "1\n").unwrap();
    std::fs::write(tree.join("exc/b.txt"), "2\n").unwrap();
    let tgz = env.control.root.join("t.tar.gz");
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(&tree)
        .args(["inc", "exc"])
        .status()
        .unwrap();
    assert!(st.success());
    let dest = env.p("ud");
    std::fs::create_dir_all(&dest).unwrap();
    let args = json!({"src": "t.tar.gz", "dest": dest, "list_files": true,
                      "exclude": ["exc/*"], "mode": "u=rwX,go="});
    let first = env.run("unarchive", args.clone()).await;
    assert!(first.changed && !first.failed, "{first:?}");
    assert_eq!(first.data["files"], json!(["inc/", "inc/a.txt"]));
    assert!(!std::path::Path::new(&format!("{dest}/exc/b.txt")).exists());
    assert_eq!(mode_of(&format!("{dest}/inc")), 0o700);
    assert_eq!(mode_of(&format!("{dest}/inc/a.txt")), 0o600);
    let second = env.run("unarchive", args).await;
    assert!(!second.changed && !second.failed, "{second:?}");
    // A mode changed on the host is a difference.
    std::fs::set_permissions(
        format!("{dest}/inc/a.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let third = env
        .run(
            "unarchive",
            json!({"src": "t.tar.gz", "dest": dest, "exclude": ["exc/*"], "mode": "u=rwX,go="}),
        )
        .await;
    assert!(third.changed);
    assert_eq!(mode_of(&format!("{dest}/inc/a.txt")), 0o600);

    let only = env.p("ud2");
    std::fs::create_dir_all(&only).unwrap();
    let r = env
        .run(
            "unarchive",
            json!({"src": "t.tar.gz", "dest": only, "include": ["inc/a.txt"]}),
        )
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert!(std::path::Path::new(&format!("{only}/inc/a.txt")).exists());
    assert!(!std::path::Path::new(&format!("{only}/exc")).exists());
}

// ansible-playbook, files/subdir holding bar.txt, empty/, sub1/rel -> ../bar.txt and
// sub1/dangling -> nowhere: `copy: src=subdir dest=out2 directory_mode=0700 local_follow=no`
// is changed and makes out2/subdir, subdir/sub1 and subdir/empty 0700 directories, bar.txt
// 0644, both links as links; the same task again is not changed. `copy: src=subdir/
// dest=out3/` (out3 missing) is changed, creates out3 (0755) holding the contents, follows
// sub1/rel to a regular file and keeps the dangling link.
#[tokio::test]
async fn copy_copies_directories_as_ansible() {
    let env = Env::new();
    let sub = env.control.root.join("subdir");
    std::fs::create_dir_all(sub.join("sub1")).unwrap();
    std::fs::create_dir_all(sub.join("empty")).unwrap();
    std::fs::write(sub.join("bar.txt"), "bar\n").unwrap();
    std::os::unix::fs::symlink("../bar.txt", sub.join("sub1/rel")).unwrap();
    std::os::unix::fs::symlink("nowhere", sub.join("sub1/dangling")).unwrap();
    let out2 = env.p("out2");
    std::fs::create_dir_all(&out2).unwrap();
    let args = json!({"src": "subdir", "dest": out2, "directory_mode": "0700",
                      "local_follow": false});
    let check = env
        .run_opts("copy", args.clone(), true, false)
        .await
        .unwrap();
    assert!(check.changed && !std::path::Path::new(&format!("{out2}/subdir")).exists());
    let first = env.run("copy", args.clone()).await;
    assert!(first.changed && !first.failed, "{first:?}");
    for dir in ["subdir", "subdir/sub1", "subdir/empty"] {
        assert_eq!(mode_of(&format!("{out2}/{dir}")), 0o700, "{dir}");
    }
    assert_eq!(
        std::fs::read_to_string(format!("{out2}/subdir/bar.txt")).unwrap(),
        "bar\n"
    );
    assert_eq!(
        std::fs::read_link(format!("{out2}/subdir/sub1/rel")).unwrap(),
        std::path::PathBuf::from("../bar.txt")
    );
    assert_eq!(
        std::fs::read_link(format!("{out2}/subdir/sub1/dangling")).unwrap(),
        std::path::PathBuf::from("nowhere")
    );
    let second = env.run("copy", args).await;
    assert!(!second.changed && !second.failed, "{second:?}");

    let out3 = env.p("out3");
    let r = env
        .run(
            "copy",
            json!({"src": "subdir/", "dest": format!("{out3}/")}),
        )
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    let rel = std::fs::symlink_metadata(format!("{out3}/sub1/rel")).unwrap();
    assert!(rel.is_file());
    assert!(std::fs::symlink_metadata(format!("{out3}/sub1/dangling"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::path::Path::new(&format!("{out3}/empty")).is_dir());
}

// ansible-playbook (command_shell target): `shell: echo 'hi'` with `expand_argument_vars:
// false` fails with "Unsupported parameters for (shell) module: expand_argument_vars".
#[tokio::test]
async fn shell_refuses_expand_argument_vars_when_it_runs() {
    let env = Env::new();
    let r = env
        .run(
            "shell",
            json!({"_raw_params": "echo 'hi'", "expand_argument_vars": false}),
        )
        .await;
    assert!(r.failed);
    assert_eq!(
        r.msg.as_deref(),
        Some("Unsupported parameters for (shell) module: expand_argument_vars")
    );
}

// ansible-playbook on ext4: `file: attributes=+A` is changed, again changed (its flags "Ae"
// are not the string "A"), `attributes=-A` changed; lsattr then shows no A. Where chattr
// cannot set A (tmpfs), the task fails with "chattr failed".
#[tokio::test]
async fn file_sets_attributes_with_chattr() {
    let env = Env::new();
    let path = env.p("at1");
    std::fs::write(&path, "").unwrap();
    let supported = std::process::Command::new("chattr")
        .args(["+A", &path])
        .status()
        .is_ok_and(|s| s.success());
    let r = env
        .run("file", json!({"path": path, "attributes": "+A"}))
        .await;
    if !supported {
        assert_eq!(r.msg.as_deref(), Some("chattr failed"));
        return;
    }
    assert!(r.changed && !r.failed, "{r:?}");
    let again = env
        .run("file", json!({"path": path, "attributes": "+A"}))
        .await;
    assert!(again.changed);
    let removed = env
        .run("file", json!({"path": path, "attributes": "-A"}))
        .await;
    assert!(removed.changed && !removed.failed, "{removed:?}");
    let flags = std::process::Command::new("lsattr")
        .args(["-d", &path])
        .output()
        .unwrap();
    let flags = String::from_utf8_lossy(&flags.stdout);
    assert!(
        !flags.split_whitespace().next().unwrap().contains('A'),
        "{flags}"
    );
}

/// A one-thread HTTP server on 127.0.0.1: `/file` answers "payload" only to a request with
/// `X-Token: t1` and basic credentials u:p (else 401), `/SUMS` a GNU digest file for it.
fn guarded_server(requests: usize) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        for _ in 0..requests {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                head.push(line.trim().to_ascii_lowercase());
            }
            let path = head
                .first()
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or("")
                .to_string();
            let authorized = head.iter().any(|l| l == "x-token: t1")
                && head.iter().any(|l| l == "authorization: basic dtpw");
            let sha = "239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5";
            let (status, body) = match path.as_str() {
                "/file" if authorized => ("200 OK", "payload".to_string()),
                "/sums" => ("200 OK", format!("{sha}  file\n0000  other\n")),
                _ => ("401 Unauthorized", String::new()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}"), handle)
}

// ansible-playbook: get_url with `headers: {X-Token: t1}`, `url_username: u`,
// `url_password: p`, `force_basic_auth: yes` downloads what the server only gives with them;
// `checksum: sha256:<url of a SHA256SUMS file>` takes the digest of the URL's file name from
// it; a digest file without the name fails with "Unable to find a checksum for file 'file'
// in '<url>'".
#[tokio::test]
async fn get_url_sends_headers_and_credentials_and_reads_digest_files() {
    if !std::process::Command::new("sh")
        .args(["-c", "command -v curl"])
        .status()
        .is_ok_and(|s| s.success())
    {
        return; // headers and credentials need curl on the host
    }
    let env = Env::new();
    let (base, server) = guarded_server(3);
    let dest = env.p("file");
    let args = json!({"url": format!("{base}/file"), "dest": dest,
                      "headers": {"X-Token": "t1"}, "url_username": "u",
                      "url_password": "p", "force_basic_auth": true,
                      "checksum": format!("sha256:{base}/SUMS")});
    let r = env.run("get_url", args).await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "payload");
    let missing = env
        .run(
            "get_url",
            json!({"url": format!("{base}/absent"), "dest": env.p("absent"),
                   "checksum": format!("sha256:{base}/SUMS")}),
        )
        .await;
    assert_eq!(
        missing.msg,
        Some(format!(
            "Unable to find a checksum for file 'absent' in '{base}/SUMS'"
        ))
    );
    server.join().unwrap();
}

// ansible-playbook (local, as root): `file: path=~ state=directory` is ok with "path":
// "/root" (the module expands `~` with os.path.expanduser on the host); `~root/.` too, and
// each of find's `paths`.
#[tokio::test]
async fn path_arguments_expand_the_home_directory_on_the_host() {
    let env = Env::new();
    let home = std::env::var("HOME").unwrap();
    let r = env
        .run("file", json!({"path": "~", "state": "directory"}))
        .await;
    assert!(!r.changed && !r.failed, "{r:?}");
    assert_eq!(r.data["path"], json!(home.trim_end_matches('/')));
    let user = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let user = user.trim();
    let r = env.run("stat", json!({"path": format!("~{user}/.")})).await;
    assert!(r.data["stat"]["exists"].as_bool().unwrap_or(false), "{r:?}");
    // find's `paths` is a list of paths (ansible-core's find target: `paths: ~/` as the
    // become user found the file in its home, matched 1): each element is expanded.
    let r = env
        .run(
            "find",
            json!({"paths": ["~/", env.p("")], "patterns": "no-such-name-*"}),
        )
        .await;
    assert_eq!(r.msg.as_deref(), Some("All paths examined"), "{r:?}");
    assert_eq!(r.data["skipped_paths"], json!({}));
}

// ansible-playbook: `file: path=x _diff_peek=yes` is ok with `appears_binary` (true when the
// first 8 KiB hold a NUL byte) and no warnings; `copy: content=.. dest=.. _diff_peek=true`
// fails with 'Invalid parameter specified: "_diff_peek"'.
#[tokio::test]
async fn diff_peek_is_answered_by_file_and_refused_by_copy() {
    let env = Env::new();
    let text = env.p("text");
    let binary = env.p("binary");
    std::fs::write(&text, "plain\n").unwrap();
    std::fs::write(&binary, b"a\0b").unwrap();
    let r = env
        .run("file", json!({"path": text, "_diff_peek": true}))
        .await;
    assert!(
        !r.changed && !r.failed && r.data.get("warnings").is_none(),
        "{r:?}"
    );
    assert_eq!(r.data["appears_binary"], json!(false));
    let r = env
        .run("file", json!({"path": binary, "_diff_peek": true}))
        .await;
    assert_eq!(r.data["appears_binary"], json!(true));
    let r = env
        .run(
            "copy",
            json!({"content": "irrelevant", "dest": env.p("f"), "_diff_peek": true}),
        )
        .await;
    assert!(r.failed);
    assert_eq!(
        r.msg.as_deref(),
        Some("Invalid parameter specified: \"_diff_peek\"")
    );
}

// ansible-playbook on a host without SELinux: `file: path=x state=touch setype=etc_t
// seuser=system_u unsafe_writes=yes` and `copy: ... setype=etc_t` run as without them.
#[tokio::test]
async fn selinux_arguments_are_ignored_without_selinux() {
    let enabled = std::process::Command::new("sh")
        .args(["-c", "command -v selinuxenabled && selinuxenabled"])
        .status()
        .is_ok_and(|s| s.success());
    if enabled {
        return; // this host would apply them
    }
    let env = Env::new();
    let path = env.p("ctx");
    let r = env
        .run(
            "copy",
            json!({"content": "x\n", "dest": path, "setype": "etc_t",
                   "seuser": "system_u", "unsafe_writes": true}),
        )
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    let again = env
        .run(
            "file",
            json!({"path": path, "setype": "etc_t", "selevel": "s0"}),
        )
        .await;
    assert!(!again.changed && !again.failed, "{again:?}");
}

// ansible-playbook (tempfile target): `tempfile: prefix=../../nested` fails with "prefix
// must be a valid file name component, got '../../nested'", `suffix: ../world` likewise.
#[tokio::test]
async fn tempfile_refuses_paths_in_prefix_and_suffix() {
    let env = Env::new();
    let dir = env.p("");
    let r = env
        .run("tempfile", json!({"path": dir, "prefix": "../../nested"}))
        .await;
    assert_eq!(
        r.msg.as_deref(),
        Some("prefix must be a valid file name component, got '../../nested'")
    );
    let r = env
        .run(
            "tempfile",
            json!({"path": dir, "state": "directory", "suffix": "../world"}),
        )
        .await;
    assert_eq!(
        r.msg.as_deref(),
        Some("suffix must be a valid file name component, got '../world'")
    );
}

// ansible-playbook (unarchive target, test_tar_gz_keep_newer): a file in dest newer than the
// archive's member keeps its content with `keep_newer: true` and is replaced without it.
#[tokio::test]
async fn unarchive_keep_newer_leaves_newer_files() {
    let env = Env::new();
    let tree = env.dir.path().join("kn");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("foo.txt"), "archived\n").unwrap();
    std::fs::write(tree.join("bar.txt"), "bar\n").unwrap();
    let old = std::process::Command::new("touch")
        .args(["-d", "2020-01-01"])
        .arg(tree.join("foo.txt"))
        .status()
        .unwrap();
    assert!(old.success());
    let tgz = env.control.root.join("kn.tar.gz");
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(&tree)
        .args(["foo.txt", "bar.txt"])
        .status()
        .unwrap();
    assert!(st.success());
    let dest = env.p("kn");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(format!("{dest}/foo.txt"), "boo").unwrap();
    let r = env
        .run(
            "unarchive",
            json!({"src": "kn.tar.gz", "dest": dest, "keep_newer": true}),
        )
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(
        std::fs::read_to_string(format!("{dest}/foo.txt")).unwrap(),
        "boo"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{dest}/bar.txt")).unwrap(),
        "bar\n"
    );
    let r = env
        .run("unarchive", json!({"src": "kn.tar.gz", "dest": dest}))
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(
        std::fs::read_to_string(format!("{dest}/foo.txt")).unwrap(),
        "archived\n"
    );
}

// Ansible's uri module names its credentials url_username/url_password with the aliases
// user/password (the uri target uses them).
#[test]
fn uri_takes_user_and_password_aliases() {
    let args = json!({"url": "http://127.0.0.1/", "user": "u", "password": "p",
                      "force_basic_auth": true});
    let errors = etcdplay_modules::validate_args("uri", args.as_object().unwrap());
    assert!(errors.is_empty(), "{errors:?}");
}

// ansible-playbook 2.19.14 (local): `file: path="{{ {'a': 1, 'b': true, 'c': 1.5, 'd': none,
// 'e': [1, 'x'], 'f': "it's"} }}" state=absent` is ok, not changed, with "path": "{'a': 1,
// 'b': True, 'c': 1.5, 'd': None, 'e': [1, 'x'], 'f': \"it's\"}" (a `path` argument is
// Python's str() of what it is given; the user target removes `find` results so).
#[tokio::test]
async fn a_mapping_given_as_a_path_is_its_python_text() {
    let env = Env::new();
    let r = env
        .run(
            "file",
            json!({"path": {"a": 1, "b": true, "c": 1.5, "d": null, "e": [1, "x"], "f": "it's"},
                   "state": "absent"}),
        )
        .await;
    assert!(!r.changed && !r.failed, "{r:?}");
    assert_eq!(
        r.data["path"],
        "{'a': 1, 'b': True, 'c': 1.5, 'd': None, 'e': [1, 'x'], 'f': \"it's\"}"
    );
}
