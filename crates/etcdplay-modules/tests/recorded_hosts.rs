//! systemd, user and group end to end against a scripted transport that answers the probe with
//! recorded output (this machine has no systemd PID 1, and tests must not create accounts).
//! Pins the round-trip budget: one probe, plus one change exec only when something changes,
//! and no change exec at all in check mode.

mod common;

use std::sync::Mutex;

use async_trait::async_trait;
use common::{sections, Control, Scripted};
use etcdplay_modules::ModuleResult;
use etcdplay_transport::{Become, ExecOutput, ExecRequest, PutRequest, Transport, TransportError};
use serde_json::{json, Value};

/// The scripted host of these tests.
const HOST: &str = "etcd-1";

/// A host whose probe prints the sections `probe` and a change exec, if one is sent, with
/// nothing.
fn probed(probe: &[(&str, &str)]) -> Scripted {
    probed_then(probe, "")
}

/// As `probed`, the change script (the second exec) printing `change_stdout`.
fn probed_then(probe: &[(&str, &str)], change_stdout: &str) -> Scripted {
    Scripted::printing(HOST, &[&sections(probe), change_stdout])
}

/// Runs the call on `host`; these modules never upload.
async fn run(name: &str, args: Value, check: bool, host: &Scripted) -> ModuleResult {
    let r = common::run(name, args, check, host).await;
    assert!(host.puts().is_empty(), "these modules never upload");
    r
}

// Recorded `systemctl show etcd` (trimmed) and `systemctl is-enabled etcd; echo rc=$?`.
const INACTIVE: &str = "Id=etcd.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\n";
const ACTIVE: &str = "Id=etcd.service\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nMainPID=812\n";

#[tokio::test]
async fn systemd_starts_and_enables_in_one_change_exec() {
    let host = probed(&[("show", INACTIVE), ("enabled", "disabled\nrc=1\n")]);
    let r = run(
        "ansible.builtin.systemd_service",
        json!({"name": "etcd", "state": "started", "enabled": true, "daemon_reload": true}),
        false,
        &host,
    )
    .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(r.data["status"]["ActiveState"], "inactive");
    let scripts = host.scripts();
    assert_eq!(scripts.len(), 2);
    // The probe only asks whether a reload is due (the recorded answer says no).
    assert!(scripts[0].contains("@@etcdplay:reload"), "{}", scripts[0]);
    assert!(
        !scripts[0].contains("systemctl daemon-reload"),
        "{}",
        scripts[0]
    );
    // The enable leaves the manager's reload to a stamped one, which the next run's
    // `daemon_reload` then skips; the start follows it.
    let enable = scripts[1].find("systemctl --no-reload enable etcd\n");
    let reload = scripts[1].find("\nsystemctl daemon-reload ||");
    let start = scripts[1].find("\nsystemctl start etcd\n");
    assert!(
        enable.is_some() && enable < reload && reload < start,
        "{}",
        scripts[1]
    );
}

#[tokio::test]
async fn systemd_reloads_in_a_second_probe_when_the_first_says_it_is_due() {
    // After the reload (and the enable that went with it) the unit is known and enabled.
    let after = sections(&[
        ("pre", "Created symlink.\nrc=0\n"),
        ("show", INACTIVE),
        ("enabled", "enabled\nrc=0\n"),
    ]);
    let first = sections(&[
        ("reload", "needed\n"),
        ("show", "LoadState=not-found\n"),
        ("enabled", "disabled\nrc=1\n"),
    ]);
    let host = Scripted::printing(HOST, &[&first, &after, ""]);
    let r = run(
        "systemd",
        json!({"name": "etcd", "state": "started", "enabled": true, "daemon_reload": true}),
        false,
        &host,
    )
    .await;
    assert!(r.changed && !r.failed, "{r:?}");
    let scripts = host.scripts();
    assert_eq!(
        scripts.len(),
        3,
        "ask, enable+reload and look again, change"
    );
    // One reload serves the new unit file and the enable.
    let enable = scripts[1].find("systemctl --no-reload enable etcd");
    let reload = scripts[1].find("\nsystemctl daemon-reload ||");
    assert!(enable.is_some() && enable < reload, "{}", scripts[1]);
    assert!(
        scripts[2].contains("systemctl start etcd"),
        "{}",
        scripts[2]
    );
    assert!(
        !scripts[2].contains("enable") && !scripts[2].contains("daemon-reload"),
        "{}",
        scripts[2]
    );
    assert_eq!(
        r.data["status"]["LoadState"], "loaded",
        "the state after the reload counts"
    );
}

