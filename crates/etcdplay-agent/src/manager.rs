//! The prefill words that have systemd's manager act through its private socket (`dbus.rs`)
//! instead of a `systemctl` process (~5 ms of the host's CPU each, on a converging host that
//! runs little else): `sd-enable:UNIT` and `sd-disable:UNIT` do what `systemctl --no-reload
//! enable|disable UNIT` does (`EnableUnitFiles`/`DisableUnitFiles`, not at runtime, not
//! forced: the calls systemctl makes), answering `ep_ag_sdunit=done`; `sd-reload:STAMP` does
//! the systemd module's stamped `daemon-reload` (a new stamp `STAMP.new` made, a tick of the
//! file clock waited, `Reload`, then the new stamp renamed over `STAMP`), answering
//! `ep_ag_sdrl=done`. `UNIT` and `STAMP` are in hex.
//!
//! Whatever does not go exactly as systemctl's would (a name systemctl would mangle, a
//! service with a SysV script of its name, for which systemctl also runs
//! `systemd-sysv-install`, no socket, an error reply, a timeout) leaves the act to the
//! script's `systemctl`, which then reports what went wrong in its own words; a failed
//! enable leaves the reload after it to the script too, so the two keep their order.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dbus::{Bus, Reply, Writer};
use crate::prefill::{assign, hex_path, unhex};

/// systemd's private socket.
const PRIVATE_SOCKET: &str = "/run/systemd/private";

/// Where systemctl looks for a SysV script of a service's name: when there is one, its
/// `enable`/`disable` also runs `systemd-sysv-install`, which the manager's calls do not. The
/// same list as `etcdplay-modules`' `unit_memo` (a test there checks that they agree).
pub const SYSV_DIRS: &str = "/etc/init.d /etc/rc.d/init.d";

/// The pause after the new stamp is made, as the script's `sleep 0.02`: file times come from
/// the kernel's coarse clock, and a change the reload may miss must fall in a later tick.
const STAMP_TICK: Duration = Duration::from_millis(20);

/// Unit types a name may end with as systemctl takes it without adding `.service`.
const UNIT_SUFFIXES: [&str; 9] = [
    ".service",
    ".socket",
    ".timer",
    ".path",
    ".target",
    ".mount",
    ".automount",
    ".swap",
    ".slice",
];

/// One request's connection to the manager, made at its first act.
pub(crate) struct Manager {
    socket: PathBuf,
    bus: Option<Bus>,
}

impl Manager {
    /// The manager of this host, at [`PRIVATE_SOCKET`].
    pub(crate) fn of_this_host() -> Manager {
        Manager::at(PathBuf::from(PRIVATE_SOCKET))
    }

    fn at(socket: PathBuf) -> Manager {
        Manager { socket, bus: None }
    }

    fn bus(&mut self) -> Option<&mut Bus> {
        if self.bus.is_none() {
            self.bus = Some(Bus::connect(&self.socket).ok()?);
        }
        self.bus.as_mut()
    }

    /// `sd-enable:UNIT` (`enable`) or `sd-disable:UNIT`; whether it was done.
    pub(crate) fn unit_file_act(&mut self, enable: bool, spec: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(unit) = unit_name(spec).filter(|u| !has_sysv_script(u, SYSV_DIRS)) else {
            return false;
        };
        let mut body = Writer::default();
        body.strings(&[&unit]);
        // Not `--runtime`; for enable, not `--force`.
        body.boolean(false);
        let (member, signature) = if enable {
            body.boolean(false);
            ("EnableUnitFiles", "asbb")
        } else {
            ("DisableUnitFiles", "asb")
        };
        let Some(bus) = self.bus() else {
            return false;
        };
        let done = matches!(
            bus.call_manager(member, signature, &body.buf),
            Ok(Reply::Return(_))
        );
        if done {
            assign(out, "ep_ag_sdunit", b"done");
        }
        done
    }

    /// `sd-reload:STAMP`; whether the reload was done.
    pub(crate) fn stamped_reload(&mut self, spec: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(stamp) = hex_path(spec).filter(|p| p.is_absolute()) else {
            return false;
        };
        let Some(bus) = self.bus() else {
            return false;
        };
        let mut fresh = stamp.clone().into_os_string();
        fresh.push(".new");
        let fresh = PathBuf::from(fresh);
        if touch(&fresh) {
            std::thread::sleep(STAMP_TICK);
        }
        if !matches!(bus.call_manager("Reload", "", &[]), Ok(Reply::Return(_))) {
            // The script reloads itself, and makes the new stamp again first.
            return false;
        }
        if fresh.is_file() {
            let _ = fs::rename(&fresh, &stamp);
        }
        assign(out, "ep_ag_sdrl", b"done");
        true
    }
}

