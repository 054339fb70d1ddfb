//! The typed model of a playbook: plays, roles and tasks exactly as written, with every template
//! left unevaluated (`when`, `loop`, module arguments stay strings and values) so the engine can
//! render them per host. Every item carries the [`Origin`] it was read from, so that run-time
//! errors can point at the line the user wrote. Static inclusions (`import_playbook`,
//! `import_tasks`, `import_role`, `roles:`) are already resolved; dynamic ones keep the context
//! the engine needs to resolve them later (see [`IncludeContext`]).

use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

/// A JSON object in document order: variables, module arguments, role parameters.
pub type Map = serde_json::Map<String, Value>;

/// Where an item was written: the file as shown to the user and a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub struct Origin {
    pub file: String,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A whole playbook with `import_playbook` flattened: plays in the order they run.
#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    /// The playbook file as the caller named it.
    pub path: PathBuf,
    pub plays: Vec<Play>,
    /// Problems of tasks that may never run (module arguments, files reached only through a
    /// dynamic include), sorted: Ansible reports them when the task runs, and so does the
    /// engine; the caller shows them as warnings before the run.
    pub warnings: etcdplay_source::Diagnostics,
}

/// A keyword that Ansible treats as a boolean but that may also be a template
/// (`become: "{{ use_sudo }}"`), which only the engine can render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    Bool(bool),
    /// A string that is not a YAML 1.1 boolean; Ansible templates it and then converts.
    Template(String),
}

impl Flag {
    /// The literal value, when it needs no templating.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Flag::Bool(b) => Some(*b),
            Flag::Template(_) => None,
        }
    }
}

/// One batch size of `serial:` (a list of them makes batches grow, the last one repeating).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serial {
    Count(u64),
    /// `serial: "30%"`, of the play's hosts, at least one host per batch.
    Percent(u8),
    /// `serial: "{{ batch }}"`, rendered by the engine.
    Template(String),
}

/// How hosts progress through a play's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Every host finishes a task before any host starts the next (Ansible's default).
    #[default]
    Linear,
    /// Each host runs its tasks as fast as it can.
    Free,
}

/// One play. The engine runs, per batch of hosts: `pre_tasks`, handlers flush, `roles` (each
/// role's tasks, dependencies first), `tasks`, handlers flush, `post_tasks`, handlers flush.
/// The handlers of the play's roles are listed in each [`Role`]; [`Play::all_handlers`] gathers
/// them with the play's own.
#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    /// The name as written; `PLAY [..]` shows `hosts` when it is absent.
    pub name: Option<String>,
    /// The host pattern; a YAML list is joined with `,`.
    pub hosts: String,
    pub gather_facts: Option<Flag>,
    pub become_: Option<Flag>,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    pub remote_user: Option<String>,
    pub connection: Option<String>,
    pub port: Option<Value>,
    /// Empty when the play runs all hosts in one batch.
    pub serial: Vec<Serial>,
    pub any_errors_fatal: Option<Flag>,
    pub max_fail_percentage: Option<f64>,
    pub strategy: Strategy,
    pub ignore_errors: Option<Flag>,
    pub ignore_unreachable: Option<Flag>,
    pub force_handlers: Option<Flag>,
    pub check_mode: Option<Flag>,
    pub diff: Option<Flag>,
    pub no_log: Option<Flag>,
    pub run_once: Option<Flag>,
    /// Keywords Ansible knows that this model does not type (`order`, `vars_prompt`,
    /// `module_defaults`, `gather_subset`, `throttle`, ...), as written, for the engine to honour
    /// or to refuse.
    pub extra: Map,
    pub vars: Map,
    /// As written (may be templates); relative names are relative to `playbook_dir`.
    pub vars_files: Vec<String>,
    /// `Value::Null` when absent; otherwise a mapping or a template string.
    pub environment: Value,
    pub tags: Vec<String>,
    pub pre_tasks: Vec<Task>,
    pub roles: Vec<RoleRef>,
    pub tasks: Vec<Task>,
    pub post_tasks: Vec<Task>,
    /// The play's own `handlers:`; see [`Play::all_handlers`].
    pub handlers: Vec<Task>,
    pub origin: Origin,
    /// The directory of the playbook file that holds this play (matters for imported playbooks).
    pub playbook_dir: PathBuf,
}

impl Play {
    /// The name `PLAY [..]` shows.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.hosts)
    }

    /// Every handler a `notify` in this play may reach: those of the roles in `roles:` (and of
    /// their dependencies, dependencies first) and then the play's own, as Ansible orders them.
    pub fn all_handlers(&self) -> Vec<&Task> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for r in &self.roles {
            r.collect_handlers(&mut out, &mut seen);
        }
        out.extend(self.handlers.iter());
        out
    }
}

