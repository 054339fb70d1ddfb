//! `find`: files of the host's directories chosen by name (shell globs or regular expressions,
//! with exclusions), type, age, size, mode and hidden-ness, with their stat fields, as Ansible's
//! module returns them. One `find -printf` per run lists every entry the walk sees (NUL
//! separated, the path last, so no file name can forge a field), and the pure [`select`] does
//! what Ansible's walk does: the same order (a directory's files, then its subdirectories, then
//! each subdirectory in turn), the same `examined` count (hidden entries and those one level past
//! `depth` are counted, as Ansible's walk lists them), the same filters. Only `contains` (file
//! contents, matched as Python's `re.match` per line or `re.search` on the whole file) and
//! `get_checksum` need a second request, for the files still chosen. Never a change.

use std::collections::HashMap;

use base64::Engine;
use etcdplay_source::{compile_python_regex, PyReFlags};
use etcdplay_transport::script::sh_quote;
use fancy_regex::Regex;
use serde_json::{json, Map, Value};

use crate::args::Args;
use crate::host::Ctx;
use crate::mode::ModeSpec;
use crate::probe::section;
use crate::read_ahead::{sections, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::{ModuleError, ModuleResult};
use etcdplay_transport::ExecOutput;

/// One entry `find -printf` described.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) depth: usize,
    /// `find`'s type letter of the entry itself (`f`, `d`, `l`, ...).
    pub(crate) kind: char,
    /// Whether the walk descends into it (a directory, or a link to one).
    pub(crate) walk_dir: bool,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) user: String,
    pub(crate) group: String,
    pub(crate) size: u64,
    pub(crate) inode: u64,
    pub(crate) dev: u64,
    pub(crate) nlink: u64,
    pub(crate) atime: f64,
    pub(crate) mtime: f64,
    pub(crate) ctime: f64,
    pub(crate) path: String,
}

/// The `-printf` format [`parse_listing`] reads.
const PRINTF: &str = "%d|%y|%Y|%m|%U|%G|%u|%g|%s|%i|%D|%n|%A@|%T@|%C@|%p\\0";

/// Parses the NUL-separated records of a listing.
pub(crate) fn parse_listing(out: &[u8]) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for rec in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let text = String::from_utf8_lossy(rec);
        let f: Vec<&str> = text.splitn(16, '|').collect();
        if f.len() != 16 {
            return Err(format!("bad find record '{text}'"));
        }
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| format!("bad number '{s}' in '{text}'"))
        };
        let time = |s: &str| {
            s.parse::<f64>()
                .map_err(|_| format!("bad time '{s}' in '{text}'"))
        };
        let kind = f[1].chars().next().unwrap_or('U');
        entries.push(Entry {
            depth: num(f[0])? as usize,
            kind,
            walk_dir: kind == 'd' || (kind == 'l' && f[2] == "d"),
            mode: u32::from_str_radix(f[3], 8).map_err(|_| format!("bad mode in '{text}'"))?,
            uid: num(f[4])?,
            gid: num(f[5])?,
            user: f[6].to_string(),
            group: f[7].to_string(),
            size: num(f[8])?,
            inode: num(f[9])?,
            dev: num(f[10])?,
            nlink: num(f[11])?,
            atime: time(f[12])?,
            mtime: time(f[13])?,
            ctime: time(f[14])?,
            path: f[15].to_string(),
        });
    }
    Ok(entries)
}

/// A name filter: shell globs (Python's `fnmatch`) or regular expressions (`re.match`).
#[derive(Debug, Clone)]
pub(crate) struct NameFilter {
    patterns: Vec<Regex>,
    excludes: Vec<Regex>,
}

/// Python's `fnmatch` pattern as an anchored regular expression.
pub(crate) fn glob_regex(glob: &str) -> String {
    let mut out = String::from("^(?s:");
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => match chars[i + 1..].iter().skip(1).position(|&c| c == ']') {
                // `[]...]` and `[!]...]` keep a leading `]` literal, as fnmatch does.
                Some(_) => {
                    let mut j = i + 1;
                    let mut class = String::from("[");
                    if chars.get(j) == Some(&'!') {
                        class.push('^');
                        j += 1;
                    }
                    if chars.get(j) == Some(&']') {
                        class.push_str("\\]");
                        j += 1;
                    }
                    let mut closed = false;
                    while j < chars.len() {
                        match chars[j] {
                            ']' => {
                                closed = true;
                                break;
                            }
                            '\\' | '[' | '&' | '~' | '|' => {
                                class.push('\\');
                                class.push(chars[j]);
                            }
                            c => class.push(c),
                        }
                        j += 1;
                    }
                    if closed {
                        class.push(']');
                        out.push_str(&class);
                        i = j;
                    } else {
                        out.push_str("\\[");
                    }
                }
                None => out.push_str("\\["),
            },
            c => out.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    out.push_str(")$");
    out
}

