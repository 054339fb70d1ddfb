//! The host agent: a small program etcdplay keeps on a host (`/var/cache/etcdplay/bin/`,
//! named by its sha1, like the data-dir reader) that speaks the remote shell protocol of
//! `etcdplay-transport` in place of the shell loop. The loop starts `head` to read each
//! script, and `wc` and `cat` to send each answer: three processes per request, about a
//! millisecond of the host's CPU each, on hosts that often share their cores. The agent
//! reads and writes the frames itself, so a request costs only the script's own `/bin/sh`.
//! Scripts, their input, their output and their exit status are exactly the loop's: the
//! same files in a private directory, the login's umask, `$?`'s numbers.
//!
//! A script whose first line asks (`prefill.rs`) gets, as shell variables in front of it,
//! answers it would otherwise start a process for (`hostname -f`, `grep` of `/proc/cpuinfo`,
//! `readlink -f`, `find -cnewer`) or read a byte per system call (the facts' file-only
//! sections, `facts_files.rs`).
//!
//! It runs only as root and only from a directory private to root; otherwise it prints
//! `MARKER agent-refused REASON` and exits, and etcdplay starts the shell loop instead.
//! Started as `etcdplay-agent --put MODE DEST LEN` on an upload's own channel, it writes
//! that one large upload instead (`bulk_put.rs`).

mod bulk_put;
mod channel;
mod contents;
mod dbus;
mod facts_files;
mod frame;
mod login;
mod manager;
mod mkdir;
mod newer;
mod prefill;
mod put;
mod request;
mod stat_line;
mod unit_files;

pub use manager::SYSV_DIRS;
pub use prefill::HINT as PREFILL_HINT;
pub use request::BECOME_READER;
pub use unit_files::UNIT_DIRS;

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use channel::Channel;
use frame::{parse_header, Preamble, MAX_HEADER};
use login::Login;
use request::{Files, Run};
use rustix::fs::Mode;

/// Scripts up to this size are read into memory to look for a prefill hint (read-ahead
/// batches are tens of KiB); larger ones go straight to their file.
const MAX_SCANNED_SCRIPT: u64 = 1 << 20;

/// The exit status of a refused start (the client then starts the shell loop).
const REFUSED: u8 = 97;

