//! The file modules converge on a real local host (a temporary directory): first run changes,
//! second run is ok in one exec, check mode changes nothing, diff is produced.

mod common;

use common::{snapshot, Env};
use etcdplay_modules::ModuleError;
use serde_json::json;
use sha1::{Digest, Sha1};
use std::os::unix::fs::PermissionsExt;

fn mode_of(p: &str) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn sha1_hex(b: &[u8]) -> String {
    Sha1::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn copy_content_converges_with_mode_and_checksum() {
    let env = Env::new();
    let dest = env.p("etcd.conf");
    let first = env
        .converges(
            "copy",
            json!({"content": "name: a\n", "dest": dest, "mode": "0600"}),
            &dest,
        )
        .await;
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "name: a\n");
    assert_eq!(mode_of(&dest), 0o600);
    assert_eq!(first.data["checksum"], sha1_hex(b"name: a\n"));
    assert_eq!(first.data["mode"], "0600");
    // ansible-core 2.19's copy target, "Assert basic copy worked": a copy that wrote the file
    // names its owner too ('uid', 'gid', 'owner', 'group' in the result).
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&dest).unwrap();
    assert_eq!(first.data["uid"], meta.uid());
    assert_eq!(first.data["gid"], meta.gid());
    assert!(first.data["owner"].is_string() && first.data["group"].is_string());
    // "Verify that the legacy md5sum is correct": md5 of the content written.
    assert_eq!(first.data["md5sum"], "f73e7009f34cf5f92eae2a958c0f3267");
    let diff = first.diff.unwrap().unified();
    assert!(diff.contains("+name: a"), "{diff}");
    // A new content replaces the file, keeps the mode, and leaves a backup when asked.
    let r = env
        .run(
            "copy",
            json!({"content": "name: b\n", "dest": dest, "backup": true}),
        )
        .await;
    assert!(r.changed);
    let backup = r.data["backup_file"].as_str().unwrap().to_string();
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), "name: a\n");
    assert_eq!(mode_of(&dest), 0o600);
    // Only the mode differs: changed, without an upload.
    env.host.reset();
    let r = env
        .run(
            "copy",
            json!({"content": "name: b\n", "dest": dest, "mode": "u=rw,g=r"}),
        )
        .await;
    assert!(r.changed);
    assert_eq!(mode_of(&dest), 0o640);
    assert_eq!(env.host.reset(), (2, 0));
}

#[tokio::test]
async fn copy_src_into_directory_destination() {
    let env = Env::new();
    std::fs::write(env.control.root.join("ca.pem"), "CERT\n").unwrap();
    let dir = env.p("pki");
    std::fs::create_dir(&dir).unwrap();
    let r = env
        .converges("copy", json!({"src": "ca.pem", "dest": dir}), &dir)
        .await;
    assert_eq!(r.data["dest"], format!("{dir}/ca.pem"));
    assert_eq!(
        std::fs::read_to_string(format!("{dir}/ca.pem")).unwrap(),
        "CERT\n"
    );
    // A destination ending in '/' also means "into this directory".
    let r = env
        .run("copy", json!({"src": "ca.pem", "dest": format!("{dir}/")}))
        .await;
    assert!(!r.changed);
    // A missing directory written as `dir/` is created.
    let r = env
        .run("copy", json!({"src": "ca.pem", "dest": env.p("new/sub/")}))
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(
        std::fs::read_to_string(env.p("new/sub/ca.pem")).unwrap(),
        "CERT\n"
    );
    // Missing parent directory is a failure with Ansible's message.
    let r = env
        .run("copy", json!({"content": "x", "dest": env.p("nope/x")}))
        .await;
    assert!(r.failed && r.msg.unwrap().contains("does not exist"));
    // A missing local source is a typed control-node error.
    let e = env
        .run_opts(
            "copy",
            json!({"src": "missing.pem", "dest": dir}),
            false,
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ModuleError::Control { .. }), "{e}");
}

#[tokio::test]
async fn copy_remote_src() {
    let env = Env::new();
    let src = env.p("orig");
    std::fs::write(&src, "data").unwrap();
    let dest = env.p("copy");
    env.converges(
        "copy",
        json!({"src": src, "remote_src": true, "dest": dest, "mode": "0640"}),
        &dest,
    )
    .await;
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "data");
    assert_eq!(mode_of(&dest), 0o640);
}

