//! `--start-at-task PATTERN`, as ansible-playbook does it: the run skips every task, fact
//! gathering included, until the first task whose name or `role : name` equals the pattern or
//! matches it as a shell wildcard. A play without such a task runs nothing; once found, the rest
//! of the run (later batches and plays too) runs normally. Only tasks the playbook shows
//! statically can match: blocks, imports and roles are searched, a dynamic include is a
//! candidate by its own name but its file is not. A pattern never found is reported at the end.

use std::sync::atomic::{AtomicBool, Ordering};

use etcdplay_playbook::{Play, Role, Task, TaskKind};
use regex::Regex;

/// The run-wide state of `--start-at-task`.
#[derive(Debug)]
pub(crate) struct StartAt {
    wanted: Option<(String, Regex)>,
    /// Still looking: no task has matched yet.
    pending: AtomicBool,
}

impl StartAt {
    pub(crate) fn new(pattern: Option<&str>) -> StartAt {
        let wanted = pattern.map(|p| {
            // The translation escapes everything but the wildcards, so it always compiles.
            let re = Regex::new(&etcdplay_source::fnmatch_regex(p))
                .unwrap_or_else(|_| Regex::new("$^").expect("a regex that matches nothing"));
            (p.to_owned(), re)
        });
        let pending = AtomicBool::new(wanted.is_some());
        StartAt { wanted, pending }
    }

    /// Whether tasks are still being skipped.
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
    }

    /// Whether `task` is the one to start at; when it is, nothing is skipped from now on.
    pub(crate) fn reached(&self, task: &Task) -> bool {
        if !self.matches(task) {
            return false;
        }
        self.pending.store(false, Ordering::SeqCst);
        true
    }

    /// Whether the play holds a task to start at (it runs nothing otherwise).
    pub(crate) fn play_has_match(&self, play: &Play) -> bool {
        let lists = [&play.pre_tasks, &play.tasks, &play.post_tasks];
        lists.iter().any(|l| self.list_has_match(l))
            || play.roles.iter().any(|r| self.role_has_match(&r.role))
    }

    /// The message for a run that never found its task (ansible-playbook's wording).
    pub(crate) fn never_found(&self) -> Option<String> {
        let (pattern, _) = self.wanted.as_ref()?;
        self.pending().then(|| {
            format!(
                "No matching task \"{pattern}\" found. Note: --start-at-task can only follow \
                 static includes."
            )
        })
    }

    fn matches(&self, task: &Task) -> bool {
        let Some((pattern, re)) = &self.wanted else {
            return false;
        };
        let name = task.name.clone().unwrap_or_else(|| task.action.clone());
        let full = match &task.role {
            Some(role) => format!("{role} : {name}"),
            None => name.clone(),
        };
        let named = task
            .name
            .as_ref()
            .is_some_and(|n| n == pattern || re.is_match(n));
        named || full == *pattern || re.is_match(&full)
    }

    fn role_has_match(&self, role: &Role) -> bool {
        role.dependencies
            .iter()
            .any(|d| self.role_has_match(&d.role))
            || self.list_has_match(&role.tasks)
    }

    fn list_has_match(&self, tasks: &[Task]) -> bool {
        tasks.iter().any(|task| match &task.kind {
            TaskKind::Block(b) => [&b.block, &b.rescue, &b.always]
                .iter()
                .any(|l| self.list_has_match(l)),
            TaskKind::IncludeTasks(inc) if inc.is_static => {
                inc.tasks.as_deref().is_some_and(|t| self.list_has_match(t))
            }
            TaskKind::IncludeRole(inc) if inc.is_static => {
                inc.role.as_ref().is_some_and(|r| self.role_has_match(r))
            }
            _ => self.matches(task),
        })
    }
}