/// Whether a service has a SysV script of its name in one of `dirs` (separated by white
/// space; anything there counts, as for systemctl's look).
fn has_sysv_script(unit: &str, dirs: &str) -> bool {
    let Some(name) = unit.strip_suffix(".service") else {
        return false;
    };
    dirs.split_whitespace()
        .any(|d| fs::symlink_metadata(Path::new(d).join(name)).is_ok())
}

/// The script's `{ [ -d DIR ] || mkdir -p -m 0700 DIR; } && true >NEW`, best effort: whether
/// the new stamp is there.
fn touch(fresh: &Path) -> bool {
    if let Some(dir) = fresh.parent() {
        if !dir.is_dir() {
            let _ = fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
        }
    }
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(fresh)
        .is_ok()
}

/// The unit a word names, as systemctl would name it to the manager: a plain name gets
/// `.service`; anything systemctl would mangle otherwise (a path, a glob, an unknown suffix,
/// odd characters) is `None`.
fn unit_name(spec: &[u8]) -> Option<String> {
    let name = String::from_utf8(unhex(spec)?).ok()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || ":-_.@\\".contains(c);
    if name.is_empty()
        || name.len() > 250
        || name.starts_with(['-', '.'])
        || !name.chars().all(plain)
    {
        return None;
    }
    if !name.contains('.') {
        return Some(format!("{name}.service"));
    }
    UNIT_SUFFIXES
        .iter()
        .any(|s| name.ends_with(s) && name.len() > s.len())
        .then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbus::tests::fake_manager;

    fn hex(s: &str) -> Vec<u8> {
        s.bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into_bytes()
    }

    /// A service with a SysV script of its name is left to systemctl, which also runs
    /// `systemd-sysv-install` for it.
    #[test]
    fn a_service_with_a_sysv_script_is_left_to_systemctl() {
        let dir = tempfile::tempdir().unwrap();
        let init_d = dir.path().join("init.d");
        fs::create_dir(&init_d).unwrap();
        fs::write(init_d.join("cron"), "#!/bin/sh\n").unwrap();
        let dirs = format!("{} /nonexistent", init_d.display());
        assert!(has_sysv_script("cron.service", &dirs));
        assert!(!has_sysv_script("app.service", &dirs));
        assert!(!has_sysv_script("cron.timer", &dirs));
    }

    #[test]
    fn names_are_taken_as_systemctl_takes_them() {
        let name = |s: &str| unit_name(&hex(s));
        assert_eq!(name("fleet-dummy").as_deref(), Some("fleet-dummy.service"));
        assert_eq!(name("etcd.service").as_deref(), Some("etcd.service"));
        assert_eq!(
            name("getty@tty1.service").as_deref(),
            Some("getty@tty1.service")
        );
        assert_eq!(name("backup.timer").as_deref(), Some("backup.timer"));
        for odd in [
            "foo.bar",
            "/etc/x.service",
            "a*",
            "-x",
            ".service",
            "",
            "a b",
        ] {
            assert_eq!(name(odd), None, "{odd}");
        }
    }

    /// Each act makes the call systemctl makes and answers only when the manager said yes;
    /// the reload leaves the stamp where the script would.
    #[test]
    fn acts_answer_only_what_the_manager_did() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("private");
        let calls = fake_manager(&socket, |member| {
            (member == "DisableUnitFiles").then_some("org.freedesktop.DBus.Error.Failed")
        });
        let mut manager = Manager::at(socket);
        let mut out = Vec::new();
        assert!(manager.unit_file_act(true, &hex("app"), &mut out));
        assert_eq!(out, b"ep_ag_sdunit='done'\n");
        let stamp = dir.path().join("run/etcdplay/daemon-reload.stamp");
        out.clear();
        assert!(manager.stamped_reload(&hex(stamp.to_str().unwrap()), &mut out));
        assert_eq!(out, b"ep_ag_sdrl='done'\n");
        assert!(stamp.is_file());
        assert!(!dir
            .path()
            .join("run/etcdplay/daemon-reload.stamp.new")
            .exists());
        out.clear();
        assert!(!manager.unit_file_act(false, &hex("app"), &mut out));
        assert!(out.is_empty());
        let calls = calls.lock().unwrap();
        let members: Vec<&str> = calls.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(members, ["EnableUnitFiles", "Reload", "DisableUnitFiles"]);
        // `as` with app.service, then runtime=false, force=false.
        let mut body = Writer::default();
        body.strings(&["app.service"]);
        body.boolean(false);
        body.boolean(false);
        assert_eq!(calls[0].1, body.buf);
        drop(calls);
        // No manager to ask: nothing done, nothing answered.
        let mut manager = Manager::at(dir.path().join("absent"));
        assert!(!manager.stamped_reload(&hex(stamp.to_str().unwrap()), &mut out));
        assert!(out.is_empty());
    }
}
