//! The core render step shared by every entry point: render a template string against a
//! [`Scope`], then decide between a native value and text the way ansible-core 2.19 does.
//!
//! A template whose whole output is one `{{ expr }}` yields that expression's value itself (a
//! list stays a list); anything else yields text. To know which happened without parsing the
//! template ourselves, the output formatter records every value it prints into the
//! [`RenderCtx`] that is the template's root context.

use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Error, ErrorKind, Output, State};

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
pub(crate) fn format_output(
    out: &mut Output,
    state: &mut State,
    value: &Value,
) -> Result<(), Error> {
    // Strict mode rejects undefined values before formatting; one arriving here is the
    // "silent" undefined of `{{ x if false }}`, which Jinja prints as nothing.
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
    let mut prepared = strip_collection_prefixes(source).into_owned();
    if let Some(rewritten) = crate::percent::rewrite(&prepared, name, &scope.session.templar.syntax)
    {
        prepared = rewritten;
    }
    let mut attempts = 0;
    let text = loop {
        match env.render_named_str(name, &prepared, Value::from_dyn_object(ctx.clone())) {
            Ok(text) => break text,
            Err(err) if attempts < MAX_CHAIN_REWRITES => {
                match guard_chained_undefined(&err, name, &prepared) {
                    Some(rewritten) => {
                        prepared = rewritten;
                        attempts += 1;
                        ctx.emitted
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .clear();
                    }
                    None => return Err(err),
                }
            }
            Err(err) => return Err(err),
        }
    };
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

/// How many chained accesses on undefined values one template may have rewritten.
const MAX_CHAIN_REWRITES: usize = 16;

/// Ansible lets `missing.attr` be undefined (so `missing.attr | default('x')` works) where
/// minijinja's strict mode fails at the attribute access. When strict mode failed that way in
/// template `name`, returns the source with that access guarded as
/// `(missing.attr if missing is defined else missing)`: `default` then sees an undefined
/// value, while printing it still fails naming `missing`, as in Ansible.
fn guard_chained_undefined(err: &Error, name: &str, source: &str) -> Option<String> {
    if err.kind() != ErrorKind::UndefinedError || err.name() != Some(name) {
        return None;
    }
    let missing = err.detail()?.split('`').nth(1)?;
    let range = err.range()?;
    // The failing instruction is the access itself, whose span ends past the undefined
    // expression and continues with `.` or `[`; anything else (printing it, testing its
    // truth) is a real error. minijinja's span may start at the expression or just after it.
    let start = source
        .match_indices(missing)
        .map(|(at, _)| at)
        .find(|&at| {
            let after = at + missing.len();
            let before = source[..at].chars().next_back();
            let rest = source[after..].trim_start();
            at <= range.start
                && after > range.start
                && after < range.end
                && !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
                && (rest.starts_with('.') || rest.starts_with('['))
        })?;
    let end = chain_end(source, start + missing.len());
    if end == start + missing.len() {
        return None;
    }
    let chain = &source[start..end];
    Some(format!(
        "{}({chain} if {missing} is defined else {missing}){}",
        &source[..start],
        &source[end..]
    ))
}

/// The end of a run of `.name` / `[...]` accessors starting at `pos`.
fn chain_end(source: &str, mut pos: usize) -> usize {
    let bytes = source.as_bytes();
    loop {
        let mut p = pos;
        while p < bytes.len() && bytes[p] == b' ' {
            p += 1;
        }
        match bytes.get(p) {
            Some(b'.') => {
                let mut q = p + 1;
                while q < bytes.len() && bytes[q] == b' ' {
                    q += 1;
                }
                let start = q;
                while q < bytes.len() && (bytes[q].is_ascii_alphanumeric() || bytes[q] == b'_') {
                    q += 1;
                }
                if q == start {
                    return pos;
                }
                pos = q;
            }
            Some(b'[') => {
                let mut depth = 0;
                let mut q = p;
                let mut quote: Option<u8> = None;
                while q < bytes.len() {
                    let c = bytes[q];
                    match quote {
                        Some(qc) if c == qc => quote = None,
                        Some(_) => {}
                        None if c == b'\'' || c == b'"' => quote = Some(c),
                        None if c == b'[' => depth += 1,
                        None if c == b']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        None => {}
                    }
                    q += 1;
                }
                if q >= bytes.len() {
                    return pos;
                }
                pos = q + 1;
            }
            _ => return pos,
        }
    }
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
            strip_collection_prefixes(
                "{{ x | ansible.builtin.to_json }} {{ y is not ansible.builtin.version('1') }}"
            ),
            "{{ x | to_json }} {{ y is not version('1') }}"
        );
        assert_eq!(
            strip_collection_prefixes("{{ 'ansible.builtin.x' }}"),
            "{{ 'ansible.builtin.x' }}"
        );
    }

    #[test]
    fn chained_access_chain_end() {
        let src = "{{ a.b['c'].d | default(1) }}";
        assert_eq!(&src[3..chain_end(src, 4)], "a.b['c'].d");
        assert_eq!(chain_end("x + 1", 1), 1);
        assert_eq!(chain_end("x[']'] y", 1), 6);
    }

    #[test]
    fn template_detection() {
        assert!(is_possibly_template("x {{ y }}"));
        assert!(is_possibly_template("{% if %}"));
        assert!(!is_possibly_template("plain { text }"));
    }
}
