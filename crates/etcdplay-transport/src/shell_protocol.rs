//! The framed protocol spoken with a long-lived remote `/bin/sh`, so that one request costs one
//! round trip on an already open SSH channel instead of a new channel (and a new PAM session).
//!
//! The client writes a header line `ID USER SCRIPT_LEN STDIN_LEN` (USER is `-` without become;
//! `ID USER SCRIPT_LEN STDIN_LEN su PRE_LEN` for `become_method: su`) followed by exactly that
//! many raw script and stdin (and su preamble) bytes and a trailer line `.ID`. The
//! remote loop ([`LOOP_SCRIPT`])
//! stores both with `head -c` in a private `mktemp -d` directory, runs the script with its
//! output captured into files, and answers with `MARKER ID RC OUT_LEN ERR_LEN` followed by
//! exactly those bytes. Lengths, not delimiters, frame everything, so output may be arbitrary
//! binary. Script and stdin travel only through the channel, never through a command line, so
//! secrets stay out of `ps`. When the channel closes (the client closed it, etcdplay died, the
//! master or the network went away) the loop's lifeline kills everything the loop started,
//! including a script still running, and removes the directory.

use std::io;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::host_agent::Started;
use crate::script::sh_quote;
use crate::{BecomeMethod, ExecOutput, ExecRequest, Secret, SuOptions, SudoOptions};

