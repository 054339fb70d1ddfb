//! `authorized_key` (ansible.posix): SSH public keys in a user's `authorized_keys`, as the
//! collection's module keeps them: each line is parsed into options, type, key and comment; a
//! key is known by its base64 blob; a key given again with other options or comment is
//! replaced (and moves after the others); `exclusive` drops every other line; lines that are
//! not keys stay as they are. One probe reads the user's passwd entry and the file; the pure
//! [`plan`] decides the new text; a write creates `~/.ssh` (0700) when `manage_dir` says so and
//! uploads the file atomically, 0600 and owned by the user.

use std::sync::Arc;

use etcdplay_transport::script::sh_quote;
use etcdplay_transport::ExecOutput;
use serde_json::Value;

use crate::host::Ctx;
use crate::probe::{decode_b64, section};
use crate::read_ahead::{sections, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::{Diff, ModuleError, ModuleResult};

const KEY_TYPES: &[&str] = &[
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "ssh-ed25519",
    "ssh-dss",
    "ssh-rsa",
];

/// One line of an authorized_keys file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Line {
    Key {
        /// `name` or `name=value`, in order.
        options: Vec<(String, Option<String>)>,
        kind: String,
        blob: String,
        comment: String,
    },
    /// A comment, blank or unparsable line, kept verbatim (with its newline, if it had one).
    Other(String),
}

impl Line {
    fn id(&self) -> &str {
        match self {
            Line::Key { blob, .. } => blob,
            Line::Other(text) => text,
        }
    }

    fn render(&self) -> String {
        match self {
            Line::Other(text) => text.clone(),
            Line::Key {
                options,
                kind,
                blob,
                comment,
            } => {
                let mut s = String::new();
                if !options.is_empty() {
                    let parts: Vec<String> = options
                        .iter()
                        .map(|(k, v)| match v {
                            Some(v) => format!("{k}={v}"),
                            None => k.clone(),
                        })
                        .collect();
                    s.push_str(&parts.join(","));
                    s.push(' ');
                }
                // Always a space before the comment, even an empty one, as the module writes.
                s.push_str(&format!("{kind} {blob} {comment}\n"));
                s
            }
        }
    }
}

/// `key_options` split on commas outside quotes.
pub(crate) fn parse_options(text: &str) -> Vec<(String, Option<String>)> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (c, quote) {
            ('"' | '\'', None) => {
                quote = Some(c);
                cur.push(c);
            }
            (q, Some(open)) if q == open => {
                quote = None;
                cur.push(c);
            }
            (',', None) => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (p, None),
        })
        .collect()
}

/// Parses one line; `None` when it holds no key of a known type.
pub(crate) fn parse_key(line: &str) -> Option<Line> {
    let text = line.replace("\\#", "#");
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.first() == Some(&"#") {
        return None;
    }
    let at = words.iter().position(|w| KEY_TYPES.contains(w))?;
    let blob = words.get(at + 1)?;
    Some(Line::Key {
        options: parse_options(&words[..at].join(" ")),
        kind: words[at].to_string(),
        blob: blob.to_string(),
        comment: words.get(at + 2..).map(|w| w.join(" ")).unwrap_or_default(),
    })
}

/// The lines of a file, each kept with its newline.
pub(crate) fn parse_file(text: &str) -> Vec<Line> {
    text.split_inclusive('\n')
        .map(|l| parse_key(l).unwrap_or_else(|| Line::Other(l.to_string())))
        .collect()
}

/// What the task asks.
pub(crate) struct Want<'a> {
    pub(crate) keys: &'a str,
    pub(crate) present: bool,
    pub(crate) key_options: Option<&'a str>,
    pub(crate) comment: Option<&'a str>,
    pub(crate) exclusive: bool,
}

