//! Shell snippets shared by every transport, so that the SSH and local transports write files and
//! escalate privileges the same way. All of them are plain POSIX sh plus coreutils, which every
//! host etcdplay manages has.

use crate::{Become, ExecRequest, PutRequest};

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

/// The script of [`atomic_put_script`] for content of `len` bytes arriving on standard input.
/// An interrupted sender (Ctrl-C, a killed etcdplay, a dropped connection) closes the input
/// early, which `cat` takes for a normal end: the size check is what keeps such a short file
/// from being renamed over the destination.
pub(crate) fn put_script(req: &PutRequest, len: usize) -> String {
    let dest = sh_quote(&req.dest);
    let mut script = String::new();
    script.push_str("set -e\n");
    script.push_str(&format!("dest={dest}\n"));
    script.push_str("dir=$(dirname \"$dest\")\n");
    script.push_str("tmp=$(mktemp \"$dir/.etcdplay-tmp.XXXXXXXX\")\n");
    script.push_str("trap 'rm -f \"$tmp\"' EXIT\n");
    script.push_str("cat > \"$tmp\"\n");
    script.push_str(&format!(
        "got=$(wc -c < \"$tmp\")\n[ \"$got\" -eq {len} ] || {{ echo \"upload cut short: $got of {len} bytes arrived\" >&2; exit 1; }}\n"
    ));
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

/// The command line (program and arguments) that runs a script file under `become`, or plainly.
/// `sudo -n` never prompts: when a password would be needed it fails, and the transport turns
/// that into [`crate::TransportError::BecomeNeedsPassword`]. Whether the login already is the
/// become user is decided on the host (`id -un`), never guessed on the control node: a login
/// whose name etcdplay does not know (ssh's `User`, `$USER`) is not taken for root.
pub fn shell_argv(become_: Option<&Become>) -> Vec<String> {
    match become_ {
        Some(b) => vec![
            "/bin/sh".into(),
            "-c".into(),
            BECOME_SHELL.into(),
            "etcdplay-become".into(),
            b.user.clone(),
        ],
        None => vec!["/bin/sh".into()],
    }
}

/// `sh -c BECOME_SHELL NAME USER ARGS...`: runs `/bin/sh ARGS...` as USER, through `sudo -n`
/// unless the current user is USER already.
const BECOME_SHELL: &str = r#"u=$1; shift; [ "$(id -un)" = "$u" ] && exec /bin/sh "$@"; exec sudo -n -H -u "$u" /bin/sh "$@""#;

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

    #[test]
    fn quoting_keeps_plain_words_and_wraps_the_rest() {
        assert_eq!(sh_quote("/etc/etcd/etcd.conf"), "/etc/etcd/etcd.conf");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote(""), "''");
    }
}
