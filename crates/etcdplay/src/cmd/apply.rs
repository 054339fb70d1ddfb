//! `etcdplay apply -i INV [PLAYBOOK...]`: parse everything, report every problem before any
//! host is contacted (exit 4), then run the plays and exit like `ansible-playbook` does.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use etcdplay_cluster::EtcdExtension;
use etcdplay_engine::{
    ConnectionDefaults, Engine, LeftoverMembership, Reporter, RunOptions, Stats,
};
use etcdplay_inventory::Inventory;
use etcdplay_modules::Registry;
use etcdplay_playbook::{load_playbook_with_warnings, LoadOptions, Playbook};
use etcdplay_transport::HostKeyChecking;

use crate::adapters::{InventoryAdapter, SshConnector};
use crate::ansible_cfg::AnsibleConfig;
use crate::default_playbook::Builtin;
use crate::exit::ExitCode;
use crate::extra_vars;
use crate::output::json::{Fanout, JsonReporter};
use crate::output::operation::OperationReporter;
use crate::output::progress::ProgressReporter;
use crate::output::stream::StreamReporter;

/// Options of `etcdplay apply`.
#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// Inventory file, directory or `host1,host2,` list; may be given several times (default:
    /// `inventory` of ansible.cfg / ANSIBLE_INVENTORY).
    #[arg(short = 'i', long = "inventory")]
    pub(crate) inventory: Vec<String>,
    /// Playbooks to run, in order; none: the built-in etcd cluster playbook (on the group
    /// `etcd`, or `-e etcd_group=NAME`).
    pub(crate) playbooks: Vec<PathBuf>,
    /// Extra variables: `key=value`, `@file.yml` or a JSON mapping; may repeat.
    #[arg(short = 'e', long = "extra-vars")]
    pub(crate) extra_vars: Vec<String>,
    /// Further limit the hosts with a pattern (`@file`: one pattern per line of the file).
    #[arg(short = 'l', long, value_parser = crate::limit::limit_pattern)]
    pub(crate) limit: Option<String>,
    /// Only run tasks with these tags (comma separated, may repeat).
    #[arg(short = 't', long = "tags", value_delimiter = ',')]
    pub(crate) tags: Vec<String>,
    /// Skip tasks with these tags.
    #[arg(long = "skip-tags", value_delimiter = ',')]
    pub(crate) skip_tags: Vec<String>,
    /// Skip every task (fact gathering too) until the first whose name or `role : name`
    /// matches this (shell wildcards allowed), as ansible-playbook's option does.
    #[arg(long = "start-at-task", value_name = "NAME")]
    pub(crate) start_at_task: Option<String>,
    /// Report what would change; change nothing.
    #[arg(short = 'C', long)]
    pub(crate) check: bool,
    /// Show the differences in changed files.
    #[arg(short = 'D', long)]
    pub(crate) diff: bool,
    /// Hosts worked on in parallel (default: ansible.cfg's `forks`, else 50).
    #[arg(short = 'f', long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) forks: Option<u32>,
    /// Seconds to wait for a host's SSH connection (default: ansible.cfg's `timeout`, else 10).
    #[arg(short = 'T', long, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) timeout: Option<u64>,
    /// How to treat host keys: ssh-config (what your ssh configuration and the inventory's
    /// ssh args say; unknown hosts are refused by OpenSSH's default), strict, accept-new or off
    /// (default: ssh-config, or off when ansible.cfg says `host_key_checking = False`).
    #[arg(long, value_parser = parse_host_key_checking)]
    pub(crate) host_key_checking: Option<HostKeyChecking>,
    /// known_hosts file for host keys (default: ssh's own).
    #[arg(long)]
    pub(crate) known_hosts: Option<PathBuf>,
    /// Write per task and host results as JSON: `--output json FILE`.
    #[arg(long, num_args = 2, value_names = ["FORMAT", "FILE"])]
    pub(crate) output: Option<Vec<String>>,
    /// When a data dir still holds membership that contradicts the plan: block (default),
    /// migrate (keep every key) or reset (back up, then start fresh).
    #[arg(long, default_value = "block", value_parser = parse_leftover)]
    pub(crate) leftover_membership: LeftoverMembership,
    /// Re-issue every member and client certificate.
    #[arg(long)]
    pub(crate) rotate_certs: bool,
    /// Replace the CA itself without downtime, in three rolling phases: trust old and new
    /// CA, re-issue every certificate under the new CA, drop the old CA (`etcd_rotate_ca`).
    /// Running it again resumes an interrupted rotation (its phase is kept in pki/ca-rotation).
    #[arg(long)]
    pub(crate) rotate_ca: bool,
    /// After the recap, show where the wall time went (connections, each task's slowest host)
    /// and how many processes the run started on each SSH host (read from the host's pid
    /// counter, which costs two small requests per host).
    #[arg(long)]
    pub(crate) timing: bool,
    /// Send every task's probe in its own round trip instead of reading the probes of
    /// upcoming tasks ahead in one (for comparison; the results are the same).
    #[arg(long)]
    pub(crate) no_read_ahead: bool,
    /// List the hosts each play would run on, and stop (nothing is contacted).
    #[arg(long)]
    pub(crate) list_hosts: bool,
    /// List the tasks each play would run under the tag selection, and stop.
    #[arg(long)]
    pub(crate) list_tasks: bool,
    /// List the tags of the tasks each play would run, and stop.
    #[arg(long)]
    pub(crate) list_tags: bool,
    /// Accepted for `ansible-playbook` compatibility: etcdplay keeps no fact cache.
    #[arg(long)]
    pub(crate) flush_cache: bool,
    /// More output (-v shows results).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,
    #[command(flatten)]
    pub(crate) vault: crate::vault_args::VaultArgs,
    /// Set by `etcdplay run`: show results as `ansible`'s ad-hoc output for this module.
    #[arg(skip)]
    pub(crate) adhoc_module: Option<String>,
    /// The built-in playbook run when no playbook is given (`backup` and `restore` set theirs).
    #[arg(skip = Builtin::Cluster)]
    pub(crate) builtin: Builtin,
    /// Set by `backup`/`restore`: collects what the operation did.
    #[arg(skip)]
    pub(crate) operation: Option<Arc<OperationReporter>>,
    /// Set by `backup --json`/`restore --json`: no stream, only the operation's document.
    #[arg(skip)]
    pub(crate) quiet: bool,
}

