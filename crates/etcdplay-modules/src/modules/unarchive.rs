//! `unarchive`: unpack a tar (gz/bz2/xz, detected by tar) or zip archive into an existing
//! directory. A control-node archive is uploaded to a cache directory that only the user the
//! task runs as can write (`/var/cache/etcdplay/archives` for root, `~/.cache/etcdplay/archives`
//! otherwise; made 0700 and checked for owner, mode and symlinks before every use), one archive
//! per destination, so re-runs upload nothing. Never a shared directory such as `/tmp`: a local
//! user who could replace the file between its checksum and `tar` would choose what root
//! extracts. When no such directory can be had, the archive goes to a private `mktemp -d`
//! directory removed after the task, as Ansible's per-task temporary directory is.
//! The archive is then extracted into a scratch directory on the host and compared with `dest`
//! file by file; only if something differs is it copied over, so a second run reports ok.
//! `creates:` short-circuits everything, as in Ansible.

use etcdplay_transport::script::sh_quote;

use crate::host::Ctx;
use crate::mode::ModeSpec;
use crate::modules::write::sha1_hex;
use crate::probe::section;
use crate::{ModuleError, ModuleResult};

fn is_zip(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".zip")
}

/// Shell function `ep_private_dir LEAF`: prints a directory that only the current user can
/// write (`/var/cache/etcdplay/LEAF` for root, `$HOME/.cache/etcdplay/LEAF` otherwise), making
/// it 0700 when missing; fails when it, or `etcdplay` above it, is a link, belongs to someone
/// else or is writable by group or others. Tests point `EP_CACHE_BASE` elsewhere.
const PRIVATE_DIR_FUNC: &str = r#"ep_private_dir() {
  ep_u=$(id -u) || return 1
  if [ "$ep_u" = 0 ]; then ep_b=/var/cache/etcdplay; else ep_b=${HOME:-}/.cache/etcdplay; fi
  ep_b=${EP_CACHE_BASE:-$ep_b}
  case $ep_b in /*) ;; *) return 1;; esac
  { [ -d "$ep_b/$1" ] || (umask 077 && mkdir -p -- "$ep_b/$1"); } 2>/dev/null || return 1
  for ep_x in "$ep_b" "$ep_b/$1"; do
    { [ -d "$ep_x" ] && ! [ -L "$ep_x" ]; } || return 1
    ep_m=$(stat -c '%u %a' -- "$ep_x") || return 1
    [ "${ep_m% *}" = "$ep_u" ] || return 1
    case ${ep_m#* } in *[2367]? | *[2367]) return 1;; esac
  done
  printf '%s\n' "$ep_b/$1"
}
"#;

/// What to extract and how: the archive at shell word `archive` (quoted by the caller, or a
/// variable), into `dest`.
pub(crate) struct Extract<'a> {
    pub(crate) archive: &'a str,
    pub(crate) dest: &'a str,
    pub(crate) zip: bool,
    pub(crate) extra: &'a [String],
    pub(crate) owner: Option<&'a str>,
    pub(crate) group: Option<&'a str>,
    /// `include:`: only these members; `exclude:`: all but these (patterns).
    pub(crate) include: &'a [String],
    pub(crate) exclude: &'a [String],
    /// `mode:` for every extracted entry (links excepted), as Ansible sets it on each.
    pub(crate) mode: Option<&'a ModeSpec>,
    /// `list_files:`: print the archive's member names (after a `files` line) first.
    pub(crate) list_files: bool,
    /// `keep_newer:`: a file in `dest` newer than the archive's member is left alone.
    pub(crate) keep_newer: bool,
    pub(crate) check: bool,
}

/// A pattern as a shell `case` word: its `*`, `?` and `[...]` stay active, every other
/// character is quoted.
fn glob_word(pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| match c {
            '*' | '?' | '[' | ']' | '!' => c.to_string(),
            c if c.is_ascii_alphanumeric() || "-_./".contains(c) => c.to_string(),
            c => format!("\\{c}"),
        })
        .collect()
}

/// The script that extracts the archive to a scratch directory, lists what differs from
/// `dest` and, unless `check`, copies the tree over. Prints `unchanged` or `changed`.
pub(crate) fn extract_script(x: &Extract<'_>) -> String {
    let Extract {
        archive: a,
        dest,
        zip,
        extra,
        owner,
        group,
        check,
        ..
    } = *x;
    let d = sh_quote(dest);
    let quoted = |items: &[String]| items.iter().map(|e| sh_quote(e)).collect::<Vec<_>>();
    let extra = quoted(extra);
    let include = quoted(x.include);
    let listing;
    let extract = if zip {
        let exclude = if x.exclude.is_empty() {
            String::new()
        } else {
            format!(" -x {}", quoted(x.exclude).join(" "))
        };
        let members = include.join(" ");
        listing = format!("unzip -Z1 {a} {members}{exclude}");
        format!("command -v unzip >/dev/null 2>&1 || {{ echo 'unzip is not installed on the host' >&2; exit 5; }}\nunzip -q -o {} {a} {members} -d \"$t\"{exclude}", extra.join(" "))
    } else {
        let exclude: Vec<String> = x
            .exclude
            .iter()
            .map(|e| sh_quote(&format!("--exclude={e}")))
            .collect();
        let members = if include.is_empty() {
            String::new()
        } else {
            format!(" -- {}", include.join(" "))
        };
        listing = format!("tar -t -f {a} {}{members}", exclude.join(" "));
        format!(
            "tar -x -f {a} -C \"$t\" {} {}{members}",
            exclude.join(" "),
            extra.join(" ")
        )
    };
    // The members as Ansible lists them: the same include/exclude selection, and no name an
    // exclude pattern matches (fnmatch, as a shell `case` pattern: `exc/*` drops `exc/` too).
    let drop = if x.exclude.is_empty() {
        String::new()
    } else {
        let patterns: Vec<String> = x.exclude.iter().map(|p| glob_word(p)).collect();
        format!(
            " | while IFS= read -r n; do case $n in {}) ;; *) printf '%s\\n' \"$n\";; esac; done",
            patterns.join("|")
        )
    };
    let list = if x.list_files {
        format!("echo files\n{listing}{drop}\necho end-files\n")
    } else {
        String::new()
    };
    // The requested mode is given to the staged tree first, so comparing and copying it
    // carries the mode over; only then does a mode difference count as a change.
    let chmod = x.mode.map_or(String::new(), |m| {
        format!(
            "find . -mindepth 1 ! -type l -exec chmod {} {{}} +\n",
            sh_quote(&m.to_string())
        )
    });
    let keep = if x.keep_newer { "true &&" } else { "false &&" };
    let mode_check = if x.mode.is_some() {
        " || { ! [ -L \"$f\" ] && [ \"$(stat -c %a \"$f\")\" != \"$(stat -c %a \"$d/$f\")\" ]; }"
    } else {
        ""
    };
    let mut owner_check = String::new();
    if let Some(o) = owner {
        owner_check.push_str(&format!(
            " || [ \"$(stat -c %U \"$d/$f\")\" != {} ]",
            sh_quote(o)
        ));
    }
    if let Some(g) = group {
        owner_check.push_str(&format!(
            " || [ \"$(stat -c %G \"$d/$f\")\" != {} ]",
            sh_quote(g)
        ));
    }
    let mut s = format!(
        "set -e\nd={d}\nt=$(mktemp -d)\ntrap 'rm -rf \"$t\"' EXIT\n\
         if [ -d \"$d\" ]; then chmod --reference=\"$d\" \"$t\"; chown --reference=\"$d\" \"$t\" 2>/dev/null || true; fi\n\
         {list}{extract}\ncd \"$t\"\n{chmod}\
         diffs=$(find . -mindepth 1 | while IFS= read -r f; do\n\
           if [ -L \"$f\" ]; then {{ [ -L \"$d/$f\" ] && [ \"$(readlink \"$f\")\" = \"$(readlink \"$d/$f\")\" ]; }} || {{ echo \"$f\"; continue; }}\n\
           elif [ -d \"$f\" ]; then {{ [ -d \"$d/$f\" ] && ! [ -L \"$d/$f\" ]; }} || {{ echo \"$f\"; continue; }}\n\
           elif {keep} [ \"$d/$f\" -nt \"$f\" ]; then continue\n\
           else cmp -s \"$f\" \"$d/$f\" || {{ echo \"$f\"; continue; }}; fi\n\
           if false{owner_check}{mode_check}; then echo \"$f\"; fi\n\
         done)\n\
         if [ -z \"$diffs\" ]; then echo unchanged; exit 0; fi\necho changed\n"
    );
    if !check {
        // `cp -a .` also copies the staging directory's own mode and owner onto `dest`: the
        // staging directory was given dest's (above), so only an archive's `./` entry changes
        // them, as when tar extracts into dest directly.
        // `keep_newer`: a file in dest newer than the archive's stays (`cp -u`).
        let update = if x.keep_newer { " -u" } else { "" };
        s.push_str(&format!("cp -a{update} . \"$d/\"\n"));
        let tops = "for f in * .[!.]* ..?*; do [ -e \"$f\" ] || [ -L \"$f\" ] || continue;";
        if let Some(o) = owner {
            s.push_str(&format!(
                "{tops} chown -R -h {} \"$d/$f\"; done\n",
                sh_quote(o)
            ));
        }
        if let Some(g) = group {
            s.push_str(&format!(
                "{tops} chgrp -R -h {} \"$d/$f\"; done\n",
                sh_quote(g)
            ));
        }
    }
    s
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let src = a.req_str("src")?;
    let dest = a.req_str("dest")?;
    let remote_src = a.bool("remote_src", false)?;
    let extra = a.list("extra_opts")?.unwrap_or_default();
    let (owner, group) = (a.str("owner"), a.str("group"));
    let local = if remote_src {
        None
    } else {
        Some(ctx.call.control.read_local(&src)?)
    };
    let zip = is_zip(&src);
    let ext = if zip { ".zip" } else { ".tar" };
    // The cached copy's name: one per destination (a new archive for the same `dest` replaces
    // the old one), and the content's sha1 so a changed archive is never taken for the old.
    let cached = local.as_ref().map(|bytes| CachedArchive {
        prefix: format!("{}-", &sha1_hex(dest.as_bytes())[..12]),
        name: format!(
            "{}-{}{ext}",
            &sha1_hex(dest.as_bytes())[..12],
            &sha1_hex(bytes)[..16]
        ),
        sum: sha1_hex(bytes),
    });

    // One round trip in the common case: the probe checks `creates`, `dest` and the archive,
    // and when the archive is already on the host it goes straight on to compare (and
    // extract). Only a first run with a control-node archive needs the upload and a second exec.
    let (set_archive, archive_ok) = match &cached {
        Some(c) => (
            format!(
                "c=$(ep_private_dir archives) || c=\na=\"$c/\"{}\n",
                sh_quote(&c.name)
            ),
            format!(
                "[ -n \"$c\" ] && [ -f \"$a\" ] && [ \"$(sha1sum < \"$a\" | cut -c1-40)\" = {} ]",
                c.sum
            ),
        ),
        None => (
            format!("a={}\n", sh_quote(&src)),
            "[ -f \"$a\" ]".to_string(),
        ),
    };
    let creates = a.str("creates");
    let creates_test = match &creates {
        Some(c) => format!("[ -e {} ]", sh_quote(c)),
        None => "false".to_string(),
    };
    let include = a.list("include")?.unwrap_or_default();
    let exclude = a.list("exclude")?.unwrap_or_default();
    if !include.is_empty() && !exclude.is_empty() {
        return Ok(ModuleResult::fail(
            "parameters are mutually exclusive: exclude|include",
        ));
    }
    let mode = a.mode("mode")?;
    let list_files = a.bool("list_files", false)?;
    let extract = extract_script(&Extract {
        archive: "\"$a\"",
        dest: &dest,
        zip,
        extra: &extra,
        owner: owner.as_deref(),
        group: group.as_deref(),
        include: &include,
        exclude: &exclude,
        mode: mode.as_ref(),
        list_files,
        keep_newer: a.bool("keep_newer", false)?,
        check: ctx.call.check,
    });
    let mut script = String::from(PRIVATE_DIR_FUNC);
    script.push_str(&set_archive);
    script.push_str(&section("cache"));
    script.push_str("printf '%s' \"${c:-}\"\n");
    script.push_str(&section("creates"));
    script.push_str(&format!("{creates_test} && echo yes\n"));
    script.push_str(&section("dest"));
    script.push_str(&format!("[ -d {} ] && echo yes\n", sh_quote(&dest)));
    script.push_str(&section("result"));
    script.push_str(&format!(
        "if ! {creates_test} && [ -d {} ] && {archive_ok}; then ( {extract} ) ; echo \"rc=$?\"; fi\n",
        sh_quote(&dest)
    ));
    script.push_str(&section("end"));
    let (s, probe_err) = ctx.probe_with_stderr(&script).await?;
    let yes = |k: &str| s.get(k).is_some_and(|v| v.starts_with(b"yes"));
    let mut res = ModuleResult::ok();
    res.set("dest", dest.clone())
        .set("src", src.clone())
        .set("handler", if zip { "ZipArchive" } else { "TgzArchive" });
    if yes("creates") {
        res.msg = Some(format!(
            "skipped, since {} exists",
            creates.unwrap_or_default()
        ));
        return Ok(res);
    }
    if !yes("dest") {
        return Ok(ModuleResult::fail(format!(
            "dest '{dest}' must be an existing dir"
        )));
    }
    let mut report =
        String::from_utf8_lossy(s.get("result").map(Vec::as_slice).unwrap_or_default())
            .into_owned();
    let mut stderr = probe_err;
    if report.trim().is_empty() {
        let (Some(bytes), Some(cached)) = (local, &cached) else {
            return Ok(ModuleResult::fail(format!("Source '{src}' does not exist")));
        };
        let cache_dir =
            String::from_utf8_lossy(s.get("cache").map(Vec::as_slice).unwrap_or_default())
                .into_owned();
        let out = upload_and_extract(ctx, cached, &cache_dir, bytes, &extract).await?;
        report = out.stdout_str();
        stderr = out.stderr_str();
    }
    let rc = report
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("rc="))
        .and_then(|r| r.trim().parse::<i32>().ok());
    if rc != Some(0) {
        return Ok(ModuleResult::fail(format!(
            "Failed to unpack {src} into {dest}: {}",
            stderr.trim()
        )));
    }
    let (files, report) = split_file_list(&report);
    if list_files {
        res.set("files", files);
    }
    match report.lines().next().unwrap_or("").trim() {
        "unchanged" => {}
        "changed" => res.changed = true,
        other => return Err(ctx.protocol(format!("unexpected unarchive report '{other}'"))),
    }
    Ok(res)
}

/// With `list_files`, the report starts with the member names between `files` and
/// `end-files` (as `tar -t` and `unzip -Z1` print them): returns them and the rest.
fn split_file_list(report: &str) -> (Vec<String>, String) {
    let Some(rest) = report.strip_prefix("files\n") else {
        return (Vec::new(), report.to_string());
    };
    match rest.split_once("end-files\n") {
        Some((names, rest)) => (names.lines().map(String::from).collect(), rest.to_string()),
        None => (Vec::new(), report.to_string()),
    }
}

/// A control-node archive's name in the host's cache directory.
struct CachedArchive {
    /// What every cached copy for this `dest` starts with.
    prefix: String,
    name: String,
    sum: String,
}

/// Puts a control-node archive on the host and runs `extract` on it: into the private cache
/// directory the probe found (replacing older copies for the same `dest`), or, without one,
/// into a fresh `mktemp -d` directory that is removed afterwards.
async fn upload_and_extract(
    ctx: &Ctx<'_>,
    cached: &CachedArchive,
    cache_dir: &str,
    bytes: Vec<u8>,
    extract: &str,
) -> Result<etcdplay_transport::ExecOutput, ModuleError> {
    let (dir, scratch) = if cache_dir.starts_with('/') {
        let prune = format!(
            "rm -f -- {}/{}*\n",
            sh_quote(cache_dir),
            sh_quote(&cached.prefix)
        );
        if let Err(msg) = ctx.change(prune).await? {
            return Err(ctx.protocol(format!("cannot prune the archive cache: {msg}")));
        }
        (cache_dir.to_string(), false)
    } else {
        match ctx.change("umask 077 && mktemp -d\n".to_string()).await? {
            Ok(out) => (out.stdout_str().trim().to_string(), true),
            Err(msg) => return Err(ctx.protocol(format!("cannot make a private directory: {msg}"))),
        }
    };
    let archive = format!("{dir}/{}", cached.name);
    ctx.put(
        &archive,
        std::sync::Arc::new(bytes),
        Some(0o600),
        None,
        None,
    )
    .await?;
    let cleanup = if scratch {
        format!("rm -rf -- {}\n", sh_quote(&dir))
    } else {
        String::new()
    };
    ctx.exec(format!(
        "a={}\n( {extract} ); r=$?\n{cleanup}echo \"rc=$r\"\n",
        sh_quote(&archive)
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::PRIVATE_DIR_FUNC;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// Runs `ep_private_dir archives` with its base at `base`: the directory it printed.
    fn private_dir(base: &Path) -> Option<String> {
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &format!("{PRIVATE_DIR_FUNC}ep_private_dir archives")])
            .env("EP_CACHE_BASE", base)
            .output()
            .expect("sh");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn the_cache_dir_is_made_private_and_refused_when_others_could_write_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().join("etcdplay");
        let leaf = base.join("archives");
        assert_eq!(private_dir(&base).as_deref(), leaf.to_str());
        assert_eq!((mode(&base), mode(&leaf)), (0o700, 0o700));
        // Found again as it is.
        assert_eq!(private_dir(&base).as_deref(), leaf.to_str());

        for bad in [0o777, 0o1777, 0o770, 0o702] {
            std::fs::set_permissions(&leaf, std::fs::Permissions::from_mode(bad)).expect("chmod");
            assert_eq!(private_dir(&base), None, "leaf mode {bad:o}");
        }
        std::fs::set_permissions(&leaf, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        assert_eq!(private_dir(&base), None, "base open to others");
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(private_dir(&base).as_deref(), leaf.to_str());

        // A link planted where the cache should be is not followed.
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir_all(elsewhere.join("archives")).expect("mkdir");
        let planted = tmp.path().join("planted");
        std::os::unix::fs::symlink(&elsewhere, &planted).expect("symlink");
        assert_eq!(private_dir(&planted), None);
        std::fs::remove_dir(&leaf).expect("rmdir");
        std::os::unix::fs::symlink(elsewhere.join("archives"), &leaf).expect("symlink");
        assert_eq!(private_dir(&base), None, "leaf is a link");
    }

    #[test]
    #[allow(clippy::print_stderr)] // says why the test did nothing
    fn a_cache_dir_owned_by_another_user_is_refused() {
        let uid = std::process::Command::new("id")
            .arg("-u")
            .output()
            .expect("id");
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("not root: cannot give a directory to another user; skipped");
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().join("etcdplay");
        std::fs::create_dir_all(base.join("archives")).expect("mkdir");
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::os::unix::fs::chown(base.join("archives"), Some(65534), Some(65534)).expect("chown");
        assert_eq!(private_dir(&base), None);
    }
}
