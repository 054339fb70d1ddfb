//! The built-in etcd cluster playbook (`playbooks/etcd-cluster.yml` and its templates),
//! compiled into the binary so that `etcdplay apply -i INVENTORY` works without any playbook
//! file. At run time it is written into a private temporary directory and loaded like any
//! user playbook, so it goes through exactly the same parser and engine.

use std::path::{Path, PathBuf};

/// The playbook text as shipped.
const PLAYBOOK: &str = include_str!("../../../playbooks/etcd-cluster.yml");
/// Templates the playbook uses, by file name.
const TEMPLATES: [(&str, &str); 2] = [
    (
        "etcd.service.j2",
        include_str!("../../../templates/etcd.service.j2"),
    ),
    (
        "etcd-initial.env.j2",
        include_str!("../../../templates/etcd-initial.env.j2"),
    ),
];
/// The play's host pattern in the shipped text, replaced by the chosen group.
const HOSTS_LINE: &str = "\n  hosts: etcd\n";

/// The default playbook written to disk; the directory is removed when this is dropped.
pub(crate) struct DefaultPlaybook {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl DefaultPlaybook {
    /// Writes the playbook for the etcd members in `group`.
    pub(crate) fn write(group: &str) -> Result<Self, String> {
        let text = playbook_for(group)?;
        let dir = tempfile::Builder::new()
            .prefix("etcdplay-playbook-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .map_err(|e| format!("cannot create a directory for the default playbook: {e}"))?;
        let templates = dir.path().join("templates");
        let io = |e: std::io::Error| format!("cannot write the default playbook: {e}");
        std::fs::create_dir(&templates).map_err(io)?;
        for (name, body) in TEMPLATES {
            std::fs::write(templates.join(name), body).map_err(io)?;
        }
        let path = dir.path().join("etcd-cluster.yml");
        std::fs::write(&path, text).map_err(io)?;
        Ok(DefaultPlaybook { _dir: dir, path })
    }

    /// Where the playbook file is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// The playbook text with its play aimed at `group`.
fn playbook_for(group: &str) -> Result<String, String> {
    let valid = !group.is_empty()
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(format!(
            "etcd_group '{group}' is not a group name (letters, digits, '_' and '-')"
        ));
    }
    if !PLAYBOOK.contains(HOSTS_LINE) {
        return Err("the built-in playbook has no `hosts: etcd` line (build problem)".into());
    }
    Ok(PLAYBOOK.replacen(HOSTS_LINE, &format!("\n  hosts: {group}\n"), 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_replaces_the_host_pattern() {
        let text = playbook_for("members").unwrap();
        assert!(text.contains("\n  hosts: members\n"));
        assert!(!text.contains(HOSTS_LINE));
        assert!(playbook_for("a,b").is_err());
        assert!(playbook_for("").is_err());
    }

    #[test]
    fn written_playbook_loads_with_its_templates() {
        let pb = DefaultPlaybook::write("etcd").unwrap();
        let dir = pb.path().parent().unwrap().to_path_buf();
        assert!(dir.join("templates/etcd.service.j2").exists());
        let loaded = etcdplay_playbook::load_playbook(
            pb.path(),
            &etcdplay_modules::Registry,
            &etcdplay_playbook::LoadOptions::default(),
        );
        let loaded = loaded.unwrap_or_else(|d| panic!("{}", d.sorted()));
        assert_eq!(loaded.plays.len(), 1);
        assert_eq!(loaded.plays[0].hosts, "etcd");
        drop(pb);
        assert!(!dir.exists(), "the temporary directory is removed");
    }
}
