//! `lineinfile`: make sure one line is present (replacing the last line matching `regexp`, or
//! inserted after/before a matching line, BOF or EOF) or absent. The edit itself is a pure
//! function on the file's text, [`edit`], following Ansible's algorithm step by step; the module
//! around it reads the file in one round trip and writes it back atomically when it changed.
//! Regular expressions are Python's (etcdplay's one constructor for them,
//! [`etcdplay_source::compile_python_regex`]); lines are matched without their line ending, so
//! `$` behaves as in Python.

use etcdplay_source::{compile_python_regex, expand_python_template, PyReFlags};
use fancy_regex::Regex;

use crate::attrs::Attrs;
use crate::host::Ctx;
use crate::modules::write::{converge_text, probe_text};
use crate::{ModuleError, ModuleResult};

/// Where to insert a line that no `regexp` matched.
#[derive(Debug, Clone)]
pub(crate) enum Anchor {
    Bof,
    Eof,
    After(Regex),
    Before(Regex),
}

/// A lineinfile request, arguments already parsed.
#[derive(Debug, Clone)]
pub(crate) struct LineEdit {
    pub(crate) regexp: Option<Regex>,
    pub(crate) search_string: Option<String>,
    pub(crate) line: Option<String>,
    pub(crate) present: bool,
    pub(crate) anchor: Option<Anchor>,
    pub(crate) backrefs: bool,
    pub(crate) firstmatch: bool,
}

/// The outcome of [`edit`]: new text, whether it changed, Ansible's message, lines removed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Edited {
    pub(crate) text: String,
    pub(crate) changed: bool,
    pub(crate) msg: String,
    pub(crate) found: usize,
}

fn strip_eol(l: &str) -> &str {
    l.trim_end_matches(['\r', '\n'])
}

/// Applies the edit to `text`.
pub(crate) fn edit(text: &str, e: &LineEdit) -> Result<Edited, fancy_regex::Error> {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
    let line = e.line.clone().unwrap_or_default();
    if !e.present {
        let before = lines.len();
        let hits = lines
            .iter()
            .map(|l| {
                let cur = strip_eol(l);
                match (&e.regexp, &e.search_string) {
                    (Some(re), _) => re.is_match(cur),
                    (None, Some(s)) => Ok(cur.contains(s.as_str())),
                    (None, None) => Ok(cur == line),
                }
            })
            .collect::<Result<Vec<bool>, _>>()?;
        let mut hit = hits.into_iter();
        lines.retain(|_| !hit.next().unwrap_or(false));
        let found = before - lines.len();
        return Ok(Edited {
            text: lines.concat(),
            changed: found > 0,
            msg: format!("{found} line(s) removed"),
            found,
        });
    }

    // Step 1: the last (or first, with firstmatch) line matching regexp/search_string.
    let mut index0: Option<usize> = None;
    let mut captures_line: Option<String> = None;
    for (n, l) in lines.iter().enumerate() {
        let cur = strip_eol(l);
        let hit = match (&e.regexp, &e.search_string) {
            (Some(re), _) => re.is_match(cur)?,
            (None, Some(s)) => cur.contains(s.as_str()),
            (None, None) => false,
        };
        if hit {
            index0 = Some(n);
            captures_line = Some(cur.to_string());
            if e.firstmatch {
                break;
            }
        }
    }
    // Step 2: without such a match, an exact copy of the line, and the insert anchor.
    let mut index1: Option<usize> = None;
    if index0.is_none() {
        for (n, l) in lines.iter().enumerate() {
            let cur = strip_eol(l);
            if cur == line {
                index0 = Some(n);
                continue;
            }
            let at = match &e.anchor {
                Some(Anchor::After(re)) if re.is_match(cur)? => Some(n + 1),
                Some(Anchor::Before(re)) if re.is_match(cur)? => Some(n),
                _ => None,
            };
            if at.is_some() {
                index1 = at;
                if e.firstmatch {
                    break;
                }
            }
        }
    }

    let added = |lines: Vec<String>| {
        Ok(Edited {
            text: lines.concat(),
            changed: true,
            msg: "line added".into(),
            found: 0,
        })
    };
    if let Some(i) = index0 {
        let mut new_line = match (&e.regexp, &captures_line, e.backrefs) {
            (Some(re), Some(cur), true) => expand_backrefs(re, cur, &line)?,
            _ => line.clone(),
        };
        if !new_line.ends_with('\n') {
            new_line.push('\n');
        }
        if lines[i] != new_line {
            lines[i] = new_line;
            return Ok(Edited {
                text: lines.concat(),
                changed: true,
                msg: "line replaced".into(),
                found: 0,
            });
        }
        return Ok(Edited {
            text: lines.concat(),
            changed: false,
            msg: String::new(),
            found: 0,
        });
    }
    if e.backrefs {
        // Without a match there is nothing to fill the backreferences with: leave the file.
        return Ok(Edited {
            text: lines.concat(),
            changed: false,
            msg: String::new(),
            found: 0,
        });
    }
    let new_line = format!("{line}\n");
    match (&e.anchor, index1) {
        (Some(Anchor::Bof), _) => {
            lines.insert(0, new_line);
            added(lines)
        }
        (None | Some(Anchor::Eof), _) | (_, None) => {
            if lines
                .last()
                .is_some_and(|l| !l.ends_with('\n') && !l.ends_with('\r'))
            {
                lines.push("\n".into());
            }
            lines.push(new_line);
            added(lines)
        }
        (Some(Anchor::After(_)), Some(i)) => {
            if i == lines.len() {
                if strip_eol(&lines[i - 1]) != line {
                    lines.push(new_line);
                    return added(lines);
                }
            } else if strip_eol(&lines[i]) != line {
                lines.insert(i, new_line);
                return added(lines);
            }
            Ok(Edited {
                text: lines.concat(),
                changed: false,
                msg: String::new(),
                found: 0,
            })
        }
        (Some(Anchor::Before(_)), Some(i)) => {
            if i == 0 || strip_eol(&lines[i - 1]) != line {
                lines.insert(i, new_line);
                return added(lines);
            }
            Ok(Edited {
                text: lines.concat(),
                changed: false,
                msg: String::new(),
                found: 0,
            })
        }
    }
}

