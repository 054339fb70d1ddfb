//! command, shell, wait_for, get_url, unarchive and setup against the real local host. Network
//! use is limited to 127.0.0.1 servers these tests start (and stop, by pid) themselves.

mod common;

use common::Env;
use serde_json::json;

#[tokio::test]
async fn command_and_shell_results() {
    let env = Env::new();
    let r = env
        .run("command", json!({"_raw_params": "printf 'a b\\nc\\n'"}))
        .await;
    assert!(r.changed && !r.failed);
    assert_eq!(r.data["rc"], 0);
    assert_eq!(r.data["stdout"], "a b\nc");
    assert_eq!(r.data["stdout_lines"], json!(["a b", "c"]));
    assert_eq!(r.data["cmd"], json!(["printf", "a b\\nc\\n"]));
    // command does not go through a shell: `;` stays literal, and so does a variable that
    // is not set (Ansible's expand_argument_vars expands only set ones, see compat_args.rs).
    let r = env
        .run("command", json!({"argv": ["echo", "$ETCDPLAY_NOT_SET;x"]}))
        .await;
    assert_eq!(r.data["stdout"], "$ETCDPLAY_NOT_SET;x");
    let r = env
        .run("shell", json!({"cmd": "echo out; echo err >&2; exit 3"}))
        .await;
    assert!(r.failed);
    assert_eq!(r.msg.as_deref(), Some("non-zero return code"));
    assert_eq!(
        (r.data["rc"].as_i64(), r.data["stderr"].as_str()),
        (Some(3), Some("err"))
    );
    let r = env
        .run("shell", json!({"cmd": "cat", "stdin": "fed"}))
        .await;
    assert_eq!(r.data["stdout"], "fed");
    let dir = env.p("wd");
    std::fs::create_dir_all(&dir).unwrap();
    let r = env.run("shell", json!({"cmd": "pwd", "chdir": dir})).await;
    assert_eq!(r.data["stdout"], dir);
}

#[tokio::test]
async fn creates_and_removes_skip_in_one_exec() {
    let env = Env::new();
    let marker = env.p("done.flag");
    let args = json!({"cmd": format!("touch {marker}"), "creates": marker});
    let check = env
        .run_opts("shell", args.clone(), true, false)
        .await
        .unwrap();
    assert!(check.changed && !std::path::Path::new(&marker).exists());
    assert!(env.run("shell", args.clone()).await.changed);
    env.host.reset();
    let r = env.run("shell", args).await;
    assert!(!r.changed && r.msg.unwrap().contains("skipped, since"));
    assert_eq!(env.host.reset(), (1, 0));
    let r = env
        .run(
            "command",
            json!({"cmd": "false", "removes": env.p("nothing*")}),
        )
        .await;
    assert!(!r.changed && !r.failed);
    // In check mode without creates/removes the command cannot be predicted: skipped.
    let r = env
        .run_opts("command", json!({"cmd": "true"}), true, false)
        .await
        .unwrap();
    assert!(r.skipped && !r.changed);
}

#[tokio::test]
async fn a_command_cannot_fake_a_creates_skip() {
    let env = Env::new();
    let r = env
        .run(
            "shell",
            json!({
                "cmd": "echo '@@etcdplay:skip:creates' >&2; exit 199",
                "creates": env.p("never-there"),
            }),
        )
        .await;
    assert!(r.failed && !r.skipped, "{r:?}");
    assert_eq!(r.data["rc"], 199);
}

#[tokio::test]
async fn wait_for_port_and_path() {
    let env = Env::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = env
        .run(
            "wait_for",
            json!({"port": port, "host": "127.0.0.1", "timeout": 5}),
        )
        .await;
    assert!(!r.failed && !r.changed, "{r:?}");
    drop(listener);
    let r = env
        .run(
            "wait_for",
            json!({"port": port, "state": "stopped", "timeout": 5}),
        )
        .await;
    assert!(!r.failed, "{r:?}");
    let r = env
        .run("wait_for", json!({"port": port, "timeout": 1}))
        .await;
    assert!(r.failed);
    assert_eq!(
        r.msg.unwrap(),
        format!("Timeout when waiting for 127.0.0.1:{port}")
    );
    let f = env.p("ready");
    std::fs::write(&f, "status: READY\n").unwrap();
    assert!(
        !env.run(
            "wait_for",
            json!({"path": f, "search_regex": "READY", "timeout": 2})
        )
        .await
        .failed
    );
    assert!(
        env.run(
            "wait_for",
            json!({"path": f, "search_regex": "NEVER", "timeout": 1})
        )
        .await
        .failed
    );
    assert!(
        env.run_opts("wait_for", json!({"path": f}), true, false)
            .await
            .unwrap()
            .skipped
    );
}

