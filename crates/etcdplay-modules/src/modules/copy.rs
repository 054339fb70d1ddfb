//! `copy` and `template`: put bytes (a control-node file, inline `content:`, a rendered
//! template, or with `remote_src` a file already on the host) at `dest`. A destination that
//! ends in `/` or is an existing directory receives `dest/basename(src)`. The probe resolves
//! that, stats the destination and (for `--diff`) reads it, all in one round trip; the sha1 of
//! the new content decides whether anything is uploaded.

use etcdplay_transport::script::sh_quote;
use serde_json::Value;

use crate::attrs::Attrs;
use crate::host::Ctx;
use crate::mode::ModeSpec;
use crate::modules::write::{converge, NewContent, Target};
use etcdplay_transport::ExecOutput;

use crate::args::Args;
use crate::probe::{decode_b64, section, PathState};
use crate::read_ahead::{sections, text, with_funcs, FirstProbe, ProbeInput};
use crate::{ModuleError, ModuleResult};

/// What `copy` refuses before anything is sent, in the words of Ansible's copy action (an
/// empty `src` counts as none: `src: ''` is "src (or content) is required").
fn refused_copy_args(args: &Args) -> Option<&'static str> {
    let src = args.str("src").filter(|s| !s.is_empty());
    let content = args.raw("content");
    let dest = args.str("dest").unwrap_or_default();
    if src.is_none() && content.is_none() {
        Some("src (or content) is required")
    } else if dest.is_empty() {
        Some("dest is required")
    } else if src.is_some() && content.is_some() {
        Some("src and content are mutually exclusive")
    } else if content.is_some() && dest.ends_with('/') {
        Some("can not use content with a dir as dest")
    } else {
        None
    }
}