#[tokio::test]
async fn template_uses_the_engine_renderer() {
    let env = Env::new();
    std::fs::write(
        env.control.root.join("etcd.env.j2"),
        "ETCD_NAME={{ name }}\n",
    )
    .unwrap();
    let dest = env.p("etcd.env");
    let r = env
        .converges(
            "ansible.builtin.template",
            json!({"src": "etcd.env.j2", "dest": dest, "mode": 0o644}),
            &dest,
        )
        .await;
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "ETCD_NAME=node-1\n"
    );
    assert_eq!(r.diff.unwrap().after_header.as_deref(), Some("etcd.env.j2"));
}

#[tokio::test]
async fn file_directory_with_symbolic_mode() {
    let env = Env::new();
    let dir = env.p("data/etcd");
    let r = env
        .converges(
            "file",
            json!({"path": dir, "state": "directory", "mode": "u=rwx,go="}),
            &dir,
        )
        .await;
    assert_eq!(mode_of(&dir), 0o700);
    let d = r.diff.unwrap();
    assert_eq!(d.before["state"], "absent");
    assert_eq!(d.after["state"], "directory");
    // A symbolic change relative to the current mode.
    let r = env.run("file", json!({"path": dir, "mode": "g+rx"})).await;
    assert!(r.changed);
    assert_eq!(mode_of(&dir), 0o750);
    assert_eq!(r.data["mode"], "0750");
    // As Ansible: a mode-only change shows path and mode, no state.
    let d = env
        .run_opts("file", json!({"path": dir, "mode": "g-x"}), false, true)
        .await
        .unwrap()
        .diff
        .unwrap();
    assert_eq!(d.before, json!({"path": dir, "mode": "0750"}));
    assert_eq!(d.after, json!({"path": dir, "mode": "0740"}));
    assert!(
        r.data["uid"].is_u64() && r.data["size"].is_u64() && r.data["owner"].is_string(),
        "{:?}",
        r.data
    );
}

