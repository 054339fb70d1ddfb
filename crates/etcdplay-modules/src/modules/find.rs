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

/// The entries of one root's listing, in Ansible's walk order, that the criteria choose, and
/// how many entries the walk examined.
pub(crate) fn select(
    entries: &[Entry],
    c: &Criteria,
) -> Result<(Vec<Entry>, usize), fancy_regex::Error> {
    // Children of each directory, in listing (readdir) order.
    let mut children: HashMap<&str, Vec<&Entry>> = HashMap::new();
    for e in entries {
        let parent = e.path.rsplit_once('/').map_or("", |(p, _)| p);
        children.entry(parent).or_default().push(e);
    }
    let root_children: Vec<&Entry> = entries.iter().filter(|e| e.depth == 1).collect();
    let mut chosen = Vec::new();
    let mut examined = 0;
    // Directories still to walk, in order (a stack of the walk, preorder as `os.walk`).
    let mut stack: Vec<Vec<&Entry>> = vec![root_children];
    while let Some(level) = stack.pop() {
        examined += level.len();
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
                chosen.push((*e).clone());
                if Some(chosen.len()) == c.limit {
                    return Ok((chosen, examined));
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
    Ok((chosen, examined))
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
            "if [ -d {q} ]; then {{ find {l}{q} -mindepth 1{depth} -printf '{PRINTF}' 2>&1 >&3 | sed 's/^/err|{i}|/' >&2; }} 3>&1; else echo 'notdir|{i}' >&2; fi\n"
        ));
    }
    s.push_str(&section("now"));
    s.push_str("date +%s.%N\n");
    s.push_str(&section("end"));
    s
}

