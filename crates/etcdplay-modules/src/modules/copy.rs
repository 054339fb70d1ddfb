//! `copy` and `template`: put bytes (a control-node file, inline `content:`, a rendered
//! template, or with `remote_src` a file already on the host) at `dest`. A destination that
//! ends in `/` or is an existing directory receives `dest/basename(src)`. The probe resolves
//! that, stats the destination and (for `--diff`) reads it, all in one round trip; the sha1 of
//! the new content decides whether anything is uploaded.

use etcdplay_transport::script::sh_quote;
use serde_json::Value;

use crate::attrs::Attrs;
use crate::host::Ctx;
use crate::modules::write::{converge, NewContent, Target};
use etcdplay_transport::ExecOutput;

use crate::args::Args;
use crate::probe::{decode_b64, section, PathState};
use crate::read_ahead::{sections, text, with_funcs, FirstProbe, ProbeInput};
use crate::{ModuleError, ModuleResult};

/// Refuses what `copy` cannot do before anything is sent.
fn check_copy_args(args: &Args) -> Result<(), ModuleError> {
    if args.str("mode").as_deref() == Some("preserve") {
        return Err(ModuleError::bad(
            "copy",
            "mode",
            "mode=preserve is not supported by etcdplay",
        ));
    }
    match (args.str("src"), args.raw("content")) {
        (Some(_), Some(_)) => Err(ModuleError::bad(
            "copy",
            "content",
            "src and content are mutually exclusive",
        )),
        (None, None) => Err(ModuleError::missing("copy", "src")),
        (Some(s), None) if s.ends_with('/') && !args.bool("remote_src", false)? => {
            Err(ModuleError::bad(
                "copy",
                "src",
                "copying a directory is not supported by etcdplay; name the files",
            ))
        }
        _ => Ok(()),
    }
}

/// The probe of `copy` and `template`: the destination (a directory destination resolved to
/// `dest/basename(src)`), its parent and, for `--diff`, its content; with `remote_src` the
/// source on the host instead of the content.
pub(crate) struct DestProbe;

/// What [`DestProbe`] read.
pub(crate) struct DestAnswer {
    /// The destination file the directory resolution arrived at.
    path: String,
    state: PathState,
    parent_ok: bool,
    old: Option<Vec<u8>>,
    /// `remote_src`'s source (absent otherwise).
    src: PathState,
}

impl FirstProbe for DestProbe {
    type Answer = DestAnswer;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let args = input.args;
        let src = if args.module == "template" {
            Some(args.req_str("src")?)
        } else {
            check_copy_args(args)?;
            args.str("src")
        };
        let dest = args.req_str("dest")?;
        let set_dest = resolve_dest(&dest, src.as_deref());
        let body = match src {
            Some(src) if args.bool("remote_src", false)? => remote_probe_body(set_dest, &src),
            _ => dest_probe_body(set_dest, input.diff),
        };
        Ok(Some(with_funcs(&body)))
    }

    fn parse(out: &ExecOutput) -> Result<DestAnswer, String> {
        let s = sections(out)?;
        Ok(DestAnswer {
            path: text(&s, "path"),
            state: PathState::parse(&text(&s, "stat"))?,
            parent_ok: s.get("parent").is_some_and(|p| p.starts_with(b"yes")),
            old: decode_b64(s.get("old")),
            src: PathState::parse(&text(&s, "src"))?,
        })
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let args = &ctx.args;
    let src = args.str("src");
    let remote_src = args.bool("remote_src", false)?;
    check_copy_args(args)?;
    let (content, header) = match (&src, args.raw("content")) {
        // Refused by `check_copy_args` above.
        (Some(_), Some(_)) | (None, None) => return Err(ModuleError::missing("copy", "src")),
        // Ansible heads inline content's diff with the destination: filled in by `deliver`.
        (None, Some(v)) => (Some(NewContent::Bytes(content_bytes(v))), String::new()),
        (Some(s), None) if remote_src => (None, s.clone()),
        (Some(s), None) => {
            // A vaulted source is uploaded decrypted (Ansible's default `decrypt: yes`); its
            // plaintext is never remembered on disk, so it is read and hashed each time.
            if args.bool("decrypt", true)? && ctx.call.control.local_vaulted(s)? {
                let plain = ctx.call.control.read_local_decrypted(s)?;
                return deliver(ctx, NewContent::Bytes(plain), Some(s), s.clone()).await;
            }
            // Usually the same file for every host (an etcd binary): the control node knows
            // its size and checksum without reading it again.
            let (size, sha1) = ctx.call.control.local_digest(s)?;
            let file = NewContent::LocalFile {
                src: s.clone(),
                size,
                sha1,
            };
            (Some(file), s.clone())
        }
    };
    match content {
        Some(content) if !remote_src => deliver(ctx, content, src.as_deref(), header).await,
        _ => copy_remote(ctx, src.unwrap_or_default()).await,
    }
}

