//! The guard against a fake run: a [`TaskContext`] whose hosts, conditions, handlers and
//! transports are set by each test, so the guard's decisions (which hosts it asks, what one
//! probe costs, when it stops a task, which handler it notifies) are checked without a play.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use etcdplay_engine::{
    ConnectError, ConnectTarget, ConnectionKind, ContextError, HostStatus, RestartHandler,
    RunContext, RunOptions,
};
use etcdplay_playbook::{ModuleCall, Origin, Task};
use etcdplay_template::Vars;
use etcdplay_transport::{ExecOutput, PutRequest, TransportError};
use serde_json::json;

use super::*;

/// What one fake host holds: its unit's text (`None`: systemd knows no such unit), what
/// `systemctl show` prints for it, and the ctime `stat` prints for every file.
#[derive(Clone, Default)]
struct HostSetup {
    unit: Option<String>,
    show: String,
    ctime: Option<String>,
    unreachable: bool,
    skipped: bool,
}

/// A host that answers the guard's scripts from its [`HostSetup`] and runs the data-dir
/// reader's read-only commands in a local shell; every script is logged.
struct FakeHost {
    name: String,
    setup: HostSetup,
    log: Arc<Mutex<Vec<(String, String)>>>,
}

#[async_trait]
impl Transport for FakeHost {
    fn host(&self) -> &str {
        &self.name
    }

    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        let script = request.script;
        self.log
            .lock()
            .unwrap()
            .push((self.name.clone(), script.clone()));
        let answer = |rc: i32, stdout: String| ExecOutput {
            rc,
            stdout: stdout.into_bytes(),
            stderr: Vec::new(),
        };
        if script.contains("\nt=$(systemctl cat") {
            return Ok(match &self.setup.unit {
                Some(text) if text.contains("etcd") => answer(
                    0,
                    format!(
                        "{text}\n--- etcdplay: systemctl show ---\n{}",
                        self.setup.show
                    ),
                ),
                Some(text) => answer(0, format!("{text}\n--- etcdplay: systemctl show ---\n")),
                None => answer(1, "\n--- etcdplay: systemctl show ---\n".into()),
            });
        }
        if script.contains("stat -L -c %z") {
            let line = self.setup.ctime.clone().unwrap_or_else(|| "-".into());
            return Ok(answer(0, format!("{line}\n").repeat(16)));
        }
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .output()
            .map_err(|source| TransportError::Io {
                host: self.name.clone(),
                source,
            })?;
        Ok(ExecOutput {
            rc: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    async fn put(&self, request: PutRequest) -> Result<(), TransportError> {
        panic!("{}: the guard wrote {}", self.name, request.dest);
    }

    async fn get(&self, path: &str, _become: Option<&Become>) -> Result<Vec<u8>, TransportError> {
        Err(TransportError::File {
            host: self.name.clone(),
            path: path.into(),
            message: "No such file or directory".into(),
        })
    }

    async fn close(&self) -> Result<(), TransportError> {
        Ok(())
    }
}

/// The run and the task at once: what a play would answer, from the test's setup.
struct FakeRun {
    options: RunOptions,
    hosts: BTreeMap<String, HostSetup>,
    task: Task,
    call: ModuleCall,
    handlers: Vec<RestartHandler>,
    pending: Vec<String>,
    log: Arc<Mutex<Vec<(String, String)>>>,
    warnings: Mutex<Vec<String>>,
    notified: Mutex<Vec<(String, Vec<String>)>>,
}

impl FakeRun {
    fn new(action: &str, args: Value) -> FakeRun {
        let origin = Origin {
            file: "site.yml".into(),
            line: 3,
            col: 7,
        };
        FakeRun {
            options: RunOptions::default(),
            hosts: BTreeMap::new(),
            task: Task::empty(origin.clone(), None),
            call: ModuleCall {
                name: action.into(),
                args: args.as_object().cloned().unwrap_or_default(),
                args_origin: origin,
            },
            handlers: Vec::new(),
            pending: Vec::new(),
            log: Arc::default(),
            warnings: Mutex::default(),
            notified: Mutex::default(),
        }
    }

    fn host(mut self, name: &str, setup: HostSetup) -> FakeRun {
        self.hosts.insert(name.into(), setup);
        self
    }

    fn names(&self) -> Vec<String> {
        self.hosts.keys().cloned().collect()
    }

    /// The scripts each host was sent, in order.
    fn sent(&self, host: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|(h, _)| h == host)
            .map(|(_, s)| s.clone())
            .collect()
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.lock().unwrap().clone()
    }

    fn notified(&self) -> Vec<(String, Vec<String>)> {
        self.notified.lock().unwrap().clone()
    }
}

#[async_trait]
impl RunContext for FakeRun {
    fn options(&self) -> &RunOptions {
        &self.options
    }

