//! Converging a file to given bytes, shared by copy, template, lineinfile and blockinfile:
//! compare the sha1 the probe reported with the new content's, upload atomically only when
//! they differ, fix mode/owner/group otherwise, keep a backup when asked, and build the result
//! fields and the diff. The caller has already probed the path.

use etcdplay_transport::script::{random_token, sh_quote, shlex_split};
use etcdplay_transport::{ExecOutput, ExecRequest};
use serde_json::Value;
use sha1::{Digest, Sha1};

use crate::attrs::{AttrPlan, Attrs};
use crate::host::Ctx;
use crate::mode::format_mode;
use crate::probe::PathState;
use crate::read_ahead::{sections, text, with_funcs, FirstProbe, ProbeInput};
use crate::{Diff, ModuleError, ModuleResult};

pub(crate) fn sha1_hex(bytes: &[u8]) -> String {
    let digest = Sha1::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The md5 Ansible's copy and template results carry (`md5sum`), in hex.
pub(crate) fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest as _;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The bytes a file must hold: in memory (templates, inline content, edited lines), or a
/// control-node file whose size and sha1 are known without reading it, read only when it has
/// to be uploaded or shown (a 20 MB binary that is already in place costs no read).
pub(crate) enum NewContent {
    Bytes(Vec<u8>),
    LocalFile {
        src: String,
        size: u64,
        sha1: String,
    },
}

impl NewContent {
    fn len(&self) -> u64 {
        match self {
            NewContent::Bytes(b) => b.len() as u64,
            NewContent::LocalFile { size, .. } => *size,
        }
    }

    fn sha1(&self) -> String {
        match self {
            NewContent::Bytes(b) => sha1_hex(b),
            NewContent::LocalFile { sha1, .. } => sha1.clone(),
        }
    }

    /// The bytes, shared: a control-node file is read once for every host uploading it at
    /// the same time (see [`crate::ControlNode::read_local_shared`]); with `want_md5`, also
    /// their md5 (hex). A control-node file's md5 is computed once for all hosts, and asked
    /// for while these bytes are held, so that it is taken from this very copy rather than
    /// from a second read of the file.
    fn into_bytes(
        self,
        ctx: &Ctx<'_>,
        want_md5: bool,
    ) -> Result<(std::sync::Arc<Vec<u8>>, Option<String>), ModuleError> {
        match self {
            NewContent::Bytes(b) => {
                let md5 = want_md5.then(|| md5_hex(&b));
                Ok((b.into(), md5))
            }
            NewContent::LocalFile { src, .. } => {
                let bytes = ctx.call.control.read_local_shared(&src)?;
                let md5 = want_md5
                    .then(|| ctx.call.control.local_md5(&src))
                    .transpose()?;
                Ok((bytes, md5))
            }
        }
    }
}

/// What to write and how.
pub(crate) struct Target<'a> {
    pub(crate) dest: &'a str,
    pub(crate) state: &'a PathState,
    /// The current content, when the probe fetched it (needed for `--diff`).
    pub(crate) old: Option<&'a [u8]>,
    pub(crate) new: NewContent,
    pub(crate) attrs: &'a Attrs,
    pub(crate) backup: bool,
    /// The diff's "after" header (the `src` path, or the destination for inline content).
    pub(crate) after_header: String,
    /// `validate:`: a command run on the new content (`%s` is its temporary file) before it
    /// replaces `dest`; a non-zero exit leaves `dest` as it was and fails the task.
    pub(crate) validate: Option<String>,
    /// Whether a written file's result carries the legacy `md5sum` of the new content
    /// (Ansible's copy and template results do).
    pub(crate) report_md5: bool,
    /// Whether a written file's result names its owner (`uid`, `gid`, `owner`, `group`) as
    /// Ansible's copy and template results do. Who owns a new file depends on the login,
    /// `become` and the directory, so it is stat'ed after the write, in the write's request
    /// ([`Ctx::put_then_read`]); a file whose attributes only changed has them from its probe.
    pub(crate) read_back_owner: bool,
}

