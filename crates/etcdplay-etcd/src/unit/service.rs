//! A systemd service unit as `systemctl cat NAME` prints it (the unit file and its drop-ins,
//! in the order systemd applies them): the `[Service]` settings that decide what etcd starts
//! with, and `EnvironmentFile=` contents. Pure parsing: drop-ins override, an empty
//! `ExecStart=` or `Environment=` resets, words split the way systemd splits them.

/// The `[Service]` settings of a unit that matter for finding etcd's effective flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceUnit {
    /// The argv of the last `ExecStart=` (after resets), unexpanded.
    pub exec_start: Vec<String>,
    /// `Environment=` assignments in order (later wins).
    pub environment: Vec<(String, String)>,
    /// `EnvironmentFile=` paths; `optional` for a leading `-`.
    pub environment_files: Vec<(String, bool)>,
    pub working_directory: Option<String>,
}

/// Joins continuation lines (a trailing `\`) and yields `(section, key, value)` of each
/// assignment. `# /path` headers of `systemctl cat` are comments like any other.
fn assignments(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim_end();
        if pending.is_empty() {
            let t = line.trim_start();
            if t.starts_with('#') || t.starts_with(';') || t.is_empty() {
                continue;
            }
            if t.starts_with('[') && t.ends_with(']') {
                section = t[1..t.len() - 1].to_string();
                continue;
            }
        } else if line.trim_start().starts_with('#') || line.trim_start().starts_with(';') {
            // systemd skips comment lines inside a continuation.
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let full = std::mem::take(&mut pending);
        if let Some((k, v)) = full.split_once('=') {
            out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
        }
    }
    if !pending.is_empty() {
        if let Some((k, v)) = pending.split_once('=') {
            out.push((section, k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// Splits a command line the way systemd does: whitespace separates words, single and double
/// quotes group, a backslash escapes the next character.
pub fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

impl ServiceUnit {
    /// Parses `systemctl cat` output (or one unit file).
    pub fn parse(text: &str) -> Self {
        let mut unit = ServiceUnit::default();
        for (section, key, value) in assignments(text) {
            if section != "Service" {
                continue;
            }
            match key.as_str() {
                "ExecStart" => {
                    // An empty assignment resets the list (how drop-ins replace ExecStart);
                    // for a simple service only one remains, so the last one is etcd's.
                    let v = value.trim_start_matches(['-', '@', ':', '+', '!']);
                    unit.exec_start = split_words(v);
                }
                "Environment" => {
                    if value.is_empty() {
                        unit.environment.clear();
                    }
                    for word in split_words(&value) {
                        if let Some((k, v)) = word.split_once('=') {
                            unit.environment.push((k.to_string(), v.to_string()));
                        }
                    }
                }
                "EnvironmentFile" => {
                    if value.is_empty() {
                        unit.environment_files.clear();
                    } else if let Some(p) = value.strip_prefix('-') {
                        unit.environment_files.push((p.trim().to_string(), true));
                    } else {
                        unit.environment_files.push((value, false));
                    }
                }
                "WorkingDirectory" => {
                    unit.working_directory =
                        Some(value.trim_start_matches('-').to_string()).filter(|s| !s.is_empty());
                }
                _ => {}
            }
        }
        unit
    }

    /// The index of the etcd binary in `ExecStart` (a word whose file name is `etcd`), so
    /// `/usr/bin/env etcd ...` and wrappers passing etcd's argv are recognised too.
    pub fn etcd_index(&self) -> Option<usize> {
        self.exec_start
            .iter()
            .position(|w| w.rsplit('/').next() == Some("etcd"))
    }

    /// An `ExecStart=` line that runs the same command with `extra` flags appended (etcd's
    /// flag parser keeps the last value of a repeated flag), quoted for a unit file.
    pub fn exec_start_with(&self, extra: &[String]) -> String {
        let words: Vec<String> = self
            .exec_start
            .iter()
            .chain(extra)
            .map(|w| format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        format!("ExecStart=\nExecStart={}\n", words.join(" "))
    }

    /// Whether this unit starts etcd.
    pub fn runs_etcd(&self) -> bool {
        self.etcd_index().is_some()
    }
}

/// Parses an `EnvironmentFile=` (KEY=VALUE lines, `#`/`;` comments, optional quotes).
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        let t = t.strip_prefix("export ").unwrap_or(t);
        if let Some((k, v)) = t.split_once('=') {
            let v = v.trim();
            let v = if v.len() >= 2
                && ((v.starts_with('"') && v.ends_with('"'))
                    || (v.starts_with('\'') && v.ends_with('\'')))
            {
                &v[1..v.len() - 1]
            } else {
                v
            };
            out.push((k.trim().to_string(), v.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_that_do_not_run_etcd_are_recognised() {
        assert!(!ServiceUnit::parse("[Service]\nExecStart=/usr/sbin/sshd -D\n").runs_etcd());
        assert!(
            !ServiceUnit::parse("[Service]\nExecStart=/usr/local/bin/etcdctl get x\n").runs_etcd()
        );
        assert!(!ServiceUnit::parse(
            "[Unit]\nDescription=etcd backup\n[Service]\nExecStart=/bin/true\n"
        )
        .runs_etcd());
        assert!(
            ServiceUnit::parse("[Service]\nExecStart=-/usr/bin/env etcd --name x\n").runs_etcd()
        );
    }

    #[test]
    fn words_split_like_systemd() {
        assert_eq!(
            split_words(r#"a "b c" 'd e' f\ g"#),
            vec!["a", "b c", "d e", "f g"]
        );
        assert_eq!(split_words("  "), Vec::<String>::new());
        assert_eq!(split_words(r#""""#), vec![""]);
    }
}
