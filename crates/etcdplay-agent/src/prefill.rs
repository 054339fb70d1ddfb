//! Answers a script would otherwise start a process for, computed by the agent and handed to
//! the script as shell variables in front of it. A script asks on its first line,
//! `# ep_agent_prefill WORD...`; only the first line counts, so that nothing that ran earlier
//! in the same request (a change, in front of a read-ahead batch) can have made an answer
//! stale: such a request starts with the change. Every answer is either exactly what the
//! command would print or absent (then the script runs the command); where an answer
//! depends on the script's own environment, the script checks it (the facts script uses the
//! interpreter's `readlink -f` only for the very interpreter its own `$PATH` search found).
//!
//! Words: `cpuinfo` (`grep` of `/proc/cpuinfo`'s CPU lines: `ep_ag_cpuinfo`), `fqdn`
//! (`hostname -f`, when the name resolves from `/etc/hosts` as the first source: `ep_ag_fqdn`),
//! `python` (the first `python3`/`python` on `PATH` and its `readlink -f`: `ep_ag_py`,
//! `ep_ag_pyr`), `newer:STAMP:INPUT...` (whether `find INPUT... -cnewer STAMP`
//! would print anything: `ep_ag_newer=yes|no`, see `newer.rs`), `files` (the facts sections
//! that only read files, as the facts script prints them: `ep_ag_files`, see
//! `facts_files.rs`) and `ids`
//! (the real uid, gid and usable CPUs of `/proc/self/status`, the same for the script that
//! the agent starts: `ep_ag_uid`, `ep_ag_gid`, `ep_ag_cpus`), `stat:PATH:...` (the lines a
//! read-ahead batch's one `stat` of its paths would print, see `stat_line.rs`), `b64:PATH:...`
//! (what `ep_b64` prints for each, see `contents.rs`), `noetcd` (`ep_ag_noetcd=yes` when no
//! unit file mentions etcd, see `unit_files.rs`; not looked for when the same request's
//! `newer` found no unit file changed). Two words act rather than answer:
//! `put:MODE:DEST` writes the request's input to `DEST` as the put script would (`put.rs`;
//! `ep_ag_put=done`, and the written file's `ep_stat` line), and `mkdir:MODE:PATH` makes a
//! directory as `mkdir -p` and `chmod` would (`mkdir.rs`; `ep_ag_mkdir=done`), so that the
//! script, whose only change that act is, skips it. Three more act on systemd through its
//! private socket (`manager.rs`): `sd-enable:UNIT` and `sd-disable:UNIT`
//! (`ep_ag_sdunit=done`) and `sd-reload:STAMP` (`ep_ag_sdrl=done`), in the `systemd`
//! module's request that runs a due reload, whose script skips what they did. Words after
//! an act are answered after it, which is why etcdplay may put the words of a read-ahead
//! batch that follows such a change in the same request on the change's line; when an act
//! is left to the script, nothing after it is answered.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::Mode;

use crate::manager::Manager;
use crate::mkdir::MakeDir;
use crate::put::Put;

/// The first-line hint (`etcdplay-transport`'s `AGENT_PREFILL_HINT`; a test there checks
/// that they agree).
pub const HINT: &str = "# ep_agent_prefill ";

/// What a request gives the words besides the script: its input (`put` writes it) and the
/// login's umask (`mkdir` makes directories under it, as the script would).
pub(crate) struct Request<'a> {
    pub(crate) input: Option<&'a Path>,
    pub(crate) login_umask: Mode,
}