/// A python3 http.server on a free 127.0.0.1 port, stopped by pid on drop.
struct Server {
    child: std::process::Child,
    port: u16,
}

impl Server {
    fn start(root: &std::path::Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn get_url_downloads_verifies_and_converges() {
    let env = Env::new();
    let site = env.dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("etcd.tar.gz"), b"pretend archive").unwrap();
    let server = Server::start(&site);
    let url = format!("http://127.0.0.1:{}/etcd.tar.gz", server.port);
    let sha256 = "sha256:".to_string() + &sha256_hex(b"pretend archive");
    let dest = env.p("etcd.tar.gz");
    let args = json!({"url": url, "dest": dest, "checksum": sha256, "mode": "0640"});
    let check = env
        .run_opts("get_url", args.clone(), true, false)
        .await
        .unwrap();
    assert!(check.changed && !std::path::Path::new(&dest).exists());
    let r = env.run("get_url", args.clone()).await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"pretend archive");
    assert_eq!(r.data["status_code"], 200);
    env.host.reset();
    assert!(!env.run("get_url", args).await.changed);
    assert_eq!(env.host.reset(), (1, 0));
    // force: the download happens but identical bytes are not a change.
    assert!(
        !env.run("get_url", json!({"url": url, "dest": dest, "force": true}))
            .await
            .changed
    );
    // A wrong checksum fails and leaves the destination alone.
    let bad = json!({"url": url, "dest": env.p("other"), "checksum": format!("sha256:{}", "0".repeat(64))});
    let r = env.run("get_url", bad).await;
    assert!(r.failed && r.msg.unwrap().contains("did not match"));
    assert!(!std::path::Path::new(&env.p("other")).exists());
    drop(server);
}

