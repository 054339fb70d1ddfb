//! The write of a large upload, on an SSH channel of its own: `etcdplay-agent --put MODE DEST
//! LEN` (`MODE` in octal or `-`, `DEST` in hex, as the `put:` word) reads the content from
//! its stdin and writes it as the transport's put script does (`put.rs`: a private new file
//! beside the destination, the replaced file's owner and group, the mode, the rename), and
//! fails as the script does when other than `LEN` bytes arrived. What the script needs `cat`,
//! `wc`, `chmod` and `mv` for is one process here, and the file's sha1 is taken from the
//! bytes as they pass: the checksum cache entry left for it lets the read-back that follows
//! an upload skip `sha1sum` over tens of megabytes (an etcd binary is 20 MB).
//!
//! It serves root only, as the agent does; refused, it prints `agent-refused REASON` on
//! stderr and exits with the refusal status before reading anything, and the transport sends
//! the upload again through the script.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha1::{Digest, Sha1};

use crate::put::{hex_sum, replace_with, Put};
use crate::stat_line;

/// Bytes read from the channel at a time.
const CHUNK: usize = 256 * 1024;

/// `MODE DEST LEN` as the transport passes them; `None` for anything else.
fn parse(args: &[OsString]) -> Option<(Put, u64)> {
    let [mode, dest, len] = args else {
        return None;
    };
    let mut spec = mode.as_bytes().to_vec();
    spec.push(b':');
    spec.extend_from_slice(dest.as_bytes());
    let put = Put::parse(&spec)?;
    let len = std::str::from_utf8(len.as_bytes()).ok()?.parse().ok()?;
    Some((put, len))
}

/// Runs `--put` with `args` (after the flag): 0 written, 1 failed (the reason on `err`), 2
/// for arguments the transport never sends, `refused` when the agent may not serve.
pub(crate) fn run(args: &[OsString], input: impl Read, err: &mut impl Write, refused: u8) -> u8 {
    let Some((put, len)) = parse(args) else {
        let _ = writeln!(err, "etcdplay-agent: --put MODE HEXDEST LEN");
        return 2;
    };
    if let Err(reason) = crate::login::check_trusted() {
        let _ = writeln!(err, "agent-refused {reason}");
        return refused;
    }
    match write(&put, len, input, &stat_line::sums_dir()) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            1
        }
    }
}

/// The write of `len` bytes of `input` to `put.dest`, and the checksum cache entry for it in
/// `sums`.
pub(crate) fn write(put: &Put, len: u64, mut input: impl Read, sums: &Path) -> io::Result<()> {
    let mut hasher = Sha1::new();
    let mut got: u64 = 0;
    let file = replace_with(put, |file| {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            got += n as u64;
            file.write_all(&buf[..n])?;
        }
        if got != len {
            return Err(io::Error::other(format!(
                "upload cut short: {got} of {len} bytes arrived"
            )));
        }
        Ok(())
    })
    .map_err(|e| match e.kind() {
        io::ErrorKind::Other => e,
        _ => io::Error::new(e.kind(), format!("{}: {e}", put.dest.display())),
    })?;
    remember(put, &file, got, hex_sum(hasher), sums);
    Ok(())
}

/// Leaves the cache entry for the file just written, when `put.dest` still is that file with
/// the length written: the sum is of the bytes that passed, so the entry is keyed by the
/// times the file has after its rename, looked at once it is in place (a change after that
/// look moves them, and the entry is never used).
fn remember(put: &Put, file: &fs::File, len: u64, sum: String, sums: &Path) {
    let (Ok(ours), Ok(there)) = (file.metadata(), fs::symlink_metadata(&put.dest)) else {
        return;
    };
    if (ours.dev(), ours.ino()) != (there.dev(), there.ino()) || there.size() != len {
        return;
    }
    if let Some(line) = stat_line::line(&there, &stat_line::Names::load()) {
        stat_line::remember_sum(&line, &sum, sums);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }

    fn args(mode: &str, dest: &std::path::Path, len: usize) -> Vec<OsString> {
        vec![
            mode.into(),
            hex(dest.to_str().unwrap()).into(),
            len.to_string().into(),
        ]
    }

    fn names_in(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn arguments_are_the_put_words_and_a_length() {
        let (put, len) = parse(&args("755", "/usr/local/bin/etcd".as_ref(), 7)).unwrap();
        assert_eq!(put.dest, std::path::Path::new("/usr/local/bin/etcd"));
        assert_eq!((put.mode, len), (Some(0o755), 7));
        assert!(parse(&args("755", "rel".as_ref(), 7)).is_none());
        assert!(parse(&["-".into(), hex("/x").into(), "-1".into()]).is_none());
        assert!(parse(&["-".into(), hex("/x").into()]).is_none());
    }

    /// The content, the mode asked for (or the replaced file's), the checksum cache entry the
    /// shell's `ep_sha1` would leave, and nothing else beside the file.
    #[test]
    fn the_file_is_written_whole_with_its_checksum_remembered() {
        let tmp = tempfile::tempdir().unwrap();
        let sums = tmp.path().join("sums");
        let dest = tmp.path().join("etcd");
        let content: Vec<u8> = (0..(CHUNK * 2 + 5)).map(|i| (i % 251) as u8).collect();
        let put = Put {
            dest: dest.clone(),
            mode: Some(0o755),
        };
        write(&put, content.len() as u64, &content[..], &sums).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), content);
        let meta = fs::metadata(&dest).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
        let entry =
            fs::read_to_string(sums.join(format!("{}.{}", meta.dev(), meta.ino()))).unwrap();
        let mut hasher = Sha1::new();
        hasher.update(&content);
        assert!(entry.starts_with(&format!("{} ", content.len())), "{entry}");
        assert!(
            entry.ends_with(&format!(" {}\n", hex_sum(hasher))),
            "{entry}"
        );
        assert_eq!(names_in(tmp.path()), ["etcd", "sums"]);

        // No mode asked for: the replaced file's stays.
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o700)).unwrap();
        let put = Put {
            dest: dest.clone(),
            mode: None,
        };
        write(&put, 3, &b"new"[..], &sums).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
            0o700
        );
    }

    /// Fewer or more bytes than announced: the script's message, the old file untouched, no
    /// new file left behind.
    #[test]
    fn a_short_or_long_upload_fails_and_leaves_the_old_file() {
        let tmp = tempfile::tempdir().unwrap();
        let sums = tmp.path().join("sums");
        let dest = tmp.path().join("f");
        fs::write(&dest, b"old").unwrap();
        let put = Put {
            dest: dest.clone(),
            mode: None,
        };
        let e = write(&put, 10, &b"12345"[..], &sums).unwrap_err();
        assert_eq!(e.to_string(), "upload cut short: 5 of 10 bytes arrived");
        let e = write(&put, 2, &b"12345"[..], &sums).unwrap_err();
        assert_eq!(e.to_string(), "upload cut short: 5 of 2 bytes arrived");
        assert_eq!(fs::read(&dest).unwrap(), b"old");
        assert_eq!(names_in(tmp.path()), ["f"]);
        // A directory that is not there: the destination named.
        let put = Put {
            dest: tmp.path().join("no/such/f"),
            mode: None,
        };
        let e = write(&put, 0, &b""[..], &sums).unwrap_err();
        assert!(e.to_string().contains("no/such/f"), "{e}");
    }
}
