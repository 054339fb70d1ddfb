//! Loops: the items of `loop:`, and of `with_<lookup>` (the lookup plugin of that name in
//! etcdplay-template, given the templated terms, as Ansible does), and the label each item is
//! shown with.

use etcdplay_playbook::{LoopKind, Task};
use etcdplay_template::Vars;
use serde_json::Value;

use crate::error::TaskError;
use crate::play::PlayRun;

/// Where `with_first_found` also looks for a task of `action` (Ansible picks the directory by
/// the action's name: `template`, `var` or else `file`).
fn first_found_subdir(action: &str) -> &'static str {
    if action.contains("template") {
        "templates"
    } else if action.contains("var") {
        "vars"
    } else {
        "files"
    }
}

impl PlayRun<'_> {
    /// The loop's items. `action` is the task's module name (for `with_first_found`).
    pub(crate) fn loop_items(
        &self,
        kind: &LoopKind,
        items: &Value,
        action: &str,
        origin: &str,
        vars: &Vars,
    ) -> Result<Vec<Value>, TaskError> {
        let value = self.engine.templar.template_value(items, origin, vars)?;
        match kind {
            LoopKind::Loop => match value {
                Value::Array(v) => Ok(v),
                Value::Null => Ok(Vec::new()),
                _ => Err(TaskError::Invalid(format!(
                    "{origin}: loop needs a list, got {value}"
                ))),
            },
            LoopKind::With(lookup) => Ok(self.engine.templar.loop_items(
                lookup,
                &value,
                first_found_subdir(action),
                origin,
                vars,
            )?),
        }
    }

    /// The label of an item (`loop_control.label`, else the loop variable), or why it cannot
    /// be rendered.
    pub(crate) fn item_label_checked(
        &self,
        task: &Task,
        vars: &Vars,
        item: &Value,
    ) -> Result<String, etcdplay_template::TemplateError> {
        let Some(label) = task.loop_control.as_ref().and_then(|c| c.label.clone()) else {
            return Ok(self.item_label(task, vars, item));
        };
        self.engine
            .templar
            .render_string(&label, "loop_control.label", vars)
    }

    pub(crate) fn item_label(&self, task: &Task, vars: &Vars, item: &Value) -> String {
        let label_src = task.loop_control.as_ref().and_then(|c| c.label.clone());
        let src = label_src.unwrap_or_else(|| {
            let var = task
                .loop_control
                .as_ref()
                .map(|c| c.loop_var.clone())
                .unwrap_or_else(|| "item".into());
            // A templated `loop_var` names the variable once rendered.
            let var = self
                .engine
                .templar
                .render_string(&var, "loop_control.loop_var", vars)
                .unwrap_or(var);
            format!("{{{{ {var} }}}}")
        });
        self.engine
            .templar
            .render_string(&src, "loop_control.label", vars)
            .unwrap_or_else(|_| plain_label(item))
    }
}

/// An item as a label when its `loop_control.label` cannot be rendered: Ansible's callback
/// shows the item itself, a string without quotes.
fn plain_label(item: &Value) -> String {
    match item {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
