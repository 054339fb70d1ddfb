//! What a task inherits from the play, role and blocks around it: conditions, tags, `become`,
//! variables, `ignore_errors` and the rest of the keywords Ansible lets an outer level set for
//! everything inside it. A [`TaskScope`] is built once per nesting level and shared by its tasks.

use std::path::PathBuf;
use std::sync::Arc;

use etcdplay_playbook::{Flag, Map, Origin, Play, Role, RoleRef, Task};
use serde_json::Value;

/// The role a task runs in, with what it contributes to variables and file lookups.
#[derive(Debug)]
pub(crate) struct RoleFrame {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) defaults: Arc<Map>,
    pub(crate) vars: Arc<Map>,
    pub(crate) params: Arc<Map>,
    /// Which use of the role this is, as Ansible tells two uses of a role apart in a play
    /// (path, parameters and vars, `when`, `tags`): a use of the play's `roles:` (or of their
    /// dependencies) equal to one that already ran on a host is not run again there unless
    /// the role allows duplicates. Empty for roles brought in by `include_role`/`import_role`.
    pub(crate) run_key: String,
}

impl RoleFrame {
    pub(crate) fn new(role: &Role, params: Map) -> Arc<Self> {
        Arc::new(Self::unkeyed(role, params))
    }

    fn unkeyed(role: &Role, params: Map) -> Self {
        RoleFrame {
            name: role.name.clone(),
            path: role.path.clone(),
            defaults: Arc::new(role.defaults.clone()),
            vars: Arc::new(role.vars.clone()),
            params: Arc::new(params),
            run_key: String::new(),
        }
    }

    /// The frame of a role of the play's `roles:` or a dependency, with its [`Self::run_key`].
    pub(crate) fn of_role_ref(role_ref: &RoleRef) -> Arc<Self> {
        let mut frame = Self::unkeyed(&role_ref.role, role_ref.params.clone());
        frame.run_key = serde_json::json!([
            role_ref.role.path,
            role_ref.params,
            role_ref.when,
            role_ref.tags
        ])
        .to_string();
        Arc::new(frame)
    }
}

/// A condition with the place it was written, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub(crate) expr: String,
    pub(crate) origin: Origin,
}

/// Keywords inherited by every task inside a play, role or block.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskScope {
    pub(crate) role: Option<Arc<RoleFrame>>,
    /// The directories of the roles around these tasks, innermost first: the current role,
    /// the role that depends on it or includes it, and so on (the start of the tasks'
    /// `ansible_search_path`).
    pub(crate) role_dirs: Vec<PathBuf>,
    /// `vars:` of enclosing blocks, outer first.
    pub(crate) block_vars: Vec<Map>,
    /// Parameters of the `include_tasks` that brought these tasks in.
    pub(crate) include_params: Map,
    pub(crate) when: Vec<Condition>,
    pub(crate) tags: Vec<String>,
    pub(crate) become_: Option<Flag>,
    pub(crate) become_user: Option<String>,
    pub(crate) become_method: Option<String>,
    pub(crate) ignore_errors: Option<Flag>,
    pub(crate) no_log: Option<Flag>,
    pub(crate) delegate_to: Option<String>,
    pub(crate) environment: Vec<Value>,
    pub(crate) check_mode: Option<Flag>,
    pub(crate) diff: Option<Flag>,
    pub(crate) run_once: Option<Flag>,
    pub(crate) any_errors_fatal: Option<Flag>,
    /// Inside a `block:` that has a `rescue:`: a failure here is counted as rescued.
    pub(crate) rescuable: bool,
    /// Running handlers (for the `RUNNING HANDLER` header).
    pub(crate) handler: bool,
    /// How many task lists (blocks, imports, includes, roles) are open around these tasks. The
    /// run walks them by recursion, so their number is bounded (`play::MAX_NESTING`).
    pub(crate) depth: usize,
    /// The dynamic includes that led here, outermost first, as `file:line:col: target`: their
    /// number is bounded (`play::includes::MAX_INCLUDE_DEPTH`) and the chain names a runaway include.
    pub(crate) includes: Vec<String>,
    /// `module_defaults` of enclosing blocks and roles, outer first (the play's
    /// own are read from the play).
    pub(crate) module_defaults: Vec<serde_json::Value>,
}

