//! How the template module renders one file: the module's arguments (`trim_blocks`,
//! `lstrip_blocks`, `newline_sequence`, the `*_start_string`/`*_end_string` delimiters) and,
//! over them, a `#jinja2:` first line of the file itself (`#jinja2: lstrip_blocks: True`), which
//! Ansible reads, applies and removes. Defaults are Ansible's: `trim_blocks` on, `{{ }}`,
//! `{% %}`, `{# #}`, `\n`.

use serde_json::{Map, Value};

use crate::error::TemplateError;

/// The first line that sets a file's own options.
const HEADER: &str = "#jinja2:";

/// Rendering options of one template file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileSyntax {
    pub trim_blocks: bool,
    pub lstrip_blocks: bool,
    pub newline_sequence: String,
    pub block: (String, String),
    pub variable: (String, String),
    pub comment: (String, String),
}

impl Default for FileSyntax {
    fn default() -> Self {
        FileSyntax {
            trim_blocks: true,
            lstrip_blocks: false,
            newline_sequence: "\n".into(),
            block: ("{%".into(), "%}".into()),
            variable: ("{{".into(), "}}".into()),
            comment: ("{#".into(), "#}".into()),
        }
    }
}

impl FileSyntax {
    /// The options the template module's arguments give (unknown keys are not options).
    pub fn from_module_args(args: &Map<String, Value>) -> Result<FileSyntax, TemplateError> {
        let mut syntax = FileSyntax::default();
        for (key, value) in args {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Null => continue,
                other => other.to_string(),
            };
            syntax.set(key, &text, "the template module's arguments")?;
        }
        Ok(syntax)
    }

    /// Applies a `#jinja2:` first line of `source`, returning the text without it.
    pub fn apply_header<'s>(
        &mut self,
        source: &'s str,
        path: &str,
    ) -> Result<&'s str, TemplateError> {
        let Some(rest) = source.strip_prefix(HEADER) else {
            return Ok(source);
        };
        let (line, body) = rest.split_once('\n').unwrap_or((rest, ""));
        for pair in line.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = pair
                .split_once(':')
                .ok_or_else(|| header_error(path, pair))?;
            let value = python_literal(value.trim()).ok_or_else(|| header_error(path, pair))?;
            self.set(key.trim(), &value, path)?;
        }
        Ok(body)
    }

    /// Sets one option; keys that are not rendering options are ignored.
    fn set(&mut self, key: &str, value: &str, origin: &str) -> Result<(), TemplateError> {
        let flag = || match value.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err(option_error(origin, key, value)),
        };
        match key {
            "trim_blocks" => self.trim_blocks = flag()?,
            "lstrip_blocks" => self.lstrip_blocks = flag()?,
            "newline_sequence" => {
                self.newline_sequence = match value {
                    "\n" | "\\n" => "\n",
                    "\r\n" | "\\r\\n" => "\r\n",
                    "\r" | "\\r" => "\r",
                    _ => return Err(option_error(origin, key, value)),
                }
                .into()
            }
            "block_start_string" => self.block.0 = value.into(),
            "block_end_string" => self.block.1 = value.into(),
            "variable_start_string" => self.variable.0 = value.into(),
            "variable_end_string" => self.variable.1 = value.into(),
            "comment_start_string" => self.comment.0 = value.into(),
            "comment_end_string" => self.comment.1 = value.into(),
            _ => {}
        }
        Ok(())
    }

    /// Whether `source` may contain template syntax under these delimiters.
    pub(crate) fn may_template(&self, source: &str) -> bool {
        [&self.block.0, &self.variable.0, &self.comment.0]
            .iter()
            .any(|start| source.contains(start.as_str()))
    }
}

/// A Python literal as the header writes it: `True`, `False`, a quoted string, a number.
fn python_literal(text: &str) -> Option<String> {
    match text {
        "True" => Some("true".into()),
        "False" => Some("false".into()),
        _ => {
            for quote in ['"', '\''] {
                if let Some(inner) = text.strip_prefix(quote).and_then(|t| t.strip_suffix(quote)) {
                    return Some(inner.replace("\\n", "\n").replace("\\r", "\r"));
                }
            }
            text.parse::<f64>().is_ok().then(|| text.to_string())
        }
    }
}

fn header_error(path: &str, pair: &str) -> TemplateError {
    TemplateError::Options {
        origin: path.to_string(),
        message: format!(
            "bad '#jinja2:' setting '{}' (write key: Value, ...)",
            pair.trim()
        ),
    }
}

fn option_error(origin: &str, key: &str, value: &str) -> TemplateError {
    TemplateError::Options {
        origin: origin.to_string(),
        message: format!("'{value}' is not a valid value of {key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_header_line_sets_options_and_is_removed() {
        let mut s = FileSyntax::default();
        let body = s
            .apply_header(
                "#jinja2: lstrip_blocks: True, trim_blocks: False\n[Unit]\n",
                "t.j2",
            )
            .unwrap();
        assert_eq!(body, "[Unit]\n");
        assert!(s.lstrip_blocks && !s.trim_blocks);
        let mut s = FileSyntax::default();
        let body = s
            .apply_header(
                "#jinja2:variable_start_string:'[%', variable_end_string:'%]'\nx",
                "t",
            )
            .unwrap();
        assert_eq!(
            (body, s.variable.0.as_str(), s.variable.1.as_str()),
            ("x", "[%", "%]")
        );
        assert!(FileSyntax::default()
            .apply_header("#jinja2: nonsense\n", "t")
            .is_err());
        let mut s = FileSyntax::default();
        assert_eq!(
            s.apply_header("# jinja2 is not a header\n", "t").unwrap(),
            "# jinja2 is not a header\n"
        );
    }

    #[test]
    fn module_arguments_set_options() {
        let args = json!({"src": "a.j2", "dest": "/x", "lstrip_blocks": true, "newline_sequence": "\r\n", "block_start_string": "<%"});
        let s = FileSyntax::from_module_args(args.as_object().unwrap()).unwrap();
        assert!(s.lstrip_blocks && s.trim_blocks);
        assert_eq!(s.newline_sequence, "\r\n");
        assert_eq!(s.block.0, "<%");
        let bad = json!({"trim_blocks": "maybe"});
        assert!(FileSyntax::from_module_args(bad.as_object().unwrap()).is_err());
    }
}
