//! `--limit` as Ansible reads it: a host pattern whose comma-separated terms may name a file
//! with `@path`, each line of which is one more pattern (what `ansible-playbook` writes to a
//! `.retry` file, and what people keep lists of hosts in). The file's lines replace the term,
//! so the engine only ever sees a plain pattern.

use std::path::Path;

/// Limit files are lists of host names; anything larger is a mistake, not a list.
const MAX_LIMIT_FILE: u64 = 4 << 20;

/// The pattern `arg` stands for, with every `@file` term replaced by the file's non-empty
/// lines (clap's value parser for `-l/--limit`).
pub(crate) fn limit_pattern(arg: &str) -> Result<String, String> {
    // Ansible splits on commas when there are any, and an `@file` term is the whole term.
    let mut terms = Vec::new();
    for term in arg.split(',') {
        match term.trim().strip_prefix('@') {
            Some(file) => terms.extend(read_limit_file(Path::new(file))?),
            None => terms.push(term.trim().to_owned()),
        }
    }
    terms.retain(|t| !t.is_empty());
    Ok(terms.join(","))
}

fn read_limit_file(path: &Path) -> Result<Vec<String>, String> {
    if !path.exists() {
        return Err(format!("unable to find limit file {}", path.display()));
    }
    if path.is_dir() {
        return Err(format!(
            "a limit starting with \"@\" must be a file, not a directory: {}",
            path.display()
        ));
    }
    let text = etcdplay_source::read_text_file(path, MAX_LIMIT_FILE).map_err(|e| e.to_string())?;
    Ok(text.lines().map(|l| l.trim().to_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_terms_are_replaced_by_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("retry");
        std::fs::write(&file, "lab2\n\n  lab3 \n").unwrap();
        let arg = format!("lab1,@{}", file.display());
        assert_eq!(limit_pattern(&arg).unwrap(), "lab1,lab2,lab3");
        assert_eq!(limit_pattern("etcd:!lab1").unwrap(), "etcd:!lab1");
    }

    #[test]
    fn a_missing_file_or_a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = limit_pattern(&format!("@{}", missing.display())).unwrap_err();
        assert_eq!(
            e,
            format!("unable to find limit file {}", missing.display())
        );
        let e = limit_pattern(&format!("@{}", dir.path().display())).unwrap_err();
        assert!(e.contains("must be a file, not a directory"), "{e}");
    }
}
