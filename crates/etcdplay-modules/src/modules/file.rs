//! `file`: make a path a file, directory, symlink or hard link, touch or remove it, and set
//! mode (octal or symbolic, computed from the current mode), owner and group, optionally
//! recursively. The probe stats the path (and `src`, and with `recurse` every entry below it)
//! in one round trip; the change is one shell script.

use etcdplay_transport::script::sh_quote;
use serde_json::{Map, Value};

use crate::attrs::Attrs;
use crate::host::Ctx;
use crate::mode::{format_mode, ModeSpec};
use etcdplay_transport::ExecOutput;

use crate::args::Args;
use crate::probe::{parse_sections, section, PathState, FUNCS};
use crate::read_ahead::{sections, text, with_funcs, FirstProbe, ProbeInput};
use crate::timestamps::{touch_command, TimeArg, DEFAULT_FORMAT};
use crate::{Diff, ModuleError, ModuleResult};

/// Makes `ep_stat` skip the file's checksum.
const NO_SUM: &str = "EP_NO_SUM=1\n";

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
}

impl FirstProbe for FileProbe {
    type Answer = FileAnswer;

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
        if args.bool("recurse", false)? {
            script.push_str(&section("tree"));
            script.push_str(&format!(
                "[ -d {q} ] && find {q} -mindepth 1 -printf '%y|%m|%u|%g|%U|%G\\n' | sort -u\n"
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
        })
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
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
    } = ctx.read_probe::<FileProbe>().await?;
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
    let mut commands: Vec<String> = Vec::new();
    let mut after_mode = st.mode;

    match state.as_str() {
        "absent" => {
            if st.exists {
                commands.push(format!("rm -rf -- {q}"));
            }
        }
        "file" => {
            if !st.exists {
                return Ok(ModuleResult::fail(format!(
                    "file ({path}) is absent, cannot continue"
                )));
            }
            if st.is_link() {
                return Ok(ModuleResult::fail(format!(
                    "file ({path}) is link, cannot continue"
                )));
            }
            if st.is_dir() {
                return Ok(ModuleResult::fail(format!(
                    "file ({path}) is directory, cannot continue"
                )));
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
            commands.push(format!("touch -- {q}"));
        }
        "link" => {
            let Some(src) = &src else {
                return Err(ModuleError::missing("file", "src"));
            };
            if !src_st.exists && !force {
                return Ok(ModuleResult::fail(format!("src file does not exist, use \"force=yes\" if you really want to create the link: {src}")));
            }
            res.set("src", src.clone());
            if !(st.is_link() && st.link_target.as_deref() == Some(src.as_str())) {
                if st.is_dir() {
                    if !force {
                        return Ok(ModuleResult::fail(format!(
                            "refusing to convert from directory to symlink for {path}"
                        )));
                    }
                    commands.push(format!("rmdir -- {q}"));
                } else if st.exists && !st.is_link() && !force {
                    return Ok(ModuleResult::fail(format!(
                        "refusing to convert from {prev} to symlink for {path}"
                    )));
                }
                commands.push(format!("ln -sfn -- {} {q}", sh_quote(src)));
            }
        }
        _ => {
            // hard
            let Some(src) = &src else {
                return Err(ModuleError::missing("file", "src"));
            };
            if !src_st.exists {
                return Ok(ModuleResult::fail(format!("src does not exist: {src}")));
            }
            res.set("src", src.clone());
            let same = st.exists && st.inode == src_st.inode && st.dev == src_st.dev;
            if !same {
                if st.is_dir() {
                    return Ok(ModuleResult::fail(format!(
                        "refusing to convert from directory to hard link for {path}"
                    )));
                }
                commands.push(format!("ln -f -- {} {q}", sh_quote(src)));
            }
        }
    }
    let created = !commands.is_empty();

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
        let plan = attrs.plan(&path, &base);
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
            commands.extend(recurse_commands(&path, &attrs, &tree));
        }
        if matches!(state.as_str(), "file" | "directory" | "touch") {
            let current = [base.mtime, base.atime];
            for ((time, flag), (want, now)) in times
                .iter()
                .zip(["-m", "-a"])
                .zip(wanted.iter().zip(current))
            {
                // A touch that creates the file already gives it the current times.
                let fresh = state == "touch" && !st.exists && *time == TimeArg::Now;
                if let Some(seconds) = time.plan(*want, now).filter(|_| !fresh) {
                    commands.push(touch_command(flag, seconds, &q));
                }
            }
        }
    }

    res.changed = !commands.is_empty();
    if res.changed && ctx.call.diff {
        res.diff = Some(state_diff(
            &path,
            prev,
            &state,
            st.exists.then_some(st.mode),
            (state != "absent").then_some(after_mode),
        ));
    }
    let mut after = (!res.changed).then(|| st.clone());
    if res.changed && !ctx.call.check {
        // The change script ends by stating the path, so the result can report the real
        // uid/gid/size/mode without another round trip.
        let script = format!(
            "set -e\n{}\n{FUNCS}{NO_SUM}{}ep_stat {q}\n",
            commands.join("\n"),
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
/// the sorted, de-duplicated `type|mode|user|group|uid|gid` lines of every entry.
fn recurse_commands(path: &str, attrs: &Attrs, tree: &str) -> Vec<String> {
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
        }
    }
    if let Some(g) = &attrs.group {
        if entries.iter().any(|f| f[3] != g && f[5] != g) {
            out.push(format!("chgrp -R -h -- {} {q}", sh_quote(g)));
        }
    }
    if let Some(spec) = &attrs.mode {
        let differs = entries.iter().filter(|f| f[0] != "l").any(|f| {
            let cur = u32::from_str_radix(f[1], 8).unwrap_or(0);
            spec.apply(cur, f[0] == "d") != cur
        });
        if differs {
            out.push(match spec {
                ModeSpec::Octal(m) => {
                    format!("find {q} -mindepth 1 ! -type l -exec chmod {m:o} {{}} +")
                }
                ModeSpec::Symbolic(_) => format!(
                    "find {q} -mindepth 1 ! -type l -exec chmod {} {{}} +",
                    sh_quote(&symbolic_for_chmod(spec))
                ),
            });
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

#[cfg(test)]
mod tests {
    use super::chattr_arg;

    // Ansible's set_attributes_if_different: `A` on a file whose lsattr flags are "e" runs
    // `chattr =A`; `+A` once the flags are "A" does nothing; `-A` always runs; "" nothing.
    #[test]
    fn chattr_follows_ansibles_comparison() {
        assert_eq!(chattr_arg("e", "A").as_deref(), Some("=A"));
        assert_eq!(chattr_arg("A", "+A"), None);
        assert_eq!(chattr_arg("e", "+A").as_deref(), Some("+A"));
        assert_eq!(chattr_arg("", "-A").as_deref(), Some("-A"));
        assert_eq!(chattr_arg("A", ""), None);
    }
}
