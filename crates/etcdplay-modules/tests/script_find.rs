//! `script` and `find` on the local host, compared with what ansible-playbook 2.19 printed for
//! the same tree and script (recorded in each test's comment).

mod common;

use common::Env;
use serde_json::json;

/// The tree of the recorded Ansible run: hidden files and a hidden directory, three levels.
fn tree(env: &Env) -> String {
    let root = env.p("tree");
    for d in ["sub/.hid", "sub/deeper"] {
        std::fs::create_dir_all(format!("{root}/{d}")).unwrap();
    }
    for (f, text) in [
        ("a.log", "port=1\n"),
        (".h.log", "x\n"),
        ("sub/b.log", "the port\n"),
        ("sub/deeper/c.log", "z\n"),
        ("sub/.hid/d.log", "q\n"),
        ("c.txt", "t\n"),
    ] {
        std::fs::write(format!("{root}/{f}"), text).unwrap();
    }
    root
}

fn paths(r: &etcdplay_modules::ModuleResult) -> Vec<String> {
    r.data["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn find_matches_ansibles_walk() {
    let env = Env::new();
    let root = tree(&env);
    // Ansible: ['a.log', 'sub/b.log', 'sub/.hid/d.log', 'sub/deeper/c.log'] matched 4,
    // examined 9, "All paths examined", skipped_paths {}. (Directory order is the file
    // system's, so the subdirectories are compared as a set.)
    let r = env
        .run(
            "find",
            json!({"paths": root, "patterns": "*.log", "recurse": true}),
        )
        .await;
    assert!(!r.changed && !r.failed, "{r:?}");
    let mut got = paths(&r);
    assert_eq!(got[0], format!("{root}/a.log"));
    assert_eq!(got[1], format!("{root}/sub/b.log"));
    got.sort();
    assert_eq!(
        got,
        [
            format!("{root}/a.log"),
            format!("{root}/sub/.hid/d.log"),
            format!("{root}/sub/b.log"),
            format!("{root}/sub/deeper/c.log")
        ]
    );
    assert_eq!(r.data["matched"], 4);
    assert_eq!(r.data["examined"], 9);
    assert_eq!(r.msg.as_deref(), Some("All paths examined"));
    assert_eq!(r.data["skipped_paths"], json!({}));
    let f = &r.data["files"][0];
    assert_eq!(f["size"], 7);
    assert_eq!(f["isreg"], true);
    assert!(f["pw_name"].as_str().is_some_and(|n| !n.is_empty()));

    // Ansible: depth 2, hidden, contains "port" -> ['a.log'] matched 1, examined 9
    // ("the port" does not match: re.match per line).
    let r = env
        .run(
            "find",
            json!({"paths": root, "patterns": "*.log", "recurse": true, "depth": 2,
                   "hidden": true, "contains": "port", "get_checksum": true}),
        )
        .await;
    assert_eq!(paths(&r), [format!("{root}/a.log")]);
    assert_eq!(r.data["examined"], 9);
    // sha1 of "port=1\n" (sha1sum).
    assert_eq!(
        r.data["files"][0]["checksum"],
        "7b1874e01e75f25b1357bb102c1ad6f24377cfec"
    );

    // Ansible: directories, with a root that does not exist -> ['sub', 'sub/deeper'] (hidden
    // .hid left out), matched 2, examined 9, "Not all paths examined, check warnings for
    // details", skipped_paths {'/nonexist': "'/nonexist' is not a directory"}.
    let missing = env.p("nonexist");
    let r = env
        .run(
            "find",
            json!({"paths": [root.clone(), missing.clone()], "file_type": "directory", "recurse": true}),
        )
        .await;
    let mut got = paths(&r);
    got.sort();
    assert_eq!(got, [format!("{root}/sub"), format!("{root}/sub/deeper")]);
    assert_eq!(r.data["examined"], 9);
    assert_eq!(
        r.msg.as_deref(),
        Some("Not all paths examined, check warnings for details")
    );
    assert_eq!(
        r.data["skipped_paths"],
        json!({ missing.clone(): format!("'{missing}' is not a directory") })
    );
}

#[tokio::test]
async fn find_is_one_probe_and_a_read_ahead_candidate() {
    let env = Env::new();
    let root = tree(&env);
    env.host.reset();
    let args = json!({"paths": root, "age": "-1d", "size": "-1k"});
    let r = env.run("find", args.clone()).await;
    assert_eq!(r.data["matched"], 2, "a.log and c.txt: young and small");
    assert_eq!(env.host.reset(), (1, 0), "one request");
    let map = args.as_object().cloned().unwrap();
    let call = etcdplay_modules::ModuleCall {
        name: "ansible.builtin.find",
        args: &map,
        check: false,
        diff: false,
        become_: None,
        control: &env.control,
    };
    assert!(etcdplay_modules::first_probe(call).is_some());
}

fn write_script(env: &Env) {
    let script = "#!/bin/sh\necho \"args: $*\"; pwd; echo err >&2\nexit ${EXITRC:-0}\n";
    std::fs::write(env.control.root.join("hello.sh"), script).unwrap();
}

#[tokio::test]
async fn script_runs_from_a_private_directory_that_is_removed() {
    let env = Env::new();
    write_script(&env);
    let tmp = env.p("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    // Ansible (script: hello.sh a 'b c', chdir: /tmp): changed, rc 0, stdout
    // "args: a b c\n/tmp\n", stderr "err\n" (its lines too).
    let host_tmp = env.p("host-tmp");
    std::fs::create_dir_all(&host_tmp).unwrap();
    let r = env
        .run(
            "script",
            json!({"_raw_params": format!("hello.sh a 'b c'"), "chdir": tmp}),
        )
        .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(r.data["rc"], 0);
    assert_eq!(r.data["stdout"], format!("args: a b c\n{tmp}\n"));
    assert_eq!(r.data["stderr"], "err\n");
    assert_eq!(r.data["stdout_lines"], json!(["args: a b c", tmp]));
    // The private directory the script ran from is gone afterwards. (The script names it
    // itself: other tests, and other runs on the machine, make directories of their own.)
    std::fs::write(
        env.control.root.join("where.sh"),
        "#!/bin/sh\ndirname \"$0\"\n",
    )
    .unwrap();
    let r = env.run("script", json!({"cmd": "where.sh"})).await;
    let private = r.data["stdout_lines"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        private.contains("etcdplay-script."),
        "ran from {private:?}: {r:?}"
    );
    assert!(
        !std::path::Path::new(&private).exists(),
        "the private directory {private} is removed"
    );

    // With an interpreter given, a non-zero exit fails with Ansible's message.
    let r = env
        .run(
            "script",
            json!({"cmd": "hello.sh x", "executable": "/bin/sh"}),
        )
        .await;
    assert_eq!(r.data["stdout_lines"][0], "args: x");
    std::fs::write(env.control.root.join("fail.sh"), "echo no\nexit 3\n").unwrap();
    let r = env
        .run("script", json!({"cmd": "fail.sh", "executable": "sh"}))
        .await;
    assert!(r.failed && r.changed, "{r:?}");
    assert_eq!(
        (r.data["rc"].clone(), r.msg.as_deref()),
        (json!(3), Some("non-zero return code"))
    );
    // A script that is not on the control node is an error before the host is asked.
    env.host.reset();
    let e = env
        .run_opts("script", json!({"cmd": "nowhere.sh"}), false, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("nowhere.sh"), "{e}");
    assert_eq!(env.host.reset(), (0, 0));
}

#[tokio::test]
async fn script_creates_removes_and_check_mode() {
    let env = Env::new();
    write_script(&env);
    let here = env.p("");
    // Ansible: skipped, msg "/tmp exists, matching creates option", changed false.
    let r = env
        .run("script", json!({"cmd": "hello.sh", "creates": here}))
        .await;
    assert!(r.skipped && !r.changed, "{r:?}");
    assert_eq!(
        r.msg.as_deref(),
        Some(format!("{here} exists, matching creates option").as_str())
    );
    let gone = env.p("gone");
    let r = env
        .run("script", json!({"cmd": "hello.sh", "removes": gone}))
        .await;
    assert_eq!(
        r.msg.as_deref(),
        Some(format!("{gone} does not exist, matching removes option").as_str())
    );
    // Check mode: without creates/removes the task is skipped ("Check mode is not supported
    // for this task."); with one that does not skip, it reports a change and runs nothing.
    let r = env
        .run_opts("script", json!({"cmd": "hello.sh"}), true, false)
        .await
        .unwrap();
    assert!(r.skipped, "{r:?}");
    assert_eq!(
        r.msg.as_deref(),
        Some("Check mode is not supported for this task.")
    );
    let marker = env.p("ran");
    std::fs::write(
        env.control.root.join("touch.sh"),
        format!("#!/bin/sh\ntouch {marker}\n"),
    )
    .unwrap();
    let r = env
        .run_opts(
            "script",
            json!({"cmd": "touch.sh", "creates": marker}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed && !r.skipped, "{r:?}");
    assert!(!std::path::Path::new(&marker).exists(), "check mode ran it");
    let r = env
        .run("script", json!({"cmd": "touch.sh", "creates": marker}))
        .await;
    assert!(r.changed && std::path::Path::new(&marker).exists(), "{r:?}");
    let r = env
        .run("script", json!({"cmd": "touch.sh", "creates": marker}))
        .await;
    assert!(r.skipped && !r.changed, "second run: {r:?}");
}

/// ansible-core 2.19.14's find target, same files: `hello_world.gbk` ("你好世界" in GBK) and a
/// text file. Searched as UTF-8: matched 0, examined 2 here, msg "Not all paths examined, check
/// warnings for details", `skipped_paths[ROOT]` "Failed to read the file ROOT/hello_world.gbk
/// due to an encoding error. current encoding: utf-8"; as `gbk`: matched 1; as `idontexist`:
/// `skipped_paths[ROOT]` "unknown encoding: idontexist".
#[tokio::test]
async fn find_reads_contents_in_the_encoding_asked() {
    let env = Env::new();
    let root = env.p("enc");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(
        format!("{root}/hello_world.gbk"),
        [0xc4, 0xe3, 0xba, 0xc3, 0xca, 0xc0, 0xbd, 0xe7, b'\n'],
    )
    .unwrap();
    std::fs::write(format!("{root}/a.txt"), "plain\n").unwrap();
    let search = |encoding: &str| json!({"paths": root, "patterns": "*.gbk", "contains": "你好世界", "encoding": encoding});
    let r = env.run("find", search("utf-8")).await;
    assert_eq!(r.data["matched"], 0);
    assert_eq!(
        r.msg.as_deref(),
        Some("Not all paths examined, check warnings for details")
    );
    assert_eq!(
        r.data["skipped_paths"][&root],
        format!(
            "Failed to read the file {root}/hello_world.gbk due to an encoding error. current encoding: utf-8"
        )
    );
    let r = env.run("find", search("gbk")).await;
    assert_eq!(r.data["matched"], 1, "{r:?}");
    assert_eq!(r.msg.as_deref(), Some("All paths examined"));
    let r = env.run("find", search("idontexist")).await;
    assert_eq!(
        r.data["skipped_paths"][&root],
        "unknown encoding: idontexist"
    );
}