/// Shell assignments answering the words of `script`'s first line, or `None` when it asks
/// nothing. Words are taken in order; an act (`put`, `mkdir`) that the agent cannot do ends
/// the answers, because the words after it were asked about the host after the act, which
/// the script will now do itself.
pub(crate) fn prefill(script: &[u8], request: &Request<'_>) -> Option<Vec<u8>> {
    let first = script.split(|&b| b == b'\n').next()?;
    let words = first.strip_prefix(HINT.as_bytes())?;
    let mut out = Vec::new();
    let mut wants_noetcd = false;
    let mut reload_due = None;
    let mut manager = None;
    for word in words.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
        if let Some(acted) = act(word, request, &mut manager, &mut out) {
            if !acted {
                return Some(out);
            }
            continue;
        }
        match word {
            b"cpuinfo" => assign(&mut out, "ep_ag_cpuinfo", &cpuinfo()),
            b"fqdn" => {
                if let Some(name) = fqdn() {
                    assign(&mut out, "ep_ag_fqdn", name.as_bytes());
                }
            }
            b"python" => python(&mut out),
            b"files" => {
                if let Some(text) = crate::facts_files::sections() {
                    assign(&mut out, "ep_ag_files", &text);
                }
            }
            b"noetcd" => wants_noetcd = true,
            b"ids" => {
                let (uid, gid, cpus) = crate::facts_files::ids();
                assign(&mut out, "ep_ag_uid", uid.as_bytes());
                assign(&mut out, "ep_ag_gid", gid.as_bytes());
                assign(&mut out, "ep_ag_cpus", cpus.as_bytes());
                assign(&mut out, "ep_ag_ids", b"1");
            }
            _ => {
                if let Some(spec) = word.strip_prefix(b"newer:") {
                    reload_due = crate::newer::newer(spec);
                    if let Some(newer) = reload_due {
                        assign(&mut out, "ep_ag_newer", if newer { b"yes" } else { b"no" });
                    }
                } else if let Some(spec) = word.strip_prefix(b"stat:") {
                    if let Some(answers) = crate::stat_line::prefill_stats(spec) {
                        out.extend(answers);
                    }
                } else if let Some(spec) = word.strip_prefix(b"b64:") {
                    out.extend(crate::contents::prefill_contents(spec));
                }
            }
        }
    }
    // The guard that asks only needs the answer when systemd's view is stale; in a batch
    // whose reload check (`newer`) found nothing changed, that view is trusted and the look
    // over every unit file (~2 ms) is not worth making.
    if wants_noetcd && no_etcd_unit(reload_due, &crate::unit_files::unit_dirs()) {
        assign(&mut out, "ep_ag_noetcd", b"yes");
    }
    Some(out)
}

/// The `noetcd` answer: looked for only unless the reload check found nothing changed.
fn no_etcd_unit(reload_due: Option<bool>, unit_dirs: &str) -> bool {
    reload_due != Some(false) && crate::unit_files::none_mention_etcd(unit_dirs) == Some(true)
}

/// Does what an acting word asks: `Some(true)` when done, `Some(false)` when left to the
/// script (also for an act the agent does not take, such as a relative path), `None` for a
/// word that does not act.
fn act(
    word: &[u8],
    request: &Request<'_>,
    manager: &mut Option<Manager>,
    out: &mut Vec<u8>,
) -> Option<bool> {
    if let Some(spec) = word.strip_prefix(b"sd-enable:") {
        let manager = manager.get_or_insert_with(Manager::of_this_host);
        return Some(manager.unit_file_act(true, spec, out));
    }
    if let Some(spec) = word.strip_prefix(b"sd-disable:") {
        let manager = manager.get_or_insert_with(Manager::of_this_host);
        return Some(manager.unit_file_act(false, spec, out));
    }
    if let Some(spec) = word.strip_prefix(b"sd-reload:") {
        let manager = manager.get_or_insert_with(Manager::of_this_host);
        return Some(manager.stamped_reload(spec, out));
    }
    if let Some(spec) = word.strip_prefix(b"put:") {
        return Some(
            Put::parse(spec).is_some_and(|put| crate::put::write(&put, request.input, out)),
        );
    }
    if let Some(spec) = word.strip_prefix(b"mkdir:") {
        return Some(
            MakeDir::parse(spec)
                .is_some_and(|dir| crate::mkdir::make(&dir, request.login_umask, out)),
        );
    }
    None
}