/// The internal parameter a task gave `copy` (Ansible's action plugin sets them; a task may
/// not), if any.
fn internal_param(args: &Args) -> Option<&'static str> {
    ["_original_basename", "_diff_peek"]
        .into_iter()
        .find(|a| args.has(a))
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
    // Shell functions, sections, `ep_*` reads and variables it sets before reading: no
    // `exit`, options or traps.
    const INLINE: bool = true;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let args = input.args;
        let src = if args.module == "template" {
            Some(args.req_str("src")?)
        } else {
            if refused_copy_args(args).is_some() || internal_param(args).is_some() {
                // Refused by the run without a request.
                return Ok(None);
            }
            let src = args.str("src");
            // A control-node directory (`src: dir/`) is copied by a request that acts. (`src:
            // dir` cannot be told from a file here: its read-ahead answer goes unused.)
            if src.as_deref().is_some_and(|s| s.ends_with('/'))
                && !args.bool("remote_src", false)?
            {
                return Ok(None);
            }
            src
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
    if let Some(internal) = internal_param(args) {
        return Ok(ModuleResult::fail(format!(
            "Invalid parameter specified: \"{internal}\""
        )));
    }
    if let Some(refused) = refused_copy_args(args) {
        return Ok(ModuleResult::fail(refused));
    }
    let src = args.str("src");
    let remote_src = args.bool("remote_src", false)?;
    if let (Some(s), None, false) = (&src, args.raw("content"), remote_src) {
        let follow = args.bool("local_follow", true)?;
        if let Some(tree) = ctx.call.control.local_tree("files", s, follow)? {
            return copy_tree(ctx, s, tree).await;
        }
    }
    let (content, header) = match (&src, args.raw("content")) {
        // Refused by `refused_copy_args` above.
        (Some(_), Some(_)) | (None, None) => return Err(ModuleError::missing("copy", "src")),
        // Ansible heads inline content's diff with the destination: filled in by `deliver`.
        (None, Some(v)) => (Some(NewContent::Bytes(content_bytes(v))), String::new()),
        (Some(s), None) if remote_src => (None, s.clone()),
        (Some(s), None) => {
            // A vaulted source is uploaded decrypted (Ansible's default `decrypt: yes`); its
            // plaintext is never remembered on disk, so it is read and hashed each time.
            if args.bool("decrypt", true)? && ctx.call.control.local_vaulted(s)? {
                let plain = ctx.call.control.read_local_decrypted(s)?;
                let content = NewContent::Bytes(plain);
                return deliver(ctx, content, Some(s), s.clone(), "files", None).await;
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
        Some(content) if !remote_src => {
            deliver(ctx, content, src.as_deref(), header, "files", None).await
        }
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
        "templates",
        None,
    )
    .await
}

/// `copy` of a control-node directory: `src: dir/` copies what it holds into `dest`,
/// `src: dir` the directory itself (`dest/dir`). Directories are made first (with
/// `directory_mode`, which Ansible also gives the ones that exist), links kept as links
/// (`local_follow: no`) recreated, all in one request; then every file is copied as a single
/// `copy` would copy it. Changed when anything was.
async fn copy_tree(
    ctx: &Ctx<'_>,
    src: &str,
    entries: Vec<crate::LocalEntry>,
) -> Result<ModuleResult, ModuleError> {
    let dest = ctx.args.req_str("dest")?;
    let top = dest.trim_end_matches('/');
    let base = if src.ends_with('/') {
        top.to_string()
    } else {
        format!("{top}/{}", basename(src))
    };
    let dir_mode = ctx.args.mode("directory_mode")?;
    let mut script = String::from(TREE_FUNCS);
    if ctx.call.check {
        script.insert_str(0, "CHECK=1\n");
    }
    let mode_word = |m: &ModeSpec| match m {
        ModeSpec::Octal(n) => format!("{n:o}"),
        other => other.to_string(),
    };
    let mode_arg = dir_mode.as_ref().map(mode_word).unwrap_or_default();
    let octal = matches!(dir_mode, Some(ModeSpec::Octal(_)));
    let dir_line = |path: &str| {
        format!(
            "ep_dir {} {} {}\n",
            sh_quote(path),
            sh_quote(&mode_arg),
            if octal { "octal" } else { "symbolic" }
        )
    };
    // The destination itself only counts as one of the copied directories without `dir/`.
    script.push_str(&if src.ends_with('/') {
        format!("ep_dir {} '' octal\n", sh_quote(&base))
    } else {
        dir_line(&base)
    });
    let mut files = Vec::new();
    for entry in &entries {
        let path = format!("{base}/{}", entry.rel);
        match &entry.kind {
            crate::LocalKind::Dir => script.push_str(&dir_line(&path)),
            crate::LocalKind::Link(target) => script.push_str(&format!(
                "ep_link {} {}\n",
                sh_quote(target),
                sh_quote(&path)
            )),
            crate::LocalKind::File(local) => files.push((local.clone(), path)),
        }
    }
    script.push_str("echo \"${ch:-0}\"\n");
    let out = ctx.exec(script).await?;
    if out.rc != 0 {
        return Ok(ModuleResult::fail(out.stderr_str().trim().to_string()));
    }
    let mut res = ModuleResult::ok();
    res.changed = out.stdout_str().trim() == "1";
    res.set("dest", dest.clone()).set("src", src);
    if ctx.call.check && res.changed {
        // Directories still to be made: the files in them are new too.
        return Ok(res);
    }
    for (local, path) in files {
        let local = local.to_string_lossy().into_owned();
        let (size, sha1) = ctx.call.control.local_digest(&local)?;
        let content = NewContent::LocalFile {
            src: local.clone(),
            size,
            sha1,
        };
        let one = deliver(
            ctx,
            content,
            Some(&local),
            local.clone(),
            "files",
            Some(&path),
        )
        .await?;
        if one.failed {
            return Ok(one);
        }
        res.changed |= one.changed;
    }
    Ok(res)
}

/// Shell functions of [`copy_tree`]: `ep_dir PATH MODE KIND` makes a directory and gives it
/// MODE (`octal`: compared first; `symbolic`: applied, a change when the mode moved);
/// `ep_link TARGET PATH` makes PATH a link to TARGET (never over a directory). Both set `ch`
/// when they change something, and change nothing when CHECK is set.
const TREE_FUNCS: &str = r#"set -e
ep_dir() {
  if [ ! -d "$1" ]; then ch=1; [ -n "${CHECK:-}" ] && return 0; mkdir -p -- "$1"; fi
  [ -n "$2" ] || return 0
  if [ "$3" = octal ]; then
    [ "$(stat -c %a -- "$1")" = "$2" ] && return 0
    ch=1; [ -n "${CHECK:-}" ] || chmod "$2" -- "$1"
  elif [ -z "${CHECK:-}" ]; then
    ep_b=$(stat -c %a -- "$1"); chmod "$2" -- "$1"
    [ "$(stat -c %a -- "$1")" = "$ep_b" ] || ch=1
  fi
}
ep_link() {
  if [ -L "$2" ] && [ "$(readlink -- "$2")" = "$1" ]; then return 0; fi
  if [ -d "$2" ] && ! [ -L "$2" ]; then
    echo "refusing to convert from directory to symlink for $2" >&2; exit 1
  fi
  ch=1; [ -n "${CHECK:-}" ] && return 0
  rm -f -- "$2"; ln -s -- "$1" "$2"
}
"#;

/// `mode: preserve`: the destination gets the source's mode.
fn preserve(ctx: &Ctx<'_>) -> bool {
    ctx.args.str("mode").as_deref() == Some("preserve")
}

/// The requested attributes; with `mode: preserve` the mode of the control-node file `src`
/// (searched in the role's `kind` directory). Inline `content:` has no source file: Ansible
/// writes it to a private temporary file first and preserves that one's mode, 0600.
fn requested_attrs(ctx: &Ctx<'_>, kind: &str, src: Option<&str>) -> Result<Attrs, ModuleError> {
    if !preserve(ctx) {
        return Attrs::from_args(&ctx.args);
    }
    let mode = match src {
        Some(src) => ctx.call.control.local_mode(kind, src)?,
        None => 0o600,
    };
    Ok(Attrs {
        mode: Some(ModeSpec::Octal(mode)),
        owner: ctx.args.str("owner"),
        group: ctx.args.str("group"),
    })
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
    // The hint lets a read-ahead batch stat `dest` together with other paths.
    let mut s = format!("{}d={}\n", crate::probe::stat_hint(dest), sh_quote(dest));
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

/// Brings a destination to `content`: the task's `dest` (`dest: None`, read with the probe the
/// registry declares) or one file of a copied directory. `kind`: the role directory `src` is
/// searched in, for `mode: preserve`.
async fn deliver(
    ctx: &Ctx<'_>,
    content: NewContent,
    src: Option<&str>,
    header: String,
    kind: &str,
    dest: Option<&str>,
) -> Result<ModuleResult, ModuleError> {
    let attrs = requested_attrs(ctx, kind, src)?;
    let mut probed = match dest {
        // The task's own destination: the probe the registry declares.
        None => ctx.read_probe::<DestProbe>().await?,
        // A file of a copied directory.
        Some(dest) => {
            let body = dest_probe_body(resolve_dest(dest, src), ctx.call.diff);
            let out = ctx.exec(with_funcs(&body)).await?;
            DestProbe::parse(&out).map_err(|m| ctx.protocol(m))?
        }
    };
    let dest = match dest {
        Some(dest) => dest.to_string(),
        None => ctx.args.req_str("dest")?,
    };
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
        validate: ctx.args.str("validate"),
        report_md5: true,
        read_back_owner: true,
    };
    let mut res = converge(ctx, target, force || !state.exists).await?;
    if let Some(src) = src {
        res.set("src", src);
    }
    Ok(res)
}

/// Copies (or, in check mode, compares) the directory `$s` on the host into `$t` as Ansible's
/// copy module does with `remote_src`: a missing `$t` is made a copy of the tree (`copytree`,
/// modes and times kept); an existing one gets the files that differ in content and the entries
/// it lacks (`copy_diff_files`, `copy_left_only`, through common directories). Links are
/// followed unless `$follow` is `no`. Prints 1 when something changed.
const REMOTE_TREE: &str = r#"set -e
ch=0
if [ ! -e "$t" ]; then
  ch=1
  if [ -z "$CHECK" ]; then
    mkdir -p -- "$t"
    if [ "$follow" = no ]; then cp -R -P --preserve=mode,timestamps -- "$s/." "$t"
    else cp -R -L --preserve=mode,timestamps -- "$s/." "$t"; fi
  fi
else
  if [ "$follow" = no ]; then L=; else L=-L; fi
  list=$(mktemp)
  (cd -- "$s" && find $L . -mindepth 1 -print) > "$list"
  while IFS= read -r p; do
    p=${p#./}
    if [ -d "$s/$p" ] && { [ "$follow" != no ] || [ ! -L "$s/$p" ]; }; then
      if [ ! -d "$t/$p" ]; then
        ch=1
        if [ -z "$CHECK" ]; then
          mkdir -p -- "$t/$p"
          chmod "$(stat -L -c %a -- "$s/$p")" -- "$t/$p"
        fi
      fi
    elif [ ! -e "$t/$p" ] && [ ! -L "$t/$p" ]; then
      ch=1
      [ -n "$CHECK" ] || cp ${L:--P} --preserve=mode -- "$s/$p" "$t/$p"
    elif [ -f "$s/$p" ] && ! cmp -s -- "$s/$p" "$t/$p"; then
      ch=1
      if [ -z "$CHECK" ]; then
        cp -- "$s/$p" "$t/$p"
        chmod "$(stat -L -c %a -- "$s/$p")" -- "$t/$p"
      fi
    fi
  done < "$list"
  rm -f -- "$list"
fi
if [ -n "$owner$group" ]; then
  spec=$owner${group:+:$group}
  wrong=$(find "$d" ${owner:+! -user "$owner"} -print -quit; find "$d" ${group:+! -group "$group"} -print -quit)
  if [ -n "$wrong" ]; then ch=1; [ -n "$CHECK" ] || chown -R -- "$spec" "$d"; fi
fi
echo "$ch"
"#;

/// A directory copied on the host: what [`REMOTE_TREE`] is given.
struct RemoteTree<'a> {
    src: &'a str,
    dest: &'a str,
    follow: bool,
    owner: String,
    group: String,
    check: bool,
}

impl RemoteTree<'_> {
    fn script(&self) -> String {
        let target = if self.src.ends_with('/') {
            self.dest.to_string()
        } else {
            format!("{}/{}", self.dest.trim_end_matches('/'), basename(self.src))
        };
        let mut script = format!(
            "s={}\nt={}\nd={}\nfollow={}\nowner={}\ngroup={}\nCHECK={}\n",
            sh_quote(self.src.trim_end_matches('/')),
            sh_quote(&target),
            sh_quote(self.dest),
            if self.follow { "yes" } else { "no" },
            sh_quote(&self.owner),
            sh_quote(&self.group),
            if self.check { "1" } else { "" },
        );
        script.push_str(REMOTE_TREE);
        script
    }
}

/// `remote_src: yes` with a directory source: the tree is copied on the host (see
/// [`REMOTE_TREE`]); `src/` copies the directory's content into `dest`, `src` the directory
/// itself into `dest/`. The result has `dest`, `src` and `changed`, as the module's.
async fn copy_remote_tree(ctx: &Ctx<'_>, src: &str) -> Result<ModuleResult, ModuleError> {
    let dest = ctx.args.req_str("dest")?;
    let tree = RemoteTree {
        src,
        dest: &dest,
        follow: ctx.args.bool("local_follow", true)?,
        owner: ctx.args.str("owner").unwrap_or_default(),
        group: ctx.args.str("group").unwrap_or_default(),
        check: ctx.call.check,
    };
    let script = tree.script();
    let out = ctx.exec(script).await?;
    if out.rc != 0 {
        return Ok(ModuleResult::fail(out.stderr_str().trim().to_string()));
    }
    let mut res = ModuleResult::ok();
    res.changed = out.stdout_str().trim() == "1";
    res.set("dest", dest).set("src", src);
    Ok(res)
}

/// `remote_src: yes`: the source is on the host, so the probe stats both and the copy is a
/// `cp` on the host (through a temporary file, so the destination is replaced atomically).
async fn copy_remote(ctx: &Ctx<'_>, src: String) -> Result<ModuleResult, ModuleError> {
    let mut attrs = if preserve(ctx) {
        Attrs {
            owner: ctx.args.str("owner"),
            group: ctx.args.str("group"),
            ..Attrs::default()
        }
    } else {
        Attrs::from_args(&ctx.args)?
    };
    let DestAnswer {
        path,
        state,
        src: src_state,
        ..
    } = ctx.read_probe::<DestProbe>().await?;
    if src_state.is_dir() {
        return copy_remote_tree(ctx, &src).await;
    }
    let Some(src_sum) = src_state.sha1.clone() else {
        return Ok(ModuleResult::fail(format!(
            "Source {src} not found or not a readable regular file"
        )));
    };
    if preserve(ctx) {
        attrs.mode = Some(ModeSpec::Octal(src_state.mode & 0o7777));
    }
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
            let command = ctx.args.str("validate").filter(|_| content_changed);
            if let Some(command) = command {
                let what = crate::modules::write::Validated::HostFile(&src);
                if let Some(failure) = crate::modules::write::validate(ctx, &command, what).await? {
                    return Ok(failure);
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run_tree(src: &str, dest: &str, check: bool) -> String {
        let tree = RemoteTree {
            src,
            dest,
            follow: true,
            owner: String::new(),
            group: String::new(),
            check,
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(tree.script())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    // ansible-core 2.19's copy target, remote_src with directories: `src: dir/` to a missing
    // `dest/` makes dest a copy (changed), a second run is not changed; `src: dir` copies the
    // directory itself into dest; a file that differs is copied again (not in check mode).
    #[test]
    fn remote_directories_are_copied_as_the_module_does() {
        let tmp = tempfile::tempdir().unwrap();
        let p = |rel: &str| tmp.path().join(rel).display().to_string();
        let slash = |rel: &str| format!("{}/", p(rel));
        std::fs::create_dir_all(tmp.path().join("src/sub")).unwrap();
        std::fs::write(tmp.path().join("src/sub/a"), "a").unwrap();
        std::fs::create_dir(tmp.path().join("empty")).unwrap();
        assert_eq!(run_tree(&slash("empty"), &slash("e2"), false), "1");
        assert!(tmp.path().join("e2").is_dir());
        assert_eq!(run_tree(&slash("empty"), &slash("e2"), false), "0");
        assert_eq!(run_tree(&slash("src"), &p("d1"), false), "1");
        let read = |rel: &str| std::fs::read_to_string(tmp.path().join(rel)).unwrap();
        assert_eq!(read("d1/sub/a"), "a");
        assert_eq!(run_tree(&slash("src"), &p("d1"), false), "0");
        std::fs::write(tmp.path().join("src/sub/a"), "b").unwrap();
        assert_eq!(run_tree(&slash("src"), &p("d1"), true), "1");
        assert_eq!(read("d1/sub/a"), "a");
        assert_eq!(run_tree(&slash("src"), &p("d1"), false), "1");
        assert_eq!(read("d1/sub/a"), "b");
        std::fs::create_dir(tmp.path().join("d2")).unwrap();
        assert_eq!(run_tree(&p("src"), &p("d2"), false), "1");
        assert!(tmp.path().join("d2/src/sub/a").is_file());
    }
}
