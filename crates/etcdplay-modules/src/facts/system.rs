//! The facts roles test beyond the basics, built from files the gathering script reads with
//! shell builtins (no process each): processors and memory (`/proc/cpuinfo`, `/proc/meminfo`),
//! virtualization (Ansible's Linux checks: `/proc/1/cgroup`, `/run/systemd/container`,
//! `/.dockerenv`, DMI product and vendor names, `/proc/modules`, `/dev/kvm`), DMI hardware
//! names, `dns` from `resolv.conf`, `lsb`, SELinux and AppArmor status, the kernel command
//! line, load average, FIPS mode, SSH host keys, user ids and whether the host is a chroot.
//! Names and shapes are ansible-core 2.19's.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

type Sections = BTreeMap<String, Vec<u8>>;

fn text(s: &Sections, k: &str) -> String {
    String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default())
        .trim()
        .to_string()
}

/// `KEY=value` lines of a section (the DMI loop writes `name=value`).
fn pairs(s: &Sections, k: &str) -> BTreeMap<String, String> {
    text(s, k)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

/// Adds every fact of this module to `f` (keys prefixed `ansible_`).
pub(super) fn add_system_facts(f: &mut Map<String, Value>, s: &Sections) {
    let mut put = |k: &str, v: Value| {
        f.insert(format!("ansible_{k}"), v);
    };
    for (k, v) in processor_facts(&text(s, "cpuinfo")) {
        put(&k, v);
    }
    put("memory_mb", memory_mb(&text(s, "meminfo")));
    let dmi = pairs(s, "dmi");
    for (name, fact) in DMI_FACTS {
        let value = dmi.get(*name).filter(|v| !v.is_empty());
        put(fact, value.cloned().unwrap_or_else(|| "NA".into()).into());
    }
    put(
        "form_factor",
        dmi.get("chassis_type")
            .and_then(|t| t.parse::<usize>().ok())
            .and_then(|t| FORM_FACTORS.get(t))
            .copied()
            .unwrap_or("NA")
            .into(),
    );
    let virt = virtualization(s, &dmi);
    put("virtualization_type", virt.kind.into());
    put("virtualization_role", virt.role.into());
    put("virtualization_tech_guest", strings(virt.guest));
    put("virtualization_tech_host", strings(virt.host));
    put("dns", dns(&text(s, "resolv")));
    put("lsb", lsb(&text(s, "lsb"), &text(s, "os_release")));
    let security = text(s, "security");
    put("selinux", selinux(&security));
    let apparmor = if security.lines().any(|l| l == "apparmor") {
        "enabled"
    } else {
        "disabled"
    };
    put("apparmor", serde_json::json!({ "status": apparmor }));
    let cmdline = text(s, "cmdline");
    put("cmdline", kernel_cmdline(&cmdline, false));
    put("proc_cmdline", kernel_cmdline(&cmdline, true));
    put("loadavg", loadavg(&text(s, "loadavg")));
    put("fips", (text(s, "fips") == "1").into());
    for line in text(s, "ssh_host_keys").lines() {
        let mut words = line.split_whitespace();
        if let (Some(kind), Some(keytype), Some(key)) = (words.next(), words.next(), words.next()) {
            put(&format!("ssh_host_key_{kind}_public"), key.into());
            put(
                &format!("ssh_host_key_{kind}_public_keytype"),
                keytype.into(),
            );
        }
    }
    if let Some(chroot) = match text(s, "chroot").as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    } {
        put("is_chroot", chroot.into());
    }
    put("gather_subset", serde_json::json!(["all"]));
    put("module_setup", true.into());
}

