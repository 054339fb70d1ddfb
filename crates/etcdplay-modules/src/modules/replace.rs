//! `replace`: every match of a regular expression in a file replaced (Python's `re.subn` with
//! `MULTILINE`, backreferences `\1`, `\g<name>` in `replace`), optionally only between the
//! first matches of `after` and `before`. The file is read by the text probe (through links,
//! as Ansible edits the target), edited by the pure [`replace_in`], and written by the shared
//! converge, so mode, owner, backup, check mode and `--diff` behave as for lineinfile.

use etcdplay_source::{compile_python_regex, python_sub, PyReFlags};
use fancy_regex::Regex;

use crate::attrs::Attrs;
use crate::host::Ctx;
use crate::modules::write::{converge_text, probe_text};
use crate::{ModuleError, ModuleResult};

/// Why nothing was replaced.
#[derive(Debug)]
pub(crate) enum Unreplaced {
    /// `after`/`before` found no section.
    NoSection,
    /// A match went past the backtracking limit.
    Regex(fancy_regex::Error),
}
use Unreplaced::NoSection;

/// Ansible's section pattern: `AFTER(?P<subsection>.*?)BEFORE`, `AFTER(?P<subsection>.*)` or
/// `(?P<subsection>.*)BEFORE`, composed as text and searched with `re.DOTALL` (so `before`
/// alone reaches its last match, `after` alone the end of the file).
pub(crate) fn section_pattern(after: Option<&str>, before: Option<&str>) -> Option<String> {
    match (after, before) {
        (Some(a), Some(b)) => Some(format!("{a}(?P<subsection>.*?){b}")),
        (Some(a), None) => Some(format!("{a}(?P<subsection>.*)")),
        (None, Some(b)) => Some(format!("(?P<subsection>.*){b}")),
        (None, None) => None,
    }
}

/// `text` with every match of `re` in the section `section` finds (the whole text without
/// one) replaced; the number of replacements.
pub(crate) fn replace_in(
    text: &str,
    re: &Regex,
    replacement: &str,
    section: Option<&fancy_regex::Regex>,
) -> Result<(String, usize), Unreplaced> {
    let (start, end) = match section {
        Some(section) => {
            let caps = section
                .captures(text)
                .map_err(Unreplaced::Regex)?
                .ok_or(NoSection)?;
            let sub = caps.name("subsection").ok_or(NoSection)?;
            (sub.start(), sub.end())
        }
        None => (0, text.len()),
    };
    let section = &text[start..end];
    let (replaced, count) = python_sub(re, replacement, section, 0).map_err(Unreplaced::Regex)?;
    Ok((
        format!("{}{replaced}{}", &text[..start], &text[end..]),
        count,
    ))
}

fn compile(ctx: &Ctx<'_>, arg: &str, pattern: &str) -> Result<Regex, ModuleError> {
    // Python's re.MULTILINE: `^` and `$` match at every line.
    let flags = PyReFlags {
        multiline: true,
        ..PyReFlags::default()
    };
    compile_python_regex(pattern, flags)
        .map_err(|e| ctx.bad(arg, format!("invalid regular expression: {e}")))
}

