//! The run's shared memory of hosts: what each host has learnt during the run (facts,
//! `set_fact`, `register`, `include_vars`), the play's magic variables, and `hostvars`, which lets
//! a template on one host read another host's variables.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use etcdplay_template::{HostVarsSource, Precedence, SharedVars, VarLayers, Vars};
use serde_json::{Map, Value};

use crate::inventory::{InventoryChange, InventoryView};

/// What one host has accumulated during the run.
#[derive(Debug, Default, Clone)]
pub(crate) struct HostMemory {
    /// Shared with the host's variable layers (see `MemoryLayers`): one copy per host.
    pub(crate) facts: Arc<Map<String, Value>>,
    pub(crate) set_facts: Map<String, Value>,
    pub(crate) include_vars: Map<String, Value>,
    /// A play gathered this host's facts (what `gathering = smart` asks before gathering again).
    pub(crate) facts_gathered: bool,
}

/// Variables that are the same for every host of a play.
#[derive(Debug, Default, Clone)]
pub(crate) struct PlayMagic {
    pub(crate) play_hosts: Vec<String>,
    pub(crate) batch: Vec<String>,
    pub(crate) playbook_dir: PathBuf,
    pub(crate) check_mode: bool,
    pub(crate) diff_mode: bool,
    pub(crate) inventory_dir: Option<PathBuf>,
    /// The play's name as `PLAY [..]` shows it (`ansible_play_name`).
    pub(crate) play_name: String,
    /// The roles of the play's `roles:` (`role_names`, `ansible_play_role_names`) and those
    /// they depend on (`ansible_dependent_role_names`); `ansible_role_names` is both (a set in
    /// Ansible: here the play's roles first).
    pub(crate) role_names: Vec<String>,
    pub(crate) dependent_role_names: Vec<String>,
    /// What the command line and configuration say, the same for the whole run.
    pub(crate) run: RunMagic,
}

/// Magic variables of the whole run (`ansible_forks`, `ansible_run_tags`, ...), as a mapping.
#[derive(Debug, Default, Clone)]
pub(crate) struct RunMagic(pub(crate) Map<String, Value>);

impl RunMagic {
    /// The run's magic variables from its options, as ansible-core 2.19 defines them.
    pub(crate) fn of(options: &crate::RunOptions) -> RunMagic {
        let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        let mut m = Map::new();
        m.insert("ansible_verbosity".into(), Value::from(options.verbosity));
        m.insert("ansible_forks".into(), Value::from(options.forks));
        // Ansible lists `all` when no `--tags` was given.
        let run_tags = if options.tags.is_empty() {
            vec!["all".to_string()]
        } else {
            options.tags.clone()
        };
        m.insert("ansible_run_tags".into(), strings(&run_tags));
        m.insert("ansible_skip_tags".into(), strings(&options.skip_tags));
        if let Some(limit) = &options.limit {
            m.insert("ansible_limit".into(), Value::String(limit.clone()));
        }
        // etcdplay runs playbooks as ansible-core 2.19 does; roles test this version.
        m.insert(
            "ansible_version".into(),
            serde_json::json!({
                "full": ANSIBLE_VERSION,
                "major": 2,
                "minor": 19,
                "revision": 14,
                "string": ANSIBLE_VERSION,
            }),
        );
        m.insert(
            "ansible_config_file".into(),
            options
                .config_file
                .as_ref()
                .map(|p| Value::String(absolute_path_text(p)))
                .unwrap_or(Value::Null),
        );
        RunMagic(m)
    }
}

/// The ansible-core version whose behaviour etcdplay follows (`ansible_version`).
const ANSIBLE_VERSION: &str = "2.19.14";

/// A host's inventory-side variable layers, in precedence order.
type BaseLayers = Vec<(Precedence, Arc<Map<String, Value>>)>;

/// What a host has learnt, as the variable layers every task of the host shares until it
/// learns something again: facts (with their `ansible_facts` copy), `include_vars`, `set_fact`.
/// A host's facts as two layers: the facts, and `ansible_facts` (the same facts without their
/// `ansible_` prefix).
type FactsLayers = (Arc<Map<String, Value>>, Arc<Map<String, Value>>);

struct MemoryLayers {
    facts: Option<FactsLayers>,
    include_vars: Arc<Map<String, Value>>,
    set_facts: Arc<Map<String, Value>>,
}