/// Python's `match.expand(template)` of the first match in `subject` (`\1`, `\g<name>`, ...).
pub(crate) fn expand_backrefs(
    re: &Regex,
    subject: &str,
    template: &str,
) -> Result<String, fancy_regex::Error> {
    Ok(match re.captures(subject)? {
        Some(caps) => expand_python_template(&caps, template),
        None => template.to_string(),
    })
}

fn compile(ctx: &Ctx<'_>, arg: &str, pattern: &str) -> Result<Regex, ModuleError> {
    compile_python_regex(pattern, PyReFlags::default())
        .map_err(|e| ctx.bad(arg, format!("invalid regular expression: {e}")))
}

/// Ansible's warning for an empty `regexp` or `search_string`, which matches every line.
fn empty_pattern_warning(regexp: Option<&str>, search_string: Option<&str>) -> Option<String> {
    let param = match (regexp, search_string) {
        (Some(""), _) => "regular expression",
        (_, Some("")) => "search string",
        _ => return None,
    };
    let mut msg = format!(
        "The {param} is an empty string, which will match every line in the file. This may \
         have unintended consequences, such as replacing the last line in the file rather \
         than appending."
    );
    if regexp == Some("") {
        msg.push_str(
            " If this is desired, use '^' to match every line in the file and avoid this \
             warning.",
        );
    }
    Some(msg)
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let warning = empty_pattern_warning(
        ctx.args.str("regexp").as_deref(),
        ctx.args.str("search_string").as_deref(),
    );
    let mut res = apply(ctx).await?;
    if let Some(warning) = warning {
        res.set("warnings", vec![warning]);
    }
    Ok(res)
}