/// The file's new text, or `None` when nothing changes; an error names a key that is not one.
pub(crate) fn plan(existing: &str, want: &Want<'_>) -> Result<Option<String>, String> {
    // Entries by id, last one of an id winning, each with its rank (its place in the file).
    let mut entries: Vec<(usize, Line)> = Vec::new();
    for (rank, line) in parse_file(existing).into_iter().enumerate() {
        entries.retain(|(_, l)| l.id() != line.id());
        entries.push((rank, line));
    }
    let first_new_rank = entries.len();
    let mut wanted_ids = Vec::new();
    let mut changed = false;
    let given = want
        .keys
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    for (i, raw) in given.enumerate() {
        let Some(Line::Key {
            options,
            kind,
            blob,
            comment,
        }) = parse_key(raw)
        else {
            return Err(format!("invalid key specified: {raw}"));
        };
        let new = Line::Key {
            options: want.key_options.map(parse_options).unwrap_or(options),
            kind,
            blob: blob.clone(),
            comment: want.comment.map(str::to_string).unwrap_or(comment),
        };
        let found = entries.iter().position(|(_, l)| l.id() == blob);
        if want.present {
            wanted_ids.push(blob.clone());
            match found {
                Some(at) if entries[at].1 == new => {}
                // A key with other options or comment is replaced, after the existing lines.
                Some(at) => {
                    entries.remove(at);
                    entries.push((first_new_rank + i, new));
                    changed = true;
                }
                None => {
                    entries.push((first_new_rank + i, new));
                    changed = true;
                }
            }
        } else if let Some(at) = found {
            entries.remove(at);
            changed = true;
        }
    }
    if want.present && want.exclusive {
        let before = entries.len();
        entries.retain(|(_, l)| wanted_ids.iter().any(|id| id == l.id()));
        changed |= entries.len() != before;
    }
    if !changed {
        return Ok(None);
    }
    entries.sort_by_key(|(rank, _)| *rank);
    Ok(Some(entries.iter().map(|(_, l)| l.render()).collect()))
}

/// `authorized_key`'s probe: the user's passwd entry, the key file (`path`, or the user's
/// `~/.ssh/authorized_keys`, through links with `follow`) and its content.
pub(crate) struct KeyFileProbe;

