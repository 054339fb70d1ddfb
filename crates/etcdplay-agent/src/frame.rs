//! The request header of the remote shell protocol (see `etcdplay-transport`'s
//! `shell_protocol`), parsed as the shell loop's `read -r id u sl il bm bl` reads it: four
//! fields, or six when a become preamble follows.

/// Longest header line the agent reads; the client's are far shorter (a number, a user name,
/// three lengths and a word), so anything longer means the stream is out of step.
pub(crate) const MAX_HEADER: usize = 1024;

/// How the become preamble after the input is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Preamble {
    /// No preamble: `sudo` without a password, or no become at all.
    None,
    /// `su`'s words and password (one line each).
    Su(u64),
    /// An empty line and sudo's password.
    Sudo(u64),
}

impl Preamble {
    pub(crate) fn len(self) -> u64 {
        match self {
            Preamble::None => 0,
            Preamble::Su(n) | Preamble::Sudo(n) => n,
        }
    }
}

/// One request's header: `ID USER SCRIPT_LEN STDIN_LEN [METHOD PRE_LEN]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// Digits only; echoed in the answer and checked against the trailer.
    pub(crate) id: String,
    /// `-` without become.
    pub(crate) user: String,
    pub(crate) script_len: u64,
    pub(crate) stdin_len: u64,
    pub(crate) preamble: Preamble,
}

/// Parses a header line (without its newline); `None` when it is not one the client sends.
pub(crate) fn parse_header(line: &str) -> Option<Header> {
    let fields: Vec<&str> = line.split(' ').collect();
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (id, user, script_len, stdin_len) = match fields[..] {
        [id, user, sl, il] | [id, user, sl, il, _, _] => (id, user, number(sl)?, number(il)?),
        _ => return None,
    };
    number(id)?;
    if user.is_empty() || user.starts_with('-') && user != "-" {
        return None;
    }
    let preamble = match fields[..] {
        [_, _, _, _, "su", len] => Preamble::Su(number(len)?),
        [_, _, _, _, "sudo", len] => Preamble::Sudo(number(len)?),
        [_, _, _, _] => Preamble::None,
        _ => return None,
    };
    Some(Header {
        id: id.to_string(),
        user: user.to_string(),
        script_len,
        stdin_len,
        preamble,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_and_six_field_headers_are_read() {
        let plain = parse_header("7 - 12 0").unwrap();
        assert_eq!(
            (plain.id.as_str(), plain.user.as_str(), plain.script_len),
            ("7", "-", 12)
        );
        assert_eq!(plain.preamble, Preamble::None);
        let su = parse_header("8 postgres 3 4 su 20").unwrap();
        assert_eq!((su.user.as_str(), su.stdin_len), ("postgres", 4));
        assert_eq!(su.preamble, Preamble::Su(20));
        assert_eq!(
            parse_header("9 root 1 0 sudo 9").unwrap().preamble,
            Preamble::Sudo(9)
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "7 - 12",
            "7 - 12 0 su",
            "7 - 12 0 doas 3",
            "x - 1 0",
            "7 - -1 0",
            "7 - 1 0 ",
            "7  - 1 0",
            "7 -root 1 0",
            "7 - 99999999999999999999999 0",
        ] {
            assert_eq!(parse_header(bad), None, "{bad:?}");
        }
    }
}
