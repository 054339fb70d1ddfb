//! The `file` module against what ansible-core 2.19.14's file module answered for the same
//! sequence of tasks on a scratch directory (`ansible-playbook -c local`, recorded in each
//! comment): the cases ansible-core's own `file` integration target checks.

mod common;

use common::Env;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;

fn mode_of(p: &str) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

async fn run_diff(env: &Env, args: Value, check: bool) -> etcdplay_modules::ModuleResult {
    env.run_opts("file", args, check, true).await.unwrap()
}

#[tokio::test]
async fn links_follow_and_show_their_source_as_ansible() {
    let env = Env::new();
    let target = env.p("target");
    let link = env.p("l");
    std::fs::write(&target, "x").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o666)).unwrap();
    env.run(
        "file",
        json!({"path": link, "src": target, "state": "link"}),
    )
    .await;
    // Ansible (relink to `target`, diff: true):
    // {"after": {"path": ".../l", "src": "target"}, "before": {"path": ".../l", "src": ".../target"}}
    let r = run_diff(
        &env,
        json!({"path": link, "src": "target", "state": "link"}),
        false,
    )
    .await;
    assert!(r.changed);
    let diff = r.diff.unwrap();
    assert_eq!(diff.before, json!({"path": link, "src": target}));
    assert_eq!(diff.after, json!({"path": link, "src": "target"}));
    // Ansible: `file: path=l mode=0640` (no state, no src, follow's default) is changed and the
    // link's target gets the mode: stat of target says "0640".
    let r = env.run("file", json!({"path": link, "mode": "0640"})).await;
    assert!(!r.failed, "{:?}", r.msg);
    assert!(r.changed);
    assert_eq!(mode_of(&target), 0o640);
    // Ansible: `mode: o+t` on the link reports "mode": "01640" ('0%03o').
    let r = env
        .run("file", json!({"path": target, "mode": "o+t"}))
        .await;
    assert_eq!(r.data["mode"], "01640");
}

#[tokio::test]
async fn argument_and_state_failures_read_as_ansibles() {
    let env = Env::new();
    let target = env.p("target");
    std::fs::write(&target, "x").unwrap();
    // Ansible: "src option requires state to be 'link' or 'hard'".
    let r = env
        .run("file", json!({"path": env.p("x2"), "src": target}))
        .await;
    assert!(r.failed);
    assert_eq!(
        r.msg.as_deref(),
        Some("src option requires state to be 'link' or 'hard'")
    );
    // Ansible: msg "file (.../nothing) is absent, cannot continue", state "absent".
    let nothing = env.p("nothing");
    let r = env.run("file", json!({"path": nothing})).await;
    assert!(r.failed);
    assert_eq!(
        r.msg.unwrap(),
        format!("file ({nothing}) is absent, cannot continue")
    );
    assert_eq!(r.data["state"], "absent");
    // Ansible: "src is required for creating new hardlinks".
    let r = env
        .run("file", json!({"path": env.p("h"), "state": "hard"}))
        .await;
    assert_eq!(
        r.msg.as_deref(),
        Some("src is required for creating new hardlinks")
    );
    // Ansible: a directory as the path of a hard link means the entry named after src in it:
    // changed, dest ".../sub/target".
    let sub = env.p("sub");
    std::fs::create_dir(&sub).unwrap();
    let r = env
        .run("file", json!({"path": sub, "src": target, "state": "hard"}))
        .await;
    assert!(r.changed && !r.failed, "{:?}", r.msg);
    assert_eq!(r.data["dest"], format!("{sub}/target"));
}

