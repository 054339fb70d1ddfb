//! What a run can tell before it starts about tasks that will fail if they run: a Jinja syntax
//! error or an unknown filter or test in any task string, condition, variable or literal
//! template file, and a `with_*` loop etcdplay does not run. Ansible only finds these when such
//! a task runs (its `--syntax-check` passes), and the task may never run (another platform's
//! branch, a handler nobody notifies), so they are warnings with their place, and the task
//! fails at run time as in Ansible.

use std::path::PathBuf;

use etcdplay_playbook::{Diagnostic, Diagnostics, Origin, Play, Playbook, Role, Task, TaskKind};
use etcdplay_template::{FileSyntax, Templar, TemplateProblem};
use serde_json::Value;

/// The warnings for everything `book` holds: plays, roles, their tasks and handlers, and the
/// files of includes parsed ahead.
pub fn playbook_warnings(book: &Playbook, templar: &Templar) -> Diagnostics {
    let mut check = Check {
        templar,
        found: Diagnostics::new(),
    };
    for play in &book.plays {
        check.play(play);
    }
    check.found.sorted()
}

struct Check<'a> {
    templar: &'a Templar,
    found: Diagnostics,
}

/// Where a task's relative template sources are looked for: the directories of the roles
/// around it (innermost first), then its own file's, then the playbook's.
#[derive(Clone)]
struct Dirs {
    roles: Vec<PathBuf>,
    playbook_dir: PathBuf,
}

impl Check<'_> {
    fn play(&mut self, play: &Play) {
        let dirs = Dirs {
            roles: Vec::new(),
            playbook_dir: play.playbook_dir.clone(),
        };
        self.map(&play.vars, &play.origin);
        for task in play
            .pre_tasks
            .iter()
            .chain(&play.tasks)
            .chain(&play.post_tasks)
            .chain(&play.handlers)
        {
            self.task(task, &dirs);
        }
        for r in &play.roles {
            self.map(&r.params, &r.origin);
            self.role(&r.role, &dirs);
        }
    }

    fn role(&mut self, role: &Role, outer: &Dirs) {
        let mut roles = vec![role.path.clone()];
        roles.extend(outer.roles.iter().cloned());
        let dirs = Dirs {
            roles,
            ..outer.clone()
        };
        let origin = Origin {
            file: role.path.display().to_string(),
            ..Origin::default()
        };
        self.map(&role.defaults, &origin);
        self.map(&role.vars, &origin);
        for task in role.tasks.iter().chain(&role.handlers) {
            self.task(task, &dirs);
        }
        for d in &role.dependencies {
            self.role(&d.role, &dirs);
        }
    }

    fn task(&mut self, task: &Task, dirs: &Dirs) {
        let origin = &task.origin;
        if let Some(name) = &task.name {
            self.text(name, origin);
        }
        let conditions = task
            .when
            .iter()
            .chain(task.changed_when.iter().flatten())
            .chain(task.failed_when.iter().flatten())
            .chain(task.until.iter().flatten());
        for c in conditions {
            let problems = self.templar.check_condition(c);
            self.push(origin, problems);
        }
        self.map(&task.vars, origin);
        if let Some(l) = &task.loop_ {
            self.value(&l.items, &l.origin);
            // A `with_<lookup>` etcdplay does not run is already the parser's warning.
        }
        match &task.kind {
            TaskKind::Module(call) => {
                self.map(&call.args, &call.args_origin);
                if call.name == "template" {
                    self.template_file(&call.args, &call.args_origin, dirs);
                }
            }
            TaskKind::Block(b) => {
                for t in b.block.iter().chain(&b.rescue).chain(&b.always) {
                    self.task(t, dirs);
                }
            }
            TaskKind::IncludeTasks(inc) => {
                self.text(&inc.file, origin);
                for t in inc.tasks.iter().flatten() {
                    self.task(t, dirs);
                }
            }
            TaskKind::IncludeRole(inc) => {
                self.text(&inc.name, origin);
                if let Some(role) = &inc.role {
                    self.role(role, dirs);
                }
            }
            TaskKind::IncludeVars(_) | TaskKind::Meta(_) => {}
        }
    }

    fn map(&mut self, map: &serde_json::Map<String, Value>, origin: &Origin) {
        map.values().for_each(|v| self.value(v, origin));
    }

    /// Every string inside a value (arguments, variables, loop items).
    fn value(&mut self, value: &Value, origin: &Origin) {
        match value {
            Value::String(s) => self.text(s, origin),
            Value::Array(items) => items.iter().for_each(|v| self.value(v, origin)),
            Value::Object(m) => m.values().for_each(|v| self.value(v, origin)),
            _ => {}
        }
    }

    fn text(&mut self, text: &str, origin: &Origin) {
        let problems = self.templar.check_source(text);
        self.push(origin, problems);
    }

    /// A literal `src` of the template module, found where the engine will look for it.
    fn template_file(
        &mut self,
        args: &serde_json::Map<String, Value>,
        origin: &Origin,
        dirs: &Dirs,
    ) {
        let Some(Value::String(src)) = args.get("src") else {
            return;
        };
        if etcdplay_template::is_possibly_template(src) {
            return;
        }
        let Ok(syntax) = FileSyntax::from_module_args(args) else {
            return;
        };
        let Some(path) = find_template(src, origin, dirs) else {
            return;
        };
        let shown = path.display().to_string();
        if let Ok(problems) = self.templar.check_file(&path, &syntax) {
            for p in problems {
                self.found
                    .push(Diagnostic::new(shown.clone(), p.line as u32, 0, p.message));
            }
        }
    }

    fn push(&mut self, origin: &Origin, problems: Vec<TemplateProblem>) {
        for p in problems {
            self.found.push(at(origin, p.message));
        }
    }
}

fn at(origin: &Origin, message: String) -> Diagnostic {
    Diagnostic::new(origin.file.clone(), origin.line, origin.col, message)
}

/// The template file a relative `src` names, found as the task will find it when it runs
/// (`etcdplay_source::file_candidates` over the task's search path and the playbook's
/// directory).
fn find_template(src: &str, origin: &Origin, dirs: &Dirs) -> Option<PathBuf> {
    let search = crate::scope::search_path(&dirs.roles, origin, &dirs.playbook_dir);
    etcdplay_source::file_candidates(&search, "templates", src, false)
        .into_iter()
        .find(|f| f.is_file())
}
