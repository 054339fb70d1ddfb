//! Loops: the items of `loop:` and the `with_*` lookups etcdplay supports (`items`, `list`,
//! `dict`, `indexed_items`, `sequence`), and the label each item is shown with.

use etcdplay_playbook::{LoopKind, Task};
use etcdplay_template::Vars;
use serde_json::{json, Value};

use crate::error::TaskError;
use crate::play::PlayRun;

/// The `with_<lookup>` loops `loop_items` runs (the parser knows more lookup names; a task
/// using another fails when it runs, and `precheck` warns of it before the run).
pub(crate) const SUPPORTED_WITH: &[&str] = &["items", "list", "dict", "indexed_items", "sequence"];

/// Why a `with_sequence` spec cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SequenceError {
    #[error("expects a 'start=N end=M' string")]
    NotText,
    #[error("bad part '{0}'")]
    BadPart(String),
    #[error("bad {key} '{value}'")]
    BadNumber { key: String, value: String },
    #[error("unknown key '{0}'")]
    UnknownKey(String),
    #[error("needs end= or count=")]
    NoEnd,
    #[error("stride 0 or too many items")]
    TooMany,
}

impl PlayRun<'_> {
    /// The loop's items, with each `with_*` lookup's meaning.
    pub(crate) fn loop_items(
        &self,
        kind: &LoopKind,
        items: &Value,
        origin: &str,
        vars: &Vars,
    ) -> Result<Vec<Value>, TaskError> {
        let value = self.engine.templar.template_value(items, origin, vars)?;
        let not_list =
            |what: &str| TaskError::Invalid(format!("{origin}: {what} needs a list, got {value}"));
        Ok(match kind {
            LoopKind::Loop => match value {
                Value::Array(v) => v,
                Value::Null => Vec::new(),
                _ => return Err(not_list("loop")),
            },
            LoopKind::With(lookup) => match lookup.as_str() {
                "items" => match value {
                    Value::Array(v) => v
                        .into_iter()
                        .flat_map(|i| match i {
                            Value::Array(inner) => inner,
                            other => vec![other],
                        })
                        .collect(),
                    Value::Null => Vec::new(),
                    other => vec![other],
                },
                "list" => match value {
                    Value::Array(v) => v,
                    other => vec![other],
                },
                "dict" => match value {
                    Value::Object(m) => m
                        .into_iter()
                        .map(|(k, v)| json!({"key": k, "value": v}))
                        .collect(),
                    _ => {
                        return Err(TaskError::Invalid(format!(
                            "{origin}: with_dict needs a mapping, got {value}"
                        )))
                    }
                },
                "indexed_items" => match value {
                    Value::Array(v) => v
                        .into_iter()
                        .enumerate()
                        .map(|(i, x)| json!([i, x]))
                        .collect(),
                    _ => return Err(not_list("with_indexed_items")),
                },
                "sequence" => sequence_items(&value).map_err(|source| TaskError::Sequence {
                    origin: origin.to_string(),
                    source,
                })?,
                other => {
                    return Err(TaskError::Invalid(format!(
                        "{origin}: with_{other} is not supported; use loop:"
                    )))
                }
            },
        })
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
            .unwrap_or_else(|_| item.to_string())
    }
}

/// The number of `key=value` in a `with_sequence` spec.
fn number_of(key: &str, value: &str) -> Result<i64, SequenceError> {
    value.parse().map_err(|_| SequenceError::BadNumber {
        key: key.to_string(),
        value: value.to_string(),
    })
}

/// `with_sequence: start=1 end=3 format=node%02d` (the common subset).
fn sequence_items(spec: &Value) -> Result<Vec<Value>, SequenceError> {
    let text = spec.as_str().ok_or(SequenceError::NotText)?;
    let (mut start, mut end, mut stride, mut format) = (1i64, None, 1i64, None::<String>);
    for part in text.split_whitespace() {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| SequenceError::BadPart(part.to_string()))?;
        match k {
            "start" => start = number_of(k, v)?,
            "end" => end = Some(number_of(k, v)?),
            "count" => end = Some(start + number_of(k, v)? - 1),
            "stride" => stride = number_of(k, v)?,
            "format" => format = Some(v.to_string()),
            _ => return Err(SequenceError::UnknownKey(k.to_string())),
        }
    }
    let end = end.ok_or(SequenceError::NoEnd)?;
    if stride == 0 || (end - start) / stride > 100_000 {
        return Err(SequenceError::TooMany);
    }
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        out.push(Value::String(match &format {
            Some(f) => format_printf_int(f, i),
            None => i.to_string(),
        }));
        i += stride;
    }
    Ok(out)
}

/// The `%d`/`%0Nd` subset of printf that `with_sequence format=` is used with.
fn format_printf_int(format: &str, n: i64) -> String {
    if let Some(at) = format.find('%') {
        let rest = &format[at + 1..];
        if let Some(d) = rest.find('d') {
            let width = &rest[..d];
            let formatted = if let Some(w) = width.strip_prefix('0') {
                format!("{:0width$}", n, width = w.parse().unwrap_or(0))
            } else {
                format!("{:width$}", n, width = width.parse().unwrap_or(0))
            };
            return format!("{}{}{}", &format[..at], formatted, &rest[d + 1..]);
        }
    }
    format.to_string()
}