#[tokio::test]
async fn systemd_reports_an_enable_that_failed_with_the_reload() {
    let first = sections(&[
        ("reload", "needed\n"),
        ("show", "LoadState=not-found\n"),
        ("enabled", "\nrc=1\n"),
    ]);
    let after = sections(&[(
        "pre",
        "Failed to enable unit: Unit file etcd.service does not exist.\nrc=1\n",
    )]);
    let host = Scripted::printing(HOST, &[&first, &after, ""]);
    let r = run(
        "systemd",
        json!({"name": "etcd", "enabled": true, "daemon_reload": true}),
        false,
        &host,
    )
    .await;
    assert!(r.failed, "{r:?}");
    assert_eq!(r.msg.as_deref(), Some("Unable to enable service etcd: Failed to enable unit: Unit file etcd.service does not exist."));
    assert_eq!(
        host.scripts().len(),
        2,
        "nothing runs after the failed enable"
    );
}

#[tokio::test]
async fn systemd_ok_and_check_mode_cost_one_exec() {
    let host = probed(&[("show", ACTIVE), ("enabled", "enabled\nrc=0\n")]);
    let r = run(
        "systemd",
        json!({"name": "etcd", "state": "started", "enabled": true}),
        false,
        &host,
    )
    .await;
    assert!(!r.changed && !r.failed);
    assert_eq!(host.scripts().len(), 1);
    let host = probed(&[("show", INACTIVE), ("enabled", "disabled\nrc=1\n")]);
    let r = run(
        "service",
        json!({"name": "etcd", "state": "started"}),
        true,
        &host,
    )
    .await;
    assert!(r.changed);
    assert_eq!(
        host.scripts().len(),
        1,
        "check mode must not run the change"
    );
    assert!(!host.scripts()[0].contains("daemon-reload"));
}

// Ansible's systemd module on a running unit: `state: restarted` is changed and its result
// says `"state": "started"` (ansible-core's service target asserts it); with `-l`,
// `is-enabled` of a unit enabled through `Also=` answers `indirect` and the links, which
// Ansible reads as enabled (`enabled: true` is then no change).
#[tokio::test]
async fn systemd_restarted_reports_started_and_also_units_count_as_enabled() {
    let host = probed(&[
        ("show", ACTIVE),
        (
            "enabled",
            "indirect\n  /etc/systemd/system/sockets.target.wants/etcd.socket\nrc=0\n",
        ),
    ]);
    let r = run(
        "service",
        json!({"name": "etcd", "state": "restarted", "enabled": true}),
        true,
        &host,
    )
    .await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(r.data["state"], "started");
    assert_eq!(r.data["enabled"], true);
    let probe = &host.scripts()[0];
    assert!(probe.contains("is-enabled etcd -l"), "{probe}");
}

// `SYSTEMD_OFFLINE=1` (ansible-core's systemd target, "check that the module works even when
// systemd is offline"): systemctl 252 answers `show` with "Running in chroot, ignoring command
// 'show'" and nothing else; Ansible's module warns ("Target is a chroot or systemd is
// offline...") and reports the state asked for, unchanged.
#[tokio::test]
async fn systemd_offline_only_warns() {
    let host = probed(&[
        ("show", "Running in chroot, ignoring command 'show'\n"),
        ("enabled", "rc=0\n"),
    ]);
    let r = run(
        "systemd",
        json!({"name": "ssh", "state": "started"}),
        false,
        &host,
    )
    .await;
    assert!(!r.changed && !r.failed, "{r:?}");
    assert_eq!(r.data["state"], "started");
    assert!(r.data["warnings"][0]
        .as_str()
        .is_some_and(|w| w.starts_with("Target is a chroot or systemd is offline")));
}

#[tokio::test]
async fn systemd_missing_unit_fails() {
    let host = probed(&[
        (
            "show",
            "Id=nope.service\nLoadState=not-found\nActiveState=inactive\n",
        ),
        ("enabled", "rc=4\n"),
    ]);
    let r = run(
        "systemd",
        json!({"name": "nope", "state": "started"}),
        false,
        &host,
    )
    .await;
    assert!(r.failed);
    assert_eq!(
        r.msg.as_deref(),
        Some("Could not find the requested service nope: host")
    );
}

