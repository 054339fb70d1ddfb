//! The base image: a Debian bookworm root built once with debootstrap and shared read-only by all
//! hosts through overlays. It is built in a temporary directory and renamed into place only when
//! complete, so an interrupted build is never mistaken for a finished one.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cmd::{output, run, tail};
use crate::config::LabConfig;
use crate::error::LabError;
use crate::event::{LabEvent, Progress};

/// Packages on top of minbase: a booting systemd, sshd, and what playbooks expect on a host.
pub const PACKAGES: &str =
    "systemd,systemd-sysv,dbus,openssh-server,iproute2,python3,sudo,procps,ca-certificates";

/// The non-root login with passwordless sudo, for playbooks that use `become`.
pub const DEPLOY_USER: &str = "deploy";

/// Prefix of in-progress builds; anything with it is an interrupted build and is removed.
const TMP_PREFIX: &str = "base.tmp-";

/// Returns the base image, building it first if missing, and makes its authorized keys match
/// the lab key (the key may have been regenerated since the base was built).
pub(crate) async fn ensure_base(
    config: &LabConfig,
    public_key: &str,
    mirror: impl FnOnce() -> Result<String, LabError>,
    progress: &Progress,
) -> Result<PathBuf, LabError> {
    let base = config.base_dir();
    if !base.is_dir() {
        let mirror = mirror()?;
        progress(&LabEvent::BuildingBase {
            mirror: mirror.clone(),
        });
        let started = Instant::now();
        build(config, &mirror, public_key).await?;
        progress(&LabEvent::BaseBuilt {
            took: started.elapsed(),
        });
    }
    install_keys(&base, public_key)?;
    check_base(&base)?;
    Ok(base)
}

/// Runs debootstrap into a fresh temporary directory, customizes it, and renames it into place.
async fn build(config: &LabConfig, mirror: &str, public_key: &str) -> Result<(), LabError> {
    let state = &config.state_dir;
    std::fs::create_dir_all(state).map_err(LabError::io(state))?;
    remove_interrupted_builds(state)?;
    let tmp = state.join(format!("{TMP_PREFIX}{}", std::process::id()));
    let include = format!("--include={PACKAGES}");
    let tmp_arg = tmp.to_string_lossy().into_owned();
    let (shown, out) = output(
        "debootstrap",
        [
            "--variant=minbase",
            include.as_str(),
            "bookworm",
            tmp_arg.as_str(),
            mirror,
        ],
    )
    .await?;
    let log = state.join("debootstrap.log");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    std::fs::write(&log, &text).map_err(LabError::io(&log))?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: shown,
            status: out.status.to_string(),
            stderr: format!("{} (full log: {})", tail(&text, 8), log.display()),
        });
    }
    customize(&tmp, public_key).await?;
    let base = config.base_dir();
    std::fs::rename(&tmp, &base).map_err(LabError::io(&base))?;
    Ok(())
}

/// Adds what every host needs beyond the packages: keys, the deploy user, sshd enabled, and no
/// machine identity of its own (each host gets one in its overlay).
async fn customize(root: &Path, public_key: &str) -> Result<(), LabError> {
    let root_arg = root.to_string_lossy().into_owned();
    let (_, exists) = output("chroot", [root_arg.as_str(), "id", "-u", DEPLOY_USER]).await?;
    if !exists.status.success() {
        run(
            "chroot",
            [
                root_arg.as_str(),
                "useradd",
                "--create-home",
                "--shell",
                "/bin/bash",
                DEPLOY_USER,
            ],
        )
        .await?;
    }
    let sudoers = root.join("etc/sudoers.d").join(DEPLOY_USER);
    write_file(
        &sudoers,
        &format!("{DEPLOY_USER} ALL=(ALL) NOPASSWD:ALL\n"),
        0o440,
    )?;
    install_keys(root, public_key)?;
    run(
        "chroot",
        [
            root_arg.as_str(),
            "chown",
            "-R",
            &format!("{DEPLOY_USER}:{DEPLOY_USER}"),
            &format!("/home/{DEPLOY_USER}/.ssh"),
        ],
    )
    .await?;
    run(
        "chroot",
        [root_arg.as_str(), "systemctl", "enable", "ssh.service"],
    )
    .await?;
    // debootstrap leaves one machine-id that every host would share; an empty file makes each
    // host without its own id generate one at boot (the lab writes one per host anyway).
    write_file(&root.join("etc/machine-id"), "", 0o444)?;
    let archives = root.join("var/cache/apt/archives");
    if let Ok(entries) = std::fs::read_dir(&archives) {
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|e| e == "deb") {
                std::fs::remove_file(entry.path()).map_err(LabError::io(entry.path()))?;
            }
        }
    }
    Ok(())
}

