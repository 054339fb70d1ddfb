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
        }
    }
}
