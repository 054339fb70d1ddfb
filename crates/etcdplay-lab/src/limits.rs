//! Kernel limits a lab of many hosts needs. Every host is a systemd that watches its units and
//! sockets with inotify, all as root, so 30 hosts exhaust the default
//! `fs.inotify.max_user_instances` of 128 and the last ones hang in boot. `up` raises the
//! limits it needs (never lowers them) and says what it changed.

use std::path::Path;

use crate::error::LabError;

/// One sysctl the lab needs, and how much per host.
struct Limit {
    path: &'static str,
    base: u64,
    per_host: u64,
}

const LIMITS: &[Limit] = &[
    Limit {
        path: "/proc/sys/fs/inotify/max_user_instances",
        base: 256,
        per_host: 16,
    },
    Limit {
        path: "/proc/sys/fs/inotify/max_user_watches",
        base: 65_536,
        per_host: 8_192,
    },
];

/// What a lab of `hosts` needs of `current` for one limit: `None` when it is enough.
fn needed(current: u64, base: u64, per_host: u64, hosts: u64) -> Option<u64> {
    let want = base + per_host * hosts;
    (current < want).then_some(want)
}

/// Raises the inotify limits for a lab of `hosts` hosts; returns what was raised
/// (`name: old -> new`).
pub(crate) fn ensure_limits(hosts: u64) -> Result<Vec<String>, LabError> {
    ensure_limits_at(hosts, Path::new("/"))
}

fn ensure_limits_at(hosts: u64, root: &Path) -> Result<Vec<String>, LabError> {
    let mut raised = Vec::new();
    for limit in LIMITS {
        let path = root.join(limit.path.trim_start_matches('/'));
        let Ok(text) = std::fs::read_to_string(&path) else {
            // Not Linux's /proc: nothing to check.
            continue;
        };
        let Ok(current) = text.trim().parse::<u64>() else {
            continue;
        };
        if let Some(want) = needed(current, limit.base, limit.per_host, hosts) {
            std::fs::write(&path, format!("{want}\n")).map_err(|source| LabError::Limit {
                name: sysctl_name(limit.path),
                want,
                source,
            })?;
            raised.push(format!("{}: {current} -> {want}", sysctl_name(limit.path)));
        }
    }
    Ok(raised)
}

/// `fs.inotify.max_user_instances` for `/proc/sys/fs/inotify/max_user_instances`.
fn sysctl_name(path: &str) -> String {
    path.trim_start_matches("/proc/sys/").replace('/', ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_grow_with_the_lab_and_are_never_lowered() {
        assert_eq!(needed(128, 256, 16, 30), Some(736));
        assert_eq!(needed(8192, 256, 16, 100), None);
        let dir = tempfile::tempdir().expect("tempdir");
        let proc_dir = dir.path().join("proc/sys/fs/inotify");
        std::fs::create_dir_all(&proc_dir).expect("mkdir");
        std::fs::write(proc_dir.join("max_user_instances"), "128\n").expect("write");
        std::fs::write(proc_dir.join("max_user_watches"), "1000000\n").expect("write");
        let raised = ensure_limits_at(30, dir.path()).expect("raised");
        assert_eq!(raised, ["fs.inotify.max_user_instances: 128 -> 736"]);
        assert_eq!(
            std::fs::read_to_string(proc_dir.join("max_user_instances")).expect("read"),
            "736\n"
        );
        assert_eq!(
            std::fs::read_to_string(proc_dir.join("max_user_watches")).expect("read"),
            "1000000\n"
        );
    }
}
