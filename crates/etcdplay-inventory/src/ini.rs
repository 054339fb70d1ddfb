//! The INI inventory format (`[etcds]`, `[etcds:vars]`, `[cluster:children]`, host lines with
//! `k=v` variables), parsed line by line with the rules of Ansible's `ini` plugin. Unlike Ansible,
//! a bad line does not stop the parse: every bad line becomes a diagnostic.

use std::sync::LazyLock;

use etcdplay_source::{Diagnostic, Diagnostics};
use regex::Regex;

use crate::address::expand_host_pattern;
use crate::model::{InventoryData, UNGROUPED};
use crate::pyliteral::{ini_value, shlex_split};

static SECTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").expect("static regex"));
static GROUP_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").expect("static regex"));

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Hosts,
    Children,
    Vars,
    /// After a broken section header: its lines are skipped instead of misread.
    Skip,
}

/// A group named in `[x:vars]` or `[x:children]` before (or without) its own section.
struct Pending {
    name: String,
    line: u32,
    state: State,
    parents: Vec<usize>,
}

/// Parses INI inventory `text` from `file` into `data`, adding a diagnostic per bad line.
pub(crate) fn parse_ini(text: &str, file: &str, data: &mut InventoryData, diags: &mut Diagnostics) {
    let mut p = IniParser {
        file,
        data,
        diags,
        pending: Vec::new(),
        line_no: 0,
    };
    p.run(text);
}

struct IniParser<'a> {
    file: &'a str,
    data: &'a mut InventoryData,
    diags: &'a mut Diagnostics,
    pending: Vec<Pending>,
    line_no: u32,
}