/// The remote loop, run as `/bin/sh -c LOOP_SCRIPT etcdplay MARKER`. It relies on GNU
/// `head -c` reading no more than it is asked for (true of coreutils on every target distro),
/// and on `read` consuming the header line byte by byte, as POSIX shells do on pipes.
///
/// A request to become the user the loop already runs as (its name found once, in
/// `/etc/passwd` by the effective uid of `/proc/self/status` with shell builtins, else with
/// `id`) runs like one without become: whether sudo is needed is decided here, where the
/// login is known.
///
/// With become, the script cannot be handed over as a file (the private directory is not
/// readable by the target user, and sudo closes extra descriptors), so script and stdin are
/// concatenated on the sudo shell's stdin: it reads the first SCRIPT_LEN bytes as the script
/// and leaves the rest as the script's stdin.
///
/// With `su` (a header of six fields, `... su PRE_LEN`, and PRE_LEN bytes after the input:
/// the su command's words, quoted for `eval`, and the password on the next line), the script
/// and its input reach the su'd shell the same way. su asks for the password only when the
/// login is not root; it then reads it from its standard input (PAM reads up to the newline,
/// byte by byte, on a pipe), so the password goes first, from a shell builtin (never a command
/// line). A non-root login without a password is refused at once instead of letting su read
/// the script as one. su's own messages (its prompt) go to a file of their own, the script's
/// stderr to the answer through descriptor 5, which su passes on; when su fails and the script
/// said nothing, its messages are the answer's stderr.
///
/// With `sudo` and a password (the same six-field header, `... sudo PRE_LEN`, an empty words
/// line and the password), a login that is not root first asks `sudo -n true` (once per
/// become user while it works, a `NOPASSWD` rule): only when that is refused does the password
/// go, first on the sudo shell's stdin for `sudo -k -S` (which reads it byte by byte up to the
/// newline and leaves the rest), followed by two empty lines that the shell skips before the
/// script. A wrong password makes sudo try again on those empty lines and give up after its
/// three attempts, so the script is never read as a password.
///
/// The loop's own files are private (umask 077), but scripts run with the login shell's umask,
/// as Ansible's modules do, so that directories a task creates get the usual 0755.
///
/// A request cut short (the client went away mid-frame) makes `head -c` stop early without
/// an error; the trailer, read with the shell's own `read` right after exactly the announced
/// bytes, is then missing (or a frame out of step shows something else there), and the loop
/// ends instead of running half a script or feeding a script half its input. Checking the
/// trailer costs no process, where measuring the stored files cost one or two per request.
///
/// The lifeline: the loop does not read the channel itself. A relay (`cat`, started once per
/// shell) copies the channel into a FIFO the loop reads, so it sees EOF the moment the channel
/// closes even while the loop is busy waiting for a script, and then kills the loop's process
/// group with SIGKILL: the loop, the running script and whatever it left in the background
/// (`nohup` included; only what deliberately left the group, like a `setsid` daemon, stays).
/// sshd gives no-pty sessions no SIGHUP and closes only the pipes, so without this a `sleep
/// 300` would outlive the connection, and keep the channel (and so the master) open until it
/// ended. sshd makes each session its own process group; the loop checks that it leads that
/// group (or that its parent, a login shell that did not `exec`, does) before relying on it.
///
/// A login that is not root cannot signal what runs through sudo as root. There, the sudo
/// shell gets a lifeline of its own: its stdin carries the script and the input and then
/// stays open (a `cat` that goes on to read the channel's FIFO, while nothing arrives there
/// until the answer is sent). Inside, one side splits the input off for the script and then
/// waits on the rest: EOF means the channel died and it kills its process group as the become
/// user. When the script ends, the other side kills that watcher; if the sudo shell itself is
/// killed, the loop writes a line to the watcher to stand it down before stopping the `cat`.
/// The sudo shell's own stderr goes to /dev/null (the script's to the answer), so that the
/// shell's "Killed" notice about the watcher does not end up in the script's output. A root
/// login does without all this (three forks per become request): its relay can kill
/// everything.
///
/// Each request costs only a few process starts (head, sh, wc, cat; a request that printed
/// nothing, as most that change something, skips wc and cat); everything else is a shell
/// builtin. (Sourcing the script in a subshell would save the `sh`, but `$$` would then
/// be the loop's pid: `kill $$` would end the loop, and `$$`-named files would not differ
/// between requests.) The files are emptied after each request (a builtin redirection, where
/// `rm` would be one more process) so that no script or input (possibly secret) lingers on
/// disk between requests.
pub(crate) const LOOP_SCRIPT: &str = r#"um=$(umask)
umask 077
m=$1
d=$(mktemp -d "${TMPDIR:-/tmp}/etcdplay.XXXXXXXX") || exit 97
trap 'rm -rf "$d"' EXIT
trap 'exit 1' HUP INT TERM PIPE
mkfifo "$d/r" "$d/p" || exit 97
uid= lu= sn=
while read -r k _ v _; do [ "$k" = Uid: ] && { uid=$v; break; }; done </proc/self/status 2>/dev/null
[ -n "$uid" ] && while IFS=: read -r k _ v _; do [ "$v" = "$uid" ] && { lu=$k; break; }; done </etc/passwd 2>/dev/null
[ -n "$uid" ] || uid=$(id -u)
[ -n "$lu" ] || lu=$(id -un)
read -r _ _ _ pp g sid _ </proc/$$/stat || g=
[ "$g" = $$ ] || { [ "$g" = "$sid" ] && [ "$g" = "$pp" ]; } && k=0 || k=$$
exec 3<&0
{ cat <&3; rm -rf "$d"; kill -KILL $k; } >"$d/r" &
exec <"$d/r" 4<&0 3<&-
A='umask "$2"; s=$(head -c "$1") || exit 1; shift 2; eval "unset s; $s"'
B='umask "$3"; s=$(head -c "$1") || exit 1; i=$2; shift 3; exec 3>&2 2>/dev/null
{ read -r p _ </proc/self/stat || p=; echo "$p"; [ "$i" -gt 0 ] && head -c "$i"; exec >&-; [ -z "$p" ] || read -r _ || kill -KILL 0; } |
{ read -r p; ( exec 2>&3 3>&-; unset p i; eval "unset s; $s" ); r=$?; [ -z "$p" ] || kill -KILL "$p"; exit "$r"; }'
printf '%s ready sh %s\n' "$m" "$uid"
while IFS=' ' read -r id u sl il bm bl; do
  head -c "$sl" >"$d/s" || exit 1
  if [ "$il" -gt 0 ]; then head -c "$il" >"$d/i" || exit 1; in=$d/i; else in=/dev/null; fi
  w= pw=
  if [ "$bm" = su ] || [ "$bm" = sudo ]; then
    head -c "$bl" >"$d/b" || exit 1
    { IFS= read -r w; IFS= read -r pw; } <"$d/b"
    : >"$d/b"
  fi
  IFS= read -r t && [ "$t" = ".$id" ] || exit 1
  if [ "$u" = - ] || [ "$u" = "$lu" ]; then
    ( umask "$um"; exec /bin/sh "$d/s" ) <"$in" >"$d/o" 2>"$d/e" 4<&-
    rc=$?
  elif [ "$bm" = su ]; then
    eval "set -- $w"
    if [ "$uid" = 0 ]; then
      cat "$d/s" "$in" | "$@" "$u" -c "/bin/sh -c 'exec 2>&5 5>&-; $A' etcdplay $sl $um" >"$d/o" 5>"$d/e" 2>"$d/x" 4<&-
      rc=$?
    elif [ -z "$pw" ]; then
      echo "su: a password is required (ansible_become_password) to become $u from $lu" >"$d/e"
      rc=125
    else
      { printf '%s\n' "$pw"; cat "$d/s" "$in" -; } <&4 >"$d/p" 2>/dev/null 4<&- & c=$!
      "$@" "$u" -c "/bin/sh -c 'exec 2>&5 5>&-; $B' etcdplay $sl $il $um" <"$d/p" >"$d/o" 5>"$d/e" 2>"$d/x" 4<&-
      rc=$?
      printf '\n' 1<>"$d/p"; kill "$c" 2>/dev/null; wait "$c" 2>/dev/null
    fi
    pw=
    if [ "$rc" != 0 ] && ! [ -s "$d/e" ]; then cat "$d/x" >"$d/e"; fi
  elif [ "$uid" = 0 ]; then
    cat "$d/s" "$in" | sudo -n -H -u "$u" /bin/sh -c "$A" etcdplay "$sl" "$um" >"$d/o" 2>"$d/e" 4<&-
    rc=$?
  else
    sp=
    if [ -n "$pw" ] && [ "$sn" != "$u" ]; then sudo -n -u "$u" true </dev/null >/dev/null 2>&1 4<&- && sn=$u || sp=1; fi
    if [ -n "$sp" ]; then
      { printf '%s\n\n\n' "$pw"; cat "$d/s" "$in" -; } <&4 >"$d/p" 2>/dev/null 4<&- & c=$!
      sudo -k -S -p '' -H -u "$u" /bin/sh -c "IFS= read -r _; IFS= read -r _; $B" etcdplay "$sl" "$il" "$um" <"$d/p" >"$d/o" 2>"$d/e" 4<&-
    else
      cat "$d/s" "$in" - <&4 >"$d/p" 2>/dev/null 4<&- & c=$!
      sudo -n -H -u "$u" /bin/sh -c "$B" etcdplay "$sl" "$il" "$um" <"$d/p" >"$d/o" 2>"$d/e" 4<&-
    fi
    rc=$?
    pw=
    printf '\n' 1<>"$d/p"; kill "$c" 2>/dev/null; wait "$c" 2>/dev/null
  fi
  if [ -s "$d/o" ] || [ -s "$d/e" ]; then
    wc -c "$d/o" "$d/e" >"$d/n"
    { read -r ol _; read -r el _; } <"$d/n"
    printf '%s %s %s %s %s\n' "$m" "$id" "$rc" "$ol" "$el"
    cat "$d/o" "$d/e"
  else
    printf '%s %s %s 0 0\n' "$m" "$id" "$rc"
  fi
  : >"$d/s" >"$d/i" >"$d/o" >"$d/e" >"$d/x"