/// Writes the lab key into root's and deploy's `authorized_keys` when it differs.
fn install_keys(root: &Path, public_key: &str) -> Result<(), LabError> {
    let wanted = format!("{public_key}\n");
    for home in [
        PathBuf::from("root"),
        PathBuf::from("home").join(DEPLOY_USER),
    ] {
        let dir = root.join(&home).join(".ssh");
        let file = dir.join("authorized_keys");
        if std::fs::read_to_string(&file).is_ok_and(|t| t == wanted) {
            continue;
        }
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(LabError::io(&dir))?;
            // A fresh directory under deploy's home must belong to deploy, or sshd refuses it.
            if home != Path::new("root") {
                copy_owner(&root.join(&home), &dir)?;
            }
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(LabError::io(&dir))?;
        write_file(&file, &wanted, 0o600)?;
        copy_owner(&dir, &file)?;
    }
    Ok(())
}

/// Gives `to` the owner of `from` (deploy's files are created by root here).
fn copy_owner(from: &Path, to: &Path) -> Result<(), LabError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(from).map_err(LabError::io(from))?;
    std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid())).map_err(LabError::io(to))
}

/// The base must boot systemd, run sshd and must not bring its own etcd.
fn check_base(base: &Path) -> Result<(), LabError> {
    let bad = |reason: &str| {
        Err(LabError::BadBase {
            path: base.to_path_buf(),
            reason: reason.to_owned(),
        })
    };
    if !base.join("lib/systemd/systemd").exists() {
        return bad("no lib/systemd/systemd: not a systemd root (remove it to rebuild)");
    }
    if !base
        .join("etc/systemd/system/multi-user.target.wants/ssh.service")
        .exists()
    {
        return bad("ssh.service is not enabled (remove it to rebuild)");
    }
    for etcd in [
        "usr/bin/etcd",
        "lib/systemd/system/etcd.service",
        "etc/systemd/system/etcd.service",
    ] {
        if base.join(etcd).exists() {
            return bad(&format!(
                "contains {etcd}: hosts must start without etcd (remove it to rebuild)"
            ));
        }
    }
    Ok(())
}

/// Removes leftovers of interrupted builds, unless something is still mounted inside them
/// (debootstrap mounts /proc and /sys in its target; deleting through a mount would be fatal).
fn remove_interrupted_builds(state: &Path) -> Result<(), LabError> {
    let entries = std::fs::read_dir(state).map_err(LabError::io(state))?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            continue;
        }
        let path = entry.path();
        if let Some(mount) = mounted_under(&mounts, &path) {
            return Err(LabError::Command {
                command: format!("remove interrupted build {}", path.display()),
                status: "refused".into(),
                stderr: format!("{mount} is still mounted inside it; unmount it first"),
            });
        }
        std::fs::remove_dir_all(&path).map_err(LabError::io(&path))?;
    }
    Ok(())
}

/// The first mount point at or below `dir` in a `/proc/self/mountinfo` text.
pub(crate) fn mounted_under(mountinfo: &str, dir: &Path) -> Option<String> {
    mountinfo
        .lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .find(|mount| Path::new(mount).starts_with(dir))
        .map(str::to_owned)
}

/// Writes a file with the given mode, creating its directory.
fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), LabError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(LabError::io(dir))?;
    }
    std::fs::write(path, text).map_err(LabError::io(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(LabError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mounts_below_a_dir() {
        let info = "22 1 8:1 / / rw - ext4 /dev/vda rw\n\
                    40 22 0:5 / /var/lib/etcdplay-lab/base.tmp-7/proc rw - proc proc rw\n";
        assert_eq!(
            mounted_under(info, Path::new("/var/lib/etcdplay-lab/base.tmp-7")).as_deref(),
            Some("/var/lib/etcdplay-lab/base.tmp-7/proc")
        );
        assert_eq!(
            mounted_under(info, Path::new("/var/lib/etcdplay-lab/base.tmp-70")),
            None
        );
        assert_eq!(
            mounted_under(info, Path::new("/var/lib/etcdplay-lab/base")),
            None
        );
    }

    #[test]
    fn interrupted_builds_are_removed_finished_base_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path();
        for d in ["base.tmp-123/usr/bin", "base/usr/bin", "hosts/lab1/upper"] {
            std::fs::create_dir_all(state.join(d)).expect("mkdir");
        }
        remove_interrupted_builds(state).expect("cleanup");
        assert!(!state.join("base.tmp-123").exists());
        assert!(state.join("base/usr/bin").is_dir() && state.join("hosts/lab1/upper").is_dir());
    }

    #[test]
    fn keys_written_for_root_and_deploy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("home/deploy")).expect("mkdir");
        install_keys(root, "ssh-ed25519 AAAA lab").expect("install");
        for file in [
            "root/.ssh/authorized_keys",
            "home/deploy/.ssh/authorized_keys",
        ] {
            let path = root.join(file);
            assert_eq!(
                std::fs::read_to_string(&path).expect("read"),
                "ssh-ed25519 AAAA lab\n"
            );
            assert_eq!(
                std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
                0o600
            );
        }
        install_keys(root, "ssh-ed25519 BBBB lab").expect("replace");
        assert_eq!(
            std::fs::read_to_string(root.join("root/.ssh/authorized_keys")).expect("read"),
            "ssh-ed25519 BBBB lab\n"
        );
    }

    #[test]
    fn base_without_systemd_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = check_base(dir.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("not a systemd root"), "{err}");
    }
}
