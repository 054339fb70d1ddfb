//! `file`: make a path a file, directory, symlink or hard link, touch or remove it, and set
//! mode (octal or symbolic, computed from the current mode), owner and group, optionally
//! recursively. The probe stats the path (and `src`, and with `recurse` every entry below it)
//! in one round trip; the change is one shell script.

use etcdplay_transport::script::sh_quote;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::attrs::Attrs;
use crate::host::Ctx;
use crate::mode::{format_mode, ModeSpec};
use etcdplay_transport::ExecOutput;

use crate::args::Args;
use crate::probe::{parse_sections, section, PathState, FUNCS, NO_SUM};
use crate::read_ahead::{sections, text, with_funcs, FirstProbe, ProbeInput};
use crate::timestamps::{touch_command, TimeArg, DEFAULT_FORMAT};
use crate::{Diff, ModuleError, ModuleResult};

const STATES: &[&str] = &["file", "directory", "absent", "touch", "link", "hard"];

/// The path the task names, without trailing slashes (Ansible strips them too).
fn target_path(args: &Args) -> Result<String, ModuleError> {
    let path = args.req_str("path")?;
    Ok(if path.len() > 1 {
        path.trim_end_matches('/').to_string()
    } else {
        path
    })
}

/// `file`'s probe: the path, `src` (a relative link source is relative to the link's
/// directory) and with `recurse` every entry below the path.
pub(crate) struct FileProbe;

/// What [`FileProbe`] read.
pub(crate) struct FileAnswer {
    stat: PathState,
    src: PathState,
    tree: String,
    /// The seconds `modification_time`/`access_time` name, as the host's `date` read them.
    mtime_want: String,
    atime_want: String,
    /// `owner`/`group` when check mode asked and the host does not know them.
    unknown_ids: Vec<&'static str>,
}

impl FirstProbe for FileProbe {
    type Answer = FileAnswer;
    // Shell functions, sections, `ep_*` reads and variables it sets before reading: no
    // `exit`, options or traps.
    const INLINE: bool = true;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let args = input.args;
        let path = target_path(args)?;
        if let Some(s) = args.str("state") {
            if !STATES.contains(&s.as_str()) {
                return Err(ModuleError::bad(
                    args.module,
                    "state",
                    format!("value '{s}' is not one of: {}", STATES.join(", ")),
                ));
            }
        }
        // `_diff_peek` (Ansible's internal read of whether a file looks binary) sends its own
        // request, and arguments the run refuses send none.
        if args.has("_diff_peek") {
            return Ok(None);
        }
        let touch = args.str("state").as_deref() == Some("touch");
        let Ok(times) = timestamps(args, touch) else {
            return Ok(None);
        };
        let q = sh_quote(&path);
        // No checksum: `file` reports none, and reading the file would move its access time.
        let mut script = format!("{NO_SUM}{}", section("stat"));
        script.push_str(&format!("ep_stat {q}\n"));
        for (name, time) in ["mtime_want", "atime_want"].iter().zip(&times) {
            if let Some(command) = time.probe_command() {
                script.push_str(&section(name));
                script.push_str(&command);
            }
        }
        if let Some(src) = args.str("src") {
            script.push_str(&section("src"));
            let resolved = if src.starts_with('/') {
                src
            } else {
                format!("{}/{}", parent(&path), src)
            };
            script.push_str(&format!("ep_stat {}\n", sh_quote(&resolved)));
        }
        // Ansible's check mode warns about an owner or group the host does not know.
        if input.check && args.str("state").as_deref() != Some("absent") {
            for (name, database) in [("owner", "passwd"), ("group", "group")] {
                if let Some(who) = args.str(name) {
                    script.push_str(&section(&format!("{name}_known")));
                    script.push_str(&format!(
                        "getent {database} {} >/dev/null && echo yes\n",
                        sh_quote(&who)
                    ));
                }
            }
        }
        if args.bool("recurse", false)? {
            script.push_str(&section("tree"));
            // Following links (the default), an entry that is a link is listed as what it
            // points to, and a linked directory's entries are listed too.
            let links = if args.bool("follow", true)? {
                "-L "
            } else {
                ""
            };
            script.push_str(&format!(
                "[ -d {q} ] && find {links}{q} -mindepth 1 -printf '%y|%m|%u|%g|%U|%G\\n' 2>/dev/null | sort -u\n"
            ));
        }
        script.push_str(&section("end"));
        Ok(Some(with_funcs(&script)))
    }

    fn parse(out: &ExecOutput) -> Result<FileAnswer, String> {
        let s = sections(out)?;
        Ok(FileAnswer {
            stat: PathState::parse(&text(&s, "stat"))?,
            src: PathState::parse(&text(&s, "src"))?,
            tree: text(&s, "tree"),
            mtime_want: text(&s, "mtime_want"),
            atime_want: text(&s, "atime_want"),
            unknown_ids: ["owner", "group"]
                .into_iter()
                .filter(|name| {
                    s.contains_key(&format!("{name}_known"))
                        && text(&s, &format!("{name}_known")).trim() != "yes"
                })
                .collect(),
        })
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let mut warnings = Vec::new();
    let mut res = ensure(ctx, &mut warnings).await?;
    if !warnings.is_empty() {
        res.set("warnings", warnings);
    }
    Ok(res)
}

