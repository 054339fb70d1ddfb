//! Diagnostics: one problem at one place. Parsers collect them into [`Diagnostics`] and keep
//! going, so a user with three mistakes sees three lines, each `file:line:col: message`.

use std::fmt;

/// One problem found in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the user named it (relative paths stay relative).
    pub file: String,
    /// 1-based line; 0 when the problem concerns the whole file.
    pub line: u32,
    /// 1-based column; 0 when unknown.
    pub col: u32,
    pub message: String,
}

impl Diagnostic {
    pub fn new(file: impl Into<String>, line: u32, col: u32, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            line,
            col,
            message: message.into(),
        }
    }

    /// A problem with a file as a whole (missing, unreadable).
    pub fn whole_file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic::new(file, 0, 0, message)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (0, _) => write!(f, "{}: {}", self.file, self.message),
            (line, 0) => write!(f, "{}:{}: {}", self.file, line, self.message),
            (line, col) => write!(f, "{}:{}:{}: {}", self.file, line, col, self.message),
        }
    }
}

/// Every problem found so far, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Diagnostics::default()
    }
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }
    /// Removes and returns the diagnostics found after the first `at` (those of one stretch of
    /// parsing, to report them with another severity).
    pub fn split_off(&mut self, at: usize) -> Diagnostics {
        Diagnostics {
            items: self.items.split_off(at.min(self.items.len())),
        }
    }
    /// The diagnostics sorted by file, line and column, duplicates removed, for stable output.
    pub fn sorted(mut self) -> Self {
        self.items
            .sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        self.items.dedup();
        self
    }
    /// `Ok(value)` when nothing was found, else every diagnostic.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.items.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics { items: vec![d] }
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_omits_unknown_parts() {
        assert_eq!(
            Diagnostic::new("a.yml", 3, 5, "bad").to_string(),
            "a.yml:3:5: bad"
        );
        assert_eq!(
            Diagnostic::new("a.yml", 3, 0, "bad").to_string(),
            "a.yml:3: bad"
        );
        assert_eq!(
            Diagnostic::whole_file("a.yml", "missing").to_string(),
            "a.yml: missing"
        );
    }

    #[test]
    fn sorted_orders_and_dedups() {
        let mut d = Diagnostics::new();
        d.push(Diagnostic::new("b", 1, 1, "x"));
        d.push(Diagnostic::new("a", 2, 1, "y"));
        d.push(Diagnostic::new("a", 2, 1, "y"));
        let s = d.sorted();
        assert_eq!(s.to_string(), "a:2:1: y\nb:1:1: x");
    }
}
