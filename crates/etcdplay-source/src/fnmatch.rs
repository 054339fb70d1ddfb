//! Shell-style wildcards as Python's `fnmatch` reads them, for everything Ansible matches that
//! way (host patterns, `--start-at-task`), so the translation lives in one place.

/// Python's `fnmatch.translate`: `*`, `?`, `[seq]`, `[!seq]`, everything else literal.
pub fn fnmatch_regex(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::from("(?s)^");
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                // Find the closing bracket; `]` right after `[` or `[!` is a member.
                let mut j = i + 1;
                if j < chars.len() && chars[j] == '!' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str("\\[");
                } else {
                    let mut inner: Vec<char> = chars[i + 1..j].to_vec();
                    let negate = inner.first() == Some(&'!');
                    if negate {
                        inner.remove(0);
                    }
                    out.push('[');
                    if negate {
                        out.push('^');
                    }
                    for c in inner {
                        if matches!(c, '\\' | '[' | ']' | '^' | '&' | '~') {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push(']');
                    i = j;
                }
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    use super::fnmatch_regex;

    fn matches(glob: &str, text: &str) -> bool {
        regex::Regex::new(&fnmatch_regex(glob))
            .unwrap()
            .is_match(text)
    }

    #[test]
    fn wildcards_sets_and_literals() {
        assert!(matches("t*o", "two"));
        assert!(matches("etcd : Start ?tcd*", "etcd : Start etcd daemon"));
        assert!(matches("lab[12]", "lab2"));
        assert!(!matches("lab[!12]", "lab2"));
        assert!(matches("a.b(c)", "a.b(c)"));
        assert!(!matches("a.b", "axb"));
        assert!(matches("[", "["));
    }
}