    fn render(&self, text: &str, _origin: &str, _vars: &Vars) -> Result<String, ContextError> {
        Ok(text.to_string())
    }

    fn host_vars(&self, host: &str) -> Vars {
        let mut vars = Vars::default();
        vars.insert("inventory_hostname", json!(host));
        vars
    }

    fn facts(&self, _host: &str) -> Map<String, Value> {
        Map::new()
    }

    fn warning(&self, message: &str) {
        self.warnings.lock().unwrap().push(message.to_string());
    }

    async fn transport(&self, target: &ConnectTarget) -> Result<Arc<dyn Transport>, ConnectError> {
        let setup = self.hosts[&target.host].clone();
        if setup.unreachable {
            return Err(ConnectError::from(TransportError::Unreachable {
                host: target.host.clone(),
                reason: "connection refused".into(),
            }));
        }
        Ok(Arc::new(FakeHost {
            name: target.host.clone(),
            setup,
            log: self.log.clone(),
        }))
    }
}

impl TaskContext for FakeRun {
    fn run(&self) -> &dyn RunContext {
        self
    }

    fn task(&self) -> &Task {
        &self.task
    }

    fn call(&self) -> &ModuleCall {
        &self.call
    }

    fn vars(&self, host: &str) -> Vars {
        self.host_vars(host)
    }

    fn conditions_hold(&self, vars: &Vars) -> Result<bool, ContextError> {
        let host = vars.raw("inventory_hostname").and_then(Value::as_str);
        Ok(!host.is_some_and(|h| self.hosts[h].skipped))
    }

    fn module_args(&self, _vars: &Vars) -> Result<Map<String, Value>, ContextError> {
        Ok(self.call.args.clone())
    }

    fn delegate_to(&self, _vars: &Vars) -> Result<Option<String>, ContextError> {
        Ok(None)
    }

    fn target(
        &self,
        host: &str,
        _vars: &Vars,
        delegate: Option<&str>,
    ) -> Result<ConnectTarget, ContextError> {
        let name = delegate.unwrap_or(host).to_string();
        Ok(ConnectTarget {
            address: name.clone(),
            host: name,
            port: None,
            user: Some("root".into()),
            key_file: None,
            ssh_settings: Vec::new(),
            kind: ConnectionKind::Ssh,
        })
    }

    fn restart_handlers(&self, _host: &str, _unit: &str) -> Vec<RestartHandler> {
        self.handlers.clone()
    }

    fn pending_notifications(&self, _host: &str) -> Vec<String> {
        self.pending.clone()
    }

