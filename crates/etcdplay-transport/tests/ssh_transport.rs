//! End-to-end tests of `SshTransport` against a real sshd on 127.0.0.1 started by the test
//! harness (see `support`). Timings are printed, not asserted tightly.

#![allow(clippy::print_stderr)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use etcdplay_transport::{
    Become, ExecRequest, HostAgent, HostKeyChecking, PutRequest, ShippedBinary, SshOptions,
    SshTransport, Transport, TransportError, AGENT_NAME,
};
use sha2::{Digest, Sha256};
use support::{eventually, pids_mentioning, Sshd};

macro_rules! require_sshd {
    () => {
        if !support::available() {
            return;
        }
    };
}

async fn connect(sshd: &Sshd) -> SshTransport {
    match SshTransport::connect(sshd.options("node1")).await {
        Ok(t) => t,
        Err(e) => panic!("connect failed: {e}\nsshd log:\n{}", sshd.log()),
    }
}

async fn sh(t: &SshTransport, script: &str) -> String {
    let out = t.exec(ExecRequest::script(script)).await.unwrap();
    assert_eq!(out.rc, 0, "{script}: {}", out.stderr_str());
    out.stdout_str()
}

/// Deterministic pseudo-random bytes (xorshift), so the big upload is not trivially compressible.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_round_trip_is_binary_safe() {
    require_sshd!();
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    assert_eq!(t.host(), "node1");

    let mut req = ExecRequest::script("cat; printf 'x\\000y'; printf 'to stderr' >&2; exit 42");
    req.stdin = b"in\0put\n\xff".to_vec();
    let out = t.exec(req).await.unwrap();
    assert_eq!(out.rc, 42);
    assert_eq!(out.stdout, b"in\0put\n\xffx\0y");
    assert_eq!(out.stderr, b"to stderr");

    // Environment travels inside the script, so quoting must survive.
    let mut req = ExecRequest::script("printf '%s|%s' \"$A\" \"$B\"");
    req.env = vec![
        ("A".into(), "it's $HOME".into()),
        ("B".into(), "two\nlines".into()),
    ];
    let out = t.exec(req).await.unwrap();
    assert_eq!(out.stdout_str(), "it's $HOME|two\nlines");

    // No stdin reads as EOF; the shell is still in step after all of the above.
    assert_eq!(sh(&t, "cat; echo done").await, "done\n");
    // A script that kills its own shell does not disturb the loop.
    assert_eq!(
        t.exec(ExecRequest::script("kill -9 $$")).await.unwrap().rc,
        137
    );
    assert_eq!(sh(&t, "id -un").await, "root\n");
    t.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sequential_execs_reuse_one_shell() {
    require_sshd!();
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    let n = 200;
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..n {
        let t0 = Instant::now();
        assert_eq!(sh(&t, &format!("echo {i}")).await, format!("{i}\n"));
        slowest = slowest.max(t0.elapsed());
    }
    let total = started.elapsed();
    eprintln!(
        "TIMING: {n} sequential execs in {:?}: {:.2} ms per exec, slowest {:.2} ms",
        total,
        total.as_secs_f64() * 1000.0 / n as f64,
        slowest.as_secs_f64() * 1000.0
    );
    // All of them ran in the same remote shell process: one channel, not 200.
    let pids: std::collections::HashSet<String> = {
        let mut set = std::collections::HashSet::new();
        for _ in 0..5 {
            set.insert(sh(&t, "echo $PPID").await);
        }
        set
    };
    assert_eq!(pids.len(), 1, "{pids:?}");
    t.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_concurrent_execs_stay_under_max_sessions() {
    require_sshd!();
    let sshd = Sshd::start();
    let t = Arc::new(connect(&sshd).await);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..30 {
        let t = Arc::clone(&t);
        set.spawn(async move {
            let out = t
                .exec(ExecRequest::script(format!(
                    "sleep 0.2; echo {i}; echo $PPID >&2"
                )))
                .await;
            (i, out)
        });
    }
    let mut shells = std::collections::HashSet::new();
    while let Some(joined) = set.join_next().await {
        let (i, out) = joined.unwrap();
        let out = out.unwrap_or_else(|e| panic!("exec {i}: {e}"));
        assert_eq!(out.stdout_str(), format!("{i}\n"));
        shells.insert(out.stderr_str());
    }
    let elapsed = started.elapsed();
    eprintln!(
        "TIMING: 30 concurrent 0.2 s execs took {elapsed:?} using {} remote shells",
        shells.len()
    );
    // Several shells ran in parallel, but never more than the pool allows (sshd would refuse
    // an 11th channel).
    assert!(shells.len() > 1 && shells.len() <= 4, "{shells:?}");
    assert!(
        elapsed < Duration::from_secs(6),
        "requests were not run in parallel: {elapsed:?}"
    );
    t.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn put_is_atomic_with_mode_and_get_reads_back() {
    require_sshd!();
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    let dir = sshd.path("files");
    std::fs::create_dir(&dir).unwrap();
    let dest = dir.join("etcd.conf").to_string_lossy().into_owned();

    std::fs::write(&dest, "old").unwrap();
    let content = b"name: node1\n\0binary\xff".to_vec();
    let req = PutRequest {
        dest: dest.clone(),
        content: content.clone().into(),
        mode: Some(0o600),
        ..PutRequest::default()
    };
    t.put(req).await.unwrap();
    assert_eq!(t.get(&dest, None).await.unwrap(), content);
    assert_eq!(sh(&t, &format!("stat -c %a {dest}")).await, "600\n");

    // Mode kept when not given.
    let req = PutRequest {
        dest: dest.clone(),
        content: b"v2".to_vec().into(),
        ..PutRequest::default()
    };
    t.put(req).await.unwrap();
    assert_eq!(
        sh(&t, &format!("stat -c %a {dest}; cat {dest}")).await,
        "600\nv2"
    );

    // 20 MB goes over its own channel and arrives intact.
    let big = noise(20 * 1024 * 1024);
    let big_dest = dir.join("big.bin").to_string_lossy().into_owned();
    let t0 = Instant::now();
    let req = PutRequest {
        dest: big_dest.clone(),
        content: big.clone().into(),
        mode: Some(0o640),
        ..PutRequest::default()
    };
    t.put(req).await.unwrap();
    eprintln!("TIMING: 20 MB put took {:?}", t0.elapsed());
    let remote_sum = sh(
        &t,
        &format!("sha256sum {big_dest} | cut -d' ' -f1; stat -c %a {big_dest}"),
    )
    .await;
    assert_eq!(remote_sum, format!("{}\n640\n", hex(&Sha256::digest(&big))));
    let t0 = Instant::now();
    assert_eq!(
        Sha256::digest(t.get(&big_dest, None).await.unwrap()),
        Sha256::digest(&big)
    );
    eprintln!("TIMING: 20 MB get took {:?}", t0.elapsed());

    // No temporary files are left next to the destinations.
    assert_eq!(
        sh(&t, &format!("ls -A {}", dir.display())).await,
        "big.bin\netcd.conf\n"
    );

    // Failures name the path.
    let missing = dir.join("nope/x").to_string_lossy().into_owned();
    let req = PutRequest {
        dest: missing.clone(),
        content: b"x".to_vec().into(),
        ..PutRequest::default()
    };
    match t.put(req).await {
        Err(TransportError::File { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected a File error, got {other:?}"),
    }
    let req = PutRequest {
        dest: missing.clone(),
        content: noise(2 * 1024 * 1024).into(),
        ..PutRequest::default()
    };
    match t.put(req).await {
        Err(TransportError::File { path, message, .. }) => {
            assert!(path == missing && !message.is_empty(), "{message}")
        }
        other => panic!("expected a File error for the bulk path, got {other:?}"),
    }
    match t.get(&missing, None).await {
        Err(TransportError::File { message, .. }) => {
            assert!(message.contains("No such file"), "{message}")
        }
        other => panic!("expected a File error, got {other:?}"),
    }
    t.close().await.unwrap();
}

// `put_then_read` writes the file before `after` reads it, answers with `after`'s output (its
// exit status dropped), gives `after` its environment, and on a failed write returns the put's
// error without running `after` (it would leave a marker file).
#[tokio::test(flavor = "multi_thread")]
async fn put_then_read_answers_the_read_of_the_written_file() {
    require_sshd!();
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    let dir = sshd.path("then");
    std::fs::create_dir(&dir).unwrap();
    let dest = dir.join("unit.conf").to_string_lossy().into_owned();
    let put = |dest: &str| PutRequest {
        dest: dest.to_string(),
        content: b"written\n".to_vec().into(),
        mode: Some(0o640),
        ..PutRequest::default()
    };
    let mut after = ExecRequest::script(format!(
        "stat -c %a {dest}; cat {dest}; echo \"$V\"; exit 3"
    ));
    after.env = vec![("V".into(), "env seen".into())];
    let out = t.put_then_read(put(&dest), after).await.unwrap();
    assert_eq!(
        (out.rc, out.stdout_str().as_str()),
        (0, "640\nwritten\nenv seen\n")
    );

    let missing = dir.join("nope/x").to_string_lossy().into_owned();
    let marker = dir.join("after-ran");
    let after = ExecRequest::script(format!("touch {}", marker.display()));
    match t.put_then_read(put(&missing), after).await {
        Err(TransportError::File { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected a File error, got {other:?}"),
    }
    assert!(!marker.exists(), "after ran although the write failed");
    t.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn become_runs_through_sudo() {
    require_sshd!();
    if !support::which("sudo") {
        eprintln!("SKIPPED: sudo is not installed");
        return;
    }
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    let nobody = Some(Become::sudo("nobody"));
    let mut req = ExecRequest::script("id -un; cat; echo \"$V\"");
    req.become_ = nobody.clone();
    req.stdin = b"secret input\n".to_vec();
    req.env = vec![("V".into(), "from env".into())];
    let out = t.exec(req).await.unwrap();
    assert_eq!(
        (out.rc, out.stdout_str().as_str()),
        (0, "nobody\nsecret input\nfrom env\n"),
        "{}",
        out.stderr_str()
    );

    // Uploads under become own the file as that user, small and bulk alike.
    let dir = sshd.path("shared");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    for (name, size) in [("small", 10), ("large", 3 * 1024 * 1024)] {
        let dest = dir.join(name).to_string_lossy().into_owned();
        let req = PutRequest {
            dest: dest.clone(),
            content: noise(size).into(),
            become_: nobody.clone(),
            ..PutRequest::default()
        };
        t.put(req).await.unwrap();
        assert_eq!(
            sh(&t, &format!("stat -c %U:%s {dest}")).await,
            format!("nobody:{size}\n")
        );
        assert_eq!(t.get(&dest, nobody.as_ref()).await.unwrap(), noise(size));
    }
    t.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn become_needing_a_password_is_reported() {
    require_sshd!();
    if !support::which("sudo") {
        eprintln!("SKIPPED: sudo is not installed");
        return;
    }
    let Some(user) = support::TempUser::create() else {
        eprintln!("SKIPPED: could not create a temporary user");
        return;
    };
    let sshd = Sshd::start();
    let mut opts = sshd.options("node1");
    opts.user = Some(user.name.clone());
    let t = SshTransport::connect(opts)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    assert_eq!(sh(&t, "id -un").await, format!("{}\n", user.name));
    let mut req = ExecRequest::script("id -un");
    req.become_ = Some(Become::sudo("root"));
    match t.exec(req).await {
        Err(TransportError::BecomeNeedsPassword { user, detail, .. }) => {
            assert_eq!(user, "root");
            assert!(detail.contains("password"), "{detail}");
        }
        other => panic!("expected BecomeNeedsPassword, got {other:?}"),
    }
    let req = PutRequest {
        dest: "/etc/epnp-test".into(),
        content: noise(2 * 1024 * 1024).into(),
        become_: Some(Become::sudo("root")),
        ..PutRequest::default()
    };
    assert!(matches!(
        t.put(req).await,
        Err(TransportError::BecomeNeedsPassword { .. })
    ));
    t.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_listening_is_unreachable_within_the_timeout() {
    require_sshd!();
    let sshd = Sshd::start();
    let mut opts = sshd.options("ghost");
    opts.port = Some(
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(),
    );
    opts.connect_timeout = Duration::from_secs(2);
    let t0 = Instant::now();
    match SshTransport::connect(opts).await {
        Err(TransportError::Unreachable { host, reason }) => {
            assert_eq!(host, "ghost");
            assert!(reason.contains("Connection refused"), "{reason}");
            eprintln!("unreachable after {:?}: {reason}", t0.elapsed());
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_host_key_is_refused() {
    require_sshd!();
    let mut sshd = Sshd::start();
    // Strict with an empty known_hosts refuses an unknown host.
    let mut strict = sshd.options("node1");
    strict.host_key_checking = HostKeyChecking::Strict;
    match SshTransport::connect(strict.clone()).await {
        Err(TransportError::Unreachable { reason, .. }) => {
            assert!(reason.contains("Host key verification failed"), "{reason}")
        }
        other => panic!("expected refusal of an unknown host key, got {other:?}"),
    }
    // accept-new records the key.
    let t = connect(&sshd).await;
    t.close().await.unwrap();
    SshTransport::connect(strict.clone())
        .await
        .unwrap()
        .close()
        .await
        .unwrap();

    sshd.restart_with_new_host_key();
    for opts in [strict, sshd.options("node1")] {
        let policy = opts.host_key_checking;
        match SshTransport::connect(opts).await {
            Err(TransportError::Unreachable { reason, .. }) => {
                assert!(reason.contains("host key CHANGED"), "{policy:?}: {reason}");
                eprintln!("{policy:?}: {reason}");
            }
            other => panic!("{policy:?}: expected refusal of a changed host key, got {other:?}"),
        }
    }
    // "off" connects anyway and does not touch the known_hosts file.
    let before = std::fs::read(sshd.path("known_hosts")).unwrap();
    let mut off = sshd.options("node1");
    off.host_key_checking = HostKeyChecking::Off;
    off.known_hosts = None;
    let t = SshTransport::connect(off).await.unwrap();
    assert_eq!(sh(&t, "echo ok").await, "ok\n");
    t.close().await.unwrap();
    assert_eq!(std::fs::read(sshd.path("known_hosts")).unwrap(), before);
}

fn our_processes(socket: &str) -> Vec<u32> {
    pids_mentioning(socket)
}

#[tokio::test(flavor = "multi_thread")]
async fn close_and_drop_leave_no_ssh_process_or_remote_dir() {
    require_sshd!();
    let sshd = Sshd::start();
    for use_close in [true, false] {
        let t = connect(&sshd).await;
        // Open a second shell too, so that more than one channel has to be cleaned up.
        let (a, b) = tokio::join!(
            t.exec(ExecRequest::script("sleep 0.3; dirname \"$0\"")),
            t.exec(ExecRequest::script("sleep 0.3; dirname \"$0\""))
        );
        let dirs = [a.unwrap().stdout_str(), b.unwrap().stdout_str()];
        let socket = t.control_socket().to_string_lossy().into_owned();
        let control_dir = t.control_socket().parent().unwrap().to_path_buf();
        assert!(
            !our_processes(&socket).is_empty(),
            "no master found for {socket}"
        );
        if use_close {
            t.close().await.unwrap();
            assert!(matches!(
                t.exec(ExecRequest::script("true")).await,
                Err(TransportError::Unreachable { .. })
            ));
        } else {
            drop(t);
        }
        let gone = eventually(Duration::from_secs(5), || our_processes(&socket).is_empty());
        assert!(
            gone,
            "ssh processes left after {}: {:?}",
            if use_close { "close" } else { "drop" },
            our_processes(&socket)
        );
        assert!(
            eventually(Duration::from_secs(5), || !control_dir.exists()),
            "{control_dir:?} left behind"
        );
        for dir in dirs {
            let dir = dir.trim().to_string();
            assert!(dir.starts_with("/tmp/etcdplay."), "{dir}");
            assert!(
                eventually(Duration::from_secs(5), || !std::path::Path::new(&dir)
                    .exists()),
                "remote shell directory {dir} left behind"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_master_makes_the_host_unreachable() {
    require_sshd!();
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    assert_eq!(sh(&t, "echo up").await, "up\n");
    let socket = t.control_socket().to_string_lossy().into_owned();
    for pid in pids_mentioning(&socket) {
        let _ = std::process::Command::new("kill")
            .arg("-9")
            .arg(pid.to_string())
            .status();
    }
    match t.exec(ExecRequest::script("echo hi")).await {
        Err(TransportError::Unreachable { reason, .. }) => {
            eprintln!("after killing the master: {reason}")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    drop(t);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_options_are_reported_not_panicked() {
    require_sshd!();
    let mut opts = SshOptions::new("x", "127.0.0.1");
    opts.control_dir = std::path::PathBuf::from(format!("/tmp/{}", "d".repeat(100)));
    assert!(matches!(
        SshTransport::connect(opts).await,
        Err(TransportError::Io { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_times_out_as_unreachable() {
    require_sshd!();
    let sshd = Sshd::start();
    // Listening but never speaking SSH: the kernel completes the TCP handshake, the banner
    // never comes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut opts = sshd.options("silent");
    opts.port = Some(silent.local_addr().unwrap().port());
    opts.connect_timeout = Duration::from_secs(2);
    let t0 = Instant::now();
    match SshTransport::connect(opts).await {
        Err(TransportError::Unreachable { reason, .. }) => {
            eprintln!(
                "silent server unreachable after {:?}: {reason}",
                t0.elapsed()
            )
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(
        t0.elapsed() < Duration::from_secs(12),
        "took {:?}",
        t0.elapsed()
    );
    drop(silent);
}

/// Secrets (stdin, environment values, file contents) must never appear in any process's
/// command line, neither for plain requests nor under become, small or bulk.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_appear_in_process_arguments() {
    require_sshd!();
    let sshd = Sshd::start();
    let t = Arc::new(connect(&sshd).await);
    let secret = format!("S3CR3T-{}-value", std::process::id());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (secret, stop) = (secret.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut scans = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let seen = pids_mentioning(&secret);
                assert!(
                    seen.is_empty(),
                    "secret visible in the arguments of {seen:?}"
                );
                scans += 1;
            }
            scans
        })
    };
    let sudo = support::which("sudo");
    for become_ in [None, Some(Become::sudo("nobody"))] {
        if become_.is_some() && !sudo {
            continue;
        }
        let mut req = ExecRequest::script("cat >/dev/null; sleep 0.3; test -n \"$TOKEN\"");
        req.stdin = secret.clone().into_bytes();
        req.env = vec![("TOKEN".into(), secret.clone())];
        req.become_ = become_.clone();
        assert_eq!(t.exec(req).await.unwrap().rc, 0);
        let dir = sshd.path("sec");
        let _ = std::fs::create_dir(&dir);
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        for size in [100, 3 * 1024 * 1024] {
            let mut content = noise(size);
            content[..secret.len()].copy_from_slice(secret.as_bytes());
            let dest = dir.join(format!("f{size}")).to_string_lossy().into_owned();
            let req = PutRequest {
                dest,
                content: content.into(),
                become_: become_.clone(),
                ..PutRequest::default()
            };
            t.put(req).await.unwrap();
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let scans = watcher
        .join()
        .expect("a secret was visible in a command line");
    assert!(scans > 10, "the watcher hardly ran ({scans} scans)");
    t.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_requests_are_refused_and_the_shell_survives() {
    require_sshd!();
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    let before = sh(&t, "echo $PPID").await;
    let mut req = ExecRequest::script("true");
    req.env = vec![("NOT VALID".into(), "x".into())];
    match t.exec(req).await {
        Err(TransportError::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::InvalidInput, "{source}")
        }
        other => panic!("expected an invalid-input error, got {other:?}"),
    }
    let mut req = ExecRequest::script("true");
    req.become_ = Some(Become::sudo("root; reboot"));
    assert!(matches!(t.exec(req).await, Err(TransportError::Io { .. })));
    assert_eq!(sh(&t, "echo $PPID").await, before, "the shell was replaced");
    t.close().await.unwrap();
}

/// Regression: the remote loop keeps its own files private with umask 077, which once leaked
/// into scripts, so `file: state=directory` created parents as 0700 (etcd then could not list
/// its data dir). Scripts, with or without become, must see the login shell's umask.
#[tokio::test(flavor = "multi_thread")]
async fn scripts_run_with_the_login_umask_not_the_loops() {
    require_sshd!();
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    let login = sh(&t, "umask").await;
    assert_ne!(
        login.trim(),
        "0077",
        "the test needs a login umask other than 0077"
    );
    let mut req = ExecRequest::script("umask");
    req.become_ = Some(Become::sudo("nobody"));
    let out = t.exec(req).await.unwrap();
    assert_eq!(out.rc, 0, "{}", out.stderr_str());
    assert_ne!(out.stdout_str().trim(), "0077");
    t.close().await.unwrap();
}

/// The host agent built with this workspace, beside the `deps` directory of this test.
fn agent_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(AGENT_NAME);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (`cargo build --workspace`, as scripts/test does)",
        path.display()
    );
    path
}

/// A root login's first connection is served by the shell loop and installs the agent when
/// it closes; the next connection is served by the agent, with the same answers, and its
/// shells start no `head`, `wc` or `cat` per request.
#[tokio::test(flavor = "multi_thread")]
async fn the_agent_is_installed_at_close_and_serves_the_next_connection() {
    require_sshd!();
    let sshd = Sshd::start();
    let cache = sshd.dir.path().join("cache/bin");
    let mut opts = sshd.options("node1");
    opts.agent = Some(HostAgent {
        binary: Arc::new(ShippedBinary::load(&agent_binary()).unwrap()),
        cache_dir: cache.to_string_lossy().into_owned(),
        may_install: true,
    });
    let served_by = "readlink /proc/$PPID/exe; printf '%s|' \"$(cat)\"; umask; exit 4";
    let mut request = ExecRequest::script(served_by);
    request.stdin = b"in put".to_vec();
    let mut answers = Vec::new();
    for _ in 0..2 {
        let t = SshTransport::connect(opts.clone()).await.unwrap();
        let out = t.exec(request.clone()).await.unwrap();
        answers.push((out.rc, out.stdout_str(), out.stderr_str()));
        t.close().await.unwrap();
    }
    let (loop_rc, loop_out, loop_err) = &answers[0];
    let (agent_rc, agent_out, agent_err) = &answers[1];
    let (first_parent, loop_rest) = loop_out.split_once('\n').unwrap();
    let (second_parent, agent_rest) = agent_out.split_once('\n').unwrap();
    assert!(
        first_parent.ends_with("/sh") || first_parent.ends_with("dash"),
        "{first_parent}"
    );
    assert!(
        second_parent.starts_with(&*cache.to_string_lossy()) && second_parent.contains(AGENT_NAME),
        "{second_parent}"
    );
    assert_eq!(
        (loop_rc, loop_rest, loop_err),
        (agent_rc, agent_rest, agent_err)
    );
    assert_eq!((*agent_rc, agent_rest), (4, "in put|0022\n"));
}