/// The module's work; `warnings` collects Ansible's `module.warn` messages, which a failed
/// result carries too.
async fn ensure(ctx: &Ctx<'_>, warnings: &mut Vec<String>) -> Result<ModuleResult, ModuleError> {
    let args = &ctx.args;
    let path = target_path(args)?;
    if args.has("_diff_peek") {
        return diff_peek(ctx, &path).await;
    }
    let attrs = Attrs::from_args(args)?;
    let recurse = args.bool("recurse", false)?;
    let force = args.bool("force", false)?;
    let src = args.str("src");
    // Ansible's file module follows a symlink by default (`follow: yes`): `state: file`,
    // `directory` and `touch` then act on the path the link resolves to.
    let follow = args.bool("follow", true)?;
    let touch = args.str("state").as_deref() == Some("touch");
    let times = match timestamps(args, touch) {
        Ok(times) => times,
        Err(msg) => return Ok(ModuleResult::fail(msg)),
    };
    let mut q = sh_quote(&path);
    let FileAnswer {
        stat: mut st,
        src: src_st,
        tree,
        mtime_want,
        atime_want,
        unknown_ids,
    } = ctx.read_probe::<FileProbe>().await?;
    warnings.extend(unknown_id_warnings(args, &unknown_ids));
    let wanted_seconds = |t: &str| t.trim().parse::<i64>().ok();
    let wanted = [wanted_seconds(&mtime_want), wanted_seconds(&atime_want)];
    if times
        .iter()
        .zip(&wanted)
        .any(|(t, w)| matches!(t, TimeArg::At(_)) && w.is_none())
    {
        return Ok(ModuleResult::fail(format!(
            "the host could not read the requested time ({})",
            mtime_want.trim()
        )));
    }
    let mut path = path;
    // Ansible's additional_parameter_handling: a directory given as the path of a state
    // other than link or absent stands for the entry named after `src` inside it.
    let into_dir = !matches!(args.str("state").as_deref(), Some("link" | "absent"));
    let inner_name = args
        .str("_original_basename")
        .or_else(|| {
            src.as_deref()
                .map(|s| s.rsplit('/').next().unwrap_or(s).to_string())
        })
        .filter(|name| !name.is_empty());
    if let Some(name) = inner_name.filter(|_| into_dir && st.is_dir()) {
        path = format!("{}/{name}", path.trim_end_matches('/'));
        st = stat_path(ctx, &path).await?;
        q = sh_quote(&path);
    }
    let followed = matches!(
        args.str("state").as_deref(),
        Some("file" | "directory" | "touch")
    );
    if follow && followed && st.is_link() {
        if let Some(real) = st.real_path.clone() {
            st = stat_path(ctx, &real).await?;
            q = sh_quote(&real);
            path = real;
        }
    }

    let state = match args.str("state") {
        Some(s) => s,
        None if recurse => "directory".into(),
        None if st.exists => {
            if st.is_dir() {
                "directory".into()
            } else if st.is_link() {
                "link".into()
            } else {
                "file".into()
            }
        }
        None => "file".into(),
    };
    if recurse && state != "directory" {
        return Err(ctx.bad("recurse", "recurse option requires state to be 'directory'"));
    }
    if src.is_some() && !matches!(state.as_str(), "link" | "hard") {
        return Ok(ModuleResult::fail(
            "src option requires state to be 'link' or 'hard'",
        ));
    }
    let prev = st.state_word();
    let mut res = ModuleResult::ok();
    // Ansible names the path `dest` for touch/link/hard and reports the state the path ends
    // in (a touched path is a `file`).
    let path_key = if matches!(state.as_str(), "touch" | "link" | "hard") {
        "dest"
    } else {
        "path"
    };
    let shown_state = if state == "touch" {
        "file"
    } else {
        state.as_str()
    };
    res.set(path_key, path.clone()).set("state", shown_state);
    // Where a followed link ends up: the file its attributes are set on (Ansible's
    // `load_file_common_arguments` with `follow`).
    let link_end = if state == "link" && follow {
        followed_link_end(ctx, &path, &st, src.as_deref(), &src_st).await?
    } else {
        None
    };
    let mut commands: Vec<String> = Vec::new();
    // The times set, as the diff shows them: (key, before, after) in seconds.
    let mut time_changes: Vec<(&str, f64, f64)> = Vec::new();
    let mut after_mode = st.mode;

    match state.as_str() {
        "absent" => {
            if st.exists {
                commands.push(format!("rm -rf -- {q}"));
            }
        }
        "file" => {
            // Ansible's ensure_file_attributes fails with the path and the state found there.
            if !(st.is_file() || matches!(st.kind, Some(crate::probe::Kind::Other(_)))) {
                let mut failed =
                    ModuleResult::fail(format!("file ({path}) is {prev}, cannot continue"));
                failed.set("path", path.clone()).set("state", prev);
                return Ok(failed);
            }
        }
        "directory" => {
            if st.exists && !st.is_dir() {
                return Ok(ModuleResult::fail(format!(
                    "{path} already exists as a {prev}"
                )));
            }
            if !st.exists {
                commands.push(format!("mkdir -p -- {q}"));
            }
        }
        "touch" => {
            // An existing path is only given the times asked for (none with `preserve`).
            // A file this task creates is removed again when setting its attributes fails
            // (Ansible's execute_touch).
            if !st.exists {
                commands.push(format!(
                    "touch -- {q}\nep_created={q}\ntrap 'rm -f -- \"$ep_created\"' EXIT"
                ));
            }
        }
        "link" => {
            // Without `src`, an existing link keeps the source it has (Ansible reads it when
            // following and the link resolves).
            let kept = st.link_target.clone().filter(|_| link_end.is_some());
            let src_exists = if src.is_some() {
                src_st.exists
            } else {
                kept.is_some()
            };
            let src = src.clone().or(kept);
            if let Some(src) = src.as_deref().filter(|_| !src_exists && !force) {
                return Ok(ModuleResult::fail(format!("src file does not exist, use \"force=yes\" if you really want to create the link: {src}")));
            }
            if st.is_dir() && !force || st.exists && !st.is_dir() && !st.is_link() && !force {
                return Ok(ModuleResult::fail(format!(
                    "refusing to convert from {prev} to symlink for {path}"
                )));
            }
            if let Some(src) = &src {
                res.set("src", src.clone());
            }
            match src.as_deref() {
                None if !st.is_link() => {
                    return Ok(ModuleResult::fail(
                        "src is required for creating new symlinks",
                    ))
                }
                None => {}
                Some(src) if st.is_link() && st.link_target.as_deref() == Some(src) => {}
                Some(src) => {
                    if st.is_dir() {
                        commands.push(format!("rmdir -- {q}"));
                    }
                    commands.push(format!("ln -sfn -- {} {q}", sh_quote(src)));
                }
            }
        }
        _ => {
            // hard, as Ansible's ensure_hardlink decides from the state found at the path.
            // Without `src` an existing hard link only gets its attributes.
            match &src {
                None if prev != "hard" => {
                    return Ok(ModuleResult::fail(
                        "src is required for creating new hardlinks",
                    ))
                }
                None => {}
                Some(src) => match hard_link_plan(prev, force, &st, src, &src_st) {
                    Err(msg) => {
                        let mut failed = ModuleResult::fail(msg);
                        failed.set("dest", path.clone()).set("src", src.clone());
                        return Ok(failed);
                    }
                    Ok(replace) => {
                        res.set("src", src.clone());
                        if replace {
                            commands.push(format!("ln -f -- {} {q}", sh_quote(src)));
                        }
                    }
                },
            }
        }
    }
    let created = !commands.is_empty();

    // In check mode an owner or group name the host does not know fails on an existing path,
    // as Ansible's set_owner_if_different looks the name up before it returns.
    if ctx.call.check && st.exists && state != "absent" {
        if let Some(msg) = unknown_name_failure(args, &unknown_ids) {
            let mut failed = ModuleResult::fail(msg);
            failed.set("path", path.clone());
            return Ok(failed);
        }
    }
    if state != "absent" {
        // Attributes apply to what will be there: the existing path, or a new one with the
        // default mode of its kind.
        let is_link = matches!(state.as_str(), "link");
        let base = if st.exists && !(is_link && created) {
            st.clone()
        } else {
            let default_mode = if state == "directory" { 0o755 } else { 0o644 };
            PathState {
                exists: true,
                kind: Some(if is_link {
                    crate::probe::Kind::Link
                } else if state == "directory" {
                    crate::probe::Kind::Dir
                } else {
                    crate::probe::Kind::File
                }),
                mode: default_mode,
                owner: String::new(),
                group: String::new(),
                uid: u32::MAX,
                gid: u32::MAX,
                ..PathState::default()
            }
        };
        let plan = match (&link_end, is_link && follow) {
            (Some((end, end_st)), true) => attrs.plan(end, end_st),
            (None, true) => {
                if st.exists || !ctx.call.check {
                    warnings.push(UNRESOLVED_LINK_WARNING.to_string());
                }
                attrs.plan(&path, &PathState::default())
            }
            _ => attrs.plan(&path, &base),
        };
        after_mode = plan.mode;
        commands.extend(plan.commands.iter().cloned());
        if !plan.owner.is_empty() {
            res.set("owner", plan.owner.clone());
        }
        if !plan.group.is_empty() {
            res.set("group", plan.group.clone());
        }
        if !is_link {
            res.set("mode", format_mode(plan.mode));
        }
        if recurse {
            commands.extend(recurse_commands(&path, &attrs, &tree, follow));
        }
        if matches!(state.as_str(), "file" | "directory" | "touch") {
            let current = [base.mtime, base.atime];
            let both_now = times.iter().all(|t| *t == TimeArg::Now);
            for ((time, flag), (want, now)) in times
                .iter()
                .zip(["-m", "-a"])
                .zip(wanted.iter().zip(current))
            {
                // A touch that creates the file already gives it the current times.
                let fresh = state == "touch" && !st.exists && *time == TimeArg::Now;
                if let Some(seconds) = time.plan(*want, now).filter(|_| !fresh) {
                    // Both times "now" are set in one call, which (as Ansible's
                    // `os.utime(path, None)`) a user who may write the file but does not own it
                    // may make.
                    if !both_now {
                        commands.push(touch_command(flag, seconds, &q));
                    } else if flag == "-m" {
                        commands.push(format!("touch -c -- {q}"));
                    }
                    let key = if flag == "-m" { "mtime" } else { "atime" };
                    time_changes.push((key, now, seconds.map_or_else(now_seconds, |s| s as f64)));
                }
            }
        }
    }

    res.changed = !commands.is_empty();
    // Ansible's file module returns its diff whenever diff mode is on, changed or not.
    if ctx.call.diff {
        let mut diff = state_diff(
            &path,
            prev,
            &state,
            match &link_end {
                Some((_, end_st)) => Some(end_st.mode),
                None => st.exists.then_some(st.mode),
            },
            (state != "absent").then_some(after_mode),
        );
        if let Some(new_src) = src
            .as_deref()
            .filter(|_| matches!(state.as_str(), "link" | "hard"))
        {
            add_link_source_change(&mut diff, &st, new_src);
        }
        if state == "absent" && st.is_dir() {
            let content = directory_content(ctx, &path).await?;
            diff_insert(&mut diff.before, "path_content", content);
        }
        for (key, before, after) in &time_changes {
            diff_insert(&mut diff.before, key, Value::from(*before));
            diff_insert(&mut diff.after, key, Value::from(*after));
        }
        res.diff = Some(diff);
    }
    let mut after = (!res.changed).then(|| st.clone());
    if res.changed && !ctx.call.check {
        // The change script ends by stating the path, so the result can report the real
        // uid/gid/size/mode without another round trip.
        let commands = match agent_mkdir_hint(&state, &commands, &q, &path) {
            Some(hint) => format!(
                "{hint}set -e\nif [ \"${{ep_ag_mkdir-}}\" != done ]; then\n{}\nfi",
                commands.join("\n")
            ),
            None => format!("set -e\n{}", commands.join("\n")),
        };
        let script = format!(
            "{commands}\ntrap - EXIT\n{FUNCS}{NO_SUM}{}ep_stat {q}\n",
            section("after")
        );
        match ctx.change(script).await? {
            Err(msg) => return Ok(ModuleResult::fail(msg)),
            Ok(out) => {
                let s = parse_sections(&out.stdout);
                let text =
                    String::from_utf8_lossy(s.get("after").map(Vec::as_slice).unwrap_or_default())
                        .into_owned();
                after = PathState::parse(&text).ok();
            }
        }
    }
    let wanted_attrs = args.str("attributes").filter(|a| !a.is_empty());
    if let Some(wanted) = wanted_attrs.filter(|_| state != "absent" && state != "link") {
        match apply_attributes(ctx, &path, &wanted, st.exists).await? {
            Ok(changed) => res.changed |= changed,
            Err(failed) => return Ok(failed),
        }
    }
    if let Some(a) = after.filter(|a| a.exists) {
        res.set("uid", a.uid)
            .set("gid", a.gid)
            .set("owner", a.owner.clone())
            .set("group", a.group.clone())
            .set("size", a.size);
        if !a.is_link() {
            res.set("mode", format_mode(a.mode));
        }
    }
    Ok(res)
}

