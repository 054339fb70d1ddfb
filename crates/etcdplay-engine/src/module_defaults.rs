//! `module_defaults`: arguments a play, block, role or task gives every call of a
//! module that does not set them itself, as Ansible's `module_defaults` keyword. The entries
//! of all levels are merged outermost first, a module's whole entry replaced by an inner one
//! (Ansible's `prepend` list merged with `dict.update`); names are read as the registry's
//! canonical names, so `file`, `ansible.builtin.file` and `ansible.legacy.file` are one
//! module. The `service` and `package` actions also take the defaults of the module they
//! hand the work to (`systemd`, `apt`, ...), as their action plugins do. `group/NAME` entries
//! are kept but match nothing: ansible-core's own modules belong to no action group.

use etcdplay_playbook::Task;
use etcdplay_template::Vars;
use serde_json::{Map, Value};

use crate::error::TaskError;
use crate::play::PlayRun;
use crate::scope::TaskScope;

/// The keyword as written on plays, blocks, roles and tasks.
pub(crate) const KEYWORD: &str = "module_defaults";

/// A module name as `module_defaults` keys are compared: canonical when etcdplay knows the
/// module, else without the `ansible.builtin.`/`ansible.legacy.` prefix.
fn defaults_key(name: &str) -> String {
    if let Some(canonical) = etcdplay_modules::canonical_name(name) {
        return canonical.to_string();
    }
    let bare = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name);
    etcdplay_modules::canonical_name(bare)
        .map(str::to_string)
        .unwrap_or_else(|| bare.to_string())
}

/// The entries of one `module_defaults` value (a mapping or a list of mappings) merged into
/// `merged`, each module's entry replacing an outer one.
fn merge_level(merged: &mut Map<String, Value>, level: &Value) {
    let levels: Vec<&Value> = match level {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    for entries in levels {
        if let Value::Object(entries) = entries {
            for (name, args) in entries {
                merged.insert(defaults_key(name), args.clone());
            }
        }
    }
}

impl PlayRun<'_> {
    /// Every level's `module_defaults` for `task`, merged (the play's, then enclosing blocks
    /// and roles, then the task's own).
    fn merged_module_defaults(&self, task: &Task, scope: &TaskScope) -> Map<String, Value> {
        let mut merged = Map::new();
        let levels = self
            .play
            .extra
            .get(KEYWORD)
            .into_iter()
            .chain(scope.module_defaults.iter())
            .chain(task.extra.get(KEYWORD));
        for level in levels {
            merge_level(&mut merged, level);
        }
        merged
    }

    /// Adds to `args` what `module_defaults` gives `module` and `args` does not set (the
    /// defaults are templated with the task's variables; a default that names a variable
    /// the task does not use is never rendered).
    pub(crate) fn apply_module_defaults(
        &self,
        task: &Task,
        scope: &TaskScope,
        module: &str,
        args: &mut Map<String, Value>,
        vars: &Vars,
        origin: &str,
    ) -> Result<(), TaskError> {
        let merged = self.merged_module_defaults(task, scope);
        if merged.is_empty() {
            return Ok(());
        }
        let mut modules = vec![defaults_key(module)];
        if let Some(backend) = self.backend_of(module, args, vars)? {
            modules.push(defaults_key(&backend));
        }
        for name in modules {
            let Some(defaults) = merged.get(&name) else {
                continue;
            };
            let defaults = match defaults {
                Value::String(_) => self.engine.templar.template_value(defaults, origin, vars)?,
                other => other.clone(),
            };
            let Value::Object(defaults) = defaults else {
                return Err(TaskError::Invalid(format!(
                    "{origin}: module_defaults for `{name}` must be a mapping of arguments"
                )));
            };
            for (key, value) in defaults {
                if !args.contains_key(&key) {
                    let value = self.engine.templar.template_value(&value, origin, vars)?;
                    args.insert(key, value);
                }
            }
        }
        Ok(())
    }

    /// The module the `service` and `package` actions hand their work to: `use`, else the
    /// host's `ansible_service_mgr`/`ansible_package_use`/`ansible_pkg_mgr`.
    fn backend_of(
        &self,
        module: &str,
        args: &Map<String, Value>,
        vars: &Vars,
    ) -> Result<Option<String>, TaskError> {
        let given = args
            .get("use")
            .and_then(Value::as_str)
            .filter(|u| *u != "auto")
            .map(str::to_string);
        if given.is_some() {
            return Ok(given);
        }
        let names: &[&str] = match etcdplay_modules::canonical_name(module) {
            Some("service") => &["ansible_service_mgr"],
            Some("package") => &["ansible_package_use", "ansible_pkg_mgr"],
            _ => return Ok(None),
        };
        for name in names {
            if let Some(found) = self.var_string(vars, name)?.filter(|v| !v.is_empty()) {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Ansible: play `{file: {mode: '0600'}, ping: {}}` then task `[{file: {owner: x}}]`: the
    // task's entry replaces the play's for `file`; `ansible.builtin.file` is the same module.
    #[test]
    fn inner_entries_replace_outer_ones_per_module() {
        let mut merged = Map::new();
        merge_level(&mut merged, &json!({"file": {"mode": "0600"}, "ping": {}}));
        merge_level(
            &mut merged,
            &json!([{"ansible.builtin.file": {"owner": "x"}}]),
        );
        assert_eq!(merged["file"], json!({"owner": "x"}));
        assert_eq!(merged["ping"], json!({}));
        assert_eq!(defaults_key("ansible.legacy.sysvinit"), "sysvinit");
    }
}
