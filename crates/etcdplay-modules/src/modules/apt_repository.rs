//! `apt_repository`: a one-line apt source (`deb [options] URI suite components`) present or
//! absent. One probe reads `/etc/apt/sources.list` and every `sources.list.d/*.list`; the pure
//! [`SourcesList`] reads each line as Ansible does (a `#` line is a disabled source or a comment,
//! text after a later `#` is a comment, whitespace is normalised), adds the source (enabling a
//! disabled copy of it, else appending it to its own file named after the URI, or `filename`)
//! or removes every enabled copy, and compares the files before and after in that normal form.
//! Only files whose normal form changed are written (a new one with `mode`, default 0644, a
//! file left without lines is deleted), then `apt-get update` when `update_cache` (the files
//! are put back if it keeps failing). PPAs need Launchpad and are refused.

use std::sync::Arc;

use etcdplay_transport::script::sh_quote;
use serde_json::Value;

use crate::host::Ctx;
use crate::probe::{decode_b64, section};
use crate::{Diff, ModuleError, ModuleResult};

const SOURCES_LIST: &str = "/etc/apt/sources.list";
const SOURCES_DIR: &str = "/etc/apt/sources.list.d";
const SOURCE_TYPES: &[&str] = &["deb", "deb-src"];

/// One line of a sources file, as Ansible's `SourcesList` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceLine {
    pub(crate) valid: bool,
    pub(crate) enabled: bool,
    pub(crate) source: String,
    pub(crate) comment: String,
}

impl SourceLine {
    pub(crate) fn parse(line: &str) -> SourceLine {
        let mut line = line.trim();
        let mut enabled = true;
        if let Some(rest) = line.strip_prefix('#') {
            enabled = false;
            line = rest;
        }
        let mut comment = String::new();
        if let Some(i) = line.find('#').filter(|&i| i > 0) {
            comment = line[i + 1..].trim().to_string();
            line = &line[..i];
        }
        let chunks: Vec<&str> = line.split_whitespace().collect();
        let valid = chunks.first().is_some_and(|c| SOURCE_TYPES.contains(c));
        let source = if valid {
            chunks.join(" ")
        } else {
            line.trim().to_string()
        };
        SourceLine {
            valid,
            enabled,
            source,
            comment,
        }
    }

    fn dump(&self) -> String {
        let mut s = String::new();
        if !self.enabled {
            s.push_str("# ");
        }
        s.push_str(&self.source);
        if !self.comment.is_empty() {
            s.push_str(" # ");
            s.push_str(&self.comment);
        }
        s.push('\n');
        s
    }
}

/// One sources file: its path, where writing it goes (a link's target) and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourcesFile {
    pub(crate) path: String,
    pub(crate) real_path: String,
    pub(crate) lines: Vec<SourceLine>,
    /// Created by this task (it gets `mode`).
    pub(crate) new: bool,
}

impl SourcesFile {
    /// The file's text in normal form.
    pub(crate) fn dump(&self) -> String {
        self.lines.iter().map(SourceLine::dump).collect()
    }
}

/// Every sources file apt reads, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SourcesList {
    pub(crate) files: Vec<SourcesFile>,
}

/// The file a new source goes to: `filename` or the source's URI (options, scheme and user
/// dropped, every run of other characters than letters and digits made one `_`), `.list`.
pub(crate) fn suggest_filename(source: &str, filename: Option<&str>) -> String {
    if let Some(f) = filename {
        return format!("{f}.list");
    }
    let mut line = String::new();
    let mut in_options = false;
    for c in source.chars() {
        match c {
            '[' => in_options = true,
            ']' if in_options => in_options = false,
            _ if !in_options => line.push(c),
            _ => {}
        }
    }
    let first = line
        .split_whitespace()
        .find(|p| !SOURCE_TYPES.contains(p))
        .unwrap_or("");
    let no_scheme = match first.find("://") {
        Some(i) if first[..i].chars().all(|c| c.is_alphanumeric() || c == '_') => &first[i + 3..],
        _ => first,
    };
    let no_user = no_scheme
        .split_once('@')
        .map_or(no_scheme, |(_, rest)| rest);
    let cleaned: Vec<&str> = no_user
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect();
    format!("{}.list", cleaned.join("_"))
}