/// A directory the host agent makes (`mkdir:` prefill) ends as the script's `mkdir -p` and
/// `chmod` leave it, with the same result; the agent acts only for a plain mkdir and chmod.
#[tokio::test]
async fn file_directory_made_by_the_agent_as_by_the_script() {
    let (shell, agent) = (Env::new(), Env::with_agent());
    let mut results = Vec::new();
    for env in [&shell, &agent] {
        let args =
            |rel: &str, mode: &str| json!({"path": env.p(rel), "state": "directory", "mode": mode});
        let mut seen = Vec::new();
        for (rel, mode) in [
            ("a/b/c", "0750"),
            ("a/b/c", "0750"),
            ("d", "u=rwx,go="),
            ("e", "0755"),
        ] {
            let r = env.run("file", args(rel, mode)).await;
            assert!(!r.failed, "{r:?}");
            let mode_now = format!("{:o}", mode_of(&env.p(rel)));
            seen.push((
                rel,
                r.changed,
                r.data["mode"].clone(),
                r.data["state"].clone(),
                mode_now,
            ));
            seen.push((
                "a/b",
                false,
                json!(null),
                json!(null),
                format!("{:o}", mode_of(&env.p("a/b"))),
            ));
        }
        results.push(seen);
    }
    assert_eq!(results[0], results[1]);
    // Three directories were made (a/b/c, d, e); the second a/b/c changed nothing.
    assert_eq!(
        agent.host.acted.load(std::sync::atomic::Ordering::SeqCst),
        3
    );
    assert_eq!(
        shell.host.acted.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[tokio::test]
async fn file_recurse_touch_link_hard_absent() {
    let env = Env::new();
    let dir = env.p("tree");
    std::fs::create_dir_all(format!("{dir}/sub")).unwrap();
    std::fs::write(format!("{dir}/sub/f"), "x").unwrap();
    std::fs::set_permissions(
        format!("{dir}/sub/f"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    env.converges(
        "file",
        json!({"path": dir, "state": "directory", "recurse": true, "mode": "go-rwx"}),
        &dir,
    )
    .await;
    assert_eq!(mode_of(&format!("{dir}/sub/f")), 0o600);
    assert_eq!(mode_of(&format!("{dir}/sub")), 0o700);

    let link = env.p("current");
    env.converges(
        "file",
        json!({"path": link, "state": "link", "src": dir}),
        &link,
    )
    .await;
    assert_eq!(std::fs::read_link(&link).unwrap().to_string_lossy(), dir);

    let hard = env.p("hard");
    env.converges(
        "file",
        json!({"path": hard, "state": "hard", "src": format!("{dir}/sub/f")}),
        &hard,
    )
    .await;
    assert_eq!(std::fs::read_to_string(&hard).unwrap(), "x");

    let t = env.p("touched");
    let r = env.run("file", json!({"path": t, "state": "touch"})).await;
    assert!(r.changed && std::path::Path::new(&t).exists());
    // As Ansible: a touched path is reported under `dest`, in the state it ends in.
    assert_eq!(r.data.get("dest"), Some(&json!(t)));
    assert_eq!(r.data.get("state"), Some(&json!("file")));

    env.converges("file", json!({"path": dir, "state": "absent"}), &dir)
        .await;
    assert_eq!(snapshot(&dir), "absent");

    let r = env
        .run("file", json!({"path": env.p("missing"), "state": "file"}))
        .await;
    assert!(r.failed && r.msg.unwrap().contains("is absent, cannot continue"));
}

#[tokio::test]
async fn argument_errors_are_typed() {
    let env = Env::new();
    let e = env
        .run_opts("file", json!({"path": "/x", "mode": "u+q"}), false, false)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ModuleError::BadArgument { arg, .. } if arg == "mode"),
        "{e}"
    );
    assert!(e.to_string().contains("'q'"));
    // ansible-core 2.19's copy target, "Try without destination to ensure it fails": the
    // copy action's own message, a task failure.
    let r = env.run("copy", json!({"content": "x"})).await;
    assert!(r.failed);
    assert_eq!(r.msg.as_deref(), Some("dest is required"));
    let e = env
        .run_opts(
            "copy",
            json!({"content": "x", "destt": "/x", "dest": "/y"}),
            false,
            false,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("did you mean 'dest'"), "{e}");
    // ansible-core 2.19's copy target, "Try empty source to ensure it fails": `src: ''` fails
    // with the copy action's "src (or content) is required" (never the whole files/ dir).
    let r = env
        .run("copy", json!({"src": "", "dest": env.p("x")}))
        .await;
    assert!(r.failed);
    assert_eq!(r.msg.as_deref(), Some("src (or content) is required"));
    let r = env
        .run("copy", json!({"content": "x", "dest": env.p("d/")}))
        .await;
    assert_eq!(
        r.msg.as_deref(),
        Some("can not use content with a dir as dest")
    );
    let e = env
        .run_opts("tempalte", json!({}), false, false)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("did you mean 'template'"), "{e}");
    assert_eq!(
        env.host.reset(),
        (0, 0),
        "argument errors must not touch the host"
    );
}

#[tokio::test]
async fn lineinfile_converges_and_creates() {
    let env = Env::new();
    let f = env.p("etcd.env");
    std::fs::write(&f, "ETCD_NAME=old\nOTHER=1\n").unwrap();
    let r = env
        .converges(
            "lineinfile",
            json!({"path": f, "regexp": "^ETCD_NAME=", "line": "ETCD_NAME=node-1"}),
            &f,
        )
        .await;
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "ETCD_NAME=node-1\nOTHER=1\n"
    );
    assert_eq!(r.msg.as_deref(), Some("line replaced"));
    assert!(r
        .diff
        .unwrap()
        .unified()
        .contains("-ETCD_NAME=old\n+ETCD_NAME=node-1"));
    let r = env
        .run(
            "lineinfile",
            json!({"path": f, "regexp": "^OTHER", "state": "absent"}),
        )
        .await;
    assert_eq!((r.changed, r.data["found"].as_u64()), (true, Some(1)));

    let missing = env.p("new/dir/file");
    let r = env
        .run("lineinfile", json!({"path": missing, "line": "a"}))
        .await;
    assert!(r.failed && r.data["rc"] == 257);
    env.converges(
        "lineinfile",
        json!({"path": missing, "line": "a", "create": true, "mode": "0600"}),
        &missing,
    )
    .await;
    assert_eq!(std::fs::read_to_string(&missing).unwrap(), "a\n");
    assert_eq!(mode_of(&missing), 0o600);
}

