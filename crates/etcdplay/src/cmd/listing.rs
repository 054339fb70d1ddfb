//! `--list-hosts`, `--list-tasks` and `--list-tags` of `apply`: what `ansible-playbook` prints
//! for them, from the parsed playbooks and the inventory, without contacting a host. Tasks are
//! listed as the tag selection (`-t`/`--skip-tags`) would run them, with the tags they carry
//! and inherit (play, role, block); what dynamic includes bring in is known only at run time
//! and is listed as the include itself, as Ansible does.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

use etcdplay_engine::{tags_select, InventoryView};
use etcdplay_playbook::{Play, Playbook, RoleRef, Task, TaskKind};

/// What to list.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Listing {
    pub(crate) hosts: bool,
    pub(crate) tasks: bool,
    pub(crate) tags: bool,
}

impl Listing {
    pub(crate) fn any(&self) -> bool {
        self.hosts || self.tasks || self.tags
    }
}

/// The tag selection of the run.
pub(crate) struct TagFilter<'a> {
    pub(crate) only: &'a [String],
    pub(crate) skip: &'a [String],
}

/// The listing of `playbook` (named `path`), as `ansible-playbook --list-*` prints it.
pub(crate) fn render(
    path: &Path,
    playbook: &Playbook,
    inventory: &dyn InventoryView,
    limit: Option<&str>,
    listing: Listing,
    filter: &TagFilter<'_>,
) -> Result<String, String> {
    let mut out = format!("\nplaybook: {}\n", path.display());
    for (index, play) in playbook.plays.iter().enumerate() {
        let _ = writeln!(
            out,
            "\n  play #{} ({}): {}\tTAGS: [{}]",
            index + 1,
            play.hosts,
            play.display_name(),
            play.tags.join(", ")
        );
        if listing.hosts {
            let hosts = play_hosts(play, inventory, limit)?;
            let _ = writeln!(out, "    pattern: ['{}']", play.hosts);
            let _ = writeln!(out, "    hosts ({}):", hosts.len());
            for h in &hosts {
                let _ = writeln!(out, "      {h}");
            }
        }
        let tasks = play_tasks(play, filter);
        if listing.tasks {
            let _ = writeln!(out, "    tasks:");
            for (name, tags) in &tasks {
                let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
                let _ = writeln!(out, "      {name}\tTAGS: [{}]", tags.join(", "));
            }
        }
        if listing.tags {
            let all: BTreeSet<&str> = tasks
                .iter()
                .flat_map(|(_, tags)| tags.iter().map(String::as_str))
                .collect();
            let all: Vec<&str> = all.into_iter().collect();
            let _ = writeln!(out, "      TASK TAGS: [{}]", all.join(", "));
        }
    }
    Ok(out)
}

/// The hosts the play's pattern selects, narrowed by `--limit`, in inventory order.
fn play_hosts(
    play: &Play,
    inventory: &dyn InventoryView,
    limit: Option<&str>,
) -> Result<Vec<String>, String> {
    let mut hosts = inventory.select(&play.hosts).map_err(|e| e.to_string())?;
    if let Some(limit) = limit {
        let allowed = inventory.select(limit).map_err(|e| e.to_string())?;
        hosts.retain(|h| allowed.contains(h));
    }
    Ok(hosts)
}

/// Every task the play would run under the tag selection (pre_tasks, roles, tasks,
/// post_tasks; blocks flattened), with its tags and inherited tags.
fn play_tasks(play: &Play, filter: &TagFilter<'_>) -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    let inherited: BTreeSet<String> = play.tags.iter().cloned().collect();
    collect(&play.pre_tasks, &inherited, filter, &mut out);
    for role in &play.roles {
        collect_role(role, &inherited, filter, &mut out);
    }
    collect(&play.tasks, &inherited, filter, &mut out);
    collect(&play.post_tasks, &inherited, filter, &mut out);
    out
}

/// A role's tasks after its dependencies' (dependencies first, as they run).
fn collect_role(
    role: &RoleRef,
    inherited: &BTreeSet<String>,
    filter: &TagFilter<'_>,
    out: &mut Vec<(String, BTreeSet<String>)>,
) {
    let mut tags = inherited.clone();
    tags.extend(role.tags.iter().cloned());
    for dep in &role.role.dependencies {
        collect_role(dep, &tags, filter, out);
    }
    collect(&role.role.tasks, &tags, filter, out);
}

fn collect(
    tasks: &[Task],
    inherited: &BTreeSet<String>,
    filter: &TagFilter<'_>,
    out: &mut Vec<(String, BTreeSet<String>)>,
) {
    for task in tasks {
        let mut tags = inherited.clone();
        tags.extend(task.tags.iter().cloned());
        match &task.kind {
            TaskKind::Block(block) => {
                for part in [&block.block, &block.rescue, &block.always] {
                    collect(part, &tags, filter, out);
                }
            }
            // Flushing handlers and other meta tasks are not listed by Ansible.
            TaskKind::Meta(_) => {}
            _ => {
                // Without `-t` and `--skip-tags`, Ansible's listing shows `never` tasks too (a run
                // would not).
                let unfiltered = filter.only.is_empty() && filter.skip.is_empty();
                let list: Vec<String> = tags
                    .iter()
                    .filter(|t| !(unfiltered && *t == "never"))
                    .cloned()
                    .collect();
                if tags_select(&list, filter.only, filter.skip) {
                    out.push((task.header_name(), tags));
                }
            }
        }
    }
}
