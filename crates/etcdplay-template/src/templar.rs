//! [`Templar`]: the Ansible-compatible template engine the rest of etcdplay calls.
//!
//! One minijinja `Environment` configured like Ansible's: `trim_blocks` on (Ansible uses it for
//! every template, not only the template module), strict undefined, Python text for printed
//! values, Ansible's filters/tests/lookups, and Python string/list methods. Entry points render
//! template files, task-argument strings (natively: `"{{ groups.etcds }}"` is a list), whole
//! argument structures, and `when:` conditions.

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use etcdplay_source::{read_text_file, MAX_TEXT_FILE};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Value, ValueKind};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value as Json;

use crate::error::{translate, Location, TemplateError};
use crate::file_syntax::FileSyntax;
use crate::include_path::{include_search_path, set_include_path, Caller};
use crate::pyjson::to_json_value;
use crate::pyrepr::try_py_str;
use crate::render::{format_output, is_possibly_template, render_native};
use crate::scope::Scope;
use crate::session::Session;
use crate::vars::Vars;

/// Settings that differ between Ansible versions or installations.
#[derive(Debug, Clone, Default)]
pub struct TemplarOptions {
    /// Directories searched (each as `dir/templates/` then `dir/`) for template files, includes
    /// and `lookup('file'|'template')`; relative paths given to `render_file` also use them.
    pub search_dirs: Vec<PathBuf>,
    /// Ansible's `ALLOW_BROKEN_CONDITIONALS`: accept non-boolean `when:` results by truthiness
    /// (ansible-core < 2.19 behaviour). Off by default, as in ansible-core 2.19.
    pub allow_broken_conditionals: bool,
}

#[derive(Debug)]
pub(crate) struct TemplarInner {
    pub(crate) env: Environment<'static>,
    pub(crate) search_dirs: Arc<Vec<PathBuf>>,
    /// The delimiters and whitespace options `env` was built with (the `%` rewrite parses
    /// with them).
    pub(crate) syntax: SyntaxConfig,
    omit: String,
    allow_broken_conditionals: bool,
    /// Engines for template files rendered with other options than the defaults, made once
    /// per set of options.
    variants: std::sync::Mutex<std::collections::HashMap<FileSyntax, Templar>>,
}

/// The template engine. Cheap to clone and safe to share between threads.
#[derive(Debug, Clone)]
pub struct Templar {
    inner: Arc<TemplarInner>,
}

// The engine renders for many hosts in parallel: the engine must stay shareable.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Templar>();
    shareable::<Vars>();
};

impl Templar {
    /// An engine searching `search_dirs` for files, with default options.
    pub fn new(search_dirs: Vec<PathBuf>) -> Self {
        Self::with_options(TemplarOptions {
            search_dirs,
            ..TemplarOptions::default()
        })
    }

    /// An engine with explicit options.
    pub fn with_options(options: TemplarOptions) -> Self {
        let search_dirs = Arc::new(options.search_dirs);
        let omit = new_omit_token();
        let env = build_environment(search_dirs.clone(), &omit, default_syntax());
        Templar {
            inner: Arc::new(TemplarInner {
                env,
                search_dirs,
                syntax: default_syntax(),
                omit,
                allow_broken_conditionals: options.allow_broken_conditionals,
                variants: Default::default(),
            }),
        }
    }

    /// The value of the `omit` variable: a task argument equal to it must be dropped.
    pub fn omit_token(&self) -> &str {
        &self.inner.omit
    }

    fn scope(&self, vars: &Vars) -> Arc<Scope> {
        Scope::new(
            Session::new(self.inner.clone()),
            vars.clone(),
            String::new(),
        )
    }

    /// Renders a template file like Ansible's template module and returns the text.
    /// A relative `path` is looked up in the search directories.
    pub fn render_file(&self, path: &Path, vars: &Vars) -> Result<String, TemplateError> {
        self.render_file_with(path, vars, &FileSyntax::default())
    }

