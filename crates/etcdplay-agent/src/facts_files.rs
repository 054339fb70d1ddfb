//! The facts sections that only read files, printed as the facts script of `etcdplay-modules`
//! prints them with the shell (its `file_sections!` block): the script's `dash` reads a file
//! one byte per system call, some four thousand of them per run, which the agent does in a
//! few dozen. Each section mirrors the shell text it replaces, including its quirks (a
//! missing last newline added, NUL bytes dropped, `|| echo` for a file that cannot be read);
//! where the shell would fall back to a command (`uname`), the agent gives up and the script
//! runs the shell text instead. A test in `etcdplay-modules` compares the two on the machine
//! it runs on.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fs::{access, Access};

/// The DMI files the script reads, in its order.
const DMI: [&str; 18] = [
    "bios_date",
    "bios_vendor",
    "bios_version",
    "board_asset_tag",
    "board_name",
    "board_serial",
    "board_vendor",
    "board_version",
    "chassis_asset_tag",
    "chassis_serial",
    "chassis_type",
    "chassis_vendor",
    "chassis_version",
    "product_name",
    "product_serial",
    "product_uuid",
    "product_version",
    "sys_vendor",
];

/// Every section of the block, or `None` where the shell would run a command.
pub(crate) fn sections() -> Option<Vec<u8>> {
    let mut out = Vec::new();
    section(&mut out, "hostname");
    out.extend(r("/proc/sys/kernel/hostname")?);
    section(&mut out, "uname");
    for file in ["ostype", "osrelease", "arch", "version"] {
        out.extend(r(&format!("/proc/sys/kernel/{file}"))?);
    }
    section(&mut out, "os_release");
    out.extend(
        r("/etc/os-release")
            .or_else(|| r("/usr/lib/os-release"))
            .unwrap_or_default(),
    );
    section(&mut out, "debian_version");
    out.extend(r("/etc/debian_version").unwrap_or_default());
    section(&mut out, "meminfo");
    meminfo(&mut out);
    section(&mut out, "pid1");
    out.extend(r("/proc/1/comm").unwrap_or_default());
    section(&mut out, "machine_id");
    out.extend(r("/etc/machine-id").unwrap_or_default());
    section(&mut out, "uptime");
    if let Some(line) = complete_lines("/proc/uptime").first() {
        if let Some(up) = fields(line).next() {
            out.extend_from_slice(up);
            out.push(b'\n');
        }
    }
    for (name, file) in [
        ("loadavg", "/proc/loadavg"),
        ("cmdline", "/proc/cmdline"),
        ("fips", "/proc/sys/crypto/fips_enabled"),
        ("resolv", "/etc/resolv.conf"),
    ] {
        section(&mut out, name);
        out.extend(r(file).unwrap_or_default());
    }
    section(&mut out, "security");
    if is_dir("/sys/fs/selinux") {
        out.extend_from_slice(b"selinux ");
        out.extend(r("/sys/fs/selinux/enforce").unwrap_or_else(|| b"\n".to_vec()));
    }
    if is_dir("/sys/kernel/security/apparmor") {
        out.extend_from_slice(b"apparmor\n");
    }
    section(&mut out, "container");
    out.extend(r("/run/systemd/container").unwrap_or_else(|| b"\n".to_vec()));
    if exists("/.dockerenv") || exists("/.dockerinit") {
        out.extend_from_slice(b"dockerenv\n");
    }
    if exists("/run/.containerenv") {
        out.extend_from_slice(b"containerenv\n");
    }
    out.extend(r("/proc/1/cgroup").unwrap_or_default());
    section(&mut out, "modules");
    if readable("/proc/modules") {
        for line in complete_lines("/proc/modules") {
            if let Some(m) = fields(&line).next() {
                if [&b"kvm"[..], b"vboxdrv", b"virtio"].contains(&m) {
                    out.extend_from_slice(m);
                    out.push(b'\n');
                }
            }
        }
    }
    section(&mut out, "kvm");
    if exists("/dev/kvm") {
        out.extend_from_slice(b"yes\n");
    }
    section(&mut out, "dmi");
    for f in DMI {
        out.extend_from_slice(format!("{f}=").as_bytes());
        out.extend(
            r(&format!("/sys/devices/virtual/dmi/id/{f}")).unwrap_or_else(|| b"\n".to_vec()),
        );
    }
    section(&mut out, "ssh_host_keys");
    for t in ["rsa", "ecdsa", "ed25519"] {
        let file = format!("/etc/ssh/ssh_host_{t}_key.pub");
        if readable(&file) {
            out.extend_from_slice(format!("{t} ").as_bytes());
            out.extend(r(&file).unwrap_or_default());
        }
    }
    section(&mut out, "chroot");
    if readable("/proc/1/root/.") {
        let same = match (fs::metadata("/"), fs::metadata("/proc/1/root/.")) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        out.extend_from_slice(if same { b"no\n" } else { b"yes\n" });
    }
    Some(out)
}

