//! `--tags` and `--skip-tags` with Ansible's special tags: `always` runs unless skipped by name,
//! `never` runs only when asked for by name, `all`, `tagged` and `untagged` select by presence.

/// Whether a task with `task_tags` runs under `--tags only` / `--skip-tags skip`.
pub fn should_run(task_tags: &[String], only: &[String], skip: &[String]) -> bool {
    let has = |t: &str| task_tags.iter().any(|x| x == t);
    let selected = if only.is_empty() || only.iter().any(|t| t == "all") {
        // `all` excludes `never`-tagged tasks unless they carry another requested tag.
        !has("never")
    } else {
        has("always")
            || only.iter().any(|t| match t.as_str() {
                "tagged" => !task_tags.is_empty(),
                "untagged" => task_tags.is_empty(),
                tag => has(tag),
            })
    };
    let skipped = skip.iter().any(|t| match t.as_str() {
        "tagged" => !task_tags.is_empty(),
        "untagged" => task_tags.is_empty(),
        "all" => true,
        tag => has(tag),
    });
    selected && !skipped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn ansible_tag_rules() {
        assert!(should_run(&v(&[]), &v(&[]), &v(&[])));
        assert!(!should_run(&v(&["never"]), &v(&[]), &v(&[])));
        assert!(should_run(&v(&["never", "debug"]), &v(&["debug"]), &v(&[])));
        assert!(should_run(&v(&["always"]), &v(&["config"]), &v(&[])));
        assert!(!should_run(
            &v(&["always"]),
            &v(&["config"]),
            &v(&["always"])
        ));
        assert!(should_run(&v(&["config"]), &v(&["config"]), &v(&[])));
        assert!(!should_run(&v(&["install"]), &v(&["config"]), &v(&[])));
        assert!(should_run(&v(&[]), &v(&["untagged"]), &v(&[])));
        assert!(!should_run(&v(&["x"]), &v(&[]), &v(&["x"])));
        assert!(!should_run(&v(&["x"]), &v(&[]), &v(&["tagged"])));
    }
}