fn or<T: Clone>(inner: &Option<T>, outer: &Option<T>) -> Option<T> {
    inner.clone().or_else(|| outer.clone())
}

impl TaskScope {
    /// The scope for the tasks inside a block task.
    pub(crate) fn enter_block(&self, task: &Task) -> TaskScope {
        let mut s = self.clone();
        s.depth += 1;
        if !task.vars.is_empty() {
            s.block_vars.push(task.vars.clone());
        }
        s.when.extend(task.when.iter().map(|e| Condition {
            expr: e.clone(),
            origin: task.origin.clone(),
        }));
        s.tags.extend(task.tags.iter().cloned());
        s.become_ = or(&task.become_, &self.become_);
        s.become_user = or(&task.become_user, &self.become_user);
        s.become_method = or(&task.become_method, &self.become_method);
        s.ignore_errors = or(&task.ignore_errors, &self.ignore_errors);
        s.no_log = or(&task.no_log, &self.no_log);
        s.delegate_to = or(&task.delegate_to, &self.delegate_to);
        if !task.environment.is_null() {
            s.environment.push(task.environment.clone());
        }
        s.check_mode = or(&task.check_mode, &self.check_mode);
        s.diff = or(&task.diff, &self.diff);
        s.run_once = or(&task.run_once, &self.run_once);
        s.any_errors_fatal = or(&task.any_errors_fatal, &self.any_errors_fatal);
        s.module_defaults
            .extend(task.extra.get(crate::module_defaults::KEYWORD).cloned());
        s
    }

    /// The scope for a role's tasks.
    pub(crate) fn enter_role(&self, role_ref: &RoleRef) -> TaskScope {
        let mut s = self.clone();
        s.depth += 1;
        s.role = Some(RoleFrame::of_role_ref(role_ref));
        s.role_dirs.insert(0, role_ref.role.path.clone());
        s.when.extend(role_ref.when.iter().map(|e| Condition {
            expr: e.clone(),
            origin: role_ref.origin.clone(),
        }));
        s.tags.extend(role_ref.tags.iter().cloned());
        s.become_ = or(&role_ref.become_, &self.become_);
        s.become_user = or(&role_ref.become_user, &self.become_user);
        let role_method = role_ref
            .extra
            .get("become_method")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        s.become_method = or(&role_method, &self.become_method);
        s.ignore_errors = or(&role_ref.ignore_errors, &self.ignore_errors);
        s.no_log = or(&role_ref.no_log, &self.no_log);
        s.delegate_to = or(&role_ref.delegate_to, &self.delegate_to);
        if !role_ref.environment.is_null() {
            s.environment.push(role_ref.environment.clone());
        }
        s.run_once = or(&role_ref.run_once, &self.run_once);
        s.any_errors_fatal = or(&role_ref.any_errors_fatal, &self.any_errors_fatal);
        s.module_defaults
            .extend(role_ref.extra.get(crate::module_defaults::KEYWORD).cloned());
        s
    }

    /// `ansible_search_path` of `task`: the role directories, the directory of the task's own
    /// file, then the playbook's, absolute (where its relative `src:` and file lookups are
    /// found).
    pub(crate) fn search_path(&self, task: &Task, playbook_dir: &std::path::Path) -> Vec<PathBuf> {
        search_path(&self.role_dirs, &task.origin, playbook_dir)
    }

    /// Marks these tasks as brought in by the dynamic include `task` of `target` (a file, or
    /// `role NAME`).
    pub(crate) fn enter_include(&mut self, task: &Task, target: &str) {
        self.depth += 1;
        self.includes.push(format!("{}: {target}", task.origin));
    }