#[tokio::test]
async fn user_is_created_and_left_alone_when_equal() {
    let host = probed_then(
        &[
            ("passwd", ""),
            ("primary", ""),
            ("groups", ""),
            ("g0", "yes\n"),
        ],
        "etcd:x:997:997::/home/etcd:/usr/sbin/nologin\n",
    );
    let r = run("user", json!({"name": "etcd", "system": true, "create_home": false, "shell": "/usr/sbin/nologin", "groups": "ssl-cert"}), false, &host).await;
    assert!(r.changed, "{r:?}");
    assert_eq!(
        host.scripts()[1],
        "set -e\nuseradd -G ssl-cert -s /usr/sbin/nologin -M -r etcd\ngetent passwd etcd\n"
    );
    // The uid and home useradd chose are read back, as Ansible reports them.
    assert_eq!(r.data["uid"], 997);
    assert_eq!(r.data["home"], "/home/etcd");

    let host = probed(&[
        (
            "passwd",
            "etcd:x:998:998::/var/lib/etcd:/usr/sbin/nologin\n",
        ),
        ("primary", "etcd:x:998:\n"),
        ("groups", "etcd ssl-cert\n"),
        ("g0", "yes\n"),
    ]);
    let r = run(
        "user",
        json!({"name": "etcd", "shell": "/usr/sbin/nologin", "groups": ["ssl-cert"]}),
        false,
        &host,
    )
    .await;
    assert!(!r.changed && !r.failed, "{r:?}");
    assert_eq!(r.data["uid"], 998);
    assert_eq!(host.scripts().len(), 1);

    let host = probed(&[("passwd", ""), ("primary", ""), ("groups", ""), ("g0", "")]);
    let r = run(
        "user",
        json!({"name": "etcd", "groups": ["nosuch"]}),
        false,
        &host,
    )
    .await;
    assert!(r.failed && r.msg.as_deref() == Some("Group nosuch does not exist"));
}

#[tokio::test]
async fn group_gid_change() {
    let host = probed(&[("group", "etcd:x:998:\n")]);
    let r = run("group", json!({"name": "etcd", "gid": 2379}), false, &host).await;
    assert!(r.changed);
    // After the check that the command exists (Ansible's get_bin_path).
    assert!(
        host.scripts()[1].ends_with("\ngroupmod -g 2379 etcd && getent group etcd"),
        "{}",
        host.scripts()[1]
    );
    // A new group reports the gid groupadd chose.
    let host = probed_then(&[("group", "")], "etcd:x:996:\n");
    let r = run(
        "group",
        json!({"name": "etcd", "system": true}),
        false,
        &host,
    )
    .await;
    assert!(r.changed);
    assert!(host.scripts()[1].ends_with("\ngroupadd -r etcd && getent group etcd"));
    assert_eq!(r.data["gid"], 996);
    let host = probed(&[("group", "etcd:x:998:\n")]);
    let r = run(
        "group",
        json!({"name": "etcd", "system": true}),
        false,
        &host,
    )
    .await;
    assert!(!r.changed);
    assert_eq!(r.data["gid"], 998);
}

