//! What the caller tells the loader beyond the playbook path.

use std::path::PathBuf;

/// Options for [`crate::load_playbook`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Extra directories searched for roles after `roles/` next to the playbook and the
    /// playbook's own directory (Ansible's `roles_path`).
    pub role_paths: Vec<PathBuf>,
}