    /// [`Templar::render_file`] with the template module's options; a `#jinja2:` first line of
    /// the file overrides them and is not part of the output.
    pub fn render_file_with(
        &self,
        path: &Path,
        vars: &Vars,
        syntax: &FileSyntax,
    ) -> Result<String, TemplateError> {
        let full = find_file(&self.inner.search_dirs, path).unwrap_or_else(|| path.to_path_buf());
        let source = read_text_file(&full, MAX_TEXT_FILE).map_err(|e| TemplateError::Read {
            path: path.display().to_string(),
            problem: e.problem,
        })?;
        // Ansible's template action: the task's search path, the playbook's directory, then
        // the template's own directory.
        let mut bases = vars.search_path();
        bases.extend(self.inner.search_dirs.iter().cloned());
        let absolute = std::path::absolute(&full).unwrap_or_else(|_| full.clone());
        let _includes = set_include_path(include_search_path(&absolute, &bases, Caller::Action));
        let name = path.display().to_string();
        let mut syntax = syntax.clone();
        let source = syntax.apply_header(&source, &name)?;
        // The template module defines `ansible_managed` unless the user did.
        let vars = if vars.raw("ansible_managed").is_none() {
            let mut vars = vars.clone();
            vars.insert("ansible_managed", Json::from("Ansible managed"));
            vars
        } else {
            vars.clone()
        };
        if syntax == FileSyntax::default() {
            return self.render_source_to_string(source, &name, false, &vars);
        }
        let text = if syntax.may_template(source) {
            let variant = self.variant(&syntax, &name)?;
            let scope = variant.scope(&vars);
            render_native(&scope, source, &name)
                .and_then(|value| value_to_text(&value))
                .map_err(|e| translate(&e, &name, &name, false))?
        } else {
            source.to_string()
        };
        Ok(match syntax.newline_sequence.as_str() {
            "\n" => text,
            other => text.replace('\n', other),
        })
    }

