//! `ini_file`: one option (or a whole section) of an INI file made present or absent, as
//! Ansible's module edits it: the option's line replaced where it is, else added after the
//! section's last non-empty line, a missing section appended at the end, `option = value`
//! (`option=value` with `no_extra_spaces`). The pure [`edit`] works on the text; reading and
//! writing are the shared text probe and converge (links written through, backup, check mode,
//! `--diff`).

use crate::attrs::Attrs;
use crate::host::Ctx;
use crate::modules::write::{converge_text, probe_text};
use crate::{ModuleError, ModuleResult};

/// What to do, as the module's arguments say.
#[derive(Debug, Clone)]
pub(crate) struct IniEdit {
    /// `None`: the options before the first section.
    pub(crate) section: Option<String>,
    pub(crate) option: Option<String>,
    pub(crate) value: Option<String>,
    pub(crate) present: bool,
    pub(crate) no_extra_spaces: bool,
    pub(crate) allow_no_value: bool,
}

fn section_name(line: &str) -> Option<&str> {
    let t = line.trim();
    t.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

/// The option a line sets (`name = value`, `name: value`, or a bare `name`), if any.
fn option_name(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.is_empty() || t.starts_with(['#', ';', '[']) {
        return None;
    }
    let end = t.find(['=', ':']).unwrap_or(t.len());
    Some(t[..end].trim())
}

/// The range of lines `[start, end)` belonging to `section` (after its header; for `None`, the
/// lines before the first header), and the header's index.
fn section_range(lines: &[String], section: Option<&str>) -> Option<(Option<usize>, usize, usize)> {
    let (header, start) = match section {
        None => (None, 0),
        Some(name) => {
            let at = lines.iter().position(|l| section_name(l) == Some(name))?;
            (Some(at), at + 1)
        }
    };
    let end = lines[start..]
        .iter()
        .position(|l| section_name(l).is_some())
        .map_or(lines.len(), |p| start + p);
    Some((header, start, end))
}

/// `text` with the edit applied; `true` when it changed. An empty file is read as one empty
/// line, as Ansible's module reads it, so a new file starts with that line (`\n[section]`).
pub(crate) fn edit(text: &str, e: &IniEdit) -> (String, bool) {
    let text = if text.is_empty() { "\n" } else { text };
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let line_for = |option: &str| match (&e.value, e.allow_no_value) {
        (None, true) => option.to_string(),
        (value, _) => {
            let value = value.clone().unwrap_or_default();
            if e.no_extra_spaces {
                format!("{option}={value}")
            } else {
                format!("{option} = {value}")
            }
        }
    };
    let range = section_range(&lines, e.section.as_deref());
    match (e.present, &e.option, range) {
        // A missing section: appended, with the option if any.
        (true, option, None) => {
            if let Some(name) = &e.section {
                lines.push(format!("[{name}]"));
            }
            if let Some(option) = option {
                lines.push(line_for(option));
            }
        }
        (true, None, Some(_)) => {}
        (true, Some(option), Some((_, start, end))) => {
            let wanted = line_for(option);
            let found: Vec<usize> = (start..end)
                .filter(|&i| option_name(&lines[i]) == Some(option.as_str()))
                .collect();
            match found.split_first() {
                Some((&first, rest)) => {
                    lines[first] = wanted;
                    for &i in rest.iter().rev() {
                        lines.remove(i);
                    }
                }
                None => {
                    // After the section's last non-empty line.
                    let at = (start..end)
                        .rev()
                        .find(|&i| !lines[i].trim().is_empty())
                        .map_or(start, |i| i + 1);
                    lines.insert(at, wanted);
                }
            }
        }
        (false, _, None) => {}
        (false, Some(option), Some((_, start, end))) => {
            for i in (start..end).rev() {
                if option_name(&lines[i]) == Some(option.as_str()) {
                    lines.remove(i);
                }
            }
        }
        (false, None, Some((header, start, end))) => {
            let from = header.unwrap_or(start);
            lines.drain(from..end);
        }
    }
    let out: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let changed = out != text;
    (out, changed)
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let path = a.req_str("path")?;
    let present = a.choice("state", &["present", "absent"], "present")? == "present";
    let spec = IniEdit {
        section: a.str("section"),
        option: a.str("option"),
        value: a.str("value"),
        present,
        no_extra_spaces: a.bool("no_extra_spaces", false)?,
        allow_no_value: a.bool("allow_no_value", false)?,
    };
    if present && spec.value.is_none() && !spec.allow_no_value {
        return Ok(ModuleResult::fail(
            "Parameter 'value(s)' must be defined if state=present and allow_no_value=False.",
        ));
    }
    let create = a.bool("create", true)?;
    let attrs = Attrs::from_args(a)?;
    let file = probe_text(ctx).await?;
    if file.state.is_dir() {
        return Ok(ModuleResult::fail(format!(
            "Destination {path} is a directory !"
        )));
    }
    let created = file.content.is_none();
    if created && !create && present {
        return Ok(ModuleResult::fail(format!(
            "Destination {path} does not exist !"
        )));
    }
    let old = file.content.clone().unwrap_or_default();
    let old_text = String::from_utf8_lossy(&old).into_owned();
    let (new_text, changed) = edit(&old_text, &spec);
    if !changed && created {
        return Ok(ModuleResult::ok());
    }
    let backup = a.bool("backup", false)?;
    let mut res = converge_text(ctx, &file, &path, new_text, &attrs, backup, changed).await?;
    res.msg = Some(match (changed, present) {
        (false, _) => "OK".to_string(),
        (true, true) if spec.option.is_some() => "option changed".to_string(),
        (true, true) => "section added".to_string(),
        (true, false) if spec.option.is_some() => "option changed".to_string(),
        (true, false) => "section removed".to_string(),
    });
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(
        section: Option<&str>,
        option: Option<&str>,
        value: Option<&str>,
        present: bool,
    ) -> IniEdit {
        IniEdit {
            section: section.map(str::to_string),
            option: option.map(str::to_string),
            value: value.map(str::to_string),
            present,
            no_extra_spaces: false,
            allow_no_value: false,
        }
    }

    #[test]
    fn options_are_changed_in_place_or_added_to_their_section() {
        let text = "top=1\n\n[main]\nname = a\n# note\n\n[other]\nname = b\n";
        let (out, changed) = edit(text, &e(Some("main"), Some("name"), Some("c"), true));
        assert!(changed);
        assert_eq!(
            out,
            "top=1\n\n[main]\nname = c\n# note\n\n[other]\nname = b\n"
        );
        let (out, _) = edit(text, &e(Some("main"), Some("port"), Some("80"), true));
        assert_eq!(
            out,
            "top=1\n\n[main]\nname = a\n# note\nport = 80\n\n[other]\nname = b\n"
        );
        let (out, _) = edit(text, &e(Some("new"), Some("x"), Some("1"), true));
        assert!(out.ends_with("name = b\n[new]\nx = 1\n"), "{out}");
        let (out, _) = edit(text, &e(None, Some("top"), Some("2"), true));
        assert!(out.starts_with("top = 2\n"), "{out}");
        let (_, changed) = edit(text, &e(Some("main"), Some("name"), Some("a"), true));
        assert!(!changed, "already so");
    }

    /// Recorded with community.general 11.4.2's ini_file on files that did not exist (or were
    /// empty): `top = 1\n\n` for an option outside sections, `\n[s]\na = 1\n` for one in a
    /// section; removing from a missing file creates nothing.
    #[test]
    fn a_new_file_starts_as_ansible_starts_it() {
        assert_eq!(
            edit("", &e(None, Some("top"), Some("1"), true)).0,
            "top = 1\n\n"
        );
        assert_eq!(
            edit("", &e(Some("s"), Some("a"), Some("1"), true)).0,
            "\n[s]\na = 1\n"
        );
        assert!(!edit("", &e(Some("s"), Some("a"), None, false)).1);
    }

    #[test]
    fn options_and_sections_are_removed() {
        let text = "[main]\nname = a\nport=1\n[other]\nname = b\n";
        let (out, _) = edit(text, &e(Some("main"), Some("port"), None, false));
        assert_eq!(out, "[main]\nname = a\n[other]\nname = b\n");
        let (out, _) = edit(text, &e(Some("main"), None, None, false));
        assert_eq!(out, "[other]\nname = b\n");
        let (_, changed) = edit(text, &e(Some("gone"), Some("x"), None, false));
        assert!(!changed);
        let mut compact = e(Some("main"), Some("name"), Some("z"), true);
        compact.no_extra_spaces = true;
        assert!(edit(text, &compact).0.contains("\nname=z\n"));
    }
}
