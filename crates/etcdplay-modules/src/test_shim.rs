//! Test doubles for the commands a probe runs on a host: an executable script put first on
//! `PATH` (here, in a scratch directory) that logs how it was called, and that log read back.

use std::path::Path;

/// Writes `script` to `path` as an executable.
pub(crate) fn write_executable(path: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Puts `program` in `bin` as a shim that logs `call` to `log` and runs the system's own
/// (`/usr/bin` or `/bin`), so a test counts how often a script ran it.
pub(crate) fn log_calls_of(bin: &Path, program: &str, log: &Path) {
    let real = ["/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
        .expect("the program is installed");
    write_executable(
        &bin.join(program),
        &format!(
            "#!/bin/sh\necho call >>{}\nexec {} \"$@\"\n",
            log.display(),
            real.display()
        ),
    );
}

/// The lines logged to `log` since the last look (the log is removed).
pub(crate) fn take_log(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let _ = std::fs::remove_file(log);
    text.lines().map(str::to_string).collect()
}
