//! A copy of a stopped member: a `tar` of its data dir (and WAL dir), made only after the same
//! shell has confirmed that systemd has the unit stopped and no process holds its files.

use etcdplay_etcd::datadir::shell_quote;

/// The data dir (and a separate WAL dir) as `tar` members relative to `/`.
fn dirs_of(data_dir: &str, wal_dir: Option<&str>) -> Vec<String> {
    let mut dirs = vec![data_dir.trim_end_matches('/').to_string()];
    if let Some(w) = wal_dir {
        let inside = w.starts_with(&format!("{}/", dirs[0]));
        if w.starts_with('/') && !inside {
            dirs.push(w.trim_end_matches('/').to_string());
        }
    }
    dirs
}

/// The script that copies a stopped member's dirs to `path` (a gzipped tar), refusing with
/// exit 3 and a reason on stderr unless, right before the copy, systemd has `unit` stopped
/// and no process has a file of the dirs open (etcd holds its WAL and backend open while it
/// runs, whatever systemd believes). `stop` first stops a unit that is starting or
/// restarting. Then it lists the archive and prints `entries N`, `wal N` and `sha256 HEX`.
pub(crate) fn copy_script(
    unit: &str,
    stop: bool,
    data_dir: &str,
    wal_dir: Option<&str>,
    path: &str,
) -> String {
    let dirs = dirs_of(data_dir, wal_dir);
    let members: Vec<String> = dirs
        .iter()
        .map(|d| shell_quote(d.trim_start_matches('/')))
        .collect();
    // A process's open files show up under their resolved path, so a dir reached through a
    // symbolic link is matched by its target too (`$dN`, quoted: a literal pattern).
    let resolve: String = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let q = shell_quote(d);
            format!("d{i}=$(readlink -f -- {q} 2>/dev/null) || d{i}={q}\n")
        })
        .collect();
    let holders: Vec<String> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{q}|{q}/*|\"$d{i}\"|\"$d{i}\"/*", q = shell_quote(d)))
        .collect();
    let stop = if stop {
        format!("systemctl stop -- {} || exit 1\n", shell_quote(unit))
    } else {
        String::new()
    };
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
    format!(
        r#"{stop}{resolve}state=$(systemctl is-active -- {unit} 2>/dev/null)
case $state in inactive|failed) ;; *) echo "unit {unit_text} is ${{state:-unknown}}, not stopped" >&2; exit 3;; esac
for fd in /proc/[0-9]*/fd/*; do
  t=$(readlink "$fd" 2>/dev/null) || continue
  case $t in {holders}) p=${{fd#/proc/}}; echo "process ${{p%%/*}} has $t open" >&2; exit 3;; esac
done
umask 077
mkdir -p {dir} || exit 1
f={p}
tar -C / -czf "$f" {members} || exit 1
sync -- "$f" 2>/dev/null || sync
n=$(tar -tzf "$f" | wc -l) || exit 1
w=$(tar -tzf "$f" | grep -c '\.wal$')
h=$(sha256sum < "$f") || exit 1
printf 'entries %s\nwal %s\nsha256 %s\n' "$n" "$w" "${{h%% *}}""#,
        unit = shell_quote(unit),
        unit_text = unit.replace(['"', '$', '`', '\\'], "_"),
        holders = holders.join("|"),
        dir = shell_quote(dir),
        p = shell_quote(path),
        members = members.join(" "),
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use sha2::{Digest, Sha256};

    use super::*;
    use crate::backup::local::hex;
    use crate::backup::verify::parse_copy_verification;
    use crate::backup::Kind;

    /// Runs the copy script locally with a fake `systemctl` reporting `state`.
    fn run_copy(state: &str, data: &Path, out: &Path, hold: bool) -> std::process::Output {
        run_copy_with(state, data, hold.then_some(data), out)
    }

    /// The copy of `data` while a process holds a WAL file opened through `held`.
    fn run_copy_at(state: &str, data: &Path, held: &Path, out: &Path) -> std::process::Output {
        run_copy_with(state, data, Some(held), out)
    }

    fn run_copy_with(
        state: &str,
        data: &Path,
        held: Option<&Path>,
        out: &Path,
    ) -> std::process::Output {
        let bin = tempfile::tempdir().unwrap();
        let fake = bin.path().join("systemctl");
        std::fs::write(
            &fake,
            format!("#!/bin/sh\ncase $1 in is-active) echo {state}; [ {state} = active ];; stop) exit 0;; esac\n"),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}:{}",
            bin.path().display(),
            std::env::var("PATH").unwrap()
        );
        let script = copy_script(
            "etcd.service",
            false,
            data.to_str().unwrap(),
            None,
            out.to_str().unwrap(),
        );
        // A process with a WAL file open, the way a running etcd holds it.
        let holder = held.map(|dir| {
            std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg("exec 3<\"$1\"; exec sleep 30")
                .arg("sh")
                .arg(dir.join("member/wal/0.wal"))
                .spawn()
                .unwrap()
        });
        if holder.is_some() {
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        let result = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .env("PATH", path)
            .output()
            .unwrap();
        if let Some(mut h) = holder {
            let _ = h.kill();
            let _ = h.wait();
        }
        result
    }

    #[test]
    fn a_data_dir_is_copied_only_when_stopped_and_not_held_open() {
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("data");
        std::fs::create_dir_all(data.join("member/wal")).unwrap();
        std::fs::write(data.join("member/wal/0.wal"), b"wal bytes").unwrap();
        let out = scratch.path().join("backups/m1-1.data-dir.tar.gz");

        let refused = run_copy("active", &data, &out, false);
        assert_eq!(refused.status.code(), Some(3));
        assert!(String::from_utf8_lossy(&refused.stderr).contains("is active, not stopped"));
        assert!(!out.exists());

        let held = run_copy("inactive", &data, &out, true);
        assert_eq!(held.status.code(), Some(3), "{held:?}");
        let why = String::from_utf8_lossy(&held.stderr);
        assert!(why.contains("has") && why.contains("0.wal open"), "{why}");
        assert!(!out.exists());

        // The same dir reached through a symbolic link is still seen as held.
        let link = scratch.path().join("link");
        std::os::unix::fs::symlink(&data, &link).unwrap();
        let held = run_copy_at("inactive", &link, &data, &out);
        assert_eq!(held.status.code(), Some(3), "{held:?}");
        assert!(!out.exists());

        let copied = run_copy("inactive", &data, &out, false);
        assert!(copied.status.success(), "{copied:?}");
        let printed = String::from_utf8_lossy(&copied.stdout);
        let (kind, sum) = parse_copy_verification(&printed).unwrap();
        assert!(
            matches!(kind, Kind::DataDirCopy { entries } if entries >= 3),
            "{printed}"
        );
        assert_eq!(sum, hex(&Sha256::digest(std::fs::read(&out).unwrap())));
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