/// A call without check, diff or become.
#[tokio::test]
async fn apt_key_without_gpg_fails_as_get_bin_path_does() {
    // ansible-core 2.19.14's apt_key target on a Debian 12 lab host (apt-key, no gpg), under
    // ansible-playbook 2.19.14: "Ensure key is not there to start with." fails with
    // `Failed to find required executable "gpg" in paths: /usr/local/sbin:/usr/local/bin:
    // /usr/sbin:/usr/bin:/sbin:/bin` (the module's `get_bin_path(required=True)` fails itself).
    let paths = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n";
    let host = probed(&[("bins", "apt-key\n"), ("paths", paths), ("list", "rc=0\n")]);
    let args = json!({"id": "36A1D7869245C8950F966E92D8576A8BA88D21E9", "state": "absent"});
    let r = run("apt_key", args.clone(), false, &host).await;
    assert!(r.failed && !r.changed, "{r:?}");
    assert_eq!(
        r.msg.as_deref(),
        Some(
            "Failed to find required executable \"gpg\" in paths: \
             /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        )
    );
    let host = probed(&[("bins", ""), ("paths", "/usr/bin:/bin:/sbin\n")]);
    let r = run("apt_key", args, false, &host).await;
    assert_eq!(
        r.msg.as_deref(),
        Some("Failed to find required executable \"apt-key\" in paths: /usr/bin:/bin:/sbin")
    );
}

/// `first_probe` (the engine's read-ahead) finds exactly the request the module then sends
/// first, and only for modules whose first request reads.
#[tokio::test]
async fn first_probe_is_the_request_the_module_sends_first() {
    let control = Control::new(std::env::temp_dir());
    let cases = [
        (
            "file",
            json!({"path": "/opt/app", "state": "directory", "mode": "0755"}),
        ),
        ("copy", json!({"content": "x\n", "dest": "/opt/app/motd"})),
        (
            "lineinfile",
            json!({"path": "/opt/app/env", "line": "A=1", "regexp": "^A="}),
        ),
        (
            "systemd",
            json!({"name": "etcd", "state": "started", "daemon_reload": true}),
        ),
        (
            "ansible.builtin.service",
            json!({"name": "etcd", "state": "started"}),
        ),
        ("setup", json!({})),
        ("stat", json!({"path": "/etc/hosts", "follow": true})),
        (
            "replace",
            json!({"path": "/opt/app/env", "regexp": "^A=.*", "replace": "A=2"}),
        ),
    ];
    for (name, args) in cases {
        let map = args.as_object().cloned().unwrap();
        let call = common::call(name, &map, false, false, &control);
        let probe = etcdplay_modules::first_probe(call);
        let host = probed(&[
            ("stat", ""),
            ("show", ACTIVE),
            ("enabled", "enabled\nrc=0\n"),
        ]);
        let _ = etcdplay_modules::run(call, &host).await;
        assert_eq!(
            probe.map(|p| p.script),
            host.scripts().first().cloned(),
            "{name}"
        );
        assert!(host.puts().is_empty(), "{name}: these calls never upload");
    }
    // A template's probe does not depend on its content: found even where the template
    // cannot be rendered yet (before facts), and without reading it.
    let args = json!({"src": "no-such-template.j2", "dest": "/opt/app/conf"});
    let map = args.as_object().cloned().unwrap();
    let call = common::call("template", &map, false, false, &control);
    let probe = etcdplay_modules::first_probe(call).expect("template probe");
    assert!(probe.script.contains("ep_stat \"$d\""), "{}", probe.script);
    let not_reads = [
        ("command", json!({"cmd": "touch /x"})),
        ("systemd", json!({"daemon_reload": true})),
        ("systemd", json!({"name": "etcd", "daemon_reexec": true})),
        (
            "systemd",
            json!({"name": "etcd", "daemon_reload": true, "scope": "user"}),
        ),
        ("file", json!({"path": "/x", "state": "nonsense"})),
    ];
    for (name, args) in not_reads {
        let map = args.as_object().cloned().unwrap();
        let call = common::call(name, &map, false, false, &control);
        assert!(
            etcdplay_modules::first_probe(call).is_none(),
            "{name} {args}"
        );
    }
}

/// Records the first request and answers none: the run stops at its first exec, upload or
/// download, so the request recorded is the one it sends first, whatever the module.
#[derive(Default)]
struct FirstOnly {
    scripts: Mutex<Vec<String>>,
}

#[async_trait]
impl Transport for FirstOnly {
    fn host(&self) -> &str {
        "etcd-1"
    }
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        self.scripts.lock().unwrap().push(request.script);
        Err(self.stop())
    }
    async fn put(&self, _request: PutRequest) -> Result<(), TransportError> {
        Err(self.stop())
    }
    async fn get(&self, _path: &str, _b: Option<&Become>) -> Result<Vec<u8>, TransportError> {
        Err(self.stop())
    }
    async fn close(&self) -> Result<(), TransportError> {
        Ok(())
    }
}

impl FirstOnly {
    fn stop(&self) -> TransportError {
        TransportError::Unreachable {
            host: "etcd-1".into(),
            reason: "the test stops after the first request".into(),
        }
    }
}

