//! The template engine behind the loader's [`ImportNames`]: an `import_tasks` or `import_role`
//! named by a template is resolved while the playbook is read, as Ansible does, with the
//! variables known then (play `vars`, `vars_files`, extra vars); anything else (host
//! variables, facts, registered results) is undefined there, as in Ansible.

use etcdplay_playbook::{ImportNames, Map};
use etcdplay_template::{Templar, Vars};

/// Renders import names with a [`Templar`].
#[derive(Debug, Clone)]
pub struct ImportNameRenderer {
    templar: Templar,
}

impl ImportNameRenderer {
    pub fn new(templar: Templar) -> Self {
        ImportNameRenderer { templar }
    }
}

impl ImportNames for ImportNameRenderer {
    fn render(&self, text: &str, vars: &Map) -> Result<String, String> {
        let vars = Vars::new(vars.clone());
        self.templar
            .render_string(text, "import name", &vars)
            .map_err(|e| e.to_string())
    }
}