    fn notify(&self, host: &str, names: Vec<String>) {
        self.notified
            .lock()
            .unwrap()
            .push((host.to_string(), names));
    }
}

fn start(state: &str) -> Value {
    json!({"name": "etcd", "state": state})
}

/// An etcd unit on a data dir that does not exist yet (a fresh member: the check passes).
fn etcd_unit(extra: &str) -> String {
    let dir = std::env::temp_dir().join(format!("etcdplay-guard-test-{}", std::process::id()));
    format!(
        "# /etc/systemd/system/etcd.service\n[Service]\n{extra}ExecStart=/usr/local/bin/etcd --name m1 --data-dir {}/never-made --listen-peer-urls http://127.0.0.1:2380\n",
        dir.display()
    )
}

const SSH_UNIT: &str =
    "# /lib/systemd/system/ssh.service\n[Service]\nExecStart=/usr/sbin/sshd -D\n";

/// `systemctl show` of an etcd that runs since 23:52:10 (its unit file is `FRAGMENT`).
const RUNNING: &str = "ActiveState=active\nMainPID=4242\nExecMainStartTimestamp=Fri 2026-11-27 23:52:10.123456 UTC\nFragmentPath=/etc/systemd/system/etcd.service\nDropInPaths=\n";

fn handler(notify: &str, action: &str) -> RestartHandler {
    RestartHandler {
        notify: notify.into(),
        answers_to: vec![notify.into()],
        action: action.into(),
    }
}

/// A stale member: its unit file changed four minutes after etcd started.
fn stale_member() -> HostSetup {
    HostSetup {
        unit: Some(etcd_unit("")),
        show: RUNNING.into(),
        ctime: Some("2026-11-27 23:56:00.000000000 +0000".into()),
        ..HostSetup::default()
    }
}

#[tokio::test]
async fn a_task_that_starts_no_unit_asks_no_host() {
    for (action, args) in [
        (
            "copy",
            json!({"dest": "/etc/etcd/etcd.env", "content": "x"}),
        ),
        ("systemd", start("stopped")),
        ("systemd", json!({"name": "etcd", "enabled": true})),
    ] {
        let run = FakeRun::new(action, args).host("m1", stale_member());
        let decided = preflight(&run, &run.names()).await;
        assert!(matches!(decided, Preflight::Proceed), "{action}");
        assert!(run.sent("m1").is_empty(), "{action}: {:?}", run.sent("m1"));
    }
}

#[tokio::test]
async fn a_unit_that_does_not_run_etcd_costs_one_probe_and_hosts_the_task_skips_none() {
    let run = FakeRun::new("ansible.builtin.systemd", start("restarted"))
        .host(
            "m1",
            HostSetup {
                unit: Some(SSH_UNIT.into()),
                ..HostSetup::default()
            },
        )
        .host(
            "m2",
            HostSetup {
                skipped: true,
                ..stale_member()
            },
        )
        .host(
            "m3",
            HostSetup {
                unreachable: true,
                ..stale_member()
            },
        );
    let decided = preflight(&run, &run.names()).await;
    assert!(matches!(decided, Preflight::Proceed));
    let sent = run.sent("m1");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains("\nt=$(systemctl cat -- 'etcd'"),
        "{}",
        sent[0]
    );
    assert!(run.sent("m2").is_empty(), "its `when:` is false");
    assert!(run.sent("m3").is_empty(), "the task reports it unreachable");
}

#[tokio::test]
async fn an_unreadable_setting_stops_the_task_on_every_host() {
    let run = FakeRun::new("systemd", start("started"))
        .host(
            "m1",
            HostSetup {
                unit: Some(etcd_unit("EnvironmentFile=/etc/etcd/etcd.env\n")),
                show: RUNNING.into(),
                ..HostSetup::default()
            },
        )
        .host(
            "m2",
            HostSetup {
                unit: Some(SSH_UNIT.into()),
                ..HostSetup::default()
            },
        );
    let Preflight::Stop(events) = preflight(&run, &run.names()).await else {
        panic!("the guard let a start it cannot verify go on");
    };
    let by_host: BTreeMap<&str, &HostEvent> = events.iter().map(|e| (e.host.as_str(), e)).collect();
    assert_eq!(by_host.len(), 2);
    assert!(events.iter().all(|e| e.status == HostStatus::Failed));
    let m1 = by_host["m1"].msg.as_deref().unwrap();
    assert!(
        m1.starts_with(
            "data-dir scheme check cannot verify m1: etcd: EnvironmentFile /etc/etcd/etcd.env:"
        ),
        "{m1}"
    );
    assert!(m1.contains("nothing was changed"), "{m1}");
    assert_eq!(by_host["m1"].result["verdict"], "cannot_verify");
    let m2 = by_host["m2"].msg.as_deref().unwrap();
    assert!(
        m2.starts_with("not started: the data-dir scheme check refused on m1"),
        "{m2}"
    );
    assert!(run.notified().is_empty());
}