impl MemoryLayers {
    /// The layers of `memory`; the facts' are taken from `before` when the facts are the same
    /// (a `register` or `set_fact` changes the memory, not the facts).
    fn of(memory: &HostMemory, before: Option<&MemoryLayers>) -> MemoryLayers {
        let same_facts = before
            .and_then(|b| b.facts.as_ref())
            .filter(|(facts, _)| Arc::ptr_eq(facts, &memory.facts));
        let facts = match same_facts {
            Some(facts) => Some(facts.clone()),
            None => Self::facts_layers(memory),
        };
        MemoryLayers {
            facts,
            include_vars: Arc::new(memory.include_vars.clone()),
            set_facts: Arc::new(memory.set_facts.clone()),
        }
    }

    fn facts_layers(memory: &HostMemory) -> Option<FactsLayers> {
        (!memory.facts.is_empty()).then(|| {
            // Ansible injects facts both as top-level `ansible_*` variables and under
            // `ansible_facts` without the prefix.
            let short: Map<String, Value> = memory
                .facts
                .iter()
                .map(|(k, v)| {
                    (
                        k.strip_prefix("ansible_").unwrap_or(k).to_string(),
                        v.clone(),
                    )
                })
                .collect();
            let mut nested = Map::new();
            nested.insert("ansible_facts".into(), Value::Object(short));
            (memory.facts.clone(), Arc::new(nested))
        })
    }
}

struct MemoryLayersEntry {
    layers: Arc<MemoryLayers>,
    stale: bool,
}

pub(crate) struct Shared {
    pub(crate) inventory: Arc<dyn InventoryView>,
    pub(crate) extra_vars: Arc<Map<String, Value>>,
    pub(crate) omit: String,
    memory: Mutex<HashMap<String, HostMemory>>,
    /// `memory` as variable layers, per host; `stale` after the host learnt something.
    memory_layers: Mutex<HashMap<String, MemoryLayersEntry>>,
    magic: Mutex<PlayMagic>,
    /// Hosts of the current batch that failed, became unreachable or ended: Ansible leaves
    /// them out of `ansible_play_hosts` and `ansible_play_batch`.
    left_play: Mutex<std::collections::HashSet<String>>,
    /// Hosts that failed or became unreachable in an earlier play: out of this play too, and
    /// of `ansible_play_hosts`, but still in `ansible_play_hosts_all` (as in Ansible).
    left_run: Mutex<std::collections::HashSet<String>>,
    /// Inventory-side layers per host, computed once: inventories do not change during a run.
    base_layers: Mutex<HashMap<String, Arc<BaseLayers>>>,
    /// The `groups` magic variable, worked out again when the inventory changes.
    groups: Mutex<Value>,
    /// The magic variables every host of the play shares, built once after each change of
    /// the play, its hosts or the inventory (see [`Shared::play_wide`]).
    play_wide: Mutex<Option<Arc<SharedVars>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn new(
        inventory: Arc<dyn InventoryView>,
        extra_vars: Map<String, Value>,
        omit: String,
    ) -> Self {
        let groups = Value::Object(inventory.groups());
        Shared {
            inventory,
            extra_vars: Arc::new(extra_vars),
            omit,
            memory: Mutex::new(HashMap::new()),
            memory_layers: Mutex::default(),
            magic: Mutex::new(PlayMagic::default()),
            left_play: Mutex::default(),
            left_run: Mutex::default(),
            base_layers: Mutex::new(HashMap::new()),
            groups: Mutex::new(groups),
            play_wide: Mutex::new(None),
        }
    }

    pub(crate) fn set_magic(&self, magic: PlayMagic) {
        let changed_dir = lock(&self.magic).playbook_dir != magic.playbook_dir;
        *lock(&self.magic) = magic;
        lock(&self.left_play).clear();
        *lock(&self.play_wide) = None;
        if changed_dir {
            lock(&self.base_layers).clear();
        }
    }

    /// The hosts that left the run in earlier plays (see `left_run`).
    pub(crate) fn set_left_run(&self, hosts: std::collections::HashSet<String>) {
        *lock(&self.left_run) = hosts;
        *lock(&self.play_wide) = None;
    }

    /// The hosts that are out of the play now (see `left_play`).
    pub(crate) fn set_left_play(&self, hosts: std::collections::HashSet<String>) {
        *lock(&self.left_play) = hosts;
        *lock(&self.play_wide) = None;
    }

    pub(crate) fn magic(&self) -> PlayMagic {
        lock(&self.magic).clone()
    }

    pub(crate) fn memory(&self, host: &str) -> HostMemory {
        lock(&self.memory).get(host).cloned().unwrap_or_default()
    }

