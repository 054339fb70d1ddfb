//! The answer to the prefill word `b64:HEX:HEX...` (paths in hex): for each path, what the
//! probes' `ep_b64 PATH` prints, `base64 -w0` of a regular file's content (through links, as
//! `[ -f ]` and `<` go), nothing for anything else; one `base64` process less per file that a
//! read-ahead batch reads (lineinfile, blockinfile, cron and others). A path is answered only
//! when the agent read it whole and it is at most [`MAX_CONTENT`] bytes, and while the answers
//! stay within [`MAX_ANSWERS`]; otherwise the probe runs `base64` itself.

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::prefill::assign;

/// Files larger than this are left to `base64` (an answer is held in a shell variable).
const MAX_CONTENT: u64 = 1 << 20;
/// The most the answers of one request may hold together (base64); the files after are left
/// to `base64`, so a batch of many large files costs the agent no more memory than this.
const MAX_ANSWERS: usize = 4 << 20;

/// `ep_bp_N` (the path) and `ep_bv_N` (what `ep_b64` prints) for each path answered, and
/// their count in `ep_ag_bn`.
pub(crate) fn prefill_contents(spec: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut n = 0;
    for hex in spec.split(|&b| b == b':') {
        let Some(path) = crate::prefill::hex_path(hex) else {
            continue;
        };
        let Some(printed) = printed(&path) else {
            continue;
        };
        if out.len() + printed.len() > MAX_ANSWERS {
            break;
        }
        n += 1;
        assign(&mut out, &format!("ep_bp_{n}"), path.as_os_str().as_bytes());
        assign(&mut out, &format!("ep_bv_{n}"), printed.as_bytes());
    }
    assign(&mut out, "ep_ag_bn", n.to_string().as_bytes());
    out
}

/// What `ep_b64 PATH` prints, or `None` where the agent leaves it to the shell.
fn printed(path: &PathBuf) -> Option<String> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(String::new()),
        Err(_) => return None,
    };
    if !meta.is_file() {
        return Some(String::new());
    }
    if meta.len() > MAX_CONTENT {
        return None;
    }
    let mut bytes = Vec::new();
    fs::File::open(path)
        .ok()?
        .take(MAX_CONTENT + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.len() as u64 > MAX_CONTENT {
        return None;
    }
    Some(base64(&bytes))
}

/// Standard base64 with padding, on one line (`base64 -w0`).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// The same text as `base64 -w0` for every length modulo 3, and nothing for what is not
    /// a regular file.
    #[test]
    fn what_is_printed_is_what_base64_prints() {
        let dir = std::env::temp_dir().join(format!("etcdplay-b64-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        for content in [
            &b""[..],
            b"a",
            b"ab",
            b"abc",
            b"\x00\xff\x10line\n",
            &[7u8; 1000],
        ] {
            let file = dir.join("f");
            fs::write(&file, content).unwrap();
            let shell = Command::new("sh")
                .args(["-c", "base64 -w0 < \"$1\"", "sh"])
                .arg(&file)
                .output()
                .unwrap();
            assert_eq!(
                printed(&file).unwrap().as_bytes(),
                shell.stdout,
                "{content:?}"
            );
        }
        assert_eq!(printed(&dir).as_deref(), Some(""));
        assert_eq!(printed(&dir.join("absent")).as_deref(), Some(""));
        fs::write(dir.join("big"), vec![0u8; (MAX_CONTENT + 1) as usize]).unwrap();
        assert_eq!(printed(&dir.join("big")), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