/// Connection options of the command line, as `ansible-playbook` and `ansible` take them. They
/// are defaults: the inventory's `ansible_user`, `ansible_become`... and play keywords win.
#[derive(Debug, Args, Default, Clone)]
pub(crate) struct ConnectionArgs {
    /// Log in as this user (ansible_user of hosts that set none).
    #[arg(short = 'u', long = "user")]
    pub(crate) user: Option<String>,
    /// Use this private key (ansible_ssh_private_key_file of hosts that set none).
    #[arg(long = "private-key", visible_alias = "key-file")]
    pub(crate) private_key: Option<PathBuf>,
    /// Run tasks with become (sudo) unless a play or task says otherwise.
    #[arg(short = 'b', long = "become")]
    pub(crate) become_: bool,
    /// The user to become (default root).
    #[arg(long)]
    pub(crate) become_user: Option<String>,
    /// How to become: sudo (default) or su.
    #[arg(long)]
    pub(crate) become_method: Option<String>,
    /// Ask for the become password (sudo's or su's) on the terminal.
    #[arg(short = 'K', long = "ask-become-pass")]
    pub(crate) ask_become_pass: bool,
}

fn parse_leftover(s: &str) -> Result<LeftoverMembership, String> {
    match s {
        "block" => Ok(LeftoverMembership::Block),
        "migrate" => Ok(LeftoverMembership::Migrate),
        "reset" => Ok(LeftoverMembership::Reset),
        _ => Err(format!("'{s}' is not one of block, migrate, reset")),
    }
}

pub(crate) fn parse_host_key_checking(s: &str) -> Result<HostKeyChecking, String> {
    HostKeyChecking::parse(s)
        .ok_or_else(|| format!("'{s}' is not one of ssh-config, strict, accept-new, off"))
}

