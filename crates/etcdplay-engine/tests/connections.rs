//! How many connections a run holds at 1,000 and 10,000 hosts (issue #18): a fake connector
//! hands out in-process transports that count themselves (opened, closed, open now, the most
//! open at once, connects in progress at once), so the test sees what an SSH run would hold in
//! masters and descriptors. A host's connection must close once the run is done with it: when
//! it failed (Ansible takes it out of the play and of the remaining plays), and after a play
//! for the hosts no later play targets; one used again must connect again by itself.
//!
//! Ansible's side, with ansible-core 2.19.14 (`-c local`, hosts a and b; play 1 fails a, play 2
//! `hosts: all`, play 3 `hosts: a`): play 2 runs on b only, play 3 prints its header and runs
//! nothing, and the recap gives a `failed=1`; a failed host is out of the run.

#![allow(clippy::print_stderr)]

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use etcdplay_engine::{
    ConnectTarget, Connector, Engine, HostEvent, InventoryView, PatternError, Reporter, RunOptions,
    Stats, TaskKindLabel,
};
use etcdplay_modules::Registry;
use etcdplay_playbook::{load_playbook, LoadOptions};
use etcdplay_template::Precedence;
use etcdplay_transport::{Become, ExecOutput, ExecRequest, PutRequest, Transport, TransportError};
use serde_json::{json, Map, Value};

/// `count` hosts `h000000…`; group `half` is the first half.
struct Fleet {
    hosts: Vec<String>,
    known: HashSet<String>,
    half: HashSet<String>,
}

impl Fleet {
    fn new(count: usize) -> Fleet {
        let hosts: Vec<String> = (0..count).map(|i| format!("h{i:06}")).collect();
        Fleet {
            known: hosts.iter().cloned().collect(),
            half: hosts[..count / 2].iter().cloned().collect(),
            hosts,
        }
    }
    fn half(&self) -> Vec<String> {
        self.hosts[..self.hosts.len() / 2].to_vec()
    }
}

impl InventoryView for Fleet {
    fn hosts(&self) -> Vec<String> {
        self.hosts.clone()
    }
    fn has_host(&self, host: &str) -> bool {
        self.known.contains(host)
    }
    fn select(&self, pattern: &str) -> Result<Vec<String>, PatternError> {
        Ok(match pattern {
            "all" => self.hosts.clone(),
            "half" => self.half(),
            p => self.hosts.iter().filter(|h| *h == p).cloned().collect(),
        })
    }
    fn host_layers(&self, _host: &str, _dir: &Path) -> Vec<(Precedence, Map<String, Value>)> {
        Vec::new()
    }
    fn groups(&self) -> Map<String, Value> {
        let mut groups = Map::new();
        groups.insert("all".into(), json!(self.hosts));
        groups.insert("half".into(), json!(self.half()));
        groups
    }
    fn group_names(&self, host: &str) -> Vec<String> {
        if self.half.contains(host) {
            vec!["half".into()]
        } else {
            Vec::new()
        }
    }
}

/// The words the playbooks' commands echo, to tell which task a request belongs to.
const MARKS: &[&str] = &[
    "firsttask",
    "afterfail",
    "delegated",
    "secondplay",
    "thirdplay",
    "markone",
    "marktwo",
];

/// What the fake connections saw.
#[derive(Default)]
struct Counts {
    connects: AtomicUsize,
    closes: AtomicUsize,
    open: AtomicUsize,
    peak_open: AtomicUsize,
    connecting: AtomicUsize,
    peak_connecting: AtomicUsize,
    /// Per marker a command echoes (`echo MARK`), the most connections open while it ran.
    open_during: Mutex<std::collections::HashMap<String, usize>>,
    /// Hosts connected, in order (a host twice was connected again).
    connected: Mutex<Vec<String>>,
}

impl Counts {
    fn during(&self, mark: &str) -> usize {
        self.open_during
            .lock()
            .unwrap()
            .get(mark)
            .copied()
            .unwrap_or(0)
    }
    fn connects_of(&self, host: &str) -> usize {
        self.connected
            .lock()
            .unwrap()
            .iter()
            .filter(|h| *h == host)
            .count()
    }
}

struct CountingConnector(Arc<Counts>);

#[async_trait]
impl Connector for CountingConnector {
    async fn connect(&self, target: &ConnectTarget) -> Result<Arc<dyn Transport>, TransportError> {
        let c = &self.0;
        let now = c.connecting.fetch_add(1, Ordering::SeqCst) + 1;
        c.peak_connecting.fetch_max(now, Ordering::SeqCst);
        // A handshake takes a while: connects that may overlap, overlap.
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        c.connecting.fetch_sub(1, Ordering::SeqCst);
        c.connects.fetch_add(1, Ordering::SeqCst);
        let open = c.open.fetch_add(1, Ordering::SeqCst) + 1;
        c.peak_open.fetch_max(open, Ordering::SeqCst);
        c.connected.lock().unwrap().push(target.host.clone());
        Ok(Arc::new(FakeHost {
            host: target.host.clone(),
            counts: c.clone(),
            closed: std::sync::atomic::AtomicBool::new(false),
        }))
    }
}

