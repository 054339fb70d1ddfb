//! Test doubles for the commands a probe runs on a host: an executable script put first on
//! `PATH` (here, in a scratch directory) that logs how it was called, and that log read back.

use std::path::Path;

/// Writes `script` to `path` as an executable.
pub(crate) fn write_executable(path: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The lines logged to `log` since the last look (the log is removed).
pub(crate) fn take_log(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let _ = std::fs::remove_file(log);
    text.lines().map(str::to_string).collect()
}
