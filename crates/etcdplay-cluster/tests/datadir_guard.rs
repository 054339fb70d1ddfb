//! The data-dir guard and the `data_dir_scheme_check` task through the whole engine (with the
//! etcd layer registered as its extension), against a real etcd 3.4 data dir made by the local
//! `etcd` binary (HTTP peers on 127.0.0.1). Hosts are a fake transport: `systemctl cat` answers
//! with a recorded unit, every other command runs in a local shell, and every command is logged
//! so the tests can count round trips and prove that nothing but reads reached the host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use etcdplay_cluster::EtcdExtension;
use etcdplay_engine::{
    ConnectTarget, Connector, Engine, HostEvent, HostStatus, InventoryView, PatternError, Reporter,
    RunOptions, Stats, TaskKindLabel,
};
use etcdplay_modules::Registry;
use etcdplay_playbook::{load_playbook, LoadOptions};
use etcdplay_template::Precedence;
use etcdplay_transport::{ExecOutput, ExecRequest, PutRequest, Transport, TransportError};
use serde_json::{json, Map, Value};

/// A single-member etcd 3.4 data dir with keys, made once per test binary.
struct Fixture {
    _tmp: tempfile::TempDir,
    data_dir: PathBuf,
    peer_url: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("etcd data");
        let (peer, client) = (free_port(), free_port());
        let peer_url = format!("http://127.0.0.1:{peer}");
        let client_url = format!("http://127.0.0.1:{client}");
        let child = Command::new("etcd")
            .args(["--name", "n1", "--data-dir"])
            .arg(&data_dir)
            .args([
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
            ])
            .args([
                "--listen-client-urls",
                &client_url,
                "--advertise-client-urls",
                &client_url,
            ])
            .args([
                "--initial-cluster",
                &format!("n1={peer_url}"),
                "--log-outputs",
                "stderr",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("etcd (Debian's etcd-server) must be installed");
        let etcd = KillOnDrop(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let put = Command::new("etcdctl")
                .env("ETCDCTL_API", "3")
                .args(["--endpoints", &client_url, "put", "greeting", "hello"])
                .output()
                .unwrap();
            if put.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not come up: {}",
                String::from_utf8_lossy(&put.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        drop(etcd);
        Fixture {
            _tmp: tmp,
            data_dir,
            peer_url,
        }
    })
}

/// Every file under `dir` with its bytes, to prove a run changed nothing.
fn snapshot_of(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn unit_text(data_dir: &Path, peer_url: &str) -> String {
    format!(
        "# /etc/systemd/system/etcd.service\n[Unit]\nDescription=etcd\n\n[Service]\nType=notify\nEnvironmentFile=-/nonexistent/etcd.env\nExecStart=/usr/local/bin/etcd \\\n  --name n1 \\\n  --data-dir '{}' \\\n  --listen-peer-urls {peer_url} \\\n  --initial-advertise-peer-urls {peer_url}\n",
        data_dir.display()
    )
}

struct FakeHost {
    name: String,
    unit: Option<String>,
    log: Arc<Mutex<Vec<(String, String)>>>,
}

#[async_trait::async_trait]
impl Transport for FakeHost {
    fn host(&self) -> &str {
        &self.name
    }
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        self.log
            .lock()
            .unwrap()
            .push((self.name.clone(), request.script.clone()));
        // The guard's probe sent by itself (a read-ahead batch holding it gets no answer).
        if is_unit_probe(&request.script) {
            return Ok(match &self.unit {
                Some(u) => ExecOutput {
                    rc: 0,
                    stdout: u.clone().into_bytes(),
                    stderr: Vec::new(),
                },
                None => ExecOutput {
                    rc: 1,
                    stdout: Vec::new(),
                    stderr: b"No files found".to_vec(),
                },
            });
        }
        if request.script.contains("systemctl") {
            // The systemd module itself: this machine has no systemd, answer "done".
            return Ok(ExecOutput::default());
        }
        let out = Command::new("sh")
            .arg("-c")
            .arg(&request.script)
            .output()
            .map_err(|e| TransportError::Io {
                host: self.name.clone(),
                source: e,
            })?;
        Ok(ExecOutput {
            rc: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
    async fn put(&self, request: PutRequest) -> Result<(), TransportError> {
        self.log
            .lock()
            .unwrap()
            .push((self.name.clone(), format!("PUT {}", request.dest)));
        Err(TransportError::File {
            host: self.name.clone(),
            path: request.dest,
            message: "writes are not expected".into(),
        })
    }
    async fn get(
        &self,
        path: &str,
        _b: Option<&etcdplay_transport::Become>,
    ) -> Result<Vec<u8>, TransportError> {
        std::fs::read(path).map_err(|e| TransportError::File {
            host: self.name.clone(),
            path: path.into(),
            message: e.to_string(),
        })
    }
    async fn close(&self) -> Result<(), TransportError> {
        Ok(())
    }
}

struct FakeConnector {
    units: BTreeMap<String, Option<String>>,
    log: Arc<Mutex<Vec<(String, String)>>>,
}

#[async_trait::async_trait]
impl Connector for FakeConnector {
    async fn connect(&self, target: &ConnectTarget) -> Result<Arc<dyn Transport>, TransportError> {
        Ok(Arc::new(FakeHost {
            name: target.host.clone(),
            unit: self.units.get(&target.host).cloned().flatten(),
            log: self.log.clone(),
        }))
    }
}

struct Hosts(Vec<String>);
impl InventoryView for Hosts {
    fn hosts(&self) -> Vec<String> {
        self.0.clone()
    }
    fn select(&self, pattern: &str) -> Result<Vec<String>, PatternError> {
        Ok(if pattern == "all" || pattern == "etcds" {
            self.0.clone()
        } else {
            self.0.iter().filter(|h| *h == pattern).cloned().collect()
        })
    }
    fn host_layers(&self, _host: &str, _dir: &Path) -> Vec<(Precedence, Map<String, Value>)> {
        Vec::new()
    }
    fn groups(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("all".into(), json!(self.0));
        m.insert("etcds".into(), json!(self.0));
        m
    }
    fn group_names(&self, _host: &str) -> Vec<String> {
        vec!["etcds".into()]
    }
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<HostEvent>>,
}
impl Reporter for Recorder {
    fn play_start(&self, _name: &str, _hosts: &[String]) {}
    fn task_start(&self, _kind: TaskKindLabel, _header: &str, _hosts: &[String]) {}
    fn host_event(&self, e: &HostEvent) {
        self.events.lock().unwrap().push(e.clone());
    }
    fn warning(&self, _message: &str) {}
    fn recap(&self, _stats: &Stats) {}
}

struct Outcome {
    events: Vec<HostEvent>,
    log: Vec<(String, String)>,
}

async fn run(playbook: &str, units: BTreeMap<String, Option<String>>) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.yml");
    std::fs::write(&path, playbook).unwrap();
    let book = load_playbook(&path, &Registry, &LoadOptions::default()).expect("playbook parses");
    let log = Arc::new(Mutex::new(Vec::new()));
    let hosts: Vec<String> = units.keys().cloned().collect();
    let recorder = Arc::new(Recorder::default());
    let connector = Arc::new(FakeConnector {
        units,
        log: log.clone(),
    });
    let engine = Engine::new(
        Arc::new(Hosts(hosts)),
        connector,
        recorder.clone(),
        RunOptions::default(),
        vec![dir.path().to_path_buf()],
    )
    .with_extension(Arc::new(EtcdExtension));
    engine.run(&book).await.expect("run");
    let events = recorder.events.lock().unwrap().clone();
    let log = log.lock().unwrap().clone();
    Outcome { events, log }
}

const START: &str = "- hosts: etcds\n  gather_facts: no\n  tasks:\n    - name: start etcd\n      systemd: name={{ unit_name | default('etcd') }} state=restarted\n";

/// The scripts one request ran: the probes of a read-ahead batch (each the body of an
/// `ep_probe` function), or the request's script itself.
fn probes_of(script: &str) -> Vec<&str> {
    if !script.starts_with("exec 5>&1\n") {
        return vec![script];
    }
    script
        .split("ep_probe() {\n:\n")
        .skip(1)
        .map(|body| body.split("\n}\nep_err=").next().unwrap_or(body))
        .collect()
}

fn event<'a>(o: &'a Outcome, host: &str) -> &'a HostEvent {
    o.events.iter().find(|e| e.host == host).unwrap_or_else(|| {
        panic!(
            "no event for {host}: {:?}",
            o.events.iter().map(|e| &e.host).collect::<Vec<_>>()
        )
    })
}

/// Whether `script` is the guard's `systemctl cat` of a unit, sent by itself.
fn is_unit_probe(script: &str) -> bool {
    script.contains("\nt=$(systemctl cat") && !script.contains("ep_probe()")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_unit_on_an_http_data_dir_is_refused_on_every_host_and_nothing_is_touched() {
    let f = fixture();
    let before = snapshot_of(&f.data_dir);
    let tls_url = f.peer_url.replace("http://", "https://");
    let mut units = BTreeMap::new();
    units.insert("m1".to_string(), Some(unit_text(&f.data_dir, &tls_url)));
    units.insert("m2".to_string(), None);
    let o = run(START, units).await;
    let m1 = event(&o, "m1");
    assert_eq!(m1.status, HostStatus::Failed);
    let msg = m1.msg.clone().unwrap();
    let dd = f.data_dir.display().to_string();
    for needle in [
        "m1",
        dd.as_str(),
        "name=n1",
        f.peer_url.as_str(),
        tls_url.as_str(),
        "tls: first record does not look like a TLS handshake",
        "was not touched",
        "--leftover-membership migrate",
        "--leftover-membership reset",
    ] {
        assert!(msg.contains(needle), "message lacks {needle:?}:\n{msg}");
    }
    let local = m1.result["local_id"].as_str().unwrap().to_string();
    assert!(msg.contains(&format!("member {local} name=n1")), "{msg}");
    assert_eq!(m1.result["verdict"], "block");
    assert_eq!(m1.result["members"][0]["peer_urls"][0], f.peer_url.as_str());
    let m2 = event(&o, "m2");
    assert_eq!(m2.status, HostStatus::Failed);
    assert!(
        m2.msg.as_deref().unwrap().contains("refused on m1"),
        "{:?}",
        m2.msg
    );
    // Only reads reached the hosts: `systemctl cat`, listings and byte ranges (each probe of a
    // read-ahead batch on its own).
    for (host, script) in &o.log {
        for probe in probes_of(script) {
            let read_only = is_unit_probe(probe)
                || probe.contains("find ")
                || probe.contains(" dd if=")
                || probe.contains("stat -c");
            assert!(read_only, "{host} got a non-read command: {probe}");
        }
    }
    assert_eq!(before, snapshot_of(&f.data_dir), "the data dir changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_http_unit_passes_and_a_non_etcd_unit_costs_one_command() {
    let f = fixture();
    let mut units = BTreeMap::new();
    units.insert("m1".to_string(), Some(unit_text(&f.data_dir, &f.peer_url)));
    units.insert(
        "m2".to_string(),
        Some(
            "# /lib/systemd/system/ssh.service\n[Service]\nExecStart=/usr/sbin/sshd -D\n"
                .to_string(),
        ),
    );
    let o = run(START, units).await;
    for h in ["m1", "m2"] {
        let e = event(&o, h);
        assert!(
            !e.msg
                .clone()
                .unwrap_or_default()
                .contains("data-dir scheme check"),
            "{h}: {:?}",
            e.msg
        );
    }
    let reads = |h: &str| {
        o.log
            .iter()
            // (A read-ahead batch's reload check `find`s the unit directories, `-cnewer`.)
            .filter(|(x, s)| {
                x == h && ((s.contains("find ") && !s.contains("-cnewer")) || s.contains(" dd if="))
            })
            .count()
    };
    assert!(
        reads("m1") >= 2,
        "the etcd host's data dir was read: {:?}",
        o.log
    );
    // WAL blocks are 8 MiB: a small dir takes a handful of round trips, not hundreds.
    assert!(reads("m1") < 20, "too many round trips: {}", reads("m1"));
    assert_eq!(reads("m2"), 0);
    let before_module: Vec<&String> = o
        .log
        .iter()
        .filter(|(x, s)| x == "m2" && !s.contains("systemctl"))
        .map(|(_, s)| s)
        .collect();
    assert!(
        before_module.is_empty(),
        "the guard ran more than `systemctl cat` on a non-etcd unit: {before_module:?}"
    );
    assert_eq!(
        o.log
            .iter()
            .filter(|(x, s)| x == "m2" && is_unit_probe(s))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_task_registers_members_and_fails_unless_report_mode() {
    let f = fixture();
    let dd = f.data_dir.display().to_string();
    let tls_url = f.peer_url.replace("http://", "https://");
    let book = format!(
        "- hosts: etcds\n  gather_facts: no\n  tasks:\n    - data_dir_scheme_check:\n        data_dir: \"{dd}\"\n        peer_urls: [\"{tls_url}\"]\n        mode: report\n    - data_dir_scheme_check:\n        data_dir: \"{dd}\"\n        scheme: http\n    - data_dir_scheme_check:\n        data_dir: \"{dd}\"\n        scheme: https\n    - data_dir_scheme_check:\n        data_dir: \"{dd}/nothing-here\"\n        scheme: https\n"
    );
    let mut units = BTreeMap::new();
    units.insert("m1".to_string(), None);
    let o = run(&book, units).await;
    assert_eq!(
        o.events.len(),
        3,
        "the failing third task ends the host: {:?}",
        o.events.iter().map(|e| &e.msg).collect::<Vec<_>>()
    );
    let report = &o.events[0];
    assert_eq!(report.status, HostStatus::Ok);
    assert_eq!(report.result["state"], "initialized");
    assert_eq!(report.result["verdict"], "block");
    assert_eq!(report.result["changed"], false);
    assert_eq!(report.result["members"][0]["name"], "n1");
    assert_eq!(report.result["members"][0]["is_learner"], false);
    assert!(
        report.result["reasons"].as_array().unwrap().len() >= 2,
        "{}",
        report.result
    );
    assert_eq!(o.events[1].status, HostStatus::Ok, "{:?}", o.events[1].msg);
    assert_eq!(o.events[1].result["verdict"], "pass");
    assert_eq!(o.events[2].status, HostStatus::Failed);
    assert!(o.events[2]
        .msg
        .as_deref()
        .unwrap()
        .contains("tls: first record does not look like a TLS handshake"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_data_dir_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let book = format!("- hosts: etcds\n  gather_facts: no\n  tasks:\n    - data_dir_scheme_check: data_dir={} scheme=https\n", tmp.path().join("none").display());
    let mut units = BTreeMap::new();
    units.insert("m1".to_string(), None);
    let o = run(&book, units).await;
    assert_eq!(o.events[0].status, HostStatus::Ok, "{:?}", o.events[0].msg);
    assert_eq!(o.events[0].result["state"], "uninitialized");
    assert_eq!(o.events[0].result["verdict"], "pass");
}