impl SourcesList {
    /// Adds `repo` as Ansible does: every disabled or enabled copy is enabled; with none, it is
    /// appended to `filename` (or the suggested file) in the sources directory.
    pub(crate) fn add(&mut self, repo: &str, filename: Option<&str>) -> Result<(), String> {
        let new = checked(repo)?;
        let mut found = false;
        for file in &mut self.files {
            for line in &mut file.lines {
                if line.valid && line.source == new.source {
                    line.enabled = true;
                    found = true;
                }
            }
        }
        if found {
            return Ok(());
        }
        let name = suggest_filename(&new.source, filename);
        let path = if name.contains('/') {
            name
        } else {
            format!("{SOURCES_DIR}/{name}")
        };
        let line = SourceLine {
            comment: String::new(),
            ..new
        };
        match self.files.iter_mut().find(|f| f.path == path) {
            Some(f) => {
                f.lines.push(line);
                f.new = true;
            }
            None => self.files.push(SourcesFile {
                real_path: path.clone(),
                path,
                lines: vec![line],
                new: true,
            }),
        }
        Ok(())
    }

    /// Removes every enabled copy of `repo`.
    pub(crate) fn remove(&mut self, repo: &str) -> Result<(), String> {
        let gone = checked(repo)?;
        for file in &mut self.files {
            file.lines
                .retain(|l| !(l.valid && l.enabled && l.source == gone.source));
        }
        Ok(())
    }

    /// Each file's normal form, `None` for a file without lines (which is deleted).
    pub(crate) fn dumps(&self) -> Vec<(String, Option<String>)> {
        self.files
            .iter()
            .map(|f| (f.path.clone(), (!f.lines.is_empty()).then(|| f.dump())))
            .collect()
    }
}

/// `repo` as a source line; an invalid or disabled one is refused as Ansible refuses it.
fn checked(repo: &str) -> Result<SourceLine, String> {
    let line = SourceLine::parse(repo);
    if !line.valid || !line.enabled {
        return Err(format!("Invalid repository string: {repo}"));
    }
    Ok(line)
}

/// Reads the probe's `files` section: `file|PATH|REAL` lines each followed by the file's
/// content in base64.
pub(crate) fn parse_files(text: &str) -> SourcesList {
    let mut files = Vec::new();
    let mut lines = text.lines();
    while let Some(head) = lines.next() {
        let Some(rest) = head.strip_prefix("file|") else {
            continue;
        };
        let (path, real) = rest.split_once('|').unwrap_or((rest, rest));
        let b64 = lines.next().unwrap_or_default().to_string();
        let content = decode_b64(Some(&b64.into_bytes())).unwrap_or_default();
        files.push(SourcesFile {
            path: path.to_string(),
            real_path: if real.is_empty() { path } else { real }.to_string(),
            lines: String::from_utf8_lossy(&content)
                .lines()
                .map(SourceLine::parse)
                .collect(),
            new: false,
        });
    }
    SourcesList { files }
}

fn probe_script() -> String {
    format!(
        "{}command -v apt-get >/dev/null && echo yes\n{}for f in {SOURCES_LIST} {SOURCES_DIR}/*.list; do [ -f \"$f\" ] || continue; printf 'file|%s|%s\\n' \"$f\" \"$(readlink -f -- \"$f\")\"; base64 -w0 < \"$f\"; echo; done\n{}",
        section("apt"),
        section("files"),
        section("end")
    )
}

