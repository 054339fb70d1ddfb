//! Helpers of this crate's unit tests.

/// Whether process `pid` is alive; a zombie (killed, not yet reaped) counts as gone.
pub(crate) fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// Creates (once) a user with a home, a login shell and `password`; `false` without root.
pub(crate) fn ensure_user(name: &str, password: &str) -> bool {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    if !root {
        return false;
    }
    let exists = || {
        std::process::Command::new("id")
            .arg(name)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !exists() {
        // Another test may be creating the same user at the same moment.
        let _ = std::process::Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", name])
            .status();
        if !exists() {
            return false;
        }
    }
    let mut chpasswd = std::process::Command::new("chpasswd")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("chpasswd");
    use std::io::Write;
    let mut input = chpasswd.stdin.take().expect("stdin");
    writeln!(input, "{name}:{password}").expect("write");
    drop(input);
    chpasswd.wait().expect("chpasswd").success()
}