/// Python's error for a replacement template with an escape `re` refuses (`\D`, `\x`):
/// only `\a \b \f \n \r \t \v` and `\g<..>` of the ASCII letters are
/// escapes there.
fn bad_template_escape(replacement: &str) -> Option<String> {
    let chars: Vec<char> = replacement.chars().collect();
    let mut i = 0;
    while i + 1 < chars.len() {
        if chars[i] == '\\' {
            let c = chars[i + 1];
            if c.is_ascii_alphabetic() && !"abfnrtvg".contains(c) {
                return Some(format!("bad escape \\{c} at position {i}"));
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    None
}

/// The section pattern compiled as Python's `re.compile(pattern, re.DOTALL)`.
fn compile_section(ctx: &Ctx<'_>, pattern: &str) -> Result<Regex, ModuleError> {
    let flags = PyReFlags {
        dotall: true,
        ..PyReFlags::default()
    };
    compile_python_regex(pattern, flags)
        .map_err(|e| ctx.bad("after", format!("invalid regular expression: {e}")))
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let path = a.req_str("path")?;
    let re = compile(ctx, "regexp", &a.req_str("regexp")?)?;
    let replacement = a.str("replace").unwrap_or_default();
    let pattern = section_pattern(a.str("after").as_deref(), a.str("before").as_deref());
    let section = pattern
        .as_deref()
        .map(|p| compile_section(ctx, p))
        .transpose()?;
    let attrs = Attrs::from_args(a)?;
    let file = probe_text(ctx).await?;
    if file.state.is_dir() {
        let mut res = ModuleResult::fail(format!("Path {path} is a directory !"));
        res.set("rc", 256);
        return Ok(res);
    }
    if !file.state.exists {
        let mut res = ModuleResult::fail(format!("Path {path} does not exist !"));
        res.set("rc", 257);
        return Ok(res);
    }
    // Python parses the replacement when `re.subn` runs, whatever the file holds.
    if let Some(error) = bad_template_escape(&replacement) {
        return Ok(ModuleResult::fail(format!(
            "Unable to process replace due to error: {error}"
        )));
    }
    // Something that is not a regular file (`/dev/null`) reads as nothing to replace.
    let Some(old) = file.content.clone() else {
        return Ok(ModuleResult::ok());
    };
    let old_text = String::from_utf8_lossy(&old).into_owned();
    let (new_text, count) = match replace_in(&old_text, &re, &replacement, section.as_ref()) {
        Ok(r) => r,
        // Not a failure in Ansible: the module ends unchanged with this message.
        Err(Unreplaced::Regex(e)) => {
            return Ok(ModuleResult::fail(format!(
                "Unable to process replace due to error: {e}"
            )))
        }
        Err(NoSection) => {
            let mut res = ModuleResult::ok();
            res.msg = Some(format!(
                "Pattern for before/after params did not match the given file: {}",
                pattern.unwrap_or_default()
            ));
            return Ok(res);
        }
    };
    let changed = count > 0 && new_text != old_text;
    let backup = a.bool("backup", false)?;
    let mut res = converge_text(ctx, &file, &path, new_text, &attrs, backup, changed).await?;
    res.msg = Some(if changed {
        format!("{count} replacements made")
    } else {
        String::new()
    });
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str) -> Regex {
        let flags = PyReFlags {
            multiline: true,
            ..PyReFlags::default()
        };
        compile_python_regex(p, flags).unwrap()
    }

    #[test]
    fn every_match_is_replaced_with_python_backrefs() {
        let text = "listen 80;\nlisten 8080;\n# listen 9;\n";
        let (out, n) =
            replace_in(text, &re(r"^listen (\d+);"), r"listen 127.0.0.1:\1;", None).unwrap();
        assert_eq!(
            out,
            "listen 127.0.0.1:80;\nlisten 127.0.0.1:8080;\n# listen 9;\n"
        );
        assert_eq!(n, 2);
        let (out, n) = replace_in(text, &re(r"^(?P<k>listen) 8080"), r"\g<k> 9090", None).unwrap();
        assert_eq!(
            (out.as_str(), n),
            ("listen 80;\nlisten 9090;\n# listen 9;\n", 1)
        );
    }

    fn section(after: Option<&str>, before: Option<&str>) -> fancy_regex::Regex {
        let p = section_pattern(after, before).unwrap();
        let flags = PyReFlags {
            dotall: true,
            ..PyReFlags::default()
        };
        compile_python_regex(&p, flags).unwrap()
    }

    // Python: re.search(r'\[s\](?P<subsection>.*?)\[t\]', text, re.DOTALL) picks "\na=1\n";
    // `before` alone is greedy (`(?P<subsection>.*)a`): up to the last "a". Ansible's replace
    // target: before "promptly" after "quilt" (quilt later in the file) does not match.
    // Python 3.12: re.subn('zzz', r'\D', '') raises "bad escape \D at position 0"; r'\.',
    // r'\0' and r'\n' are accepted.
    #[test]
    fn replacement_escapes_are_checked_as_python() {
        assert_eq!(
            bad_template_escape(r"\D").as_deref(),
            Some(r"bad escape \D at position 0")
        );
        assert_eq!(
            bad_template_escape(r"a\\\x").as_deref(),
            Some(r"bad escape \x at position 3")
        );
        for ok in [r"\.", r"\0", r"\n", r"\g<1>", r"\\D"] {
            assert_eq!(bad_template_escape(ok), None, "{ok}");
        }
    }

    #[test]
    fn after_and_before_limit_the_section() {
        let text = "a=1\n[s]\na=1\n[t]\na=1\n";
        let s = section(Some(r"\[s\]"), Some(r"\[t\]"));
        let (out, n) = replace_in(text, &re("a=1"), "a=2", Some(&s)).unwrap();
        assert_eq!((out.as_str(), n), ("a=1\n[s]\na=2\n[t]\na=1\n", 1));
        let s = section(None, Some(r"\[t\]|a=1\n$"));
        let (out, _) = replace_in(text, &re("a"), "b", Some(&s)).unwrap();
        assert_eq!(out, "b=1\n[s]\nb=1\n[t]\na=1\n");
        let s = section(Some("nowhere"), None);
        assert!(matches!(
            replace_in(text, &re("a"), "b", Some(&s)),
            Err(NoSection)
        ));
        let s = section(Some("quilt"), Some("promptly"));
        assert!(matches!(
            replace_in("promptly ... quilt", &re("e"), "3", Some(&s)),
            Err(NoSection)
        ));
    }
}
