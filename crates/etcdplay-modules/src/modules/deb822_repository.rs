//! `deb822_repository`: an apt source in deb822 form, `/etc/apt/sources.list.d/<slug>.sources`
//! (the slug is `name` lower-cased, `_` and blanks made `-`, anything else but letters, digits
//! and `-` dropped), present or absent. The pure [`render`] writes the fields as Ansible does
//! (sorted by argument, booleans `yes`/`no`, lists space-separated, multi-line values indented
//! with `.` for empty lines, `name` as `X-Repolib-Name`). `signed_by` is kept as it is when it
//! names a file on the host, written to `/etc/apt/keyrings/<slug>.asc` (or `.gpg`) when it is a
//! URL (fetched by the host), and inlined otherwise. One probe reads the file, its mode, the
//! key files and the URL's key; only what differs is written.

use std::sync::Arc;

use etcdplay_transport::script::sh_quote;
use serde_json::Value;

use crate::args::Args;
use crate::host::Ctx;
use crate::probe::{decode_b64, section, PathState};
use crate::{Diff, ModuleError, ModuleResult};

const KEYRINGS_DIR: &str = "/etc/apt/keyrings";

/// `name` as a file name.
pub(crate) fn slug(name: &str) -> String {
    let lower = name.to_lowercase();
    let mut dashed = String::new();
    let mut in_run = false;
    for c in lower.chars() {
        if c == '_' || c.is_whitespace() {
            if !in_run {
                dashed.push('-');
            }
            in_run = true;
        } else {
            dashed.push(c);
            in_run = false;
        }
    }
    dashed
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect()
}

