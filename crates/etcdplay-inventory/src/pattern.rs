//! Host patterns (`hosts:` of a play, `--limit`), evaluated with Ansible's rules: parts split on
//! `,` (or `:`), plain parts first, then `&` intersections, then `!` exclusions; a part matches
//! group names first and host names when no group matched or it is a wildcard or `~regex`;
//! `group[0]`, `group[1:]` subscripts; results in order of appearance without duplicates.

use std::collections::HashSet;
use std::path::Path;
use std::sync::LazyLock;

use etcdplay_source::{read_text_file, MAX_TEXT_FILE};

use regex::Regex;

use crate::address::parse_address;
use crate::error::PatternError;
use crate::model::InventoryData;
use crate::Inventory;

/// Names that Ansible answers with an implicit local host when the inventory lacks them.
pub const LOCALHOST_NAMES: [&str; 3] = ["127.0.0.1", "localhost", "::1"];

static SUBSCRIPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$").expect("static regex")
});
static COLON_PARTS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").expect("static regex"));

/// One evaluated host: an inventory host, or the implicit `localhost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Matched {
    Host(usize),
    Implicit(&'static str),
}

/// Splits a pattern into its parts: on commas, else on colons unless the whole pattern is an
/// address (`host:22`, `::1`).
pub(crate) fn split_pattern(pattern: &str) -> Vec<String> {
    let parts: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(str::to_string).collect()
    } else if parse_address(pattern, true).is_ok() {
        vec![pattern.to_string()]
    } else {
        COLON_PARTS
            .find_iter(pattern)
            .map(|m| m.as_str().to_string())
            .collect()
    };
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn order_parts(parts: Vec<String>) -> Vec<String> {
    let (mut regular, mut and, mut not) = (Vec::new(), Vec::new(), Vec::new());
    for p in parts {
        match p.as_bytes()[0] {
            b'!' => not.push(p),
            b'&' => and.push(p),
            _ => regular.push(p),
        }
    }
    if regular.is_empty() {
        regular.push("all".to_string());
    }
    regular.into_iter().chain(and).chain(not).collect()
}

impl Inventory {
    /// The hosts `pattern` selects, in order. Nothing selected is [`PatternError::NoMatch`].
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, PatternError> {
        self.select_limited(pattern, None)
    }

    /// The hosts `pattern` selects that are also selected by `limit` (`--limit`, same syntax,
    /// or `@file` with one pattern per line).
    pub fn select_limited(
        &self,
        pattern: &str,
        limit: Option<&str>,
    ) -> Result<Vec<String>, PatternError> {
        let mut hosts = self.evaluate(&split_pattern(pattern))?;
        if hosts.is_empty() {
            return Err(PatternError::NoMatch {
                pattern: pattern.to_string(),
            });
        }
        if let Some(limit) = limit {
            let parts = match limit.strip_prefix('@') {
                Some(path) => read_text_file(Path::new(path), MAX_TEXT_FILE)
                    .map_err(|e| PatternError::LimitFile {
                        path: path.to_string(),
                        message: e.problem.to_string(),
                    })?
                    .lines()
                    .flat_map(split_pattern)
                    .collect(),
                None => split_pattern(limit),
            };
            let allowed: HashSet<Matched> = self.evaluate(&parts)?.into_iter().collect();
            hosts.retain(|h| allowed.contains(h));
            if hosts.is_empty() {
                return Err(PatternError::NoneWithinLimit {
                    pattern: pattern.to_string(),
                    limit: limit.to_string(),
                });
            }
        }
        Ok(hosts.into_iter().map(|m| self.matched_name(m)).collect())
    }

    /// The parts of `pattern` that match nothing (Ansible warns "Could not match supplied host
    /// pattern, ignoring: X" for each).
    pub fn unmatched_parts(&self, pattern: &str) -> Vec<String> {
        split_pattern(pattern)
            .into_iter()
            .filter(|p| {
                let bare = p.trim_start_matches(['!', '&']);
                if bare.is_empty() || bare == "all" || self.data().host(p).is_some() {
                    return false;
                }
                let expr = split_subscript(bare).map_or(bare, |(e, _)| e);
                matches!(self.enumerate(expr), Ok((found, groups)) if found.is_empty() && !groups)
            })
            .collect()
    }