    pub(crate) fn update_memory(&self, host: &str, f: impl FnOnce(&mut HostMemory)) {
        // The memory stays locked until the layers are marked stale (and while they are made
        // again), so that layers never outlive the memory they were made from.
        let mut memory = lock(&self.memory);
        f(memory.entry(host.to_string()).or_default());
        if let Some(entry) = lock(&self.memory_layers).get_mut(host) {
            entry.stale = true;
        }
    }

    fn memory_layers(&self, host: &str) -> Arc<MemoryLayers> {
        let memory = lock(&self.memory);
        let before = match lock(&self.memory_layers).get(host) {
            Some(entry) if !entry.stale => return entry.layers.clone(),
            Some(entry) => Some(entry.layers.clone()),
            None => None,
        };
        let layers = match memory.get(host) {
            Some(memory) => MemoryLayers::of(memory, before.as_deref()),
            None => MemoryLayers::of(&HostMemory::default(), None),
        };
        let layers = Arc::new(layers);
        let entry = MemoryLayersEntry {
            layers: layers.clone(),
            stale: false,
        };
        lock(&self.memory_layers).insert(host.to_string(), entry);
        layers
    }

    /// Applies `add_host`/`group_by` to the inventory; on a change, what was worked out from
    /// the inventory (the `groups` variable, hosts' variable layers) is worked out again.
    pub(crate) fn change_inventory(&self, change: &InventoryChange) -> Result<bool, String> {
        let changed = self.inventory.apply(change)?;
        if changed {
            *lock(&self.groups) = Value::Object(self.inventory.groups());
            lock(&self.base_layers).clear();
            *lock(&self.play_wide) = None;
        }
        Ok(changed)
    }

    fn base_layers(&self, host: &str) -> Arc<BaseLayers> {
        if let Some(layers) = lock(&self.base_layers).get(host) {
            return layers.clone();
        }
        let playbook_dir = lock(&self.magic).playbook_dir.clone();
        let layers = self.inventory.host_layers(host, &playbook_dir);
        let layers: Arc<BaseLayers> =
            Arc::new(layers.into_iter().map(|(p, v)| (p, Arc::new(v))).collect());
        lock(&self.base_layers).insert(host.to_string(), layers.clone());
        layers
    }

    /// The layers every task of `host` starts from: inventory, facts, and what the host has
    /// learnt, plus extra vars. Task-specific layers (play, role, block, task) are added by the
    /// caller.
    pub(crate) fn host_layers(&self, host: &str) -> VarLayers {
        let mut layers = VarLayers::new();
        for (precedence, vars) in self.base_layers(host).iter() {
            layers.push_shared(*precedence, vars.clone());
        }
        let memory = self.memory_layers(host);
        if let Some((facts, nested)) = &memory.facts {
            // Facts and results are values, not user text: never templated again.
            layers.push_literal_shared(Precedence::Facts, facts.clone());
            layers.push_literal_shared(Precedence::Facts, nested.clone());
        }
        layers.push_shared(Precedence::IncludeVars, memory.include_vars.clone());
        layers.push_literal_shared(Precedence::SetFact, memory.set_facts.clone());
        layers.push_shared(Precedence::ExtraVars, self.extra_vars.clone());
        layers
    }

    /// Turns merged layers into template variables with the magic variables of `host`.
    pub(crate) fn vars_for(self: &Arc<Self>, host: &str, layers: &VarLayers) -> Vars {
        let mut vars = Vars::from_layers(layers);
        vars.insert("inventory_hostname", Value::String(host.to_string()));
        vars.insert(
            "inventory_hostname_short",
            Value::String(host.split('.').next().unwrap_or(host).to_string()),
        );
        let group_names = self.inventory.group_names(host);
        let group_names = group_names.into_iter().map(Value::String).collect();
        vars.insert("group_names", Value::Array(group_names));
        // The file that defines the host, as Ansible's `inventory_file`/`inventory_dir` are;
        // else the first inventory source's directory.
        match self.inventory.inventory_file(host) {
            Some(file) => {
                let dir = file.parent().map(std::path::Path::to_path_buf);
                vars.insert("inventory_file", Value::String(absolute_path_text(&file)));
                if let Some(dir) = dir {
                    vars.insert("inventory_dir", Value::String(absolute_path_text(&dir)));
                }
            }
            None => {
                if let Some(dir) = &lock(&self.magic).inventory_dir {
                    vars.insert("inventory_dir", Value::String(absolute_path_text(dir)));
                }
            }
        }
        vars.with_shared(self.play_wide())
            .with_hostvars(Arc::new(HostVarsView(self.clone())))
    }