/// Brings `t.dest` to `t.new` and the requested attributes. `content_changed` can be forced
/// false (copy with `force: no`).
pub(crate) async fn converge(
    ctx: &Ctx<'_>,
    t: Target<'_>,
    allow_content_change: bool,
) -> Result<ModuleResult, ModuleError> {
    let checksum = t.new.sha1();
    // A link reaching here is replaced by a regular file, as Ansible's copy and template do
    // without `follow` (always a change, the link's own attributes never carried over);
    // modules that write through a link pass its target's path and state instead.
    let replaces_link = t.state.is_link();
    let content_changed = allow_content_change
        && (replaces_link || t.state.sha1.as_deref() != Some(checksum.as_str()));
    let kept = t.state.exists && !replaces_link;
    let mut res = ModuleResult::ok();
    res.set("dest", t.dest)
        .set("checksum", checksum.clone())
        .set("state", "file");
    if t.state.exists && !t.state.is_file() && !replaces_link {
        return Ok(ModuleResult::fail(format!(
            "Destination {} exists and is not a regular file",
            t.dest
        )));
    }
    let plan = t.attrs.plan(t.dest, t.state);
    if content_changed {
        res.changed = true;
        let mode = match (&t.attrs.mode, kept) {
            (Some(spec), true) => Some(spec.apply(t.state.mode, false)),
            (Some(_), false) => t.attrs.new_file_mode(),
            (None, true) => Some(t.state.mode & 0o7777),
            (None, false) => None,
        };
        res.set("size", t.new.len());
        let (new, md5) = t.new.into_bytes(ctx, t.report_md5)?;
        if let Some(md5) = md5 {
            res.set("md5sum", md5);
        }
        res.set("mode", format_mode(mode.unwrap_or(0o644)));
        if let Some(o) = t
            .attrs
            .owner
            .clone()
            .or_else(|| kept.then(|| t.state.owner.clone()))
        {
            res.set("owner", o);
        }
        if let Some(g) = t
            .attrs
            .group
            .clone()
            .or_else(|| kept.then(|| t.state.group.clone()))
        {
            res.set("group", g);
        }
        if ctx.call.diff {
            let before = t
                .old
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            res.diff = Some(Diff {
                before: Value::String(before),
                after: Value::String(String::from_utf8_lossy(&new).into_owned()),
                before_header: Some(t.dest.to_string()),
                after_header: Some(t.after_header.clone()),
            });
        }
        if !ctx.call.check {
            if let Some(command) = &t.validate {
                if let Some(failure) = validate(ctx, command, Validated::Content(&new)).await? {
                    return Ok(failure);
                }
            }
            if t.backup && t.state.exists {
                let backup = backup_file(ctx, t.dest).await?;
                res.set("backup_file", backup);
            }
            let (owner, group) = (t.attrs.owner.clone(), t.attrs.group.clone());
            if t.read_back_owner {
                let upload = ctx.put_request(t.dest, new, mode, owner, group);
                let out = ctx.put_then_read(upload, owner_read_back(t.dest)).await?;
                set_owner_read_back(ctx, &out, &mut res)?;
            } else {
                ctx.put(t.dest, new, mode, owner, group).await?;
            }
        }
        return Ok(res);
    }
    res.set("size", t.state.size)
        .set("uid", t.state.uid)
        .set("gid", t.state.gid);
    plan.fields().write(&mut res);
    if !plan.commands.is_empty() {
        res.changed = true;
        if ctx.call.diff {
            res.diff = Some(attr_diff(t.dest, t.state, &plan));
        }
        if !ctx.call.check {
            if let Err(msg) = ctx.change(plan.commands.join("\n")).await? {
                return Ok(ModuleResult::fail(msg));
            }
        }
    }
    Ok(res)
}

/// The stat of a file just written, for [`set_owner_read_back`]. The checksum it takes also
/// leaves the file's entry in the host's checksum cache, so the next run's probe of it needs no
/// `sha1sum`.
fn owner_read_back(path: &str) -> String {
    use crate::probe::section;
    with_funcs(&format!(
        "{}ep_stat {}\n{}",
        section("stat"),
        sh_quote(path),
        section("end")
    ))
}

/// Puts the owner of the written file, as [`owner_read_back`] found it, into the result.
fn set_owner_read_back(
    ctx: &Ctx<'_>,
    out: &ExecOutput,
    res: &mut ModuleResult,
) -> Result<(), ModuleError> {
    let s = sections(out).map_err(|m| ctx.protocol(m))?;
    let state = PathState::parse(&text(&s, "stat")).map_err(|m| ctx.protocol(m))?;
    if state.exists {
        res.set("uid", state.uid)
            .set("gid", state.gid)
            .set("owner", state.owner)
            .set("group", state.group);
    }
    Ok(())
}