    /// The minijinja environment (for checking templates without rendering them).
    pub(crate) fn env(&self) -> &Environment<'static> {
        &self.inner.env
    }

    /// The engine for template files with `syntax`, made on first use.
    pub(crate) fn variant(
        &self,
        syntax: &FileSyntax,
        origin: &str,
    ) -> Result<Templar, TemplateError> {
        let mut variants = self
            .inner
            .variants
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(found) = variants.get(syntax) {
            return Ok(found.clone());
        }
        let config = SyntaxConfig::builder()
            .block_delimiters(syntax.block.0.clone(), syntax.block.1.clone())
            .variable_delimiters(syntax.variable.0.clone(), syntax.variable.1.clone())
            .comment_delimiters(syntax.comment.0.clone(), syntax.comment.1.clone())
            .trim_blocks(syntax.trim_blocks)
            .lstrip_blocks(syntax.lstrip_blocks)
            .build()
            .map_err(|e| TemplateError::Options {
                origin: origin.to_string(),
                message: format!("these delimiters cannot be used: {e}"),
            })?;
        let inner = &self.inner;
        let templar = Templar {
            inner: Arc::new(TemplarInner {
                env: build_environment(inner.search_dirs.clone(), &inner.omit, config.clone()),
                search_dirs: inner.search_dirs.clone(),
                syntax: config,
                omit: inner.omit.clone(),
                allow_broken_conditionals: inner.allow_broken_conditionals,
                variants: Default::default(),
            }),
        };
        variants.insert(syntax.clone(), templar.clone());
        Ok(templar)
    }

    /// Renders template text that came from a file or label `origin`, returning text.
    fn render_source_to_string(
        &self,
        source: &str,
        origin: &str,
        inline: bool,
        vars: &Vars,
    ) -> Result<String, TemplateError> {
        if !is_possibly_template(source) {
            return Ok(source.to_string());
        }
        let scope = self.scope(vars);
        render_native(&scope, source, origin)
            .and_then(|value| value_to_text(&value))
            .map_err(|e| explain_missing_attribute(&scope, translate(&e, origin, origin, inline)))
    }

    /// Renders a string (a task argument) natively: a string that is one `{{ expr }}` yields
    /// the expression's value (list, dict, number, bool, null); anything else yields a string.
    /// `origin` labels errors, e.g. `playbook.yml:12:5`.
    pub fn render_str(
        &self,
        source: &str,
        origin: &str,
        vars: &Vars,
    ) -> Result<Json, TemplateError> {
        if !is_possibly_template(source) {
            return Ok(Json::String(source.to_string()));
        }
        let scope = self.scope(vars);
        self.render_in_scope(&scope, source, origin)
    }

    fn render_in_scope(
        &self,
        scope: &Arc<Scope>,
        source: &str,
        origin: &str,
    ) -> Result<Json, TemplateError> {
        render_native(scope, source, origin)
            .and_then(|value| to_json_value(&value))
            .map_err(|e| explain_missing_attribute(scope, translate(&e, origin, origin, true)))
    }

    /// Renders a string and always returns text (Python's `str()` of a native result).
    pub fn render_string(
        &self,
        source: &str,
        origin: &str,
        vars: &Vars,
    ) -> Result<String, TemplateError> {
        self.render_source_to_string(source, origin, true, vars)
    }

    /// Templates every string inside `value` (task arguments), natively, dropping dict entries
    /// and list items whose value is `omit`, as Ansible does.
    pub fn template_value(
        &self,
        value: &Json,
        origin: &str,
        vars: &Vars,
    ) -> Result<Json, TemplateError> {
        let scope = self.scope(vars);
        Ok(self
            .template_value_in(&scope, value, origin)?
            .unwrap_or(Json::Null))
    }

    /// `None` means the value was `omit`.
    fn template_value_in(
        &self,
        scope: &Arc<Scope>,
        value: &Json,
        origin: &str,
    ) -> Result<Option<Json>, TemplateError> {
        Ok(match value {
            Json::String(text)
                if etcdplay_vault::session::undecryptable_message(text).is_some() =>
            {
                return Err(TemplateError::Render {
                    location: Location {
                        origin: origin.to_string(),
                        line: None,
                        inline: true,
                    },
                    message: etcdplay_vault::session::undecryptable_message(text)
                        .unwrap_or_default()
                        .to_string(),
                    context: String::new(),
                })
            }
            Json::String(text) if is_possibly_template(text) => {
                let out = self.render_in_scope(scope, text, origin)?;
                if out.as_str() == Some(self.inner.omit.as_str()) {
                    None
                } else {
                    Some(out)
                }
            }
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(item) = self.template_value_in(scope, item, origin)? {
                        out.push(item);
                    }
                }
                Some(Json::Array(out))
            }
            Json::Object(map) => {
                let mut out = serde_json::Map::new();
                for (key, item) in map {
                    if let Some(item) = self.template_value_in(scope, item, origin)? {
                        out.insert(key.clone(), item);
                    }
                }
                Some(Json::Object(out))
            }
            other => Some(other.clone()),
        })
    }

    /// The items of a `with_<plugin>` loop: `terms` (already templated; a non-list is one
    /// term, as Ansible's `listify_lookup_plugin_terms`) given to the lookup plugin, whose
    /// results are the items. `subdir` is where `with_first_found` also looks (`files`,
    /// `templates` or `vars`, from the task's action). An unknown plugin is an error.
    pub fn loop_items(
        &self,
        plugin: &str,
        terms: &Json,
        subdir: &str,
        origin: &str,
        vars: &Vars,
    ) -> Result<Vec<Json>, TemplateError> {
        let terms = match terms {
            Json::Array(items) => Json::Array(items.clone()),
            Json::Null if plugin == "items" => Json::Array(Vec::new()),
            other => Json::Array(vec![other.clone()]),
        };
        let mut vars = vars.clone();
        vars.insert_literal("__etcdplay_loop_terms", terms);
        vars.insert_literal(crate::lookup::SUBDIR_VAR, Json::from(subdir));
        let source = format!(
            "{{{{ query({}, *__etcdplay_loop_terms) }}}}",
            serde_json::to_string(plugin).unwrap_or_default()
        );
        match self.render_str(&source, origin, &vars)? {
            Json::Array(items) => Ok(items),
            other => Ok(vec![other]),
        }
    }

    /// Evaluates a `when:` expression (bare Jinja, no braces) like ansible-core 2.19: the
    /// result must be a boolean unless broken conditionals are allowed. A condition written
    /// as `"{{ expr }}"` is first templated and its text used as the expression.
    pub fn eval_condition(
        &self,
        expr: &str,
        origin: &str,
        vars: &Vars,
    ) -> Result<bool, TemplateError> {
        let location = |line| Location {
            origin: origin.to_string(),
            line,
            inline: true,
        };
        let mut expr = expr.trim().to_string();
        if expr.is_empty() {
            return Err(TemplateError::Render {
                location: location(None),
                message: "empty conditional expressions are not allowed".into(),
                context: String::new(),
            });
        }
        let scope = self.scope(vars);
        if expr.starts_with("{{") && expr.ends_with("}}") {
            let value = render_native(&scope, &expr, origin)
                .map_err(|e| translate(&e, origin, origin, true))?;
            match value.as_str() {
                Some(text) if value.kind() == ValueKind::String => expr = text.trim().to_string(),
                _ => return self.conditional_result(&value, location(None)),
            }
        }
        // String constants holding a template are rendered first (see `embedded_templates`).
        let (expr, scope) = match self.embedded_templates(&expr, origin, vars)? {
            Some((rewritten, with_constants)) => (rewritten, self.scope(&with_constants)),
            None => (expr, scope),
        };
        // Printing the expression makes strict-undefined report the missing variable by name.
        let source = format!("{{{{ {expr} }}}}");
        let value = render_native(&scope, &source, origin)
            .map_err(|e| translate(&e, origin, origin, true))?;
        self.conditional_result(&value, location(None))
    }

    /// ansible-core 2.19 renders a string constant of a conditional that is itself a template
    /// (`'{{ test_dir }}/x' in found.skipped_paths`) and uses the result (it warns that this
    /// goes away in 2.23). Each such constant is rendered and the expression reads it from a
    /// variable of its own instead; `None` when there is none.
    fn embedded_templates(
        &self,
        expr: &str,
        origin: &str,
        vars: &Vars,
    ) -> Result<Option<(String, Vars)>, TemplateError> {
        let constants = string_constants(expr);
        if !constants.iter().any(|c| is_possibly_template(&c.text)) {
            return Ok(None);
        }
        let mut with_constants = vars.clone();
        let mut rewritten = String::with_capacity(expr.len());
        let mut last = 0;
        for (n, c) in constants
            .iter()
            .filter(|c| is_possibly_template(&c.text))
            .enumerate()
        {
            let value = self.render_str(&c.text, origin, vars)?;
            let name = format!("__etcdplay_embedded_{n}");
            with_constants.insert_literal(name.clone(), value);
            rewritten.push_str(&expr[last..c.span.start]);
            rewritten.push_str(&name);
            last = c.span.end;
        }
        rewritten.push_str(&expr[last..]);
        Ok(Some((rewritten, with_constants)))
    }

    fn conditional_result(&self, value: &Value, location: Location) -> Result<bool, TemplateError> {
        if value.kind() == ValueKind::Bool {
            return Ok(value.is_true());
        }
        if self.inner.allow_broken_conditionals {
            return Ok(value.is_true());
        }
        Err(TemplateError::BrokenConditional {
            location,
            truthy: value.is_true(),
            type_name: crate::filters::python_type_name(value).to_string(),
        })
    }
}

