//! How modules read a host's state in one round trip: a script prints named sections
//! (`@@etcdplay:NAME` header lines) and a pure parser splits them; `ep_stat` prints one line of
//! `stat` output per path, which [`PathState::parse`] turns into a typed state. Parsers are
//! tested on recorded output, so the host is needed only to run the commands.

use std::collections::BTreeMap;

use base64::Engine;

const MARK: &[u8] = b"\n@@etcdplay:";

/// The `stat` format of `ep_stat`'s line, as a literal for `concat!` ([`FUNCS`] and
/// [`batch_prelude`] must print the same fields): type, mode, owner, size, the three times,
/// inode, links, device, then what Ansible's `stat` also reports: `st_blocks` (`%b`),
/// `st_blksize` (`%o`) and a device file's major and minor number (`%t`/`%T`, in hex; older
/// coreutils than 9 have no decimal `st_rdev`).
macro_rules! stat_format {
    () => {
        "stat|%F|%a|%u|%g|%U|%G|%s|%.9Y|%.9X|%.9Z|%i|%h|%d|%b|%o|%t|%T"
    };
}

/// Makes `ep_stat` skip the file's checksum (a probe that needs none, or takes it from
/// content it reads whole).
pub(crate) const NO_SUM: &str = "EP_NO_SUM=1\n";

