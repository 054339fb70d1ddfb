//! `stat`: report what is at a path (Ansible's `stat` result dict: exists, mode as `'0644'`,
//! isdir/isreg/islnk, size, uid/gid, pw_name/gr_name, sha1 checksum, times...). Read-only, so it
//! runs in check mode too, and never reports a change.

use etcdplay_transport::script::sh_quote;
use serde_json::{Map, Value};

use crate::host::Ctx;
use crate::mode::format_stat_mode;
use etcdplay_transport::ExecOutput;

use crate::probe::{section, Kind, PathState};
use crate::read_ahead::{sections, text, with_funcs, FirstProbe, ProbeInput};
use crate::{ModuleError, ModuleResult};

/// `stat`'s probe: the path (or where it leads, with `follow`), its access for the login, its
/// checksum with the algorithm asked for, and (unless turned off) what `file` says of its type
/// and `lsattr` of its attributes, as Ansible's module asks them (of the path as given).
pub(crate) struct StatProbe;

/// What [`StatProbe`] read: the path's state, its `rwx` access, its checksum, `file`'s and
/// `lsattr`'s answers (`None` when not asked).
pub(crate) struct StatAnswer {
    stat: PathState,
    access: String,
    sum: String,
    mime: Option<String>,
    attr: Option<String>,
}

impl FirstProbe for StatProbe {
    type Answer = StatAnswer;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let args = input.args;
        let path = args.req_str("path")?;
        let algo = args
            .str("checksum_algorithm")
            .unwrap_or_else(|| "sha1".into());
        let tool = match algo.as_str() {
            "sha1" => "sha1sum",
            "sha224" => "sha224sum",
            "sha256" => "sha256sum",
            "sha384" => "sha384sum",
            "sha512" => "sha512sum",
            "md5" => "md5sum",
            other => {
                return Err(ModuleError::bad(
                    args.module,
                    "checksum_algorithm",
                    format!("unsupported algorithm '{other}'"),
                ))
            }
        };
        let q = sh_quote(&path);
        let target = if args.bool("follow", false)? {
            format!("\"$(readlink -f -- {q} || printf '%s' {q})\"")
        } else {
            q.clone()
        };
        let mut script = format!("p={target}\n{}ep_stat \"$p\"\n", section("stat"));
        script.push_str(&section("access"));
        script.push_str(
            "[ -r \"$p\" ] && printf r; [ -w \"$p\" ] && printf w; [ -x \"$p\" ] && printf x; echo\n",
        );
        if args.bool("get_checksum", true)? {
            script.push_str(&section("sum"));
            script.push_str(&format!(
                "[ -f \"$p\" ] && [ -r \"$p\" ] && {tool} < \"$p\" | cut -d' ' -f1\n"
            ));
        }
        // Ansible runs these only when it finds the program; without it the fields are
        // `unknown` (mime) or empty (attributes). An empty section is that answer. A missing
        // path costs no process (the shell's own tests; its result has no such fields).
        if args.bool("get_mime", true)? {
            script.push_str(&section("mime"));
            script.push_str(&format!(
                "if {{ [ -e \"$p\" ] || [ -L \"$p\" ]; }} && command -v file >/dev/null 2>&1; then file -b --mime-type --mime-encoding -- {q} 2>/dev/null; fi\n"
            ));
        }
        if args.bool("get_attributes", true)? {
            script.push_str(&section("attr"));
            // lsattr takes no `--`: a relative path is made to not look like an option.
            let arg = sh_quote(&no_option(&path));
            script.push_str(&format!(
                "if {{ [ -e \"$p\" ] || [ -L \"$p\" ]; }} && command -v lsattr >/dev/null 2>&1; then lsattr -vd {arg} 2>/dev/null; fi\n"
            ));
        }
        script.push_str(&section("end"));
        Ok(Some(with_funcs(&script)))
    }

    fn parse(out: &ExecOutput) -> Result<StatAnswer, String> {
        let s = sections(out)?;
        let optional = |name: &str| s.contains_key(name).then(|| text(&s, name).to_string());
        Ok(StatAnswer {
            stat: PathState::parse(text(&s, "stat").trim())?,
            access: text(&s, "access").trim().to_string(),
            sum: text(&s, "sum").trim().to_string(),
            mime: optional("mime"),
            attr: optional("attr"),
        })
    }
}

/// A path as an argument of a program without `--`: a relative one gets `./`.
fn no_option(path: &str) -> String {
    if path.starts_with('-') {
        format!("./{path}")
    } else {
        path.to_string()
    }
}

