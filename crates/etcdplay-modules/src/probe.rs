//! How modules read a host's state in one round trip: a script prints named sections
//! (`@@etcdplay:NAME` header lines) and a pure parser splits them; `ep_stat` prints one line of
//! `stat` output per path, which [`PathState::parse`] turns into a typed state. Parsers are
//! tested on recorded output, so the host is needed only to run the commands.

use std::collections::BTreeMap;

use base64::Engine;

const MARK: &[u8] = b"\n@@etcdplay:";

/// Shell functions every probe script may use. `ep_stat PATH` prints the lstat line, the link
/// target, and the sha1 of a regular file (following a link, as copy compares content through
/// one). `ep_b64 PATH` prints a regular file's content as base64 on one line.
pub(crate) const FUNCS: &str = r#"ep_stat() {
  if [ -e "$1" ] || [ -L "$1" ]; then
    stat -c 'stat|%F|%a|%u|%g|%U|%G|%s|%.9Y|%.9X|%.9Z|%i|%h|%d' -- "$1" || return 0
    if [ -L "$1" ]; then printf 'link|%s\n' "$(readlink -- "$1")"; fi
    if [ -f "$1" ] && [ -r "$1" ]; then printf 'sha1|%s\n' "$(sha1sum < "$1" | cut -c1-40)"; fi
  fi
}
ep_b64() { if [ -f "$1" ] && [ -r "$1" ]; then base64 -w0 < "$1"; fi; }
"#;

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
    pub(crate) link_target: Option<String>,
    pub(crate) sha1: Option<String>,
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
                    if f.len() != 13 {
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
                }
                (Some("link"), Some(target)) => st.link_target = Some(target.to_string()),
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
        let rec = "stat|symbolic link|777|0|0|root|root|27|1778311730.000000000|1778311730.000000000|1778311730.000000000|688|1|64768\nlink|/usr/share/zoneinfo/Etc/UTC\n";
        let st = PathState::parse(rec).unwrap();
        assert!(st.is_link() && st.exists);
        assert_eq!(
            st.link_target.as_deref(),
            Some("/usr/share/zoneinfo/Etc/UTC")
        );
        assert_eq!(st.state_word(), "link");
        let rec = "stat|regular file|644|0|0|root|root|1316|1795813292.040765093|1795813292.0|1795813292.0|1196100|1|64768\nsha1|0123456789012345678901234567890123456789\n";
        let st = PathState::parse(rec).unwrap();
        assert_eq!((st.mode, st.size, st.owner.as_str()), (0o644, 1316, "root"));
        assert_eq!(
            st.sha1.as_deref(),
            Some("0123456789012345678901234567890123456789")
        );
        assert!(!PathState::parse("").unwrap().exists);
        assert!(PathState::parse("stat|regular file|644").is_err());
    }
}