/// Whether `state: hard` replaces what is at the path with a link to `src`, or why it refuses
/// (Ansible's ensure_hardlink, by the state found there).
fn hard_link_plan(
    prev: &str,
    force: bool,
    st: &PathState,
    src: &str,
    src_st: &PathState,
) -> Result<bool, String> {
    if !src_st.exists {
        return Err("src does not exist".into());
    }
    let same = st.exists && st.inode == src_st.inode && st.dev == src_st.dev;
    match prev {
        "absent" => Ok(true),
        "link" => Ok(st.link_target.as_deref() != Some(src)),
        "hard" if !same && !force => {
            Err("Cannot link, different hard link exists at destination".into())
        }
        "hard" => Ok(!same),
        "directory" if same => Ok(false),
        "directory" => Err("Cannot link: different hard link exists at destination".into()),
        _ if !force => Err(format!("Cannot link, {prev} exists at destination")),
        _ => Ok(true),
    }
}

/// Ansible's check-mode warnings (`check_owner_exists`, `check_group_exists`) for the ids
/// the host does not know; a number is looked up as a uid or gid.
fn unknown_id_warnings(args: &Args, unknown: &[&str]) -> Vec<String> {
    unknown
        .iter()
        .filter_map(|name| {
            let who = args.str(name)?;
            let kind = if *name == "owner" { "user" } else { "group" };
            let id_word = if *name == "owner" { "uid" } else { "gid" };
            let what = match who.parse::<u64>() {
                Ok(id) => format!("{kind} with {id_word} {id}"),
                Err(_) => format!("{kind} {who}"),
            };
            Some(format!(
                "failed to look up {what}. Create {kind} up to this point in real play"
            ))
        })
        .collect()
}

