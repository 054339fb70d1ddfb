//! Reading a variables file (`vars_files`, `include_vars`): YAML 1.1 like Ansible, which also
//! covers JSON.

use std::path::Path;

use etcdplay_source::{load_yaml_file, Diagnostic};
use serde_json::Value;

/// The file's content as a value (a mapping for a well-formed variables file).
pub(crate) fn load(path: &Path) -> Result<Value, Diagnostic> {
    let shown = crate::control::shown(path);
    load_yaml_file(path, &shown).map(|node| node.to_json())
}