async fn apply(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let args = &ctx.args;
    let path = args.req_str("path")?;
    let present = args.choice("state", &["present", "absent"], "present")? == "present";
    let regexp = args
        .str("regexp")
        .map(|p| compile(ctx, "regexp", &p))
        .transpose()?;
    let search_string = args.str("search_string");
    if regexp.is_some() && search_string.is_some() {
        return Err(ctx.bad(
            "search_string",
            "regexp and search_string are mutually exclusive",
        ));
    }
    let backrefs = args.bool("backrefs", false)?;
    if backrefs && regexp.is_none() {
        return Err(ctx.bad("backrefs", "regexp is required with backrefs=true"));
    }
    let line = args.str("line");
    if present && line.is_none() {
        return Err(ModuleError::missing("lineinfile", "line"));
    }
    if !present && regexp.is_none() && search_string.is_none() && line.is_none() {
        return Err(ctx.bad(
            "state",
            "one of line, search_string, or regexp is required with state=absent",
        ));
    }
    let anchor = match (args.str("insertafter"), args.str("insertbefore")) {
        (Some(_), Some(_)) => {
            return Err(ctx.bad(
                "insertafter",
                "insertafter and insertbefore are mutually exclusive",
            ))
        }
        (Some(a), None) if a == "EOF" => Some(Anchor::Eof),
        (Some(a), None) if a == "BOF" => Some(Anchor::Bof),
        (Some(a), None) => Some(Anchor::After(compile(ctx, "insertafter", &a)?)),
        (None, Some(b)) if b == "BOF" => Some(Anchor::Bof),
        (None, Some(b)) => Some(Anchor::Before(compile(ctx, "insertbefore", &b)?)),
        (None, None) => None,
    };
    let spec = LineEdit {
        regexp,
        search_string,
        line,
        present,
        anchor,
        backrefs,
        firstmatch: args.bool("firstmatch", false)?,
    };
    let attrs = Attrs::from_args(args)?;

    let file = probe_text(ctx).await?;
    if file.state.is_dir() {
        return Ok(ModuleResult::fail(format!("Path {path} is a directory !")));
    }
    let created = file.content.is_none();
    if created {
        if !present {
            let mut res = ModuleResult::ok();
            res.msg = Some("file not present".into());
            res.set("found", 0);
            return Ok(res);
        }
        if !args.bool("create", false)? {
            let mut res = ModuleResult::fail(format!("Destination {path} does not exist !"));
            res.set("rc", 257);
            return Ok(res);
        }
    }
    let old = file.content.clone().unwrap_or_default();
    let old_text = String::from_utf8_lossy(&old).into_owned();
    let edited = match edit(&old_text, &spec) {
        Ok(edited) => edited,
        Err(e) => {
            return Ok(ModuleResult::fail(format!(
                "regular expression failed: {e}"
            )))
        }
    };
    let backup = args.bool("backup", false)?;
    let changed = edited.changed || created;
    let mut res = converge_text(ctx, &file, &path, edited.text, &attrs, backup, changed).await?;
    if res.failed {
        // `validate:` refused the new content: its message is the result.
        return Ok(res);
    }
    let mut msg = edited.msg;
    if res.changed && !edited.changed && !created {
        msg = "ownership, perms or SE linux context changed".into();
    }
    if !present {
        res.set("found", edited.found);
    }
    res.msg = Some(msg);
    res.data.remove("checksum");
    res.data.remove("size");
    res.data.remove("state");
    res.set(
        "backup",
        res.data
            .get("backup_file")
            .cloned()
            .unwrap_or_else(|| "".into()),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py_re(pattern: &str) -> Result<Regex, etcdplay_source::PyReError> {
        compile_python_regex(pattern, PyReFlags::default())
    }

    // ansible-core 2.19's lineinfile target, "Insert a line in the file using an empty string
    // as a regular expression": the result warns (text as the module's module.warn).
    #[test]
    fn empty_patterns_warn_as_ansible() {
        let w = empty_pattern_warning(Some(""), None).unwrap();
        assert!(w.starts_with("The regular expression is an empty string, which will match"));
        assert!(w.ends_with("use '^' to match every line in the file and avoid this warning."));
        let w = empty_pattern_warning(None, Some("")).unwrap();
        assert!(w.starts_with("The search string is an empty string"));
        assert!(w.ends_with("rather than appending."));
        assert_eq!(empty_pattern_warning(Some("^a"), None), None);
    }

    // ansible-core 2.19's lineinfile target, "Replace a line with backrefs": regexp
    // '^(REF) .* \1$', line '\1 replaced', backrefs: yes turns "REF xyz REF" into
    // "REF replaced" (a back-reference inside the pattern, as Python's re has).
    #[test]
    fn back_references_in_the_pattern_match_as_in_python() {
        let mut spec = e(Some(r"^(REF) .* \1$"), r"\1 replaced");
        spec.backrefs = true;
        let r = edit("REF xyz REF\nREF a b\n", &spec).unwrap();
        assert_eq!(r.text, "REF replaced\nREF a b\n");
        assert!(r.changed);
    }

    fn e(regexp: Option<&str>, line: &str) -> LineEdit {
        LineEdit {
            regexp: regexp.map(|r| py_re(r).unwrap()),
            search_string: None,
            line: Some(line.into()),
            present: true,
            anchor: None,
            backrefs: false,
            firstmatch: false,
        }
    }

    #[test]
    fn replaces_last_regexp_match() {
        let r = edit("a=1\nb=2\na=3\n", &e(Some("^a="), "a=9")).unwrap();
        assert_eq!(
            (r.text.as_str(), r.changed, r.msg.as_str()),
            ("a=1\nb=2\na=9\n", true, "line replaced")
        );
        let again = edit(&r.text, &e(Some("^a="), "a=9")).unwrap();
        assert!(!again.changed);
    }

    #[test]
    fn appends_with_missing_final_newline() {
        let r = edit("x", &e(None, "y")).unwrap();
        assert_eq!(r.text, "x\ny\n");
        assert_eq!(edit("", &e(None, "y")).unwrap().text, "y\n");
        assert!(!edit("y\n", &e(None, "y")).unwrap().changed);
    }

    #[test]
    fn regexp_without_match_keeps_an_existing_exact_line() {
        assert!(!edit("k=v\n", &e(Some("^nomatch"), "k=v")).unwrap().changed);
    }

    #[test]
    fn insert_after_and_before() {
        let mut spec = e(None, "new");
        spec.anchor = Some(Anchor::After(py_re("^\\[main\\]").unwrap()));
        let r = edit("[main]\nx\n[other]\n", &spec).unwrap();
        assert_eq!(r.text, "[main]\nnew\nx\n[other]\n");
        assert!(!edit(&r.text, &spec).unwrap().changed);
        spec.anchor = Some(Anchor::Before(py_re("^\\[other\\]").unwrap()));
        assert_eq!(
            edit("[main]\n[other]\n", &spec).unwrap().text,
            "[main]\nnew\n[other]\n"
        );
        spec.anchor = Some(Anchor::Bof);
        assert_eq!(edit("a\n", &spec).unwrap().text, "new\na\n");
        spec.anchor = Some(Anchor::After(py_re("^nothing").unwrap()));
        assert_eq!(edit("a\n", &spec).unwrap().text, "a\nnew\n");
    }

    #[test]
    fn backrefs_expand_and_do_nothing_without_match() {
        let mut spec = e(Some(r"^(ETCD_NAME)=.*$"), r"\1=node-2");
        spec.backrefs = true;
        assert_eq!(
            edit("ETCD_NAME=old\n", &spec).unwrap().text,
            "ETCD_NAME=node-2\n"
        );
        assert!(!edit("OTHER=1\n", &spec).unwrap().changed);
        let re = py_re(r"(?P<k>\w+)=(\d+)").unwrap();
        assert_eq!(
            expand_backrefs(&re, "a=5", r"\g<k> is \2\t!").unwrap(),
            "a is 5\t!"
        );
    }

    #[test]
    fn absent_removes_every_match() {
        let mut spec = e(Some("^#"), "");
        spec.present = false;
        let r = edit("#a\nb\n#c\n", &spec).unwrap();
        assert_eq!(
            (r.text.as_str(), r.found, r.msg.as_str()),
            ("b\n", 2, "2 line(s) removed")
        );
    }
}
