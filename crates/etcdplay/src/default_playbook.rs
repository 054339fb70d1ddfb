//! The built-in playbooks (`playbooks/`: the etcd cluster playbook, the backup and restore
//! operations, the variables they share, and the templates), compiled into the binary so
//! that `etcdplay apply -i INVENTORY`, `etcdplay backup` and `etcdplay restore` work without
//! any playbook file. At run time they are written into a private temporary directory and
//! loaded like any user playbook, so they go through exactly the same parser and engine.

use std::path::{Path, PathBuf};

/// Which built-in playbook to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    /// `etcd-cluster.yml`: deploy, scale, restart (`etcdplay apply`).
    Cluster,
    /// `etcd-backup.yml` (`etcdplay backup`).
    Backup,
    /// `etcd-restore.yml` (`etcdplay restore`).
    Restore,
    /// `etcd-defrag.yml` (`etcdplay defrag`).
    Defrag,
}

/// The playbooks as shipped, by file name.
const PLAYBOOKS: [(Builtin, &str, &str); 4] = [
    (
        Builtin::Cluster,
        "etcd-cluster.yml",
        include_str!("../../../playbooks/etcd-cluster.yml"),
    ),
    (
        Builtin::Backup,
        "etcd-backup.yml",
        include_str!("../../../playbooks/etcd-backup.yml"),
    ),
    (
        Builtin::Restore,
        "etcd-restore.yml",
        include_str!("../../../playbooks/etcd-restore.yml"),
    ),
    (
        Builtin::Defrag,
        "etcd-defrag.yml",
        include_str!("../../../playbooks/etcd-defrag.yml"),
    ),
];
/// The variables every playbook reads with `vars_files`.
const VARS: (&str, &str) = (
    "etcd-vars.yml",
    include_str!("../../../playbooks/etcd-vars.yml"),
);
/// Templates the playbook uses, by file name.
const TEMPLATES: [(&str, &str); 5] = [
    (
        "etcd.service.j2",
        include_str!("../../../templates/etcd.service.j2"),
    ),
    (
        "etcd-initial.env.j2",
        include_str!("../../../templates/etcd-initial.env.j2"),
    ),
    (
        "etcd-snapshot.sh.j2",
        include_str!("../../../templates/etcd-snapshot.sh.j2"),
    ),
    (
        "etcd-snapshot.service.j2",
        include_str!("../../../templates/etcd-snapshot.service.j2"),
    ),
    (
        "etcd-snapshot.timer.j2",
        include_str!("../../../templates/etcd-snapshot.timer.j2"),
    ),
];
/// The play's host pattern in the shipped text, replaced by the chosen group.
const HOSTS_LINE: &str = "\n  hosts: etcd\n";

/// The built-in playbooks written to disk; the directory is removed when this is dropped.
pub(crate) struct DefaultPlaybook {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl DefaultPlaybook {
    /// Writes the playbooks for the etcd members in `group`; [`DefaultPlaybook::path`] is
    /// `which`.
    pub(crate) fn write(which: Builtin, group: &str) -> Result<Self, String> {
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
        std::fs::write(dir.path().join(VARS.0), VARS.1).map_err(io)?;
        let mut path = PathBuf::new();
        for (kind, name, text) in PLAYBOOKS {
            let file = dir.path().join(name);
            std::fs::write(&file, playbook_for(text, group)?).map_err(io)?;
            if kind == which {
                path = file;
            }
        }
        Ok(DefaultPlaybook { _dir: dir, path })
    }

    /// Where the playbook file is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// A playbook's text with its play aimed at `group`.
fn playbook_for(playbook: &str, group: &str) -> Result<String, String> {
    let valid = !group.is_empty()
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(format!(
            "etcd_group '{group}' is not a group name (letters, digits, '_' and '-')"
        ));
    }
    if !playbook.contains(HOSTS_LINE) {
        return Err("a built-in playbook has no `hosts: etcd` line (build problem)".into());
    }
    Ok(playbook.replacen(HOSTS_LINE, &format!("\n  hosts: {group}\n"), 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_replaces_the_host_pattern() {
        for (_, _, playbook) in PLAYBOOKS {
            let text = playbook_for(playbook, "members").unwrap();
            assert!(text.contains("\n  hosts: members\n"));
            assert!(!text.contains(HOSTS_LINE));
            assert!(playbook_for(playbook, "a,b").is_err());
            assert!(playbook_for(playbook, "").is_err());
        }
    }

    #[test]
    fn written_playbooks_load_with_their_vars_and_templates() {
        for which in [
            Builtin::Cluster,
            Builtin::Backup,
            Builtin::Restore,
            Builtin::Defrag,
        ] {
            let pb = DefaultPlaybook::write(which, "etcd").unwrap();
            let dir = pb.path().parent().unwrap().to_path_buf();
            assert!(dir.join("templates/etcd.service.j2").exists());
            let loaded = etcdplay_playbook::load_playbook(
                pb.path(),
                &etcdplay_modules::Registry,
                &etcdplay_playbook::LoadOptions::default(),
            );
            let loaded = loaded.unwrap_or_else(|d| panic!("{which:?}: {}", d.sorted()));
            assert_eq!(loaded.plays.len(), 1);
            assert_eq!(loaded.plays[0].hosts, "etcd");
            assert_eq!(loaded.plays[0].vars_files, ["etcd-vars.yml"]);
            drop(pb);
            assert!(!dir.exists(), "the temporary directory is removed");
        }
    }
}