/// The DMI files read and the facts they give.
const DMI_FACTS: &[(&str, &str)] = &[
    ("bios_date", "bios_date"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("sys_vendor", "system_vendor"),
];

/// SMBIOS chassis types by number, as Ansible names them.
const FORM_FACTORS: &[&str] = &[
    "Unknown",
    "Other",
    "Unknown",
    "Desktop",
    "Low Profile Desktop",
    "Pizza Box",
    "Mini Tower",
    "Tower",
    "Portable",
    "Laptop",
    "Notebook",
    "Hand Held",
    "Docking Station",
    "All In One",
    "Sub Notebook",
    "Space-saving",
    "Lunch Box",
    "Main Server Chassis",
    "Expansion Chassis",
    "Sub Chassis",
    "Bus Expansion Chassis",
    "Peripheral Chassis",
    "RAID Chassis",
    "Rack Mount Chassis",
    "Sealed-case PC",
    "Multi-system",
    "CompactPCI",
    "AdvancedTCA",
    "Blade",
    "Blade Enclosure",
    "Tablet",
    "Convertible",
    "Detachable",
    "IoT Gateway",
    "Embedded PC",
    "Mini PC",
    "Stick PC",
];

fn strings(items: Vec<String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// `processor` (index, vendor, model per logical CPU), `processor_count` (sockets),
/// `processor_cores` (per socket), `processor_threads_per_core`, from the `cpuinfo` lines the
/// script keeps; `processor_vcpus` is set by the caller.
fn processor_facts(cpuinfo: &str) -> Vec<(String, Value)> {
    let mut processor = Vec::new();
    let mut sockets = std::collections::BTreeSet::new();
    let (mut cores, mut siblings) = (None, None);
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        match key.trim() {
            "processor" | "vendor_id" | "model name" => processor.push(Value::String(value)),
            "physical id" => {
                sockets.insert(value);
            }
            "cpu cores" => cores = cores.or_else(|| value.parse::<u64>().ok()),
            "siblings" => siblings = siblings.or_else(|| value.parse::<u64>().ok()),
            _ => {}
        }
    }
    let count = sockets.len().max(1) as u64;
    let cores = cores.unwrap_or(1);
    let threads = siblings.map_or(1, |s| (s / cores.max(1)).max(1));
    vec![
        ("processor".into(), Value::Array(processor)),
        ("processor_count".into(), count.into()),
        ("processor_cores".into(), cores.into()),
        ("processor_threads_per_core".into(), threads.into()),
    ]
}

/// Ansible's `memory_mb`: real, nocache (free counting buffers and cache) and swap, in MiB
/// rounded down.
fn memory_mb(meminfo: &str) -> Value {
    let kb: BTreeMap<&str, u64> = meminfo
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim(), v.split_whitespace().next()?.parse().ok()?))
        })
        .collect();
    let mb = |k: &str| kb.get(k).copied().unwrap_or(0) / 1024;
    let (total, free) = (mb("MemTotal"), mb("MemFree"));
    let nocache_free = free + mb("Buffers") + mb("Cached");
    let (swap_total, swap_free) = (mb("SwapTotal"), mb("SwapFree"));
    serde_json::json!({
        "real": {"total": total, "free": free, "used": total.saturating_sub(free)},
        "nocache": {"free": nocache_free, "used": total.saturating_sub(nocache_free)},
        "swap": {
            "total": swap_total,
            "free": swap_free,
            "used": swap_total.saturating_sub(swap_free),
            "cached": mb("SwapCached"),
        },
    })
}

struct Virtualization {
    kind: String,
    role: String,
    guest: Vec<String>,
    host: Vec<String>,
}