    /// Whether `name` is an implicit localhost: not in the inventory but a local name.
    pub fn is_implicit_localhost(&self, name: &str) -> bool {
        !self.has_host(name) && LOCALHOST_NAMES.contains(&name)
    }

    fn matched_name(&self, m: Matched) -> String {
        match m {
            Matched::Host(h) => self.data().hosts[h].name.clone(),
            Matched::Implicit(n) => n.to_string(),
        }
    }

    fn evaluate(&self, parts: &[String]) -> Result<Vec<Matched>, PatternError> {
        let data = self.data();
        let mut hosts: Vec<Matched> = Vec::new();
        for p in order_parts(parts.to_vec()) {
            if let Some(h) = data.host(&p) {
                hosts.push(Matched::Host(h));
                continue;
            }
            let that = self.match_one(&p)?;
            match p.as_bytes()[0] {
                b'!' => {
                    let that: HashSet<Matched> = that.into_iter().collect();
                    hosts.retain(|h| !that.contains(h));
                }
                b'&' => {
                    let that: HashSet<Matched> = that.into_iter().collect();
                    hosts.retain(|h| that.contains(h));
                }
                _ => {
                    let existing: HashSet<Matched> = hosts.iter().copied().collect();
                    hosts.extend(that.into_iter().filter(|h| !existing.contains(h)));
                }
            }
        }
        let mut seen = HashSet::new();
        hosts.retain(|h| seen.insert(*h));
        Ok(hosts)
    }

    fn match_one(&self, part: &str) -> Result<Vec<Matched>, PatternError> {
        let bare = part.strip_prefix(['!', '&']).unwrap_or(part);
        if bare.is_empty() {
            return Ok(Vec::new());
        }
        let (expr, subscript) = match split_subscript(bare) {
            Some((e, s)) => (e, Some(s)),
            None => (bare, None),
        };
        let (hosts, _) = self.enumerate(expr)?;
        match subscript {
            Some(s) if !hosts.is_empty() => {
                apply_subscript(&hosts, s).ok_or_else(|| PatternError::BadSubscript {
                    pattern: bare.to_string(),
                })
            }
            _ => Ok(hosts),
        }
    }

    /// The hosts one pattern part matches, and whether it matched any group.
    fn enumerate(&self, expr: &str) -> Result<(Vec<Matched>, bool), PatternError> {
        let data: &InventoryData = self.data();
        let re = compile(expr)?;
        let mut out = Vec::new();
        let groups: Vec<usize> = (0..data.groups.len())
            .filter(|&g| re.matches(&data.groups[g].name))
            .collect();
        for &g in &groups {
            out.extend(data.group_hosts(g).into_iter().map(Matched::Host));
        }
        if groups.is_empty() || expr.starts_with('~') || expr.contains(['.', '?', '*', '[']) {
            out.extend(
                (0..data.hosts.len())
                    .filter(|&h| re.matches(&data.hosts[h].name))
                    .map(Matched::Host),
            );
        }
        if out.is_empty() {
            if let Some(name) = LOCALHOST_NAMES.iter().find(|n| **n == expr) {
                out.push(Matched::Implicit(name));
            }
        }
        Ok((out, !groups.is_empty()))
    }
}

/// A compiled part: a `~regex` (anchored at the start only, like Python's `re.match`) or a
/// shell glob matched against the whole name.
struct Matcher {
    re: Regex,
    start_only: bool,
}

impl Matcher {
    fn matches(&self, name: &str) -> bool {
        if self.start_only {
            // Leftmost-first search: a match at 0 exists exactly when the first match is at 0.
            self.re.find(name).is_some_and(|m| m.start() == 0)
        } else {
            self.re.is_match(name)
        }
    }
}