#[tokio::test]
async fn a_stale_member_gets_the_quorum_guarded_restart_handler() {
    let mut run = FakeRun::new("systemd", start("started")).host("m1", stale_member());
    run.handlers = vec![
        handler("restart etcd plainly", "systemd"),
        handler("restart etcd", "etcd_member_restart"),
    ];
    let decided = preflight(&run, &run.names()).await;
    assert!(matches!(decided, Preflight::Proceed));
    assert_eq!(
        run.notified(),
        vec![("m1".to_string(), vec!["restart etcd".to_string()])]
    );
    let warnings = run.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("m1: etcd is running since 2026-11-27 23:52:10 UTC (pid 4242), configuration changed at 2026-11-27 23:56:00 UTC (/etc/systemd/system/etcd.service"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].ends_with("notifying handler 'restart etcd' to restart it now"),
        "{}",
        warnings[0]
    );
}

#[tokio::test]
async fn a_restart_already_notified_or_impossible_is_not_notified_again() {
    let mut run = FakeRun::new("systemd", start("started")).host("m1", stale_member());
    run.handlers = vec![handler("restart etcd", "systemd")];
    run.pending = vec!["restart etcd".into()];
    assert!(matches!(
        preflight(&run, &run.names()).await,
        Preflight::Proceed
    ));
    assert!(run.notified().is_empty());
    assert!(run.warnings().is_empty(), "{:?}", run.warnings());

    let run = FakeRun::new("systemd", start("started")).host("m1", stale_member());
    assert!(matches!(
        preflight(&run, &run.names()).await,
        Preflight::Proceed
    ));
    assert!(run.notified().is_empty());
    let warnings = run.warnings();
    assert!(
        warnings.len() == 1 && warnings[0].contains("no handler of this play restarts etcd"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn only_started_can_leave_a_member_stale_and_unchanged_members_are_not() {
    // `restarted` restarts it anyway: no `stat` of its inputs.
    let run = FakeRun::new("systemd", start("restarted")).host("m1", stale_member());
    assert!(matches!(
        preflight(&run, &run.names()).await,
        Preflight::Proceed
    ));
    assert!(run.sent("m1").iter().all(|s| !s.contains("stat -L")));
    // Inputs older than the start, or of unknown age: nothing to notify.
    for ctime in [Some("2026-11-27 23:41:41.177738283 +0000"), None] {
        let mut run = FakeRun::new("systemd", start("started")).host(
            "m1",
            HostSetup {
                ctime: ctime.map(str::to_string),
                ..stale_member()
            },
        );
        run.handlers = vec![handler("restart etcd", "etcd_member_restart")];
        assert!(matches!(
            preflight(&run, &run.names()).await,
            Preflight::Proceed
        ));
        assert!(run.notified().is_empty(), "{ctime:?}");
        assert!(run.warnings().is_empty(), "{ctime:?}");
    }
}

#[test]
fn the_read_ahead_gets_the_probe_of_a_start_and_nothing_else() {
    let target = |user: Option<&str>| ConnectTarget {
        host: "m1".into(),
        address: "10.0.0.1".into(),
        port: None,
        user: user.map(str::to_string),
        key_file: None,
        ssh_settings: Vec::new(),
        kind: ConnectionKind::Ssh,
    };
    let args = |v: Value| v.as_object().cloned().unwrap_or_default();
    let probe = first_probe("service", &args(start("reloaded")), &target(Some("root"))).unwrap();
    assert!(probe.script.contains("\nt=$(systemctl cat -- 'etcd'"));
    assert_eq!(probe.become_, None, "the login is root");
    let probe = first_probe("systemd", &args(start("started")), &target(Some("deploy"))).unwrap();
    assert_eq!(probe.become_.map(|b| b.user), Some("root".into()));
    assert!(first_probe("systemd", &args(start("stopped")), &target(None)).is_none());
    assert!(first_probe("copy", &args(start("started")), &target(None)).is_none());
    assert!(first_probe(
        "systemd",
        &args(json!({"name": "", "state": "started"})),
        &target(None)
    )
    .is_none());
}