done
"#;

/// Longest header line we accept from the remote side; anything longer means the stream is
/// out of step and the shell must be discarded.
const MAX_HEADER: usize = 256;
/// Limits on what a login shell may print before the loop starts.
const MAX_BANNER_LINES: usize = 200;
const MAX_BANNER_LINE: usize = 4096;

/// Why [`ShellChannel::call`] returned no answer. Either way the channel is out of step and
/// must be discarded.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The channel broke or the remote shell answered something unexpected.
    Io(io::Error),
    /// The answer announced more than `limit` bytes on `stream` (`stdout` or `stderr`); nothing
    /// of it was read.
    TooLarge { stream: &'static str, limit: u64 },
}

impl From<io::Error> for CallError {
    fn from(e: io::Error) -> Self {
        CallError::Io(e)
    }
}

/// Why a request could not be framed; reported to the caller as invalid input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrameError(pub(crate) String);

/// Encodes one request. Environment variables become `export` lines in front of the script
/// (sudo would drop a real environment anyway, and a command line would expose the values).
pub(crate) fn encode_request(id: u64, req: &ExecRequest) -> Result<Vec<u8>, FrameError> {
    let user = match &req.become_ {
        Some(b) if valid_user_name(&b.user) => b.user.as_str(),
        Some(b) => return Err(FrameError(format!("invalid become user name {:?}", b.user))),
        None => "-",
    };
    let mut script = String::new();
    for (name, value) in &req.env {
        if !valid_env_name(name) {
            return Err(FrameError(format!(
                "invalid environment variable name {name:?}"
            )));
        }
        script.push_str(&format!("export {name}={}\n", sh_quote(value)));
    }
    script.push_str(&req.script);
    let preamble = match req.become_.as_ref().map(|b| &b.method) {
        Some(BecomeMethod::Su(su)) => Some(("su", su_preamble(su)?)),
        Some(BecomeMethod::Sudo(SudoOptions {
            password: Some(password),
        })) => Some(("sudo", sudo_preamble(password)?)),
        _ => None,
    };
    let mut out = match &preamble {
        Some((method, p)) => format!(
            "{id} {user} {} {} {method} {}\n",
            script.len(),
            req.stdin.len(),
            p.len()
        ),
        None => format!("{id} {user} {} {}\n", script.len(), req.stdin.len()),
    }
    .into_bytes();
    out.reserve(script.len() + req.stdin.len());
    out.extend_from_slice(script.as_bytes());
    out.extend_from_slice(&req.stdin);
    if let Some((_, p)) = preamble {
        out.extend_from_slice(p.as_bytes());
    }
    // The trailer proves the frame arrived whole: read after exactly the announced bytes, it
    // is only there if nothing was cut short (see LOOP_SCRIPT).
    out.extend_from_slice(format!(".{id}\n").as_bytes());
    Ok(out)
}

/// The su command's words (quoted for the loop's `eval`) and the password, one line each.
fn su_preamble(su: &SuOptions) -> Result<String, FrameError> {
    let password = su.password.as_ref().map(Secret::expose).unwrap_or("");
    if password.contains(['\n', '\0']) {
        return Err(FrameError(
            "a become password containing a newline cannot be given to su".into(),
        ));
    }
    let words: Vec<String> = std::iter::once(&su.exe)
        .chain(&su.flags)
        .map(|w| sh_quote(w))
        .collect();
    if words.iter().any(|w| w.contains('\n')) {
        return Err(FrameError(
            "become_exe and become_flags must be one line".into(),
        ));
    }
    Ok(format!("{}\n{password}\n", words.join(" ")))
}

/// The sudo password after an empty words line (the su preamble's layout).
fn sudo_preamble(password: &Secret) -> Result<String, FrameError> {
    let password = password.expose();
    if password.contains(['\n', '\0']) {
        return Err(FrameError(
            "a become password containing a newline cannot be given to sudo".into(),
        ));
    }
    Ok(format!("\n{password}\n"))
}

fn valid_user_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@$".contains(&b))
}

fn valid_env_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// One end of a conversation with [`LOOP_SCRIPT`]: requests go to `writer`, answers come from
/// `reader`. Generic so that the protocol is tested against a local `/bin/sh` too.
#[derive(Debug)]
pub(crate) struct ShellChannel<W, R> {
    writer: W,
    reader: R,
    marker: String,
}