/// Ansible's failure for the first unknown owner or group given by name (a number is used as
/// it is).
fn unknown_name_failure(args: &Args, unknown: &[&str]) -> Option<String> {
    unknown.iter().find_map(|name| {
        let who = args.str(name)?;
        if who.parse::<u64>().is_ok() {
            return None;
        }
        Some(if *name == "owner" {
            format!("chown failed: failed to look up user {who}")
        } else {
            format!("chgrp failed: failed to look up group {who}")
        })
    })
}

/// Ansible's warning when `follow` meets a link whose target does not exist.
const UNRESOLVED_LINK_WARNING: &str = "Cannot set fs attributes on a non-existent symlink \
     target. follow should be set to False to avoid this.";

/// The path a followed link resolves to once the task is done, and its state there, when it
/// exists: the given `src` (itself resolved when a link), else the link's current target.
async fn followed_link_end(
    ctx: &Ctx<'_>,
    path: &str,
    st: &PathState,
    src: Option<&str>,
    src_st: &PathState,
) -> Result<Option<(String, PathState)>, ModuleError> {
    let end = match src {
        Some(_) if !src_st.exists => return Ok(None),
        Some(src) if !src_st.is_link() => {
            let resolved = if src.starts_with('/') {
                src.to_string()
            } else {
                format!("{}/{}", parent(path), src)
            };
            return Ok(Some((resolved, src_st.clone())));
        }
        Some(_) => src_st.real_path.clone(),
        None if st.is_link() => st.real_path.clone(),
        None => None,
    };
    let Some(end) = end else {
        return Ok(None);
    };
    let end_st = stat_path(ctx, &end).await?;
    Ok(end_st.exists.then_some((end, end_st)))
}