/// A string literal of an expression: where it is written (quotes included) and its text.
struct StringConstant {
    span: std::ops::Range<usize>,
    text: String,
}

/// The string literals of a Jinja expression (`'...'` or `"..."`, backslash escapes of quotes
/// and backslashes decoded), in order.
fn string_constants(expr: &str) -> Vec<StringConstant> {
    let mut found = Vec::new();
    let mut chars = expr.char_indices();
    while let Some((start, c)) = chars.next() {
        if c != '\'' && c != '"' {
            continue;
        }
        let mut text = String::new();
        let mut escaped = false;
        for (i, d) in chars.by_ref() {
            if escaped {
                if !matches!(d, '\\' | '\'' | '"') {
                    text.push('\\');
                }
                text.push(d);
                escaped = false;
            } else if d == '\\' {
                escaped = true;
            } else if d == c {
                found.push(StringConstant {
                    span: start..i + 1,
                    text: std::mem::take(&mut text),
                });
                break;
            } else {
                text.push(d);
            }
        }
    }
    found
}

/// Python's `str()` of a render result, with `None` as empty text (the template module writes
/// an empty file for a template that evaluates to `None`).
fn value_to_text(value: &Value) -> Result<String, minijinja::Error> {
    let value = crate::pyjson::Validated::validated(value.clone())?;
    Ok(match value.kind() {
        ValueKind::None => String::new(),
        _ => try_py_str(&value)?,
    })
}