    /// The keywords that apply to `task` in `play`: its own, else the nearest enclosing block
    /// or role's, else the play's. The one place inheritance of these keywords is resolved.
    pub(crate) fn resolve(&self, task: &Task, play: &Play) -> EffectiveTask {
        let pick = |own: &Option<Flag>, inherited: &Option<Flag>, played: &Option<Flag>| {
            own.clone()
                .or_else(|| inherited.clone())
                .or_else(|| played.clone())
        };
        let pick_text =
            |own: &Option<String>, inherited: &Option<String>, played: &Option<String>| {
                own.clone()
                    .or_else(|| inherited.clone())
                    .or_else(|| played.clone())
            };
        EffectiveTask {
            become_: pick(&task.become_, &self.become_, &play.become_),
            become_user: pick_text(&task.become_user, &self.become_user, &play.become_user),
            become_method: pick_text(
                &task.become_method,
                &self.become_method,
                &play.become_method,
            ),
            no_log: pick(&task.no_log, &self.no_log, &play.no_log),
            ignore_errors: pick(
                &task.ignore_errors,
                &self.ignore_errors,
                &play.ignore_errors,
            ),
            delegate_to: task
                .delegate_to
                .clone()
                .or_else(|| self.delegate_to.clone()),
            check_mode: pick(&task.check_mode, &self.check_mode, &play.check_mode),
            diff: pick(&task.diff, &self.diff, &play.diff),
            run_once: pick(&task.run_once, &self.run_once, &play.run_once),
            any_errors_fatal: pick(
                &task.any_errors_fatal,
                &self.any_errors_fatal,
                &play.any_errors_fatal,
            ),
            connection: task.connection.clone().or_else(|| play.connection.clone()),
            remote_user: task
                .remote_user
                .clone()
                .or_else(|| play.remote_user.clone()),
        }
    }

    /// Every tag that applies to `task` (its own and inherited ones).
    pub(crate) fn tags_of(&self, task: &Task) -> Vec<String> {
        let mut tags = self.tags.clone();
        tags.extend(task.tags.iter().cloned());
        tags
    }
}

/// A task's keywords after inheritance ([`TaskScope::resolve`]), still as written: flags and
/// names are templated where they are used, with the task's variables.
#[derive(Debug, Clone, Default)]
pub(crate) struct EffectiveTask {
    pub(crate) become_: Option<Flag>,
    pub(crate) become_user: Option<String>,
    pub(crate) become_method: Option<String>,
    pub(crate) no_log: Option<Flag>,
    pub(crate) ignore_errors: Option<Flag>,
    pub(crate) delegate_to: Option<String>,
    pub(crate) check_mode: Option<Flag>,
    pub(crate) diff: Option<Flag>,
    pub(crate) run_once: Option<Flag>,
    pub(crate) any_errors_fatal: Option<Flag>,
    pub(crate) connection: Option<String>,
    pub(crate) remote_user: Option<String>,
}

/// `role_dirs` (innermost first), the directory of the file `origin` names and the playbook's
/// directory, absolute, each once: Ansible's search path of a task (`ansible_search_path`).
pub(crate) fn search_path(
    role_dirs: &[PathBuf],
    origin: &Origin,
    playbook_dir: &std::path::Path,
) -> Vec<PathBuf> {
    let absolute = |p: &std::path::Path| PathBuf::from(crate::state::absolute_path_text(p));
    let task_dir = std::path::Path::new(&origin.file).parent();
    let mut out: Vec<PathBuf> = Vec::new();
    for dir in role_dirs
        .iter()
        .map(PathBuf::as_path)
        .chain(task_dir)
        .chain([playbook_dir])
    {
        let dir = absolute(dir);
        if !out.contains(&dir) {
            out.push(dir);
        }
    }
    out
}
