//! The inventory graph every source plugin fills in: hosts and groups in order of first
//! appearance, group children and parents, and the variables written in inventory files. It
//! mirrors Ansible's `InventoryData` (the implicit `all` and `ungrouped` groups, the recursive-loop
//! check, the `ungrouped` reconciliation) because order and membership decide which hosts a
//! pattern selects and which variable wins.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

/// One group and its direct relations (indices into [`InventoryData`]).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) name: String,
    /// Hosts added directly to this group, in order.
    pub(crate) hosts: Vec<usize>,
    pub(crate) children: Vec<usize>,
    pub(crate) parents: Vec<usize>,
    /// Variables from inventory files (`[g:vars]`, `vars:`).
    pub(crate) vars: Map<String, Value>,
    /// `ansible_group_priority`, which orders groups of equal depth when merging variables.
    pub(crate) priority: i64,
    /// Longest path from `all`; set by [`InventoryData::reconcile`].
    pub(crate) depth: usize,
}

/// One host: its direct groups and the variables inventory files set on it.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    pub(crate) name: String,
    pub(crate) groups: Vec<usize>,
    pub(crate) vars: Map<String, Value>,
    /// The inventory file where the host first appeared (`inventory_file`); none for `a,b,`.
    pub(crate) source: Option<String>,
}

/// Hosts and groups as parsed, before any `group_vars`/`host_vars` directory.
#[derive(Debug, Clone)]
pub(crate) struct InventoryData {
    pub(crate) hosts: Vec<Host>,
    pub(crate) groups: Vec<Group>,
    host_index: HashMap<String, usize>,
    group_index: HashMap<String, usize>,
    /// (group, host) pairs of direct membership, so adding a host stays O(1) in big groups.
    membership: HashSet<(usize, usize)>,
    /// The file being parsed, recorded on hosts it creates.
    pub(crate) current_source: Option<String>,
}

pub(crate) const ALL: usize = 0;
pub(crate) const UNGROUPED: usize = 1;

impl InventoryData {
    pub(crate) fn new() -> Self {
        let mut data = InventoryData {
            hosts: Vec::new(),
            groups: Vec::new(),
            host_index: HashMap::new(),
            group_index: HashMap::new(),
            membership: HashSet::new(),
            current_source: None,
        };
        data.add_group("all");
        data.add_group("ungrouped");
        // Cannot fail: two fresh groups.
        let _ = data.add_child(ALL, UNGROUPED);
        data
    }

    pub(crate) fn group(&self, name: &str) -> Option<usize> {
        self.group_index.get(name).copied()
    }

    pub(crate) fn host(&self, name: &str) -> Option<usize> {
        self.host_index.get(name).copied()
    }

    /// The group named `name`, created if new.
    pub(crate) fn add_group(&mut self, name: &str) -> usize {
        if let Some(i) = self.group(name) {
            return i;
        }
        self.groups.push(Group {
            name: name.to_string(),
            hosts: Vec::new(),
            children: Vec::new(),
            parents: Vec::new(),
            vars: Map::new(),
            priority: 1,
            depth: 0,
        });
        let i = self.groups.len() - 1;
        self.group_index.insert(name.to_string(), i);
        i
    }

    /// Whether `h` was added to `g` itself (not through a child group).
    pub(crate) fn is_direct_member(&self, g: usize, h: usize) -> bool {
        self.membership.contains(&(g, h))
    }

    /// The host named `name`, created if new, and added to `group` if given.
    pub(crate) fn add_host(&mut self, name: &str, group: Option<usize>) -> usize {
        let h = match self.host(name) {
            Some(h) => h,
            None => {
                self.hosts.push(Host {
                    name: name.to_string(),
                    groups: Vec::new(),
                    vars: Map::new(),
                    source: self.current_source.clone(),
                });
                self.host_index
                    .insert(name.to_string(), self.hosts.len() - 1);
                self.hosts.len() - 1
            }
        };
        if let Some(g) = group {
            if self.membership.insert((g, h)) {
                self.groups[g].hosts.push(h);
                self.hosts[h].groups.push(g);
            }
        }
        h
    }