impl<W: AsyncWrite + Unpin, R: AsyncBufRead + Unpin> ShellChannel<W, R> {
    pub(crate) fn new(writer: W, reader: R, marker: String) -> Self {
        ShellChannel {
            writer,
            reader,
            marker,
        }
    }

    /// Waits for the loop's `MARKER ready sh UID` line (or the agent's `MARKER ready agent`,
    /// or its refusal), which proves the shell and its temporary directory are usable. Lines
    /// before it are skipped: a login shell's rc file may print a banner, which must not be
    /// mistaken for (or break) the protocol.
    pub(crate) async fn ready(&mut self) -> io::Result<Started> {
        for _ in 0..MAX_BANNER_LINES {
            let line = self.read_line(MAX_BANNER_LINE).await?;
            let Some(rest) = line
                .strip_prefix(self.marker.as_str())
                .and_then(|r| r.strip_prefix(' '))
            else {
                continue;
            };
            if let Some(uid) = rest.strip_prefix("ready sh ") {
                return Ok(Started::Loop {
                    uid: uid.parse().ok(),
                });
            }
            if rest == "ready agent" {
                return Ok(Started::Agent);
            }
            if rest.starts_with("agent-refused") {
                return Ok(Started::AgentRefused);
            }
        }
        Err(protocol_error(
            "remote shell did not start: no ready line".into(),
        ))
    }

    /// Sends one framed request (see [`encode_request`]) and reads its answer, refusing one
    /// that announces more than `limit` bytes of stdout or of stderr before reading (or
    /// allocating for) any of it. An error leaves the channel in an unknown state: the caller
    /// must discard it, which also ends the remote loop and whatever it still runs or sends.
    pub(crate) async fn call(
        &mut self,
        frame_id: u64,
        frame: &[u8],
        limit: u64,
    ) -> Result<ExecOutput, CallError> {
        self.writer.write_all(frame).await?;
        self.writer.flush().await?;
        let line = self.read_line(MAX_HEADER).await?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let parse = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        match (
            fields.first(),
            parse(1),
            fields.get(2).and_then(|f| f.parse::<i32>().ok()),
            parse(3),
            parse(4),
        ) {
            (Some(m), Some(id), Some(rc), Some(out_len), Some(err_len))
                if *m == self.marker && id == frame_id && fields.len() == 5 =>
            {
                for (stream, len) in [("stdout", out_len), ("stderr", err_len)] {
                    if len > limit {
                        return Err(CallError::TooLarge { stream, limit });
                    }
                }
                let stdout = self.read_exact_vec(out_len).await?;
                let stderr = self.read_exact_vec(err_len).await?;
                Ok(ExecOutput { rc, stdout, stderr })
            }
            _ => {
                Err(protocol_error(format!("unexpected answer from remote shell: {line:?}")).into())
            }
        }
    }

    async fn read_line(&mut self, max: usize) -> io::Result<String> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(max as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "remote shell exited",
            ));
        }
        if line.last() != Some(&b'\n') {
            return Err(protocol_error(format!(
                "unterminated answer from remote shell: {:?}",
                String::from_utf8_lossy(&line)
            )));
        }
        line.pop();
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    async fn read_exact_vec(&mut self, len: u64) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        let got = (&mut self.reader).take(len).read_to_end(&mut buf).await?;
        if (got as u64) < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "remote shell output cut short",
            ));
        }
        Ok(buf)
    }

    /// Gives back the writer so the caller can close it (EOF ends the remote loop).
    pub(crate) fn into_parts(self) -> (W, R) {
        (self.writer, self.reader)
    }
}