impl NameFilter {
    pub(crate) fn new(
        patterns: &[String],
        excludes: &[String],
        use_regex: bool,
    ) -> Result<Self, String> {
        let compile = |p: &String| {
            let source = if use_regex {
                format!("^(?:{p})")
            } else {
                glob_regex(p)
            };
            compile_python_regex(&source, PyReFlags::default())
                .map_err(|e| format!("invalid pattern '{p}': {e}"))
        };
        let patterns: Vec<String> = if patterns.is_empty() {
            vec![if use_regex { ".*" } else { "*" }.to_string()]
        } else {
            patterns.to_vec()
        };
        Ok(NameFilter {
            patterns: patterns.iter().map(compile).collect::<Result<_, _>>()?,
            excludes: excludes.iter().map(compile).collect::<Result<_, _>>()?,
        })
    }

    /// Whether `name` is wanted; a pattern past the backtracking limit is an error.
    pub(crate) fn matches(&self, name: &str) -> Result<bool, fancy_regex::Error> {
        let any = |set: &[Regex]| -> Result<bool, fancy_regex::Error> {
            for re in set {
                if re.is_match(name)? {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        Ok(any(&self.patterns)? && !any(&self.excludes)?)
    }
}

/// Which entries are wanted, besides their names.
#[derive(Debug, Clone)]
pub(crate) struct Criteria {
    pub(crate) names: NameFilter,
    /// `file`, `directory`, `link` or `any`.
    pub(crate) file_type: String,
    /// Seconds: older than (>= 0) or younger than (< 0), against `age_stamp`.
    pub(crate) age: Option<i64>,
    pub(crate) age_stamp: String,
    /// Bytes: at least (>= 0) or at most (< 0); regular files only.
    pub(crate) size: Option<i64>,
    pub(crate) mode: Option<u32>,
    pub(crate) exact_mode: bool,
    pub(crate) hidden: bool,
    pub(crate) depth: Option<usize>,
    pub(crate) recurse: bool,
    pub(crate) limit: Option<usize>,
    pub(crate) now: f64,
}

impl Criteria {
    fn wanted(&self, e: &Entry, name: &str) -> Result<bool, fancy_regex::Error> {
        let type_ok = match self.file_type.as_str() {
            "any" => true,
            "directory" => e.kind == 'd',
            "link" => e.kind == 'l',
            _ => e.kind == 'f',
        };
        let stamp = match self.age_stamp.as_str() {
            "atime" => e.atime,
            "ctime" => e.ctime,
            _ => e.mtime,
        };
        let age_ok = match self.age {
            None => true,
            Some(a) if a >= 0 => self.now - stamp >= a as f64,
            Some(a) => self.now - stamp <= a.unsigned_abs() as f64,
        };
        // Size only filters regular files, for `any` as for `file`.
        let size_ok = match (self.size, e.kind == 'f') {
            (Some(s), true) if s >= 0 => e.size >= s as u64,
            (Some(s), true) => e.size <= s.unsigned_abs(),
            _ => true,
        };
        let mode_ok = match self.mode {
            None => true,
            Some(m) if self.exact_mode => e.mode & 0o7777 == m,
            Some(m) => e.mode & m != 0,
        };
        Ok(type_ok && age_ok && size_ok && mode_ok && self.names.matches(name)?)
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// What the walk of one root chose.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    /// The chosen entries, in Ansible's walk order.
    pub(crate) chosen: Vec<Entry>,
    /// For each chosen entry, how many entries the walk had examined when it was chosen (the
    /// count had the walk stopped there: Ansible counts a directory's entries as it lists it).
    pub(crate) examined_at: Vec<usize>,
    /// How many entries the whole walk examined.
    pub(crate) examined: usize,
}

/// The entries of one root's listing, in Ansible's walk order, that the criteria choose, and
/// how many entries the walk examined.
pub(crate) fn select(entries: &[Entry], c: &Criteria) -> Result<Selection, fancy_regex::Error> {
    // Children of each directory, in listing (readdir) order.
    let mut children: HashMap<&str, Vec<&Entry>> = HashMap::new();
    for e in entries {
        let parent = e.path.rsplit_once('/').map_or("", |(p, _)| p);
        children.entry(parent).or_default().push(e);
    }
    let root_children: Vec<&Entry> = entries.iter().filter(|e| e.depth == 1).collect();
    let mut out = Selection::default();
    // Directories still to walk, in order (a stack of the walk, preorder as `os.walk`).
    let mut stack: Vec<Vec<&Entry>> = vec![root_children];
    while let Some(level) = stack.pop() {
        out.examined += level.len();
        // Files first, then directories, as `os.walk` yields them.
        let (dirs, files): (Vec<&Entry>, Vec<&Entry>) = level.iter().partition(|e| e.walk_dir);
        let mut descend = Vec::new();
        for e in files.iter().chain(dirs.iter()) {
            if c.depth.is_some_and(|d| e.depth > d) {
                continue;
            }
            let name = base_name(&e.path);
            if e.walk_dir {
                descend.push(*e);
            }
            if name.starts_with('.') && !c.hidden {
                continue;
            }
            if c.wanted(e, name)? {
                out.chosen.push((*e).clone());
                out.examined_at.push(out.examined);
                if Some(out.chosen.len()) == c.limit {
                    return Ok(out);
                }
            }
        }
        if !c.recurse {
            break;
        }
        for d in descend.into_iter().rev() {
            stack.push(children.get(d.path.as_str()).cloned().unwrap_or_default());
        }
    }
    Ok(out)
}

/// Ansible's stat fields of a chosen entry.
pub(crate) fn stat_fields(e: &Entry) -> Map<String, Value> {
    let m = e.mode;
    let bit = |b: u32| m & b != 0;
    let v = json!({
        "path": e.path,
        "mode": format!("{:04o}", m & 0o7777),
        "isdir": e.kind == 'd',
        "ischr": e.kind == 'c',
        "isblk": e.kind == 'b',
        "isreg": e.kind == 'f',
        "isfifo": e.kind == 'p',
        "islnk": e.kind == 'l',
        "issock": e.kind == 's',
        "uid": e.uid,
        "gid": e.gid,
        "size": e.size,
        "inode": e.inode,
        "dev": e.dev,
        "nlink": e.nlink,
        "atime": e.atime,
        "mtime": e.mtime,
        "ctime": e.ctime,
        "gr_name": e.group,
        "pw_name": e.user,
        "wusr": bit(0o200), "rusr": bit(0o400), "xusr": bit(0o100),
        "wgrp": bit(0o020), "rgrp": bit(0o040), "xgrp": bit(0o010),
        "woth": bit(0o002), "roth": bit(0o004), "xoth": bit(0o001),
        "isuid": bit(0o4000), "isgid": bit(0o2000),
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Ansible's `age` (`3d`, `-1w`) in seconds, or its `size` (`10m`, `-1k`) in bytes.
pub(crate) fn amount(text: &str, units: &[(char, i64)]) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, unit) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => (&t[..t.len() - 1], Some(c)),
        _ => (t.as_str(), None),
    };
    let n: i64 = digits.parse().ok()?;
    let factor = match unit {
        None => 1,
        Some(u) => units.iter().find(|(c, _)| *c == u)?.1,
    };
    n.checked_mul(factor)
}

const AGE_UNITS: &[(char, i64)] = &[
    ('s', 1),
    ('m', 60),
    ('h', 3600),
    ('d', 86400),
    ('w', 604800),
];
const SIZE_UNITS: &[(char, i64)] = &[
    ('b', 1),
    ('k', 1 << 10),
    ('m', 1 << 20),
    ('g', 1 << 30),
    ('t', 1 << 40),
];

/// The listing script: per root, whether it is a directory, then every entry `find` sees.
fn listing_script(paths: &[String], follow: bool, max_depth: Option<usize>) -> String {
    let mut s = String::new();
    for (i, p) in paths.iter().enumerate() {
        let q = sh_quote(p);
        let depth = max_depth
            .map(|d| format!(" -maxdepth {d}"))
            .unwrap_or_default();
        let l = if follow { "-L " } else { "" };
        s.push_str(&section(&format!("root{i}")));
        s.push_str(&format!(
            "if [ -d {q} ]; then {{ LC_ALL=C find {l}{q} -mindepth 1{depth} -printf '{PRINTF}' 2>&1 >&3 | sed 's/^/err|{i}|/' >&2; }} 3>&1; else echo 'notdir|{i}' >&2; fi\n"
        ));
    }
    s.push_str(&section("now"));
    s.push_str("date +%s.%N\n");
    s.push_str(&section("end"));
    s
}

/// Parses a `find: 'X': Permission denied` line into (X, message); other lines of find's
/// (`find: Failed to restore initial working directory: /root: Permission denied`, when the
/// become user cannot enter the login's directory) name no entry.
fn skipped_entry(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("find: '")?;
    let (path, msg) = rest.rsplit_once("': ")?;
    Some((path.to_string(), msg.to_string()))
}

/// The `-maxdepth` of the listing: one level without `recurse`, else one level more than
/// `depth` asks (Ansible's walk lists, and counts, that level before pruning it).
fn listing_depth(recurse: bool, depth: Option<usize>) -> Option<usize> {
    match (recurse, depth) {
        (false, _) => Some(1),
        (true, Some(d)) => Some(d + 1),
        (true, None) => None,
    }
}

/// `depth` as the task gives it (none when not positive).
fn depth_arg(args: &Args) -> Result<Option<usize>, ModuleError> {
    Ok(args.int("depth")?.filter(|d| *d > 0).map(|d| d as usize))
}

/// `find`'s probe: the listing of every root (see [`listing_script`]) and the host's time.
pub(crate) struct FindProbe;

/// What [`FindProbe`] read: the listing's sections, its stderr (access problems) and the
/// host's time, which ages are measured from.
pub(crate) struct Listing {
    sections: Sections,
    stderr: String,
    now: f64,
}

impl FirstProbe for FindProbe {
    type Answer = Listing;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let a = input.args;
        let paths = a.list("paths")?.unwrap_or_default();
        if paths.is_empty() {
            return Err(ModuleError::missing("find", "paths"));
        }
        let max_depth = listing_depth(a.bool("recurse", false)?, depth_arg(a)?);
        Ok(Some(with_funcs(&listing_script(
            &paths,
            a.bool("follow", false)?,
            max_depth,
        ))))
    }

    fn parse(out: &ExecOutput) -> Result<Listing, String> {
        let sections = sections(out)?;
        let now =
            String::from_utf8_lossy(sections.get("now").map(Vec::as_slice).unwrap_or_default())
                .trim()
                .parse::<f64>()
                .map_err(|_| "no time from the host".to_string())?;
        Ok(Listing {
            sections,
            stderr: out.stderr_str(),
            now,
        })
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let paths = a.list("paths")?.unwrap_or_default();
    if paths.is_empty() {
        return Err(ModuleError::missing("find", "paths"));
    }
    let use_regex = a.bool("use_regex", false)?;
    let names = NameFilter::new(
        &a.list("patterns")?.unwrap_or_default(),
        &a.list("excludes")?.unwrap_or_default(),
        use_regex,
    )
    .map_err(|m| ctx.bad("patterns", m))?;
    let file_type = a.choice("file_type", &["any", "directory", "file", "link"], "file")?;
    let age = match a.str("age") {
        None => None,
        Some(t) => {
            Some(amount(&t, AGE_UNITS).ok_or_else(|| ctx.bad("age", "failed to process age"))?)
        }
    };
    let size = match a.str("size") {
        None => None,
        Some(t) => {
            Some(amount(&t, SIZE_UNITS).ok_or_else(|| ctx.bad("size", "failed to process size"))?)
        }
    };
    let mode = match a.raw("mode") {
        None => None,
        Some(Value::String(s)) => Some(
            ModeSpec::parse(s)
                .map_err(|m| ctx.bad("mode", m))?
                .apply(0, false)
                & 0o7777,
        ),
        Some(other) => {
            return Err(ctx.bad(
                "mode",
                format!(
                "argument 'mode' is not a string and conversion is not allowed, value is {other}"
            ),
            ))
        }
    };
    let limit = match a.int("limit")? {
        Some(n) if n <= 0 => {
            return Ok(ModuleResult::fail(format!(
                "limit cannot be {n} (use None for unlimited)"
            )))
        }
        n => n.map(|n| n as usize),
    };
    let recurse = a.bool("recurse", false)?;
    let depth = depth_arg(a)?;
    let Listing {
        sections,
        stderr,
        now,
    } = ctx.read_probe::<FindProbe>().await?;
    let criteria = Criteria {
        names,
        file_type,
        age,
        age_stamp: a.choice("age_stamp", &["atime", "ctime", "mtime"], "mtime")?,
        size,
        mode,
        exact_mode: a.bool("exact_mode", true)?,
        hidden: a.bool("hidden", false)?,
        depth,
        recurse,
        limit,
        now,
    };
    let mut problems = access_problems(&stderr, &paths);
    // Ansible looks into contents of regular files only, and only for `file_type: file`.
    let content = match a.str("contains") {
        Some(p) if criteria.file_type == "file" => Some(ContentFilter {
            pattern: compile_python_regex(&p, PyReFlags::default())
                .map_err(|e| ctx.bad("contains", e.to_string()))?,
            whole: a.bool("read_whole_file", false)?,
            encoding: a.str("encoding"),
        }),
        _ => None,
    };
    let mut chosen = Vec::new();
    let mut examined = 0;
    for (i, root) in paths.iter().enumerate() {
        let body = sections
            .get(&format!("root{i}"))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let entries = parse_listing(body).map_err(|m| ctx.protocol(m))?;
        let left = limit.map(|l| l.saturating_sub(chosen.len()));
        // With `contains`, the limit counts files whose content matched.
        let selection = select(
            &entries,
            &Criteria {
                limit: if content.is_some() { None } else { left },
                ..criteria.clone()
            },
        )
        .map_err(|e| ctx.bad("patterns", e.to_string()))?;
        match &content {
            None => {
                examined += selection.examined;
                chosen.extend(selection.chosen);
            }
            Some(filter) => {
                let verdicts = filter.judge(ctx, &selection.chosen).await?;
                let walk = walk_contents(selection, verdicts, left);
                examined += walk.examined;
                chosen.extend(walk.kept);
                if let Some(message) = walk.stopped_by {
                    problems.skip_root(root, message);
                }
            }
        }
        if limit.is_some() && limit == Some(chosen.len()) {
            break;
        }
    }
    let algo = a.choice(
        "checksum_algorithm",
        &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"],
        "sha1",
    )?;
    let sums = if a.bool("get_checksum", false)? {
        checksums(ctx, &chosen, &algo).await?
    } else {
        HashMap::new()
    };
    let files: Vec<Value> = chosen
        .iter()
        .map(|e| {
            let mut m = stat_fields(e);
            if let Some(sum) = sums.get(&e.path) {
                m.insert("checksum".into(), Value::String(sum.clone()));
            }
            Value::Object(m)
        })
        .collect();
    let mut res = ModuleResult::ok();
    let limited = limit.is_some() && limit == Some(files.len());
    // Ansible's message: only what it warned about makes it "not all"; a subdirectory the
    // walk could not list is in `skipped_paths` without a warning.
    res.msg = Some(
        if !problems.warnings.is_empty() {
            "Not all paths examined, check warnings for details"
        } else if limited {
            "Limit of matches reached"
        } else {
            "All paths examined"
        }
        .to_string(),
    );
    if !problems.warnings.is_empty() {
        res.set(
            "warnings",
            Value::Array(problems.warnings.into_iter().map(Value::String).collect()),
        );
    }
    res.set("matched", files.len())
        .set("examined", examined)
        .set("files", Value::Array(files))
        .set("skipped_paths", Value::Object(problems.skipped));
    Ok(res)
}

/// What keeps paths from being examined: `skipped_paths` and the warnings that say why.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    pub(crate) skipped: Map<String, Value>,
    pub(crate) warnings: Vec<String>,
}

impl Problems {
    /// A root Ansible gave up on (not a directory, a file it could not decode): skipped with
    /// a warning.
    fn skip_root(&mut self, root: &str, message: String) {
        self.warnings.push(format!(
            "Skipped '{root}' path due to this access issue: {message}\n"
        ));
        self.skipped
            .insert(root.to_string(), Value::String(message));
    }
}

/// Roots that are not directories and directories `find` could not list, from the listing's
/// stderr (`notdir|I` and `err|I|find: 'X': message` lines). A directory the walk cannot list
/// is skipped as Python's `os.walk` error says it (`[Errno 13] Permission denied: 'X'`),
/// without a warning, as Ansible's walk error handler does.
pub(crate) fn access_problems(stderr: &str, paths: &[String]) -> Problems {
    let mut problems = Problems::default();
    for line in stderr.lines() {
        if let Some(i) = line.strip_prefix("notdir|") {
            if let Some(root) = i.trim().parse::<usize>().ok().and_then(|i| paths.get(i)) {
                problems.skip_root(root, format!("'{root}' is not a directory"));
            }
        } else if let Some(rest) = line.strip_prefix("err|") {
            let rest = rest.split_once('|').map_or(rest, |(_, r)| r);
            if let Some((path, msg)) = skipped_entry(rest) {
                let text = match errno_of(&msg) {
                    Some(errno) => format!("[Errno {errno}] {msg}: '{path}'"),
                    None => msg,
                };
                problems.skipped.insert(path, Value::String(text));
            }
        }
    }
    problems
}

/// The `errno` of the `strerror` texts a walk meets (Linux numbers).
fn errno_of(message: &str) -> Option<u32> {
    match message {
        "Operation not permitted" => Some(1),
        "No such file or directory" => Some(2),
        "Permission denied" => Some(13),
        _ => None,
    }
}

/// `contains` as Ansible's module applies it: a regular expression matched against each line
/// (`re.match`) or the whole file (`re.search`), read as text in `encoding` (UTF-8 when not
/// given).
pub(crate) struct ContentFilter {
    pub(crate) pattern: Regex,
    pub(crate) whole: bool,
    pub(crate) encoding: Option<String>,
}

/// What reading one chosen entry's content gave.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    Matches,
    DoesNotMatch,
    /// The walk of its root stops here, with this message (an undecodable file, an unknown
    /// encoding), as the module's exception does.
    StopsWalk(String),
}

/// Python's spellings of UTF-8 (after its normalisation: lower case, `-` and spaces as `_`).
fn is_utf8(encoding: &str) -> bool {
    let norm = encoding
        .trim()
        .to_ascii_lowercase()
        .replace(['-', ' '], "_");
    matches!(norm.as_str(), "utf_8" | "utf8" | "u8" | "utf" | "cp65001")
}

/// A Python codec name as `iconv` spells it, for the names that differ.
fn iconv_name(encoding: &str) -> String {
    let norm = encoding
        .trim()
        .to_ascii_lowercase()
        .replace(['-', ' '], "_");
    match norm.as_str() {
        "latin_1" | "latin1" | "l1" | "iso8859_1" | "iso_8859_1" | "8859" | "cp819" => {
            "ISO-8859-1".into()
        }
        "ascii" | "us_ascii" | "646" => "ASCII".into(),
        "cp936" | "936" | "ms936" => "GBK".into(),
        _ => encoding.trim().to_string(),
    }
}

impl ContentFilter {
    /// Reads the regular files of `chosen` (in one request) and judges each; other kinds
    /// never match, as in Ansible.
    async fn judge(&self, ctx: &Ctx<'_>, chosen: &[Entry]) -> Result<Vec<Verdict>, ModuleError> {
        if !chosen.iter().any(|e| e.kind == 'f') {
            return Ok(vec![Verdict::DoesNotMatch; chosen.len()]);
        }
        let iconv = self.encoding.as_deref().filter(|e| !is_utf8(e));
        let s = ctx.probe(&content_script(chosen, iconv)).await?;
        let codec_known = s.get("codec").is_some_and(|b| b.starts_with(b"known"));
        let verdicts = chosen
            .iter()
            .enumerate()
            .map(|(i, e)| match (e.kind, iconv) {
                ('f', Some(encoding)) if !codec_known => {
                    Verdict::StopsWalk(format!("unknown encoding: {encoding}"))
                }
                ('f', _) => {
                    let bytes = decode_section(s.get(&format!("c{i}")));
                    let text = if iconv.is_some() {
                        converted_text(&bytes)
                    } else {
                        utf8_text(bytes)
                    };
                    self.verdict(text, &e.path)
                }
                _ => Verdict::DoesNotMatch,
            })
            .collect();
        Ok(verdicts)
    }

    /// The verdict on one file's text, with Ansible's message for one that does not decode.
    fn verdict(&self, text: FileText, path: &str) -> Verdict {
        match text {
            // Unreadable: Ansible's module passes over it (no match).
            FileText::Unread => Verdict::DoesNotMatch,
            FileText::Undecodable => {
                let encoding = self.encoding.clone().unwrap_or_else(|| {
                    "None (default determined by the Python built-in function \"open\")".into()
                });
                Verdict::StopsWalk(format!(
                    "Failed to read the file {path} due to an encoding error. current encoding: {encoding}"
                ))
            }
            FileText::Read(text) => {
                match content_matches(&universal_newlines(&text), &self.pattern, self.whole) {
                    Ok(true) => Verdict::Matches,
                    Ok(false) => Verdict::DoesNotMatch,
                    // Past the backtracking bound: this root's walk ends, saying why.
                    Err(e) => Verdict::StopsWalk(format!("contains: {e} (in {path})")),
                }
            }
        }
    }
}

/// The request reading the regular files of `chosen` (section `cI` for entry I), as base64:
/// raw, or converted to UTF-8 by `iconv` from `encoding` (then followed by a line with
/// iconv's exit status; section `codec` says whether iconv knows the encoding).
fn content_script(chosen: &[Entry], iconv: Option<&str>) -> String {
    let mut script = String::new();
    let codec = iconv.map(|e| sh_quote(&iconv_name(e)));
    if let Some(name) = &codec {
        script.push_str(&section("codec"));
        script.push_str(&format!(
            "LC_ALL=C iconv -f {name} -t UTF-8 </dev/null >/dev/null 2>&1 && echo known\n"
        ));
    }
    for (i, e) in chosen.iter().enumerate().filter(|(_, e)| e.kind == 'f') {
        let q = sh_quote(&e.path);
        script.push_str(&section(&format!("c{i}")));
        script.push_str(&match &codec {
            Some(name) => format!(
                "if [ -r {q} ]; then (LC_ALL=C iconv -f {name} -t UTF-8 < {q} 2>/dev/null; printf '\\n%s' \"$?\") | base64 -w0; fi\n"
            ),
            None => format!("ep_b64 {q}\n"),
        });
    }
    script.push_str(&section("end"));
    script
}

/// The bytes of a base64 section (none when absent or not base64).
fn decode_section(section: Option<&Vec<u8>>) -> Vec<u8> {
    let encoded = section
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .unwrap_or_default();
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap_or_default()
}

/// A file's content as the module would read it as text.
#[derive(Debug, PartialEq)]
pub(crate) enum FileText {
    /// Not read at all (not readable).
    Unread,
    /// Read, but not text in the encoding asked.
    Undecodable,
    Read(String),
}

/// A file read raw (`ep_b64` gives nothing for an unreadable file), decoded as UTF-8.
fn utf8_text(bytes: Vec<u8>) -> FileText {
    match String::from_utf8(bytes) {
        Ok(text) => FileText::Read(text),
        Err(_) => FileText::Undecodable,
    }
}

/// The text `iconv` converted and its status (the last line).
fn converted_text(bytes: &[u8]) -> FileText {
    let Some(split) = bytes.iter().rposition(|&b| b == b'\n') else {
        return FileText::Unread;
    };
    if String::from_utf8_lossy(&bytes[split + 1..]).trim() != "0" {
        return FileText::Undecodable;
    }
    match String::from_utf8(bytes[..split].to_vec()) {
        Ok(text) => FileText::Read(text),
        Err(_) => FileText::Undecodable,
    }
}

/// Python's text mode reading: `\r\n` and a lone `\r` end lines as `\n` does.
fn universal_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// The files of one root's walk that its content filter kept, and how many entries the walk
/// examined: up to where it stopped (at the limit, or at a file it could not decode, which
/// ends that root's walk in Ansible with what was found so far kept).
pub(crate) struct ContentWalk {
    pub(crate) kept: Vec<Entry>,
    pub(crate) examined: usize,
    pub(crate) stopped_by: Option<String>,
}

pub(crate) fn walk_contents(
    selection: Selection,
    verdicts: Vec<Verdict>,
    limit: Option<usize>,
) -> ContentWalk {
    let mut walk = ContentWalk {
        kept: Vec::new(),
        examined: selection.examined,
        stopped_by: None,
    };
    let steps = selection
        .chosen
        .into_iter()
        .zip(selection.examined_at)
        .zip(verdicts);
    for ((entry, examined_at), verdict) in steps {
        match verdict {
            Verdict::Matches => {
                walk.kept.push(entry);
                if limit == Some(walk.kept.len()) {
                    walk.examined = examined_at;
                    break;
                }
            }
            Verdict::DoesNotMatch => {}
            Verdict::StopsWalk(message) => {
                walk.examined = examined_at;
                walk.stopped_by = Some(message);
                break;
            }
        }
    }
    walk
}

/// Whether a file's text matches `contains` as Ansible's module tests it: `re.match` on each
/// line, or `re.search` on the whole text (where `$` may also match before a final newline).
pub(crate) fn content_matches(
    text: &str,
    re: &Regex,
    whole: bool,
) -> Result<bool, fancy_regex::Error> {
    if whole {
        if re.is_match(text)? {
            return Ok(true);
        }
        return match text.strip_suffix('\n') {
            Some(t) => re.is_match(t),
            None => Ok(false),
        };
    }
    for line in text.lines() {
        // Leftmost-first: a match starting at the line's start is the one found.
        if re.find(line)?.is_some_and(|m| m.start() == 0) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The checksums of the regular files of `chosen`, by path.
async fn checksums(
    ctx: &Ctx<'_>,
    chosen: &[Entry],
    algo: &str,
) -> Result<HashMap<String, String>, ModuleError> {
    let files: Vec<&Entry> = chosen.iter().filter(|e| e.kind == 'f').collect();
    if files.is_empty() {
        return Ok(HashMap::new());
    }
    let mut script = String::new();
    for (i, e) in files.iter().enumerate() {
        script.push_str(&section(&format!("k{i}")));
        script.push_str(&format!(
            "{algo}sum < {} 2>/dev/null | cut -d' ' -f1\n",
            sh_quote(&e.path)
        ));
    }
    script.push_str(&section("end"));
    let s = ctx.probe(&script).await?;
    Ok(files
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let sum = String::from_utf8_lossy(s.get(&format!("k{i}"))?)
                .trim()
                .to_string();
            (!sum.is_empty()).then(|| (e.path.clone(), sum))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(depth: usize, kind: char, path: &str) -> Entry {
        Entry {
            depth,
            kind,
            walk_dir: kind == 'd',
            mode: 0o644,
            uid: 0,
            gid: 0,
            user: "root".into(),
            group: "root".into(),
            size: 10,
            inode: 1,
            dev: 1,
            nlink: 1,
            atime: 100.0,
            mtime: 100.0,
            ctime: 100.0,
            path: path.into(),
        }
    }

    fn criteria(patterns: &[&str], recurse: bool) -> Criteria {
        let p: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        Criteria {
            names: NameFilter::new(&p, &[], false).unwrap(),
            file_type: "file".into(),
            age: None,
            age_stamp: "mtime".into(),
            size: None,
            mode: None,
            exact_mode: true,
            hidden: false,
            depth: None,
            recurse,
            limit: None,
            now: 1000.0,
        }
    }

    #[test]
    fn a_recorded_listing_parses_with_any_file_name() {
        let out =
            b"1|f|f|644|0|0|root|root|5|12|2049|1|1700000000.5|1700000001.25|1700000002.0|/d/a|b\0\
1|l|d|777|0|0|root|root|4|13|2049|1|1.0|2.0|3.0|/d/l\n\0";
        let e = parse_listing(out).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].path, "/d/a|b");
        assert_eq!(e[0].mtime, 1700000001.25);
        assert!(e[1].walk_dir && e[1].kind == 'l' && e[1].path == "/d/l\n");
        let f = stat_fields(&e[0]);
        assert_eq!(f["mode"], "0644");
        assert_eq!(f["isreg"], true);
        assert_eq!(f["roth"], true);
        assert_eq!(f["woth"], false);
    }

    #[test]
    fn the_walk_order_and_count_are_ansibles() {
        // As `find` prints them: preorder, each directory's entries in readdir order.
        let listing = vec![
            entry(1, 'd', "/r/sub"),
            entry(2, 'f', "/r/sub/deep.log"),
            entry(2, 'f', "/r/sub/.hidden.log"),
            entry(1, 'f', "/r/b.log"),
            entry(1, 'f', "/r/.a.log"),
            entry(1, 'f', "/r/c.txt"),
        ];
        // Ansible: files of the root first, then the subdirectory's, hidden ones counted.
        let s = select(&listing, &criteria(&["*.log"], true)).unwrap();
        let paths: Vec<&str> = s.chosen.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/r/b.log", "/r/sub/deep.log"]);
        assert_eq!(s.examined, 6);
        assert_eq!(s.examined_at, [4, 6], "the root's 4 entries, then sub's 2");
        let s = select(&listing, &criteria(&["*.log"], false)).unwrap();
        assert_eq!(s.chosen.len(), 1);
        assert_eq!(s.examined, 4);
        let mut c = criteria(&[], true);
        c.hidden = true;
        c.depth = Some(1);
        let s = select(&listing, &c).unwrap();
        assert_eq!(s.chosen.len(), 3, "depth 1 keeps the root's files only");
        c.file_type = "directory".into();
        let s = select(&listing, &c).unwrap();
        assert_eq!(s.chosen[0].path, "/r/sub");
    }

    #[test]
    fn globs_regexes_ages_and_sizes_follow_python() {
        let g = Regex::new(&glob_regex("*.[ch]")).unwrap();
        assert!(
            g.is_match("a.c").unwrap()
                && !g.is_match("a.o").unwrap()
                && !g.is_match("a.cc").unwrap()
        );
        let g = Regex::new(&glob_regex("[!a]?x")).unwrap();
        assert!(g.is_match("bbx").unwrap() && !g.is_match("abx").unwrap());
        let f = NameFilter::new(&["app".into()], &[], true).unwrap();
        assert!(
            f.matches("app.log").unwrap(),
            "re.match anchors only at the start"
        );
        let f = NameFilter::new(&["*.log".into()], &["debug*".into()], false).unwrap();
        assert!(f.matches("app.log").unwrap() && !f.matches("debug.log").unwrap());
        assert_eq!(amount("2d", AGE_UNITS), Some(172800));
        assert_eq!(amount("-1W", AGE_UNITS), Some(-604800));
        assert_eq!(amount("10m", SIZE_UNITS), Some(10 << 20));
        assert_eq!(amount("12", SIZE_UNITS), Some(12));
        assert_eq!(amount("1x", SIZE_UNITS), None);
        let re = Regex::new("^port").unwrap();
        assert!(content_matches("a\nport=1\n", &re, false).unwrap());
        let re = Regex::new("port").unwrap();
        assert!(
            !content_matches("a\nthe port\n", &re, false).unwrap(),
            "re.match per line"
        );
        assert!(
            content_matches("a\nthe port\n", &re, true).unwrap(),
            "re.search on the file"
        );
    }

    /// Ansible's find target: a GBK file searched as UTF-8 ends the walk of its root with
    /// "Failed to read the file ROOT/hello_world.gbk due to an encoding error. current
    /// encoding: utf-8" in `skipped_paths[ROOT]` (files found before it kept); at the limit the
    /// walk stops too, its `examined` counting the directories listed so far.
    #[test]
    fn a_file_that_cannot_be_decoded_ends_its_roots_walk() {
        let selection = || Selection {
            chosen: vec![
                entry(1, 'f', "/r/a.txt"),
                entry(2, 'f', "/r/s/hello.gbk"),
                entry(2, 'f', "/r/s/z.txt"),
            ],
            examined_at: vec![3, 5, 5],
            examined: 9,
        };
        let stop = Verdict::StopsWalk("Failed to read the file /r/s/hello.gbk".into());
        let walk = walk_contents(
            selection(),
            vec![Verdict::Matches, stop, Verdict::Matches],
            None,
        );
        assert_eq!(walk.kept.len(), 1);
        assert_eq!(walk.examined, 5);
        assert_eq!(
            walk.stopped_by.as_deref(),
            Some("Failed to read the file /r/s/hello.gbk")
        );
        let walk = walk_contents(
            selection(),
            vec![Verdict::DoesNotMatch, Verdict::Matches, Verdict::Matches],
            Some(1),
        );
        assert_eq!(walk.kept[0].path, "/r/s/hello.gbk");
        assert_eq!((walk.examined, walk.stopped_by), (5, None));
    }

    /// Python's names for codecs, and what iconv's output with its status line means.
    #[test]
    fn encodings_and_converted_text() {
        assert!(is_utf8("UTF-8") && is_utf8("utf8") && !is_utf8("gbk"));
        assert_eq!(iconv_name("latin-1"), "ISO-8859-1");
        assert_eq!(iconv_name("gbk"), "gbk");
        assert_eq!(
            converted_text(b"\xe4\xbd\xa0\n0"),
            FileText::Read("你".to_string())
        );
        assert_eq!(converted_text(b"partial\n1"), FileText::Undecodable);
        assert_eq!(
            converted_text(b""),
            FileText::Unread,
            "not readable: no match"
        );
        assert_eq!(utf8_text(vec![0xc4, 0xe3]), FileText::Undecodable);
        assert_eq!(universal_newlines("a\r\nb\rc"), "a\nb\nc");
    }

    /// A directory the walk cannot list (recorded `find` stderr as the become user) is
    /// skipped as Python's `os.walk` says it, without a warning (Ansible: `skipped_paths`
    /// {"/tmp/p/1-unreadable": "[Errno 13] Permission denied: '/tmp/p/1-unreadable'"}, msg
    /// "All paths examined"); a missing root is skipped with a warning.
    #[test]
    fn walk_errors_and_missing_roots() {
        let roots = vec!["/tmp/p/".to_string(), "/nope".to_string()];
        let p = access_problems(
            "err|0|find: '/tmp/p/1-unreadable': Permission denied\n\
             err|0|find: Failed to restore initial working directory: /root: Permission denied\n\
             notdir|1\n",
            &roots,
        );
        assert_eq!(
            p.skipped["/tmp/p/1-unreadable"],
            "[Errno 13] Permission denied: '/tmp/p/1-unreadable'"
        );
        assert_eq!(p.skipped["/nope"], "'/nope' is not a directory");
        assert_eq!(p.skipped.len(), 2, "{:?}", p.skipped);
        assert_eq!(
            p.warnings,
            ["Skipped '/nope' path due to this access issue: '/nope' is not a directory\n"]
        );
    }
}
