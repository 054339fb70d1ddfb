//! `cron` on the local host, with a stand-in `crontab` command (one file per user, as cron's
//! spool) first in PATH, so that user crontabs work without cron installed. The expected
//! results are what ansible-playbook 2.19 returned for the same tasks against the same
//! stand-in (recorded in the comments).

mod common;

use common::Env;
use serde_json::json;

const FAKE_CRONTAB: &str = r#"#!/bin/sh
user=$(id -un)
if [ "$1" = -u ]; then user=$2; shift 2; fi
f="$FAKE_CRONTABS/$user"
case $1 in
  -l) if [ -f "$f" ]; then cat "$f"; else echo "no crontab for $user" >&2; exit 1; fi;;
  -) cat > "$f";;
  *) cat "$1" > "$f";;
esac
"#;

#[tokio::test]
async fn cron_jobs_variables_and_files_as_ansible_keeps_them() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let bin = env.p("bin");
    let tabs = env.p("tabs");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&tabs).unwrap();
    std::fs::write(format!("{bin}/crontab"), FAKE_CRONTAB).unwrap();
    std::fs::set_permissions(
        format!("{bin}/crontab"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    // The only test of this binary: nothing else reads the environment meanwhile.
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::set_var("PATH", format!("{bin}:{path}"));
    std::env::set_var("FAKE_CRONTABS", &tabs);
    let me = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();

    // Ansible: changed, jobs ["backup"], envs [], diff "" -> "#Ansible: backup\n0 2 * * *
    // /usr/bin/backup\n", headers "crontab".
    let backup = json!({"name": "backup", "minute": "0", "hour": "2", "job": "/usr/bin/backup"});
    let r = env
        .converges_opts("cron", backup.clone(), &format!("{tabs}/{me}"), true)
        .await;
    assert_eq!(r.data["jobs"], json!(["backup"]));
    let d = r.diff.unwrap();
    assert_eq!(
        d.after,
        json!("#Ansible: backup\n0 2 * * * /usr/bin/backup\n")
    );
    assert_eq!(d.before_header.as_deref(), Some("crontab"));

    // Ansible: MAILTO="ops" goes on top; envs ["MAILTO"].
    let r = env
        .run_opts(
            "cron",
            json!({"name": "MAILTO", "env": true, "job": "ops"}),
            false,
            true,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(r.data["envs"], json!(["MAILTO"]));
    assert_eq!(
        std::fs::read_to_string(format!("{tabs}/{me}")).unwrap(),
        "MAILTO=\"ops\"\n#Ansible: backup\n0 2 * * * /usr/bin/backup\n"
    );
    assert!(!env.run("cron", backup).await.changed);

    // Ansible: another user's crontab (`-u nobody`), header 'crontab for user "nobody"',
    // "#Ansible: tidy\n#@daily tidy --all\n".
    let r = env
        .run_opts(
            "cron",
            json!({"name": "tidy", "special_time": "daily", "job": "tidy --all",
                   "disabled": true, "user": "nobody"}),
            false,
            true,
        )
        .await
        .unwrap();
    assert!(r.changed, "{r:?}");
    assert_eq!(
        r.diff.unwrap().before_header.as_deref(),
        Some("crontab for user \"nobody\"")
    );
    assert_eq!(
        std::fs::read_to_string(format!("{tabs}/nobody")).unwrap(),
        "#Ansible: tidy\n#@daily tidy --all\n"
    );

    // Ansible: a cron_file job with its user field; removing the last job removes the file
    // (diff after_header "/dev/null", state "absent", cron_file as given).
    let file = env.p("cronfile");
    let job = json!({"name": "check dirs", "minute": "0", "hour": "5,2",
                     "job": "ls -alh > /dev/null", "user": "root", "cron_file": file});
    env.converges("cron", job, &file).await;
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "#Ansible: check dirs\n0 5,2 * * * root ls -alh > /dev/null\n"
    );
    let gone = json!({"name": "check dirs", "cron_file": file, "state": "absent"});
    let r = env
        .run_opts("cron", gone.clone(), false, true)
        .await
        .unwrap();
    assert!(r.changed && !std::path::Path::new(&file).exists(), "{r:?}");
    assert_eq!(r.data["state"], "absent");
    assert_eq!(r.diff.unwrap().after_header.as_deref(), Some("/dev/null"));
    assert!(!env.run("cron", gone).await.changed);
    let r = env
        .run(
            "cron",
            json!({"name": "x", "cron_file": "/etc/crontab", "job": "y", "user": "root"}),
        )
        .await;
    assert_eq!(
        r.msg.as_deref(),
        Some("Will not manage /etc/crontab via cron_file, see documentation.")
    );
}
