//! `assemble`: a file made of the fragments in a directory, in name order, as Ansible's module
//! joins them (a newline after a fragment that lacks one, `delimiter` between fragments, only
//! names matching `regexp`, hidden ones left out with `ignore_hidden`). The fragments are on
//! the host (`remote_src`, the default: one probe reads them with the destination's state) or
//! on the control node; the pure [`assemble`] joins them and the shared converge writes the
//! destination (checksum compare, atomic upload, attributes, backup, check mode).

use base64::Engine;
use etcdplay_source::{compile_python_regex, PyReFlags};
use etcdplay_transport::script::sh_quote;
use fancy_regex::Regex;

use crate::attrs::Attrs;
use crate::host::Ctx;
use crate::modules::write::{converge, md5_hex, NewContent, Target};
use crate::probe::{decode_b64, section, PathState};
use crate::read_ahead::{sections, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::{Diff, ModuleError, ModuleResult};
use etcdplay_transport::ExecOutput;
use serde_json::Value;

/// Python's `codecs.escape_decode` for what a delimiter holds: `\n`, `\t`, `\\`, `\xNN`, octal.
pub(crate) fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 == bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let c = bytes[i + 1];
        i += 2;
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                let mut n = 1;
                while n < 3 && i < bytes.len() && (b'0'..=b'7').contains(&bytes[i]) {
                    v = v * 8 + u32::from(bytes[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'x' if i + 2 <= bytes.len() => {
                match u8::from_str_radix(&text[i..i + 2], 16) {
                    Ok(v) => out.push(v),
                    Err(_) => out.extend_from_slice(b"\\x"),
                }
                i += 2;
            }
            b'\\' | b'\'' | b'"' => out.push(c),
            b'\n' => {}
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    out
}

/// The fragments, sorted by name, filtered and joined as Ansible joins them.
pub(crate) fn assemble(
    mut fragments: Vec<(String, Vec<u8>)>,
    delimiter: Option<&str>,
    regexp: Option<&Regex>,
    ignore_hidden: bool,
) -> Result<Vec<u8>, fancy_regex::Error> {
    fragments.sort_by(|a, b| a.0.cmp(&b.0));
    let delimiter = delimiter.map(unescape);
    let mut out = Vec::new();
    let mut first = true;
    let mut add_newline = false;
    for (name, content) in fragments {
        let unwanted = match regexp {
            Some(re) => !re.is_match(&name)?,
            None => false,
        };
        if unwanted || (ignore_hidden && name.starts_with('.')) {
            continue;
        }
        if add_newline {
            out.push(b'\n');
        }
        if let (false, Some(d)) = (first, &delimiter) {
            if !d.is_empty() {
                out.extend_from_slice(d);
                if d.last() != Some(&b'\n') {
                    out.push(b'\n');
                }
            }
        }
        out.extend_from_slice(&content);
        first = false;
        add_newline = !content.ends_with(b"\n");
    }
    Ok(out)
}

/// The probe: the destination's state, then (from the host) each regular file of `src` as
/// `NAME_B64|CONTENT_B64`, or a word saying why there are none; with local fragments and
/// `--diff`, the destination's content for the diff's `before`.
fn probe_script(src: &str, dest: &str, remote: bool, diff: bool) -> String {
    let mut s = format!("{}ep_stat {}\n", section("dest"), sh_quote(dest));
    if diff && !remote {
        s.push_str(&section("old"));
        s.push_str(&format!("ep_b64 {}\n", sh_quote(dest)));
    }
    if remote {
        let q = sh_quote(src);
        s.push_str(&section("fragments"));
        s.push_str(&format!(
            "if ! [ -e {q} ]; then echo missing; elif ! [ -d {q} ]; then echo notdir; else \
             for f in {q}/* {q}/.*; do [ -f \"$f\" ] || continue; \
             printf '%s|' \"$(printf '%s' \"${{f##*/}}\" | base64 -w0)\"; base64 -w0 < \"$f\"; echo; \
             done; fi\n"
        ));
    }
    s.push_str(&section("end"));
    s
}

/// `assemble`'s probe: the destination's state and, with `remote_src`, the fragments (see
/// [`probe_script`]); local fragments are the control node's, read by the run.
pub(crate) struct AssembleProbe;

impl FirstProbe for AssembleProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let a = input.args;
        let script = probe_script(
            &a.req_str("src")?,
            &a.req_str("dest")?,
            a.bool("remote_src", true)?,
            input.diff,
        );
        Ok(Some(with_funcs(&script)))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

/// Parses the `fragments` section.
fn parse_fragments(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (name, content) = line
            .split_once('|')
            .ok_or_else(|| format!("bad fragment line '{line}'"))?;
        let name = b64
            .decode(name)
            .map_err(|_| "bad fragment name".to_string())?;
        let content = b64
            .decode(content)
            .map_err(|_| "bad fragment".to_string())?;
        out.push((String::from_utf8_lossy(&name).into_owned(), content));
    }
    Ok(out)
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let src = a.req_str("src")?;
    let dest = a.req_str("dest")?;
    let remote = a.bool("remote_src", true)?;
    let regexp = match a.str("regexp") {
        Some(r) => Some(
            compile_python_regex(&r, PyReFlags::default())
                .map_err(|e| ctx.bad("regexp", format!("Invalid Regexp ({e}) in \"{r}\"")))?,
        ),
        None => None,
    };
    if let Some(v) = a.str("validate") {
        if !v.contains("%s") {
            return Ok(ModuleResult::fail(format!("validate must contain %s: {v}")));
        }
        return Err(ctx.bad(
            "validate",
            "etcdplay's assemble does not run validate commands",
        ));
    }
    let attrs = Attrs::from_args(a)?;
    let local = if remote {
        None
    } else {
        Some(ctx.call.control.list_local(&src)?)
    };
    let s = ctx.read_probe::<AssembleProbe>().await?;
    let text = |k: &str| {
        String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default()).into_owned()
    };
    let fragments = match local {
        Some(files) => files,
        None => match text("fragments").trim() {
            "missing" => return Ok(ModuleResult::fail(format!("Source ({src}) does not exist"))),
            "notdir" => {
                return Ok(ModuleResult::fail(format!(
                    "Source ({src}) is not a directory"
                )))
            }
            listing => parse_fragments(listing).map_err(|m| ctx.protocol(m))?,
        },
    };
    let content = assemble(
        fragments,
        a.str("delimiter").as_deref(),
        regexp.as_ref(),
        a.bool("ignore_hidden", false)?,
    )
    .map_err(|e| ctx.bad("regexp", e.to_string()))?;
    let state = PathState::parse(&text("dest")).map_err(|m| ctx.protocol(m))?;
    let md5 = md5_hex(&content);
    let new_text = String::from_utf8_lossy(&content).into_owned();
    let target = Target {
        dest: &dest,
        state: &state,
        old: None,
        new: NewContent::Bytes(content),
        attrs: &attrs,
        backup: a.bool("backup", false)?,
        after_header: dest.clone(),
        // Refused above (see ANSIBLE_COMPAT.md).
        validate: None,
        report_md5: false,
        read_back_owner: false,
    };
    let mut res = converge(ctx, target, true).await?;
    // Ansible's assemble module returns no diff; its action, assembling local fragments,
    // returns one when the task runs in diff mode and the file changes.
    res.diff = None;
    if !remote && ctx.call.diff && res.changed && !res.failed {
        let old = state
            .exists
            .then(|| decode_b64(s.get("old")).unwrap_or_default());
        res.diff = Some(local_diff(&dest, &src, old.as_deref(), &new_text));
    }
    res.set("src", src).set("md5sum", md5);
    res.msg = Some("OK".into());
    Ok(res)
}

/// The diff of Ansible's assemble action for local fragments: `before` is the destination's
/// text (empty, without a header, when there is none) and `after` the assembled text; Ansible
/// heads `after` with its temporary file on the control node, etcdplay with the fragments'
/// directory there.
pub(crate) fn local_diff(dest: &str, src: &str, old: Option<&[u8]>, new: &str) -> Diff {
    Diff {
        before: Value::String(
            old.map_or_else(String::new, |b| String::from_utf8_lossy(b).into_owned()),
        ),
        after: Value::String(new.to_string()),
        before_header: old.map(|_| dest.to_string()),
        after_header: Some(src.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frags(items: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        items
            .iter()
            .map(|(n, c)| (n.to_string(), c.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn fragments_join_in_name_order_with_delimiters_and_newlines() {
        let f = frags(&[
            ("20-b", "b"),
            ("10-a", "a\n"),
            (".hidden", "h\n"),
            ("30-c", "c\n"),
        ]);
        // `.hidden` sorts first; "b" gets the newline it lacks.
        assert_eq!(
            assemble(f.clone(), None, None, false).unwrap(),
            b"h\na\nb\nc\n"
        );
        assert_eq!(assemble(f.clone(), None, None, true).unwrap(), b"a\nb\nc\n");
        assert_eq!(
            assemble(f.clone(), Some("### x"), None, true).unwrap(),
            b"a\n### x\nb\n### x\nc\n"
        );
        let re = compile_python_regex("^[0-9]+-[ac]", PyReFlags::default()).unwrap();
        assert_eq!(
            assemble(f, Some("--\\n"), Some(&re), false).unwrap(),
            b"a\n--\nc\n"
        );
        assert_eq!(unescape("a\\tb\\x41\\101\\\\"), b"a\tbAA\\");
    }
}