fn protocol_error(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    use tokio::io::BufReader;
    use tokio::process::{ChildStdin, ChildStdout, Command};

    type LocalChannel = ShellChannel<ChildStdin, BufReader<ChildStdout>>;

    /// Runs the loop with the local /bin/sh: the protocol does not depend on SSH.
    async fn local_loop() -> (tokio::process::Child, LocalChannel) {
        let mut sh = Command::new("/bin/sh");
        sh.arg("-c").arg(LOOP_SCRIPT).arg("etcdplay").arg("MARK1");
        start_loop(sh, "MARK1").await
    }

    /// What serves the protocol in a test: the shell loop, or the host agent started as a
    /// connection starts it (the prefix in front of the loop), from a private directory.
    enum Server {
        Loop,
        Agent(tempfile::TempDir),
    }

    impl Server {
        /// Both, or only the loop where the agent cannot run (it serves root only).
        #[allow(clippy::print_stderr)]
        fn all() -> Vec<fn() -> Server> {
            if crate::test_support::is_root() {
                vec![|| Server::Loop, Server::agent]
            } else {
                eprintln!("the host agent runs as root only: only the loop is tested");
                vec![|| Server::Loop]
            }
        }

        fn agent() -> Server {
            let (dir, _) = crate::test_support::private_agent_copy();
            Server::Agent(dir)
        }

        async fn start(&self) -> (tokio::process::Child, LocalChannel) {
            match self {
                Server::Loop => local_loop().await,
                Server::Agent(dir) => {
                    let agent = crate::test_support::agent_in(dir.path());
                    let mut sh = Command::new("/bin/sh");
                    sh.arg("-c")
                        .arg(format!("{}{LOOP_SCRIPT}", agent.start_prefix()))
                        .arg("etcdplay")
                        .arg("MARK1")
                        // The checksums of files it writes, kept off this machine's cache.
                        .env("EP_SUMS_DIR", dir.path().join("sums"));
                    let (child, ch, started) = start_server(sh, "MARK1").await;
                    assert_eq!(started, Started::Agent);
                    (child, ch)
                }
            }
        }
    }

    /// Starts `command` (the loop script with `mark`) as sshd would: leading its own process
    /// group, which its lifeline kills, and waits until the loop is ready.
    async fn start_loop(command: Command, mark: &str) -> (tokio::process::Child, LocalChannel) {
        let (child, ch, started) = start_server(command, mark).await;
        assert!(
            matches!(started, Started::Loop { uid: Some(_) }),
            "{started:?}"
        );
        (child, ch)
    }

    async fn start_server(
        mut command: Command,
        mark: &str,
    ) -> (tokio::process::Child, LocalChannel, Started) {
        let mut child = crate::test_support::spawn_like_sshd(&mut command);
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut ch = ShellChannel::new(stdin, stdout, mark.into());
        let started = ch.ready().await.unwrap();
        (child, ch, started)
    }

    async fn run(ch: &mut LocalChannel, req: &ExecRequest) -> ExecOutput {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let frame = encode_request(id, req).unwrap();
        ch.call(id, &frame, crate::MAX_EXEC_OUTPUT).await.unwrap()
    }

    #[tokio::test]
    async fn binary_output_stdin_and_env_survive_framing() {
        for server in Server::all() {
            let server = server();
            let (mut child, mut ch) = server.start().await;
            let mut req = ExecRequest::script(
                "printf 'a\\000b\\n\\nMARK1 9 9 9 9\\n'; cat; printf \"$X\" >&2; exit 7",
            );
            req.stdin = vec![0, 255, b'\n', 1];
            req.env = vec![("X".into(), "it's \"quoted\"".into())];
            let out = run(&mut ch, &req).await;
            assert_eq!(out.rc, 7);
            assert_eq!(out.stdout, b"a\0b\n\nMARK1 9 9 9 9\n\0\xff\n\x01");
            assert_eq!(out.stderr, b"it's \"quoted\"");
            // The stream is still in step afterwards, and an empty stdin reads as /dev/null.
            let out = run(&mut ch, &ExecRequest::script("cat; printf done")).await;
            assert_eq!((out.rc, out.stdout.as_slice()), (0, b"done".as_slice()));
            // A request that prints nothing is answered without measuring its (empty) files.
            let out = run(&mut ch, &ExecRequest::script("exit 3")).await;
            assert_eq!(
                out,
                ExecOutput {
                    rc: 3,
                    stdout: Vec::new(),
                    stderr: Vec::new()
                }
            );
            let out = run(&mut ch, &ExecRequest::script("printf x >&2")).await;
            assert_eq!(
                (out.rc, out.stdout.len(), out.stderr.as_slice()),
                (0, 0, b"x".as_slice())
            );
            // EOF on stdin ends the loop (its lifeline kills it).
            let (stdin, _) = ch.into_parts();
            drop(stdin);
            let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            assert!(status.is_ok(), "the loop outlived its stdin");
        }
    }

    /// An upload writes the same file whoever serves it: the agent writes it itself (the
    /// script's own write is skipped) and answers the `ep_stat` that reads it back with
    /// `stat`'s very line; new files get the mode asked for or 0644, a replaced one keeps its
    /// mode, a link at the destination is replaced and its target left alone, and nothing is
    /// left beside the file. Where the agent cannot write (no such directory), the script
    /// writes as ever and fails with its own words.
    #[tokio::test]
    async fn a_put_writes_the_same_file_whoever_serves_it() {
        use crate::script::framed_put_script;
        use std::os::unix::fs::PermissionsExt;
        let read_back = |dest: &std::path::Path| {
            format!(
                "set +e\n(\nprintf '%s\\n' \"${{ep_ag_put-}}\" \"${{ep_ag_sl-}}\"\nstat -c '{}' -- '{}'\n)\nexit 0\n",
                "stat|%F|%a|%u|%g|%U|%G|%s|%.9Y|%.9X|%.9Z|%i|%h|%d|%b|%o|%t|%T",
                dest.display()
            )
        };
        for server in Server::all() {
            let server = server();
            let agent = matches!(server, Server::Agent(_));
            let (_child, mut ch) = server.start().await;
            let dir = tempfile::tempdir().unwrap();
            let put = |dest: &std::path::Path, content: &[u8], mode: Option<u32>| {
                let mut req = framed_put_script(&crate::PutRequest {
                    dest: dest.display().to_string(),
                    content: content.to_vec().into(),
                    mode,
                    owner: None,
                    group: None,
                    become_: None,
                });
                req.script.push_str(&read_back(dest));
                req
            };
            let mode_of =
                |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
            let new = dir.path().join("new file");
            let out = run(&mut ch, &put(&new, b"one\n", Some(0o640))).await;
            assert_eq!(out.rc, 0, "{}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(std::fs::read(&new).unwrap(), b"one\n");
            assert_eq!(mode_of(&new), 0o640);
            let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
            if agent {
                assert_eq!(lines[0], "done", "the agent wrote it");
                // All but the access time, which the agent's checksum moved (the shell's
                // `stat` then `sha1sum` do the same).
                let fields = |l: &str| {
                    let mut f: Vec<String> = l.split('|').map(String::from).collect();
                    f.remove(9);
                    f
                };
                assert_eq!(
                    fields(lines[1]),
                    fields(lines[2]),
                    "the agent's line is stat's"
                );
            } else {
                assert_eq!(&lines[..2], ["", ""]);
            }
            std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o600)).unwrap();
            run(&mut ch, &put(&new, b"two\n", None)).await;
            assert_eq!(std::fs::read(&new).unwrap(), b"two\n");
            assert_eq!(mode_of(&new), 0o600, "a replaced file keeps its mode");
            let fresh = dir.path().join("fresh");
            run(&mut ch, &put(&fresh, b"", None)).await;
            assert_eq!(mode_of(&fresh), 0o644);
            let target = dir.path().join("target");
            std::fs::write(&target, b"kept").unwrap();
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(&target, &link).unwrap();
            run(&mut ch, &put(&link, b"three", Some(0o600))).await;
            assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
            assert_eq!(std::fs::read(&target).unwrap(), b"kept");
            let mut names: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            assert_eq!(names, ["fresh", "link", "new file", "target"]);
            let nowhere = dir.path().join("no/such/dir/f");
            let out = run(&mut ch, &put(&nowhere, b"x", None)).await;
            assert_ne!(out.rc, 0);
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("No such file or directory"),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// A put that carries the words of what reads after it (a read-ahead batch's `stat:`): the
    /// agent answers them after its write, so they see the new file; where it cannot write,
    /// it answers none of them and the script's own write and `stat` go ahead. The loop
    /// answers nothing.
    #[tokio::test]
    async fn words_after_an_agents_write_are_answered_after_it() {
        use crate::script::framed_put_then_read;
        for server in Server::all() {
            let server = server();
            let agent = matches!(server, Server::Agent(_));
            let (_child, mut ch) = server.start().await;
            let dir = tempfile::tempdir().unwrap();
            for (dest, writable) in [
                (dir.path().join("f"), true),
                (dir.path().join("missing/f"), false),
            ] {
                let dest_s = dest.display().to_string();
                let after = ExecRequest::script(format!(
                    "{}stat:{}\nprintf '%s|%s\\n' \"${{ep_ag_stat-}}\" \"${{ep_sl_1-}}\"",
                    crate::AGENT_PREFILL_HINT,
                    crate::agent_hint_path(&dest_s)
                ));
                let req = framed_put_then_read(
                    &crate::PutRequest {
                        dest: dest_s,
                        content: b"12345".to_vec().into(),
                        mode: Some(0o600),
                        owner: None,
                        group: None,
                        become_: None,
                    },
                    after,
                );
                let out = run(&mut ch, &req).await;
                let said = String::from_utf8_lossy(&out.stdout).into_owned();
                if !writable {
                    assert_ne!(out.rc, 0);
                    assert_eq!(said, "", "nothing runs after a failed write");
                } else if agent {
                    assert_eq!(out.rc, 0);
                    assert!(
                        said.starts_with("done|stat|regular file|600|") && said.contains("|5|"),
                        "the answer saw the written file: {said}"
                    );
                } else {
                    assert_eq!((out.rc, said.as_str()), (0, "|\n"));
                }
            }
        }
    }

    async fn call(ch: &mut LocalChannel, id: u64, script: &str) -> Result<ExecOutput, CallError> {
        let frame = encode_request(id, &ExecRequest::script(script)).unwrap();
        ch.call(id, &frame, 10).await
    }

    /// An answer announcing more output than the caller accepts is refused from its header,
    /// for stdout and for stderr alike; one of exactly the limit is taken.
    #[tokio::test]
    async fn an_answer_over_the_limit_is_refused_from_its_header() {
        let cases = [
            (101, "printf 0123456789; printf abcdefghij >&2", None),
            (102, "printf 0123456789x", Some("stdout")),
            (103, "printf 0123456789x >&2", Some("stderr")),
        ];
        for (server, (id, script, refused)) in Server::all()
            .into_iter()
            .flat_map(|server| cases.map(|case| (server, case)))
        {
            // A server of its own each time: after a refusal the stream is out of step.
            let server = server();
            let (mut child, mut ch) = server.start().await;
            let dir = run(&mut ch, &ExecRequest::script("dirname \"$0\"")).await;
            match (call(&mut ch, id, script).await, refused) {
                (Ok(out), None) => assert_eq!((out.stdout.len(), out.stderr.len()), (10, 10)),
                (Err(CallError::TooLarge { stream, limit }), Some(refused)) => {
                    assert_eq!((stream, limit), (refused, 10))
                }
                (other, _) => panic!("{script}: {other:?}"),
            }
            let (stdin, _stdout) = ch.into_parts();
            drop(stdin);
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            // Closing a loop that is still busy answering can race its lifeline's `rm -rf`
            // (the loop empties its files, recreating them, right after the answer); that is
            // not what this test is about, so whatever is left goes.
            let _ = std::fs::remove_dir_all(dir.stdout_str().trim());
        }
    }

    /// A frame cut short (the client died mid-request) must not run: half a script could do
    /// something else entirely (`rm -rf /var/lib/etcd/member/x` cut to `rm -rf /var/lib/etcd`).
    #[tokio::test]
    async fn a_request_cut_short_is_not_run() {
        for server in Server::all() {
            let server = server();
            let dir = tempfile::tempdir().unwrap();
            let marker = dir.path().join("ran");
            let (mut child, ch) = server.start().await;
            let (mut stdin, _stdout) = ch.into_parts();
            let script = format!("touch {}", marker.display());
            let header = format!("1 - {} 0\n", script.len() + 50);
            stdin.write_all(header.as_bytes()).await.unwrap();
            stdin.write_all(script.as_bytes()).await.unwrap();
            drop(stdin);
            let status = child.wait().await.unwrap();
            assert!(!status.success());
            assert!(!marker.exists(), "a truncated script ran");
        }
    }

    /// A frame whose announced lengths do not end at its trailer (a stream out of step) is
    /// not run either, and the connection stays open while the loop decides that.
    #[tokio::test]
    async fn a_frame_out_of_step_is_not_run() {
        for server in Server::all() {
            let server = server();
            let dir = tempfile::tempdir().unwrap();
            let marker = dir.path().join("ran");
            let (mut child, ch) = server.start().await;
            let (mut stdin, _stdout) = ch.into_parts();
            let script = format!("touch {}", marker.display());
            // A stray newline between the script and the trailer: where the trailer should be,
            // the loop reads an empty line.
            let frame = format!("1 - {} 0\n{script}\n\n.1\n", script.len());
            stdin.write_all(frame.as_bytes()).await.unwrap();
            let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .expect("the loop must end by itself");
            assert!(!status.unwrap().success());
            assert!(!marker.exists(), "a frame out of step ran");
            drop(stdin);
        }
    }

    #[tokio::test]
    async fn private_directory_is_removed_on_exit() {
        for server in Server::all() {
            let server = server();
            let (mut child, mut ch) = server.start().await;
            let out = run(&mut ch, &ExecRequest::script("dirname \"$0\"")).await;
            let dir = out.stdout_str().trim().to_string();
            assert!(std::path::Path::new(&dir).is_dir(), "{dir}");
            let (stdin, _) = ch.into_parts();
            drop(stdin);
            child.wait().await.unwrap();
            assert!(!std::path::Path::new(&dir).exists(), "{dir} left behind");
        }
    }

    #[tokio::test]
    async fn a_banner_before_the_loop_is_skipped() {
        let script = format!(
            "echo 'Welcome!'; echo; exec /bin/sh -c '{}' etcdplay MARK2",
            LOOP_SCRIPT.replace('\'', "'\\''")
        );
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut ch = ShellChannel::new(stdin, stdout, "MARK2".into());
        ch.ready().await.unwrap();
        let out = run(&mut ch, &ExecRequest::script("echo ok")).await;
        assert_eq!(out.stdout, b"ok\n");
        // Let the loop end normally so its trap removes the directory.
        let (stdin, _) = ch.into_parts();
        drop(stdin);
        child.wait().await.unwrap();
    }

    use crate::test_support::alive;

    /// The connection going away while a script runs kills the script and everything it
    /// started in the background at once, instead of letting them run to completion.
    #[tokio::test]
    async fn closing_stdin_kills_a_running_request_and_its_children() {
        for server in Server::all() {
            let server = server();
            let dir = tempfile::tempdir().unwrap();
            let pids = dir.path().join("pids");
            let (mut child, mut ch) = server.start().await;
            assert_eq!(
                run(&mut ch, &ExecRequest::script("echo up")).await.stdout,
                b"up\n"
            );
            let (mut stdin, mut stdout) = ch.into_parts();
            let script = format!(
                "sleep 300 & echo $! >>{p}; nohup sleep 301 >/dev/null 2>&1 & echo $! >>{p}; \
                 sh -c 'trap \"\" TERM HUP; sleep 302' & echo $! >>{p}; echo $$ >>{p}; sleep 303",
                p = pids.display()
            );
            let frame = encode_request(77, &ExecRequest::script(script)).unwrap();
            stdin.write_all(&frame).await.unwrap();
            stdin.flush().await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            let started = loop {
                let text = std::fs::read_to_string(&pids).unwrap_or_default();
                if text.lines().count() == 4 {
                    break text;
                }
                assert!(
                    Instant::now() < deadline,
                    "the script did not start: {text:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let started: Vec<String> = started.lines().map(str::to_string).collect();
            assert!(started.iter().all(|p| alive(p)), "{started:?}");
            let closed = Instant::now();
            drop(stdin);
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            let mut rest = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(5), stdout.read_to_end(&mut rest)).await;
            while started.iter().any(|p| alive(p)) && closed.elapsed() < Duration::from_secs(5) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let left: Vec<&String> = started.iter().filter(|p| alive(p)).collect();
            for pid in &left {
                let _ = std::process::Command::new("kill")
                    .args(["-9", pid.as_str()])
                    .status();
            }
            assert!(
                left.is_empty(),
                "still running after stdin closed: {left:?}"
            );
            assert!(rest.is_empty(), "the killed request answered: {rest:?}");
        }
    }

    /// The loop run by a login that is not root (`runuser`), as an SSH login would be.
    async fn loop_as(user: &str) -> (tokio::process::Child, LocalChannel) {
        let mut runuser = Command::new("runuser");
        runuser
            .args([
                "-u",
                user,
                "--",
                "/bin/sh",
                "-c",
                LOOP_SCRIPT,
                "etcdplay",
                "MARK3",
            ])
            .current_dir("/");
        start_loop(runuser, "MARK3").await
    }

    fn su(user: &str, password: Option<&str>) -> Option<crate::Become> {
        Some(crate::Become {
            user: user.into(),
            method: BecomeMethod::Su(SuOptions {
                password: password.map(Secret::new),
                ..SuOptions::default()
            }),
        })
    }

    /// `become_method: su` from a login that is not root: the password reaches su on its
    /// standard input (util-linux su, as on Debian, prompts "Password: " on stderr and reads
    /// it there), the script runs as the target user with its own input and stderr (no
    /// prompt in it). A wrong password is su's "Authentication failure"; none at all is
    /// refused before su could read the script as one. (Needs root to create the users.)
    #[tokio::test]
    #[allow(clippy::print_stderr)]
    async fn su_with_a_password_from_a_login_that_is_not_root() {
        if !crate::test_support::ensure_user("epsulogin", "Login-pw-1")
            || !crate::test_support::ensure_user("epsutarget", "T4rget pw'\"")
        {
            eprintln!("needs root (useradd, runuser); skipped");
            return;
        }
        let (mut child, mut ch) = loop_as("epsulogin").await;
        let mut req = ExecRequest::script("id -un; cat; echo oops >&2");
        req.stdin = b"input\n".to_vec();
        req.become_ = su("epsutarget", Some("T4rget pw'\""));
        let out = run(&mut ch, &req).await;
        assert_eq!(
            (out.rc, out.stdout_str().as_str(), out.stderr_str().as_str()),
            (0, "epsutarget\ninput\n", "oops\n")
        );
        req.become_ = su("epsutarget", Some("wrong"));
        let out = run(&mut ch, &req).await;
        assert_ne!(out.rc, 0);
        assert!(
            out.stderr_str().contains("Authentication failure"),
            "{out:?}"
        );
        req.become_ = su("epsutarget", None);
        let out = run(&mut ch, &req).await;
        assert_eq!(out.rc, 125, "{out:?}");
        // The loop is still in step.
        let out = run(&mut ch, &ExecRequest::script("id -un")).await;
        assert_eq!(out.stdout, b"epsulogin\n");
        let (stdin, _) = ch.into_parts();
        drop(stdin);
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    }

    /// From a root login su and sudo ask nothing: the script runs as the target at once,
    /// with its input and its stderr; a failing su's own message is the answer's stderr.
    #[tokio::test]
    #[allow(clippy::print_stderr)]
    async fn become_from_root_needs_no_password() {
        if !crate::test_support::ensure_user("epsutarget", "T4rget pw'\"") {
            eprintln!("needs root; skipped");
            return;
        }
        for server in Server::all() {
            let server = server();
            let (mut child, mut ch) = server.start().await;
            let mut req = ExecRequest::script("id -un; cat; echo e >&2; exit 3");
            req.stdin = b"in".to_vec();
            req.become_ = su("epsutarget", Some("unused"));
            let out = run(&mut ch, &req).await;
            let expected = (3, "epsutarget\nin", "e\n");
            let got = (out.rc, out.stdout_str(), out.stderr_str());
            assert_eq!((got.0, got.1.as_str(), got.2.as_str()), expected);
            req.become_ = Some(crate::Become::sudo("epsutarget"));
            let out = run(&mut ch, &req).await;
            let got = (out.rc, out.stdout_str(), out.stderr_str());
            assert_eq!((got.0, got.1.as_str(), got.2.as_str()), expected);
            req.become_ = su("epsnosuchuser", None);
            let out = run(&mut ch, &req).await;
            assert_ne!(out.rc, 0);
            assert!(out.stderr_str().contains("epsnosuchuser"), "{out:?}");
            // Becoming the login itself is no become at all.
            req.become_ = su("root", None);
            let out = run(&mut ch, &req).await;
            assert_eq!((out.rc, out.stdout_str().as_str()), (3, "root\nin"));
            let (stdin, _) = ch.into_parts();
            drop(stdin);
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
    }

    /// The agent looks for the hint this crate writes.
    #[test]
    fn the_agent_reads_the_prefill_hint_written_here() {
        assert_eq!(
            etcdplay_agent::PREFILL_HINT.as_bytes(),
            crate::AGENT_PREFILL_HINT.as_bytes()
        );
    }

    /// The agent hands a become user's shell the script and its input as the loop does.
    #[test]
    fn the_agent_reads_become_input_as_the_loop_does() {
        let a = format!("\nA='{}'\n", etcdplay_agent::BECOME_READER);
        assert!(LOOP_SCRIPT.contains(&a), "the loop's A is not {a:?}");
    }

    #[test]
    fn bad_names_are_refused_before_sending() {
        let mut req = ExecRequest::script("true");
        req.env = vec![("A B".into(), "x".into())];
        assert!(encode_request(1, &req).is_err());
        let mut req = ExecRequest::script("true");
        req.become_ = Some(crate::Become::sudo("-u root"));
        assert!(encode_request(1, &req).is_err());
        let frame = encode_request(5, &ExecRequest::script("true")).unwrap();
        assert_eq!(frame, b"5 - 4 0\ntrue.5\n");
    }
}