/// `_diff_peek`: whether the file's first 8 KiB hold a NUL byte (`appears_binary`), what
/// Ansible's diff asks the file module before showing a file; changes nothing.
async fn diff_peek(ctx: &Ctx<'_>, path: &str) -> Result<ModuleResult, ModuleError> {
    let q = sh_quote(path);
    let out = ctx
        .exec(format!(
            "[ -f {q} ] && [ -r {q} ] || exit 0\n\
             all=$(head -c 8192 -- {q} | wc -c)\ntext=$(head -c 8192 -- {q} | tr -d '\\000' | wc -c)\n\
             [ \"$all\" = \"$text\" ] || echo binary\n"
        ))
        .await?;
    let mut res = ModuleResult::ok();
    res.set("path", path)
        .set("appears_binary", out.stdout_str().trim() == "binary");
    Ok(res)
}

/// The `chattr` argument that brings a file's attribute flags (`lsattr` letters, `-` removed)
/// to `wanted` (`+A`, `-A`, or `A` for exactly these), or `None` when they are: Ansible's rule,
/// which compares the flags as a string and always runs a removal.
pub(crate) fn chattr_arg(existing: &str, wanted: &str) -> Option<String> {
    let (op, flags) = match wanted.as_bytes().first() {
        Some(b'+') | Some(b'-') => wanted.split_at(1),
        _ => ("=", wanted),
    };
    (!flags.is_empty() && (existing != flags || op == "-")).then(|| format!("{op}{flags}"))
}

