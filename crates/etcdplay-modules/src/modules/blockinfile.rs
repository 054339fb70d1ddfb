//! `blockinfile`: keep a block of lines between two marker lines (`# BEGIN ANSIBLE MANAGED
//! BLOCK` / `# END ...`), inserted after/before a matching line or at BOF/EOF, or remove it.
//! The edit is the pure function [`edit`], following Ansible's algorithm; the module reads the
//! file in one round trip and writes it back atomically when it changed.

use etcdplay_source::{compile_python_regex, PyReFlags};
use fancy_regex::Regex;

use crate::attrs::Attrs;
use crate::host::Ctx;
use crate::modules::lineinfile::Anchor;
use crate::modules::write::{converge_text, probe_text};
use crate::{ModuleError, ModuleResult};

/// Whether a pattern sets the multiline flag inline (`(?m)...`, `(?im)...`), which is how a
/// task asks Python's `re` for it.
fn is_multiline(re: &Regex) -> bool {
    let p = re.as_str();
    p.strip_prefix("(?")
        .and_then(|rest| rest.split([')', ':']).next())
        .is_some_and(|flags| flags.contains('m') && !flags.contains('-'))
}

/// Blank lines around a present block (`prepend_newline`, `append_newline`): one is added
/// before it unless it starts the file or follows a blank line, one after it unless it ends
/// the file or a blank line follows, as Ansible's blockinfile does.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Padding {
    pub(crate) prepend: bool,
    pub(crate) append: bool,
}

/// Applies the block to `text`; returns the new text. `block == None` removes the block.
#[cfg(test)]
pub(crate) fn edit(
    text: &str,
    marker_begin: &str,
    marker_end: &str,
    block: Option<&str>,
    anchor: Option<&Anchor>,
) -> String {
    edit_padded(
        text,
        (marker_begin, marker_end),
        block,
        anchor,
        Padding::default(),
    )
    .unwrap()
}

