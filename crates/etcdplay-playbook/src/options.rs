//! What the caller tells the loader beyond the playbook path.

use std::path::PathBuf;
use std::sync::Arc;

use crate::model::Map;

/// Renders the templated name of a static import (`import_tasks: "{{ x }}.yml"`,
/// `import_role: name: "{{ r }}"`) with the variables known before the run. The loader never
/// evaluates templates itself: the caller passes the template engine in through this.
pub trait ImportNames: Send + Sync + std::fmt::Debug {
    /// The rendered text, or why it cannot be rendered (an undefined variable).
    fn render(&self, text: &str, vars: &Map) -> Result<String, String>;
}

/// Options for [`crate::load_playbook`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Extra directories searched for roles after `roles/` next to the playbook and the
    /// playbook's own directory (Ansible's `roles_path`).
    pub role_paths: Vec<PathBuf>,
    /// `-e` variables, which import names may use (above play `vars` and `vars_files`).
    pub extra_vars: Map,
    /// How templated import names are rendered; without it they are refused.
    pub import_names: Option<Arc<dyn ImportNames>>,
}