/// What `apply` needs before touching a host: every file parsed, every problem found.
pub(crate) struct Prepared {
    pub(crate) inventory: Arc<InventoryAdapter>,
    pub(crate) playbooks: Vec<Playbook>,
    /// How the playbooks were loaded; dynamic includes load their files the same way.
    pub(crate) load_options: LoadOptions,
}

/// The run's settings where the Ansible configuration may give them: command-line option,
/// else `ANSIBLE_*` variable or ansible.cfg, else etcdplay's default.
pub(crate) struct Settings {
    pub(crate) config: AnsibleConfig,
    pub(crate) inventory: Vec<String>,
    /// ansible.cfg's and the command line's connection settings (below every host variable
    /// and keyword).
    connection_defaults: ConnectionDefaults,
    gathering: etcdplay_engine::Gathering,
    forks: u32,
    timeout: u64,
    host_key_checking: HostKeyChecking,
}

impl Settings {
    /// Reads the configuration; `Err` is the message of a bad file or value, or of a run
    /// without any inventory.
    pub(crate) fn resolve(
        inventory: &[String],
        connection: &ConnectionArgs,
        forks: Option<u32>,
        timeout: Option<u64>,
        host_key_checking: Option<HostKeyChecking>,
    ) -> Result<Settings, String> {
        let config = AnsibleConfig::discover().map_err(|e| e.to_string())?;
        let inventory = if inventory.is_empty() {
            config.inventory()
        } else {
            inventory.to_vec()
        };
        if inventory.is_empty() {
            return Err("no inventory: give -i, or set `inventory` in ansible.cfg".into());
        }
        let config_checking = config.host_key_checking().map_err(|e| e.to_string())?;
        Ok(Settings {
            forks: forks
                .or(config.forks().map_err(|e| e.to_string())?)
                .unwrap_or(50),
            timeout: timeout
                .or(config.timeout().map_err(|e| e.to_string())?)
                .unwrap_or(10),
            host_key_checking: host_key_checking.unwrap_or(match config_checking {
                Some(false) => HostKeyChecking::Off,
                _ => HostKeyChecking::SshConfig,
            }),
            inventory,
            connection_defaults: connection_defaults(&config, connection)?,
            gathering: config.gathering().map_err(|e| e.to_string())?,
            config,
        })
    }
}

/// Loads the inventory and playbooks; every problem is printed as `file:line:col: message`.
pub(crate) fn prepare(
    settings: &Settings,
    playbooks: &[PathBuf],
    extra_vars: &serde_json::Map<String, serde_json::Value>,
) -> Result<Prepared, ExitCode> {
    let inventory = &settings.inventory;
    let templar = etcdplay_template::Templar::new(Vec::new());
    let options = LoadOptions {
        role_paths: settings.config.roles_path(),
        extra_vars: extra_vars.clone(),
        import_names: Some(Arc::new(etcdplay_engine::ImportNameRenderer::new(
            templar.clone(),
        ))),
    };
    let mut problems = etcdplay_source::Diagnostics::new();
    let inv = match Inventory::load(inventory) {
        Ok(inv) => Some(inv),
        Err(d) => {
            problems.extend(d);
            None
        }
    };
    let mut loaded = Vec::new();
    // Problems of tasks that may never run: Ansible says nothing until such a task runs (and
    // then fails it); etcdplay fails it then too, and says so now.
    let mut warnings = etcdplay_source::Diagnostics::new();
    for path in playbooks {
        let (result, late) = load_playbook_with_warnings(path, &Registry, &options);
        warnings.extend(late);
        match result {
            Ok(p) => loaded.push(p),
            Err(d) => problems.extend(d),
        }
    }
    for book in &loaded {
        warnings.extend(etcdplay_engine::playbook_warnings(book, &templar));
    }
    for warning in warnings.sorted().iter() {
        eprintln!("[WARNING]: {warning}");
    }
    let dirs: Vec<PathBuf> = loaded
        .iter()
        .flat_map(|p| p.plays.iter().map(|play| play.playbook_dir.clone()))
        .collect();
    let adapter = match inv {
        Some(inv) => match InventoryAdapter::new(inv, &dirs) {
            Ok(a) => Some(a),
            Err(d) => {
                problems.extend(d);
                None
            }
        },
        None => None,
    };
    match adapter {
        Some(a) if problems.is_empty() => Ok(Prepared {
            inventory: Arc::new(a),
            playbooks: loaded,
            load_options: options,
        }),
        _ => {
            eprintln!(
                "{}",
                crate::output::redact::text(&problems.sorted().to_string())
            );
            Err(ExitCode::ParseError)
        }
    }
}