/// The modules of issue #16 item 3 whose first request only reads: the read-ahead's
/// `first_probe` is exactly what the run sends first (and debug builds assert the run sent the
/// probe type its registry entry declares).
#[tokio::test]
async fn the_system_modules_read_ahead_what_they_send_first() {
    let control = Control::new(std::env::temp_dir());
    let cases = [
        (
            "find",
            json!({"paths": ["/etc", "/srv"], "recurse": true, "depth": 2}),
        ),
        ("cron", json!({"name": "x", "job": "true", "user": "etcd"})),
        (
            "cron",
            json!({"name": "x", "job": "true", "user": "root", "cron_file": "backup"}),
        ),
        ("assemble", json!({"src": "/etc/ssh", "dest": "/tmp/x"})),
        ("hostname", json!({"name": "h", "use": "generic"})),
        ("community.general.timezone", json!({"name": "Etc/UTC"})),
        (
            "ansible.posix.authorized_key",
            json!({"user": "root", "key": "ssh-ed25519 AAAA x", "follow": true}),
        ),
        (
            "known_hosts",
            json!({"name": "Lab1", "key": "lab1 ssh-rsa AAAA", "path": "/etc/ssh/k"}),
        ),
        (
            "community.general.modprobe",
            json!({"name": "br-netfilter"}),
        ),
        (
            "ansible.posix.mount",
            json!({"path": "/mnt", "src": "tmpfs", "fstype": "tmpfs", "state": "mounted"}),
        ),
        (
            "community.general.locale_gen",
            json!({"name": "en_US.UTF-8"}),
        ),
        (
            "ansible.posix.sysctl",
            json!({"name": "vm.swappiness", "value": 10, "sysctl_file": "/etc/sysctl.d/9.conf"}),
        ),
        (
            "sysctl",
            json!({"name": "net.ipv4.ip_forward", "state": "absent"}),
        ),
        (
            "apt",
            json!({"name": ["etcd", "jq=1.6*"], "state": "present"}),
        ),
        (
            "ansible.builtin.apt",
            json!({"name": "etcd", "state": "latest"}),
        ),
        (
            "package",
            json!({"name": ["etcd", "jq"], "state": "present"}),
        ),
    ];
    for (name, args) in cases {
        let map = args.as_object().cloned().unwrap();
        let call = common::call(name, &map, false, false, &control);
        let probe = etcdplay_modules::first_probe(call).map(|p| p.script);
        assert!(probe.is_some(), "{name} declares a probe");
        let host = FirstOnly::default();
        let _ = etcdplay_modules::run(call, &host).await;
        let sent = host.scripts.lock().unwrap().first().cloned();
        assert_eq!(probe, sent, "{name} {args}");
    }
    // Ansible refuses `cron_file: /etc/crontab` before reading anything ("Will not manage
    // /etc/crontab via cron_file, see documentation."): no probe to read ahead, none sent.
    let args = json!({"name": "x", "job": "true", "cron_file": "/etc/crontab"});
    let map = args.as_object().cloned().unwrap();
    let call = common::call("cron", &map, false, false, &control);
    assert!(etcdplay_modules::first_probe(call).is_none());
    let host = FirstOnly::default();
    let r = etcdplay_modules::run(call, &host).await.unwrap();
    assert!(r.failed && host.scripts.lock().unwrap().is_empty());
}

/// The arguments the merge of wt-harness brought (file times and `follow`, copy's `mode:
/// preserve` and `validate`, service's `daemon_reload`) keep the read-ahead's probe equal to the
/// run's first request; the calls whose first request is not the declared probe (`file`'s
/// `_diff_peek`, a control-node directory `src: dir/`, a `~` path expanded first) have none.
#[tokio::test]
async fn ported_arguments_read_ahead_what_they_send_first() {
    let control = Control::new(std::env::temp_dir());
    let cases = [
        (
            "file",
            json!({"path": "/opt/app/f", "state": "touch",
                   "modification_time": "202401021530.00", "access_time": "preserve"}),
        ),
        (
            "file",
            json!({"path": "/opt/app/f", "state": "file", "follow": false,
                   "access_time": "202401021530.00"}),
        ),
        (
            "copy",
            json!({"src": "/etc/hosts", "dest": "/tmp/h", "remote_src": true,
                   "mode": "preserve", "validate": "test -s %s"}),
        ),
        (
            "service",
            json!({"name": "etcd", "state": "started", "daemon_reload": true}),
        ),
    ];
    for (name, args) in cases {
        let map = args.as_object().cloned().unwrap();
        let call = common::call(name, &map, false, false, &control);
        let probe = etcdplay_modules::first_probe(call).map(|p| p.script);
        assert!(probe.is_some(), "{name} {args} declares a probe");
        let host = FirstOnly::default();
        let _ = etcdplay_modules::run(call, &host).await;
        let sent = host.scripts.lock().unwrap().first().cloned();
        assert_eq!(probe, sent, "{name} {args}");
    }
    let not_reads = [
        ("file", json!({"path": "/x", "_diff_peek": true})),
        ("copy", json!({"src": "conf/", "dest": "/etc/app/"})),
        ("file", json!({"path": "~/x", "state": "directory"})),
        ("copy", json!({"content": "x", "dest": "~root/x"})),
    ];
    for (name, args) in not_reads {
        let map = args.as_object().cloned().unwrap();
        let call = common::call(name, &map, false, false, &control);
        assert!(
            etcdplay_modules::first_probe(call).is_none(),
            "{name} {args}"
        );
    }
}