/// The agent's `main`: `etcdplay-agent MARKER` serves requests; `etcdplay-agent --put MODE
/// DEST LEN` writes one large upload (`bulk_put.rs`).
pub fn main_with(args: Vec<OsString>) -> ExitCode {
    if args.get(1).is_some_and(|a| a == "--put") {
        let mut err = io::stderr().lock();
        return ExitCode::from(bulk_put::run(
            &args[2..],
            io::stdin().lock(),
            &mut err,
            REFUSED,
        ));
    }
    let marker = match &args[..] {
        [_, m] => m.to_string_lossy().into_owned(),
        _ => return ExitCode::from(2),
    };
    if marker.is_empty() || marker.contains(char::is_whitespace) {
        return ExitCode::from(2);
    }
    let mut out = io::stdout().lock();
    if let Err(reason) = login::check_trusted() {
        let _ = writeln!(out, "{marker} agent-refused {reason}");
        return ExitCode::from(REFUSED);
    }
    let private = Mode::from_bits_truncate(0o077);
    let login_umask = rustix::process::umask(private);
    let dir = match login::private_dir() {
        Ok(dir) => dir,
        Err(_) => return ExitCode::from(REFUSED),
    };
    let login = Login::of_this_process();
    let kill_group = login.leads_its_group;
    let lifeline_dir = dir.clone();
    let channel = Channel::relay(io::stdin(), move || {
        login::remove_dir(&lifeline_dir);
        login::stop_everything(kill_group);
    });
    let served = serve(&marker, &dir, &login, login_umask, channel, &mut out);
    login::remove_dir(&dir);
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Answers requests until the stream is out of step (then the caller ends the agent; the
/// client sees the channel close and discards it). The channel's end is the lifeline's.
fn serve(
    marker: &str,
    dir: &Path,
    login: &Login,
    login_umask: Mode,
    mut channel: Channel,
    out: &mut impl Write,
) -> io::Result<()> {
    writeln!(out, "{marker} ready agent")?;
    out.flush()?;
    let files = Files::in_dir(dir);
    loop {
        let line = channel.read_line(MAX_HEADER).ok_or_else(out_of_step)?;
        let header = std::str::from_utf8(&line)
            .ok()
            .and_then(parse_header)
            .ok_or_else(out_of_step)?;
        let as_login = header.user == "-" || Some(header.user.as_str()) == login.name.as_deref();
        let mut script = File::create(&files.script)?;
        // Read whole to look for a prefill hint, answered once the request is known whole
        // (a `put` acts).
        let mut scanned = None;
        if as_login && header.script_len <= MAX_SCANNED_SCRIPT {
            let mut text = Vec::new();
            channel.copy_exact(header.script_len, &mut text)?;
            scanned = Some(text);
        } else {
            channel.copy_exact(header.script_len, &mut script)?;
        }
        if as_login {
            if header.stdin_len > 0 {
                channel.copy_exact(header.stdin_len, &mut File::create(&files.input)?)?;
            }
        } else {
            // Become reads the script and its input from one stream.
            channel.copy_exact(header.stdin_len, &mut script)?;
        }
        let mut preamble = Vec::new();
        channel.copy_exact(header.preamble.len(), &mut preamble)?;
        // su's words; the password (second line) is not needed by root and is dropped here.
        let words = String::from_utf8_lossy(preamble.split(|&b| b == b'\n').next().unwrap_or(&[]))
            .into_owned();
        preamble.fill(0);
        let trailer = channel.read_line(MAX_HEADER).ok_or_else(out_of_step)?;
        if trailer != format!(".{}", header.id).as_bytes() {
            return Err(out_of_step());
        }
        if let Some(text) = scanned {
            let input = (header.stdin_len > 0).then_some(files.input.as_path());
            let request = prefill::Request { input, login_umask };
            if let Some(answers) = prefill::prefill(&text, &request) {
                script.write_all(&answers)?;
            }
            script.write_all(&text)?;
        }
        drop(script);
        let run = if as_login {
            Run::Plain {
                has_input: header.stdin_len > 0,
            }
        } else if let Preamble::Su(_) = header.preamble {
            Run::Su {
                user: &header.user,
                script_len: header.script_len,
                words: &words,
            }
        } else {
            Run::Sudo {
                user: &header.user,
                script_len: header.script_len,
            }
        };
        let rc = request::run(run, &files, login_umask)?;
        answer(marker, &header.id, rc, &files, out)?;
        files.clear();
    }
}

/// `MARKER ID RC OUT_LEN ERR_LEN`, then exactly those bytes of stdout and stderr.
fn answer(marker: &str, id: &str, rc: i32, files: &Files, out: &mut impl Write) -> io::Result<()> {
    let mut stdout = File::open(&files.stdout)?;
    let mut stderr = File::open(&files.stderr)?;
    let (ol, el) = (stdout.metadata()?.len(), stderr.metadata()?.len());
    writeln!(out, "{marker} {id} {rc} {ol} {el}")?;
    // The lengths were taken from these very descriptors; the script has ended, so nothing
    // grows them (a background process it left could, and is cut to the announced length).
    copy_at_most(&mut stdout, ol, out)?;
    copy_at_most(&mut stderr, el, out)?;
    out.flush()
}

fn copy_at_most(file: &mut File, len: u64, out: &mut impl Write) -> io::Result<()> {
    let copied = io::copy(&mut io::Read::take(file, len), out)?;
    if copied < len {
        // Truncated under us: pad, so that the frame stays in step.
        io::copy(&mut io::Read::take(io::repeat(0), len - copied), out)?;
    }
    Ok(())
}

/// The shell assignments the agent puts in front of `script` (for tests elsewhere that run a
/// script with and without them).
#[doc(hidden)]
pub fn prefill_answers(script: &[u8]) -> Option<Vec<u8>> {
    prefill_answers_for(script, None, 0o022)
}

/// [`prefill_answers`] for a request with input (in the file `input`, as the agent keeps it)
/// from a login whose umask is `login_umask`: an acting word acts.
#[doc(hidden)]
pub fn prefill_answers_for(
    script: &[u8],
    input: Option<&Path>,
    login_umask: u32,
) -> Option<Vec<u8>> {
    let request = prefill::Request {
        input,
        login_umask: Mode::from_raw_mode(login_umask),
    };
    prefill::prefill(script, &request)
}

fn out_of_step() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the request stream is out of step",
    )
}
