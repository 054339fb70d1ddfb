//! A connection that goes away while requests run must not leave their processes running on
//! the host (issue #8): not the script, not what it started in the background (even `nohup`),
//! not what runs through sudo. Three ways to lose it, against a real sshd on 127.0.0.1: the
//! transport dropped mid-request, the ssh master killed, and the process owning the transport
//! SIGKILLed (the master then lives on until ControlPersist, so only the channels close).
//! The remote processes are found by a unique marker in their arguments; whatever a failing
//! case leaves behind is killed by pid at the end.

#![allow(clippy::print_stderr)]

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcdplay_transport::{
    Become, BecomeMethod, ExecRequest, Secret, SshTransport, SuOptions, Transport,
};
use support::{eventually, pids_mentioning, Sshd};

/// How long the host may take to notice; the requests themselves would run for 300 s.
const PROMPTLY: Duration = Duration::from_secs(3);
const CHILD_ENV: &str = "ETCDPLAY_LIFELINE_CHILD";

/// Requests that keep all four remote shells busy, and the markers of the processes each
/// starts: a plain command, background grandchildren (one immune to SIGHUP and SIGTERM), and
/// the same through sudo to root and to another user.
fn busy_requests(tag: &str, with_sudo: bool) -> (Vec<ExecRequest>, Vec<String>) {
    let m = |n: u32| format!("300.{tag}{n:02}s");
    let mut requests = vec![
        ExecRequest::script(format!("sleep {}", m(1))),
        ExecRequest::script(format!(
            "sleep {} & nohup sh -c 'trap \"\" HUP TERM; sleep {}' >/dev/null 2>&1 & sleep {}",
            m(2),
            m(3),
            m(4)
        )),
    ];
    let mut markers = vec![m(1), m(2), m(3), m(4)];
    if with_sudo {
        for (n, user) in [(5, "root"), (6, "nobody")] {
            let mut req = ExecRequest::script(format!("sleep {} & sleep {}", m(n), m(n + 10)));
            req.become_ = Some(Become::sudo(user));
            requests.push(req);
            markers.push(m(n));
            markers.push(m(n + 10));
        }
    }
    (requests, markers)
}

fn running(markers: &[String]) -> Vec<String> {
    markers
        .iter()
        .filter(|m| !pids_mentioning(m).is_empty())
        .cloned()
        .collect()
}