/// `mimetype` and `charset` from `file -b --mime-type --mime-encoding` (`text/plain;
/// charset=us-ascii`), as Ansible's module splits them; `unknown` for both when `file` gave
/// nothing (not installed, it failed) or something else.
pub(crate) fn mime_fields(file_output: &str) -> (String, String) {
    let unknown = || ("unknown".to_string(), "unknown".to_string());
    let parts: Vec<&str> = file_output.trim().split(';').collect();
    let [mimetype, charset] = parts.as_slice() else {
        return unknown();
    };
    match charset.split('=').nth(1) {
        Some(charset) => (mimetype.trim().to_string(), charset.trim().to_string()),
        None => unknown(),
    }
}

/// What `lsattr -v` letters mean, as Ansible names them in `attributes`.
const ATTRIBUTE_NAMES: &[(char, &str)] = &[
    ('A', "noatime"),
    ('a', "append"),
    ('c', "compressed"),
    ('C', "nocow"),
    ('d', "nodump"),
    ('D', "dirsync"),
    ('e', "extents"),
    ('E', "encrypted"),
    ('h', "blocksize"),
    ('i', "immutable"),
    ('I', "indexed"),
    ('j', "journalled"),
    ('N', "inline"),
    ('s', "zero"),
    ('S', "synchronous"),
    ('t', "notail"),
    ('T', "blockroot"),
    ('u', "undelete"),
    ('X', "compressedraw"),
    ('Z', "compresseddirty"),
];

/// `version`, `attr_flags` and `attributes` from `lsattr -vd` (`0  ----e---- path`), as
/// Ansible's module sets them: `null`, `""` and `[]` when lsattr gave nothing (not installed,
/// or a file system without attributes, as overlayfs).
pub(crate) fn attribute_fields(lsattr_output: &str) -> (Value, String, Vec<String>) {
    let mut words = lsattr_output.split_whitespace();
    let (Some(version), Some(flags)) = (words.next(), words.next()) else {
        return (Value::Null, String::new(), Vec::new());
    };
    let flags = flags.replace('-', "");
    let names = flags
        .chars()
        .filter_map(|c| ATTRIBUTE_NAMES.iter().find(|(l, _)| *l == c))
        .map(|(_, name)| name.to_string())
        .collect();
    (Value::String(version.to_string()), flags, names)
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let path = ctx.args.req_str("path")?;
    let get_checksum = ctx.args.bool("get_checksum", true)?;
    let StatAnswer {
        stat: st,
        access,
        sum,
        mime,
        attr,
    } = ctx.read_probe::<StatProbe>().await?;
    let mut dict = stat_dict(&path, &st, &access, get_checksum.then_some(sum));
    if st.exists {
        if let Some(mime) = mime {
            let (mimetype, charset) = mime_fields(&mime);
            dict.insert("mimetype".into(), mimetype.into());
            dict.insert("charset".into(), charset.into());
        }
        if let Some(attr) = attr {
            let (version, flags, names) = attribute_fields(&attr);
            dict.insert("version".into(), version);
            dict.insert("attributes".into(), names.into());
            dict.insert("attr_flags".into(), flags.into());
        }
    }
    let mut res = ModuleResult::ok();
    res.set("stat", Value::Object(dict));
    Ok(res)
}