    /// Sets an inventory-file variable on group `g`; `ansible_group_priority` is not a variable
    /// but the group's merge priority, and must be an integer.
    pub(crate) fn set_group_var(
        &mut self,
        g: usize,
        key: &str,
        value: Value,
    ) -> Result<(), String> {
        if key != "ansible_group_priority" {
            self.groups[g].vars.insert(key.to_string(), value);
            return Ok(());
        }
        let priority = match &value {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
            Value::Bool(b) => Some(i64::from(*b)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match priority {
            Some(p) => {
                self.groups[g].priority = p;
                Ok(())
            }
            None => Err(format!(
                "ansible_group_priority must be an integer, got {value}"
            )),
        }
    }

    /// Makes `child` a child of `parent`; refuses an edge that would close a loop.
    pub(crate) fn add_child(&mut self, parent: usize, child: usize) -> Result<(), String> {
        if parent == child {
            return Err(format!(
                "Group '{}' cannot be a child of itself.",
                self.groups[parent].name
            ));
        }
        if self.groups[parent].children.contains(&child) {
            return Ok(());
        }
        if self.ancestors(parent).contains(&child) {
            return Err(format!(
                "Adding group '{}' as child to '{}' creates a recursive dependency loop.",
                self.groups[child].name, self.groups[parent].name
            ));
        }
        self.groups[parent].children.push(child);
        self.groups[child].parents.push(parent);
        Ok(())
    }

    /// Every group above `g` (not `g` itself).
    pub(crate) fn ancestors(&self, g: usize) -> HashSet<usize> {
        let mut seen = HashSet::new();
        let mut todo: Vec<usize> = self.groups[g].parents.clone();
        while let Some(p) = todo.pop() {
            if seen.insert(p) {
                todo.extend(self.groups[p].parents.iter().copied());
            }
        }
        seen
    }

    /// `g` and every group below it, breadth first in declaration order (Ansible's
    /// `get_descendants(include_self=True, preserve_ordering=True)`). Ansible walks the second
    /// and deeper levels through a Python set, so its order there changes from run to run; this
    /// picks the declaration order, which is one of the orders Ansible produces.
    pub(crate) fn descendants(&self, g: usize) -> Vec<usize> {
        let mut order = vec![g];
        let mut seen: HashSet<usize> = HashSet::from([g]);
        let mut i = 0;
        while i < order.len() {
            for &c in &self.groups[order[i]].children {
                if seen.insert(c) {
                    order.push(c);
                }
            }
            i += 1;
        }
        order
    }

    /// The hosts of `g` and of every group below it, first appearance first.
    pub(crate) fn group_hosts(&self, g: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for kid in self.descendants(g) {
            for &h in &self.groups[kid].hosts {
                if seen.insert(h) {
                    out.push(h);
                }
            }
        }
        out
    }

    /// Every group `h` belongs to, directly or through a child group, `all` included.
    pub(crate) fn host_groups(&self, h: usize) -> Vec<usize> {
        let mut set: HashSet<usize> = HashSet::new();
        for &g in &self.hosts[h].groups {
            set.insert(g);
            set.extend(self.ancestors(g));
        }
        let mut v: Vec<usize> = set.into_iter().collect();
        v.sort_unstable();
        v
    }

    /// The groups of `h` other than `all`, in variable-merge order: depth, then priority, then
    /// name (Ansible's `sort_groups`).
    pub(crate) fn sorted_groups_of(&self, h: usize) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .host_groups(h)
            .into_iter()
            .filter(|&g| g != ALL)
            .collect();
        v.sort_by(|&a, &b| {
            let (ga, gb) = (&self.groups[a], &self.groups[b]);
            (ga.depth, ga.priority, &ga.name).cmp(&(gb.depth, gb.priority, &gb.name))
        });
        v
    }

    /// What Ansible does once all sources are read: parentless groups become children of `all`,
    /// hosts in no group join `ungrouped` (and leave it when they have a real group), and every
    /// group learns its depth.
    pub(crate) fn reconcile(&mut self) {
        for g in 0..self.groups.len() {
            if g != ALL && self.groups[g].parents.is_empty() {
                // Cannot loop: `all` has no parents and `g` has none either.
                let _ = self.add_child(ALL, g);
            }
        }
        let mut leave_ungrouped = HashSet::new();
        for h in 0..self.hosts.len() {
            let real = self.hosts[h]
                .groups
                .iter()
                .any(|&g| g != ALL && g != UNGROUPED);
            let in_ungrouped = self.membership.contains(&(UNGROUPED, h));
            if in_ungrouped && real {
                leave_ungrouped.insert(h);
                self.membership.remove(&(UNGROUPED, h));
                self.hosts[h].groups.retain(|&g| g != UNGROUPED);
            } else if !real && !in_ungrouped {
                self.add_host(&self.hosts[h].name.clone(), Some(UNGROUPED));
            }
        }
        self.groups[UNGROUPED]
            .hosts
            .retain(|h| !leave_ungrouped.contains(h));
        self.compute_depths();
    }

    fn compute_depths(&mut self) {
        // Longest path from `all` over a graph that add_child keeps acyclic; relaxing edges in
        // a topological order gives it in one pass.
        let n = self.groups.len();
        let mut indegree: Vec<usize> = self.groups.iter().map(|g| g.parents.len()).collect();
        let mut queue: Vec<usize> = (0..n).filter(|&g| indegree[g] == 0).collect();
        let mut depth = vec![0usize; n];
        while let Some(g) = queue.pop() {
            for &c in &self.groups[g].children {
                depth[c] = depth[c].max(depth[g] + 1);
                indegree[c] -= 1;
                if indegree[c] == 0 {
                    queue.push(c);
                }
            }
        }
        for (g, d) in depth.into_iter().enumerate() {
            self.groups[g].depth = d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_are_refused_and_depths_are_longest_paths() {
        let mut d = InventoryData::new();
        let a = d.add_group("a");
        let b = d.add_group("b");
        let c = d.add_group("c");
        d.add_child(a, b).unwrap();
        d.add_child(b, c).unwrap();
        d.add_child(a, c).unwrap();
        assert!(d
            .add_child(c, a)
            .unwrap_err()
            .contains("recursive dependency loop"));
        assert!(d.add_child(c, c).is_err());
        let h = d.add_host("h", Some(c));
        d.add_host("lonely", None);
        d.reconcile();
        assert_eq!(
            (d.groups[a].depth, d.groups[b].depth, d.groups[c].depth),
            (1, 2, 3)
        );
        assert_eq!(d.groups[UNGROUPED].hosts, vec![1]);
        let names: Vec<&str> = d
            .sorted_groups_of(h)
            .iter()
            .map(|&g| d.groups[g].name.as_str())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(d.group_hosts(ALL), vec![1, 0]);
    }
}