#[tokio::test]
async fn blockinfile_converges_and_removes() {
    let env = Env::new();
    let f = env.p("hosts");
    std::fs::write(&f, "127.0.0.1 localhost\n").unwrap();
    let args = json!({"path": f, "block": "10.0.0.1 etcd1\n10.0.0.2 etcd2"});
    let r = env.converges("blockinfile", args, &f).await;
    assert_eq!(r.msg.as_deref(), Some("Block inserted"));
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "127.0.0.1 localhost\n# BEGIN ANSIBLE MANAGED BLOCK\n10.0.0.1 etcd1\n10.0.0.2 etcd2\n# END ANSIBLE MANAGED BLOCK\n"
    );
    let r = env
        .converges("blockinfile", json!({"path": f, "state": "absent"}), &f)
        .await;
    assert_eq!(r.msg.as_deref(), Some("Block removed"));
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "127.0.0.1 localhost\n"
    );
}

#[tokio::test]
async fn stat_slurp_fetch() {
    let env = Env::new();
    let f = env.p("member.pem");
    std::fs::write(&f, "PEM").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    let r = env.run("stat", json!({"path": f})).await;
    let st = &r.data["stat"];
    assert_eq!(
        (
            st["exists"].as_bool(),
            st["isreg"].as_bool(),
            st["mode"].as_str()
        ),
        (Some(true), Some(true), Some("0640"))
    );
    assert_eq!(st["size"], 3);
    assert_eq!(st["checksum"], sha1_hex(b"PEM"));
    assert!(st["pw_name"].is_string() && st["mtime"].as_f64().unwrap() > 1.0e9);
    assert!(!r.changed);
    // Ansible asks `file` for the type (`text/plain`, `us-ascii` here) and `unknown` without
    // it, and always reports the attribute fields (empty where lsattr cannot read them).
    let have_file = std::process::Command::new("sh")
        .args(["-c", "command -v file"])
        .output()
        .is_ok_and(|o| o.status.success());
    let expected = if have_file {
        ("text/plain", "us-ascii")
    } else {
        ("unknown", "unknown")
    };
    assert_eq!(
        (st["mimetype"].as_str(), st["charset"].as_str()),
        (Some(expected.0), Some(expected.1))
    );
    assert!(st["attributes"].is_array() && st["attr_flags"].is_string());
    let r = env.run("stat", json!({"path": env.p("nothing")})).await;
    assert_eq!(r.data["stat"], json!({"exists": false}));

    let r = env.run("slurp", json!({"src": f})).await;
    assert_eq!(
        (r.data["content"].as_str(), r.data["encoding"].as_str()),
        (Some("UEVN"), Some("base64"))
    );

    // ansible-core 2.19.14's messages (its slurp target): a missing file, a directory.
    let r = env.run("slurp", json!({"src": env.p("nothing")})).await;
    assert!(r.failed);
    assert_eq!(
        r.msg.as_deref(),
        Some(&*format!("File not found: {}", env.p("nothing")))
    );
    let r = env.run("slurp", json!({"src": env.dir.path()})).await;
    assert_eq!(
        r.msg.as_deref(),
        Some(&*format!(
            "Source is a directory and must be a file: {}",
            env.dir.path().display()
        ))
    );

    let out = env.dir.path().join("fetched");
    let args = json!({"src": f, "dest": format!("{}/", out.display()), "flat": true});
    let r = env
        .run_opts("fetch", args.clone(), true, false)
        .await
        .unwrap();
    assert!(r.changed && !out.join("member.pem").exists());
    assert!(env.run("fetch", args.clone()).await.changed);
    assert_eq!(
        std::fs::read_to_string(out.join("member.pem")).unwrap(),
        "PEM"
    );
    env.host.reset();
    assert!(!env.run("fetch", args).await.changed);
    assert_eq!(env.host.reset(), (1, 0));
}

/// A big `src` that is already in place is not read at all; it is read once to be uploaded.
#[tokio::test]
async fn copy_reads_a_local_src_only_to_upload_it() {
    use std::sync::atomic::Ordering;
    let env = Env::new();
    std::fs::write(env.control.root.join("etcd"), vec![7u8; 300_000]).unwrap();
    let dest = env.p("etcd");
    env.converges(
        "copy",
        json!({"src": "etcd", "dest": dest, "mode": "0755"}),
        &dest,
    )
    .await;
    assert_eq!(std::fs::read(&dest).unwrap(), vec![7u8; 300_000]);
    let reads = env.control.reads.swap(0, Ordering::SeqCst);
    assert!(reads >= 1, "the upload read it");
    let r = env
        .run("copy", json!({"src": "etcd", "dest": dest, "mode": "0755"}))
        .await;
    assert!(!r.changed && !r.failed, "{r:?}");
    assert_eq!(r.data["size"], 300_000);
    assert_eq!(
        env.control.reads.load(Ordering::SeqCst),
        0,
        "nothing to upload, nothing read"
    );
}