fn exit_code_of(stats: &Stats) -> ExitCode {
    if stats.values().any(|s| s.failed > 0) {
        ExitCode::HostFailed
    } else if stats.values().any(|s| s.unreachable > 0) {
        ExitCode::HostUnreachable
    } else {
        ExitCode::Ok
    }
}

/// The connection settings of the Ansible configuration and the command line (which wins).
fn connection_defaults(
    config: &AnsibleConfig,
    cli: &ConnectionArgs,
) -> Result<ConnectionDefaults, String> {
    Ok(ConnectionDefaults {
        remote_user: cli.user.clone().or_else(|| config.remote_user()),
        private_key: cli
            .private_key
            .as_ref()
            .map(|k| k.display().to_string())
            .or_else(|| config.private_key_file()),
        become_: cli.become_
            || config
                .become_()
                .map_err(|e| e.to_string())?
                .unwrap_or(false),
        become_user: cli.become_user.clone().or_else(|| config.become_user()),
        become_method: cli.become_method.clone().or_else(|| config.become_method()),
        become_password: ask_become_password(cli)?,
    })
}

/// `-K`: the become password, read from the terminal without echo as Ansible's prompt does,
/// and remembered so that no output shows it.
fn ask_become_password(cli: &ConnectionArgs) -> Result<Option<etcdplay_transport::Secret>, String> {
    if !cli.ask_become_pass {
        return Ok(None);
    }
    let password = etcdplay_vault::source::terminal_prompt("BECOME password: ")
        .map_err(|e| format!("cannot read the become password: {e}"))?;
    etcdplay_vault::redact::remember(&password);
    Ok(Some(etcdplay_transport::Secret::new(password)))
}

