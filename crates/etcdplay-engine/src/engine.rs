//! The engine's entry point: [`Engine::run`] takes a parsed playbook and runs its plays on the
//! inventory's hosts, one `serial` batch at a time, and returns the recap's counters.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use etcdplay_playbook::Playbook;
use etcdplay_template::{Templar, TemplarOptions};
use tokio::sync::Semaphore;

use crate::connect::{ConnectionPool, Connector};
use crate::error::EngineError;
use crate::events::{Reporter, Stats, TimingEntry};
use crate::extension::EngineExtension;
use crate::inventory::InventoryView;
use crate::options::RunOptions;
use crate::play::{batches, PlayRun};
use crate::state::{PlayMagic, Shared};

pub(crate) struct EngineInner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) templar: Templar,
    pub(crate) options: RunOptions,
    pub(crate) reporter: Arc<dyn Reporter>,
    pub(crate) pool: ConnectionPool,
    /// `--forks`: how many host-tasks run at once.
    pub(crate) forks: Semaphore,
    pub(crate) stats: Mutex<Stats>,
    /// Where the wall time went, for `--timing`.
    pub(crate) timings: Mutex<Vec<TimingEntry>>,
    pub(crate) checksums: crate::control::ChecksumCache,
    pub(crate) read_ahead: crate::read_ahead::ReadAhead,
    /// What the layer above adds to plays (see `extension/`).
    pub(crate) extension: Arc<dyn EngineExtension>,
    /// `--start-at-task`: tasks skipped until the named one.
    pub(crate) start_at: crate::start_at::StartAt,
    /// Async jobs running in background tasks of this process, by job id (`task/async_job.rs`).
    pub(crate) control_jobs: Mutex<std::collections::HashMap<String, tokio::task::AbortHandle>>,
    /// Hosts that failed or became unreachable in a play: later plays leave them out.
    pub(crate) out_of_run: OutOfRun,
}

/// As in Ansible, a host that failed or became unreachable in a play takes no part in the
/// plays after it; `meta: clear_host_errors` brings the failed ones back (not the unreachable
/// ones). Checked with ansible-core 2.19.14: play 1 fails host a, a later `hosts: all` play
/// runs on b only, and after a play ran `meta: clear_host_errors` the next one runs on a again.
#[derive(Debug, Default)]
pub(crate) struct OutOfRun {
    failed: Mutex<HashSet<String>>,
    unreachable: Mutex<HashSet<String>>,
}

impl OutOfRun {
    /// Adds the hosts that failed and became unreachable in a batch of a play.
    fn add(&self, (failed, unreachable): (HashSet<String>, HashSet<String>)) {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(failed);
        self.unreachable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(unreachable);
    }

    /// `meta: clear_host_errors`.
    pub(crate) fn clear_failed(&self) {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Every host out of the run.
    fn hosts(&self) -> HashSet<String> {
        let mut out = self
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        out.extend(
            self.unreachable
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned(),
        );
        out
    }

    /// Takes the hosts out of the run out of `hosts`; says whether any was.
    fn remove_from(&self, hosts: &mut Vec<String>) -> bool {
        let failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        let unreachable = self.unreachable.lock().unwrap_or_else(|p| p.into_inner());
        let before = hosts.len();
        hosts.retain(|h| !failed.contains(h) && !unreachable.contains(h));
        hosts.len() != before
    }
}

impl EngineInner {
    /// Records one phase for `--timing`.
    pub(crate) fn record_timing(
        &self,
        phase: String,
        slowest_host: Option<String>,
        wall: std::time::Duration,
    ) {
        self.timings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(TimingEntry {
                phase,
                slowest_host,
                wall,
            });
    }
}

/// `hosts` of `play` cut into its `serial` batches (a templated size rendered with the first
/// host's variables).
fn batch_plan(
    inner: &EngineInner,
    play: &etcdplay_playbook::Play,
    hosts: &[String],
) -> Vec<Vec<String>> {
    batches(hosts, &play.serial, |t| {
        let vars = inner
            .shared
            .vars_for(&hosts[0], &inner.shared.host_layers(&hosts[0]));
        inner
            .templar
            .render_string(t, "serial", &vars)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    })
}

/// Runs playbooks. One engine serves one `etcdplay apply` (connections are reused across plays).
pub struct Engine {
    inner: EngineInner,
}

impl Engine {
    /// An engine over `inventory`, reaching hosts through `connector` and reporting to `reporter`.
    /// `search_dirs` are where templates and `lookup('file')` look (the playbook's directory).
    pub fn new(
        inventory: Arc<dyn InventoryView>,
        connector: Arc<dyn Connector>,
        reporter: Arc<dyn Reporter>,
        options: RunOptions,
        search_dirs: Vec<PathBuf>,
    ) -> Self {
        let templar = Templar::with_options(TemplarOptions {
            search_dirs,
            ..TemplarOptions::default()
        });
        let shared = Arc::new(Shared::new(
            inventory,
            options.extra_vars.clone(),
            templar.omit_token().to_string(),
        ));
        let forks = Semaphore::new(options.forks.max(1));
        let pool = ConnectionPool::new(connector, options.forks);
        let start_at = crate::start_at::StartAt::new(options.start_at_task.as_deref());
        Engine {
            inner: EngineInner {
                shared,
                templar,
                options,
                reporter,
                pool,
                forks,
                stats: Mutex::new(Stats::new()),
                timings: Mutex::new(Vec::new()),
                checksums: crate::control::ChecksumCache::default(),
                read_ahead: crate::read_ahead::ReadAhead::default(),
                extension: Arc::new(crate::extension::NoExtension),
                start_at,
                control_jobs: Mutex::new(std::collections::HashMap::new()),
                out_of_run: OutOfRun::default(),
            },
        }
    }