/// The field name Ansible writes for an argument.
fn field_name(arg: &str) -> String {
    match arg {
        "name" => "X-Repolib-Name".into(),
        "uris" => "URIs".into(),
        _ => arg
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

/// A multi-line value as deb822 continuation lines.
fn multiline(v: &str) -> String {
    let lines: Vec<String> = v
        .trim()
        .lines()
        .map(|l| {
            let l = l.trim();
            format!("    {}", if l.is_empty() { "." } else { l })
        })
        .collect();
    format!("\n{}", lines.join("\n"))
}

/// The arguments that become fields, in Ansible's (sorted) order, with their kinds.
const FIELDS: &[(&str, Kind)] = &[
    ("allow_downgrade_to_insecure", Kind::Bool),
    ("allow_insecure", Kind::Bool),
    ("allow_weak", Kind::Bool),
    ("architectures", Kind::List),
    ("by_hash", Kind::Bool),
    ("check_date", Kind::Bool),
    ("check_valid_until", Kind::Bool),
    ("components", Kind::List),
    ("date_max_future", Kind::Text),
    ("enabled", Kind::Bool),
    ("inrelease_path", Kind::Text),
    ("languages", Kind::List),
    ("name", Kind::Text),
    ("pdiffs", Kind::Bool),
    ("signed_by", Kind::Text),
    ("suites", Kind::List),
    ("targets", Kind::List),
    ("trusted", Kind::Bool),
    ("types", Kind::List),
    ("uris", Kind::List),
];

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    List,
    Text,
}

/// The `.sources` text for the arguments; `signed_by` is what goes in its field (a key file's
/// path or the key itself).
pub(crate) fn render(args: &Args, signed_by: Option<&str>) -> Result<String, ModuleError> {
    let mut out = String::new();
    for (arg, kind) in FIELDS {
        let value = match (arg, kind) {
            (&"signed_by", _) => signed_by.map(str::to_string),
            (&"types", _) => Some(
                args.list("types")?
                    .unwrap_or_else(|| vec!["deb".into()])
                    .join(" "),
            ),
            (_, Kind::Bool) => args
                .opt_bool(arg)?
                .map(|b| if b { "yes" } else { "no" }.to_string()),
            (_, Kind::List) => args.list(arg)?.map(|l| l.join(" ")),
            (_, Kind::Text) => args.str(arg),
        };
        let Some(value) = value else { continue };
        let value = if value.contains('\n') {
            multiline(&value)
        } else {
            value
        };
        let name = field_name(arg);
        if value.is_empty() || value.starts_with('\n') {
            out.push_str(&format!("{name}:{value}\n"));
        } else {
            out.push_str(&format!("{name}: {value}\n"));
        }
    }
    Ok(out)
}

/// What `signed_by` is.
enum SignedBy {
    None,
    /// A key file already on the host (`[ -f ]` in the probe) or inline text: the field as is.
    AsIs(String),
    Url(String),
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let name = a.req_str("name")?;
    let present = a.choice("state", &["present", "absent"], "present")? == "present";
    if let Some(types) = a.list("types")? {
        if let Some(t) = types.iter().find(|t| *t != "deb" && *t != "deb-src") {
            return Err(ctx.bad(
                "types",
                format!(
                    "value of types must be one or more of: deb, deb-src. Got no match for: {t}"
                ),
            ));
        }
    }
    let slug = slug(&name);
    let dest = format!("/etc/apt/sources.list.d/{slug}.sources");
    let keys = [
        format!("{KEYRINGS_DIR}/{slug}.asc"),
        format!("{KEYRINGS_DIR}/{slug}.gpg"),
    ];
    let signed_by = match a.str("signed_by") {
        None => SignedBy::None,
        Some(v) if has_scheme(&v) => SignedBy::Url(v),
        Some(v) => SignedBy::AsIs(v),
    };
    let mut script = format!(
        "{}ep_stat {d}\n{}ep_b64 {d}\n",
        section("stat"),
        section("content"),
        d = sh_quote(&dest)
    );
    for (i, k) in keys.iter().enumerate() {
        script.push_str(&section(&format!("key{i}")));
        script.push_str(&format!("ep_stat {}\n", sh_quote(k)));
        script.push_str(&section(&format!("keyb{i}")));
        script.push_str(&format!("ep_b64 {}\n", sh_quote(k)));
    }
    script.push_str(&section("keydir"));
    script.push_str(&format!("[ -d {KEYRINGS_DIR} ] && echo yes\n"));
    if let SignedBy::Url(url) = &signed_by {
        // The key is fetched by the host, as Ansible's module does, at most 1 MiB.
        script.push_str(&section("fetched"));
        script.push_str(&format!(
            "python3 -c 'import sys,urllib.request,base64; sys.stdout.write(base64.b64encode(urllib.request.urlopen(sys.argv[1], timeout=30).read(1048577)).decode())' {} 2>/dev/null || echo FAILED\n",
            sh_quote(url)
        ));
    }
    script.push_str(&section("end"));
    let s = ctx.probe(&script).await?;
    let stat = |k: &str| {
        PathState::parse(&String::from_utf8_lossy(
            s.get(k).map(Vec::as_slice).unwrap_or_default(),
        ))
        .map_err(|m| ctx.protocol(m))
    };
    let st = stat("stat")?;
    let key_states = [stat("key0")?, stat("key1")?];
    let mut res = ModuleResult::ok();
    res.set("dest", dest.clone());

    if !present {
        let mut gone: Vec<&str> = Vec::new();
        if st.exists {
            gone.push(&dest);
        }
        for (k, ks) in keys.iter().zip(&key_states) {
            if ks.exists {
                gone.push(k);
            }
        }
        res.changed = !gone.is_empty();
        res.set("repo", Value::Null)
            .set("key_filename", keys[1].clone());
        if res.changed && !ctx.call.check {
            let quoted: Vec<String> = gone.iter().map(|p| sh_quote(p)).collect();
            if let Err(msg) = ctx
                .change(format!("rm -f -- {}\n", quoted.join(" ")))
                .await?
            {
                return Ok(ModuleResult::fail(msg));
            }
        }
        return Ok(res);
    }

    // The key a URL names goes to a keyring file of this source.
    let mut key_write: Option<(String, Vec<u8>)> = None;
    let field = match &signed_by {
        SignedBy::None => None,
        SignedBy::AsIs(v) => Some(v.clone()),
        SignedBy::Url(url) => {
            let fetched = s.get("fetched").map(Vec::as_slice).unwrap_or_default();
            if fetched.starts_with(b"FAILED") {
                return Ok(ModuleResult::fail(format!(
                    "Could not fetch signed_by key: {url}"
                )));
            }
            let key = decode_b64(s.get("fetched")).unwrap_or_default();
            if key.len() > 1 << 20 {
                return Ok(ModuleResult::fail(format!(
                    "Could not fetch signed_by key: {url} is larger than 1 MiB"
                )));
            }
            let armored = key
                .windows(36)
                .any(|w| w == b"-----BEGIN PGP PUBLIC KEY BLOCK-----");
            let i = if armored { 0 } else { 1 };
            let old = decode_b64(s.get(&format!("keyb{i}")));
            if old.as_deref() != Some(&key[..]) || key_states[i].mode & 0o7777 != 0o644 {
                key_write = Some((keys[i].clone(), key));
            }
            res.set("key_filename", keys[i].clone());
            Some(keys[i].clone())
        }
    };
    let repo = render(a, field.as_deref())?;
    res.set("repo", repo.clone());
    let old = decode_b64(s.get("content"));
    let content_changed = old.as_deref() != Some(repo.as_bytes());
    let mode = match a.mode("mode")? {
        None => 0o644,
        Some(m) => m.apply(st.mode & 0o7777, false),
    };
    let mode_changed = st.exists && st.mode & 0o7777 != mode;
    let keydir_missing =
        key_write.is_some() && !s.get("keydir").is_some_and(|v| v.starts_with(b"yes"));
    res.changed = content_changed || mode_changed || key_write.is_some();
    if content_changed && ctx.call.diff {
        res.diff = Some(Diff {
            before: Value::String(String::from_utf8_lossy(&old.unwrap_or_default()).into_owned()),
            after: Value::String(repo.clone()),
            before_header: Some(dest.clone()),
            after_header: Some(dest.clone()),
        });
    }
    if !res.changed || ctx.call.check {
        return Ok(res);
    }
    if keydir_missing {
        if let Err(msg) = ctx
            .change(format!("mkdir -p -m 0755 {KEYRINGS_DIR}\n"))
            .await?
        {
            return Ok(ModuleResult::fail(msg));
        }
    }
    if let Some((path, key)) = key_write {
        ctx.put(&path, Arc::new(key), Some(0o644), None, None)
            .await?;
    }
    if content_changed {
        ctx.put(&dest, Arc::new(repo.into_bytes()), Some(mode), None, None)
            .await?;
    } else if mode_changed {
        if let Err(msg) = ctx
            .change(format!("chmod {mode:o} -- {}\n", sh_quote(&dest)))
            .await?
        {
            return Ok(ModuleResult::fail(msg));
        }
    }
    Ok(res)
}

/// Whether `v` is a URL (Python's `urlparse` finds a scheme): `scheme:` before any `/`.
fn has_scheme(v: &str) -> bool {
    v.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && !v.contains('\n')
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Args {
        Args::parse("deb822_repository", v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn slugs_and_field_names_follow_ansible() {
        assert_eq!(slug("Docker CE_stable"), "docker-ce-stable");
        assert_eq!(slug("etcd (local)"), "etcd-local");
        assert_eq!(field_name("signed_by"), "Signed-By");
        assert_eq!(
            field_name("allow_downgrade_to_insecure"),
            "Allow-Downgrade-To-Insecure"
        );
        assert_eq!(field_name("uris"), "URIs");
    }

    #[test]
    fn sources_render_as_ansible_writes_them() {
        // ansible-core 2.19 (python-debian's Deb822.dump) writes, for these arguments:
        let a = args(json!({
            "name": "etcdplay test", "uris": "file:/srv/repo", "suites": "./",
            "trusted": false, "architectures": ["amd64", "arm64"]
        }));
        let key =
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF\n-----END PGP PUBLIC KEY BLOCK-----\n";
        assert_eq!(
            render(&a, Some(key)).unwrap(),
            "Architectures: amd64 arm64\nX-Repolib-Name: etcdplay test\nSigned-By:\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n    .\n    mQINBF\n    -----END PGP PUBLIC KEY BLOCK-----\nSuites: ./\nTrusted: no\nTypes: deb\nURIs: file:/srv/repo\n"
        );
    }

    #[test]
    fn urls_are_told_from_files_and_keys() {
        assert!(has_scheme("https://example.com/key.asc"));
        assert!(has_scheme("file:///srv/key.asc"));
        assert!(!has_scheme("/usr/share/keyrings/x.gpg"));
        assert!(!has_scheme("-----BEGIN PGP PUBLIC KEY BLOCK-----\nx: y\n"));
    }
}
