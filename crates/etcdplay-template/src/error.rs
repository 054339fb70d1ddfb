//! The crate's error type: every failure says where (template file or caller's label, line) and what.
//!
//! minijinja errors are translated here once, so callers never see minijinja's types and the
//! messages read like Ansible's (`'etcd_name' is undefined`) with a better location attached.

use std::fmt;

use minijinja::ErrorKind;

/// Where a failing template came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The template file path, or the caller's label for an inline string (`playbook.yml:12:5`).
    pub origin: String,
    /// The line inside the template text, when known.
    pub line: Option<usize>,
    /// True for inline strings: the origin already points at the string, so line 1 adds nothing.
    pub inline: bool,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.inline, self.line) {
            (false, Some(line)) => write!(f, "{}:{}", self.origin, line),
            (true, Some(line)) if line > 1 => write!(f, "{} (template line {})", self.origin, line),
            _ => write!(f, "{}", self.origin),
        }
    }
}

/// Everything that can go wrong while templating.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A variable (or attribute) the template needs does not exist.
    #[error("{location}: {}{context}", undefined_message(name, missing_attribute))]
    Undefined {
        location: Location,
        name: String,
        /// Where inside nested variable templating it happened, e.g. ` (in variable 'a')`.
        context: String,
        /// When `name` is an attribute of a value that exists: Ansible's words for it
        /// (`object of type 'dict' has no attribute 'stdout'`).
        missing_attribute: Option<String>,
    },
    /// Variables refer to each other in a circle.
    #[error("{location}: recursive loop detected in template string: {chain}")]
    Recursion { location: Location, chain: String },
    /// The template text does not parse.
    #[error("{location}: template syntax error: {message}")]
    Syntax { location: Location, message: String },
    /// Any other failure while rendering: bad filter arguments, failed lookups, type errors.
    #[error("{location}: {message}{context}")]
    Render {
        location: Location,
        message: String,
        context: String,
    },
    /// A `when:` expression produced something other than a boolean (ansible-core >= 2.19 rule).
    #[error(
        "{location}: conditional result ({}) was derived from value of type '{type_name}'; \
         conditionals must have a boolean result",
        if *truthy { "True" } else { "False" }
    )]
    BrokenConditional {
        location: Location,
        truthy: bool,
        type_name: String,
    },
    /// A template file's rendering options (module arguments or `#jinja2:` line) are invalid.
    #[error("{origin}: {message}")]
    Options { origin: String, message: String },
    /// A template file could not be read (missing, not a regular file, too large).
    #[error("{path}: cannot read template: {problem}")]
    Read {
        path: String,
        problem: etcdplay_source::ReadProblem,
    },
}

impl TemplateError {
    /// What went wrong, without the location in front (Ansible's `error 1 - ...` text).
    pub fn problem(&self) -> String {
        let full = self.to_string();
        match self.location() {
            Some(location) => full
                .strip_prefix(&format!("{location}: "))
                .map(str::to_string)
                .unwrap_or(full),
            None => full,
        }
    }

    /// The location the error refers to, when there is one.
    pub fn location(&self) -> Option<&Location> {
        match self {
            TemplateError::Undefined { location, .. }
            | TemplateError::Recursion { location, .. }
            | TemplateError::Syntax { location, .. }
            | TemplateError::Render { location, .. }
            | TemplateError::BrokenConditional { location, .. } => Some(location),
            TemplateError::Read { .. } | TemplateError::Options { .. } => None,
        }
    }
}

/// Marker carried as the source of a minijinja error raised for a variable cycle.
#[derive(Debug, thiserror::Error)]
#[error("recursive loop detected in template string: {chain}")]
pub(crate) struct CycleError {
    pub(crate) chain: String,
}

/// Carried as the source of an error that happened while templating another variable.
#[derive(Debug, thiserror::Error)]
#[error("while templating variable '{variable}'")]
pub(crate) struct NestedError {
    pub(crate) variable: String,
    #[source]
    pub(crate) cause: minijinja::Error,
}