/// `attributes:` (chattr flags): read with `lsattr`, set with `chattr`, as Ansible does
/// (a failure is "chattr failed" with the command's output in `details`). A path that does not
/// exist yet in check mode is a change.
async fn apply_attributes(
    ctx: &Ctx<'_>,
    path: &str,
    wanted: &str,
    existed: bool,
) -> Result<Result<bool, ModuleResult>, ModuleError> {
    if ctx.call.check && !existed {
        return Ok(Ok(true));
    }
    // chattr and lsattr take no `--`: a path is made to not look like an option.
    let arg_path = if path.starts_with('-') {
        format!("./{path}")
    } else {
        path.to_string()
    };
    let q = sh_quote(&arg_path);
    let out = ctx
        .exec(format!("lsattr -d {q} 2>/dev/null | cut -d' ' -f1\n"))
        .await?;
    let existing = out.stdout_str().trim().replace('-', "");
    let Some(arg) = chattr_arg(&existing, wanted) else {
        return Ok(Ok(false));
    };
    if ctx.call.check {
        return Ok(Ok(true));
    }
    let out = ctx.exec(format!("chattr {} {q}\n", sh_quote(&arg))).await?;
    if out.rc != 0 || !out.stderr.is_empty() {
        let mut failed = ModuleResult::fail("chattr failed");
        failed.set("path", path).set(
            "details",
            format!(
                "Error while setting attributes: {}{}",
                out.stdout_str(),
                out.stderr_str()
            ),
        );
        return Ok(Err(failed));
    }
    Ok(Ok(true))
}

/// The `modification_time` and `access_time` arguments, in that order.
fn timestamps(args: &crate::args::Args, touch: bool) -> Result<[TimeArg; 2], String> {
    let one = |name: &str| {
        let format = args
            .str(&format!("{name}_format"))
            .unwrap_or_else(|| DEFAULT_FORMAT.to_owned());
        TimeArg::parse(args.str(name).as_deref(), &format, touch)
    };
    Ok([one("modification_time")?, one("access_time")?])
}

/// The state of one path, in a probe of its own (the target of a followed link).
async fn stat_path(ctx: &Ctx<'_>, path: &str) -> Result<PathState, ModuleError> {
    let script = format!(
        "{NO_SUM}{}ep_stat {}\n{}",
        section("stat"),
        sh_quote(path),
        section("end")
    );
    let s = ctx.probe(&script).await?;
    let text =
        String::from_utf8_lossy(s.get("stat").map(Vec::as_slice).unwrap_or_default()).into_owned();
    PathState::parse(&text).map_err(|m| ctx.protocol(m))
}