/// Finds `path` in the search directories (`dir/templates/path`, then `dir/path`).
pub(crate) fn find_file(search_dirs: &[PathBuf], path: &Path) -> Option<PathBuf> {
    if path.is_absolute() {
        return path.exists().then(|| path.to_path_buf());
    }
    for dir in search_dirs {
        for candidate in [dir.join("templates").join(path), dir.join(path)] {
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Renders a template file's text for `lookup('template')` with `scope`'s variables plus
/// `extra` (given literally: `ansible_managed`, `template_vars`), with the lookup's
/// delimiter and `trim_blocks` options.
pub(crate) fn render_lookup_template(
    scope: &Arc<Scope>,
    source: &str,
    name: &str,
    syntax: &FileSyntax,
    extra: Vec<(String, Json)>,
) -> Result<Value, minijinja::Error> {
    let mut vars = scope.vars().clone();
    for (key, value) in extra {
        vars.insert_literal(key, value);
    }
    let templar = Templar {
        inner: scope.session.templar.clone(),
    };
    let templar = if *syntax == FileSyntax::default() {
        templar
    } else {
        templar.variant(syntax, name).map_err(|e| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
        })?
    };
    let scope = scope.with_vars(Session::new(templar.inner.clone()), vars);
    render_native(&scope, source, name)
}

/// A placeholder no real value will equal, like Ansible's `__omit_place_holder__<sha1>`.
fn new_omit_token() -> String {
    let state = std::collections::hash_map::RandomState::new();
    let mut a = state.build_hasher();
    a.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    let mut b = state.build_hasher();
    b.write_u32(std::process::id());
    format!(
        "__omit_place_holder__{:016x}{:016x}",
        a.finish(),
        b.finish()
    )
}

/// Ansible's syntax for every template: default delimiters, `trim_blocks` on.
fn default_syntax() -> SyntaxConfig {
    SyntaxConfig::builder()
        .trim_blocks(true)
        .build()
        .unwrap_or_default()
}

fn build_environment(
    search_dirs: Arc<Vec<PathBuf>>,
    omit: &str,
    syntax: SyntaxConfig,
) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Debug mode makes minijinja remember which expression produced an undefined value, so
    // errors can name the missing variable like Ansible does.
    env.set_debug(true);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_syntax(syntax.clone());
    env.set_formatter(format_output);
    env.set_unknown_method_callback(crate::methods::call_method);
    // Includes are found along the rendering file's search path first (see include_path.rs).
    env.set_path_join_callback(|name, _parent| crate::include_path::join_include(name));
    let loader_dirs = search_dirs.clone();
    let loader_syntax = syntax.clone();
    env.set_loader(move |name| match find_file(&loader_dirs, Path::new(name)) {
        Some(path) => read_text_file(&path, MAX_TEXT_FILE)
            .map(|text| {
                let text = crate::render::strip_collection_prefixes(&text).into_owned();
                Some(crate::percent::rewrite(&text, name, &loader_syntax).unwrap_or(text))
            })
            .map_err(|err| {
                minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("cannot read template {name}: {}", err.problem),
                )
            }),
        None => Ok(None),
    });
    env.add_global("omit", omit.to_string());
    crate::filters::register(&mut env);
    crate::ansible_tests::register(&mut env);
    crate::functions::register(&mut env);
    crate::percent::register(&mut env);
    crate::lookup::register(&mut env, search_dirs);
    env
}

/// An undefined `parent.attr` whose parent exists says so as Ansible does (`object of type
/// 'dict' has no attribute 'stdout'`): the parent expression is evaluated in the same scope.
fn explain_missing_attribute(scope: &Arc<Scope>, err: TemplateError) -> TemplateError {
    let TemplateError::Undefined {
        location,
        name,
        context,
        missing_attribute: None,
    } = err
    else {
        return err;
    };
    let missing_attribute = crate::error::split_attribute(&name).and_then(|(parent, attr)| {
        let value = render_native(scope, &format!("{{{{ {parent} }}}}"), "parent").ok()?;
        (!value.is_undefined()).then(|| {
            let type_name = crate::filters::python_type_name(&value);
            format!("object of type '{type_name}' has no attribute {attr}")
        })
    });
    TemplateError::Undefined {
        location,
        name,
        context,
        missing_attribute,
    }
}