/// The octal mode for new files from `mode` (0644 by default).
fn new_file_mode(ctx: &Ctx<'_>) -> Result<u32, ModuleError> {
    Ok(match ctx.args.mode("mode")? {
        None => 0o644,
        Some(spec) => spec.apply(0o644, false),
    })
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let repo = a.req_str("repo")?;
    if repo.trim().is_empty() {
        return Err(ctx.bad("repo", "Please set argument 'repo' to a non-empty value"));
    }
    if repo.starts_with("ppa:") {
        return Err(ctx.bad(
            "repo",
            "PPA repositories need Launchpad, which etcdplay does not reach; write the deb line",
        ));
    }
    let present = a.choice("state", &["present", "absent"], "present")? == "present";
    let filename = a.str("filename");
    let mode = new_file_mode(ctx)?;
    let s = ctx.probe(&probe_script()).await?;
    if !s.get("apt").is_some_and(|v| v.starts_with(b"yes")) {
        return Ok(ModuleResult::fail(
            "Module apt_repository is not supported on target.",
        ));
    }
    let text = String::from_utf8_lossy(s.get("files").map(Vec::as_slice).unwrap_or_default());
    let before = parse_files(&text);
    let mut after = before.clone();
    let edited = if present {
        after.add(&repo, filename.as_deref())
    } else {
        after.remove(&repo)
    };
    if let Err(msg) = edited {
        return Ok(ModuleResult::fail(msg));
    }
    let (dumps_before, dumps_after) = (before.dumps(), after.dumps());
    let was = |path: &str| {
        dumps_before
            .iter()
            .find(|(p, _)| p == path)
            .and_then(|(_, d)| d.clone())
    };
    let changed_files: Vec<(&SourcesFile, Option<String>, Option<String>)> = after
        .files
        .iter()
        .zip(&dumps_after)
        .map(|(f, (_, d))| (f, was(&f.path), d.clone()))
        .filter(|(_, b, a)| b != a)
        .collect();
    let mut res = ModuleResult::ok();
    res.set("repo", repo.clone())
        .set("state", if present { "present" } else { "absent" });
    let added: Vec<String> = changed_files
        .iter()
        .filter(|(_, b, a)| b.is_none() && a.is_some())
        .map(|(f, _, _)| f.path.clone())
        .collect();
    let removed: Vec<String> = changed_files
        .iter()
        .filter(|(_, b, a)| b.is_some() && a.is_none())
        .map(|(f, _, _)| f.path.clone())
        .collect();
    res.set("sources_added", added.clone())
        .set("sources_removed", removed.clone());
    res.changed = !changed_files.is_empty();
    if res.changed && ctx.call.diff {
        // Ansible shows the files added or removed.
        if let Some((f, b, a)) = changed_files
            .iter()
            .find(|(f, _, _)| added.contains(&f.path) || removed.contains(&f.path))
        {
            res.diff = Some(Diff {
                before: Value::String(b.clone().unwrap_or_default()),
                after: Value::String(a.clone().unwrap_or_default()),
                before_header: Some(if b.is_some() {
                    f.path.clone()
                } else {
                    "/dev/null".into()
                }),
                after_header: Some(if a.is_some() {
                    f.path.clone()
                } else {
                    "/dev/null".into()
                }),
            });
        }
    }
    if !res.changed || ctx.call.check {
        return Ok(res);
    }
    for (file, _, after) in &changed_files {
        write_or_delete(ctx, file, after.as_deref(), file.new.then_some(mode)).await?;
    }
    if a.bool("update_cache", true)? {
        let retries = a.int("update_cache_retries")?.unwrap_or(5).clamp(1, 100);
        let max_delay = a.int("update_cache_retry_max_delay")?.unwrap_or(12).max(0);
        if let Err(err) = update_cache(ctx, retries, max_delay).await? {
            // Put the sources back as they were.
            for (file, before, _) in &changed_files {
                write_or_delete(ctx, file, before.as_deref(), None).await?;
            }
            return Ok(ModuleResult::fail(format!(
                "Failed to update apt cache after {retries} retries: {err}"
            )));
        }
    }
    Ok(res)
}

