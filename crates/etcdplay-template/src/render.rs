//! The core render step shared by every entry point: render a template string against a
//! [`Scope`], then decide between a native value and text the way ansible-core 2.19 does.
//!
//! A template whose whole output is one `{{ expr }}` yields that expression's value itself (a
//! list stays a list); anything else yields text. To know which happened without parsing the
//! template ourselves, the output formatter records every value it prints into the
//! [`RenderCtx`] that is the template's root context.

use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Error, Output, State};

use crate::pyrepr::try_py_repr;
use crate::scope::Scope;

/// The context key under which a template finds its own [`RenderCtx`] (used by the formatter
/// and by `lookup('template')`); it cannot clash with Ansible variable names.
pub(crate) const CTX_KEY: &str = "__etcdplay_render_ctx__";

/// Root context of one render: variable lookups go to the scope; printed values are recorded.
#[derive(Debug)]
pub(crate) struct RenderCtx {
    pub(crate) scope: Arc<Scope>,
    emitted: Mutex<Vec<Value>>,
}

impl Object for RenderCtx {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if key.as_str() == Some(CTX_KEY) {
            return Some(Value::from_dyn_object(self.clone()));
        }
        self.scope.get_value(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.scope.enumerate()
    }
}

/// Removes collection prefixes from filter and test names (`| ansible.builtin.to_json`,
/// `is ansible.builtin.version`, `| ansible.utils.ipwrap`): every filter and test here is
/// registered under its short name, and these collections are the ones implemented.
pub(crate) fn strip_collection_prefixes(source: &str) -> std::borrow::Cow<'_, str> {
    static PREFIX: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = PREFIX.get_or_init(|| {
        regex::Regex::new(r"(\|\s*|\bis\s+(?:not\s+)?)ansible\.(?:builtin|utils|netcommon)\.").ok()
    });
    match re {
        Some(re) if source.contains("ansible.") => re.replace_all(source, "${1}"),
        _ => std::borrow::Cow::Borrowed(source),
    }
}

/// True if `text` may contain Jinja syntax; other strings are used as they are (Ansible's check).
pub fn is_possibly_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// How a printed value reads in the output: Python's `str()`, except that `None` prints as
/// nothing (ansible-core 2.19 drops `None` when concatenating template output).
pub(crate) fn output_text(value: &Value) -> Result<String, Error> {
    match value.kind() {
        ValueKind::None | ValueKind::Undefined => Ok(String::new()),
        ValueKind::String => Ok(value.as_str().unwrap_or_default().to_string()),
        _ => try_py_repr(value),
    }
}

/// minijinja output formatter: Python text for values, and a record of what was printed.
pub(crate) fn format_output(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    if let Some(ctx) = state.lookup(CTX_KEY) {
        if let Some(ctx) = ctx.downcast_object_ref::<RenderCtx>() {
            ctx.emitted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(value.clone());
        }
    }
    out.write_str(&output_text(value)?).map_err(Error::from)
}

/// Renders `source` (named `name` in errors) against `scope`; returns a native value when the
/// whole output is a single printed expression, else the text. Trailing newlines of the source
/// are kept like Ansible's `preserve_trailing_newlines`.
pub(crate) fn render_native(scope: &Arc<Scope>, source: &str, name: &str) -> Result<Value, Error> {
    let ctx = Arc::new(RenderCtx {
        scope: scope.clone(),
        emitted: Mutex::new(Vec::new()),
    });
    let env = &scope.session.templar.env;
    let prepared = strip_collection_prefixes(source);
    let text = env.render_named_str(name, &prepared, Value::from_dyn_object(ctx.clone()))?;
    let mut emitted = std::mem::take(&mut *ctx.emitted.lock().unwrap_or_else(|e| e.into_inner()));
    let single = emitted.len() == 1 && output_text(&emitted[0]).is_ok_and(|t| t == text);
    let value = if single {
        emitted.remove(0)
    } else {
        Value::from(text)
    };
    Ok(match value.as_str() {
        Some(text) if value.kind() == ValueKind::String => {
            Value::from(preserve_trailing_newlines(source, text))
        }
        _ => value,
    })
}

/// Jinja drops one trailing newline of the source; Ansible puts back as many as were lost.
fn preserve_trailing_newlines(source: &str, result: &str) -> String {
    let count = |s: &str| s.len() - s.trim_end_matches('\n').len();
    let missing = count(source).saturating_sub(count(result));
    let mut out = String::with_capacity(result.len() + missing);
    out.push_str(result);
    out.push_str(&"\n".repeat(missing));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_newlines_are_restored() {
        assert_eq!(preserve_trailing_newlines("a\n\n", "a\n"), "a\n\n");
        assert_eq!(preserve_trailing_newlines("a", "a"), "a");
        assert_eq!(preserve_trailing_newlines("{% if x %}\n", ""), "\n");
    }

    #[test]
    fn collection_prefixes_are_removed() {
        assert_eq!(
            strip_collection_prefixes("{{ x | ansible.builtin.to_json }} {{ y is not ansible.builtin.version('1') }}"),
            "{{ x | to_json }} {{ y is not version('1') }}"
        );
        assert_eq!(strip_collection_prefixes("{{ 'ansible.builtin.x' }}"), "{{ 'ansible.builtin.x' }}");
    }

    #[test]
    fn template_detection() {
        assert!(is_possibly_template("x {{ y }}"));
        assert!(is_possibly_template("{% if %}"));
        assert!(!is_possibly_template("plain { text }"));
    }
}