/// Ansible's `stat` dictionary for a probed path.
pub(crate) fn stat_dict(
    path: &str,
    st: &PathState,
    access: &str,
    checksum: Option<String>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("exists".into(), st.exists.into());
    if !st.exists {
        return m;
    }
    let kind = st.kind.clone().unwrap_or(Kind::Other(String::new()));
    let other = |name: &str| matches!(&kind, Kind::Other(k) if k == name);
    m.insert("path".into(), path.into());
    m.insert("mode".into(), format_stat_mode(st.mode).into());
    m.insert("isdir".into(), (kind == Kind::Dir).into());
    m.insert("isreg".into(), (kind == Kind::File).into());
    m.insert("islnk".into(), (kind == Kind::Link).into());
    m.insert("isblk".into(), other("block special file").into());
    m.insert("ischr".into(), other("character special file").into());
    m.insert("isfifo".into(), other("fifo").into());
    m.insert("issock".into(), other("socket").into());
    m.insert("size".into(), st.size.into());
    m.insert("uid".into(), st.uid.into());
    m.insert("gid".into(), st.gid.into());
    m.insert("pw_name".into(), st.owner.clone().into());
    m.insert("gr_name".into(), st.group.clone().into());
    m.insert("inode".into(), st.inode.into());
    m.insert("dev".into(), st.dev.into());
    m.insert("nlink".into(), st.nlink.into());
    // Linux's platform fields, which Ansible's module copies from its `os.stat` result.
    m.insert("blocks".into(), st.blocks.into());
    m.insert("block_size".into(), st.block_size.into());
    m.insert("device_type".into(), st.rdev.into());
    m.insert("mtime".into(), st.mtime.into());
    m.insert("atime".into(), st.atime.into());
    m.insert("ctime".into(), st.ctime.into());
    m.insert("readable".into(), access.contains('r').into());
    m.insert("writeable".into(), access.contains('w').into());
    m.insert("executable".into(), access.contains('x').into());
    for (bit, name) in [
        (0o400, "rusr"),
        (0o200, "wusr"),
        (0o100, "xusr"),
        (0o040, "rgrp"),
        (0o020, "wgrp"),
        (0o010, "xgrp"),
        (0o004, "roth"),
        (0o002, "woth"),
        (0o001, "xoth"),
    ] {
        m.insert(name.into(), (st.mode & bit != 0).into());
    }
    m.insert("isuid".into(), (st.mode & 0o4000 != 0).into());
    m.insert("isgid".into(), (st.mode & 0o2000 != 0).into());
    if let Some(target) = &st.link_target {
        m.insert("lnk_target".into(), target.clone().into());
        let source = if target.starts_with('/') {
            target.clone()
        } else {
            format!(
                "{}/{target}",
                path.rsplit_once('/').map(|p| p.0).unwrap_or(".")
            )
        };
        m.insert("lnk_source".into(), source.into());
    }
    if let Some(sum) = checksum.filter(|s| !s.is_empty()) {
        m.insert("checksum".into(), sum.into());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded `ep_stat` lines (coreutils 9.1) of a 6-byte file, a directory and /dev/null;
    /// ansible-playbook 2.19.14's `stat` of the same paths reported `blocks` 8, 8, 0,
    /// `block_size` 4096 for all three and `device_type` 0, 0, 259.
    #[test]
    fn blocks_block_size_and_device_type_are_reported() {
        let recorded = [
            (
                "stat|regular file|644|0|0|root|root|6|1.0|1.0|1.0|5|1|65024|8|4096|0|0",
                8,
                0,
            ),
            (
                "stat|directory|755|0|0|root|root|60|1.0|1.0|1.0|6|2|65024|8|4096|0|0",
                8,
                0,
            ),
            (
                "stat|character special file|666|0|0|root|root|0|1.0|1.0|1.0|3|1|6|0|4096|1|3",
                0,
                259,
            ),
        ];
        for (line, blocks, device_type) in recorded {
            let st = PathState::parse(line).unwrap();
            let dict = stat_dict("/p", &st, "rw", None);
            assert_eq!(dict["blocks"], blocks, "{line}");
            assert_eq!(dict["block_size"], 4096, "{line}");
            assert_eq!(dict["device_type"], device_type, "{line}");
        }
    }

    /// Recorded on a Debian host: `file -b --mime-type --mime-encoding` of a text file, an
    /// empty one, a directory; Ansible reports `text/plain`/`us-ascii`, `inode/x-empty`/
    /// `binary`, `inode/directory`/`binary`, and `unknown` for both without `file`.
    #[test]
    fn mime_fields_are_split_as_ansible_splits_file_output() {
        let field = |t: &str| mime_fields(t);
        assert_eq!(
            field("text/plain; charset=us-ascii\n"),
            ("text/plain".into(), "us-ascii".into())
        );
        assert_eq!(
            field("inode/x-empty; charset=binary\n"),
            ("inode/x-empty".into(), "binary".into())
        );
        assert_eq!(field(""), ("unknown".into(), "unknown".into()));
        assert_eq!(field("garbage"), ("unknown".into(), "unknown".into()));
    }

    /// Recorded `lsattr -vd`: on ext4 `0  --------------e------- /etc/hostname` (Ansible:
    /// version "0", attr_flags "e", attributes ["extents"]); on overlayfs lsattr fails and
    /// prints nothing (Ansible: version null, attr_flags "", attributes []).
    #[test]
    fn attribute_fields_name_lsattr_letters() {
        let (version, flags, names) =
            attribute_fields("0          --------------e------- /etc/hostname\n");
        assert_eq!(version, Value::String("0".into()));
        assert_eq!(flags, "e");
        assert_eq!(names, ["extents"]);
        let (version, flags, names) = attribute_fields("7 s---ia-------e------- /f\n");
        assert_eq!(version, Value::String("7".into()));
        assert_eq!(flags, "siae");
        assert_eq!(names, ["zero", "immutable", "append", "extents"]);
        assert_eq!(
            attribute_fields(""),
            (Value::Null, String::new(), Vec::new())
        );
    }
}