fn parent(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) => "/",
        Some((dir, _)) => dir,
        None => ".",
    }
}

/// Recursive attribute commands, only when some entry below the directory differs. `tree` is
/// the sorted, de-duplicated `type|mode|user|group|uid|gid` lines of every entry. With
/// `follow` (Ansible's `recursive_set_attributes`), a link's ownership is set on the link and
/// on what it points to, its mode on what it points to, and a linked directory's entries too.
fn recurse_commands(path: &str, attrs: &Attrs, tree: &str, follow: bool) -> Vec<String> {
    let q = sh_quote(path);
    let entries: Vec<Vec<&str>> = tree
        .lines()
        .map(|l| l.split('|').collect::<Vec<_>>())
        .filter(|f| f.len() == 6)
        .collect();
    let mut out = Vec::new();
    if let Some(o) = &attrs.owner {
        if entries.iter().any(|f| f[2] != o && f[4] != o) {
            out.push(format!("chown -R -h -- {} {q}", sh_quote(o)));
            if follow {
                out.push(format!("chown -R -L -- {} {q}", sh_quote(o)));
            }
        }
    }
    if let Some(g) = &attrs.group {
        if entries.iter().any(|f| f[3] != g && f[5] != g) {
            out.push(format!("chgrp -R -h -- {} {q}", sh_quote(g)));
            if follow {
                out.push(format!("chgrp -R -L -- {} {q}", sh_quote(g)));
            }
        }
    }
    if let Some(spec) = &attrs.mode {
        let differs = entries.iter().filter(|f| f[0] != "l").any(|f| {
            let cur = u32::from_str_radix(f[1], 8).unwrap_or(0);
            spec.apply(cur, f[0] == "d") != cur
        });
        if differs {
            let links = if follow { "-L " } else { "" };
            let mode = match spec {
                ModeSpec::Octal(m) => format!("{m:o}"),
                ModeSpec::Symbolic(_) => sh_quote(&symbolic_for_chmod(spec)),
            };
            out.push(format!(
                "find {links}{q} -mindepth 1 ! -type l -exec chmod {mode} {{}} +"
            ));
        }
    }
    out
}

/// Our symbolic clauses with explicit "who", so chmod's umask rule cannot differ from ours.
fn symbolic_for_chmod(spec: &ModeSpec) -> String {
    match spec {
        ModeSpec::Octal(m) => format!("{m:o}"),
        ModeSpec::Symbolic(_) => format!("{spec}"),
    }
}

fn state_diff(
    path: &str,
    before: &str,
    after: &str,
    before_mode: Option<u32>,
    after_mode: Option<u32>,
) -> Diff {
    // As Ansible's file module: both sides name the path; `state` only when it changes, and
    // `mode` only when it changes (a new path shows the mode it gets).
    let mode_changed = before_mode != after_mode && after_mode.is_some();
    let side = |state: &str, mode: Option<u32>| {
        let mut m = Map::new();
        m.insert("path".into(), Value::String(path.to_string()));
        if before != after {
            m.insert("state".into(), Value::String(state.to_string()));
        }
        if let Some(mode) = mode.filter(|_| mode_changed) {
            m.insert("mode".into(), Value::String(format_mode(mode)));
        }
        Value::Object(m)
    };
    Diff {
        before: side(before, before_mode),
        after: side(after, after_mode),
        before_header: None,
        after_header: None,
    }
}

/// Ansible's `ensure_symlink`/`ensure_hardlink`: when the path is a link to another source,
/// both sides of the diff show the source (`before` as the link reads, `after` as given).
fn add_link_source_change(diff: &mut Diff, st: &PathState, new_src: &str) {
    let Some(old_src) = st.link_target.as_deref().filter(|_| st.is_link()) else {
        return;
    };
    if old_src == new_src {
        return;
    }
    diff_insert(&mut diff.before, "src", Value::from(old_src));
    diff_insert(&mut diff.after, "src", Value::from(new_src));
}

/// What removing a directory removes, as Ansible's diff lists it (`path_content`): one
/// `find` listing (NUL-separated `TYPE|PATH`, the type through links) walked as `os.walk`.
async fn directory_content(ctx: &Ctx<'_>, path: &str) -> Result<Value, ModuleError> {
    let out = ctx
        .exec(format!(
            "find {} -mindepth 1 -printf '%Y|%p\\0'",
            sh_quote(path)
        ))
        .await?;
    Ok(walk_listing(path, &String::from_utf8_lossy(&out.stdout)))
}