/// The bytes a word's hex digits stand for (paths travel in hex on the hint line: they may
/// hold spaces, colons, any byte but NUL).
pub(crate) fn unhex(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// The path a word's hex digits stand for.
pub(crate) fn hex_path(hex: &[u8]) -> Option<PathBuf> {
    Some(PathBuf::from(OsStr::from_bytes(&unhex(hex)?)))
}

/// `NAME='VALUE'` and a newline, the value quoted for the shell.
pub(crate) fn assign(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"='");
    for &b in value {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(b"'\n");
}

/// What `grep -E '^(processor|vendor_id|model name|physical id|cpu cores|siblings)
/// [[:space:]]*:' /proc/cpuinfo` prints.
fn cpuinfo() -> Vec<u8> {
    const KEYS: [&[u8]; 6] = [
        b"processor",
        b"vendor_id",
        b"model name",
        b"physical id",
        b"cpu cores",
        b"siblings",
    ];
    let text = fs::read("/proc/cpuinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let wanted = KEYS.iter().any(|key| {
            line.strip_prefix(*key).is_some_and(|rest| {
                rest.iter()
                    .find(|b| !b.is_ascii_whitespace() && **b != 0x0b)
                    .is_some_and(|&b| b == b':')
            })
        });
        if wanted {
            out.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                out.push(b'\n');
            }
        }
    }
    out
}

/// `hostname -f` where the C library would answer it from `/etc/hosts`: `files` is the first
/// source of `hosts:` in `/etc/nsswitch.conf` and a line there names the host. Its canonical
/// name is that line's first name. Otherwise (DNS, systemd's `myhostname`) `None`.
fn fqdn() -> Option<String> {
    let host = fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let host = host.trim_end_matches('\n');
    if host.is_empty() {
        return None;
    }
    let nsswitch = fs::read_to_string("/etc/nsswitch.conf").ok()?;
    let sources = nsswitch.lines().find_map(|l| {
        let l = l.split('#').next().unwrap_or("");
        l.trim_start().strip_prefix("hosts:")
    })?;
    if sources.split_whitespace().next()? != "files" {
        return None;
    }
    let hosts = fs::read_to_string("/etc/hosts").ok()?;
    hosts.lines().find_map(|line| {
        let mut fields = line.split('#').next().unwrap_or("").split_whitespace();
        fields.next()?.parse::<std::net::IpAddr>().ok()?;
        let names: Vec<&str> = fields.collect();
        names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(host))
            .then(|| names[0].to_string())
    })
}

/// The Python interpreter the facts script looks for (the first `python3`, else `python`, on
/// `PATH` that is a file and executable) and its canonical path.
fn python(out: &mut Vec<u8>) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["python3", "python"] {
        for dir in path.as_bytes().split(|&b| b == b':') {
            let mut candidate = dir.to_vec();
            candidate.push(b'/');
            candidate.extend_from_slice(name.as_bytes());
            let candidate = PathBuf::from(OsStr::from_bytes(&candidate));
            let Ok(meta) = fs::metadata(&candidate) else {
                continue;
            };
            if !meta.is_file() || meta.mode() & 0o111 == 0 {
                continue;
            }
            if let Ok(real) = fs::canonicalize(&candidate) {
                assign(out, "ep_ag_py", candidate.as_os_str().as_bytes());
                assign(out, "ep_ag_pyr", real.as_os_str().as_bytes());
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_first_line_hint_asks() {
        let req = Request {
            input: None,
            login_umask: Mode::from_raw_mode(0o022),
        };
        assert_eq!(prefill(b"echo\n# ep_agent_prefill cpuinfo\n", &req), None);
        assert_eq!(prefill(b"# ep_agent_prefill\n", &req), None);
        assert_eq!(
            prefill(b"# ep_agent_prefill unknown\nx", &req).unwrap(),
            b""
        );
    }

    #[test]
    fn unit_files_are_looked_at_only_when_a_reload_may_be_due() {
        let dir = tempfile_dir();
        fs::write(dir.join("app.service"), "[Service]\nExecStart=/bin/true\n").unwrap();
        let dirs = dir.display().to_string();
        assert!(no_etcd_unit(Some(true), &dirs));
        assert!(no_etcd_unit(None, &dirs));
        assert!(!no_etcd_unit(Some(false), &dirs));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn values_are_quoted_for_the_shell() {
        let mut out = Vec::new();
        assign(&mut out, "v", b"it's\n$x");
        assert_eq!(out, b"v='it'\\''s\n$x'\n");
    }

    /// A fresh directory under the system's temporary one.
    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "etcdplay-agent-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}