/// What `validate:` checks: new content, or (copy with `remote_src`) a file already on the host.
pub(crate) enum Validated<'a> {
    Content(&'a [u8]),
    HostFile(&'a str),
}

/// Runs `validate:` on `content` in a private temporary file on the host (the content goes on
/// stdin, the file is removed whatever happens). The command is split like a shell line
/// without a shell, as Ansible's `run_command` does. Returns the task's failure, in the words
/// of the module (copy and template: "failed to validate" with `exit_status`, `stdout`,
/// `stderr`; lineinfile and blockinfile: "failed to validate: rc:N error:...").
pub(crate) async fn validate(
    ctx: &Ctx<'_>,
    command: &str,
    what: Validated<'_>,
) -> Result<Option<ModuleResult>, ModuleError> {
    if !command.contains("%s") {
        return Ok(Some(ModuleResult::fail(format!(
            "validate must contain %s: {command}"
        ))));
    }
    // A placeholder no command contains (random per request) stands for the file's name.
    let placeholder = format!("@{}@", random_token());
    let line = python_percent_s(command, &placeholder);
    let words = match shlex_split(&line) {
        Ok(words) if !words.is_empty() => words,
        _ => {
            return Ok(Some(ModuleResult::fail(format!(
                "validate: cannot split the command line: {command}"
            ))))
        }
    };
    // Every word is quoted; the temporary file's name is spliced in as "$t".
    let argv: Vec<String> = words
        .iter()
        .map(|w| {
            w.split(placeholder.as_str())
                .map(sh_quote)
                .collect::<Vec<_>>()
                .join("\"$t\"")
        })
        .collect();
    let req = match what {
        Validated::Content(content) => {
            let mut req = ExecRequest::script(format!(
                "t=$(mktemp) || exit 1\ntrap 'rm -f -- \"$t\"' EXIT\ncat > \"$t\"\n{}\n",
                argv.join(" ")
            ));
            req.stdin = content.to_vec();
            req
        }
        Validated::HostFile(path) => {
            ExecRequest::script(format!("t={}\n{}\n", sh_quote(path), argv.join(" ")))
        }
    };
    let out = ctx.exec_req(req).await?;
    if out.rc == 0 {
        return Ok(None);
    }
    let mut failure;
    if matches!(ctx.module(), "copy" | "template") {
        failure = ModuleResult::fail("failed to validate");
        failure
            .set("exit_status", out.rc)
            .set("stdout", out.stdout_str())
            .set("stderr", out.stderr_str());
    } else {
        failure = ModuleResult::fail(format!(
            "failed to validate: rc:{} error:{}",
            out.rc,
            out.stderr_str()
        ));
    }
    Ok(Some(failure))
}

/// Python's `text % value` for a format holding only `%s` and `%%`.
fn python_percent_s(text: &str, value: &str) -> String {
    text.split("%%")
        .map(|part| part.replace("%s", value))
        .collect::<Vec<_>>()
        .join("%")
}

/// Copies `dest` to Ansible's backup name `DEST.PID.YYYY-MM-DD@HH:MM:SS~` and returns it.
pub(crate) async fn backup_file(ctx: &Ctx<'_>, dest: &str) -> Result<String, ModuleError> {
    let script = format!(
        "b={}.$$.$(date +%Y-%m-%d@%H:%M:%S~) && cp -p -- {} \"$b\" && printf '%s' \"$b\"",
        sh_quote(dest),
        sh_quote(dest)
    );
    match ctx.change(script).await? {
        Ok(out) => Ok(out.stdout_str()),
        Err(msg) => Err(ctx.protocol(format!("backup of {dest} failed: {msg}"))),
    }
}

/// The before/after diff of an attribute change, as Ansible shows it: path plus whichever of
/// mode, owner and group differ.
pub(crate) fn attr_diff(path: &str, st: &PathState, plan: &AttrPlan) -> Diff {
    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    before.insert("path".into(), Value::String(path.to_string()));
    after.insert("path".into(), Value::String(path.to_string()));
    if plan.mode != st.mode & 0o7777 {
        before.insert("mode".into(), Value::String(format_mode(st.mode)));
        after.insert("mode".into(), Value::String(format_mode(plan.mode)));
    }
    if plan.owner != st.owner {
        before.insert("owner".into(), Value::String(st.owner.clone()));
        after.insert("owner".into(), Value::String(plan.owner.clone()));
    }
    if plan.group != st.group {
        before.insert("group".into(), Value::String(st.group.clone()));
        after.insert("group".into(), Value::String(plan.group.clone()));
    }
    Diff {
        before: Value::Object(before),
        after: Value::Object(after),
        before_header: None,
        after_header: None,
    }
}

/// A text file's state, as lineinfile and blockinfile need it: stat, content, and whether the
/// parent directory exists (to create the file).
pub(crate) struct TextFile {
    /// The file to change: the path asked for, or where a link at it finally points (Ansible
    /// edits through links, keeping the link and the target's mode).
    pub(crate) path: String,
    pub(crate) state: PathState,
    pub(crate) content: Option<Vec<u8>>,
    pub(crate) parent_exists: bool,
}

/// The probe of the modules that edit a text file in place (lineinfile, blockinfile, replace,
/// ini_file): the file named by `path` (its aliases resolved), its content and its parent.
pub(crate) struct TextProbe;

impl TextProbe {
    /// The probe body for `path`. The content comes back whole, so its checksum is taken on
    /// the control node (`EP_NO_SUM`: no `sha1sum` on the host, see [`TextProbe::parse`]).
    pub(crate) fn body(path: &str) -> String {
        use crate::probe::section;
        let q = sh_quote(path);
        format!(
            "{}{}ep_stat {q}\n{}ep_b64 {q}\n{}ep_parent_is_dir {q}\n{}",
            crate::probe::NO_SUM,
            section("stat"),
            section("content"),
            section("parent"),
            section("end")
        )
    }
}

impl FirstProbe for TextProbe {
    /// The file's state, content (a regular file's only) and whether its parent is a directory.
    type Answer = (PathState, Option<Vec<u8>>, bool);
    // Shell functions, sections, `ep_*` reads and variables it sets before reading: no
    // `exit`, options or traps.
    const INLINE: bool = true;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        Ok(Some(with_funcs(&TextProbe::body(
            &input.args.req_str("path")?,
        ))))
    }

    /// A regular file's checksum is that of the content read, when the content was read: an
    /// empty answer for a file that is not empty means the file could not be read (no checksum,
    /// as the host's `sha1sum` would have given none).
    fn parse(out: &ExecOutput) -> Result<Self::Answer, String> {
        let s = sections(out)?;
        let mut state = PathState::parse(&text(&s, "stat"))?;
        let content = state
            .is_file()
            .then(|| crate::probe::decode_b64(s.get("content")).unwrap_or_default());
        if let Some(bytes) = &content {
            if !bytes.is_empty() || state.size == 0 {
                state.sha1 = Some(sha1_hex(bytes));
            }
        }
        let parent = s.get("parent").is_some_and(|p| p.starts_with(b"yes"));
        Ok((state, content, parent))
    }
}

