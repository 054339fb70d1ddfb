//! Which hosts a run is done with, so that their connections (an SSH master process, its
//! control socket, the remote shells and this process's descriptors for them) close early
//! instead of at the end of the run: at 1,000 hosts and more, holding every host's connection
//! for the whole run costs thousands of descriptors and processes. A host is done after a
//! `serial` batch of a play when no later play of the run (of this playbook or of the
//! playbooks that follow it on the same engine) can target it. Patterns are evaluated against
//! the inventory as it is now; when the inventory may still change (`add_host`, `group_by`, or
//! a dynamic include whose tasks are not known before it runs) or a pattern is a template,
//! nothing is released on that ground. A host that failed or became unreachable is released
//! as soon as it leaves the play. Releasing is never needed for correctness: a released host
//! that is used again connects again (the pool's slot is gone), so every doubt keeps the
//! connection and costs only descriptors.

use std::collections::HashSet;

use etcdplay_playbook::{Play, Task, TaskKind};

use crate::engine::EngineInner;

/// Modules that change the run's inventory, so that a later play's pattern may match hosts it
/// does not match now.
const INVENTORY_CHANGING: &[&str] = &["add_host", "group_by"];

/// Whether running `play` may change the inventory: one of its tasks (in blocks, imports,
/// roles, handlers) is `add_host`/`group_by`, or includes tasks or a role not known before it
/// runs (a templated name).
pub(crate) fn may_change_inventory(play: &Play) -> bool {
    let lists = [
        &play.pre_tasks,
        &play.tasks,
        &play.post_tasks,
        &play.handlers,
    ];
    lists.iter().any(|l| tasks_may_change(l)) || play.roles.iter().any(|r| role_may_change(&r.role))
}

fn role_may_change(role: &etcdplay_playbook::Role) -> bool {
    tasks_may_change(&role.tasks)
        || tasks_may_change(&role.handlers)
        || role.dependencies.iter().any(|d| role_may_change(&d.role))
}

fn tasks_may_change(tasks: &[Task]) -> bool {
    tasks.iter().any(|task| match &task.kind {
        TaskKind::Module(call) => INVENTORY_CHANGING.contains(&call.name.as_str()),
        TaskKind::Block(b) => {
            tasks_may_change(&b.block) || tasks_may_change(&b.rescue) || tasks_may_change(&b.always)
        }
        TaskKind::IncludeTasks(inc) => inc.tasks.as_deref().is_none_or(tasks_may_change),
        TaskKind::IncludeRole(inc) => inc.role.as_deref().is_none_or(role_may_change),
        TaskKind::IncludeVars(_) | TaskKind::Meta(_) => false,
    })
}

/// The hosts that plays `later` may target, with `--limit` applied; `None` when that cannot be
/// known now (a templated or bad pattern).
fn later_targets(
    engine: &EngineInner,
    later: &[&Play],
    limit: Option<&[String]>,
) -> Option<HashSet<String>> {
    let mut targets = HashSet::new();
    for play in later {
        if play.hosts.contains("{{") || play.hosts.contains("{%") {
            return None;
        }
        let mut hosts = engine.shared.inventory.select(&play.hosts).ok()?;
        if let Some(limit) = limit {
            hosts.retain(|h| limit.contains(h));
        }
        targets.extend(hosts);
    }
    Some(targets)
}

/// What the run still has to do after a batch of a play: the plays after it, and whether the
/// play's own later batches or any later play may change the inventory.
pub(crate) struct RestOfRun<'p> {
    pub(crate) later: Vec<&'p Play>,
    pub(crate) inventory_may_change: bool,
}

impl<'p> RestOfRun<'p> {
    /// The rest of a run after `current` (a play of `plays`), followed by the plays of
    /// `later_playbooks`.
    pub(crate) fn after(
        plays: &'p [Play],
        current: usize,
        later_playbooks: &'p [etcdplay_playbook::Playbook],
    ) -> Self {
        let later: Vec<&Play> = plays[current + 1..]
            .iter()
            .chain(later_playbooks.iter().flat_map(|p| p.plays.iter()))
            .collect();
        let inventory_may_change =
            may_change_inventory(&plays[current]) || later.iter().any(|p| may_change_inventory(p));
        RestOfRun {
            later,
            inventory_may_change,
        }
    }
}

/// The hosts of a finished `batch` the run is done with: those that left the play (`departed`:
/// failed or unreachable) and, when it can be known, those no later play may target.
pub(crate) fn done_after_batch(
    engine: &EngineInner,
    batch: &[String],
    departed: &HashSet<String>,
    rest: &RestOfRun<'_>,
    limit: Option<&[String]>,
) -> HashSet<String> {
    let mut done: HashSet<String> = departed.clone();
    if rest.inventory_may_change {
        return done;
    }
    if let Some(targets) = later_targets(engine, &rest.later, limit) {
        done.extend(batch.iter().filter(|h| !targets.contains(*h)).cloned());
    }
    done
}