/// Shell functions every probe script may use. `ep_stat PATH` prints the lstat line, for a
/// link its target and the path it finally resolves to (both base64: a file name may hold a
/// newline, which would otherwise forge the lines after it), and the sha1 of a regular file
/// (following a link, as copy compares content through one). `ep_b64 PATH` prints a regular file's content as base64 on one line
/// (in a batch, the host agent's answer when it gave one).
/// `ep_parent_is_dir PATH` prints `yes` when `dirname PATH` is a directory, computing the
/// dirname with shell builtins (one process less per probe).
///
/// `ep_sha1` remembers the sha1 of a regular file in `/run/etcdplay/sums/DEV.INODE` (tests point
/// `EP_SUMS_DIR` elsewhere) together
/// with the size, mtime and ctime it was computed for, and reuses it while all four still match:
/// a no-change run then reads one short line instead of hashing every managed file again
/// (an etcd binary is 20 MB, 50 ms per host per run). Any write moves the ctime, which cannot be
/// set back, so a stale entry is never reused; the entry is checked field by field, so a torn or
/// foreign one only costs a fresh hash. Without write access (no become) it just hashes.
/// `ep_sha1_of` hashes with `sha1sum` alone and cuts its answer with the shell (a `cut`
/// would be one more process per hash).
/// Every failure is tolerated, as probes may run under `set -e`.
///
/// After an upload the host agent wrote itself, `ep_stat` of the written file takes the line
/// the agent made (`$ep_ag_sp`, `$ep_ag_sl`; `etcdplay-agent`'s `put.rs`), and `ep_sha1` the
/// checksum it left in the cache.
///
/// In a read-ahead batch, `ep_stat` takes the line from [`batch_prelude`]'s single `stat` of
/// every path the batch's probes name, when it has one for that path (`ep_cached_stat`), and
/// runs `stat` itself otherwise. `EP_NO_SUM` is emptied first, so that a probe run in the
/// batch's shell after a `file` probe (which sets it) still gets checksums.
pub(crate) const FUNCS: &str = concat!(
    r#"EP_NO_SUM=
ep_stat() {
  if [ -e "$1" ] || [ -L "$1" ]; then
    if [ -n "${ep_ag_sl:-}" ] && [ "${ep_ag_sp-}" = "$1" ]; then ep_l=$ep_ag_sl
    elif [ "${ep_sn:-0}" -gt 0 ] && ep_cached_stat "$1"; then :; else
      ep_l=$(stat -c '"#,
    stat_format!(),
    r#"' -- "$1") || return 0
    fi
    printf '%s\n' "$ep_l"
    if [ -L "$1" ]; then
      printf 'link|%s\n' "$(readlink -n -- "$1" | base64 -w0)"
      printf 'real|%s\n' "$(readlink -f -n -- "$1" | base64 -w0)"
    fi
    if [ -z "${EP_NO_SUM:-}" ] && [ -f "$1" ] && [ -r "$1" ]; then ep_sha1 "$1" "$ep_l"; printf 'sha1|%s\n' "$ep_s"; fi
  fi
  return 0
}
ep_sha1() {
  case $2 in
    "stat|regular file|"*) ;;
    *) ep_sha1_of "$1"; return 0;;
  esac
  ep_o=$IFS; IFS='|'; set -- "$1" $2; IFS=$ep_o
  ep_d=${EP_SUMS_DIR:-/run/etcdplay/sums}
  ep_want="$9 ${10} ${12}"; ep_c=$ep_d/${15}.${13}
  if [ -r "$ep_c" ] && read -r ep_a ep_b ep_z ep_s < "$ep_c" && [ "$ep_a $ep_b $ep_z" = "$ep_want" ] && [ ${#ep_s} -eq 40 ]; then return 0; fi
  ep_sha1_of "$1"
  if [ ${#ep_s} -eq 40 ]; then
    { [ -d "$ep_d" ] || { mkdir -m 0700 "${ep_d%/*}"; mkdir -m 0700 "$ep_d"; }; } 2>/dev/null || :
    { printf '%s %s\n' "$ep_want" "$ep_s" > "$ep_c"; } 2>/dev/null || :
  fi
  return 0
}
ep_sha1_of() { ep_s=$(sha1sum < "$1") || ep_s=; ep_s=${ep_s%% *}; }
ep_b64() {
  if [ "${ep_ag_bn:-0}" -gt 0 ] && ep_cached_b64 "$1"; then printf '%s' "$ep_bv"
  elif [ -f "$1" ] && [ -r "$1" ]; then base64 -w0 < "$1"; fi
}
ep_parent_is_dir() {
  ep_p=$1
  while [ "${ep_p%/}" != "$ep_p" ] && [ "$ep_p" != / ]; do ep_p=${ep_p%/}; done
  case $ep_p in
    */*) ep_p=${ep_p%/*}; while [ "${ep_p%/}" != "$ep_p" ]; do ep_p=${ep_p%/}; done; [ -n "$ep_p" ] || ep_p=/;;
    *) ep_p=.;;
  esac
  if [ -d "$ep_p" ]; then echo yes; fi
  return 0
}
"#
);

/// Shell printing the directories Ansible's `get_bin_path` searches, as its error message
/// lists them: `$PATH` as it is, then whichever of `/sbin`, `/usr/sbin`, `/usr/local/sbin`
/// exist and `$PATH` lacks, joined with `:`.
pub(crate) const BIN_PATHS: &str = r#"ep_ps=$PATH
for ep_d in /sbin /usr/sbin /usr/local/sbin; do
  case ":$PATH:" in *":$ep_d:"*) ;; *) if [ -e "$ep_d" ]; then ep_ps="$ep_ps:$ep_d"; fi;; esac
done
printf '%s\n' "$ep_ps"
"#;

/// Ansible's failure for a required executable `get_bin_path` did not find in `paths` (what
/// [`BIN_PATHS`] printed).
pub(crate) fn missing_executable(name: &str, paths: &str) -> String {
    format!(
        "Failed to find required executable \"{name}\" in paths: {}",
        paths.trim_end_matches('\n')
    )
}

/// The `stat` format of `ep_stat`'s first line.
const STAT_FORMAT: &str = stat_format!();

/// A line that names, for [`batch_prelude`], a path the probe will `ep_stat` through a
/// variable (`ep_stat "$d"`); alone it is a comment.
pub(crate) fn stat_hint(path: &str) -> String {
    format!("# ep_stat {}\n", etcdplay_transport::script::sh_quote(path))
}

/// Shell code for the start of a read-ahead batch (`Prefetching::prefetch_with`): what several
/// of its probes would each ask, asked once: the paths they `stat` ([`stat_prelude`]) and
/// what they want of systemd (`unit_memo`).
pub fn batch_prelude(scripts: &[&str]) -> String {
    let mut out = agent_prefill_hint(scripts);
    out.push_str(&stat_prelude(scripts));
    if !b64_words(scripts).is_empty() {
        // For the host agent's answers to the `b64` word (see `ep_b64`).
        out.push_str(&lookup_function(
            "ep_cached_b64",
            "ep_ag_bn",
            "ep_bp",
            "ep_bv",
            "ep_bv",
        ));
    }
    out.push_str(&crate::unit_memo::prelude(scripts));
    out
}

/// The host agent's prefill hint for a batch (see `etcdplay_transport::AGENT_PREFILL_HINT`):
/// the words the probes ask for on hint lines of their own (there comments, since only a
/// request's first line counts) and the reload check's, when the prelude runs it. Empty when
/// nothing is asked.
fn agent_prefill_hint(scripts: &[&str]) -> String {
    let hint = etcdplay_transport::AGENT_PREFILL_HINT;
    let mut words: Vec<String> = Vec::new();
    for line in scripts.iter().flat_map(|s| s.lines()) {
        let Some(rest) = line.strip_prefix(hint) else {
            continue;
        };
        for word in rest.split(' ').filter(|w| is_literal_word(w)) {
            if !words.iter().any(|w| w == word) {
                words.push(word.to_string());
            }
        }
    }
    if crate::unit_memo::asks_reload(scripts) {
        words.push(crate::modules::systemd::reload_prefill_word());
    }
    let paths = stat_words(scripts);
    if paths.len() >= 2 {
        words.push(paths_prefill_word("stat", &paths));
    }
    let contents = b64_words(scripts);
    if !contents.is_empty() {
        words.push(paths_prefill_word("b64", &contents));
    }
    if words.is_empty() {
        return String::new();
    }
    format!("{hint}{}\n", words.join(" "))
}

/// One `stat`
/// of every path the batch's `scripts` name on an `ep_stat PATH` line (or a [`stat_hint`]),
/// each line kept for `ep_stat`, so a batch of ten file tasks starts one `stat` instead of
/// ten. Empty when fewer than two paths are named. Paths that do not exist are left out (the
/// probe sees that with a shell test); if `stat` fails or prints an unexpected number of
/// lines (a path removed meanwhile), nothing is kept and every probe runs its own `stat`.
///
/// The host agent may have answered already (the `stat` word of [`paths_prefill_word`]): it then set
/// the same variables, with the lines `stat` would print for the paths that exist, and
/// `ep_ag_stat=done`, and no `stat` runs.
fn stat_prelude(scripts: &[&str]) -> String {
    let words = stat_words(scripts);
    if words.len() < 2 {
        return String::new();
    }
    format!(
        r#"{lookup}ep_sn=0
if [ "${{ep_ag_stat-}}" = done ]; then ep_sn=$ep_ag_sn; else
set -f
set --
for ep_q in {words}; do if [ -e "$ep_q" ] || [ -L "$ep_q" ]; then set -- "$@" "$ep_q"; fi; done
if [ $# -gt 0 ] && ep_sv=$(stat -c '{STAT_FORMAT}' -- "$@"); then
  ep_n=0
  for ep_q in "$@"; do ep_n=$((ep_n + 1)); eval "ep_sp_$ep_n=\$ep_q"; done
  ep_o=$IFS
  IFS='
'
  set -- $ep_sv
  IFS=$ep_o
  if [ $# -eq "$ep_n" ]; then
    ep_n=0
    for ep_q in "$@"; do ep_n=$((ep_n + 1)); eval "ep_sl_$ep_n=\$ep_q"; done
    ep_sn=$ep_n
  fi
fi
set +f
set --
fi
"#,
        words = words.join(" "),
        lookup = lookup_function("ep_cached_stat", "ep_sn", "ep_sp", "ep_sl", "ep_l"),
    )
}

/// The paths `scripts` name on an `ep_stat PATH` line (or a [`stat_hint`]), as literal shell
/// words, each once.
fn stat_words<'a>(scripts: &[&'a str]) -> Vec<&'a str> {
    words_after(scripts, &["ep_stat ", "# ep_stat "])
}

/// The paths `scripts` read with an `ep_b64 PATH` line: the host agent answers those of a
/// batch (`etcdplay-agent`'s `b64` word), and `ep_b64` finds its answers with
/// `ep_cached_b64`.
fn b64_words<'a>(scripts: &[&'a str]) -> Vec<&'a str> {
    words_after(scripts, &["ep_b64 "])
}

/// The literal shell words that follow one of `prefixes` on a line of `scripts`, each once.
fn words_after<'a>(scripts: &[&'a str], prefixes: &[&str]) -> Vec<&'a str> {
    let mut words: Vec<&str> = Vec::new();
    for line in scripts.iter().flat_map(|s| s.lines()) {
        let word = prefixes.iter().find_map(|p| line.strip_prefix(p));
        if let Some(word) = word.filter(|w| is_literal_word(w)) {
            if !words.contains(&word) {
                words.push(word);
            }
        }
    }
    words
}

/// The host agent's prefill word `name` for `words` (literal shell words): `name:` and each
/// path in hex, `:` between (`etcdplay-agent`'s `stat_line.rs` and `contents.rs`).
fn paths_prefill_word(name: &str, words: &[&str]) -> String {
    let hex: Vec<String> = words
        .iter()
        .map(|w| etcdplay_transport::agent_hint_path(&unquote_literal(w)))
        .collect();
    format!("{name}:{}", hex.join(":"))
}

/// The string a literal word (see [`is_literal_word`]) stands for.
pub(crate) fn unquote_literal(word: &str) -> String {
    match word.strip_prefix('\'').and_then(|w| w.strip_suffix('\'')) {
        Some(inner) if word.len() >= 2 => inner.replace("'\\''", "'"),
        _ => word.to_string(),
    }
}

/// A prelude's shell function `NAME KEY`: finds KEY among the numbered variables `KEYS_1` ..
/// `KEYS_$COUNT` the prelude set and sets variable `out` to the `VALUES_` of the same number
/// (status 0), or returns 1.
pub(crate) fn lookup_function(
    name: &str,
    count: &str,
    keys: &str,
    values: &str,
    out: &str,
) -> String {
    format!(
        r#"{name}() {{
  ep_i=0
  while [ "$ep_i" -lt "${count}" ]; do
    ep_i=$((ep_i + 1))
    eval "ep_p=\${{{keys}_$ep_i}}"
    if [ "$ep_p" = "$1" ]; then eval "{out}=\${{{values}_$ep_i}}"; return 0; fi
  done
  return 1
}}
"#
    )
}

/// Whether `word` is one whole literal shell word as `sh_quote` writes it (bare safe
/// characters, or single quotes with `'\''` for a quote), so that it can be copied into the
/// prelude's word list as it is.
pub(crate) fn is_literal_word(word: &str) -> bool {
    let bare = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    };
    if bare(word) {
        return true;
    }
    let Some(inner) = word.strip_prefix('\'').and_then(|w| w.strip_suffix('\'')) else {
        return false;
    };
    word.len() >= 2 && inner.split("'\\''").all(|part| !part.contains('\''))
}

/// The shell line that starts section `name`.
pub(crate) fn section(name: &str) -> String {
    format!("printf '\\n@@etcdplay:{name}\\n'\n")
}

/// Splits a probe script's stdout into its sections (section name → exact bytes printed).
pub(crate) fn parse_sections(stdout: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut starts = Vec::new();
    let mut i = 0;
    while let Some(pos) = find(&stdout[i..], MARK) {
        starts.push(i + pos);
        i += pos + MARK.len();
    }
    for (n, &start) in starts.iter().enumerate() {
        let header_start = start + MARK.len();
        let Some(nl) = stdout[header_start..].iter().position(|&b| b == b'\n') else {
            continue;
        };
        let name = String::from_utf8_lossy(&stdout[header_start..header_start + nl]).into_owned();
        let body_start = header_start + nl + 1;
        let body_end = starts
            .get(n + 1)
            .copied()
            .unwrap_or(stdout.len())
            .max(body_start);
        out.insert(name, stdout[body_start..body_end].to_vec());
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decodes an `ep_b64` section.
pub(crate) fn decode_b64(section: Option<&Vec<u8>>) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(section?).trim().to_string();
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// What kind of object a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Link,
    Other(String),
}

/// A path's state on the host, from `ep_stat`. `exists == false` means nothing is there.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct PathState {
    pub(crate) exists: bool,
    pub(crate) kind: Option<Kind>,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) owner: String,
    pub(crate) group: String,
    pub(crate) size: u64,
    pub(crate) mtime: f64,
    pub(crate) atime: f64,
    pub(crate) ctime: f64,
    pub(crate) inode: u64,
    pub(crate) nlink: u64,
    pub(crate) dev: u64,
    /// 512-byte blocks allocated (`st_blocks`).
    pub(crate) blocks: u64,
    /// The file system's preferred I/O size (`st_blksize`).
    pub(crate) block_size: u64,
    /// The device a character or block special file stands for (`st_rdev`), 0 for others.
    pub(crate) rdev: u64,
    pub(crate) link_target: Option<String>,
    /// Where a link finally points (`readlink -f`): the file that writing through it changes.
    pub(crate) real_path: Option<String>,
    pub(crate) sha1: Option<String>,
}

/// A path `ep_stat` printed as base64 (bytes that are not UTF-8 are replaced, as everywhere a
/// path is shown).
fn decode_path(b64: &str) -> Result<String, String> {
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .map_err(|_| format!("bad path '{b64}' in stat output"))
}

/// Linux's `dev_t` of a major and minor number (glibc's `makedev`): the low 8 bits of the
/// minor, then 12 bits of the major, the rest of the minor, the rest of the major; what
/// Python's `st_rdev` reports.
fn makedev(major: u64, minor: u64) -> u64 {
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
}

impl PathState {
    /// Parses the output of `ep_stat`; empty output means the path does not exist.
    pub(crate) fn parse(text: &str) -> Result<PathState, String> {
        let mut st = PathState::default();
        for line in text.lines() {
            let mut parts = line.splitn(2, '|');
            match (parts.next(), parts.next()) {
                (Some("stat"), Some(rest)) => {
                    let f: Vec<&str> = rest.split('|').collect();
                    if f.len() != 17 {
                        return Err(format!("bad stat line '{line}'"));
                    }
                    let num = |s: &str| {
                        s.parse::<u64>()
                            .map_err(|_| format!("bad number '{s}' in stat line '{line}'"))
                    };
                    let float = |s: &str| {
                        s.parse::<f64>()
                            .map_err(|_| format!("bad time '{s}' in stat line '{line}'"))
                    };
                    st.exists = true;
                    st.kind = Some(match f[0] {
                        "regular file" | "regular empty file" => Kind::File,
                        "directory" => Kind::Dir,
                        "symbolic link" => Kind::Link,
                        other => Kind::Other(other.to_string()),
                    });
                    st.mode =
                        u32::from_str_radix(f[1], 8).map_err(|_| format!("bad mode '{}'", f[1]))?;
                    st.uid = num(f[2])? as u32;
                    st.gid = num(f[3])? as u32;
                    st.owner = f[4].to_string();
                    st.group = f[5].to_string();
                    st.size = num(f[6])?;
                    st.mtime = float(f[7])?;
                    st.atime = float(f[8])?;
                    st.ctime = float(f[9])?;
                    st.inode = num(f[10])?;
                    st.nlink = num(f[11])?;
                    st.dev = num(f[12])?;
                    st.blocks = num(f[13])?;
                    st.block_size = num(f[14])?;
                    let hex = |s: &str| {
                        u64::from_str_radix(s, 16)
                            .map_err(|_| format!("bad device number '{s}' in stat line '{line}'"))
                    };
                    st.rdev = makedev(hex(f[15])?, hex(f[16])?);
                }
                (Some("link"), Some(target)) => st.link_target = Some(decode_path(target)?),
                // Empty when `readlink -f` cannot resolve it (a missing directory on the way).
                (Some("real"), Some(real)) => {
                    st.real_path = Some(decode_path(real)?).filter(|p| !p.is_empty())
                }
                (Some("sha1"), Some(sum)) if sum.len() == 40 => st.sha1 = Some(sum.to_string()),
                _ => {}
            }
        }
        Ok(st)
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.kind == Some(Kind::Dir)
    }
    pub(crate) fn is_file(&self) -> bool {
        self.kind == Some(Kind::File)
    }
    pub(crate) fn is_link(&self) -> bool {
        self.kind == Some(Kind::Link)
    }

    /// Ansible's `state` word for what is at the path.
    pub(crate) fn state_word(&self) -> &'static str {
        match &self.kind {
            None => "absent",
            Some(Kind::File) if self.nlink > 1 => "hard",
            Some(Kind::File) => "file",
            Some(Kind::Dir) => "directory",
            Some(Kind::Link) => "link",
            Some(Kind::Other(_)) => "file",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_is_dir_agrees_with_dirname() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        let paths = [
            "/".to_string(),
            "//".into(),
            "/etc".into(),
            "/etc/".into(),
            "//etc//passwd//".into(),
            "rel".into(),
            "rel/x".into(),
            "".into(),
            "/nonexistent/x".into(),
            format!("{d}/a/b/c"),
            format!("{d}/a//b//"),
            format!("{d}/a/b/c/d"),
            format!("{d}/a b/c"),
        ];
        for p in paths {
            let q = etcdplay_transport::script::sh_quote(&p);
            let ours = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("{FUNCS}ep_parent_is_dir {q}"))
                .current_dir(dir.path())
                .output()
                .unwrap();
            let theirs = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("[ -d \"$(dirname -- {q})\" ] && echo yes"))
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert_eq!(ours.stdout, theirs.stdout, "{p:?}");
            assert!(ours.status.success(), "{p:?}");
        }
    }

    #[test]
    fn bin_paths_are_get_bin_paths_search_path() {
        // Python's `get_bin_path`: PATH's entries, then each of /sbin, /usr/sbin,
        // /usr/local/sbin that exists and PATH lacks, joined with `:` (os.pathsep).
        for path in ["/usr/bin:/bin", "/usr/local/sbin:/usr/bin:/sbin:/bin", ""] {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(BIN_PATHS)
                .env("PATH", path)
                .output()
                .unwrap();
            let mut want: Vec<&str> = path.split(':').collect();
            for sbin in ["/sbin", "/usr/sbin", "/usr/local/sbin"] {
                if !want.contains(&sbin) && std::path::Path::new(sbin).exists() {
                    want.push(sbin);
                }
            }
            let printed = String::from_utf8(out.stdout).unwrap();
            assert_eq!(printed, format!("{}\n", want.join(":")), "PATH={path:?}");
            assert_eq!(
                missing_executable("gpg", &printed),
                format!(
                    "Failed to find required executable \"gpg\" in paths: {}",
                    want.join(":")
                )
            );
        }
    }

    #[test]
    fn sections_split_exactly() {
        let out = b"\n@@etcdplay:a\nfoo\n\n@@etcdplay:b\n\n@@etcdplay:c\nx";
        let s = parse_sections(out);
        assert_eq!(s["a"], b"foo\n");
        assert_eq!(s["b"], b"");
        assert_eq!(s["c"], b"x");
    }

    #[test]
    fn stat_lines_parse() {
        // Recorded from GNU coreutils 9.1 on Debian 12.
        let rec = "stat|symbolic link|777|0|0|root|root|27|1778311730.000000000|1778311730.000000000|1778311730.000000000|688|1|64768|0|4096|0|0\nlink|L3Vzci9zaGFyZS96b25laW5mby9FdGMvVVRD\nreal|L3Vzci9zaGFyZS96b25laW5mby9FdGMvVVRD\n";
        let st = PathState::parse(rec).unwrap();
        assert!(st.is_link() && st.exists);
        assert_eq!(
            st.link_target.as_deref(),
            Some("/usr/share/zoneinfo/Etc/UTC")
        );
        assert_eq!(st.state_word(), "link");
        let rec = "stat|regular file|644|0|0|root|root|1316|1795813292.040765093|1795813292.0|1795813292.0|1196100|1|64768|8|4096|0|0\nsha1|0123456789012345678901234567890123456789\n";
        let st = PathState::parse(rec).unwrap();
        assert_eq!((st.mode, st.size, st.owner.as_str()), (0o644, 1316, "root"));
        assert_eq!(
            st.sha1.as_deref(),
            Some("0123456789012345678901234567890123456789")
        );
        assert_eq!((st.blocks, st.block_size, st.rdev), (8, 4096, 0));
        assert!(!PathState::parse("").unwrap().exists);
        assert!(PathState::parse("stat|regular file|644").is_err());
        // Recorded (coreutils 9.1): /dev/null, where Python's os.lstat says st_blocks 0,
        // st_blksize 4096, st_rdev 259.
        let rec = "stat|character special file|666|0|0|root|root|0|1796375013.614155999|1796375013.614155999|1796375013.614155999|3|1|6|0|4096|1|3\n";
        let st = PathState::parse(rec).unwrap();
        assert_eq!((st.blocks, st.block_size, st.rdev), (0, 4096, 259));
        assert!(PathState::parse(&rec.replace("|1|3\n", "|1|x3\n")).is_err());
    }

    /// `st_rdev` of a major and minor number: Python's `os.makedev(1, 3)` is 259,
    /// `os.makedev(259, 0)` 66304, `os.makedev(1, 300)` 1048876, `os.makedev(4096, 1048575)`
    /// 17596479963391 (numbers past the 8 and 12 bits of the old encoding).
    #[test]
    fn device_numbers_combine_as_makedev() {
        assert_eq!(makedev(1, 3), 259);
        assert_eq!(makedev(259, 0), 66304);
        assert_eq!(makedev(1, 300), 1048876);
        assert_eq!(makedev(4096, 1048575), 17596479963391);
    }

    /// `ep_stat`'s blocks, block size and device number are the `lstat` fields Python (and so
    /// Ansible's `stat`) reads: a file, a directory, a device, a link.
    #[test]
    fn block_and_device_fields_are_lstats() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, vec![b'x'; 10_000]).unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        let null = std::path::Path::new("/dev/null");
        for path in [file.as_path(), dir.path(), null, link.as_path()] {
            let st = probed_state(path);
            let md = std::fs::symlink_metadata(path).unwrap();
            assert_eq!(
                (st.blocks, st.block_size, st.rdev),
                (md.blocks(), md.blksize(), md.rdev()),
                "{}",
                path.display()
            );
        }
    }

    /// Runs `ep_stat PATH` through `/bin/sh` with the checksum cache in `sums` (under
    /// `set -e`, as the file module runs it); returns the sha1 it printed.
    fn probed_sha1(sums: &std::path::Path, path: &std::path::Path) -> Option<String> {
        let script = format!("set -e\n{FUNCS}ep_stat \"$1\"\necho done\n");
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &script, "sh"])
            .arg(path)
            .env("EP_SUMS_DIR", sums)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.ends_with("done\n"), "{text}");
        PathState::parse(&text).unwrap().sha1
    }

    fn sha1_of(bytes: &[u8]) -> String {
        use sha1::Digest;
        sha1::Sha1::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Probes that `ep_stat` paths answer the same after [`batch_prelude`] as alone, and the
    /// prelude's one `stat` serves them all: a `stat` on `PATH` that logs its calls is run
    /// once for the whole batch (and once per path without the prelude).
    #[test]
    fn one_stat_in_the_prelude_serves_every_probe_of_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let bin = root.join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = root.join("stat.log");
        crate::test_shim::log_calls_of(&bin, "stat", &log);
        std::fs::write(root.join("a"), b"a").unwrap();
        std::fs::write(root.join("it's b"), b"b").unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("l")).unwrap();
        std::fs::create_dir(root.join("d")).unwrap();
        let q =
            |name: &str| etcdplay_transport::script::sh_quote(&root.join(name).to_string_lossy());
        let mut scripts: Vec<String> = ["a", "it's b", "l", "d", "missing", "a"]
            .iter()
            .map(|n| {
                format!(
                    "{FUNCS}{}ep_stat {}\n{}",
                    section("stat"),
                    q(n),
                    section("end")
                )
            })
            .collect();
        // A path stated through a variable, named by a hint.
        let hinted = root.join("d").to_string_lossy().into_owned();
        scripts.push(format!(
            "{FUNCS}{}d={}\nep_stat \"$d\"\n",
            stat_hint(&hinted),
            q("d")
        ));
        let refs: Vec<&str> = scripts.iter().map(String::as_str).collect();
        let prelude = batch_prelude(&refs);
        assert!(!prelude.is_empty());
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let run = |script: &str| {
            let out = std::process::Command::new("/bin/sh")
                .args(["-c", script])
                .env("PATH", &path)
                .env("EP_SUMS_DIR", root.join("sums"))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{script}");
            String::from_utf8(out.stdout).unwrap()
        };
        let calls = || crate::test_shim::take_log(&log).len();
        // The first run hashes the files (moving their access times) and fills the
        // checksum cache; the second is the one to compare with.
        refs.iter().for_each(|s| drop(run(s)));
        calls();
        let alone: Vec<String> = refs.iter().map(|s| run(s)).collect();
        assert_eq!(calls(), 6, "one stat per existing path without the prelude");
        let batch: String = refs
            .iter()
            .map(|s| format!("(\n{s}\n)\necho '@@next'\n"))
            .collect();
        let together = run(&format!("{{\n{prelude}\n}} >/dev/null 2>&1\n{batch}"));
        assert_eq!(calls(), 1, "one stat for the batch");
        let answers: Vec<&str> = together.split("@@next\n").collect();
        for (i, want) in alone.iter().enumerate() {
            assert_eq!(answers[i], want.as_str(), "probe {i}");
        }
        assert!(alone[0].contains("sha1|"), "{}", alone[0]);
        assert!(alone[2].contains("link|"), "{}", alone[2]);
        // The host agent answers the prelude's `stat` itself (`stat:` on the prelude's first
        // line) when it can answer for every path (not for the link): the same answers, no
        // `stat` at all.
        let plain: Vec<&str> = [0, 1, 3, 4, 6].iter().map(|&i| refs[i]).collect();
        let prelude = batch_prelude(&plain);
        assert!(
            prelude.lines().next().unwrap().contains(" stat:"),
            "{prelude}"
        );
        let agent = etcdplay_agent::prefill_answers(prelude.as_bytes()).unwrap();
        let answered = String::from_utf8_lossy(&agent).contains("ep_ag_stat='done'");
        let batch: String = plain
            .iter()
            .map(|s| format!("(\n{s}\n)\necho '@@next'\n"))
            .collect();
        let agent = String::from_utf8(agent).unwrap();
        let together = run(&format!(
            "{agent}{{\n{prelude}\n}} >/dev/null 2>&1\n{batch}"
        ));
        // Without names from /etc/passwd first, the agent leaves it to `stat`.
        assert_eq!(calls(), usize::from(!answered), "{agent}");
        let answers: Vec<&str> = together.split("@@next\n").collect();
        for (i, want) in [0, 1, 3, 4, 6].iter().map(|&i| &alone[i]).enumerate() {
            assert_eq!(
                answers[i],
                want.as_str(),
                "probe {i} with the agent's answers"
            );
        }
        // Fewer than two paths: no prelude.
        assert_eq!(stat_prelude(&refs[..1]), "");
        // Words that are not whole literal words are not copied into the prelude.
        for word in ["'open", "\"$d\"", "a b", "$(x)", "'a'b'"] {
            assert!(!is_literal_word(word), "{word}");
        }
        assert!(is_literal_word("'it'\\''s b'"));
    }

    /// `ep_b64` in a batch prints the host agent's answers (the prelude's `b64` word) exactly
    /// as `base64` would, and runs no `base64` for a path the agent answered.
    #[test]
    fn the_agent_s_contents_are_what_ep_b64_prints() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let bin = root.join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = root.join("base64.log");
        crate::test_shim::log_calls_of(&bin, "base64", &log);
        std::fs::write(root.join("it's"), b"line one\n\x00two").unwrap();
        std::fs::create_dir(root.join("d")).unwrap();
        let scripts: Vec<String> = ["it's", "d", "missing"]
            .iter()
            .map(|n| {
                let q = etcdplay_transport::script::sh_quote(&root.join(n).to_string_lossy());
                format!("{FUNCS}ep_b64 {q}\necho '@@next'\n")
            })
            .collect();
        let refs: Vec<&str> = scripts.iter().map(String::as_str).collect();
        let prelude = batch_prelude(&refs);
        let agent = String::from_utf8(etcdplay_agent::prefill_answers(prelude.as_bytes()).unwrap())
            .unwrap();
        assert!(agent.contains("ep_ag_bn='3'"), "{agent}");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let run = |answers: &str| {
            let body: String = refs.iter().map(|s| format!("(\n{s})\n")).collect();
            let out = std::process::Command::new("/bin/sh")
                .args(["-c", &format!("{answers}{prelude}{body}")])
                .env("PATH", &path)
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stderr), "");
            String::from_utf8(out.stdout).unwrap()
        };
        let shell = run("");
        assert_eq!(
            crate::test_shim::take_log(&log).len(),
            1,
            "the file, by base64"
        );
        assert_eq!(run(&agent), shell);
        assert!(
            crate::test_shim::take_log(&log).is_empty(),
            "no base64 with the answers"
        );
        assert!(
            shell.starts_with("bGluZSBvbmUKAHR3bw==@@next\n@@next\n@@next"),
            "{shell}"
        );
    }

    #[test]
    fn checksums_are_reused_only_while_the_file_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let sums = dir.path().join("run/sums");
        let file = dir.path().join("etcd");
        std::fs::write(&file, b"first version").unwrap();
        assert_eq!(probed_sha1(&sums, &file), Some(sha1_of(b"first version")));
        let entries: Vec<_> = std::fs::read_dir(&sums).unwrap().collect();
        assert_eq!(entries.len(), 1, "one cache entry");
        let entry = entries[0].as_ref().unwrap().path();
        let cached = std::fs::read_to_string(&entry).unwrap();
        assert!(
            cached.trim_end().ends_with(&sha1_of(b"first version")),
            "{cached}"
        );

        // A hit is taken from the entry: make the entry say something else to prove it.
        let fake = "f".repeat(40);
        let key = cached.rsplit_once(' ').unwrap().0.to_string();
        std::fs::write(&entry, format!("{key} {fake}\n")).unwrap();
        assert_eq!(probed_sha1(&sums, &file), Some(fake));

        // Same size, mtime put back: the ctime still moved, so the sum is computed again.
        let before = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::fs::write(&file, b"other version").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(before)
            .unwrap();
        assert_eq!(probed_sha1(&sums, &file), Some(sha1_of(b"other version")));

        // A torn entry is ignored.
        let key = std::fs::read_to_string(&entry)
            .unwrap()
            .rsplit_once(' ')
            .unwrap()
            .0
            .to_string();
        std::fs::write(&entry, format!("{key} abc\n")).unwrap();
        assert_eq!(probed_sha1(&sums, &file), Some(sha1_of(b"other version")));
    }

    /// Runs `ep_stat PATH` through `/bin/sh` and parses what it printed.
    fn probed_state(path: &std::path::Path) -> PathState {
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &format!("{FUNCS}ep_stat \"$1\""), "sh"])
            .arg(path)
            .env("EP_SUMS_DIR", path.with_extension("sums"))
            .output()
            .unwrap();
        PathState::parse(&String::from_utf8(out.stdout).unwrap()).unwrap()
    }

    #[test]
    fn a_newline_in_a_link_target_forges_no_field() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        let forged = format!("nowhere\nsha1|{}\nreal|/etc/shadow", "f".repeat(40));
        std::os::unix::fs::symlink(&forged, &link).unwrap();
        let st = probed_state(&link);
        assert!(st.is_link());
        assert_eq!(st.link_target.as_deref(), Some(forged.as_str()));
        assert_eq!(st.sha1, None, "a dangling link has no checksum");
        assert_eq!(
            st.real_path, None,
            "no directory named like the target's start"
        );
        let plain = dir.path().join("plain");
        let forged = format!("nowhere\nsha1|{}", "f".repeat(40));
        std::os::unix::fs::symlink(&forged, &plain).unwrap();
        let st = probed_state(&plain);
        assert_eq!(st.sha1, None);
        let real = std::fs::canonicalize(dir.path()).unwrap().join(&forged);
        assert_eq!(st.real_path.as_deref(), real.to_str());
    }

    #[test]
    fn a_link_reports_the_file_it_resolves_to() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/target"), b"x").unwrap();
        std::os::unix::fs::symlink("d/target", dir.path().join("l1")).unwrap();
        std::os::unix::fs::symlink("l1", dir.path().join("l2")).unwrap();
        let st = probed_state(&dir.path().join("l2"));
        assert_eq!(st.link_target.as_deref(), Some("l1"));
        let real = std::fs::canonicalize(dir.path().join("d/target")).unwrap();
        assert_eq!(st.real_path.as_deref(), real.to_str());
        assert_eq!(st.sha1, Some(sha1_of(b"x")));
    }

    #[test]
    fn checksums_work_without_a_writable_cache() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let blocked = dir.path().join("not-a-dir");
        std::fs::write(&blocked, b"").unwrap();
        assert_eq!(
            probed_sha1(&blocked.join("sums"), &file),
            Some(sha1_of(b"x"))
        );
        // Empty files are "regular empty file" to stat and are hashed directly.
        std::fs::write(&file, b"").unwrap();
        assert_eq!(
            probed_sha1(&blocked.join("sums"), &file),
            Some(sha1_of(b""))
        );
    }
}