/// A use of a role: in `roles:`, as a dependency in `meta/main.yml`, or by `import_role`.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleRef {
    /// The name as written (`etcds`, or a path).
    pub name: String,
    /// Inline parameters (`- role: x` + `foo: 1`) merged with `vars:`; they take precedence over
    /// the role's vars, as Ansible's role params do.
    pub params: Map,
    pub when: Vec<String>,
    pub tags: Vec<String>,
    pub become_: Option<Flag>,
    pub become_user: Option<String>,
    pub delegate_to: Option<String>,
    pub environment: Value,
    pub ignore_errors: Option<Flag>,
    pub no_log: Option<Flag>,
    pub run_once: Option<Flag>,
    pub any_errors_fatal: Option<Flag>,
    /// Other keywords Ansible applies to the role's tasks (`become_method`, `check_mode`,
    /// `connection`, ...), as written.
    pub extra: Map,
    /// The loaded role.
    pub role: Role,
    pub origin: Origin,
}

/// A role loaded from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    /// The role's directory.
    pub path: PathBuf,
    /// `defaults/main.yml` (or `defaults_from`): the lowest-precedence variables.
    pub defaults: Map,
    /// `vars/main.yml` (or `vars_from`).
    pub vars: Map,
    /// `tasks/main.yml` (or `tasks_from`); empty when the role has no tasks file.
    pub tasks: Vec<Task>,
    /// `handlers/main.yml` (or `handlers_from`).
    pub handlers: Vec<Task>,
    /// `dependencies:` of `meta/main.yml`, run before this role's tasks.
    pub dependencies: Vec<RoleRef>,
    /// `allow_duplicates:` of `meta/main.yml`.
    pub allow_duplicates: bool,
    pub templates_dir: PathBuf,
    pub files_dir: PathBuf,
}

impl RoleRef {
    /// Whether `other` is the same role for Ansible's role cache (same directory, parameters,
    /// `when:` and `tags:`): such a role is one role of the play, whose tasks run once per host
    /// (unless `allow_duplicates`) and whose handlers exist once.
    pub fn same_role(&self, other: &RoleRef) -> bool {
        self.role.path == other.role.path
            && self.params == other.params
            && self.when == other.when
            && self.tags == other.tags
    }

    /// The handlers of this role and its dependencies, dependencies first, each role once.
    fn collect_handlers<'a>(&'a self, out: &mut Vec<&'a Task>, seen: &mut Vec<&'a RoleRef>) {
        if seen.iter().any(|s| s.same_role(self)) {
            return;
        }
        seen.push(self);
        for d in &self.role.dependencies {
            d.collect_handlers(out, seen);
        }
        out.extend(self.role.handlers.iter());
    }
}

/// Which files of a role to load, as `include_role`/`import_role` may choose them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleSelectors {
    pub tasks_from: Option<String>,
    pub vars_from: Option<String>,
    pub defaults_from: Option<String>,
    pub handlers_from: Option<String>,
}

/// What the engine needs to resolve a dynamic inclusion (`include_tasks`, `include_role`,
/// `include_vars`) whose name it renders at run time: where to look, and which role (if any)
/// the including task belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IncludeContext {
    /// Directories searched in order for a relative file name.
    pub search_dirs: Vec<PathBuf>,
    /// The playbook's directory (for role search and `playbook_dir`).
    pub playbook_dir: PathBuf,
    /// The role the including task belongs to.
    pub role: Option<RoleScope>,
}

/// The role a task file belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleScope {
    pub name: String,
    pub path: PathBuf,
}

/// One task (or handler, or block).
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: Option<String>,
    pub kind: TaskKind,
    /// Conditions, all of which must hold; YAML booleans become `"True"`/`"False"`.
    pub when: Vec<String>,
    pub loop_: Option<Loop>,
    pub loop_control: Option<LoopControl>,
    pub register: Option<String>,
    pub notify: Vec<String>,
    /// Handlers only: extra topics this handler answers to.
    pub listen: Vec<String>,
    /// Conditions; `changed_when: false` is `Some(vec!["False"])`.
    pub changed_when: Option<Vec<String>>,
    pub failed_when: Option<Vec<String>>,
    pub ignore_errors: Option<Flag>,
    pub ignore_unreachable: Option<Flag>,
    pub tags: Vec<String>,
    pub become_: Option<Flag>,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    pub run_once: Option<Flag>,
    pub delegate_to: Option<String>,
    pub delegate_facts: Option<Flag>,
    pub vars: Map,
    /// `Value::Null` when absent.
    pub environment: Value,
    pub check_mode: Option<Flag>,
    pub diff: Option<Flag>,
    pub no_log: Option<Flag>,
    pub until: Option<Vec<String>>,
    /// An integer or a template string.
    pub retries: Option<Value>,
    /// Seconds as a number or a template string.
    pub delay: Option<Value>,
    pub any_errors_fatal: Option<Flag>,
    pub throttle: Option<Value>,
    pub timeout: Option<Value>,
    pub remote_user: Option<String>,
    pub connection: Option<String>,
    pub port: Option<Value>,
    /// Keywords Ansible knows that this model does not type (`async`, `poll`, `debugger`,
    /// `module_defaults`, `collections`), as written, for the engine to honour or to refuse.
    pub extra: Map,
    pub origin: Origin,
    /// The role the task comes from, for the `TASK [role : name]` header.
    pub role: Option<String>,
    /// The action as written (`ansible.builtin.debug`, `include_tasks`, the module of an
    /// `action:` line), which Ansible shows for unnamed tasks; `block` for blocks.
    pub action: String,
}