/// [`edit`] with blank lines around the block.
pub(crate) fn edit_padded(
    text: &str,
    (marker_begin, marker_end): (&str, &str),
    block: Option<&str>,
    anchor: Option<&Anchor>,
    padding: Padding,
) -> Result<String, fancy_regex::Error> {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
    // The block's lines keep their own endings (a `\r\n` block stays CRLF), as Ansible's
    // `splitlines(True)` keeps them; a block without a final newline gets one.
    let blocklines: Vec<String> = match block {
        Some(b) if !b.is_empty() => {
            let body = if b.ends_with('\n') {
                b.to_string()
            } else {
                format!("{b}\n")
            };
            std::iter::once(format!("{marker_begin}\n"))
                .chain(body.split_inclusive('\n').map(String::from))
                .chain(std::iter::once(format!("{marker_end}\n")))
                .collect()
        }
        _ => Vec::new(),
    };
    let strip = |l: &str| l.trim_end_matches(['\r', '\n']).to_string();
    let mut n0 = None;
    let mut n1 = None;
    for (i, l) in lines.iter().enumerate() {
        let s = strip(l);
        if s == marker_begin {
            n0 = Some(i);
        }
        if s == marker_end {
            n1 = Some(i);
        }
    }
    let at = match (n0, n1) {
        (Some(a), Some(b)) => {
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            lines.drain(lo..=hi);
            lo
        }
        _ => match anchor {
            // A pattern with the inline multiline flag is searched in the whole text, as
            // Ansible does (`re.MULTILINE` in its flags): the block goes after the line the
            // match ends on, or before the line it starts on.
            Some(Anchor::After(re)) | Some(Anchor::Before(re)) if is_multiline(re) => {
                let after = matches!(anchor, Some(Anchor::After(_)));
                match re.find(text)? {
                    None => lines.len(),
                    Some(m) if after => text[..m.end()].matches('\n').count() + 1,
                    Some(m) => text[..m.start()].matches('\n').count(),
                }
                .min(lines.len())
            }
            Some(Anchor::After(re)) | Some(Anchor::Before(re)) => {
                let mut last = None;
                for (i, l) in lines.iter().enumerate() {
                    if re.is_match(&strip(l))? {
                        last = Some(i);
                    }
                }
                match (last, anchor) {
                    (None, _) => lines.len(),
                    (Some(i), Some(Anchor::After(_))) => i + 1,
                    (Some(i), _) => i,
                }
            }
            Some(Anchor::Bof) => 0,
            _ => lines.len(),
        },
    };
    if at > 0 && !lines[at - 1].ends_with('\n') && !blocklines.is_empty() {
        lines[at - 1].push('\n');
    }
    let mut at = at;
    let present = block.is_some();
    if padding.prepend && present && at > 0 && lines[at - 1] != "\n" {
        lines.insert(at, "\n".to_string());
        at += 1;
    }
    let after = at + blocklines.len();
    lines.splice(at..at, blocklines);
    if padding.append && present && after < lines.len() && lines[after] != "\n" {
        lines.insert(after, "\n".to_string());
    }
    Ok(lines.concat())
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let args = &ctx.args;
    let path = args.req_str("path")?;
    let present = args.choice("state", &["present", "absent"], "present")? == "present";
    let marker = args
        .str("marker")
        .unwrap_or_else(|| "# {mark} ANSIBLE MANAGED BLOCK".into());
    if !marker.contains("{mark}") {
        return Err(ctx.bad("marker", "marker must contain {mark}"));
    }
    let begin = marker.replace(
        "{mark}",
        &args.str("marker_begin").unwrap_or_else(|| "BEGIN".into()),
    );
    let end = marker.replace(
        "{mark}",
        &args.str("marker_end").unwrap_or_else(|| "END".into()),
    );
    let compile = |arg: &str, p: &str| {
        compile_python_regex(p, PyReFlags::default())
            .map_err(|e| ctx.bad(arg, format!("invalid regular expression: {e}")))
    };
    let anchor = match (args.str("insertafter"), args.str("insertbefore")) {
        (Some(_), Some(_)) => {
            return Err(ctx.bad(
                "insertafter",
                "insertafter and insertbefore are mutually exclusive",
            ))
        }
        (Some(a), None) if a == "EOF" => None,
        (Some(a), None) => Some(Anchor::After(compile("insertafter", &a)?)),
        (None, Some(b)) if b == "BOF" => Some(Anchor::Bof),
        (None, Some(b)) => Some(Anchor::Before(compile("insertbefore", &b)?)),
        (None, None) => None,
    };
    let block = args.str("block").unwrap_or_default();
    let attrs = Attrs::from_args(args)?;

    let file = probe_text(ctx).await?;
    if file.state.is_dir() {
        return Ok(ModuleResult::fail(format!("Path {path} is a directory !")));
    }
    let created = file.content.is_none();
    if created && !args.bool("create", false)? {
        if !present {
            return Ok(ModuleResult::ok());
        }
        let mut res = ModuleResult::fail(format!("Path {path} does not exist !"));
        res.set("rc", 257);
        return Ok(res);
    }
    let old = file.content.clone().unwrap_or_default();
    let old_text = String::from_utf8_lossy(&old).into_owned();
    let padding = Padding {
        prepend: args.bool("prepend_newline", false)?,
        append: args.bool("append_newline", false)?,
    };
    let new_text = edit_padded(
        &old_text,
        (&begin, &end),
        present.then_some(block.as_str()),
        anchor.as_ref(),
        padding,
    );
    let new_text = match new_text {
        Ok(text) => text,
        Err(e) => {
            return Ok(ModuleResult::fail(format!(
                "regular expression failed: {e}"
            )))
        }
    };
    let content_changed = new_text != old_text || (created && present && !block.is_empty());
    if created && !content_changed {
        return Ok(ModuleResult::ok());
    }
    let backup = args.bool("backup", false)?;
    let mut res =
        converge_text(ctx, &file, &path, new_text, &attrs, backup, content_changed).await?;
    if res.failed {
        // `validate:` refused the new content: its message is the result.
        return Ok(res);
    }
    res.msg = Some(if !res.changed {
        String::new()
    } else if created {
        "File created".into()
    } else if !content_changed {
        "ownership, perms or SE linux context changed".into()
    } else if !present || block.is_empty() {
        "Block removed".into()
    } else {
        "Block inserted".into()
    });
    res.data.remove("checksum");
    res.data.remove("size");
    res.data.remove("state");
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py_re(pattern: &str) -> Result<Regex, etcdplay_source::PyReError> {
        compile_python_regex(pattern, PyReFlags::default())
    }

    const B: &str = "# BEGIN ANSIBLE MANAGED BLOCK";
    const E: &str = "# END ANSIBLE MANAGED BLOCK";

    #[test]
    fn inserts_replaces_and_removes() {
        let once = edit("a\n", B, E, Some("x=1\ny=2"), None);
        assert_eq!(once, format!("a\n{B}\nx=1\ny=2\n{E}\n"));
        assert_eq!(edit(&once, B, E, Some("x=1\ny=2"), None), once);
        let updated = edit(&once, B, E, Some("x=3"), None);
        assert_eq!(updated, format!("a\n{B}\nx=3\n{E}\n"));
        assert_eq!(edit(&updated, B, E, None, None), "a\n");
        assert_eq!(edit("a\n", B, E, None, None), "a\n");
    }

    #[test]
    fn anchors_and_missing_newline() {
        let re = py_re("^a$").unwrap();
        assert_eq!(
            edit("a\nb\n", B, E, Some("x"), Some(&Anchor::After(re.clone()))),
            format!("a\n{B}\nx\n{E}\nb\n")
        );
        assert_eq!(
            edit("a\nb\n", B, E, Some("x"), Some(&Anchor::Before(re))),
            format!("{B}\nx\n{E}\na\nb\n")
        );
        assert_eq!(
            edit("a", B, E, Some("x"), None),
            format!("a\n{B}\nx\n{E}\n")
        );
        assert_eq!(
            edit("a\n", B, E, Some("x"), Some(&Anchor::Bof)),
            format!("{B}\nx\n{E}\na\n")
        );
    }

    // ansible-playbook, `blockinfile: block=x insertafter='^a$' prepend_newline=yes
    // append_newline=yes` on "a\nb\n": "a\n\n# BEGIN...\nx\n# END...\n\nb\n", then ok on a
    // second run; at EOF on "a\nb\n": "a\nb\n\n# BEGIN...\nx\n# END...\n" (no blank line
    // after the last line of the file).
    #[test]
    fn blank_lines_around_the_block() {
        let both = Padding {
            prepend: true,
            append: true,
        };
        let re = py_re("^a$").unwrap();
        let after_a = Some(Anchor::After(re));
        let once = edit_padded("a\nb\n", (B, E), Some("x"), after_a.as_ref(), both).unwrap();
        assert_eq!(once, format!("a\n\n{B}\nx\n{E}\n\nb\n"));
        assert_eq!(
            edit_padded(&once, (B, E), Some("x"), after_a.as_ref(), both).unwrap(),
            once
        );
        assert_eq!(
            edit_padded("a\nb\n", (B, E), Some("x"), None, both).unwrap(),
            format!("a\nb\n\n{B}\nx\n{E}\n")
        );
        // Removing ignores them.
        assert_eq!(
            edit_padded(&once, (B, E), None, None, both).unwrap(),
            "a\n\n\nb\n"
        );
    }

    // ansible-core's blockinfile target (preserve_line_endings): a block "dos\r\ndos\r\n" is
    // written with its CRLF endings.
    #[test]
    fn block_lines_keep_their_endings() {
        let out = edit("unix\n", B, E, Some("dos\r\ndos\r\n"), None);
        assert_eq!(out, format!("unix\n{B}\ndos\r\ndos\r\n{E}\n"));
        assert_eq!(edit(&out, B, E, Some("dos\r\ndos\r\n"), None), out);
    }

    // ansible-core's blockinfile target (multiline_search): `insertafter:
    // '(?m)SID_LIST_LISTENER_DG =\n.*\(SID_LIST ='` puts the block after the second line of
    // the match; without (?m) the pattern matches no single line and the block goes at EOF.
    #[test]
    fn multiline_patterns_search_the_whole_text() {
        let text = "A =\n  (SID_LIST =\n    x\n  )\nB\n";
        let re = py_re("(?m)A =\\n.*\\(SID_LIST =").unwrap();
        assert!(is_multiline(&re));
        let out = edit(text, B, E, Some("new"), Some(&Anchor::After(re)));
        assert_eq!(
            out,
            format!("A =\n  (SID_LIST =\n{B}\nnew\n{E}\n    x\n  )\nB\n")
        );
        let plain = py_re("A =\\n.*\\(SID_LIST =").unwrap();
        assert!(!is_multiline(&plain));
        let out = edit(text, B, E, Some("new"), Some(&Anchor::After(plain)));
        assert_eq!(out, format!("{text}{B}\nnew\n{E}\n"));
    }
}