async fn write_or_delete(
    ctx: &Ctx<'_>,
    file: &SourcesFile,
    text: Option<&str>,
    mode: Option<u32>,
) -> Result<(), ModuleError> {
    match text {
        Some(t) => {
            ctx.put(
                &file.real_path,
                Arc::new(t.as_bytes().to_vec()),
                mode,
                None,
                None,
            )
            .await
        }
        None => {
            let script = format!("rm -f -- {}\n", sh_quote(&file.path));
            match ctx.change(script).await? {
                Ok(_) => Ok(()),
                Err(msg) => Err(ctx.protocol(msg)),
            }
        }
    }
}

/// `apt-get update`, tried `retries` times with a doubling pause of at most `max_delay`
/// seconds, in one request.
async fn update_cache(
    ctx: &Ctx<'_>,
    retries: i64,
    max_delay: i64,
) -> Result<Result<(), String>, ModuleError> {
    let script = format!(
        "i=0; d=1\nwhile :; do\n  if out=$(apt-get update -q 2>&1); then exit 0; fi\n  i=$((i+1)); [ $i -ge {retries} ] && {{ printf '%s\\n' \"$out\" | grep -E '^(E|W):' | tail -n 5 >&2; exit 1; }}\n  sleep $d; d=$((d*2)); [ $d -gt {max_delay} ] && d={max_delay}\ndone\n"
    );
    Ok(ctx.change(script).await?.map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_and_normalised_as_ansible_does() {
        let l = SourceLine::parse(
            "  deb   [arch=amd64]  http://deb.debian.org/debian bookworm main # the base",
        );
        assert!(l.valid && l.enabled);
        assert_eq!(
            l.source,
            "deb [arch=amd64] http://deb.debian.org/debian bookworm main"
        );
        assert_eq!(l.comment, "the base");
        let d = SourceLine::parse("#deb http://x/ y z");
        assert!(d.valid && !d.enabled);
        assert_eq!(d.dump(), "# deb http://x/ y z\n");
        let c = SourceLine::parse("# just words");
        assert!(!c.valid);
        assert_eq!(c.dump(), "# just words\n");
    }

    #[test]
    fn filenames_are_suggested_from_the_uri() {
        // As Ansible 2.19 names them (apt_repository's _suggest_filename).
        assert_eq!(
            suggest_filename(
                "deb http://dl.google.com/linux/chrome/deb/ stable main",
                None
            ),
            "dl_google_com_linux_chrome_deb.list"
        );
        assert_eq!(
            suggest_filename(
                "deb [trusted=yes] https://user:pw@repo.example.com/apt ./",
                None
            ),
            "repo_example_com_apt.list"
        );
        assert_eq!(
            suggest_filename("deb file:/srv/repo ./", None),
            "file_srv_repo.list"
        );
        assert_eq!(suggest_filename("deb x y", Some("etcd")), "etcd.list");
    }

    #[test]
    fn add_enables_a_disabled_copy_and_remove_drops_enabled_ones() {
        let mut list = parse_files(&format!(
            "file|/etc/apt/sources.list|/etc/apt/sources.list\n{}\n",
            base64_of("deb http://deb.debian.org/debian bookworm main\n#deb http://r/ ./\n")
        ));
        let before = list.clone();
        list.add("deb http://r/ ./", None).unwrap();
        assert_eq!(
            list.files[0].dump(),
            "deb http://deb.debian.org/debian bookworm main\ndeb http://r/ ./\n"
        );
        assert_eq!(list.files.len(), 1);
        let mut again = list.clone();
        again.add("deb  http://r/   ./", None).unwrap();
        assert_eq!(again, list, "adding twice changes nothing");
        list.add("deb file:/srv/repo ./", Some("local")).unwrap();
        assert_eq!(list.files[1].path, "/etc/apt/sources.list.d/local.list");
        list.remove("deb file:/srv/repo ./").unwrap();
        assert_eq!(list.dumps()[1].1, None, "an emptied file is deleted");
        assert_ne!(before.dumps(), list.dumps());
        assert!(list.add("#deb http://r/ ./", None).is_err());
        assert!(list.add("http://r/ ./", None).is_err());
    }

    fn base64_of(s: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(s)
    }
}