#[tokio::test]
async fn get_url_check_mode_asks_head_and_failures_read_as_ansibles() {
    // Observed with ansible-playbook 2.19.14 (`-c local`, python3 -m http.server serving the
    // 15-byte file): in check mode the module sends a HEAD request: `changed`, msg
    // "OK (15 bytes)", checksum_src of the empty body (da39a3...); an existing destination is
    // still changed (its checksum is not the empty body's); a 404 fails with msg "Request
    // failed", status_code 404, response "HTTP Error 404: File not found" (in check mode and
    // out of it); a missing file:// fails with "Request failed: <urlopen error [Errno 2] No
    // such file or directory: '/nonexistent'>"; a refused HEAD with "Request failed: <urlopen
    // error [Errno 111] Connection refused>"; every failure has `url`, `dest` and `elapsed`.
    let env = Env::new();
    let site = env.dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("etcd.tar.gz"), b"pretend archive").unwrap();
    let server = Server::start(&site);
    let url = format!("http://127.0.0.1:{}/etcd.tar.gz", server.port);
    let dest = env.p("out1");
    let args = json!({"url": url, "dest": dest});
    let check = env
        .run_opts("get_url", args.clone(), true, false)
        .await
        .unwrap();
    assert!(check.changed && !check.failed, "{check:?}");
    assert_eq!(check.msg.as_deref(), Some("OK (15 bytes)"));
    assert_eq!(
        check.data["checksum_src"],
        "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    );
    assert!(!std::path::Path::new(&dest).exists());
    // With headers the request goes through curl (`curl -I`): the same answer.
    let with_headers = json!({"url": url, "dest": dest, "headers": {"X-Token": "t1"}});
    let check = env
        .run_opts("get_url", with_headers, true, false)
        .await
        .unwrap();
    assert_eq!(check.msg.as_deref(), Some("OK (15 bytes)"), "{check:?}");
    assert!(env.run("get_url", args).await.changed);
    let forced = json!({"url": url, "dest": dest, "force": true});
    let check = env.run_opts("get_url", forced, true, false).await.unwrap();
    assert!(check.changed, "{check:?}");
    let missing = json!({"url": format!("http://127.0.0.1:{}/missing", server.port),
                         "dest": env.p("out2")});
    for check in [true, false] {
        let r = env
            .run_opts("get_url", missing.clone(), check, false)
            .await
            .unwrap();
        assert!(r.failed, "{r:?}");
        assert_eq!(r.msg.as_deref(), Some("Request failed"));
        assert_eq!(r.data["status_code"], 404);
        assert_eq!(r.data["response"], "HTTP Error 404: File not found");
        assert!(r.data.contains_key("elapsed") && r.data["dest"] == env.p("out2").as_str());
    }
    let r = env
        .run(
            "get_url",
            json!({"url": "file:///nonexistent", "dest": env.p("out3")}),
        )
        .await;
    assert_eq!(
        r.msg.as_deref(),
        Some("Request failed: <urlopen error [Errno 2] No such file or directory: '/nonexistent'>")
    );
    let refused = json!({"url": "http://127.0.0.1:9/x", "dest": env.p("out3")});
    let r = env.run_opts("get_url", refused, true, false).await.unwrap();
    assert_eq!(
        r.msg.as_deref(),
        Some("Request failed: <urlopen error [Errno 111] Connection refused>")
    );
    drop(server);
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[tokio::test]
async fn unarchive_tar_and_zip_converge() {
    let env = Env::new();
    let tree = env.dir.path().join("tree");
    std::fs::create_dir_all(tree.join("etcd-v3/bin")).unwrap();
    std::fs::write(tree.join("etcd-v3/bin/etcd"), "binary").unwrap();
    let tgz = env.control.root.join("etcd.tar.gz");
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(&tree)
        .arg("etcd-v3")
        .status()
        .unwrap();
    assert!(st.success());
    let dest = env.p("opt");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    env.converges_opts(
        "unarchive",
        json!({"src": "etcd.tar.gz", "dest": dest}),
        &dest,
        false,
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(format!("{dest}/etcd-v3/bin/etcd")).unwrap(),
        "binary"
    );
    // The archive has no `./` entry: dest keeps its own mode (not the staging dir's 0700).
    let dest_mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dest).unwrap().permissions());
    assert_eq!(dest_mode & 0o7777, 0o755);
    // A modified file is restored.
    std::fs::write(format!("{dest}/etcd-v3/bin/etcd"), "tampered").unwrap();
    assert!(
        env.run("unarchive", json!({"src": "etcd.tar.gz", "dest": dest}))
            .await
            .changed
    );
    assert_eq!(
        std::fs::read_to_string(format!("{dest}/etcd-v3/bin/etcd")).unwrap(),
        "binary"
    );
    // creates short-circuits.
    let r = env
        .run(
            "unarchive",
            json!({"src": "etcd.tar.gz", "dest": dest, "creates": format!("{dest}/etcd-v3")}),
        )
        .await;
    assert!(!r.changed && r.msg.unwrap().contains("skipped"));

    if which("zip") {
        let zip = env.p("a.zip");
        let st = std::process::Command::new("zip")
            .arg("-qr")
            .arg(&zip)
            .arg("etcd-v3")
            .current_dir(&tree)
            .status()
            .unwrap();
        assert!(st.success());
        let zdest = env.p("z");
        std::fs::create_dir_all(&zdest).unwrap();
        assert!(
            env.run(
                "unarchive",
                json!({"src": zip, "remote_src": true, "dest": zdest})
            )
            .await
            .changed
        );
        assert!(
            !env.run(
                "unarchive",
                json!({"src": zip, "remote_src": true, "dest": zdest})
            )
            .await
            .changed
        );
        assert_eq!(
            std::fs::read_to_string(format!("{zdest}/etcd-v3/bin/etcd")).unwrap(),
            "binary"
        );
    }
    let r = env
        .run(
            "unarchive",
            json!({"src": "etcd.tar.gz", "dest": env.p("missing-dir")}),
        )
        .await;
    assert!(r.failed);
    // The uploaded copy is cached in the private cache dir, never in a shared one such as /tmp.
    let cache = if String::from_utf8_lossy(
        &std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
        == "0"
    {
        "/var/cache/etcdplay/archives".to_string()
    } else {
        format!(
            "{}/.cache/etcdplay/archives",
            std::env::var("HOME").unwrap()
        )
    };
    let sum: String = {
        use sha1::Digest;
        sha1::Sha1::digest(std::fs::read(&tgz).unwrap())
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    let cached: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(&sum[..16]))
        .collect();
    assert_eq!(
        cached.len(),
        1,
        "one cached copy for the destination: {cached:?}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{cache}");
    }
    std::fs::remove_file(&cached[0]).unwrap();
    assert!(!std::fs::read_dir("/tmp").unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains(&sum[..16])));
}

