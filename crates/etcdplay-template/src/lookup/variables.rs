//! Lookups on the variables of the render: `vars` (a variable's value, `default=`),
//! `varnames` (names matching Python regular expressions) and `inventory_hostnames` (hosts of
//! a pattern, from the `groups` variable).

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, State};

use super::{fail, term_strings};

pub(super) fn run(
    state: &State,
    plugin: &str,
    terms: &[Value],
    kwargs: &Kwargs,
) -> Result<Option<Vec<Value>>, Error> {
    Ok(Some(match plugin {
        "vars" => {
            let default: Option<Value> = kwargs.get("default")?;
            let mut out = Vec::new();
            for name in term_strings(terms)? {
                let value = state.lookup(&name).filter(|v| !v.is_undefined());
                out.push(match (value, &default) {
                    (Some(v), _) => v,
                    (None, Some(d)) => d.clone(),
                    (None, None) => {
                        return Err(fail(format!("No variable named '{name}' was found.")))
                    }
                });
            }
            out
        }
        "varnames" => {
            // Variables only: the environment's globals (`omit`, functions) are not variables.
            let globals: Vec<String> = state.env().globals().map(|(k, _)| k.to_string()).collect();
            let names: Vec<String> = state
                .known_variables()
                .into_iter()
                .map(|n| n.to_string())
                .filter(|n| !n.starts_with("__etcdplay") && !globals.contains(n))
                .collect();
            let mut out = Vec::new();
            for pattern in term_strings(terms)? {
                let re = crate::filters::compile_python_regex(&pattern, false, false)?;
                for name in &names {
                    // Python's re.search.
                    if re
                        .is_match(name)
                        .map_err(|e| crate::filters::regex_runtime_error(&pattern, e))?
                    {
                        out.push(Value::from(name.as_str()));
                    }
                }
            }
            out
        }
        "inventory_hostnames" => {
            let groups = state
                .lookup("groups")
                .filter(|g| g.kind() == ValueKind::Map)
                .ok_or_else(|| {
                    fail("inventory_hostnames: no inventory groups in this render".into())
                })?;
            let mut out = Vec::new();
            for pattern in term_strings(terms)? {
                for host in select_hosts(&groups, &pattern)? {
                    out.push(Value::from(host));
                }
            }
            out
        }
        _ => return Ok(None),
    }))
}

fn hosts_of(groups: &Value, group: &str) -> Result<Vec<String>, Error> {
    let members = groups.get_attr(group)?;
    if members.is_undefined() {
        return Ok(Vec::new());
    }
    Ok(members
        .try_iter()?
        .filter_map(|h| h.as_str().map(str::to_string))
        .collect())
}

/// Hosts of one pattern part: a group, a host, or a `*` wildcard over both.
fn part_hosts(groups: &Value, part: &str) -> Result<Vec<String>, Error> {
    let all = hosts_of(groups, "all")?;
    if part.contains('*') {
        let re = format!("^{}$", regex_escape_glob(part));
        let re = crate::filters::compile_python_regex(&re, false, false)?;
        let mut out = Vec::new();
        for group in groups.try_iter()? {
            let name = group.as_str().unwrap_or_default().to_string();
            if re.is_match(&name).unwrap_or(false) {
                out.extend(hosts_of(groups, &name)?);
            }
        }
        out.extend(
            all.iter()
                .filter(|h| re.is_match(h).unwrap_or(false))
                .cloned(),
        );
        return Ok(out);
    }
    let members = hosts_of(groups, part)?;
    if !members.is_empty() || !groups.get_attr(part)?.is_undefined() {
        return Ok(members);
    }
    Ok(all.into_iter().filter(|h| h == part).collect())
}

fn regex_escape_glob(glob: &str) -> String {
    glob.split('*')
        .map(|p| fancy_regex::escape(p).into_owned())
        .collect::<Vec<_>>()
        .join(".*")
}

/// Ansible's host patterns over `groups`: parts separated by `:` or `,`, `&` intersects, `!`
/// excludes; hosts in inventory order (`groups.all`).
fn select_hosts(groups: &Value, pattern: &str) -> Result<Vec<String>, Error> {
    let mut selected: Vec<String> = Vec::new();
    let parts: Vec<&str> = pattern
        .split([':', ','])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let mut intersections = Vec::new();
    let mut exclusions = Vec::new();
    for part in parts {
        if let Some(p) = part.strip_prefix('&') {
            intersections.push(part_hosts(groups, p)?);
        } else if let Some(p) = part.strip_prefix('!') {
            exclusions.push(part_hosts(groups, p)?);
        } else {
            for host in part_hosts(groups, part)? {
                if !selected.contains(&host) {
                    selected.push(host);
                }
            }
        }
    }
    selected.retain(|h| intersections.iter().all(|i| i.contains(h)));
    selected.retain(|h| !exclusions.iter().any(|e| e.contains(h)));
    let order = hosts_of(groups, "all")?;
    selected.sort_by_key(|h| order.iter().position(|o| o == h).unwrap_or(usize::MAX));
    Ok(selected)
}