/// Ansible's Linux virtualization checks, in its order: the first technology found sets
/// `virtualization_type` and `_role`, every one found is listed in `_tech_guest`/`_tech_host`.
fn virtualization(s: &Sections, dmi: &BTreeMap<String, String>) -> Virtualization {
    let mut found: Option<(String, &str)> = None;
    let mut guest: Vec<String> = Vec::new();
    let mut host: Vec<String> = Vec::new();
    let mut saw = |tech: &str, role: &'static str, list: &mut Vec<String>| {
        if !list.iter().any(|t| t == tech) {
            list.push(tech.to_string());
        }
        found.get_or_insert((tech.to_string(), role));
    };
    // The section: `/run/systemd/container` (or an empty line), the `dockerenv` and
    // `containerenv` marks, then `/proc/1/cgroup`.
    let container =
        String::from_utf8_lossy(s.get("container").map(Vec::as_slice).unwrap_or_default())
            .to_string();
    let mut lines = container.lines().skip_while(|l| l.is_empty());
    let first = container
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let systemd_container = if first.contains(':') || first.ends_with("env") {
        String::new()
    } else {
        lines.next();
        first.trim().to_string()
    };
    let rest: Vec<&str> = lines.collect();
    for line in &rest {
        if line.contains("/docker/") || (line.contains("/docker-") && line.ends_with(".scope")) {
            saw("docker", "guest", &mut guest);
        }
        if line.contains("/lxc/") || line.contains("/machine.slice/machine-lxc") {
            saw("lxc", "guest", &mut guest);
        }
        if line.contains("/system.slice/containerd.service") {
            saw("containerd", "guest", &mut guest);
        }
    }
    if !systemd_container.is_empty() {
        saw(&systemd_container, "guest", &mut guest);
    }
    if rest.contains(&"dockerenv") {
        saw("docker", "guest", &mut guest);
    }
    if rest.contains(&"containerenv") {
        saw("podman", "guest", &mut guest);
    }
    let containers = ["docker", "lxc", "podman", "openvz", "containerd"];
    if (guest.iter().any(|t| containers.contains(&t.as_str())) || !systemd_container.is_empty())
        && !guest.iter().any(|t| t == "container")
    {
        guest.push("container".into());
    }
    let get = |k: &str| dmi.get(k).map(String::as_str).unwrap_or("");
    let (product, vendor, bios) = (get("product_name"), get("sys_vendor"), get("bios_vendor"));
    let hardware: &[(bool, &str)] = &[
        (
            matches!(
                product,
                "KVM" | "KVM Server" | "Bochs" | "AHV" | "CloudStack KVM Hypervisor"
            ),
            "kvm",
        ),
        (vendor == "oVirt", "oVirt"),
        (product.starts_with("VMware"), "VMware"),
        (
            matches!(product, "OpenStack Compute" | "OpenStack Nova"),
            "openstack",
        ),
        (bios == "Xen", "xen"),
        (bios == "innotek GmbH", "virtualbox"),
        (
            matches!(bios, "Amazon EC2" | "DigitalOcean" | "Hetzner" | "Linode"),
            "kvm",
        ),
        (
            matches!(
                vendor,
                "QEMU" | "Amazon EC2" | "DigitalOcean" | "Google" | "Scaleway" | "Nutanix"
            ),
            "kvm",
        ),
        (vendor == "KubeVirt", "KubeVirt"),
        (vendor == "Microsoft Corporation", "VirtualPC"),
        (
            vendor == "Parallels Software International Inc.",
            "parallels",
        ),
        (vendor == "OpenStack Foundation", "openstack"),
    ];
    for (matched, tech) in hardware {
        if *matched {
            saw(tech, "guest", &mut guest);
        }
    }
    let modules = text(s, "modules");
    let module = |m: &str| modules.lines().any(|l| l == m);
    if module("kvm") || text(s, "kvm") == "yes" {
        saw("kvm", "host", &mut host);
    }
    if module("vboxdrv") {
        saw("virtualbox", "host", &mut host);
    }
    if module("virtio") {
        saw("kvm", "guest", &mut host);
    }
    let (kind, role) = found.unwrap_or_else(|| ("NA".into(), "NA"));
    Virtualization {
        kind,
        role: role.to_string(),
        guest,
        host,
    }
}

/// `dns`: `nameservers`, `domain`, `search`, `sortlist`, `options` from resolv.conf.
fn dns(resolv: &str) -> Value {
    let mut out = Map::new();
    let mut push = |key: &str, value: &str| {
        let list = out
            .entry(key.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            items.push(Value::String(value.to_string()));
        }
    };
    let mut options = Map::new();
    let mut domain = None;
    for line in resolv.lines() {
        let line = line.trim();
        if line.starts_with(['#', ';']) {
            continue;
        }
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => words.take(1).for_each(|w| push("nameservers", w)),
            Some("domain") => domain = words.next().map(str::to_string),
            Some("search") => words.for_each(|w| push("search", w)),
            Some("sortlist") => words.for_each(|w| push("sortlist", w)),
            Some("options") => {
                for option in words {
                    let (k, v) = match option.split_once(':') {
                        Some((k, v)) => (k, Value::String(v.to_string())),
                        None => (option, Value::Bool(true)),
                    };
                    options.insert(k.to_string(), v);
                }
            }
            _ => {}
        }
    }
    if let Some(domain) = domain {
        out.insert("domain".into(), domain.into());
    }
    if !options.is_empty() {
        out.insert("options".into(), Value::Object(options));
    }
    Value::Object(out)
}

