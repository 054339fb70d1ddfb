//! A cgroup of its own for each host's container. Without systemd on the machine, nspawn
//! puts the container's payload in `<its own cgroup>/payload`; started from one process, every
//! container then shares that one directory, and their systemd instances manage the same
//! `system.slice/etcd.service`: stopping etcd on one host failed to kill "its" control group
//! (EIO on the other containers' processes) and the next start failed with 219/CGROUP. Each
//! container is therefore started inside `<caller's cgroup>/etcdplay-lab-<host>` of the two
//! hierarchies the container's systemd writes to (the named `systemd` v1 hierarchy and the
//! unified cgroup2 one), found in `/proc/self/mountinfo` and `/proc/self/cgroup`.

use std::path::{Path, PathBuf};

/// The hierarchies systemd in a container writes to, as (mount point, our cgroup in it).
fn writable_hierarchies(mountinfo: &str, own: &str) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = before.split(' ').nth(4) else {
            continue;
        };
        let mut fields = after.split(' ');
        let fstype = fields.next().unwrap_or_default();
        let super_options = fields.nth(1).unwrap_or_default();
        let key = match fstype {
            "cgroup2" => "",
            "cgroup" if super_options.split(',').any(|o| o == "name=systemd") => "name=systemd",
            _ => continue,
        };
        if let Some(path) = own_cgroup(own, key) {
            found.push((PathBuf::from(mount_point), path));
        }
    }
    found
}

/// Our cgroup path in the hierarchy named `key` (`""` for cgroup2) of `/proc/self/cgroup`.
fn own_cgroup(proc_self_cgroup: &str, key: &str) -> Option<String> {
    proc_self_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let _id = parts.next()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        (controllers == key).then(|| path.to_string())
    })
}

/// The cgroup directories host `name`'s container is started in (none where the machine has
/// no cgroup hierarchy we can read).
pub(crate) fn host_cgroups(name: &str) -> Vec<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    writable_hierarchies(&mountinfo, &own)
        .into_iter()
        .map(|(mount, path)| {
            mount
                .join(path.trim_start_matches('/'))
                .join(format!("etcdplay-lab-{name}"))
        })
        .collect()
}

/// Creates the host's cgroups; the ones that cannot be made are left out (the container then
/// shares its parent's, as before).
pub(crate) fn create(dirs: &[PathBuf]) -> Vec<PathBuf> {
    dirs.iter()
        .filter(|d| std::fs::create_dir_all(d).is_ok())
        .cloned()
        .collect()
}

/// The `sh -c` script that moves itself into each cgroup given before `--` and then executes
/// the rest: children inherit the cgroup at fork, so nspawn and its container start inside it.
pub(crate) const ENTER_AND_EXEC: &str = "while [ \"$1\" != -- ]; do echo $$ > \"$1/cgroup.procs\" \
|| echo \"etcdplay lab: could not enter cgroup $1\" >&2; shift; done; shift; exec \"$@\"";

/// Removes the host's cgroups once its container is gone, deepest first (a cgroup directory is
/// removed with rmdir, and only when it has no processes and no children).
pub(crate) fn remove(dirs: &[PathBuf]) {
    for dir in dirs {
        remove_tree(dir, 0);
    }
}

fn remove_tree(dir: &Path, depth: usize) {
    // The container's systemd nests a few levels (payload/system.slice/x.service/...).
    if depth > 16 {
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path(), depth + 1);
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    // This machine kind's layout: hybrid (named systemd v1 + unified cgroup2), and the
    // pure cgroup2 layout of a current distribution.
    const HYBRID: &str = "\
30 24 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
39 30 0:35 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_SELF: &str = "9:name=systemd:/\n1:cpu:/\n0::/\n";

    #[test]
    fn a_hybrid_machine_gets_the_named_and_the_unified_hierarchy() {
        let found = writable_hierarchies(HYBRID, HYBRID_SELF);
        assert_eq!(
            found,
            vec![
                (PathBuf::from("/sys/fs/cgroup/systemd"), "/".to_string()),
                (PathBuf::from("/sys/fs/cgroup/unified"), "/".to_string()),
            ]
        );
    }

    #[test]
    fn a_pure_cgroup2_machine_nests_under_our_own_cgroup() {
        let mountinfo = "35 24 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let own = "0::/system.slice/ci.service\n";
        assert_eq!(
            writable_hierarchies(mountinfo, own),
            vec![(
                PathBuf::from("/sys/fs/cgroup"),
                "/system.slice/ci.service".to_string()
            )]
        );
    }

    #[test]
    fn controllers_other_than_the_named_systemd_one_are_left_alone() {
        let mountinfo = "31 30 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert!(writable_hierarchies(mountinfo, "4:memory:/x\n").is_empty());
    }
}