/// Kills (by pid) whatever a failed case left running, so the machine stays clean.
fn kill_leftovers(markers: &[String]) {
    for m in markers {
        for pid in pids_mentioning(m) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// Waits until every marked process runs, then until none does after `lose` is called.
fn assert_all_killed(case: &str, markers: &[String], lose: impl FnOnce()) {
    let started = eventually(Duration::from_secs(20), || {
        running(markers).len() == markers.len()
    });
    if !started {
        let missing: Vec<&String> = markers
            .iter()
            .filter(|m| pids_mentioning(m).is_empty())
            .collect();
        kill_leftovers(markers);
        panic!("{case}: requests did not start: {missing:?} missing");
    }
    let lost = Instant::now();
    lose();
    let gone = eventually(PROMPTLY, || running(markers).is_empty());
    let left = running(markers);
    kill_leftovers(markers);
    assert!(
        gone,
        "{case}: still running {PROMPTLY:?} after the connection was lost: {left:?}"
    );
    eprintln!(
        "{case}: every remote process gone {:?} after the connection was lost",
        lost.elapsed()
    );
}

fn tag(case: u32) -> String {
    format!("{:05}{case}", std::process::id() % 100_000)
}

fn spawn_busy(
    t: &Arc<SshTransport>,
    requests: Vec<ExecRequest>,
) -> Vec<tokio::task::JoinHandle<()>> {
    requests
        .into_iter()
        .map(|req| {
            let t = Arc::clone(t);
            tokio::spawn(async move {
                let _ = t.exec(req).await;
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_transport_kills_running_requests() {
    if !support::available() {
        return;
    }
    let sshd = Sshd::start();
    let (requests, markers) = busy_requests(&tag(1), support::which("sudo"));
    let t = Arc::new(SshTransport::connect(sshd.options("node1")).await.unwrap());
    let tasks = spawn_busy(&t, requests);
    let lose = || {
        for task in &tasks {
            task.abort();
        }
    };
    tokio::task::block_in_place(|| assert_all_killed("transport dropped", &markers, lose));
    drop(t);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_master_kills_running_requests() {
    if !support::available() {
        return;
    }
    let sshd = Sshd::start();
    let (requests, markers) = busy_requests(&tag(2), support::which("sudo"));
    let t = Arc::new(SshTransport::connect(sshd.options("node1")).await.unwrap());
    let socket = t.control_socket().to_string_lossy().into_owned();
    let _tasks = spawn_busy(&t, requests);
    let lose = || {
        for pid in pids_mentioning(&socket) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    };
    tokio::task::block_in_place(|| assert_all_killed("ssh master killed", &markers, lose));
}

/// The real `kill -9 etcdplay`: the process that owns the transport dies without a word, its
/// ssh master survives it. The master must then exit too, once ControlPersist has passed.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_owner_process_kills_running_requests_and_its_master_exits() {
    if !support::available() {
        return;
    }
    let sshd = Sshd::start();
    let tag = tag(3);
    let (_, markers) = busy_requests(&tag, support::which("sudo"));
    let control_dir = sshd.path("c").to_string_lossy().into_owned();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["owner_process", "--exact", "--ignored", "--nocapture"])
        .env(
            CHILD_ENV,
            format!("{}\n{}\n{}", sshd.dir.path().display(), sshd.port, tag),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child_pid = child.id();
    let lose = || {
        let _ = Command::new("kill")
            .args(["-9", &child_pid.to_string()])
            .status();
    };
    let masters = || pids_mentioning(&control_dir);
    assert_all_killed("owner SIGKILLed", &markers, lose);
    let _ = child.wait();
    // The remote loops of the dead process are gone as well.
    let loops = format!("etcdplay-{child_pid}-");
    assert!(
        eventually(PROMPTLY, || pids_mentioning(&loops).is_empty()),
        "remote loops left"
    );
    let started = Instant::now();
    let gone = eventually(Duration::from_secs(15), || masters().is_empty());
    let left = masters();
    for pid in &left {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    assert!(
        gone,
        "ssh master still running 15 s after its owner was killed: {left:?}"
    );
    eprintln!(
        "ssh master exited {:?} after the remote processes were gone",
        started.elapsed()
    );
}

/// The child process of the test above: connects, starts the busy requests and waits to be
/// killed. Does nothing when run without the test's environment.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "child process of a_killed_owner_process_kills_running_requests_and_its_master_exits"]
async fn owner_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.lines();
    let (Some(dir), Some(port), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("bad {CHILD_ENV}: {spec:?}");
    };
    let opts = support::options_for(std::path::Path::new(dir), port.parse().unwrap(), "node1");
    let t = Arc::new(SshTransport::connect(opts).await.unwrap());
    let (requests, _) = busy_requests(tag, support::which("sudo"));
    let _tasks = spawn_busy(&t, requests);
    tokio::time::sleep(Duration::from_secs(600)).await;
}

async fn run_as(t: &SshTransport, script: &str, user: Option<&str>) -> (i32, String) {
    let mut req = ExecRequest::script(script);
    req.become_ = user.map(Become::sudo);
    let out = t.exec(req).await.unwrap();
    (out.rc, out.stdout_str())
}

/// A login that is not root cannot signal what runs as root through sudo, so there the sudo
/// side watches the connection itself. Its watcher must not fire when the script merely kills
/// the sudo shell, which would take the loop down with it.
#[tokio::test(flavor = "multi_thread")]
async fn an_unprivileged_login_loses_its_become_root_processes_too() {
    if !support::available() || !support::which("sudo") {
        return;
    }
    let Some(user) = support::TempUser::create() else {
        eprintln!("SKIPPED: cannot create a user");
        return;
    };
    let Some(_rule) = support::SudoRule::allow(&user) else {
        eprintln!("SKIPPED: cannot write a sudoers rule");
        return;
    };
    let sshd = Sshd::start();
    for (case, how) in [(4, "master killed"), (5, "transport dropped")] {
        let mut opts = sshd.options("node1");
        opts.user = Some(user.name.clone());
        let t = Arc::new(SshTransport::connect(opts).await.unwrap());
        assert_eq!(
            run_as(&t, "id -un", None).await,
            (0, format!("{}\n", user.name))
        );
        assert_eq!(
            run_as(&t, "id -un", Some("root")).await,
            (0, "root\n".into())
        );
        assert_eq!(run_as(&t, "kill -9 $$", Some("root")).await.0, 137);
        // Input, output, stderr and exit code pass the watcher unchanged (no "Killed").
        let mut req = ExecRequest::script("cat; echo \" $(id -un)\"; echo err >&2; exit 3");
        req.stdin = b"in\0put".to_vec();
        req.become_ = Some(Become::sudo("root"));
        let out = t.exec(req).await.unwrap();
        assert_eq!(
            (out.rc, out.stdout.as_slice(), out.stderr.as_slice()),
            (3, b"in\0put root\n".as_slice(), b"err\n".as_slice())
        );
        let (requests, markers) = busy_requests(&tag(case), true);
        let socket = t.control_socket().to_string_lossy().into_owned();
        let tasks = spawn_busy(&t, requests);
        let lose = || match case {
            4 => {
                for pid in pids_mentioning(&socket) {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            }
            _ => tasks.iter().for_each(|task| task.abort()),
        };
        let case = format!("unprivileged login, {how}");
        tokio::task::block_in_place(|| assert_all_killed(&case, &markers, lose));
    }
}

/// A user of this test only, with a password, for su to become; removed at the end.
struct SuTarget {
    name: String,
}

impl SuTarget {
    const PASSWORD: &'static str = "Su-target pw 1";

    fn create() -> Option<SuTarget> {
        let name = format!("epsu{}", std::process::id());
        let made = Command::new("/usr/sbin/useradd")
            .args(["-M", "-d", "/nonexistent", "-s", "/bin/sh", &name])
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            return None;
        }
        let target = SuTarget { name };
        let mut chpasswd = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .ok()?;
        use std::io::Write;
        let mut input = chpasswd.stdin.take()?;
        writeln!(input, "{}:{}", target.name, Self::PASSWORD).ok()?;
        drop(input);
        chpasswd.wait().ok()?.success().then_some(target)
    }
}

impl Drop for SuTarget {
    fn drop(&mut self) {
        eventually(Duration::from_secs(10), || {
            Command::new("/usr/sbin/userdel")
                .arg(&self.name)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    }
}

/// `become_method: su` from a login that is not root: neither the login nor its relay may
/// signal the target user's processes, so the su'd shell's own watcher ends them when the
/// connection goes, as the sudo side's does.
#[tokio::test(flavor = "multi_thread")]
async fn an_unprivileged_login_loses_its_su_processes_too() {
    if !support::available() || !support::which("su") {
        return;
    }
    let Some(login) = support::TempUser::create() else {
        eprintln!("SKIPPED: cannot create a user");
        return;
    };
    let Some(target) = SuTarget::create() else {
        eprintln!("SKIPPED: cannot create the su target");
        return;
    };
    let su = || {
        Some(Become {
            user: target.name.clone(),
            method: BecomeMethod::Su(SuOptions {
                password: Some(Secret::new(SuTarget::PASSWORD)),
                ..SuOptions::default()
            }),
        })
    };
    let sshd = Sshd::start();
    let mut opts = sshd.options("node1");
    opts.user = Some(login.name.clone());
    let t = Arc::new(SshTransport::connect(opts).await.unwrap());
    let mut req = ExecRequest::script("cat; echo \" $(id -un)\"; echo err >&2; exit 3");
    req.stdin = b"in\0put".to_vec();
    req.become_ = su();
    let out = t.exec(req).await.unwrap();
    assert_eq!(
        (out.rc, out.stdout_str(), out.stderr_str()),
        (3, format!("in\0put {}\n", target.name), "err\n".to_string())
    );
    let m = |n: u32| format!("300.{}{n:02}s", tag(7));
    let mut requests = Vec::new();
    let mut markers = Vec::new();
    for n in [1, 2] {
        let mut req = ExecRequest::script(format!("sleep {} & sleep {}", m(n), m(n + 10)));
        req.become_ = su();
        requests.push(req);
        markers.extend([m(n), m(n + 10)]);
    }
    let tasks = spawn_busy(&t, requests);
    let lose = || tasks.iter().for_each(|task| task.abort());
    tokio::task::block_in_place(|| {
        assert_all_killed("unprivileged login, su, transport dropped", &markers, lose)
    });
}

/// What the lifeline costs on the normal path: sequential requests, plain and through sudo
/// (printed for comparison; the output is checked so the figures are of working requests).
#[tokio::test(flavor = "multi_thread")]
async fn requests_timing_plain_and_become() {
    if !support::available() {
        return;
    }
    let sshd = Sshd::start();
    let t = SshTransport::connect(sshd.options("node1")).await.unwrap();
    let with_sudo = support::which("sudo");
    for become_ in [None, Some("nobody")]
        .into_iter()
        .filter(|b| b.is_none() || with_sudo)
    {
        let n = 100;
        let started = Instant::now();
        for i in 0..n {
            let mut req = ExecRequest::script("read -r x; echo \"$x $(id -un)\"");
            req.stdin = format!("{i}\n").into_bytes();
            req.become_ = become_.map(Become::sudo);
            let out = t.exec(req).await.unwrap();
            let user = become_.unwrap_or("root");
            assert_eq!(
                out.stdout_str(),
                format!("{i} {user}\n"),
                "{}",
                out.stderr_str()
            );
        }
        let each = started.elapsed().as_secs_f64() * 1000.0 / f64::from(n);
        eprintln!(
            "TIMING: {n} sequential requests as {:?}: {each:.2} ms each",
            become_
        );
    }
    t.close().await.unwrap();
}