/// Parses a `find: 'X': Permission denied` line into (X, message).
fn skipped_entry(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("find: ")?;
    let (quoted, msg) = rest.rsplit_once(": ")?;
    let path = quoted.trim_matches(['\'', '‘', '’', '`']).to_string();
    Some((path, msg.to_string()))
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
    let (skipped, mut warnings) = access_problems(&stderr, &paths);
    let mut chosen = Vec::new();
    let mut examined = 0;
    for i in 0..paths.len() {
        let body = sections
            .get(&format!("root{i}"))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let entries = parse_listing(body).map_err(|m| ctx.protocol(m))?;
        let left = limit.map(|l| l.saturating_sub(chosen.len()));
        let (found, looked) = select(
            &entries,
            &Criteria {
                limit: left,
                ..criteria.clone()
            },
        )
        .map_err(|e| ctx.bad("patterns", e.to_string()))?;
        examined += looked;
        chosen.extend(found);
        if limit.is_some() && limit == Some(chosen.len()) {
            break;
        }
    }
    let contains = match a.str("contains") {
        Some(p) => Some(
            compile_python_regex(&p, PyReFlags::default())
                .map_err(|e| ctx.bad("contains", e.to_string()))?,
        ),
        None => None,
    };
    if let Some(re) = &contains {
        let whole = a.bool("read_whole_file", false)?;
        chosen = with_content(ctx, chosen, re, whole).await?;
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
    res.msg = Some(
        if !skipped.is_empty() {
            "Not all paths examined, check warnings for details"
        } else if limited {
            "Limit of matches reached"
        } else {
            "All paths examined"
        }
        .to_string(),
    );
    if !warnings.is_empty() {
        res.set(
            "warnings",
            Value::Array(warnings.drain(..).map(Value::String).collect()),
        );
    }
    res.set("matched", files.len())
        .set("examined", examined)
        .set("files", Value::Array(files))
        .set("skipped_paths", Value::Object(skipped));
    Ok(res)
}

/// Roots that are not directories and entries `find` could not read, from the listing's
/// stderr (`notdir|I` and `err|I|find: 'X': message` lines), as `skipped_paths` and warnings.
fn access_problems(stderr: &str, paths: &[String]) -> (Map<String, Value>, Vec<String>) {
    let mut skipped = Map::new();
    let mut warnings = Vec::new();
    for line in stderr.lines() {
        if let Some(i) = line.strip_prefix("notdir|") {
            if let Some(root) = i.trim().parse::<usize>().ok().and_then(|i| paths.get(i)) {
                let msg = format!("'{root}' is not a directory");
                warnings.push(format!(
                    "Skipped '{root}' path due to this access issue: {msg}"
                ));
                skipped.insert(root.clone(), Value::String(msg));
            }
        } else if let Some(rest) = line.strip_prefix("err|") {
            let rest = rest.split_once('|').map_or(rest, |(_, r)| r);
            if let Some((path, msg)) = skipped_entry(rest) {
                warnings.push(format!("Skipped entry '{path}' due to access issue."));
                skipped.insert(path, Value::String(msg));
            }
        }
    }
    (skipped, warnings)
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

/// The regular files of `chosen` whose content matches (other kinds never do, as in Ansible).
async fn with_content(
    ctx: &Ctx<'_>,
    chosen: Vec<Entry>,
    re: &Regex,
    whole: bool,
) -> Result<Vec<Entry>, ModuleError> {
    let files: Vec<&Entry> = chosen.iter().filter(|e| e.kind == 'f').collect();
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let mut script = String::new();
    for (i, e) in files.iter().enumerate() {
        script.push_str(&section(&format!("c{i}")));
        script.push_str(&format!("ep_b64 {}\n", sh_quote(&e.path)));
    }
    script.push_str(&section("end"));
    let s = ctx.probe(&script).await?;
    let mut kept = Vec::new();
    for (i, e) in files.iter().enumerate() {
        let text = String::from_utf8_lossy(
            s.get(&format!("c{i}"))
                .map(Vec::as_slice)
                .unwrap_or_default(),
        )
        .trim()
        .to_string();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        if content_matches(&text, re, whole).map_err(|e| ctx.bad("contains", e.to_string()))? {
            kept.push((*e).clone());
        }
    }
    Ok(kept)
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

    fn py(pattern: &str) -> Result<Regex, etcdplay_source::PyReError> {
        compile_python_regex(pattern, PyReFlags::default())
    }

    // Python: re.match(r'(?P<x>a)(?=pp)', 'app.log') matches (look-ahead in find's
    // `patterns` with use_regex, as the module's re.match accepts it).
    #[test]
    fn regex_patterns_take_python_syntax() {
        let f = NameFilter::new(&["(?P<x>a)(?=pp)".into()], &[], true).unwrap();
        assert!(f.matches("app.log").unwrap());
        assert!(!f.matches("axx").unwrap());
    }

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
        let (found, examined) = select(&listing, &criteria(&["*.log"], true)).unwrap();
        let paths: Vec<&str> = found.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/r/b.log", "/r/sub/deep.log"]);
        assert_eq!(examined, 6);
        let (found, examined) = select(&listing, &criteria(&["*.log"], false)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(examined, 4);
        let mut c = criteria(&[], true);
        c.hidden = true;
        c.depth = Some(1);
        let (found, _) = select(&listing, &c).unwrap();
        assert_eq!(found.len(), 3, "depth 1 keeps the root's files only");
        c.file_type = "directory".into();
        let (found, _) = select(&listing, &c).unwrap();
        assert_eq!(found[0].path, "/r/sub");
    }

    #[test]
    fn globs_regexes_ages_and_sizes_follow_python() {
        let g = py(&glob_regex("*.[ch]")).unwrap();
        assert!(
            g.is_match("a.c").unwrap()
                && !g.is_match("a.o").unwrap()
                && !g.is_match("a.cc").unwrap()
        );
        let g = py(&glob_regex("[!a]?x")).unwrap();
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
        let re = py("^port").unwrap();
        assert!(content_matches("a\nport=1\n", &re, false).unwrap());
        let re = py("port").unwrap();
        assert!(
            !content_matches("a\nthe port\n", &re, false).unwrap(),
            "re.match per line"
        );
        assert!(
            content_matches("a\nthe port\n", &re, true).unwrap(),
            "re.search on the file"
        );
    }
}