/// Python's `os.walk(top)` (top-down, links not followed) over a `find` listing: each
/// directory's sub-directories (a link to a directory counts as one) and files in listing
/// order, a directory's own entries before those of the directories below it.
fn walk_listing(top: &str, listing: &str) -> Value {
    let mut children: BTreeMap<&str, Vec<(bool, &str)>> = BTreeMap::new();
    for entry in listing.split('\0').filter(|e| !e.is_empty()) {
        let Some((kind, entry_path)) = entry.split_once('|') else {
            continue;
        };
        let parent = entry_path.rsplit_once('/').map_or("", |(p, _)| p);
        children
            .entry(parent)
            .or_default()
            .push((kind == "d", entry_path));
    }
    let (mut directories, mut files) = (Vec::new(), Vec::new());
    let mut queue = vec![top.trim_end_matches('/')];
    while let Some(dir) = queue.pop() {
        let entries = children.get(dir).map(Vec::as_slice).unwrap_or_default();
        let mut below = Vec::new();
        for (is_dir, p) in entries {
            if *is_dir {
                // A link to a directory has no entries of its own in the listing, so it is
                // listed and not walked, as os.walk does.
                directories.push(Value::from(*p));
                below.push(*p);
            } else {
                files.push(Value::from(*p));
            }
        }
        queue.extend(below.into_iter().rev());
    }
    serde_json::json!({ "directories": directories, "files": files })
}

/// Adds `key` to one side of a state diff (an object).
fn diff_insert(side: &mut Value, key: &str, value: Value) {
    if let Value::Object(m) = side {
        m.insert(key.to_string(), value);
    }
}

/// The control node's clock, for a diff's "now" (Ansible also shows its own clock there, not
/// the time the host recorded).
fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The host agent's prefill line that has it make the directory itself (`etcdplay-agent`'s
/// `mkdir.rs`: `mkdir:MODE:PATH`, the path in hex), for a change that is only `mkdir -p` and
/// at most a numeric `chmod` of the same path; the script then skips both.
fn agent_mkdir_hint(state: &str, commands: &[String], q: &str, path: &str) -> Option<String> {
    if state != "directory" {
        return None;
    }
    let mode = match commands {
        [mkdir] if *mkdir == format!("mkdir -p -- {q}") => "-",
        [mkdir, chmod] if *mkdir == format!("mkdir -p -- {q}") => chmod
            .strip_prefix("chmod ")?
            .strip_suffix(&format!(" -- {q}"))
            .filter(|d| !d.is_empty() && d.bytes().all(|b| (b'0'..=b'7').contains(&b)))?,
        _ => return None,
    };
    Some(format!(
        "{}mkdir:{mode}:{}\n",
        etcdplay_transport::AGENT_PREFILL_HINT,
        etcdplay_transport::agent_hint_path(path)
    ))
}

#[cfg(test)]
mod tests {
    use super::chattr_arg;

    // Ansible's set_attributes_if_different: `A` on a file whose lsattr flags are "e" runs
    // `chattr =A`; `+A` once the flags are "A" does nothing; `-A` always runs; "" nothing.
    // Python's os.walk over /t holding a/x, a/b/y, c (a link to a), f:
    // {'directories': ['/t/a', '/t/c', '/t/a/b'], 'files': ['/t/f', '/t/a/x', '/t/a/b/y']}
    #[test]
    fn path_content_is_listed_as_os_walk_lists_it() {
        let listing = "d|/t/a\0f|/t/a/x\0d|/t/a/b\0f|/t/a/b/y\0d|/t/c\0f|/t/f\0";
        assert_eq!(
            super::walk_listing("/t", listing),
            serde_json::json!({
                "directories": ["/t/a", "/t/c", "/t/a/b"],
                "files": ["/t/f", "/t/a/x", "/t/a/b/y"],
            })
        );
    }

    #[test]
    fn chattr_follows_ansibles_comparison() {
        assert_eq!(chattr_arg("e", "A").as_deref(), Some("=A"));
        assert_eq!(chattr_arg("A", "+A"), None);
        assert_eq!(chattr_arg("e", "+A").as_deref(), Some("+A"));
        assert_eq!(chattr_arg("", "-A").as_deref(), Some("-A"));
        assert_eq!(chattr_arg("A", ""), None);
    }
}
