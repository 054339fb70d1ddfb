//! Unified text diffs for `--diff` output, in the `---`/`+++`/`@@` form Ansible prints.

/// A unified diff of `before` and `after` with three lines of context; empty when equal.
pub(crate) fn unified(
    before: &str,
    after: &str,
    before_header: &str,
    after_header: &str,
) -> String {
    if before == after {
        return String::new();
    }
    let diff = similar::TextDiff::from_lines(before, after);
    diff.unified_diff()
        .context_radius(3)
        .header(before_header, after_header)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_changed_line_with_headers() {
        let d = unified("a\nb\nc\n", "a\nB\nc\n", "before: /f", "after: /f");
        assert!(d.starts_with("--- before: /f\n+++ after: /f\n"), "{d}");
        assert!(d.contains("-b\n+B\n"), "{d}");
        assert_eq!(unified("x\n", "x\n", "a", "b"), "");
    }
}
