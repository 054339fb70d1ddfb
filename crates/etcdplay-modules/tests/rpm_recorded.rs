//! `dnf`/`yum`/`package`, `yum_repository` and `rpm_key` against a scripted host answering
//! with recorded output of `rpm -q --qf`, `dnf check-update`, `dnf group list` and dnf's error
//! messages (recorded on Fedora 40, dnf 4.19, rpm 4.19; there is no RPM host here). Each test
//! pins the round trips: one probe, one change only when something changes, none in check
//! mode. The expected results follow ansible-core 2.19's dnf module (lib/ansible/modules/dnf.py):
//! `msg: "Nothing to do"` with `changed: false` when nothing changes, `results` lines
//! `Installed: <nevra>`/`Removed: <nevra>`, the check-mode message, and
//! `Failed to install some of the specified packages` with `failures: ["No package x
//! available."]` for an unknown name.

mod common;

use common::{run, sections, try_run, Control, Scripted};
use etcdplay_modules::{ModuleCall, ModuleResult};
use serde_json::json;

/// The scripted host of these tests.
const HOST: &str = "rocky-1";

/// A host whose one exec, the probe, prints these sections.
fn probe_answers(parts: &[(&str, &str)]) -> Scripted {
    Scripted::printing(HOST, &[&sections(parts)])
}