pub(crate) async fn run_template(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let src = ctx.args.req_str("src")?;
    let rendered = ctx.call.control.render_template(&src, ctx.call.args)?;
    deliver(
        ctx,
        NewContent::Bytes(rendered.into_bytes()),
        Some(&src),
        src.clone(),
    )
    .await
}

/// `content:` may be a mapping or list, which Ansible serialises as JSON.
fn content_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

fn basename(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

/// The probe lines that resolve a directory destination into `$d`.
fn resolve_dest(dest: &str, src: Option<&str>) -> String {
    let base = src.map(basename).unwrap_or("");
    let mut s = format!("d={}\n", sh_quote(dest));
    if !base.is_empty() {
        s.push_str(&format!("case \"$d\" in */) d=\"$d\"{b};; *) if [ -d \"$d\" ] && ! [ -L \"$d\" ]; then d=\"$d/\"{b}; fi;; esac\n", b = sh_quote(base)));
    }
    s
}

/// The probe lines (after `set_dest` has set `$d`) that read the destination: its path,
/// state, parent and (for `--diff`) content.
fn dest_probe_body(set_dest: String, diff: bool) -> String {
    let mut script = set_dest;
    script.push_str(&section("path"));
    script.push_str("printf '%s' \"$d\"\n");
    script.push_str(&section("stat"));
    script.push_str("ep_stat \"$d\"\n");
    script.push_str(&section("parent"));
    script.push_str("ep_parent_is_dir \"$d\"\n");
    if diff {
        script.push_str(&section("old"));
        script.push_str("ep_b64 \"$d\"\n");
    }
    script.push_str(&section("end"));
    script
}

/// `remote_src`'s probe: the destination and the source on the host.
fn remote_probe_body(set_dest: String, src: &str) -> String {
    let mut script = set_dest;
    script.push_str(&section("path"));
    script.push_str("printf '%s' \"$d\"\n");
    script.push_str(&section("stat"));
    script.push_str("ep_stat \"$d\"\n");
    script.push_str(&section("src"));
    script.push_str(&format!("ep_stat {}\n", sh_quote(src)));
    script.push_str(&section("end"));
    script
}

async fn deliver(
    ctx: &Ctx<'_>,
    content: NewContent,
    src: Option<&str>,
    header: String,
) -> Result<ModuleResult, ModuleError> {
    let dest = ctx.args.req_str("dest")?;
    let attrs = Attrs::from_args(&ctx.args)?;
    let mut probed = ctx.read_probe::<DestProbe>().await?;
    // `follow: yes` writes through a link to the file it finally points to (keeping that
    // file's mode and owner); without it the link itself is replaced, as in Ansible.
    if ctx.args.bool("follow", false)? && probed.state.is_link() {
        if let Some(real) = probed.state.real_path.clone() {
            let body = dest_probe_body(format!("d={}\n", sh_quote(&real)), ctx.call.diff);
            let out = ctx.exec(with_funcs(&body)).await?;
            probed = DestProbe::parse(&out).map_err(|m| ctx.protocol(m))?;
        }
    }
    let DestAnswer {
        path,
        state,
        parent_ok,
        old,
        ..
    } = probed;
    if state.is_dir() {
        return Ok(ModuleResult::fail(format!(
            "can not use content with a dir as dest: {path}"
        )));
    }
    if !state.exists && !parent_ok {
        let dir = path
            .rsplit_once('/')
            .map(|(d, _)| d.to_string())
            .unwrap_or_default();
        // As in Ansible, only a destination written as a directory (`dest: dir/`) is created.
        if !dest.ends_with('/') {
            return Ok(ModuleResult::fail(format!(
                "Destination directory {dir} does not exist"
            )));
        }
        if !ctx.call.check {
            if let Err(msg) = crate::modules::write::ensure_parent(ctx, &path).await? {
                return Ok(ModuleResult::fail(msg));
            }
        }
    }
    let force = ctx.args.bool("force", true)?;
    let target = Target {
        dest: &path,
        state: &state,
        old: old.as_deref(),
        new: content,
        attrs: &attrs,
        backup: ctx.args.bool("backup", false)?,
        after_header: if header.is_empty() {
            path.clone()
        } else {
            header
        },
    };
    let mut res = converge(ctx, target, force || !state.exists).await?;
    if let Some(src) = src {
        res.set("src", src);
    }
    Ok(res)
}

/// `remote_src: yes`: the source is on the host, so the probe stats both and the copy is a
/// `cp` on the host (through a temporary file, so the destination is replaced atomically).
async fn copy_remote(ctx: &Ctx<'_>, src: String) -> Result<ModuleResult, ModuleError> {
    let attrs = Attrs::from_args(&ctx.args)?;
    let DestAnswer {
        path,
        state,
        src: src_state,
        ..
    } = ctx.read_probe::<DestProbe>().await?;
    let Some(src_sum) = src_state.sha1.clone() else {
        return Ok(ModuleResult::fail(format!(
            "Source {src} not found or not a readable regular file"
        )));
    };
    let mut res = ModuleResult::ok();
    res.set("dest", path.clone())
        .set("src", src.clone())
        .set("checksum", src_sum.clone())
        .set("state", "file");
    let content_changed = state.sha1.as_deref() != Some(src_sum.as_str())
        && (ctx.args.bool("force", true)? || !state.exists);
    // After `cp` the new file has the source's mode and the executing user as owner, which we
    // do not know: any requested owner/group is then applied unconditionally.
    let after = if content_changed {
        PathState {
            owner: String::new(),
            group: String::new(),
            uid: u32::MAX,
            gid: u32::MAX,
            ..src_state.clone()
        }
    } else {
        state.clone()
    };
    let plan = attrs.plan(
        &path,
        &PathState {
            exists: true,
            ..after
        },
    );
    res.set("size", src_state.size);
    plan.fields().write(&mut res);
    if content_changed || !plan.commands.is_empty() {
        res.changed = true;
        if ctx.call.diff {
            // The content stays on the host, so the diff shows what identifies it.
            let side = |sum: Option<&str>, mode: u32| {
                let mut m = serde_json::Map::new();
                m.insert("path".into(), Value::String(path.clone()));
                m.insert(
                    "checksum".into(),
                    sum.map(|s| Value::String(s.to_string()))
                        .unwrap_or(Value::Null),
                );
                m.insert("mode".into(), Value::String(crate::mode::format_mode(mode)));
                Value::Object(m)
            };
            res.diff = Some(crate::Diff {
                before: side(state.sha1.as_deref(), state.mode),
                after: side(Some(&src_sum), plan.mode),
                before_header: None,
                after_header: None,
            });
        }
        if !ctx.call.check {
            let mut cmd = String::from("set -e\n");
            if content_changed {
                if ctx.args.bool("backup", false)? && state.exists {
                    res.set(
                        "backup_file",
                        crate::modules::write::backup_file(ctx, &path).await?,
                    );
                }
                // An unpredictable temporary name beside the destination (the directory may
                // be writable by others), the source's mode as Ansible's copystat gives it.
                let q = sh_quote(&path);
                cmd.push_str(&format!(
                    "d={q}\ncase $d in */*) p=${{d%/*}};; *) p=.;; esac\n\
                     t=$(mktemp -- \"$p/.etcdplay-tmp.XXXXXXXX\")\n\
                     trap 'rm -f -- \"$t\"' EXIT\n\
                     cp --preserve=mode -- {} \"$t\"\nmv -f -- \"$t\" \"$d\"\ntrap - EXIT\n",
                    sh_quote(&src)
                ));
            }
            cmd.push_str(&plan.commands.join("\n"));
            if let Err(msg) = ctx.change(cmd).await? {
                return Ok(ModuleResult::fail(msg));
            }
        }
    }
    Ok(res)
}
