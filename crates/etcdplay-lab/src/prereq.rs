//! Checks, before touching anything, that the lab can run here: root, and the commands it
//! drives. A missing command is reported with the Debian package that provides it.

use std::path::{Path, PathBuf};

use crate::error::LabError;

/// The commands the lab runs and the package that ships each.
pub(crate) const TOOLS: &[(&str, &str)] = &[
    ("systemd-nspawn", "systemd-container"),
    ("debootstrap", "debootstrap"),
    ("ip", "iproute2"),
    ("ssh-keygen", "openssh-client"),
    ("ssh", "openssh-client"),
];

/// Directories searched in addition to `PATH`: `sudo` or a minimal environment may leave the
/// sbin directories (where debootstrap lives) out of `PATH`.
const EXTRA_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Whether a command is found in `path_var` or the usual system directories, judged by `exists`.
pub(crate) fn find_tool(tool: &str, path_var: &str, exists: &dyn Fn(&Path) -> bool) -> bool {
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .chain(EXTRA_DIRS.iter().copied())
        .any(|dir| exists(&Path::new(dir).join(tool)))
}

/// The full path of a tool found in `PATH` or the usual system directories (the bare name if
/// none), so commands run even when `PATH` lacks the sbin directories the check accepted.
pub(crate) fn resolve(tool: &str) -> PathBuf {
    let path_var = std::env::var("PATH").unwrap_or_default();
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .chain(EXTRA_DIRS.iter().copied())
        .map(|dir| Path::new(dir).join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(tool))
}

/// `PATH` for the commands the lab runs: the caller's, then the system directories, because
/// debootstrap and chroot call sbin tools by name.
pub(crate) fn child_path() -> String {
    let mut path = std::env::var("PATH").unwrap_or_default();
    for dir in EXTRA_DIRS {
        if !path.split(':').any(|d| d == *dir) {
            if !path.is_empty() {
                path.push(':');
            }
            path.push_str(dir);
        }
    }
    path
}

/// The error for the tools `exists` cannot find, or `Ok` when all are there.
pub(crate) fn check_tools(path_var: &str, exists: &dyn Fn(&Path) -> bool) -> Result<(), LabError> {
    let mut missing = Vec::new();
    let mut packages: Vec<String> = Vec::new();
    for (tool, package) in TOOLS {
        if !find_tool(tool, path_var, exists) {
            missing.push(format!("{tool} (package {package})"));
            if !packages.iter().any(|p| p == package) {
                packages.push((*package).to_owned());
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(LabError::MissingTools { missing, packages })
    }
}

/// Root first (nothing else matters without it), then the tools.
pub fn check() -> Result<(), LabError> {
    if !rustix::process::geteuid().is_root() {
        return Err(LabError::NotRoot);
    }
    let path_var = std::env::var("PATH").unwrap_or_default();
    check_tools(&path_var, &|p: &Path| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_present() {
        assert!(check_tools("/usr/bin", &|_| true).is_ok());
    }

    #[test]
    fn names_each_missing_package_once() {
        let present = |p: &Path| {
            !matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some("debootstrap" | "ssh" | "ssh-keygen")
            )
        };
        let err = check_tools("/usr/bin", &present)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            "missing debootstrap (package debootstrap), ssh-keygen (package openssh-client), \
             ssh (package openssh-client): install with `apt-get install debootstrap openssh-client`"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn resolves_to_an_existing_file() {
        let sh = resolve("sh");
        assert!(sh.is_absolute() && sh.is_file(), "{}", sh.display());
        assert_eq!(
            resolve("no-such-tool-here"),
            PathBuf::from("no-such-tool-here")
        );
    }

    #[test]
    fn searches_path_and_sbin() {
        let only = |want: &'static str| move |p: &Path| p == Path::new(want);
        assert!(find_tool("x", "/opt/a:/opt/b", &only("/opt/b/x")));
        assert!(find_tool(
            "debootstrap",
            "/usr/bin",
            &only("/usr/sbin/debootstrap")
        ));
        assert!(!find_tool("x", "", &only("/opt/b/x")));
    }
}