/// The directory of the first inventory source that is a path (`inventory_dir`).
fn inventory_dir(sources: &[String]) -> Option<PathBuf> {
    sources.iter().map(Path::new).find(|p| p.exists()).map(|p| {
        let dir = if p.is_dir() {
            p.to_path_buf()
        } else {
            p.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        // Absolute, so that paths built on it (the PKI directory) do not depend on where the
        // playbook is (the built-in one lives in a temporary directory).
        dir.canonicalize().unwrap_or(dir)
    })
}

/// A private directory (0700: tempfile's default follows the umask) for SSH control sockets
/// and generated ssh configs, short enough for the 108-byte socket limit.
fn control_dir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("etcdplay-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in("/tmp")
}

pub(crate) async fn run(args: ApplyArgs) -> ExitCode {
    let settings = match Settings::resolve(
        &args.inventory,
        &args.connection,
        args.forks,
        args.timeout,
        args.host_key_checking,
    ) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("ERROR: {message}");
            return ExitCode::BadOptions;
        }
    };
    // Before any file is read: `-e @file`, inventories and playbooks may be vaulted.
    if let Err(message) = args.vault.install(&settings.config) {
        eprintln!("ERROR: {message}");
        return ExitCode::BadOptions;
    }
    let mut extra = match extra_vars::parse_all(&args.extra_vars) {
        Ok(e) => e,
        Err(message) => {
            eprintln!("ERROR: {message}");
            return ExitCode::BadOptions;
        }
    };
    if args.rotate_certs {
        // What the built-in playbook passes to etcd_pki's `rotate`.
        extra.insert("etcd_rotate_certs".into(), serde_json::Value::Bool(true));
    }
    if args.rotate_ca {
        // What the built-in playbook's CA rotation tasks run on.
        extra.insert("etcd_rotate_ca".into(), serde_json::Value::Bool(true));
    }
    // No playbook given: the built-in one, kept on disk until the run ends.
    let builtin = match args.playbooks.is_empty() {
        true => match crate::default_playbook::DefaultPlaybook::write(
            args.builtin,
            extra
                .get("etcd_group")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("etcd"),
        ) {
            Ok(p) => Some(p),
            Err(message) => {
                eprintln!("ERROR: {message}");
                return ExitCode::BadOptions;
            }
        },
        false => None,
    };
    let playbooks: Vec<PathBuf> = match &builtin {
        Some(p) => vec![p.path().to_path_buf()],
        None => args.playbooks.clone(),
    };
    let json_path = match args.output.as_deref() {
        None => None,
        Some([format, file]) if format == "json" => Some(PathBuf::from(file)),
        Some(other) => {
            eprintln!(
                "ERROR: --output takes 'json FILE', got '{}'",
                other.join(" ")
            );
            return ExitCode::BadOptions;
        }
    };
    if let Some(path) = &json_path {
        if let Err(e) = crate::output::json::check_writable(path) {
            eprintln!(
                "ERROR: --output json {}: the report cannot be written there: {e}",
                path.display()
            );
            return ExitCode::BadOptions;
        }
    }
    let prepared = match prepare(&settings, &playbooks, &extra) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let listing = crate::cmd::listing::Listing {
        hosts: args.list_hosts,
        tasks: args.list_tasks,
        tags: args.list_tags,
    };
    if listing.any() {
        return list(&args, &playbooks, &prepared, listing);
    }
    let dirs: Vec<PathBuf> = prepared
        .playbooks
        .iter()
        .flat_map(|p| p.plays.iter().map(|play| play.playbook_dir.clone()))
        .collect();
    let bad_ssh_args =
        crate::ssh_args_check::problems(prepared.inventory.as_ref(), &dirs, &extra, |h| {
            etcdplay_engine::InventoryView::inventory_file(prepared.inventory.as_ref(), h)
                .map(|f| f.display().to_string())
        });
    if !bad_ssh_args.is_empty() {
        for p in &bad_ssh_args {
            eprintln!("ERROR: {p}");
        }
        return ExitCode::ParseError;
    }
    let control = match control_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("ERROR: cannot create a directory for SSH control sockets: {e}");
            return ExitCode::Error;
        }
    };
    let mut reporters: Vec<Arc<dyn Reporter>> = Vec::new();
    if args.quiet {
        // The operation's document is the only output.
    } else if let Some(module) = &args.adhoc_module {
        reporters.push(Arc::new(crate::output::adhoc::AdhocReporter::new(
            std::io::stdout(),
            module,
        )));
    } else if std::io::stdout().is_terminal() {
        reporters.push(Arc::new(ProgressReporter::new(args.verbose)));
    } else {
        reporters.push(Arc::new(StreamReporter::new(
            std::io::stdout(),
            args.verbose,
        )));
    }
    let json_reporter = json_path.map(|path| Arc::new(JsonReporter::new(path)));
    if let Some(json) = &json_reporter {
        reporters.push(json.clone());
    }
    if let Some(operation) = &args.operation {
        reporters.push(operation.clone());
    }
    let connector = Arc::new(SshConnector {
        timeout: Duration::from_secs(settings.timeout),
        host_key_checking: settings.host_key_checking,
        known_hosts: args.known_hosts.clone(),
        control_dir: control.path().to_path_buf(),
        agent: SshConnector::host_agent(args.check),
    });
    let options = RunOptions {
        forks: settings.forks as usize,
        check: args.check,
        diff: args.diff,
        limit: args.limit.clone(),
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        extra_vars: extra,
        verbosity: args.verbose,
        leftover_membership: args.leftover_membership,
        rotate_certs: args.rotate_certs,
        inventory_dir: inventory_dir(&settings.inventory),
        config_file: settings.config.file.clone(),
        load_options: prepared.load_options.clone(),
        read_ahead: !args.no_read_ahead,
        connection_defaults: settings.connection_defaults.clone(),
        start_at_task: args.start_at_task.clone(),
        gathering: settings.gathering,
        async_dir: settings.config.async_dir(),
    };
    let search_dirs: Vec<PathBuf> = playbooks
        .iter()
        .map(|p| p.parent().map(Path::to_path_buf).unwrap_or_default())
        .collect();
    let run_started = std::time::Instant::now();
    // The etcd layer (data-dir guard, cluster actions) plugs into the engine's extension seam.
    let engine = Engine::new(
        prepared.inventory.clone(),
        connector,
        // Vault secrets are redacted before any reporter sees an event.
        Arc::new(crate::output::redact::Redacting(Arc::new(Fanout(
            reporters,
        )))),
        options,
        search_dirs,
    )
    .with_extension(Arc::new(EtcdExtension));
    let engine = if args.timing {
        engine.count_host_processes()
    } else {
        engine
    };
    // Before any host is touched: the connections the run will hold must fit the open-file
    // limit (see open_files.rs).
    let hosts_at_once = engine.most_hosts_at_once(&prepared.playbooks);
    if let Err(e) = crate::open_files::check_process(hosts_at_once, settings.forks as usize) {
        eprintln!("ERROR: {e}");
        return ExitCode::Error;
    }
    let code = tokio::select! {
        result = run_all(&engine, &prepared.playbooks) => result,
        _ = interrupted() => {
            eprintln!("\n[ERROR]: User interrupted execution");
            ExitCode::Interrupted
        }
    };
    // Every path closes the SSH masters and remote shells before exiting.
    engine.close().await;
    let mut code = code;
    if let Some(failure) = json_reporter.as_ref().and_then(|j| j.take_failure()) {
        eprintln!("ERROR: writing the JSON report: {failure}");
        if code == ExitCode::Ok {
            code = ExitCode::Error;
        }
    }
    if args.timing {
        print!(
            "{}",
            crate::output::timing::render(
                &engine.timings(),
                &engine.host_processes(),
                run_started.elapsed()
            )
        );
    }
    drop(control);
    drop(builtin);
    code
}