    /// This engine with `extension` asked at the points described in `extension/`: its actions
    /// run as tasks, its preflight runs before every module task. Replaces any extension set
    /// before.
    pub fn with_extension(mut self, extension: Arc<dyn EngineExtension>) -> Self {
        self.inner.extension = extension;
        self
    }

    /// Runs every play of `playbook` and returns the recap's counters (also sent to the
    /// reporter). Host failures are in the counters; `Err` means the run could not proceed.
    pub async fn run(&self, playbook: &Playbook) -> Result<Stats, EngineError> {
        self.run_then(playbook, &[]).await
    }

    /// [`Engine::run`], for a run whose engine will then run `later` playbooks: a host's
    /// connection is closed once no play left in this playbook or in `later` may target it
    /// (see `release.rs`).
    pub async fn run_then(
        &self,
        playbook: &Playbook,
        later: &[Playbook],
    ) -> Result<Stats, EngineError> {
        let inner = &self.inner;
        let limit = match &inner.options.limit {
            Some(limit) => {
                let selected = inner.shared.inventory.select(limit).map_err(|reason| {
                    EngineError::BadPattern {
                        origin: "--limit".into(),
                        pattern: limit.clone(),
                        reason,
                    }
                })?;
                if selected.is_empty() {
                    return Err(EngineError::LimitMatchesNothing {
                        limit: limit.clone(),
                    });
                }
                Some(selected)
            }
            None => None,
        };
        for (index, play) in playbook.plays.iter().enumerate() {
            let rest = crate::release::RestOfRun::after(&playbook.plays, index, later);
            let mut hosts = inner
                .shared
                .inventory
                .select(&play.hosts)
                .map_err(|reason| EngineError::BadPattern {
                    origin: play.origin.to_string(),
                    pattern: play.hosts.clone(),
                    reason,
                })?;
            if let Some(limit) = &limit {
                hosts.retain(|h| limit.contains(h));
            }
            // `ansible_play_hosts_all` keeps the hosts that left the run; nothing else does.
            let hosts_all = hosts.clone();
            // A play whose hosts all left the run shows its header and nothing else.
            if inner.out_of_run.remove_from(&mut hosts) && hosts.is_empty() {
                inner.reporter.play_start(play.display_name(), &hosts);
                continue;
            }
            if hosts.is_empty() {
                inner.reporter.play_start(play.display_name(), &hosts);
                inner.reporter.warning("skipping: no hosts matched");
                continue;
            }
            {
                let mut stats = inner.stats.lock().unwrap_or_else(|p| p.into_inner());
                for h in &hosts {
                    stats.entry(h.clone()).or_default();
                }
            }
            let plan = batch_plan(inner, play, &hosts);
            for batch in plan {
                inner.shared.set_magic(PlayMagic {
                    play_hosts: hosts_all.clone(),
                    batch: batch.clone(),
                    playbook_dir: play.playbook_dir.clone(),
                    check_mode: inner.options.check,
                    diff_mode: inner.options.diff,
                    inventory_dir: inner.options.inventory_dir.clone(),
                    play_name: play.display_name().to_string(),
                    role_names: play.roles.iter().map(|r| r.role.name.clone()).collect(),
                    dependent_role_names: crate::state::dependent_role_names(play),
                    run: crate::state::RunMagic::of(&inner.options),
                });
                inner.shared.set_left_run(inner.out_of_run.hosts());
                inner.reporter.play_start(play.display_name(), &batch);
                let run = PlayRun::new(inner, play, batch.clone());
                run.run().await;
                inner.out_of_run.add(run.failed_and_unreachable());
                let done = crate::release::done_after_batch(
                    inner,
                    &batch,
                    &run.departed(),
                    &rest,
                    limit.as_deref(),
                );
                inner.pool.release(&done).await;
                if run.stopped_all() {
                    break;
                }
            }
        }
        let stats = inner
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        inner.reporter.recap(&stats);
        if let Some(message) = inner.start_at.never_found() {
            inner.reporter.warning(&message);
        }
        Ok(stats)
    }