/// The real uid and gid and the usable CPUs, as the script's `read -r k v _` loop over
/// `/proc/self/status` takes them (up to the CPUs line).
pub(crate) fn ids() -> (String, String, String) {
    let (mut uid, mut gid, mut cpus) = (String::new(), String::new(), String::new());
    for line in complete_lines("/proc/self/status") {
        let mut f = fields(&line);
        let (Some(key), value) = (f.next(), f.next().unwrap_or_default()) else {
            continue;
        };
        let value = String::from_utf8_lossy(value).into_owned();
        match key {
            b"Uid:" => uid = value,
            b"Gid:" => gid = value,
            b"Cpus_allowed_list:" => {
                cpus = value;
                break;
            }
            _ => {}
        }
    }
    (uid, gid, cpus)
}

/// The script's `s NAME`.
fn section(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(format!("\n@@etcdplay:{name}\n").as_bytes());
}

/// The script's `r FILE`: every line with a newline (a missing last one added), NUL bytes
/// dropped as `dash`'s `read` drops them; `None` when the file cannot be read.
fn r(path: &str) -> Option<Vec<u8>> {
    let mut bytes = fs::read(path).ok()?;
    bytes.retain(|&b| b != 0);
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    Some(bytes)
}

/// The lines a `while read` loop without `|| [ -n ]` sees: complete ones, NULs dropped.
fn complete_lines(path: &str) -> Vec<Vec<u8>> {
    let mut bytes = fs::read(path).unwrap_or_default();
    bytes.retain(|&b| b != 0);
    bytes
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.ends_with(b"\n"))
        .map(|l| l[..l.len() - 1].to_vec())
        .collect()
}

/// Fields as `read` splits them with the default `IFS` (blanks; the line has no newline).
fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ' || b == b'\t')
        .filter(|f| !f.is_empty())
}

/// `read -r k v`: the first field and the rest without the blanks around it.
fn key_and_rest(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = line.iter().position(|b| !blank(b))?;
    let line = &line[start..];
    let end = line.iter().position(blank).unwrap_or(line.len());
    let rest = &line[end..];
    let rest_start = rest.iter().position(|b| !blank(b)).unwrap_or(rest.len());
    let rest = &rest[rest_start..];
    let rest_end = rest.iter().rposition(|b| !blank(b)).map_or(0, |i| i + 1);
    Some((&line[..end], &rest[..rest_end]))
}

/// The script's `meminfo` loop: seven keys, up to `SwapFree`, as `echo "$k $v"`.
fn meminfo(out: &mut Vec<u8>) {
    const KEYS: [&[u8]; 6] = [
        b"MemTotal:",
        b"MemFree:",
        b"Buffers:",
        b"Cached:",
        b"SwapTotal:",
        b"SwapCached:",
    ];
    for line in complete_lines("/proc/meminfo") {
        let Some((k, v)) = key_and_rest(&line) else {
            continue;
        };
        let last = k == b"SwapFree:";
        if last || KEYS.contains(&k) {
            out.extend_from_slice(k);
            out.push(b' ');
            out.extend_from_slice(v);
            out.push(b'\n');
        }
        if last {
            break;
        }
    }
}

fn is_dir(path: &str) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_dir())
}

fn exists(path: &str) -> bool {
    fs::metadata(path).is_ok()
}

/// `[ -r PATH ]`.
fn readable(path: &str) -> bool {
    access(Path::new(path), Access::READ_OK).is_ok()
}