/// `--list-hosts/--list-tasks/--list-tags`: prints what would run, contacts nobody.
fn list(
    args: &ApplyArgs,
    paths: &[PathBuf],
    prepared: &Prepared,
    listing: crate::cmd::listing::Listing,
) -> ExitCode {
    let filter = crate::cmd::listing::TagFilter {
        only: &args.tags,
        skip: &args.skip_tags,
    };
    for (path, playbook) in paths.iter().zip(&prepared.playbooks) {
        // The built-in playbook lives in a temporary directory: show what it is instead.
        let shown = if args.playbooks.is_empty() {
            Path::new("etcd-cluster.yml (built in)")
        } else {
            path.as_path()
        };
        match crate::cmd::listing::render(
            shown,
            playbook,
            prepared.inventory.as_ref(),
            args.limit.as_deref(),
            listing,
            &filter,
        ) {
            Ok(text) => print!("{text}"),
            Err(message) => {
                eprintln!("ERROR: {message}");
                return ExitCode::BadOptions;
            }
        }
    }
    ExitCode::Ok
}

async fn run_all(engine: &Engine, playbooks: &[Playbook]) -> ExitCode {
    let mut worst = ExitCode::Ok;
    for (index, playbook) in playbooks.iter().enumerate() {
        // The playbooks after this one keep open the connections of hosts they may target.
        match engine.run_then(playbook, &playbooks[index + 1..]).await {
            Ok(stats) => {
                let code = exit_code_of(&stats);
                if code != ExitCode::Ok {
                    return code;
                }
            }
            Err(e) => {
                eprintln!("ERROR: {e}");
                worst = ExitCode::BadOptions;
                break;
            }
        }
    }
    worst
}

/// Resolves on SIGINT or SIGTERM.
async fn interrupted() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod control_dir_tests {
    #[test]
    fn the_control_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = super::control_dir().expect("control dir");
        let mode = std::fs::metadata(dir.path())
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