/// `lsb`: from /etc/lsb-release (`DISTRIB_*`); where only the `lsb_release` program is there
/// (the script says `lsb_release` on a line of its own), from os-release as that program
/// reports it; `{}` without either.
fn lsb(section: &str, os_release: &str) -> Value {
    let kv = |text: &str| -> BTreeMap<String, String> {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            .collect()
    };
    let file = kv(section);
    let (id, release, codename, description) = if file.contains_key("DISTRIB_ID") {
        let get = |k: &str| file.get(k).cloned().unwrap_or_default();
        (
            get("DISTRIB_ID"),
            get("DISTRIB_RELEASE"),
            get("DISTRIB_CODENAME"),
            get("DISTRIB_DESCRIPTION"),
        )
    } else if section.lines().any(|l| l.trim() == "lsb_release") {
        let osr = kv(os_release);
        let get = |k: &str| osr.get(k).cloned().unwrap_or_default();
        let name = get("NAME");
        (
            name.split_whitespace().next().unwrap_or("").to_string(),
            get("VERSION_ID"),
            get("VERSION_CODENAME"),
            get("PRETTY_NAME"),
        )
    } else {
        return Value::Object(Map::new());
    };
    let major = release.split('.').next().unwrap_or("").to_string();
    serde_json::json!({
        "id": id,
        "release": release,
        "codename": codename,
        "description": description,
        "major_release": major,
    })
}

/// `selinux`: `{"status": "disabled"}` without SELinux, else its mode from `enforce`.
fn selinux(security: &str) -> Value {
    let Some(line) = security.lines().find(|l| l.starts_with("selinux")) else {
        return serde_json::json!({"status": "disabled"});
    };
    let mode = match line.trim_start_matches("selinux").trim() {
        "1" => "enforcing",
        "0" => "permissive",
        _ => "unknown",
    };
    serde_json::json!({"status": "enabled", "mode": mode})
}

/// The kernel command line as Ansible's `cmdline` (a repeated key keeps its last value) or
/// `proc_cmdline` (a repeated key becomes a list); a bare word is `true`.
fn kernel_cmdline(line: &str, keep_repeats: bool) -> Value {
    let mut out = Map::new();
    for word in line.split_whitespace() {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Value::String(v.to_string())),
            None => (word, Value::Bool(true)),
        };
        match out.get_mut(key) {
            Some(Value::Array(items)) if keep_repeats => items.push(value),
            Some(existing) if keep_repeats => {
                *existing = Value::Array(vec![existing.clone(), value]);
            }
            _ => {
                out.insert(key.to_string(), value);
            }
        }
    }
    Value::Object(out)
}