impl FirstProbe for KeyFileProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let a = input.args;
        let q_user = sh_quote(&a.req_str("user")?);
        let file_expr = match a.str("path") {
            Some(p) => sh_quote(&p),
            None => "\"$ep_h/.ssh/authorized_keys\"".to_string(),
        };
        let resolve = if a.bool("follow", false)? {
            format!("ep_f=$(readlink -f -- {file_expr} || printf '%s' {file_expr})")
        } else {
            format!("ep_f={file_expr}")
        };
        Ok(Some(with_funcs(&format!(
            "{}getent passwd {q_user} || :\nep_h=$(getent passwd {q_user} | cut -d: -f6)\n{resolve}\n{}printf '%s' \"$ep_f\"\n{}ep_b64 \"$ep_f\"\n{}",
            section("passwd"),
            section("file"),
            section("content"),
            section("end")
        ))))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let user = a.req_str("user")?;
    let key = a.req_str("key")?;
    let present = a.choice("state", &["absent", "present"], "present")? == "present";
    let manage_dir = a.bool("manage_dir", true)?;
    let follow = a.bool("follow", false)?;
    let path = a.str("path");
    if key.starts_with("http") {
        return Ok(ModuleResult::fail(format!(
            "Error getting key from: {key} (etcdplay does not fetch keys from URLs)"
        )));
    }
    let key_options = a.str("key_options");
    let comment = a.str("comment");
    let want = Want {
        keys: &key,
        present,
        key_options: key_options.as_deref(),
        comment: comment.as_deref(),
        exclusive: a.bool("exclusive", false)?,
    };
    let q_user = sh_quote(&user);
    let s = ctx.read_probe::<KeyFileProbe>().await?;
    let text = |k: &str| {
        String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default()).into_owned()
    };
    let passwd = text("passwd");
    if passwd.trim().is_empty() && !(ctx.call.check && path.is_some()) {
        return Ok(ModuleResult::fail(if ctx.call.check && path.is_none() {
            "Either user must exist or you must provide full path to key file in check mode"
                .to_string()
        } else {
            format!("Failed to lookup user {user}: 'getpwnam(): name not found: {user}'")
        }));
    }
    let keyfile = text("file");
    let existing =
        String::from_utf8_lossy(&decode_b64(s.get("content")).unwrap_or_default()).into_owned();
    let new = plan(&existing, &want).map_err(|m| ctx.bad("key", m))?;
    let mut res = ModuleResult::ok();
    if !ctx.call.check {
        for (k, v) in [
            ("user", Value::String(user.clone())),
            ("key", Value::String(key.clone())),
            ("path", path.clone().map_or(Value::Null, Value::String)),
            ("manage_dir", Value::Bool(manage_dir)),
            (
                "state",
                Value::String(if present { "present" } else { "absent" }.into()),
            ),
            (
                "key_options",
                key_options.clone().map_or(Value::Null, Value::String),
            ),
            ("exclusive", Value::Bool(want.exclusive)),
            (
                "comment",
                comment.clone().map_or(Value::Null, Value::String),
            ),
            (
                "validate_certs",
                Value::Bool(a.bool("validate_certs", true)?),
            ),
            ("follow", Value::Bool(follow)),
            ("keyfile", Value::String(keyfile.clone())),
        ] {
            res.set(k, v);
        }
    }
    let Some(new) = new else {
        return Ok(res);
    };
    res.changed = true;
    if ctx.call.diff {
        res.diff = Some(Diff {
            before: Value::String(existing),
            after: Value::String(new.clone()),
            before_header: Some(keyfile.clone()),
            after_header: Some(keyfile.clone()),
        });
    }
    if ctx.call.check {
        return Ok(res);
    }
    let dir = keyfile
        .rsplit_once('/')
        .map_or(".", |(d, _)| if d.is_empty() { "/" } else { d });
    let q_dir = sh_quote(dir);
    // `~/.ssh` is the user's and 0700 when the module manages it; another directory is only
    // created when missing.
    let script = if manage_dir {
        format!("{{ [ -e {q_dir} ] || mkdir -m 0700 -- {q_dir}; }} && chown -- {q_user}: {q_dir} && chmod 0700 -- {q_dir}\n")
    } else {
        format!("[ -e {q_dir} ] || mkdir -p -- {q_dir}\n")
    };
    if let Err(msg) = ctx.change(script).await? {
        return Ok(ModuleResult::fail(format!(
            "Failed to create directory {dir} : {msg}"
        )));
    }
    let group = passwd.split(':').nth(3).map(str::trim).map(str::to_string);
    ctx.put(
        &keyfile,
        Arc::new(new.into_bytes()),
        Some(0o600),
        Some(user.clone()),
        group,
    )
    .await?;
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK1 alice@laptop";
    const K2: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC2 bob";

    fn want<'a>(keys: &'a str, present: bool) -> Want<'a> {
        Want {
            keys,
            present,
            key_options: None,
            comment: None,
            exclusive: false,
        }
    }

    #[test]
    fn lines_parse_into_options_type_key_and_comment() {
        let l = parse_key("no-pty,from=\"10.0.0.1,10.0.0.2\" ssh-ed25519 AAAA x y\n").unwrap();
        assert_eq!(
            l,
            Line::Key {
                options: vec![
                    ("no-pty".into(), None),
                    ("from".into(), Some("\"10.0.0.1,10.0.0.2\"".into()))
                ],
                kind: "ssh-ed25519".into(),
                blob: "AAAA".into(),
                comment: "x y".into(),
            }
        );
        assert_eq!(
            l.render(),
            "no-pty,from=\"10.0.0.1,10.0.0.2\" ssh-ed25519 AAAA x y\n"
        );
        assert!(parse_key("# a comment\n").is_none());
        assert!(parse_key("garbage\n").is_none());
        // No comment: the module still writes the separating space.
        assert_eq!(
            parse_key("ssh-rsa BBBB").unwrap().render(),
            "ssh-rsa BBBB \n"
        );
    }

    #[test]
    fn keys_are_added_replaced_removed_and_made_exclusive() {
        let file = format!("# managed\n{K1}\n");
        assert_eq!(plan(&file, &want(K1, true)), Ok(None));
        assert_eq!(
            plan(&file, &want(K2, true)).unwrap().unwrap(),
            format!("# managed\n{K1}\n{K2}\n")
        );
        // Other options: the key is replaced, after the other lines.
        let mut w = want(K1, true);
        w.key_options = Some("no-pty");
        let two = format!("{K1}\n# note\n");
        assert_eq!(
            plan(&two, &w).unwrap().unwrap(),
            format!("# note\nno-pty {K1}\n")
        );
        assert_eq!(
            plan(&file, &want(K1, false)).unwrap().unwrap(),
            "# managed\n"
        );
        assert_eq!(plan(&file, &want(K2, false)), Ok(None));
        let mut w = want(K2, true);
        w.exclusive = true;
        assert_eq!(plan(&file, &w).unwrap().unwrap(), format!("{K2}\n"));
        assert!(plan("", &want("not a key", true)).is_err());
    }
}