#[tokio::test]
async fn touch_times_and_diffs_as_ansible() {
    let env = Env::new();
    let target = env.p("target");
    std::fs::write(&target, "x").unwrap();
    // Ansible: touch with both times `preserve` on an existing file is not changed.
    let r = env
        .run(
            "file",
            json!({"path": target, "state": "touch",
                   "modification_time": "preserve", "access_time": "preserve"}),
        )
        .await;
    assert!(!r.changed);
    // Ansible (diff: true): after {"mtime": 1644329640.0, "path": ...}, the mtime being
    // mktime of 2022-02-08 14:14:00 in the host's zone (UTC there).
    let r = run_diff(
        &env,
        json!({"path": target, "modification_time": "202202081414.00"}),
        false,
    )
    .await;
    let local = std::process::Command::new("date")
        .args(["-d", "2022-02-08 14:14:00", "+%s"])
        .output()
        .unwrap();
    let seconds: f64 = String::from_utf8_lossy(&local.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        r.diff.unwrap().after,
        json!({"mtime": seconds, "path": target})
    );
    // Ansible (state: absent on a directory holding one file, check and diff):
    // before {"path": .../sub, "path_content": {"directories": [], "files": [".../sub/target"]},
    //         "state": "directory"}, after {"path": .../sub, "state": "absent"}
    let sub = env.p("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(format!("{sub}/target"), "").unwrap();
    let r = run_diff(&env, json!({"path": sub, "state": "absent"}), true).await;
    let diff = r.diff.unwrap();
    assert_eq!(
        diff.before,
        json!({"path": sub, "state": "directory",
               "path_content": {"directories": [], "files": [format!("{sub}/target")]}})
    );
    assert_eq!(diff.after, json!({"path": sub, "state": "absent"}));
}

#[tokio::test]
async fn check_mode_looks_owners_and_groups_up_as_ansible() {
    let env = Env::new();
    let target = env.p("target");
    std::fs::write(&target, "x").unwrap();
    // Ansible (check mode, existing path): failed, msg "chown failed: failed to look up user
    // no-such-user-x", warnings ["failed to look up user no-such-user-x. Create user up to this
    // point in real play"].
    let r = env
        .run_opts(
            "file",
            json!({"path": target, "owner": "no-such-user-x"}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.failed);
    assert_eq!(
        r.msg.as_deref(),
        Some("chown failed: failed to look up user no-such-user-x")
    );
    assert_eq!(
        r.data["warnings"],
        json!(["failed to look up user no-such-user-x. Create user up to this point in real play"])
    );
    // Ansible (check mode, touch of an absent path, group "987654"): changed, warnings
    // ["failed to look up group with gid 987654. Create group up to this point in real play"].
    let r = env
        .run_opts(
            "file",
            json!({"path": env.p("absent-one"), "group": "987654", "state": "touch"}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed && !r.failed);
    assert_eq!(
        r.data["warnings"],
        json!([
            "failed to look up group with gid 987654. Create group up to this point in real play"
        ])
    );
}

#[tokio::test]
async fn recursion_follows_links_unless_told_not_to() {
    // Ansible's file target (`test_follow_rec`): `mode: a-x, recurse: yes` with `follow: no`
    // leaves a linked file and directory (and the file in it) at 0700; with `follow: yes`
    // they become 0600.
    let env = Env::new();
    let top = env.p("top");
    let (file, dir) = (env.p("tfile"), env.p("tdir"));
    std::fs::create_dir(&top).unwrap();
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(&file, "").unwrap();
    std::fs::write(format!("{dir}/foo"), "").unwrap();
    for p in [&file, &dir, &format!("{dir}/foo")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    std::os::unix::fs::symlink("../tfile", format!("{top}/l")).unwrap();
    std::os::unix::fs::symlink("../tdir", format!("{top}/ld")).unwrap();
    let args =
        |follow: bool| json!({"path": top, "mode": "a-x", "recurse": true, "follow": follow});
    env.run("file", args(false)).await;
    assert_eq!([mode_of(&file), mode_of(&dir)], [0o700, 0o700]);
    env.run("file", args(true)).await;
    assert_eq!(
        [
            mode_of(&file),
            mode_of(&dir),
            mode_of(&format!("{dir}/foo"))
        ],
        [0o600, 0o600, 0o600]
    );
}