fn loadavg(line: &str) -> Value {
    let mut fields = line.split_whitespace().map(|f| f.parse::<f64>().ok());
    match (
        fields.next().flatten(),
        fields.next().flatten(),
        fields.next().flatten(),
    ) {
        (Some(one), Some(five), Some(fifteen)) => {
            serde_json::json!({"1m": one, "5m": five, "15m": fifteen})
        }
        _ => Value::Object(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(pairs: &[(&str, &str)]) -> Sections {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    /// The values ansible-core 2.19.14's setup printed on a 2-vCPU Debian 12 machine in a
    /// container (the same files given here).
    #[test]
    fn facts_match_what_ansible_reported() {
        let s = sections(&[
            (
                "cpuinfo",
                "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n\
                 physical id\t: 0\nsiblings\t: 2\ncpu cores\t: 2\n\
                 processor\t: 1\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n\
                 physical id\t: 0\nsiblings\t: 2\ncpu cores\t: 2\n",
            ),
            (
                "meminfo",
                "MemTotal: 24683520 kB\nMemFree: 4641280 kB\nBuffers: 100000 kB\n\
                 Cached: 17830000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\nSwapCached: 0 kB\n",
            ),
            ("container", "dockerenv\n9:name=systemd:/\n"),
            ("kvm", "yes"),
            ("resolv", "# generated\nnameserver 10.255.255.53\n"),
            ("lsb", "lsb_release\n"),
            (
                "os_release",
                "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
                 VERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n",
            ),
            ("loadavg", "9.95 10.28 8.61 3/400 1234"),
            ("fips", "0"),
            ("chroot", "no"),
        ]);
        let mut f = Map::new();
        add_system_facts(&mut f, &s);
        let get = |k: &str| f[&format!("ansible_{k}")].clone();
        assert_eq!(
            get("processor"),
            serde_json::json!([
                "0",
                "AuthenticAMD",
                "AMD EPYC",
                "1",
                "AuthenticAMD",
                "AMD EPYC"
            ])
        );
        assert_eq!(get("processor_count"), 1);
        assert_eq!(get("processor_cores"), 2);
        assert_eq!(get("processor_threads_per_core"), 1);
        assert_eq!(get("memory_mb")["real"]["total"], 24105);
        assert_eq!(get("memory_mb")["nocache"]["free"], 22041);
        assert_eq!(get("virtualization_type"), "docker");
        assert_eq!(get("virtualization_role"), "guest");
        assert_eq!(
            get("virtualization_tech_guest"),
            serde_json::json!(["docker", "container"])
        );
        assert_eq!(get("virtualization_tech_host"), serde_json::json!(["kvm"]));
        assert_eq!(
            get("dns"),
            serde_json::json!({"nameservers": ["10.255.255.53"]})
        );
        assert_eq!(
            get("lsb"),
            serde_json::json!({"codename": "bookworm", "description": "Debian GNU/Linux 12 (bookworm)",
                "id": "Debian", "major_release": "12", "release": "12"})
        );
        assert_eq!(get("selinux"), serde_json::json!({"status": "disabled"}));
        assert_eq!(get("apparmor"), serde_json::json!({"status": "disabled"}));
        assert_eq!(get("system_vendor"), "NA");
        assert_eq!(get("form_factor"), "NA");
        assert_eq!(get("loadavg")["1m"], 9.95);
        assert_eq!(get("fips"), false);
        assert_eq!(get("is_chroot"), false);
    }

    #[test]
    fn an_nspawn_host_and_a_kvm_guest() {
        let nspawn = sections(&[("container", "systemd-nspawn\n0::/\n")]);
        let v = virtualization(&nspawn, &BTreeMap::new());
        assert_eq!(
            (v.kind.as_str(), v.role.as_str()),
            ("systemd-nspawn", "guest")
        );
        assert_eq!(v.guest, ["systemd-nspawn", "container"]);
        let dmi: BTreeMap<String, String> = [("sys_vendor".to_string(), "QEMU".to_string())].into();
        let v = virtualization(&sections(&[]), &dmi);
        assert_eq!((v.kind.as_str(), v.role.as_str()), ("kvm", "guest"));
        let v = virtualization(&sections(&[]), &BTreeMap::new());
        assert_eq!((v.kind.as_str(), v.role.as_str()), ("NA", "NA"));
    }

    #[test]
    fn cmdline_keeps_repeats_only_in_proc_cmdline() {
        let line = "BOOT_IMAGE=/vmlinuz ro console=tty0 console=ttyS0 quiet";
        assert_eq!(
            kernel_cmdline(line, false),
            serde_json::json!({"BOOT_IMAGE": "/vmlinuz", "ro": true, "console": "ttyS0", "quiet": true})
        );
        assert_eq!(
            kernel_cmdline(line, true)["console"],
            serde_json::json!(["tty0", "ttyS0"])
        );
    }
}