fn which(tool: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[tokio::test]
async fn setup_gathers_local_facts_in_one_exec() {
    let env = Env::new();
    let r = env.run("setup", json!({})).await;
    env.host.reset();
    let f = &r.data["ansible_facts"];
    let mut hostname = String::new();
    std::process::Command::new("hostname")
        .output()
        .map(|o| hostname = String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap();
    assert_eq!(f["ansible_hostname"], hostname.split('.').next().unwrap());
    assert_eq!(f["ansible_architecture"], std::env::consts::ARCH);
    assert_eq!(f["ansible_system"], "Linux");
    assert!(f["ansible_memtotal_mb"].as_u64().unwrap() > 0);
    assert!(f["ansible_env"]["PATH"].is_string());
    let local = |cmd: &str, arg: &str| {
        let out = std::process::Command::new(cmd).arg(arg).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // Read by the script from /proc and `id`'s one line, so compare with the tools.
    assert_eq!(f["ansible_kernel"], local("uname", "-r"));
    assert_eq!(f["ansible_kernel_version"], local("uname", "-v"));
    assert_eq!(f["ansible_user_id"], local("id", "-un"));
    assert_eq!(f["ansible_user_gid"].to_string(), local("id", "-g"));
    // Read by shell builtins (the usable CPUs, the passwd line, the interpreter on PATH,
    // the machine type), so compare with the commands they replace.
    assert_eq!(
        f["ansible_processor_nproc"].to_string(),
        local("nproc", "--ignore=0")
    );
    let sh = |script: &str| {
        let out = std::process::Command::new("sh")
            .args(["-c", script])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let passwd = sh("getent passwd \"$(id -un)\"");
    assert_eq!(
        f["ansible_user_dir"],
        passwd.split(':').nth(5).unwrap_or_default()
    );
    let python = sh("command -v python3 || command -v python");
    if !python.is_empty() {
        assert_eq!(f["ansible_python"]["executable"], python);
    }
    assert_eq!(f["ansible_machine"], local("uname", "-m"));
    assert!(
        f["ansible_memfree_mb"].as_u64().is_some(),
        "{}",
        f["ansible_memfree_mb"]
    );
    let r = env
        .run("setup", json!({"filter": "ansible_distribution*"}))
        .await;
    let keys: Vec<&String> = r.data["ansible_facts"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert!(
        keys.iter().all(|k| k.starts_with("ansible_distribution")) && !keys.is_empty(),
        "{keys:?}"
    );
    assert_eq!(env.host.reset(), (1, 0));
}

#[tokio::test]
async fn ping_raw_tempfile_and_getent_on_the_local_host() {
    let env = Env::new();
    let r = env.run("ping", json!({})).await;
    assert!(!r.changed && !r.failed && r.data["ping"] == "pong", "{r:?}");
    assert!(env.run("ping", json!({"data": "crash"})).await.failed);

    let r = env
        .run("raw", json!({"_raw_params": "echo out; echo err >&2"}))
        .await;
    assert!(r.changed && !r.failed);
    assert_eq!(
        (r.data["stdout"].as_str(), r.data["rc"].as_i64()),
        (Some("out\n"), Some(0))
    );
    assert!(
        env.run("raw", json!({"_raw_params": "exit 4"}))
            .await
            .failed
    );

    let dir = env.p("tmp");
    std::fs::create_dir_all(&dir).unwrap();
    let r = env
        .run(
            "tempfile",
            json!({"path": dir, "suffix": ".conf", "state": "file"}),
        )
        .await;
    let path = r.data["path"].as_str().unwrap().to_string();
    assert!(
        r.changed && path.starts_with(&format!("{dir}/ansible.")) && path.ends_with(".conf"),
        "{path}"
    );
    assert!(std::path::Path::new(&path).is_file());
    let r = env
        .run("tempfile", json!({"path": dir, "state": "directory"}))
        .await;
    assert!(std::path::Path::new(r.data["path"].as_str().unwrap()).is_dir());

    let r = env
        .run("getent", json!({"database": "passwd", "key": "root"}))
        .await;
    assert_eq!(
        r.data["ansible_facts"]["getent_passwd"]["root"][1], "0",
        "{r:?}"
    );
    let r = env
        .run(
            "getent",
            json!({"database": "passwd", "key": "no-such-user-etcdplay"}),
        )
        .await;
    assert!(r.failed);
}

#[tokio::test]
async fn sysctl_keeps_its_file_and_changes_nothing_twice() {
    let env = Env::new();
    let file = env.p("sysctl.conf");
    std::fs::write(&file, "# managed\nvm.swappiness = 60\n").unwrap();
    let args = json!({"name": "vm.swappiness", "value": 10, "sysctl_file": file, "sysctl_set": false, "reload": false});
    let r = env.run("sysctl", args.clone()).await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "# managed\nvm.swappiness=10\n"
    );
    assert!(!env.run("sysctl", args).await.changed);
    let absent =
        json!({"name": "vm.swappiness", "state": "absent", "sysctl_file": file, "reload": false});
    assert!(env.run("sysctl", absent.clone()).await.changed);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "# managed\n");
    assert!(!env.run("sysctl", absent).await.changed);
}

/// A one-thread HTTP server on 127.0.0.1 for `uri`: answers each request with a JSON body
/// naming the method and echoing the request body, 201 for POST, 404 for `/missing`.
fn http_server() -> (String, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        for _ in 0..3 {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            let mut parts = request_line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let status = match (method, path) {
                (_, "/missing") => "404 Not Found",
                ("POST", _) => "201 Created",
                _ => "200 OK",
            };
            let reply =
                serde_json::json!({"method": method, "got": String::from_utf8_lossy(&body)})
                    .to_string();
            let mut out = stream;
            write!(
                out,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            )
            .unwrap();
        }
    });
    (format!("http://{addr}"), handle)
}

#[tokio::test]
async fn uri_requests_from_the_host() {
    let env = Env::new();
    let (base, server) = http_server();
    let r = env
        .run("uri", json!({"url": format!("{base}/health")}))
        .await;
    assert!(!r.failed && !r.changed, "{r:?}");
    assert_eq!(
        (r.data["status"].as_i64(), r.data["json"]["method"].as_str()),
        (Some(200), Some("GET"))
    );
    let r = env
        .run(
            "uri",
            json!({"url": format!("{base}/keys"), "method": "POST", "body_format": "json",
                   "body": {"key": "a"}, "status_code": [201], "return_content": true}),
        )
        .await;
    assert!(!r.failed, "{r:?}");
    assert_eq!(r.data["json"]["got"], "{\"key\":\"a\"}");
    assert!(r.data["content"].as_str().unwrap().contains("POST"));
    let r = env
        .run("uri", json!({"url": format!("{base}/missing")}))
        .await;
    assert!(r.failed && r.data["status"] == 404, "{r:?}");
    server.join().unwrap();
}

/// A one-thread HTTP server on 127.0.0.1 that wants basic auth as httpbin's `/basic-auth/`:
/// 401 with a `WWW-Authenticate: Basic` challenge without the right header, else 200 with
/// `{"authenticated": true, "user": USER}`. Answers `requests` connections.
fn basic_auth_server(
    user: &str,
    password: &str,
    requests: usize,
) -> (u16, std::thread::JoinHandle<()>) {
    use base64::Engine;
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let user = user.to_string();
    let handle = std::thread::spawn(move || {
        for _ in 0..requests {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut authorized = false;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                authorized |= line.trim() == format!("Authorization: Basic {token}");
            }
            let mut out = stream;
            let reply = if authorized {
                let body = serde_json::json!({"authenticated": true, "user": user}).to_string();
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            } else {
                "HTTP/1.1 401 UNAUTHORIZED\r\nWWW-Authenticate: Basic realm=\"Fake Realm\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
            };
            out.write_all(reply.as_bytes()).unwrap();
        }
    });
    (port, handle)
}

