//! Shell snippets shared by every transport, so that the SSH and local transports write files and
//! escalate privileges the same way. All of them are plain POSIX sh plus coreutils, which every
//! host etcdplay manages has.

use crate::{Become, BecomeMethod, ExecRequest, PutRequest};

/// Quotes `s` for POSIX sh as one word.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The script that writes standard input to `req.dest` atomically: a temporary file next to the
/// destination receives the bytes, its mode/owner/group are set, and only then is it renamed
/// over the destination. An interrupted upload leaves at most a stray `.etcdplay-tmp.*` file,
/// never a truncated destination; the trap removes even that on a clean failure.
pub fn atomic_put_script(req: &PutRequest) -> ExecRequest {
    let script = put_script(req, req.content.len());
    ExecRequest {
        script,
        stdin: req.content.to_vec(),
        env: Vec::new(),
        become_: req.become_.clone(),
    }
}

/// [`atomic_put_script`] for the remote loop (`shell_protocol`), which runs a script without
/// become with its input in a file that it has read whole (the frame's trailer proves it): the
/// size check cannot fail there and costs a `wc` per upload, so it is left out. Through sudo or
/// su the input is piped again, so it stays.
///
/// The host agent writes the file itself when the script's first line asks it to
/// ([`agent_put_hint`]); the script then skips its own write.
pub(crate) fn framed_put_script(req: &PutRequest) -> ExecRequest {
    let len = req.content.len();
    let put = if req.become_.is_none() {
        put_script_checking(req, None)
    } else {
        put_script(req, len)
    };
    let script = match agent_put_hint(req) {
        Some(hint) => format!("{hint}if [ \"${{ep_ag_put-}}\" != done ]; then\n{put}fi\n"),
        None => put,
    };
    ExecRequest {
        script,
        stdin: req.content.to_vec(),
        env: Vec::new(),
        become_: req.become_.clone(),
    }
}

/// [`framed_put_script`], then `after` in a subshell whose exit status is dropped (so that a
/// non-zero exit can only be the write's: `set -e` stops before `after`), in one request. When
/// the agent writes the file, its prefill line also carries `after`'s words, answered after
/// the write (`host_agent::joined_hints`).
pub(crate) fn framed_put_then_read(req: &PutRequest, after: ExecRequest) -> ExecRequest {
    let mut both = framed_put_script(req);
    let (hint, put, after_script) = crate::host_agent::joined_hints(&both.script, &after.script);
    both.script = format!("{hint}{put}set +e\n(\n{after_script}\n)\nexit 0\n");
    both.env = after.env;
    both
}

/// The host agent's prefill line that has it write `req` (`etcdplay-agent`'s `put.rs`:
/// `put:MODE:DEST`, the destination in hex), for an upload that names no owner or group (the
/// script resolves those names); a comment to the shell loop.
fn agent_put_hint(req: &PutRequest) -> Option<String> {
    if req.owner.is_some() || req.group.is_some() {
        return None;
    }
    let mode = req.mode.map_or("-".to_string(), |m| format!("{m:o}"));
    let dest = crate::agent_hint_path(&req.dest);
    Some(format!("{}put:{mode}:{dest}\n", crate::AGENT_PREFILL_HINT))
}

/// The script of [`atomic_put_script`] for content of `len` bytes arriving on standard input.
/// An interrupted sender (Ctrl-C, a killed etcdplay, a dropped connection) closes the input
/// early, which `cat` takes for a normal end: the size check is what keeps such a short file
/// from being renamed over the destination.
pub(crate) fn put_script(req: &PutRequest, len: usize) -> String {
    put_script_checking(req, Some(len))
}