/// Probes the task's `path` for [`TextFile`] in one round trip ([`TextProbe`]), and a second
/// one at the link's final target when `path` is a link.
pub(crate) async fn probe_text(ctx: &Ctx<'_>) -> Result<TextFile, ModuleError> {
    let path = ctx.args.req_str("path")?;
    let (state, content, parent_exists) = ctx.read_probe::<TextProbe>().await?;
    let file = TextFile {
        path,
        state,
        content,
        parent_exists,
    };
    match (file.state.is_link(), &file.state.real_path) {
        (true, Some(real)) => {
            let out = ctx.exec(with_funcs(&TextProbe::body(real))).await?;
            let (state, content, parent_exists) =
                TextProbe::parse(&out).map_err(|m| ctx.protocol(m))?;
            Ok(TextFile {
                path: real.clone(),
                state,
                content,
                parent_exists,
            })
        }
        _ => Ok(file),
    }
}

/// Writes the new text of a file probed by [`probe_text`], as lineinfile, blockinfile, replace
/// and ini_file do: a file about to be created gets its parent directory first (not in check
/// mode), then the shared [`converge`]; `path` is the name the task gave (for the diff).
pub(crate) async fn converge_text(
    ctx: &Ctx<'_>,
    file: &TextFile,
    path: &str,
    new: String,
    attrs: &Attrs,
    backup: bool,
    changed: bool,
) -> Result<ModuleResult, ModuleError> {
    let created = file.content.is_none();
    if changed && created && !file.parent_exists && !ctx.call.check {
        if let Err(msg) = ensure_parent(ctx, &file.path).await? {
            return Ok(ModuleResult::fail(msg));
        }
    }
    let old = file.content.clone().unwrap_or_default();
    let target = Target {
        dest: &file.path,
        state: &file.state,
        old: Some(&old),
        new: NewContent::Bytes(new.into_bytes()),
        attrs,
        backup,
        after_header: format!("{path} (content)"),
        validate: ctx.args.str("validate"),
        report_md5: false,
        read_back_owner: false,
    };
    converge(ctx, target, changed).await
}

/// Creates the parent directory of a file about to be created (lineinfile/blockinfile `create`).
pub(crate) async fn ensure_parent(
    ctx: &Ctx<'_>,
    path: &str,
) -> Result<Result<(), String>, ModuleError> {
    let dir = match path.rsplit_once('/') {
        Some(("", _)) | None => return Ok(Ok(())),
        Some((dir, _)) => dir.to_string(),
    };
    Ok(ctx
        .change(format!("mkdir -p -- {}", sh_quote(&dir)))
        .await?
        .map(|_| ()))
}
