//! `replace`: every match of a regular expression in a file replaced (Python's `re.subn` with
//! `MULTILINE`, backreferences `\1`, `\g<name>` in `replace`), optionally only between the
//! first matches of `after` and `before`. The file is read by the text probe (through links,
//! as Ansible edits the target), edited by the pure [`replace_in`], and written by the shared
//! converge, so mode, owner, backup, check mode and `--diff` behave as for lineinfile.

use regex::Regex;

use crate::attrs::Attrs;
use crate::host::Ctx;
use crate::modules::lineinfile::expand_captures;
use crate::modules::write::{converge_text, probe_text};
use crate::{ModuleError, ModuleResult};

/// Why the section could not be found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NoSection;

/// `text` with every match of `re` between `after` and `before` replaced; the number of
/// replacements.
pub(crate) fn replace_in(
    text: &str,
    re: &Regex,
    replacement: &str,
    after: Option<&Regex>,
    before: Option<&Regex>,
) -> Result<(String, usize), NoSection> {
    let start = match after {
        Some(a) => a.find(text).ok_or(NoSection)?.end(),
        None => 0,
    };
    let end = match before {
        Some(b) => start + b.find(&text[start..]).ok_or(NoSection)?.start(),
        None => text.len(),
    };
    let section = &text[start..end];
    let mut count = 0;
    let replaced = re.replace_all(section, |caps: &regex::Captures<'_>| {
        count += 1;
        expand_captures(caps, replacement)
    });
    Ok((
        format!("{}{replaced}{}", &text[..start], &text[end..]),
        count,
    ))
}

fn compile(ctx: &Ctx<'_>, arg: &str, pattern: &str) -> Result<Regex, ModuleError> {
    // Python's re.MULTILINE: `^` and `$` match at every line.
    Regex::new(&format!("(?m){pattern}"))
        .map_err(|e| ctx.bad(arg, format!("invalid regular expression: {e}")))
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let path = a.req_str("path")?;
    let re = compile(ctx, "regexp", &a.req_str("regexp")?)?;
    let replacement = a.str("replace").unwrap_or_default();
    let after = a
        .str("after")
        .map(|p| compile(ctx, "after", &p))
        .transpose()?;
    let before = a
        .str("before")
        .map(|p| compile(ctx, "before", &p))
        .transpose()?;
    let attrs = Attrs::from_args(a)?;
    let file = probe_text(ctx).await?;
    let Some(old) = file.content.clone() else {
        let mut res = ModuleResult::fail(format!("Path {path} does not exist !"));
        res.set("rc", 257);
        return Ok(res);
    };
    let old_text = String::from_utf8_lossy(&old).into_owned();
    let (new_text, count) = match replace_in(
        &old_text,
        &re,
        &replacement,
        after.as_ref(),
        before.as_ref(),
    ) {
        Ok(r) => r,
        Err(NoSection) => {
            return Ok(ModuleResult::fail(
                "Pattern for before/after params did not match the given file",
            ))
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
        Regex::new(&format!("(?m){p}")).unwrap()
    }

    #[test]
    fn every_match_is_replaced_with_python_backrefs() {
        let text = "listen 80;\nlisten 8080;\n# listen 9;\n";
        let (out, n) = replace_in(
            text,
            &re(r"^listen (\d+);"),
            r"listen 127.0.0.1:\1;",
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            out,
            "listen 127.0.0.1:80;\nlisten 127.0.0.1:8080;\n# listen 9;\n"
        );
        assert_eq!(n, 2);
        let (out, n) =
            replace_in(text, &re(r"^(?P<k>listen) 8080"), r"\g<k> 9090", None, None).unwrap();
        assert_eq!(
            (out.as_str(), n),
            ("listen 80;\nlisten 9090;\n# listen 9;\n", 1)
        );
    }

    #[test]
    fn after_and_before_limit_the_section() {
        let text = "a=1\n[s]\na=1\n[t]\na=1\n";
        let (out, n) = replace_in(
            text,
            &re("a=1"),
            "a=2",
            Some(&re(r"\[s\]")),
            Some(&re(r"\[t\]")),
        )
        .unwrap();
        assert_eq!((out.as_str(), n), ("a=1\n[s]\na=2\n[t]\na=1\n", 1));
        assert_eq!(
            replace_in(text, &re("a"), "b", Some(&re("nowhere")), None),
            Err(NoSection)
        );
    }
}