    /// The magic variables that are the same for every host of the play (host lists grow
    /// with the inventory: one copy for all hosts, not one per host and task).
    fn play_wide(&self) -> Arc<SharedVars> {
        if let Some(map) = lock(&self.play_wide).as_ref() {
            return map.clone();
        }
        let magic = self.magic();
        let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        let in_play = |hosts: &[String]| {
            let left = lock(&self.left_play);
            let left_run = lock(&self.left_run);
            let staying = hosts
                .iter()
                .filter(|h| !left.contains(*h) && !left_run.contains(*h))
                .cloned();
            Value::Array(staying.map(Value::String).collect())
        };
        let mut map = Map::new();
        map.insert("groups".into(), lock(&self.groups).clone());
        map.insert("ansible_play_hosts".into(), in_play(&magic.play_hosts));
        map.insert("ansible_play_hosts_all".into(), strings(&magic.play_hosts));
        map.insert("play_hosts".into(), in_play(&magic.batch));
        map.insert("ansible_play_batch".into(), in_play(&magic.batch));
        // Absolute, as in Ansible: `{{ playbook_dir }}/x` must not become `/x` when the
        // playbook was named relative to the working directory.
        let playbook_dir = absolute_path_text(&magic.playbook_dir);
        map.insert("playbook_dir".into(), Value::String(playbook_dir));
        map.insert("omit".into(), Value::String(self.omit.clone()));
        map.insert("ansible_check_mode".into(), Value::Bool(magic.check_mode));
        map.insert("ansible_diff_mode".into(), Value::Bool(magic.diff_mode));
        map.insert(
            "ansible_play_name".into(),
            Value::String(magic.play_name.clone()),
        );
        map.insert("role_names".into(), strings(&magic.role_names));
        map.insert("ansible_play_role_names".into(), strings(&magic.role_names));
        let mut all = magic.role_names.clone();
        let dependent = magic.dependent_role_names.iter();
        all.extend(dependent.filter(|r| !magic.role_names.contains(r)).cloned());
        map.insert("ansible_role_names".into(), strings(&all));
        let dependent = strings(&magic.dependent_role_names);
        map.insert("ansible_dependent_role_names".into(), dependent);
        for (k, v) in &magic.run.0 {
            map.insert(k.clone(), v.clone());
        }
        let map = Arc::new(SharedVars::new(map));
        *lock(&self.play_wide) = Some(map.clone());
        map
    }
}

/// `hostvars`: any host's inventory variables, facts and learnt variables, read on demand so
/// that a template sees facts gathered earlier in the run.
#[derive(Debug)]
struct HostVarsView(Arc<Shared>);

impl HostVarsSource for HostVarsView {
    fn host_names(&self) -> Vec<String> {
        self.0.inventory.hosts()
    }

    fn host_vars(&self, host: &str) -> Option<Vars> {
        if !self.0.inventory.has_host(host) {
            return None;
        }
        Some(self.0.vars_for(host, &self.0.host_layers(host)))
    }
}

/// The roles the play's roles depend on, directly or not, each name once
/// (`ansible_dependent_role_names`).
pub(crate) fn dependent_role_names(play: &etcdplay_playbook::Play) -> Vec<String> {
    fn add(r: &etcdplay_playbook::Role, out: &mut Vec<String>) {
        for d in &r.dependencies {
            if !out.contains(&d.role.name) {
                out.push(d.role.name.clone());
            }
            add(&d.role, out);
        }
    }
    let mut out = Vec::new();
    for r in &play.roles {
        add(&r.role, &mut out);
    }
    out
}

/// A path as Ansible shows its path variables (`playbook_dir`, `role_path`): absolute, the
/// current directory for a playbook named by a bare file name (whose parent is empty), so that
/// `{{ playbook_dir }}/files` never becomes `/files`.
pub(crate) fn absolute_path_text(path: &std::path::Path) -> String {
    let path = if path.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        path
    };
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // `absolute` keeps a final `.` (`/work/.`): drop it as Python's abspath does.
    let text = absolute.display().to_string();
    match text.strip_suffix("/.") {
        Some("") => "/".to_string(),
        Some(trimmed) => trimmed.to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::absolute_path_text;
    use std::path::Path;

    #[test]
    fn path_variables_are_absolute_even_for_a_bare_file_name() {
        let cwd = std::env::current_dir().expect("cwd").display().to_string();
        assert_eq!(absolute_path_text(Path::new("")), cwd);
        assert_eq!(absolute_path_text(Path::new(".")), cwd);
        assert_eq!(
            absolute_path_text(Path::new("roles/r1")),
            format!("{cwd}/roles/r1")
        );
        assert_eq!(absolute_path_text(Path::new("/etc")), "/etc");
    }
}
