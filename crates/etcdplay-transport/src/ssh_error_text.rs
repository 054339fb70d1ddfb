//! Turns ssh's error output into one readable reason for `TransportError::Unreachable`,
//! calling out host key problems, which ssh buries in a banner of `@` signs.

/// The full text of an openssh error: its own message plus ssh's, which is in the source.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Explains a failed connect, calling out a changed or unknown host key, which ssh buries in a
/// banner of `@` signs.
pub(crate) fn describe_connect_error(e: &openssh::Error) -> String {
    let text = error_chain(e);
    let text = text.trim();
    if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        // Keep ssh's facts (fingerprint, offending known_hosts line), drop its banner.
        let detail: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| {
                l.contains("fingerprint")
                    || l.starts_with("SHA256:")
                    || l.starts_with("Offending")
                    || l.starts_with("Host key for")
                    || l.starts_with("Host key verification failed")
            })
            .collect();
        format!(
            "host key verification failed: the host key CHANGED since it was recorded in known_hosts \
             (a reinstalled host or a man-in-the-middle); refusing to connect. If the change is \
             expected, remove the old key (ssh-keygen -R HOST). ssh said: {}",
            detail.join(" ")
        )
    } else if text.contains("Host key verification failed") {
        format!(
            "host key verification failed: the host key is not known (strict checking) or does not \
             match known_hosts; ssh said: {}",
            text.lines().map(str::trim).collect::<Vec<_>>().join(" ")
        )
    } else {
        text.lines().map(str::trim).collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn changed_host_key_is_spelled_out() {
        let ssh = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
                   @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
                   @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
                   IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
                   The fingerprint for the ED25519 key sent by the remote host is\n\
                   SHA256:abc.\n\
                   Offending ED25519 key in /k:1\n\
                   Host key verification failed.";
        let e = openssh::Error::Connect(io::Error::other(ssh));
        let reason = describe_connect_error(&e);
        assert!(reason.contains("host key CHANGED"), "{reason}");
        assert!(reason.contains("Host key verification failed."), "{reason}");
        assert!(
            reason.contains("SHA256:abc. Offending ED25519 key in /k:1"),
            "{reason}"
        );
        assert!(
            !reason.contains("@@@") && !reason.contains("NASTY"),
            "{reason}"
        );
    }
}