fn compile(expr: &str) -> Result<Matcher, PatternError> {
    let bad = |e: regex::Error| PatternError::BadRegex {
        pattern: expr.to_string(),
        message: e.to_string(),
    };
    match expr.strip_prefix('~') {
        Some(re) => Ok(Matcher {
            re: Regex::new(re).map_err(bad)?,
            start_only: true,
        }),
        None => Ok(Matcher {
            re: Regex::new(&etcdplay_source::fnmatch_regex(expr)).map_err(bad)?,
            start_only: false,
        }),
    }
}

/// `(start, end)`: `end == None` for a single index, `Some(-1)` for "to the end".
type Subscript = (i64, Option<i64>);

fn split_subscript(pattern: &str) -> Option<(&str, Subscript)> {
    if pattern.starts_with('~') {
        return None;
    }
    let c = SUBSCRIPT.captures(pattern)?;
    let expr = c.get(1)?.as_str();
    if let Some(idx) = c.get(2) {
        return Some((expr, (idx.as_str().parse().ok()?, None)));
    }
    let start = c.get(3)?.as_str().parse().ok()?;
    let end = match c.get(5).map(|m| m.as_str()).filter(|s| !s.is_empty()) {
        Some(e) => e.parse().ok()?,
        None => -1,
    };
    Some((expr, (start, Some(end))))
}

/// Python's `hosts[start:end + 1]` or `[hosts[start]]`; `None` for an index out of range.
fn apply_subscript(hosts: &[Matched], (start, end): Subscript) -> Option<Vec<Matched>> {
    let len = hosts.len() as i64;
    let index = |i: i64| if i < 0 { i + len } else { i };
    match end.filter(|&e| e != 0) {
        Some(end) => {
            let end = if end == -1 { len - 1 } else { end };
            let clamp = |i: i64| index(i).clamp(0, len) as usize;
            let (s, e) = (clamp(start), clamp(end + 1));
            Some(if s < e {
                hosts[s..e].to_vec()
            } else {
                Vec::new()
            })
        }
        None => {
            let i = index(start);
            (0..len).contains(&i).then(|| vec![hosts[i as usize]])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_like_ansible() {
        assert_eq!(split_pattern("a, b[1] ,c"), ["a", "b[1]", "c"]);
        assert_eq!(split_pattern("web:&db:!x"), ["web", "&db", "!x"]);
        assert_eq!(split_pattern("host:22"), ["host:22"]);
        assert_eq!(split_pattern("g[1:2]:h"), ["g[1:2]", "h"]);
    }

    #[test]
    fn globs_translate() {
        let m = |g: &str, s: &str| {
            Regex::new(&etcdplay_source::fnmatch_regex(g))
                .unwrap()
                .is_match(s)
        };
        assert!(m("web*", "web1"));
        assert!(!m("web*", "aweb1"));
        assert!(m("*.example.com", "a.example.com"));
        assert!(!m("*.example.com", "aexample.com"));
        assert!(m("n[!0]?", "n1x"));
        assert!(m("a[", "a["));
    }

    #[test]
    fn subscripts() {
        assert_eq!(split_subscript("g[1:]"), Some(("g", (1, Some(-1)))));
        assert_eq!(split_subscript("g[-1]"), Some(("g", (-1, None))));
        assert_eq!(split_subscript("~g[1]"), None);
        let hs: Vec<Matched> = (0..4).map(Matched::Host).collect();
        assert_eq!(
            apply_subscript(&hs, (1, Some(2))),
            Some(vec![Matched::Host(1), Matched::Host(2)])
        );
        assert_eq!(
            apply_subscript(&hs, (-1, None)),
            Some(vec![Matched::Host(3)])
        );
        assert_eq!(apply_subscript(&hs, (9, None)), None);
        assert_eq!(apply_subscript(&hs, (9, Some(10))), Some(vec![]));
    }
}