fn results(r: &ModuleResult) -> Vec<String> {
    r.data["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

// Recorded `rpm -q --qf 'pkg|%{NAME}|%{EPOCHNUM}|%{VERSION}|%{RELEASE}|%{ARCH}\n' -- NAME`.
const RPM_ETCD: &str = "pkg|etcd|0|3.5.12|1.fc40|x86_64\n";
const RPM_CHRONY: &str = "pkg|chrony|0|4.5|3.fc40|x86_64\n";
const RPM_NOT_INSTALLED_JQ: &str = "package jq is not installed\n";
const RPM_JQ: &str = "pkg|jq|0|1.7.1|4.fc40|x86_64\n";
const RPM_OPENSSL: &str = "pkg|openssl|1|3.2.2|3.fc40|x86_64\n";
// Recorded `dnf -q check-update -- etcd chrony; echo rc=$?` with an etcd update available.
const CHECK_UPDATE_ETCD: &str =
    "\netcd.x86_64                         3.5.17-1.fc40                         updates\nrc=100\n";

#[tokio::test]
async fn dnf_installed_packages_change_nothing_in_one_probe() {
    let host = probe_answers(&[("q0", RPM_ETCD), ("q1", RPM_OPENSSL), ("uid", "0\n")]);
    let r = run(
        "ansible.builtin.dnf",
        json!({"name": ["etcd", "openssl-3.2.2"], "state": "present"}),
        false,
        &host,
    )
    .await;
    assert!(!r.changed && !r.failed, "{r:?}");
    assert_eq!(r.msg.as_deref(), Some("Nothing to do"));
    assert!(results(&r).is_empty());
    let scripts = host.scripts();
    assert_eq!(scripts.len(), 1);
    // A version in the name is rpm's to match; options go to every dnf command.
    assert!(scripts[0].contains("rpm -q --qf"), "{}", scripts[0]);
    assert!(scripts[0].contains("-- openssl-3.2.2 "), "{}", scripts[0]);
}

#[tokio::test]
async fn yum_installs_what_is_missing_and_reports_it() {
    let host = Scripted::printing(
        HOST,
        &[
            &sections(&[
                ("q0", RPM_ETCD),
                ("q1", RPM_NOT_INSTALLED_JQ),
                ("uid", "0\n"),
            ]),
            &sections(&[("q0", RPM_ETCD), ("q1", RPM_JQ)]),
        ],
    );
    let r = run(
        "yum",
        json!({"name": "etcd,jq", "enablerepo": ["epel"], "disable_gpg_check": true,
               "install_weak_deps": false}),
        false,
        &host,
    )
    .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(results(&r), vec!["Installed: jq-1.7.1-4.fc40.x86_64"]);
    assert_eq!(r.data["rc"], 0);
    let scripts = host.scripts();
    assert_eq!(scripts.len(), 2);
    let change = &scripts[1];
    assert!(
        change.contains("dnf --enablerepo=epel --nogpgcheck --setopt=install_weak_deps=False --setopt=clean_requirements_on_remove=False -y -q install -- jq >&2"),
        "{change}"
    );
    assert!(!change.contains("install -- etcd"), "{change}");
}

#[tokio::test]
async fn dnf_latest_upgrades_only_what_check_update_lists() {
    let probe = sections(&[
        ("q0", RPM_ETCD),
        ("q1", RPM_CHRONY),
        ("updates", CHECK_UPDATE_ETCD),
        ("uid", "0\n"),
    ]);
    // Check mode: no change exec, the transaction as Ansible lists it.
    let host = Scripted::printing(HOST, &[&probe]);
    let r = run(
        "dnf",
        json!({"name": ["etcd", "chrony"], "state": "latest", "update_cache": true}),
        true,
        &host,
    )
    .await;
    assert!(r.changed, "{r:?}");
    assert_eq!(
        r.msg.as_deref(),
        Some("Check mode: No changes made, but would have if not in check mode")
    );
    assert_eq!(
        results(&r),
        vec![
            "Installed: etcd-3.5.17-1.fc40.x86_64",
            "Removed: etcd-3.5.12-1.fc40.x86_64"
        ]
    );
    let scripts = host.scripts();
    assert_eq!(scripts.len(), 1);
    assert!(
        scripts[0].contains("--refresh -q check-update -- etcd chrony"),
        "{}",
        scripts[0]
    );
    // For real: one upgrade of etcd only.
    let host = Scripted::printing(HOST, &[&probe, ""]);
    let r = run(
        "dnf",
        json!({"name": ["etcd", "chrony"], "state": "latest"}),
        false,
        &host,
    )
    .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert!(host.scripts()[1].contains("-y -q upgrade -- etcd >&2\n"));
    // Nothing to upgrade: `check-update` exits 0 with no lines.
    let host = probe_answers(&[("q0", RPM_ETCD), ("updates", "rc=0\n"), ("uid", "0\n")]);
    let r = run(
        "dnf",
        json!({"name": "etcd", "state": "latest"}),
        false,
        &host,
    )
    .await;
    assert!(!r.changed && !r.failed, "{r:?}");
    assert_eq!(r.msg.as_deref(), Some("Nothing to do"));
}

#[tokio::test]
async fn dnf_absent_removes_installed_names_and_autoremoves() {
    let host = Scripted::printing(
        HOST,
        &[
            &sections(&[
                ("q0", RPM_ETCD),
                ("q1", RPM_NOT_INSTALLED_JQ),
                ("uid", "0\n"),
            ]),
            &sections(&[
                ("q0", "package etcd is not installed\n"),
                ("q1", RPM_NOT_INSTALLED_JQ),
            ]),
        ],
    );
    let r = run(
        "dnf",
        json!({"name": ["etcd", "jq"], "state": "removed", "autoremove": true}),
        false,
        &host,
    )
    .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(results(&r), vec!["Removed: etcd-3.5.12-1.fc40.x86_64"]);
    let change = &host.scripts()[1];
    assert!(change.contains("-y -q remove -- etcd >&2\n"), "{change}");
    assert!(change.contains("-y -q autoremove"), "{change}");
    assert!(!change.contains("clean_requirements_on_remove"), "{change}");
}

#[tokio::test]
async fn dnf_unknown_package_fails_as_ansible_does() {
    // Recorded stderr of `dnf -y install nosuchpkg` (dnf 4.19).
    let stderr = "No match for argument: nosuchpkg\nError: Unable to find a match: nosuchpkg\n";
    let probe = sections(&[
        ("q0", "package nosuchpkg is not installed\n"),
        ("uid", "0\n"),
    ]);
    let host = Scripted::new(HOST, &[(&probe, 0, ""), ("", 1, stderr)]);
    let r = run("dnf", json!({"name": "nosuchpkg"}), false, &host).await;
    assert!(r.failed && !r.changed, "{r:?}");
    assert_eq!(
        r.msg.as_deref(),
        Some("Failed to install some of the specified packages")
    );
    assert_eq!(
        r.data["failures"],
        json!(["No package nosuchpkg available."])
    );
    assert_eq!(r.data["rc"], 1);
}

// Ansible's dnf action (package target, Fedora): `use: dnf` with `use_backend: dnf` fails with
// "parameters are mutually exclusive: ('use', 'use_backend')" and changes nothing.
#[tokio::test]
async fn dnf_refuses_use_with_use_backend() {
    let host = Scripted::new(HOST, &[]);
    let args = json!({"name": "at", "use": "dnf", "use_backend": "dnf"});
    let r = run("dnf", args, false, &host).await;
    assert!(r.failed && !r.changed, "{r:?}");
    assert_eq!(
        r.msg.as_deref(),
        Some("parameters are mutually exclusive: ('use', 'use_backend')")
    );
}

#[tokio::test]
async fn dnf_groups_files_and_urls() {
    // Recorded `dnf -q group list --installed --ids`.
    let groups = "Installed Groups:\n   Development Tools (development)\n";
    let host = Scripted::printing(HOST, &[
        &sections(&[
            ("q0", ""),
            ("q1", "file|etcd-3.5.17-1.fc40.x86_64\npackage etcd-3.5.17-1.fc40.x86_64 is not installed\n"),
            ("q2", RPM_JQ),
            ("q3", ""),
            ("groups", groups),
            ("uid", "0\n"),
        ]),
        &sections(&[
            ("q1", "file|etcd-3.5.17-1.fc40.x86_64\npkg|etcd|0|3.5.17|1.fc40|x86_64\n"),
            ("q2", RPM_JQ),
        ]),
    ]);
    let r = run(
        "dnf",
        json!({"name": [
            "@Development Tools",
            "/tmp/etcd-3.5.17-1.fc40.x86_64.rpm",
            "https://repo.example/jq-1.7.1-4.fc40.x86_64.rpm",
            "@container-management"
        ]}),
        false,
        &host,
    )
    .await;
    assert!(r.changed && !r.failed, "{r:?}");
    let scripts = host.scripts();
    assert!(scripts[0].contains("rpm -qp --qf"), "{}", scripts[0]);
    assert!(
        scripts[0].contains("rpm -q --qf 'pkg|%{NAME}|%{EPOCHNUM}|%{VERSION}|%{RELEASE}|%{ARCH}\\n' -- jq-1.7.1-4.fc40.x86_64 "),
        "{}",
        scripts[0]
    );
    assert!(
        scripts[1].contains("install -- /tmp/etcd-3.5.17-1.fc40.x86_64.rpm @container-management"),
        "{}",
        scripts[1]
    );
    assert_eq!(
        results(&r),
        vec![
            "Installed: etcd-3.5.17-1.fc40.x86_64",
            "Group container-management installed."
        ]
    );
}

#[tokio::test]
async fn dnf_needs_root_and_valid_arguments() {
    let host = probe_answers(&[("q0", ""), ("uid", "1000\n")]);
    let r = run("dnf", json!({"name": "jq"}), false, &host).await;
    assert!(r.failed, "{r:?}");
    assert_eq!(
        r.msg.as_deref(),
        Some("This command has to be run under the root user.")
    );
    let host = Scripted::new(HOST, &[]);
    let e = try_run(
        "dnf",
        json!({"name": "jq", "state": "newest"}),
        false,
        false,
        &host,
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("absent, installed, latest, present, removed"),
        "{e}"
    );
    let e = try_run(
        "dnf",
        json!({"name": "jq", "autoremove": true, "state": "present"}),
        false,
        false,
        &host,
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string().contains("Autoremove should be used alone"),
        "{e}"
    );
}

#[tokio::test]
async fn dnf_update_cache_alone_refreshes_metadata() {
    let host = Scripted::printing(HOST, &[&sections(&[("uid", "0\n")]), ""]);
    let r = run("dnf", json!({"update_cache": true}), false, &host).await;
    assert!(!r.changed && !r.failed, "{r:?}");
    assert_eq!(r.msg.as_deref(), Some("Cache updated"));
    assert!(host.scripts()[1].contains("--refresh -q makecache"));
}

#[tokio::test]
async fn package_runs_dnf_on_rpm_hosts() {
    // One round trip: the manager and dnf's own probe answered by one script.
    let host = probe_answers(&[("mgr", "dnf\n"), ("q0", RPM_ETCD), ("uid", "0\n")]);
    let r = run(
        "package",
        json!({"name": "etcd", "state": "present"}),
        false,
        &host,
    )
    .await;
    assert!(!r.changed && !r.failed, "{r:?}");
    assert_eq!(r.msg.as_deref(), Some("Nothing to do"));
    let script = &host.scripts()[0];
    assert!(
        script.contains("dnf|yum)") && script.contains("apt-get)"),
        "{script}"
    );
    let host = probe_answers(&[("mgr", "yum\n"), ("q0", RPM_ETCD), ("uid", "0\n")]);
    let r = run(
        "package",
        json!({"name": "etcd", "use": "yum"}),
        false,
        &host,
    )
    .await;
    assert!(!r.changed && !r.failed, "{r:?}");
    // `use: dnf` on a host whose probe found no manager: dnf's probe is sent on its own.
    let host = Scripted::printing(
        HOST,
        &[
            &sections(&[("mgr", "\n")]),
            &sections(&[("q0", RPM_ETCD), ("uid", "0\n")]),
        ],
    );
    let r = run(
        "package",
        json!({"name": "etcd", "use": "dnf"}),
        false,
        &host,
    )
    .await;
    assert!(!r.changed && !r.failed, "{r:?}");
    assert_eq!(host.scripts().len(), 2);
}

/// The read-ahead sends exactly dnf's first request when it only asks rpm; `latest` asks
/// dnf (which may fetch metadata) and is not read ahead.
#[tokio::test]
async fn dnf_probe_is_read_ahead_only_when_it_asks_rpm() {
    let control = Control::new(std::env::temp_dir());
    let args = json!({"name": ["etcd"], "state": "absent"});
    let map = args.as_object().cloned().unwrap();
    let call = common::call("dnf", &map, false, false, &control);
    let probe = etcdplay_modules::first_probe(call).expect("dnf absent reads first");
    let host = probe_answers(&[("q0", RPM_NOT_INSTALLED_JQ), ("uid", "0\n")]);
    let r = etcdplay_modules::run(call, &host).await.unwrap();
    assert!(!r.changed, "{r:?}");
    assert_eq!(host.scripts(), vec![probe.script]);
    let args = json!({"name": ["etcd"], "state": "latest"});
    let map = args.as_object().cloned().unwrap();
    let call = ModuleCall { args: &map, ..call };
    assert!(etcdplay_modules::first_probe(call).is_none());
}

/// `yum_repository` writes a new `.repo` file once (not in check mode), shows Ansible's
/// sorted-form diff with the password masked, and a file whose section already says the same
/// is no change.
#[tokio::test]
async fn yum_repository_writes_a_repo_file_once() {
    let args = json!({
        "name": "etcd", "description": "etcd packages",
        "baseurl": "https://repo.example/el9/$basearch", "gpgcheck": true,
        "username": "u", "password": "s3cret-pw"
    });
    let absent = sections(&[("stat", ""), ("content", ""), ("parent", "yes\n")]);
    let host = Scripted::printing(HOST, &[&absent]);
    let r = try_run("yum_repository", args.clone(), true, true, &host)
        .await
        .unwrap();
    assert!(r.changed && !r.failed, "{r:?}");
    assert!(host.puts().is_empty(), "check mode wrote");
    let diff = r.diff.expect("diff");
    assert_eq!(
        diff.after,
        json!("[etcd]\nbaseurl = https://repo.example/el9/$basearch\ngpgcheck = 1\nname = etcd packages\npassword = ********\nusername = u\n\n")
    );
    let host = Scripted::printing(HOST, &[&absent, ""]);
    let r = try_run("yum_repository", args.clone(), false, false, &host)
        .await
        .unwrap();
    assert!(r.changed && !r.failed, "{r:?}");
    let puts = host.puts();
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].0, "/etc/yum.repos.d/etcd.repo");
    let written = String::from_utf8(puts[0].1.clone()).unwrap();
    assert_eq!(
        written,
        "[etcd]\nbaseurl = https://repo.example/el9/$basearch\ngpgcheck = 1\nname = etcd packages\npassword = s3cret-pw\nusername = u\n\n"
    );
    // The same section, written by hand in another order: no change, no write.
    use base64::Engine;
    let by_hand = "[etcd]\nname=etcd packages\nusername=u\npassword=s3cret-pw\nbaseurl=https://repo.example/el9/$basearch\ngpgcheck=1\n";
    let sha = {
        use sha1::Digest;
        let mut h = sha1::Sha1::new();
        h.update(by_hand.as_bytes());
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let stat = format!(
        "stat|regular file|644|0|0|root|root|{}|1.0|1.0|1.0|2|1|3|8|4096|0|0\nsha1|{sha}\n",
        by_hand.len()
    );
    let present = sections(&[
        ("stat", &stat),
        (
            "content",
            &base64::engine::general_purpose::STANDARD.encode(by_hand),
        ),
        ("parent", "yes\n"),
    ]);
    let host = Scripted::printing(HOST, &[&present]);
    let r = try_run("yum_repository", args, false, false, &host)
        .await
        .unwrap();
    assert!(!r.changed && !r.failed, "{r:?}");
    assert!(host.puts().is_empty());
    let e = try_run(
        "yum_repository",
        json!({"name": "etcd", "baseurl": "https://x"}),
        false,
        false,
        &Scripted::new(HOST, &[]),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("description"), "{e}");
}