impl Task {
    /// The name `TASK [..]` shows: the task's name, else its action as written, prefixed with
    /// the role (`etcds : Start etcd daemon`).
    pub fn header_name(&self) -> String {
        let name = self.name.as_deref().unwrap_or(&self.action);
        match &self.role {
            Some(role) => format!("{role} : {name}"),
            None => name.to_string(),
        }
    }
}

/// What a task does.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskKind {
    Module(ModuleCall),
    Block(Block),
    IncludeTasks(IncludeTasks),
    IncludeRole(IncludeRole),
    IncludeVars(IncludeVars),
    /// `meta: flush_handlers` and friends.
    Meta(String),
}

/// A module with its arguments, unevaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleCall {
    /// Canonical name: `ansible.builtin.copy` and `ansible.legacy.copy` are `copy`.
    pub name: String,
    /// Arguments; a free-form command is `_raw_params`; `args:` is merged in (inline wins).
    pub args: Map,
    /// Where the arguments were written.
    pub args_origin: Origin,
}

/// `block:` with its `rescue:` and `always:` sections.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Block {
    pub block: Vec<Task>,
    pub rescue: Vec<Task>,
    pub always: Vec<Task>,
}

/// `include_tasks`, `import_tasks` and the legacy `include`.
#[derive(Debug, Clone, PartialEq)]
pub struct IncludeTasks {
    /// The file name as written (a template for dynamic includes).
    pub file: String,
    /// `import_tasks`: resolved when parsing, cannot loop.
    pub is_static: bool,
    /// The parsed tasks: always for imports; for includes of a literal file name, parsed
    /// ahead so that errors show before any host is contacted (the engine may reuse them).
    pub tasks: Option<Vec<Task>>,
    /// `apply:` keywords for the included tasks (dynamic includes only).
    pub apply: Map,
    pub context: IncludeContext,
}

/// `include_role` and `import_role`.
#[derive(Debug, Clone, PartialEq)]
pub struct IncludeRole {
    pub name: String,
    pub selectors: RoleSelectors,
    pub is_static: bool,
    /// `public:` — whether the role's vars stay visible after the include.
    pub public: Option<Flag>,
    pub apply: Map,
    /// Loaded when parsing: always for `import_role`, and for `include_role` with a literal name.
    pub role: Option<Box<Role>>,
    pub context: IncludeContext,
}

/// `include_vars`.
#[derive(Debug, Clone, PartialEq)]
pub struct IncludeVars {
    pub source: VarsSource,
    /// `name:` — put the variables under this one key.
    pub name: Option<String>,
    /// Other arguments (`depth`, `files_matching`, `ignore_files`, `extensions`, `hash_behaviour`).
    pub args: Map,
    pub context: IncludeContext,
}

/// Where `include_vars` reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarsSource {
    File(String),
    Dir(String),
}

/// `loop:` or `with_<lookup>:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Loop {
    pub kind: LoopKind,
    /// The list, mapping or template string as written.
    pub items: Value,
    pub origin: Origin,
}

/// Which loop keyword was used; the engine gives each its Ansible meaning
/// (`with_items` flattens one level, `with_dict` yields `{key, value}` items, `loop` takes the
/// list as is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopKind {
    Loop,
    /// `with_<lookup>`: the lookup's name (`items`, `list`, `dict`, `indexed_items`, ...).
    With(String),
}

/// `loop_control:`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopControl {
    /// Default `item`.
    pub loop_var: String,
    pub index_var: Option<String>,
    pub label: Option<String>,
    /// Seconds between iterations (number or template).
    pub pause: Option<Value>,
    pub extended: Option<Flag>,
    pub extended_allitems: Option<Flag>,
    /// Conditions checked after each item; the loop stops when they hold.
    pub break_when: Vec<String>,
    pub origin: Origin,
}