/// Answers every command with exit code 0 and no output; refuses requests once closed, so a
/// connection closed under a running host shows as an unreachable host.
struct FakeHost {
    host: String,
    counts: Arc<Counts>,
    closed: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Transport for FakeHost {
    fn host(&self) -> &str {
        &self.host
    }
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(TransportError::Unreachable {
                host: self.host.clone(),
                reason: "used after close".into(),
            });
        }
        // The command module quotes its words: look for the marks themselves.
        if let Some(mark) = MARKS.iter().find(|m| request.script.contains(*m)) {
            let open = self.counts.open.load(Ordering::SeqCst);
            let mut during = self.counts.open_during.lock().unwrap();
            let seen = during.entry(mark.to_string()).or_default();
            *seen = (*seen).max(open);
        }
        Ok(ExecOutput {
            rc: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
        })
    }
    async fn put(&self, _request: PutRequest) -> Result<(), TransportError> {
        Ok(())
    }
    async fn get(&self, _path: &str, _become: Option<&Become>) -> Result<Vec<u8>, TransportError> {
        Ok(Vec::new())
    }
    async fn close(&self) -> Result<(), TransportError> {
        if !self.closed.swap(true, Ordering::SeqCst) {
            self.counts.closes.fetch_add(1, Ordering::SeqCst);
            self.counts.open.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[derive(Default)]
struct Quiet {
    stats: Mutex<Stats>,
    failures: Mutex<Vec<String>>,
}

impl Reporter for Quiet {
    fn play_start(&self, _name: &str, _hosts: &[String]) {}
    fn task_start(&self, _kind: TaskKindLabel, _header: &str, _hosts: &[String]) {}
    fn host_event(&self, e: &HostEvent) {
        if !matches!(
            e.status,
            etcdplay_engine::HostStatus::Ok
                | etcdplay_engine::HostStatus::Changed
                | etcdplay_engine::HostStatus::Skipped
        ) {
            let mut f = self.failures.lock().unwrap();
            if f.len() < 50 {
                f.push(format!("{:?} {} {:?}", e.status, e.host, e.msg));
            }
        }
    }
    fn warning(&self, _message: &str) {}
    fn recap(&self, stats: &Stats) {
        *self.stats.lock().unwrap() = stats.clone();
    }
}

/// Play 1 on every host fails every tenth host half-way; play 2 runs on the first half in
/// batches of 100; play 3 on one host. Each command echoes a mark naming its place.
const PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: no
  tasks:
    - command: echo firsttask
    - fail: msg=boom
      when: inventory_hostname is match('h.....0$')
    - command: echo afterfail
    - command: echo delegated
      delegate_to: h000010
      run_once: true
- hosts: half
  gather_facts: no
  serial: 100
  tasks:
    - command: echo secondplay
- hosts: h000001
  gather_facts: no
  tasks:
    - command: echo thirdplay
"#;

struct Run {
    counts: Arc<Counts>,
    reporter: Arc<Quiet>,
    during_run: etcdplay_engine::ConnectionUsage,
}

async fn run(count: usize, forks: usize, playbook_text: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.yml");
    std::fs::write(&path, playbook_text).unwrap();
    let playbook = load_playbook(&path, &Registry, &LoadOptions::default()).unwrap();
    let counts = Arc::new(Counts::default());
    let reporter = Arc::new(Quiet::default());
    let engine = Engine::new(
        Arc::new(Fleet::new(count)),
        Arc::new(CountingConnector(counts.clone())),
        reporter.clone(),
        RunOptions {
            forks,
            ..RunOptions::default()
        },
        vec![dir.path().to_path_buf()],
    );
    engine.run(&playbook).await.unwrap();
    let during_run = engine.connections();
    engine.close().await;
    Run {
        counts,
        reporter,
        during_run,
    }
}

fn check_fleet(count: usize, forks: usize, r: &Run) {
    let c = &r.counts;
    eprintln!(
        "{count} hosts, forks {forks}: open at most {} (first task {}, after the failures {}, \
         play 2 {}, play 3 {}), connects at once at most {}, connects {}, closed early {}",
        c.peak_open.load(Ordering::SeqCst),
        c.during("firsttask"),
        c.during("afterfail"),
        c.during("secondplay"),
        c.during("thirdplay"),
        c.peak_connecting.load(Ordering::SeqCst),
        c.connects.load(Ordering::SeqCst),
        r.during_run.released,
    );
    let failed_hosts = count / 10;
    let half = count / 2;
    let failures = r.reporter.failures.lock().unwrap().clone();
    assert_eq!(
        failures.len(),
        failed_hosts.min(50),
        "only the `fail` task fails: {failures:?}"
    );
    // Never more connects in progress than forks.
    assert!(
        c.peak_connecting.load(Ordering::SeqCst) <= forks,
        "{} connects at once with forks {forks}",
        c.peak_connecting.load(Ordering::SeqCst)
    );
    // The failed hosts' connections closed as they left the play, before the next task.
    assert_eq!(c.during("firsttask"), count);
    assert_eq!(c.during("afterfail"), count - failed_hosts);
    // h000010 failed and was released; the delegated task connected to it again and ran.
    assert_eq!(c.connects_of("h000010"), 2);
    // After play 1 only the first half is still needed (its failed hosts are out).
    let half_alive = half - half.div_ceil(10);
    assert!(
        c.during("secondplay") <= half_alive + 1,
        "{} open in play 2 (at most {half_alive} hosts of `half` and the delegate)",
        c.during("secondplay")
    );
    // After each batch of play 2 its hosts close but h000001; play 3 holds that one.
    assert_eq!(c.during("thirdplay"), 1);
    assert_eq!(
        r.during_run.open, 0,
        "every host's connection closed by the end"
    );
    assert_eq!(r.during_run.peak_open, count);
    // Nothing left behind, no host connected twice but the delegate.
    assert_eq!(c.connects.load(Ordering::SeqCst), count + 1);
    assert_eq!(c.closes.load(Ordering::SeqCst), count + 1);
    let stats = r.reporter.stats.lock().unwrap();
    assert_eq!(
        stats.values().filter(|s| s.failed > 0).count(),
        failed_hosts
    );
    // A failed host of `half` took no part in play 2: its one ok is play 1's first task.
    assert_eq!((stats["h000000"].ok, stats["h000000"].failed), (1, 1));
    assert_eq!(stats["h000002"].ok, 3, "firsttask, afterfail, secondplay");
    assert_eq!(stats.values().map(|s| s.unreachable).sum::<u32>(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_hosts_release_their_connections() {
    let r = run(1_000, 50, PLAYBOOK).await;
    check_fleet(1_000, 50, &r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_hosts_release_their_connections() {
    let r = run(10_000, 100, PLAYBOOK).await;
    check_fleet(10_000, 100, &r);
}

/// A later play that may add hosts to groups (`group_by`) keeps every connection: whom a
/// later pattern matches is not known until it ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_stay_while_the_inventory_may_change() {
    const GROUP_BY: &str = r#"
- hosts: all
  gather_facts: no
  tasks:
    - command: echo markone
- hosts: h000001
  gather_facts: no
  tasks:
    - command: echo marktwo
    - group_by: key=later
      ignore_errors: true
- hosts: later
  gather_facts: no
  tasks:
    - command: echo third
"#;
    let r = run(200, 20, GROUP_BY).await;
    assert_eq!(r.counts.during("marktwo"), 200);
    assert_eq!(r.counts.connects.load(Ordering::SeqCst), 200);
    assert_eq!(r.counts.closes.load(Ordering::SeqCst), 200);
}

/// Ansible's rule for later plays (ansible-core 2.19.14, `-c local`, hosts a b; here h000000
/// and h000001): play 1 fails h000000; play 2 `hosts: all` runs on h000001 only; play 3 runs
/// `meta: clear_host_errors` (on h000001); play 4 `hosts: all` runs on both again. Recorded:
/// `a : ok=2 ... failed=1`, `b : ok=3 ... skipped=1` (a's ping and play 4's debug; b's ping,
/// play 2's and play 4's debug). In play 2, `ansible_play_hosts_all` is `['a', 'b']`,
/// `ansible_play_hosts` and `ansible_play_batch` `['b']`. A failed host brought back connects
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_host_leaves_later_plays_until_clear_host_errors() {
    const PLAYS: &str = r#"
- hosts: all
  gather_facts: no
  tasks:
    - command: echo markone
    - fail: msg=boom
      when: inventory_hostname == 'h000000'
- hosts: all
  gather_facts: no
  tasks:
    - command: echo marktwo
    - assert:
        that:
          - ansible_play_hosts_all == ['h000000', 'h000001']
          - ansible_play_hosts == ['h000001']
          - ansible_play_batch == ['h000001']
- hosts: all
  gather_facts: no
  tasks:
    - meta: clear_host_errors
- hosts: all
  gather_facts: no
  tasks:
    - command: echo thirdplay
"#;
    let r = run(2, 5, PLAYS).await;
    let stats = r.reporter.stats.lock().unwrap().clone();
    assert_eq!((stats["h000000"].ok, stats["h000000"].failed), (2, 1));
    assert_eq!(
        (stats["h000001"].ok, stats["h000001"].skipped),
        (4, 1),
        "its assert passed"
    );
    // Play 2 ran with h000000's connection closed; play 4 opened it again.
    assert_eq!(r.counts.during("marktwo"), 1);
    assert_eq!(r.counts.connects_of("h000000"), 2);
    assert_eq!(r.counts.closes.load(Ordering::SeqCst), 3);
}