#[tokio::test]
async fn uri_takes_credentials_from_the_url_as_ansible_does() {
    // ansible-core 2.19.14's uri target, "test basic auth with urlencoded": the URL
    // `https://foo%40example.com:test%40@HOST/basic-auth/foo%40example.com/test%40` logs in as
    // `foo@example.com` with password `test@` (Ansible's `_configure_auth` splits the userinfo
    // at its first `@` and `:` and percent-decodes both; urllib answers the 401 challenge).
    let env = Env::new();
    let (port, server) = basic_auth_server("foo@example.com", "test@", 2);
    let url = format!("http://foo%40example.com:test%40@127.0.0.1:{port}/basic-auth/x");
    let r = env.run("uri", json!({"url": url})).await;
    assert!(!r.failed, "{r:?}");
    assert_eq!(r.data["json"]["user"], "foo@example.com");
    assert_eq!(
        r.data["url"],
        format!("http://127.0.0.1:{port}/basic-auth/x")
    );
    server.join().unwrap();
    // `url_username` with `force_basic_auth` sends the header at once: one request.
    let (port, server) = basic_auth_server("u", "p", 1);
    let args = json!({"url": format!("http://127.0.0.1:{port}/"), "url_username": "u",
                      "url_password": "p", "force_basic_auth": true});
    let r = env.run("uri", args).await;
    assert!(!r.failed, "{r:?}");
    server.join().unwrap();
    // Observed with ansible 2.19.14 (`ansible localhost -m uri -a url=...`): a refused
    // connection, its credentials masked in `url`; an invalid port; a URL without a scheme.
    let r = env
        .run(
            "uri",
            json!({"url": "http://foo%40example.com:test%40@127.0.0.1:9/x"}),
        )
        .await;
    assert_eq!(
        r.msg.as_deref(),
        Some("Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] Connection refused>")
    );
    assert_eq!(r.data["url"], "http://****:****@127.0.0.1:9/x");
    assert_eq!(
        (r.data["status"].as_i64(), &r.data["redirected"]),
        (Some(-1), &json!(false))
    );
    let r = env
        .run("uri", json!({"url": "http://127.0.0.1:abc/"}))
        .await;
    assert_eq!(
        r.msg.as_deref(),
        Some("Status code was -1 and not [200]: An unknown error occurred: nonnumeric port: 'abc'")
    );
    let r = env.run("uri", json!({"url": "example.com/x"})).await;
    assert_eq!(r.msg.as_deref(), Some("unknown url type: 'example.com/x'"));
    assert!(!r.data.contains_key("elapsed"), "{r:?}");
}

/// Modules whose Ansible documentation says `check_mode: support: none` are skipped by a check
/// run, with Ansible's message, and touch nothing.
#[tokio::test]
async fn modules_without_check_mode_are_skipped_in_check_runs() {
    let env = Env::new();
    let marker = env.p("raw-ran");
    for (module, args) in [
        ("raw", json!({"_raw_params": format!("touch {marker}")})),
        ("tempfile", json!({"path": env.p("")})),
        ("uri", json!({"url": "http://127.0.0.1:9/"})),
    ] {
        let r = env.run_opts(module, args, true, false).await.unwrap();
        assert!(r.skipped && !r.changed, "{module}: {r:?}");
        assert_eq!(
            r.msg.as_deref(),
            Some(format!("remote module ({module}) does not support check mode").as_str())
        );
    }
    assert!(!std::path::Path::new(&marker).exists());
}
