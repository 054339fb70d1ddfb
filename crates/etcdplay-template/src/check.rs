//! Checking a template without rendering it: what is certain to fail whenever it is rendered
//! (a Jinja syntax error, a filter or test that does not exist), so that the caller can say so
//! before a run, with the place, as a warning: Ansible itself only finds these when the task
//! that holds the template runs, which it may never do. The source is parsed and compiled with
//! minijinja's own parser and code generator (its `unstable_machinery` API, pinned by the lock
//! file); every filter and test the compiled code applies is looked up in the environment.

use std::collections::BTreeSet;
use std::path::Path;

use etcdplay_source::{read_text_file, MAX_TEXT_FILE};

use minijinja::machinery::{parse, CodeGenerator, Instruction};
use minijinja::{ErrorKind, Value};

use crate::error::TemplateError;
use crate::file_syntax::FileSyntax;
use crate::render::{is_possibly_template, strip_collection_prefixes};
use crate::templar::Templar;

/// One problem of a template: the 1-based line inside the source (0 when unknown) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    pub line: usize,
    pub message: String,
}

impl Templar {
    /// Problems of template text (a task argument, a file's content): a syntax error, or each
    /// unknown filter and test once. Text that cannot be a template has none.
    pub fn check_source(&self, source: &str) -> Vec<TemplateProblem> {
        if !is_possibly_template(source) {
            return Vec::new();
        }
        self.check_compiled(source)
    }

    /// Problems of a template file as the template module would render it with `syntax` (its
    /// `#jinja2:` first line applied); `Err` when the file cannot be read or its options are
    /// bad.
    pub fn check_file(
        &self,
        path: &Path,
        syntax: &FileSyntax,
    ) -> Result<Vec<TemplateProblem>, TemplateError> {
        let source = read_text_file(path, MAX_TEXT_FILE).map_err(|e| TemplateError::Read {
            path: path.display().to_string(),
            problem: e.problem,
        })?;
        let name = path.display().to_string();
        let mut syntax = syntax.clone();
        let body = syntax.apply_header(&source, &name)?;
        // The header line, when there was one, is not part of the body: lines count from it.
        let offset = source[..source.len() - body.len()].matches('\n').count();
        let problems = if syntax == FileSyntax::default() {
            self.check_source(body)
        } else {
            self.variant(&syntax, &name)?.check_compiled(body)
        };
        Ok(problems
            .into_iter()
            .map(|p| TemplateProblem {
                line: if p.line == 0 { 0 } else { p.line + offset },
                ..p
            })
            .collect())
    }

    /// Problems of a `when:`-style condition (a bare expression, or one written in braces).
    pub fn check_condition(&self, expr: &str) -> Vec<TemplateProblem> {
        let expr = expr.trim();
        if expr.starts_with("{{") && expr.ends_with("}}") {
            return self.check_source(expr);
        }
        self.check_compiled(&format!("{{{{ {expr} }}}}"))
    }

    fn check_compiled(&self, source: &str) -> Vec<TemplateProblem> {
        let env = self.env();
        let prepared = strip_collection_prefixes(source);
        let ast = match parse(&prepared, "<check>", env.syntax().clone()) {
            Ok(ast) => ast,
            Err(e) => {
                let message = match e.detail() {
                    Some(detail) => format!("template syntax error: {detail}"),
                    None => format!("template syntax error: {}", e.kind()),
                };
                return vec![TemplateProblem {
                    line: e.line().unwrap_or(0),
                    message,
                }];
            }
        };
        let mut generator = CodeGenerator::new("<check>", &prepared);
        generator.compile_stmt(&ast);
        let (root, blocks) = generator.finish();
        let mut seen = BTreeSet::new();
        let mut problems = Vec::new();
        for code in std::iter::once(&root).chain(blocks.values()) {
            let mut idx = 0u32;
            while let Some(instruction) = code.get(idx) {
                let unknown = match instruction {
                    Instruction::ApplyFilter(name, ..) if !self.has_filter(name) => {
                        Some(("filter", *name))
                    }
                    Instruction::PerformTest(name, ..) if !self.has_test(name) => {
                        Some(("test", *name))
                    }
                    _ => None,
                };
                if let Some((what, name)) = unknown {
                    if seen.insert((what, name.to_string())) {
                        problems.push(TemplateProblem {
                            line: code.get_line(idx).unwrap_or(0),
                            message: format!("no {what} named '{name}'"),
                        });
                    }
                }
                idx += 1;
            }
        }
        problems
    }

    /// Whether the environment has the filter: applying it to `none` either works or fails
    /// for another reason than its absence (the lookup comes before any argument is used).
    fn has_filter(&self, name: &str) -> bool {
        self.probe(&format!("none | {name}"), ErrorKind::UnknownFilter)
    }

    fn has_test(&self, name: &str) -> bool {
        self.probe(&format!("none is {name}"), ErrorKind::UnknownTest)
    }

    /// Evaluates an expression (no delimiters: the same whatever the file's syntax).
    fn probe(&self, expr: &str, absent: ErrorKind) -> bool {
        match self
            .env()
            .compile_expression(expr)
            .and_then(|e| e.eval(Value::UNDEFINED))
        {
            Ok(_) => true,
            Err(e) => e.kind() != absent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(problems: Vec<TemplateProblem>) -> Vec<String> {
        problems.into_iter().map(|p| p.message).collect()
    }

    #[test]
    fn known_filters_and_tests_pass_and_mistakes_are_found() {
        let t = Templar::new(Vec::new());
        assert!(t
            .check_source("{{ x | default(1) | ansible.builtin.to_json }} {{ y is defined }}")
            .is_empty());
        assert!(t.check_source("no template here").is_empty());
        assert_eq!(
            messages(t.check_source("{{ x | nope }}\n{% if y is nada %}{{ x | nope }}{% endif %}")),
            ["no filter named 'nope'", "no test named 'nada'"]
        );
        let syntax = t.check_source("a\n{{ x + }}");
        assert_eq!(syntax.len(), 1);
        assert_eq!(syntax[0].line, 2);
        assert!(
            syntax[0].message.starts_with("template syntax error"),
            "{syntax:?}"
        );
        assert!(t.check_condition("x is defined and y | bool").is_empty());
        assert_eq!(messages(t.check_condition("x |")).len(), 1);
    }

    #[test]
    fn a_template_file_is_checked_with_its_header_options() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.j2");
        std::fs::write(&path, "#jinja2: variable_start_string:'[[', variable_end_string:']]'\nok {{ not a var\n[[ x | nope ]]\n").expect("write");
        let problems = t_check(&path);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].line, 3);
        assert_eq!(problems[0].message, "no filter named 'nope'");
    }

    fn t_check(path: &Path) -> Vec<TemplateProblem> {
        Templar::new(Vec::new())
            .check_file(path, &FileSyntax::default())
            .expect("readable")
    }
}