/// Translates a minijinja error raised while rendering the template named `name`.
pub(crate) fn translate(
    err: &minijinja::Error,
    name: &str,
    origin: &str,
    inline: bool,
) -> TemplateError {
    let same_template = err.name().is_none() || err.name() == Some(name);
    let location = Location {
        origin: origin.to_string(),
        line: if same_template { err.line() } else { None },
        inline,
    };
    // `{% include %}` and `{% extends %}` wrap the included template's error: report that one,
    // at the including line, naming the included file.
    if matches!(err.kind(), ErrorKind::BadInclude | ErrorKind::EvalBlock) {
        let inner = std::error::Error::source(err)
            .and_then(|cause| cause.downcast_ref::<minijinja::Error>());
        if let Some(inner) = inner {
            let mut translated = translate(inner, name, origin, inline);
            if let Some(loc) = match &mut translated {
                TemplateError::Undefined { location, .. }
                | TemplateError::Recursion { location, .. }
                | TemplateError::Syntax { location, .. }
                | TemplateError::Render { location, .. }
                | TemplateError::BrokenConditional { location, .. } => Some(location),
                TemplateError::Read { .. } | TemplateError::Options { .. } => None,
            } {
                *loc = location;
            }
            return translated;
        }
    }
    // Errors raised while templating another variable name the innermost such variable.
    let mut context = match (same_template, err.name()) {
        (false, Some(inner)) => match err.line() {
            Some(line) => format!(" (in {inner} line {line})"),
            None => format!(" (in {inner})"),
        },
        _ => String::new(),
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(cycle) = cause.downcast_ref::<CycleError>() {
            return TemplateError::Recursion {
                location,
                chain: cycle.chain.clone(),
            };
        }
        if let Some(nested) = cause.downcast_ref::<NestedError>() {
            context = format!(" (in variable '{}')", nested.variable);
        }
        source = cause.source();
    }
    let detail = err.detail().unwrap_or_default().to_string();
    match err.kind() {
        ErrorKind::UndefinedError => TemplateError::Undefined {
            location,
            name: undefined_name(&detail),
            context,
            missing_attribute: None,
        },
        ErrorKind::SyntaxError | ErrorKind::BadEscape => TemplateError::Syntax {
            location,
            message: if detail.is_empty() {
                format!("{}{context}", err.kind())
            } else {
                format!("{detail}{context}")
            },
        },
        ErrorKind::UnknownFilter => TemplateError::Render {
            location,
            message: format!("no filter named '{}'", unknown_name(&detail)),
            context,
        },
        ErrorKind::UnknownTest => TemplateError::Render {
            location,
            message: format!("no test named '{}'", unknown_name(&detail)),
            context,
        },
        // A `!vault` value used without its secret (scope.rs): the message is Ansible's own.
        ErrorKind::InvalidOperation if detail.contains(UNDECRYPTABLE) => TemplateError::Render {
            location,
            message: detail,
            context,
        },
        kind => TemplateError::Render {
            location,
            message: if detail.is_empty() {
                kind.to_string()
            } else {
                format!("{kind}: {detail}")
            },
            context,
        },
    }
}

/// What the error of an undecryptable `!vault` value says (`etcdplay_vault::session`).
const UNDECRYPTABLE: &str = "Attempt to use undecryptable variable";

/// The name in minijinja's "filter x is unknown" / "test x is unknown" details.
fn unknown_name(detail: &str) -> &str {
    let rest = detail
        .strip_prefix("filter ")
        .or_else(|| detail.strip_prefix("test "))
        .unwrap_or(detail);
    rest.strip_suffix(" is unknown").unwrap_or(rest)
}

/// The text between the first pair of backticks in a minijinja detail message.
fn backticked(detail: &str) -> Option<&str> {
    let start = detail.find('`')? + 1;
    let len = detail[start..].find('`')?;
    Some(&detail[start..start + len])
}

fn undefined_message(name: &str, missing_attribute: &Option<String>) -> String {
    match missing_attribute {
        Some(message) => message.clone(),
        None => format!("'{name}' is undefined"),
    }
}

/// An undefined `parent.attr` or `parent[key]` split into the parent expression and Python's
/// repr of the attribute (`'stdout'`, `5`), when it has that form.
pub(crate) fn split_attribute(name: &str) -> Option<(&str, String)> {
    if let Some(inner) = name.strip_suffix(']') {
        let open = inner.rfind('[')?;
        let key = &inner[open + 1..];
        let key = match key.trim_matches(|c| c == '\'' || c == '"') {
            quoted if quoted.len() + 2 == key.len() => format!("'{quoted}'"),
            _ => key.to_string(),
        };
        return Some((&name[..open], key)).filter(|(parent, _)| !parent.is_empty());
    }
    let dot = name.rfind('.')?;
    let attr = &name[dot + 1..];
    let simple = !attr.is_empty() && attr.chars().all(|c| c.is_alphanumeric() || c == '_');
    simple.then(|| (&name[..dot], format!("'{attr}'")))
}

/// The undefined expression named by minijinja's "`foo.bar` is undefined" detail.
fn undefined_name(detail: &str) -> String {
    backticked(detail).unwrap_or("<unknown>").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_display() {
        let file = Location {
            origin: "etcd.service.j2".into(),
            line: Some(3),
            inline: false,
        };
        assert_eq!(file.to_string(), "etcd.service.j2:3");
        let arg = Location {
            origin: "site.yml:12:5".into(),
            line: Some(1),
            inline: true,
        };
        assert_eq!(arg.to_string(), "site.yml:12:5");
        let arg2 = Location {
            origin: "site.yml:12:5".into(),
            line: Some(2),
            inline: true,
        };
        assert_eq!(arg2.to_string(), "site.yml:12:5 (template line 2)");
    }

    #[test]
    fn attributes_are_split_from_their_parent() {
        assert_eq!(split_attribute("r.stdout"), Some(("r", "'stdout'".into())));
        assert_eq!(
            split_attribute("r.results[5]"),
            Some(("r.results", "5".into()))
        );
        assert_eq!(split_attribute("a['b']"), Some(("a", "'b'".into())));
        assert_eq!(split_attribute("plain"), None);
    }

    #[test]
    fn undefined_name_is_extracted() {
        assert_eq!(undefined_name("`foo.bar` is undefined"), "foo.bar");
        assert_eq!(undefined_name("weird"), "<unknown>");
    }
}