/// A destination that is a symlink to a private file (a secret, mode 0600).
fn linked_secret(env: &Env) -> (String, String) {
    let secret = env.p("secret.key");
    std::fs::write(&secret, "key=1\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = env.p("link.conf");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    (secret, link)
}

#[tokio::test]
async fn lineinfile_and_blockinfile_write_through_a_link_keeping_the_targets_mode() {
    let env = Env::new();
    let (secret, link) = linked_secret(&env);
    let r = env
        .run("lineinfile", json!({"path": link, "line": "extra=2"}))
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "key=1\nextra=2\n"
    );
    assert_eq!(mode_of(&secret), 0o600);
    assert!(
        !env.run("lineinfile", json!({"path": link, "line": "extra=2"}))
            .await
            .changed
    );

    let r = env
        .run("blockinfile", json!({"path": link, "block": "b=3"}))
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(std::fs::read_to_string(&secret).unwrap().contains("b=3\n"));
    assert_eq!(mode_of(&secret), 0o600);
}

#[tokio::test]
async fn copy_replaces_a_link_unless_told_to_follow_it() {
    let env = Env::new();
    let (secret, link) = linked_secret(&env);
    // Same content as the target: Ansible still replaces the link (changed), with a file of
    // the default mode, never the link's 0777, and leaves the target alone.
    let r = env
        .run("copy", json!({"content": "key=1\n", "dest": link}))
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
    assert_eq!(mode_of(&link), 0o644);
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "key=1\n");
    assert_eq!(mode_of(&secret), 0o600);

    let link2 = env.p("link2.conf");
    std::os::unix::fs::symlink(&secret, &link2).unwrap();
    std::fs::write(env.control.root.join("t.j2"), "name={{ name }}\n").unwrap();
    let r = env
        .run(
            "template",
            json!({"src": "t.j2", "dest": link2, "follow": true}),
        )
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "name=node-1\n");
    assert!(std::fs::symlink_metadata(&link2).unwrap().is_symlink());
    assert_eq!(mode_of(&secret), 0o600);
    assert!(
        !env.run(
            "template",
            json!({"src": "t.j2", "dest": link2, "follow": true})
        )
        .await
        .changed
    );
}

#[tokio::test]
async fn replace_rewrites_every_match_once() {
    let env = Env::new();
    let conf = env.p("nginx.conf");
    std::fs::write(&conf, "listen 80;\nlisten 8080;\n").unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o640)).unwrap();
    let args =
        json!({"path": conf, "regexp": r"^listen (\d+);$", "replace": r"listen 127.0.0.1:\1;"});
    let r = env.run("replace", args.clone()).await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(r.msg.as_deref(), Some("2 replacements made"));
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "listen 127.0.0.1:80;\nlisten 127.0.0.1:8080;\n"
    );
    assert_eq!(mode_of(&conf), 0o640);
    env.host.reset();
    assert!(!env.run("replace", args).await.changed);
    assert_eq!(env.host.reset(), (1, 0), "a no-change run is one probe");
    let missing = json!({"path": env.p("nope"), "regexp": "x"});
    assert!(env.run("replace", missing).await.failed);
}

#[tokio::test]
async fn ini_file_sets_and_removes_options() {
    let env = Env::new();
    let ini = env.p("app.ini");
    std::fs::write(&ini, "[main]\nname = a\n").unwrap();
    let set = json!({"path": ini, "section": "main", "option": "port", "value": "80"});
    assert!(
        env.run("community.general.ini_file", set.clone())
            .await
            .changed
    );
    assert_eq!(
        std::fs::read_to_string(&ini).unwrap(),
        "[main]\nname = a\nport = 80\n"
    );
    assert!(!env.run("ini_file", set).await.changed);
    let fresh = env.p("new/created.ini");
    let r = env
        .run(
            "ini_file",
            json!({"path": fresh, "section": "s", "option": "k", "value": "v"}),
        )
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    // community.general 11.4.2 reads a new file as one empty line: it starts with it.
    assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "\n[s]\nk = v\n");
    let gone = json!({"path": ini, "section": "main", "state": "absent"});
    assert!(env.run("ini_file", gone.clone()).await.changed);
    assert_eq!(std::fs::read_to_string(&ini).unwrap(), "");
    assert!(!env.run("ini_file", gone).await.changed);
}