impl IniParser<'_> {
    fn error(&mut self, col: u32, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(self.file, self.line_no, col, message));
    }

    fn run(&mut self, text: &str) {
        let mut group = UNGROUPED;
        let mut state = State::Hosts;
        for raw in text.lines() {
            self.line_no += 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let col = (raw.len() - raw.trim_start().len()) as u32 + 1;
            if let Some(c) = SECTION.captures(line) {
                let name = c[1].to_string();
                let kind = c.get(2).map_or("hosts", |m| m.as_str());
                state = match kind {
                    "hosts" => State::Hosts,
                    "children" => State::Children,
                    "vars" => State::Vars,
                    other => {
                        self.error(
                            col,
                            format!("Section [{name}:{other}] has unknown type: {other}"),
                        );
                        state = State::Skip;
                        continue;
                    }
                };
                if self.data.group(&name).is_none()
                    && state == State::Vars
                    && self.pending_index(&name).is_none()
                {
                    self.pending.push(Pending {
                        name: name.clone(),
                        line: self.line_no,
                        state,
                        parents: Vec::new(),
                    });
                }
                group = self.data.add_group(&name);
                if state != State::Vars {
                    if let Some(i) = self.pending_index(&name) {
                        match self.pending[i].state {
                            State::Children => self.add_pending_children(&name),
                            _ => {
                                self.pending.remove(i);
                            }
                        }
                    }
                }
                continue;
            }
            if line.starts_with('[') && line.ends_with(']') {
                self.error(
                    col,
                    format!(
                        "Invalid section entry: '{line}'. Please make sure that there are no spaces in the section \
                         entry, and that there are no other invalid characters"
                    ),
                );
                state = State::Skip;
                continue;
            }
            match state {
                State::Hosts => self.host_line(line, col, group),
                State::Vars => self.var_line(line, col, group),
                State::Children => self.child_line(line, col, group),
                State::Skip => {}
            }
        }
        for p in std::mem::take(&mut self.pending) {
            self.line_no = p.line;
            match p.state {
                State::Vars => self.error(
                    1,
                    format!(
                        "Section [{0}:vars] not valid for undefined group '{0}'.",
                        p.name
                    ),
                ),
                _ => {
                    let parent = p
                        .parents
                        .last()
                        .map_or(String::new(), |&g| self.data.groups[g].name.clone());
                    self.error(
                        1,
                        format!(
                            "Section [{parent}:children] includes undefined group '{}'.",
                            p.name
                        ),
                    )
                }
            }
        }
    }

    fn pending_index(&self, name: &str) -> Option<usize> {
        self.pending.iter().position(|p| p.name == name)
    }

    /// `name` now has a section: attach it to the parents that named it early.
    fn add_pending_children(&mut self, name: &str) {
        let Some(i) = self.pending_index(name) else {
            return;
        };
        let entry = self.pending.remove(i);
        let child = self.data.add_group(name);
        for parent in entry.parents {
            if let Err(e) = self.data.add_child(parent, child) {
                self.diags
                    .push(Diagnostic::new(self.file, entry.line, 1, e));
            }
            let parent_name = self.data.groups[parent].name.clone();
            if self
                .pending_index(&parent_name)
                .is_some_and(|j| self.pending[j].state == State::Children)
            {
                self.add_pending_children(&parent_name);
            }
        }
    }

    fn host_line(&mut self, line: &str, col: u32, group: usize) {
        let tokens = match shlex_split(line) {
            Ok(t) => t,
            Err(e) => {
                return self.error(col, format!("Error parsing host definition '{line}': {e}"))
            }
        };
        let Some(pattern) = tokens.first() else {
            return;
        };
        let (names, port) = match expand_host_pattern(pattern) {
            Ok(x) => x,
            Err(e) => return self.error(col, format!("Invalid host pattern '{pattern}': {e}")),
        };
        if pattern.trim().ends_with(':') && port.is_none() {
            return self.error(
                col,
                format!(
                    "Invalid host pattern '{pattern}' supplied, ending in ':' is not allowed, this character is \
                     reserved to provide a port."
                ),
            );
        }
        if names.iter().any(|n| n.trim() == "---") {
            return self.error(
                col,
                format!("Invalid host pattern '{pattern}' supplied, '---' is normally a sign this is a YAML file."),
            );
        }
        if names.iter().any(String::is_empty) {
            return self.error(col, "Invalid empty host name provided");
        }
        let mut vars = Vec::new();
        let mut ok = true;
        for t in &tokens[1..] {
            match t.split_once('=') {
                Some((k, v)) => vars.push((k.to_string(), ini_value(v))),
                None => {
                    let at = line.find(t.as_str()).map_or(col, |i| col + i as u32);
                    self.error(
                        at,
                        format!("Expected key=value host variable assignment, got: {t}"),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return;
        }
        for name in names {
            let existed = self.data.host(&name).is_some();
            let h = self.data.add_host(&name, Some(group));
            // Like Ansible, a port counts only where the host is first seen.
            if let (false, Some(p)) = (existed, port.filter(|&p| p != 0)) {
                self.data.hosts[h]
                    .vars
                    .insert("ansible_port".into(), p.into());
            }
            for (k, v) in &vars {
                self.data.hosts[h].vars.insert(k.clone(), v.clone());
            }
        }
    }

    fn var_line(&mut self, line: &str, col: u32, group: usize) {
        match line.split_once('=') {
            Some((k, v)) => {
                if let Err(e) = self
                    .data
                    .set_group_var(group, k.trim(), ini_value(v.trim()))
                {
                    self.error(col, e);
                }
            }
            None => self.error(col, format!("Expected key=value, got: {line}")),
        }
    }

    fn child_line(&mut self, line: &str, col: u32, group: usize) {
        let Some(c) = GROUP_NAME.captures(line) else {
            return self.error(col, format!("Expected group name, got: {line}"));
        };
        let child = c[1].to_string();
        match self.data.group(&child) {
            Some(g) => {
                if let Err(e) = self.data.add_child(group, g) {
                    self.error(col, e);
                }
            }
            None => match self.pending_index(&child) {
                Some(i) => self.pending[i].parents.push(group),
                None => self.pending.push(Pending {
                    name: child,
                    line: self.line_no,
                    state: State::Children,
                    parents: vec![group],
                }),
            },
        }
    }
}