    /// Where the wall time of the run went: the slowest connection, then every task with its
    /// slowest host, in the order they ran.
    pub fn timings(&self) -> Vec<TimingEntry> {
        let mut out = Vec::new();
        if let Some((host, wall)) = self.inner.pool.slowest_connect() {
            out.push(TimingEntry {
                phase: "connect (slowest host, overlaps the first task)".into(),
                slowest_host: Some(host),
                wall,
            });
        }
        out.extend(
            self.inner
                .timings
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned(),
        );
        out
    }

    /// Counts the processes each SSH host starts during the run, for `--timing` (two more
    /// requests per host: the host's pid counter read after connecting and before closing).
    pub fn count_host_processes(self) -> Self {
        self.inner.pool.count_processes();
        self
    }

    /// Per SSH host, the processes started on it from etcdplay's first request to its last
    /// (known after [`Engine::close`] and only with [`Engine::count_host_processes`]).
    pub fn host_processes(&self) -> Vec<(String, u64)> {
        self.inner.pool.host_processes()
    }

    /// The most hosts one `serial` batch of a play of `playbooks` has, with `--limit` applied:
    /// how many hosts' connections a run may hold at once, since the connections of a batch
    /// stay open while it runs (see `release.rs`). Known before any host is touched, so that a
    /// run too large for the open-file limit stops first; a pattern that cannot be evaluated
    /// yet (a template; one matching nothing while a play may still add hosts to groups) counts
    /// every host of the inventory.
    pub fn most_hosts_at_once(&self, playbooks: &[Playbook]) -> usize {
        let inner = &self.inner;
        let limit = match &inner.options.limit {
            Some(l) => inner.shared.inventory.select(l).ok(),
            None => None,
        };
        let all = inner.shared.inventory.hosts();
        let plays = || playbooks.iter().flat_map(|p| p.plays.iter());
        let grows = plays().any(crate::release::may_change_inventory);
        let mut most = 0;
        for play in plays() {
            let mut hosts = match inner.shared.inventory.select(&play.hosts) {
                Ok(h) if play.hosts.contains("{{") || (h.is_empty() && grows) => all.clone(),
                Ok(h) => h,
                Err(_) => all.clone(),
            };
            if let Some(limit) = &limit {
                let limit: HashSet<&String> = limit.iter().collect();
                hosts.retain(|h| limit.contains(h));
            }
            if hosts.is_empty() {
                continue;
            }
            let largest = batch_plan(inner, play, &hosts).iter().map(Vec::len).max();
            most = most.max(largest.unwrap_or(0));
        }
        most
    }

    /// Connections open now, the most that were open at once, and how many were closed before
    /// the end of the run because the run was done with their host.
    pub fn connections(&self) -> crate::ConnectionUsage {
        self.inner.pool.usage()
    }

    /// Closes every connection (SSH masters and remote shells). Call it on every exit path,
    /// including interruption.
    pub async fn close(&self) {
        // Async jobs run by this process end with it (ANSIBLE_COMPAT.md); their status files
        // stay unfinished.
        for (_, job) in self
            .inner
            .control_jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            job.abort();
        }
        self.inner.pool.close_all().await;
    }
}
