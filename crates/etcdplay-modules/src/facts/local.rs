//! Local facts (`ansible_local`), as Ansible's local collector makes them: every `*.fact` file
//! of `fact_path` (default `/etc/ansible/facts.d`), in name order, gives the fact named after
//! it: an executable one (owner's execute bit) is run and its output read, any other is read;
//! the text is JSON, else INI (Python's `configparser`: sections of `key = value`, `%`
//! interpolation). What cannot be read is a message in the fact's place and a warning. The
//! host part is shell code appended to the gathering script ([`script`]); [`parse`] reads its
//! sections.

use std::collections::BTreeMap;

use etcdplay_transport::script::sh_quote;
use serde_json::{Map, Value};

/// Where Ansible looks for local facts when `fact_path` is not given.
pub(crate) const DEFAULT_FACT_PATH: &str = "/etc/ansible/facts.d";

/// Sections of the answer: one `local_fact:N` per file (N counting from 1): its state (`ok`,
/// `nostat`, `failed RC`), its path, then its text (a failed script's stderr).
pub(crate) fn script(fact_path: &str) -> String {
    format!(
        r#"fp={}; n=0
if [ -e "$fp" ]; then
for f in "$fp"/*.fact; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  n=$((n+1))
  if ! [ -e "$f" ]; then s "local_fact:$n"; printf 'nostat\n%s\n' "$f"; continue; fi
  if [ -n "$(find "$f" -maxdepth 0 -perm -u=x 2>/dev/null)" ]; then
    t=$(mktemp -d) && {{ "$f" >"$t/o" 2>"$t/e"; rc=$?
      s "local_fact:$n"
      if [ $rc -eq 0 ]; then printf 'ok\n%s\n' "$f"; cat "$t/o"; else printf 'failed %s\n%s\n' "$rc" "$f"; cat "$t/e"; fi
      rm -rf "$t"; }}
  else
    s "local_fact:$n"; printf 'ok\n%s\n' "$f"; cat "$f" 2>/dev/null
  fi
done
fi
"#,
        sh_quote(fact_path)
    )
}

/// `ansible_local` and the warnings of the facts that could not be read, from the answer's
/// sections.
pub(crate) fn parse(sections: &BTreeMap<String, Vec<u8>>) -> (Map<String, Value>, Vec<String>) {
    let mut facts: Vec<(u64, &Vec<u8>)> = sections
        .iter()
        .filter_map(|(name, body)| {
            let n = name.strip_prefix("local_fact:")?.parse().ok()?;
            Some((n, body))
        })
        .collect();
    facts.sort_by_key(|(n, _)| *n);
    let mut local = Map::new();
    let mut warnings = Vec::new();
    for (_, body) in facts {
        let text = String::from_utf8_lossy(body);
        let mut lines = text.splitn(3, '\n');
        let state = lines.next().unwrap_or_default();
        let path = lines.next().unwrap_or_default().to_string();
        let content = lines.next().unwrap_or_default();
        let name = path
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .replace(".fact", "");
        let (fact, warning) = one_fact(state, &path, content);
        if let Some(w) = warning {
            warnings.push(w);
        }
        local.insert(name, fact);
    }
    (local, warnings)
}

/// One fact from its state line, path and text, with the warning Ansible gives for it.
fn one_fact(state: &str, path: &str, content: &str) -> (Value, Option<String>) {
    let failed = |msg: String| (Value::String(msg.clone()), Some(msg));
    if state == "nostat" {
        return failed(format!(
            "Could not stat fact ({path}): [Errno 2] No such file or directory: '{path}'"
        ));
    }
    if let Some(rc) = state.strip_prefix("failed ") {
        return failed(format!(
            "Failure executing fact script ({path}), rc: {rc}, err: {content}"
        ));
    }
    if let Ok(json) = serde_json::from_str::<Value>(content) {
        return (json, None);
    }
    match parse_ini(content) {
        Ok(sections) => (sections, None),
        Err(IniError::Syntax) => failed(format!(
            "error loading facts as JSON or ini - please check content: {path}"
        )),
        Err(IniError::Interpolation(why)) => failed(format!(
            "error loading facts as ini - please check content: {path} ({why})"
        )),
    }
}

#[derive(Debug, PartialEq)]
enum IniError {
    /// `configparser` refused the text (no section header, duplicates, a line it cannot read).
    Syntax,
    /// A value's `%` interpolation failed.
    Interpolation(String),
}

/// Python's `configparser.ConfigParser` (default options) read into `{section: {key: value}}`:
/// `key = value` or `key: value`, keys lower-cased, `#`/`;` comment lines, indented lines
/// continuing a value, `[DEFAULT]` options in every section, `%%` and `%(key)s` in values.
fn parse_ini(text: &str) -> Result<Value, IniError> {
    let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut defaults: Vec<(String, String)> = Vec::new();
    let mut current: Option<usize> = None; // None before any header; usize::MAX is DEFAULT
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        let options = match current {
            Some(usize::MAX) => Some(&mut defaults),
            Some(i) => sections.get_mut(i).map(|s| &mut s.1),
            None => None,
        };
        if indented {
            if let Some((_, value)) = options.and_then(|o| o.last_mut()) {
                value.push('\n');
                value.push_str(trimmed);
                continue;
            }
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            if name == "DEFAULT" {
                current = Some(usize::MAX);
            } else if sections.iter().any(|(n, _)| n == name) {
                return Err(IniError::Syntax);
            } else {
                sections.push((name.to_string(), Vec::new()));
                current = Some(sections.len() - 1);
            }
            continue;
        }
        let options = match current {
            Some(usize::MAX) => &mut defaults,
            Some(i) => &mut sections[i].1,
            None => return Err(IniError::Syntax),
        };
        let Some(at) = trimmed.find(['=', ':']) else {
            return Err(IniError::Syntax);
        };
        let key = trimmed[..at].trim().to_lowercase();
        if options.iter().any(|(k, _)| k == &key) {
            return Err(IniError::Syntax);
        }
        options.push((key, trimmed[at + 1..].trim().to_string()));
    }
    let mut out = Map::new();
    for (name, options) in &sections {
        let mut all: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in defaults.iter().chain(options.iter()) {
            all.insert(k, v);
        }
        let mut section = Map::new();
        // Ansible lists a section's own options first, then the defaults.
        let keys = options
            .iter()
            .map(|(k, _)| k)
            .chain(defaults.iter().map(|(k, _)| k));
        for key in keys {
            if section.contains_key(key) {
                continue;
            }
            let value = interpolate(all[key.as_str()], &all, 0)?;
            section.insert(key.clone(), Value::String(value));
        }
        out.insert(name.clone(), Value::Object(section));
    }
    Ok(Value::Object(out))
}

/// `configparser`'s basic interpolation of one value: `%%` is `%`, `%(key)s` another option of
/// the section (itself interpolated, at most 10 levels deep as Python's `MAX_INTERPOLATION_DEPTH`).
fn interpolate(
    value: &str,
    options: &BTreeMap<&str, &str>,
    depth: usize,
) -> Result<String, IniError> {
    if depth > 10 {
        return Err(IniError::Interpolation(format!(
            "Recursion limit exceeded in value substitution: {value:?}"
        )));
    }
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(r) = after.strip_prefix('%') {
            out.push('%');
            rest = r;
        } else if let Some(r) = after.strip_prefix('(') {
            let Some(end) = r.find(")s") else {
                return Err(IniError::Interpolation(format!(
                    "bad interpolation variable reference {rest:?}"
                )));
            };
            let key = r[..end].to_lowercase();
            let Some(referenced) = options.get(key.as_str()) else {
                return Err(IniError::Interpolation(format!(
                    "Bad value substitution: option {key:?} not found"
                )));
            };
            out.push_str(&interpolate(referenced, options, depth + 1)?);
            rest = &r[end + 2..];
        } else {
            return Err(IniError::Interpolation(format!(
                "'%' must be followed by '%' or '(', found: '{}'",
                &rest[at..]
            )));
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// ansible-core 2.19.14's setup on the facts_d target's files: `[general]\nbar=loaded` is
    /// {"general": {"bar": "loaded"}}; `value = this is a % bad % fact` is "error loading facts
    /// as ini - please check content: PATH ('%' must be followed by '%' or '(', found: '% bad %
    /// fact')"; `wontbeseen=ever` (no section) is "error
    /// loading facts as JSON or ini - please check content: PATH"; a script printing
    /// `{"script_ran": true}` is that object; a script exiting 1 is "Failure executing fact
    /// script (PATH), rc: 1, err: "; a dangling link is "Could not stat fact (PATH): ...".
    #[test]
    fn facts_as_ansibles_local_collector_reads_them() {
        let bodies: [&[u8]; 7] = [
            b"ok\n/f/preferences.fact\n[general]\nbar=loaded\n",
            b"ok\n/f/bad.fact\n[bad fact]\nvalue = this is a % bad % fact\n",
            b"ok\n/f/unreadable.fact\nwontbeseen=ever\n",
            b"ok\n/f/goodscript.fact\n{\"script_ran\": true}\n",
            b"failed 1\n/f/basdscript.fact\n",
            b"nostat\n/f/dead_symlink.fact\n",
            b"ok\n/f/empty.fact\n",
        ];
        let sections = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("local_fact:{}", i + 1), b.to_vec()))
            .collect();
        let (local, warnings) = parse(&sections);
        assert_eq!(local["preferences"], json!({"general": {"bar": "loaded"}}));
        let text = |k: &str| local[k].as_str().unwrap_or_default().to_string();
        assert_eq!(
            text("bad"),
            "error loading facts as ini - please check content: /f/bad.fact ('%' must be \
             followed by '%' or '(', found: '% bad % fact')"
        );
        assert_eq!(
            text("unreadable"),
            "error loading facts as JSON or ini - please check content: /f/unreadable.fact"
        );
        assert_eq!(local["goodscript"], json!({"script_ran": true}));
        assert_eq!(
            text("basdscript"),
            "Failure executing fact script (/f/basdscript.fact), rc: 1, err: "
        );
        assert!(text("dead_symlink").starts_with("Could not stat fact (/f/dead_symlink.fact)"));
        assert_eq!(local["empty"], json!({}));
        assert_eq!(warnings.len(), 4);
    }

    #[test]
    fn ini_defaults_continuations_and_interpolation() {
        let ini = "[DEFAULT]\nbase = /opt\n[a]\nDir: %(base)s/x\nmulti = one\n  two\npct = 50%%\n";
        assert_eq!(
            parse_ini(ini),
            Ok(json!({"a": {"dir": "/opt/x", "multi": "one\ntwo", "pct": "50%", "base": "/opt"}}))
        );
        assert_eq!(parse_ini("[a]\nx=1\nx=2\n"), Err(IniError::Syntax));
    }
}
