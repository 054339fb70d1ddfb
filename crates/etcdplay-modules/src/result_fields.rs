//! Result keys shared by the file-writing modules (`mode`, `owner`, `group`, `state`...), kept in
//! one place so every module reports them the same way Ansible does.

use serde_json::Value;

use crate::ModuleResult;

#[derive(Debug, Clone, Default)]
pub(crate) struct FileFields {
    pub(crate) mode: Option<String>,
    pub(crate) owner: Option<String>,
    pub(crate) group: Option<String>,
}

impl FileFields {
    pub(crate) fn write(&self, res: &mut ModuleResult) {
        for (k, v) in [
            ("mode", &self.mode),
            ("owner", &self.owner),
            ("group", &self.group),
        ] {
            if let Some(v) = v {
                res.data.insert(k.to_string(), Value::String(v.clone()));
            }
        }
    }
}
