//! Options of one run, as the command line sets them (`--forks`, `--check`, `--diff`, `--limit`,
//! `--tags`, `--skip-tags`, `-e`).

use serde_json::{Map, Value};

/// How a run behaves, independent of what it runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Hosts worked on at once (Ansible's `--forks`, default 50).
    pub forks: usize,
    /// Report what would change, change nothing.
    pub check: bool,
    /// Show unified diffs of changed content.
    pub diff: bool,
    /// `--limit` pattern, intersected with each play's hosts.
    pub limit: Option<String>,
    /// `--tags`: run only tasks with one of these tags (`all` when empty).
    pub tags: Vec<String>,
    /// `--skip-tags`.
    pub skip_tags: Vec<String>,
    /// `-e`: the highest-precedence variables.
    pub extra_vars: Map<String, Value>,
    /// `-v` count.
    pub verbosity: u8,
    /// What to do when a data dir still holds membership that contradicts the plan.
    pub leftover_membership: LeftoverMembership,
    /// `--rotate-certs`: re-issue every member and client certificate.
    pub rotate_certs: bool,
    /// The directory of the first inventory source (`inventory_dir`; the default PKI
    /// directory lives beside the inventory).
    pub inventory_dir: Option<std::path::PathBuf>,
    /// The Ansible configuration file that was read (`ansible_config_file`; `None` when none
    /// was found, which Ansible shows as `None` too).
    pub config_file: Option<std::path::PathBuf>,
    /// How playbooks were loaded (`roles_path`, extra vars, import names): files and roles a
    /// dynamic include names when it runs are loaded the same way.
    pub load_options: etcdplay_playbook::LoadOptions,
    /// Read the probes of upcoming tasks in one round trip per host (see `read_ahead.rs`);
    /// `--no-read-ahead` turns it off.
    pub read_ahead: bool,
    /// Connection settings of the command line and ansible.cfg.
    pub connection_defaults: ConnectionDefaults,
    /// `--start-at-task`: skip tasks until the first whose name matches (see `start_at.rs`).
    pub start_at_task: Option<String>,
    /// ansible.cfg's `gathering`: which plays gather facts.
    pub gathering: Gathering,
    /// ansible.cfg's `async_dir` (`ANSIBLE_ASYNC_DIR`): the jobs' directory on the host when
    /// no `ansible_async_dir` variable names one.
    pub async_dir: Option<String>,
}

/// Ansible's `gathering` setting: when a play gathers facts on its hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gathering {
    /// Unless the play says `gather_facts: false` (Ansible's default).
    #[default]
    Implicit,
    /// Only when the play says `gather_facts: true`.
    Explicit,
    /// As implicit, but a host whose facts were gathered earlier in the run is not asked again.
    Smart,
}

/// `-u`, `--private-key`, `-b` and `--become-user` (or ansible.cfg's `remote_user` and
/// `private_key_file`): what applies when neither a host variable (`ansible_user`,
/// `ansible_become`, ...) nor a play or task keyword says otherwise, as in Ansible, where
/// variables beat keywords and keywords beat the command line.
#[derive(Debug, Clone, Default)]
pub struct ConnectionDefaults {
    pub remote_user: Option<String>,
    pub private_key: Option<String>,
    pub become_: bool,
    pub become_user: Option<String>,
    /// `--become-method` or ansible.cfg's `become_method` (sudo when none says).
    pub become_method: Option<String>,
    /// `-K`: the password sudo or su gets when no `ansible_become_password` is set.
    pub become_password: Option<etcdplay_transport::Secret>,
}

/// `--leftover-membership`: how the data-dir scheme check reacts to a data dir whose stored
/// peer URLs contradict the planned ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeftoverMembership {
    /// Start nothing on any member of that cluster; explain and exit 2.
    #[default]
    Block,
    /// Reach the planned URLs keeping every key (rolling `member update`, or snapshot+restore).
    Migrate,
    /// Back up, then wipe and bootstrap fresh.
    Reset,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            forks: 50,
            check: false,
            diff: false,
            limit: None,
            tags: Vec::new(),
            skip_tags: Vec::new(),
            extra_vars: Map::new(),
            verbosity: 0,
            leftover_membership: LeftoverMembership::Block,
            rotate_certs: false,
            inventory_dir: None,
            config_file: None,
            load_options: etcdplay_playbook::LoadOptions::default(),
            read_ahead: true,
            connection_defaults: ConnectionDefaults::default(),
            start_at_task: None,
            gathering: Gathering::Implicit,
            async_dir: None,
        }
    }
}