/// `dirname "$dest"` into `$dir` with shell builtins (one process less per upload): trailing
/// slashes off, then the last component and the slashes before it.
const DIRNAME: &str = r#"dir=$dest
while [ "${dir%/}" != "$dir" ] && [ "$dir" != / ]; do dir=${dir%/}; done
case $dir in
  */*) dir=${dir%/*}; while [ "${dir%/}" != "$dir" ]; do dir=${dir%/}; done; [ -n "$dir" ] || dir=/;;
  *) dir=.;;
esac
"#;

/// [`put_script`], checking that `len` bytes arrived when `len` is given.
fn put_script_checking(req: &PutRequest, len: Option<usize>) -> String {
    let dest = sh_quote(&req.dest);
    let mut script = String::new();
    script.push_str("set -e\n");
    script.push_str(&format!("dest={dest}\n"));
    script.push_str(DIRNAME);
    // The temporary file is created by the shell (no `mktemp`, one process less per upload),
    // exclusively (`set -C`) under the script's own pid, `mktemp` only if that name is taken
    // (`true`, not `:`: a failed redirection of a special builtin would end the shell).
    // A mode that creation can give (no execute or special bits) is given at once through the
    // umask, so no `chmod` follows; any other starts private (0600, as `mktemp`'s).
    let created_mode = req.mode.filter(|m| m & !0o666 == 0);
    let umask = created_mode.map_or(0o077, |m| 0o777 & !m);
    script.push_str(&format!(
        "umask {umask:03o}\ntmp=\"$dir/.etcdplay-tmp.$$\"\n\
         if {{ set -C; true >\"$tmp\"; }} 2>/dev/null; then set +C; else set +C; tmp=$(mktemp \"$dir/.etcdplay-tmp.XXXXXXXX\"); fi\n"
    ));
    script.push_str("trap 'rm -f \"$tmp\"' EXIT\n");
    script.push_str("cat > \"$tmp\"\n");
    if let Some(len) = len {
        script.push_str(&format!(
            "got=$(wc -c < \"$tmp\")\n[ \"$got\" -eq {len} ] || {{ echo \"upload cut short: $got of {len} bytes arrived\" >&2; exit 1; }}\n"
        ));
    }
    // Owner and group first: chown clears the setuid and setgid bits that chmod sets.
    // A file being replaced keeps its owner and group unless others are asked for, as
    // Ansible's atomic move does (where that is not allowed, the writer's stay). A link at
    // `dest` is replaced, not written through: its target's attributes are not taken either.
    let replaces_file = "[ -f \"$dest\" ] && ! [ -L \"$dest\" ]";
    match (&req.owner, &req.group) {
        (Some(owner), group) => {
            script.push_str(&format!("chown -- {} \"$tmp\"\n", sh_quote(owner)));
            if let Some(group) = group {
                script.push_str(&format!("chgrp -- {} \"$tmp\"\n", sh_quote(group)));
            }
        }
        (None, Some(group)) => {
            script.push_str(&format!(
                "if {replaces_file}; then chown --reference=\"$dest\" -- \"$tmp\" 2>/dev/null || :; fi\n"
            ));
            script.push_str(&format!("chgrp -- {} \"$tmp\"\n", sh_quote(group)));
        }
        (None, None) => script.push_str(&format!(
            "if {replaces_file}; then chown --reference=\"$dest\" -- \"$tmp\" 2>/dev/null || :; fi\n"
        )),
    }
    match req.mode {
        // Created with it, unless `mktemp` made the file (0600).
        Some(mode) if created_mode.is_some() => script.push_str(&format!(
            "case $tmp in \"$dir/.etcdplay-tmp.$$\") ;; *) chmod {mode:o} \"$tmp\";; esac\n"
        )),
        Some(mode) => script.push_str(&format!("chmod {mode:o} \"$tmp\"\n")),
        // Keep the mode of the file being replaced; a new file gets 0644 like Ansible's default
        // umask would give it.
        None => script.push_str(&format!(
            "if {replaces_file}; then chmod --reference=\"$dest\" -- \"$tmp\"; else chmod 644 \"$tmp\"; fi\n"
        )),
    }
    script.push_str("mv -f \"$tmp\" \"$dest\"\ntrap - EXIT\n");
    script
}

/// The command line (program and arguments) that runs `script` under `become`, or plainly, and
/// the bytes to send on its standard input before the script's own input (the su password line,
/// which the command takes off again). `sudo -n` never prompts: when a password would be needed
/// it fails, and the transport turns that into [`crate::TransportError::BecomeNeedsPassword`].
/// Whether the login already is the become user is decided on the host (`id -un`), never
/// guessed on the control node: a login whose name etcdplay does not know (ssh's `User`,
/// `$USER`) is not taken for root. Used where a script runs as a command of its own (the local
/// transport, large uploads over SSH); the remote loop has its own become paths.
pub fn shell_command(become_: Option<&Become>, script: &str) -> (Vec<String>, Vec<u8>) {
    let Some(b) = become_ else {
        return (
            vec!["/bin/sh".into(), "-c".into(), script.into()],
            Vec::new(),
        );
    };
    match &b.method {
        BecomeMethod::Sudo(sudo) => {
            let (flag, prefix) = match &sudo.password {
                Some(p) => ("1", format!("{}\n", p.expose()).into_bytes()),
                None => ("0", Vec::new()),
            };
            (
                vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    BECOME_SHELL.into(),
                    "etcdplay-become".into(),
                    b.user.clone(),
                    flag.into(),
                    "-c".into(),
                    script.into(),
                ],
                prefix,
            )
        }
        BecomeMethod::Su(su) => {
            let words: Vec<String> = std::iter::once(&su.exe)
                .chain(&su.flags)
                .map(|w| sh_quote(w))
                .collect();
            let (flag, prefix) = match &su.password {
                Some(p) => ("1", format!("{}\n", p.expose()).into_bytes()),
                None => ("0", Vec::new()),
            };
            (
                vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    SU_SHELL.into(),
                    "etcdplay-become".into(),
                    b.user.clone(),
                    flag.into(),
                    words.join(" "),
                    script.into(),
                    format!("/bin/sh -c {}", sh_quote(script)),
                ],
                prefix,
            )
        }
    }
}

/// `sh -c BECOME_SHELL NAME USER HAS_PASSWORD ARGS...`: runs `/bin/sh ARGS...` as USER,
/// through `sudo -n` unless the current user is USER already. With HAS_PASSWORD 1 the first
/// line of the input is the password, taken off here and given to `sudo -k -S` only when
/// `sudo -n` is refused, followed by two empty lines (sudo's other attempts if the password is
/// wrong) that the sudo'd shell skips: the rest of the input is never read as a password.
const BECOME_SHELL: &str = r#"u=$1 p=$2; shift 2
pw=; if [ "$p" = 1 ]; then IFS= read -r pw || exit 1; fi
[ "$(id -un)" = "$u" ] && exec /bin/sh "$@"
if [ -n "$pw" ] && ! sudo -n -u "$u" true </dev/null >/dev/null 2>&1; then
  { printf '%s\n\n\n' "$pw"; pw=; exec cat; } | sudo -k -S -p '' -H -u "$u" /bin/sh -c 'IFS= read -r _; IFS= read -r _; exec /bin/sh "$@"' etcdplay-become "$@"
  exit
fi
exec sudo -n -H -u "$u" /bin/sh "$@""#;

/// `sh -c SU_SHELL NAME USER HAS_PASSWORD SU_WORDS SCRIPT SU_COMMAND`: runs SCRIPT as USER
/// through su (SU_WORDS quoted for `eval`, SU_COMMAND the script quoted for su's `-c`), unless
/// the current user is USER already. With HAS_PASSWORD 1 the first line of the input is the
/// password, taken off here (`read` takes one line, byte by byte) and given to su only when su
/// asks for one, i.e. when the current user is not root.
const SU_SHELL: &str = r#"u=$1 p=$2 w=$3 s=$4 c=$5; shift 5
pw=; if [ "$p" = 1 ]; then IFS= read -r pw || exit 1; fi
[ "$(id -un)" = "$u" ] && exec /bin/sh -c "$s"
eval "set -- $w"
if [ "$(id -u)" = 0 ]; then exec "$@" "$u" -c "$c"; fi
[ -n "$pw" ] || { echo "su: a password is required (ansible_become_password) to become $u from $(id -un)" >&2; exit 125; }
{ printf '%s\n' "$pw"; pw=; exec cat; } | "$@" "$u" -c "$c""#;

/// What su printed before the script's own stderr when it asked for a password (its prompt,
/// `Password: ` without a newline), which [`SU_SHELL`] cannot keep apart: removed from the
/// front of `stderr`.
pub fn strip_su_prompt(stderr: &mut Vec<u8>) {
    if let Some(end) = stderr.windows(2).position(|w| w == b": ") {
        let prompt = &stderr[..end];
        if end <= 40 && !prompt.contains(&b'\n') && prompt.ends_with(b"assword") {
            stderr.drain(..end + 2);
        }
    }
}

/// The error a failed request under `become` stands for, if its failure was become's own:
/// sudo wanting a password, su refusing the password (or having none to give).
pub(crate) fn become_refused(
    host: &str,
    b: &Become,
    rc: i32,
    stderr: &[u8],
) -> Option<crate::TransportError> {
    if rc == 0 {
        return None;
    }
    let detail = || String::from_utf8_lossy(stderr).trim().to_string();
    match &b.method {
        BecomeMethod::Sudo(_) => {
            if sudo_refused_password(stderr) {
                return Some(crate::TransportError::BecomeFailed {
                    host: host.to_string(),
                    user: b.user.clone(),
                    method: "sudo".into(),
                    detail: detail(),
                });
            }
            sudo_wanted_password(stderr).then(|| crate::TransportError::BecomeNeedsPassword {
                host: host.to_string(),
                user: b.user.clone(),
                detail: detail(),
            })
        }
        BecomeMethod::Su(_) => {
            let text = String::from_utf8_lossy(stderr);
            (text.contains("Authentication failure")
                || (rc == 125 && text.starts_with("su: a password is required")))
            .then(|| crate::TransportError::BecomeFailed {
                host: host.to_string(),
                user: b.user.clone(),
                method: "su".into(),
                detail: detail(),
            })
        }
    }
}

/// Whether stderr of a failed `sudo -S` says that the password given was wrong.
fn sudo_refused_password(stderr: &[u8]) -> bool {
    let text = String::from_utf8_lossy(stderr);
    text.contains("incorrect password attempt") || text.starts_with("Sorry, try again.")
}

/// Whether stderr of a failed `sudo -n` says that a password was required.
pub fn sudo_wanted_password(stderr: &[u8]) -> bool {
    let text = String::from_utf8_lossy(stderr);
    text.contains("a password is required") || text.contains("a terminal is required")
}

/// 128 random bits as hex, unknown to anything on the host before the request carrying them
/// arrives: a separator or marker in a script's output that no command or file content can
/// fake (the read-ahead's batch separator, `command`'s skip marker).
pub fn random_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let half = || {
        let mut h =
            std::hash::BuildHasher::build_hasher(&std::collections::hash_map::RandomState::new());
        std::hash::Hasher::write_u64(&mut h, nanos);
        std::hash::Hasher::finish(&h)
    };
    format!("{:016x}{:016x}", half(), half())
}

/// Splits a command line into words like Python's `shlex.split` (POSIX mode): single quotes
/// are literal, double quotes allow `\"` `\\` `\$` escapes, a backslash outside quotes escapes
/// the next character, and nothing may follow a final backslash (an error, as in Python).
/// Used for `command`'s `cmd` and for `ansible_ssh_common_args`, which Ansible splits the same
/// way.
pub fn shlex_split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated single quote in '{line}'")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(format!("unterminated double quote in '{line}'")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated double quote in '{line}'")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(x) => cur.push(x),
                    None => {
                        return Err(format!("a backslash ends '{line}' (no escaped character)"))
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn shlex_like_python() {
        assert_eq!(
            shlex_split(r#"etcdctl --endpoints "a b" 'c d' e\ f"#).unwrap(),
            vec!["etcdctl", "--endpoints", "a b", "c d", "e f"]
        );
        assert_eq!(
            shlex_split(r#"echo "x\"y" ''"#).unwrap(),
            vec!["echo", "x\"y", ""]
        );
        assert!(shlex_split("echo 'open").is_err());
        assert!(shlex_split("echo a\\")
            .unwrap_err()
            .contains("no escaped character"));
    }

    /// Runs a put script for 10 bytes with only `sent` arriving; returns (success, dest, dir).
    fn put_with_input(sent: &[u8]) -> (bool, Vec<u8>, Vec<String>) {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("dest");
        std::fs::write(&dest, b"old\n").expect("write");
        let req = PutRequest {
            dest: dest.to_string_lossy().into_owned(),
            ..PutRequest::default()
        };
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(put_script(&req, 10))
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sh");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(sent)
            .expect("write stdin");
        let ok = child.wait().expect("wait").success();
        let names = std::fs::read_dir(dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        (ok, std::fs::read(&dest).expect("read dest"), names)
    }

    /// The builtins' dirname agrees with `dirname` on every shape of path.
    #[test]
    fn the_builtin_dirname_agrees_with_dirname() {
        for path in [
            "/opt/fleet/motd",
            "motd",
            "/motd",
            "//x",
            "/a//b//",
            "a/b/",
            "./x",
            "../x/y",
            "/",
            "//",
            "a b/c d",
            "/x/'q'/f",
        ] {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("dest=$1\n{DIRNAME}printf '%s' \"$dir\""))
                .arg("sh")
                .arg(path)
                .output()
                .expect("sh");
            let want = std::process::Command::new("dirname")
                .arg("--")
                .arg(path)
                .output()
                .expect("dirname");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&want.stdout).trim_end_matches('\n'),
                "{path}"
            );
        }
    }

    #[test]
    fn a_short_upload_never_replaces_the_destination() {
        let (ok, content, names) = put_with_input(b"0123");
        assert!(!ok);
        assert_eq!(content, b"old\n");
        assert_eq!(names, ["dest"]);
        let (ok, content, names) = put_with_input(b"0123456789");
        assert!(ok);
        assert_eq!(content, b"0123456789");
        assert_eq!(names, ["dest"]);
    }

    /// Runs the put script of `req` with `content` on its input; panics when it fails.
    fn put(req: &PutRequest, content: &[u8]) {
        use std::io::Write;
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(put_script(req, content.len()))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(content)
            .expect("write stdin");
        assert!(child.wait().expect("wait").success(), "put script failed");
    }

    fn mode_of(path: &std::path::Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(path)
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777
    }

    /// A mode without execute or special bits is given when the shell creates the temporary
    /// file; others are set with chmod; when the shell's name for it is taken, `mktemp`
    /// makes it and the mode is still set; nothing temporary is left behind.
    #[test]
    fn modes_come_out_right_whoever_creates_the_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (i, mode) in [0o644, 0o640, 0o600, 0o400, 0o755, 0o2750, 0o666]
            .into_iter()
            .enumerate()
        {
            let dest = dir.path().join(format!("dest{i}"));
            let req = PutRequest {
                dest: dest.to_string_lossy().into_owned(),
                mode: Some(mode),
                ..PutRequest::default()
            };
            put(&req, b"content");
            assert_eq!(mode_of(&dest), mode, "{mode:o}");
            assert_eq!(std::fs::read(&dest).expect("read"), b"content");
            // The same with the shell's name taken: a file of that name for every pid the
            // script could get is too many, so the script is run with `$$` of a shell whose
            // name exists (the sh -c wrapper's pid is the script's).
            let script = put_script(&req, 3);
            let taken = format!(
                "touch \"{}/.etcdplay-tmp.$$\"; {script}",
                dir.path().display()
            );
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&taken)
                .stdin(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().expect("stdin").write_all(b"new")?;
                    c.wait()
                })
                .expect("sh");
            assert!(out.success());
            assert_eq!(mode_of(&dest), mode, "{mode:o} through mktemp");
            assert_eq!(std::fs::read(&dest).expect("read"), b"new");
        }
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".etcdplay-tmp."))
            .collect();
        // Only the names the test itself took.
        assert_eq!(left.len(), 7, "{left:?}");
    }

    #[test]
    fn a_link_at_dest_is_replaced_by_a_file_of_the_default_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"key\n").expect("write");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let dest = dir.path().join("dest");
        std::os::unix::fs::symlink(&secret, &dest).expect("symlink");
        let req = PutRequest {
            dest: dest.to_string_lossy().into_owned(),
            ..PutRequest::default()
        };
        put(&req, b"new\n");
        assert!(std::fs::symlink_metadata(&dest).expect("stat").is_file());
        assert_eq!(mode_of(&dest), 0o644, "not the link's 0777");
        assert_eq!(std::fs::read(&secret).expect("read"), b"key\n");
        assert_eq!(mode_of(&secret), 0o600);
    }

    #[test]
    fn a_replaced_file_keeps_its_mode_and_set_id_bits_survive_the_owner_change() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("dest");
        std::fs::write(&dest, b"old").expect("write");
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let mut req = PutRequest {
            dest: dest.to_string_lossy().into_owned(),
            ..PutRequest::default()
        };
        put(&req, b"new");
        assert_eq!(mode_of(&dest), 0o640);
        let me = std::process::Command::new("id")
            .arg("-un")
            .output()
            .expect("id");
        req.owner = Some(String::from_utf8_lossy(&me.stdout).trim().to_string());
        req.mode = Some(0o4755);
        put(&req, b"newer");
        assert_eq!(
            mode_of(&dest),
            0o4755,
            "chown after chmod would clear setuid"
        );
    }

    /// The command of [`shell_command`] for su, run by a login that is not root (`runuser`):
    /// the password line is taken off the input and given to su, the rest is the script's
    /// input; su's prompt is removed from stderr. (Needs root to create the users.)
    #[test]
    #[allow(clippy::print_stderr)]
    fn su_command_takes_the_password_off_the_input() {
        use crate::test_support::ensure_user;
        use std::io::Write;
        if !ensure_user("epsulogin", "Login-pw-1") || !ensure_user("epsutarget", "T4rget pw'\"") {
            eprintln!("needs root (useradd, runuser); skipped");
            return;
        }
        let b = Become {
            user: "epsutarget".into(),
            method: BecomeMethod::Su(crate::SuOptions {
                password: Some(crate::Secret::new("T4rget pw'\"")),
                ..crate::SuOptions::default()
            }),
        };
        let (argv, prefix) = shell_command(Some(&b), "id -un; cat; echo e >&2");
        assert!(
            !argv.iter().any(|a| a.contains("T4rget")),
            "password in argv"
        );
        let mut child = std::process::Command::new("runuser")
            .args(["-u", "epsulogin", "--"])
            .args(&argv)
            .current_dir("/")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runuser");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&prefix).expect("write");
        stdin.write_all(b"data\n").expect("write");
        drop(stdin);
        let out = child.wait_with_output().expect("wait");
        let mut stderr = out.stderr.clone();
        strip_su_prompt(&mut stderr);
        assert_eq!(
            (
                String::from_utf8_lossy(&out.stdout).as_ref(),
                String::from_utf8_lossy(&stderr).as_ref()
            ),
            ("epsutarget\ndata\n", "e\n")
        );
    }

    #[test]
    fn quoting_keeps_plain_words_and_wraps_the_rest() {
        assert_eq!(sh_quote("/etc/etcd/etcd.conf"), "/etc/etcd/etcd.conf");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote(""), "''");
    }
}
