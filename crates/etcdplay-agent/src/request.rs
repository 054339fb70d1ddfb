//! Running one request as the shell loop does, with the processes the script needs and no
//! more: `/bin/sh` for the script (its own process, so `$$` differs between requests and
//! `kill $$` ends only the script), `sudo` or `su` and their shell for become. The agent runs
//! as root only (see `lib.rs`), so become never needs a password or a lifeline of its own:
//! killing the agent's process group ends everything a request started, as it does for a
//! root login's shell loop.

use std::fs::File;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use rustix::fs::Mode;

/// What the become user's shell runs: read the script (the first `$1` bytes of its stdin),
/// leave the rest as the script's stdin, and evaluate it with the login's umask `$2`. The
/// same text as `A` in the shell loop (`etcdplay-transport`'s `LOOP_SCRIPT`; a test there
/// checks that they agree).
pub const BECOME_READER: &str =
    r#"umask "$2"; s=$(head -c "$1") || exit 1; shift 2; eval "unset s; $s""#;

/// `su` as root: its words come quoted for `eval` (as the shell loop takes them); the script's
/// stderr reaches the answer through descriptor 5, su's own messages go to the command's
/// stderr (kept apart, used only when su fails and the script said nothing).
const SU_AS_ROOT: &str = r#"w=$1 u=$2 sl=$3 um=$4 e=$5 a=$6
eval "set -- $w"
exec "$@" "$u" -c "/bin/sh -c 'exec 2>&5 5>&-; $a' etcdplay $sl $um" 5>"$e""#;

/// The files of one request, in the agent's private directory.
pub(crate) struct Files {
    pub(crate) script: PathBuf,
    pub(crate) input: PathBuf,
    pub(crate) stdout: PathBuf,
    pub(crate) stderr: PathBuf,
    /// su's own messages.
    pub(crate) su_messages: PathBuf,
}

impl Files {
    pub(crate) fn in_dir(dir: &Path) -> Files {
        Files {
            script: dir.join("s"),
            input: dir.join("i"),
            stdout: dir.join("o"),
            stderr: dir.join("e"),
            su_messages: dir.join("x"),
        }
    }

    /// Empties every file, so that no script or input (possibly secret) stays on disk between
    /// requests.
    pub(crate) fn clear(&self) {
        for path in [
            &self.script,
            &self.input,
            &self.stdout,
            &self.stderr,
            &self.su_messages,
        ] {
            let _ = File::create(path);
        }
    }
}

/// How a request runs.
pub(crate) enum Run<'a> {
    /// As the login, the script in `Files::script`, its input (if any) in `Files::input`.
    Plain { has_input: bool },
    /// Through `sudo -n`; `Files::script` holds the script followed by its input.
    Sudo { user: &'a str, script_len: u64 },
    /// Through su's `words` (quoted for `eval`); `Files::script` as for sudo.
    Su {
        user: &'a str,
        script_len: u64,
        words: &'a str,
    },
}

/// Runs the request and returns its exit status as a shell's `$?` reports it; its output is
/// in `files.stdout` and `files.stderr`.
pub(crate) fn run(run: Run<'_>, files: &Files, login_umask: Mode) -> io::Result<i32> {
    let stdout = File::create(&files.stdout)?;
    let stderr = File::create(&files.stderr)?;
    let umask_word = format!("{:04o}", login_umask.bits());
    let mut command = match run {
        Run::Plain { has_input } => {
            let mut c = Command::new("/bin/sh");
            c.arg(&files.script).stdin(if has_input {
                Stdio::from(File::open(&files.input)?)
            } else {
                Stdio::null()
            });
            c
        }
        Run::Sudo { user, script_len } => {
            let mut c = Command::new("sudo");
            c.args(["-n", "-H", "-u", user, "/bin/sh", "-c", BECOME_READER])
                .args(["etcdplay", &script_len.to_string(), &umask_word])
                .stdin(File::open(&files.script)?);
            c
        }
        Run::Su {
            user,
            script_len,
            words,
        } => {
            let mut c = Command::new("/bin/sh");
            c.args(["-c", SU_AS_ROOT, "etcdplay", words, user])
                .arg(script_len.to_string())
                .arg(&umask_word)
                .arg(&files.stderr)
                .arg(BECOME_READER)
                .stdin(File::open(&files.script)?);
            c
        }
    };
    let su = matches!(run, Run::Su { .. });
    let stderr = if su {
        // The script's stderr is `files.stderr` through descriptor 5; su's own go here.
        File::create(&files.su_messages)?
    } else {
        stderr
    };
    command.stdout(stdout).stderr(stderr);
    // Scripts run with the login's umask, as Ansible's modules do; the agent's own files
    // stay private (umask 077). Only this thread creates files, so the swap is safe.
    let private = rustix::process::umask(login_umask);
    let child = command.spawn();
    rustix::process::umask(private);
    let rc = match child {
        Ok(mut child) => shell_status(child.wait()?),
        // As the loop's shell would say it (`sudo` missing is the one to expect).
        Err(e) => {
            let program = command.get_program().to_string_lossy().into_owned();
            let message = match e.kind() {
                io::ErrorKind::NotFound => format!("etcdplay: {program}: not found\n"),
                _ => format!("etcdplay: {program}: {e}\n"),
            };
            std::fs::write(&files.stderr, message)?;
            127
        }
    };
    if su && rc != 0 && std::fs::metadata(&files.stderr)?.len() == 0 {
        std::fs::copy(&files.su_messages, &files.stderr)?;
    }
    Ok(rc)
}

/// `$?` of a shell: the exit code, or 128 + the signal that ended the process.
fn shell_status(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}
