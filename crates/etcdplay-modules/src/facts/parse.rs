//! The pure half of `setup`: from the gathering script's output to Ansible-named facts.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::net::{add_network_facts, split_ip_batch};
use crate::probe::parse_sections;

/// Builds the facts (keys prefixed `ansible_`, as in the `ansible_facts` of Ansible's setup
/// module output) from the stdout of the fact-gathering script.
pub fn parse_facts(stdout: &[u8]) -> Map<String, Value> {
    let sections = parse_sections(stdout);
    from_sections(&sections)
}

fn text(s: &BTreeMap<String, Vec<u8>>, k: &str) -> String {
    String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default())
        .trim()
        .to_string()
}

fn from_sections(s: &BTreeMap<String, Vec<u8>>) -> Map<String, Value> {
    let mut f = Map::new();
    let mut put = |k: &str, v: Value| {
        f.insert(format!("ansible_{k}"), v);
    };
    let hostname_full = text(s, "hostname");
    let fqdn = text(s, "fqdn");
    let short = hostname_full.split('.').next().unwrap_or("").to_string();
    put("hostname", short.clone().into());
    put("nodename", hostname_full.clone().into());
    put("fqdn", fqdn.clone().into());
    put(
        "domain",
        fqdn.split_once('.')
            .map(|(_, d)| d.to_string())
            .unwrap_or_default()
            .into(),
    );

    let uname: Vec<String> = text(s, "uname").lines().map(String::from).collect();
    let un = |i: usize| uname.get(i).cloned().unwrap_or_default();
    put("system", un(0).into());
    put("kernel", un(1).into());
    put("architecture", un(2).into());
    put("machine", un(2).into());
    put("kernel_version", un(3).into());
    put("userspace_architecture", un(2).into());
    let bits = if matches!(
        un(2).as_str(),
        "x86_64" | "aarch64" | "ppc64" | "ppc64le" | "s390x" | "riscv64"
    ) {
        "64"
    } else {
        "32"
    };
    put("userspace_bits", bits.into());

    // Distribution, from os-release; Debian's point release comes from /etc/debian_version.
    let osr: BTreeMap<String, String> = text(s, "os_release")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect();
    let id = osr.get("ID").cloned().unwrap_or_default();
    let distribution = distribution_name(&id, osr.get("NAME").map(String::as_str).unwrap_or(""));
    let deb = text(s, "debian_version");
    let version = if id == "debian" && deb.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        deb.clone()
    } else {
        osr.get("VERSION_ID").cloned().unwrap_or_default()
    };
    put("distribution", distribution.clone().into());
    put("distribution_version", version.clone().into());
    put(
        "distribution_major_version",
        version.split('.').next().unwrap_or("").to_string().into(),
    );
    if let Some(minor) = version.split('.').nth(1) {
        put("distribution_minor_version", minor.to_string().into());
    }
    put(
        "distribution_release",
        osr.get("VERSION_CODENAME")
            .cloned()
            .unwrap_or_default()
            .into(),
    );
    put(
        "os_family",
        os_family(&id, osr.get("ID_LIKE").map(String::as_str).unwrap_or("")).into(),
    );

    let logical_cpus = text(s, "cpuinfo")
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count() as u64;
    let vcpus = Some(logical_cpus)
        .filter(|n| *n > 0)
        .or_else(|| text(s, "nproc").parse().ok())
        .unwrap_or(1);
    put("processor_vcpus", vcpus.into());
    put(
        "processor_nproc",
        text(s, "nproc").parse::<u64>().unwrap_or(vcpus).into(),
    );
    let mem: BTreeMap<String, u64> = text(s, "meminfo")
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.to_string(), v.split_whitespace().next()?.parse().ok()?))
        })
        .collect();
    let mb = |k: &str| mem.get(k).map(|kb| kb / 1024).unwrap_or(0);
    put("memtotal_mb", mb("MemTotal").into());
    put("memfree_mb", mb("MemFree").into());
    put("swaptotal_mb", mb("SwapTotal").into());
    put("swapfree_mb", mb("SwapFree").into());

    // Ansible: systemd if PID 1 is systemd or /run/systemd/system exists, else PID 1's name.
    let pid1 = text(s, "pid1");
    let service_mgr = if pid1 == "systemd" || text(s, "systemd_dir") == "yes" {
        "systemd".to_string()
    } else if pid1.is_empty() {
        "service".to_string()
    } else {
        pid1
    };
    put("service_mgr", service_mgr.into());
    if let Some(systemd) = systemd_fact(&text(s, "systemd")) {
        put("systemd", systemd);
    }

    let id_lines: Vec<String> = text(s, "id").lines().map(String::from).collect();
    let idl = |i: usize| id_lines.get(i).cloned().unwrap_or_default();
    put("user_id", idl(0).into());
    put(
        "user_uid",
        idl(1)
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
    put(
        "user_gid",
        idl(2)
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
    // The gathering shell's own ids: real and effective are the same for it.
    for (fact, line) in [
        ("real_user_id", 1),
        ("effective_user_id", 1),
        ("real_group_id", 2),
        ("effective_group_id", 2),
    ] {
        if let Ok(id) = idl(line).parse::<u64>() {
            put(fact, id.into());
        }
    }
    let pw: Vec<String> = text(s, "passwd").split(':').map(String::from).collect();
    put("user_gecos", pw.get(4).cloned().unwrap_or_default().into());
    put("user_dir", pw.get(5).cloned().unwrap_or_default().into());
    put("user_shell", pw.get(6).cloned().unwrap_or_default().into());

    let env: Map<String, Value> = s
        .get("env")
        .map(|b| {
            b.split(|c| *c == 0)
                .filter_map(|kv| {
                    let kv = String::from_utf8_lossy(kv).into_owned();
                    let (k, v) = kv.split_once('=')?;
                    let k = k.trim_start_matches('\n');
                    (!k.is_empty()).then(|| (k.to_string(), Value::String(v.to_string())))
                })
                .collect()
        })
        .unwrap_or_default();
    put("env", Value::Object(env));

    let py: Vec<String> = text(s, "python").lines().map(String::from).collect();
    if let Some(exe) = py.first() {
        let mut pm = Map::new();
        pm.insert("executable".into(), exe.clone().into());
        // The second line is the interpreter's real file (`/usr/bin/python3.11`): its name
        // gives major and minor without starting Python; the micro version is not known.
        let parts: Vec<u64> = py
            .get(1)
            .and_then(|real| real.rsplit('/').next())
            .and_then(|name| name.strip_prefix("python"))
            .map(|v| v.split('.').map_while(|p| p.parse().ok()).collect())
            .unwrap_or_default();
        if let [major, minor, ..] = parts[..] {
            let mut vm = Map::new();
            vm.insert("major".into(), major.into());
            vm.insert("minor".into(), minor.into());
            pm.insert("version".into(), Value::Object(vm));
            put("python_version", format!("{major}.{minor}").into());
        }
        put("python", Value::Object(pm));
        put("python_interpreter", exe.clone().into());
        f.insert("discovered_interpreter_python".into(), exe.clone().into());
    }
    let mut put = |k: &str, v: Value| {
        f.insert(format!("ansible_{k}"), v);
    };
    put("machine_id", text(s, "machine_id").into());
    put(
        "pkg_mgr",
        text(s, "pkg_mgr").replace("apt-get", "apt").into(),
    );
    if let Ok(up) = text(s, "uptime").parse::<f64>() {
        put("uptime_seconds", (up as u64).into());
    }
    let d: Vec<String> = text(s, "date").split('|').map(String::from).collect();
    if d.len() == 17 {
        let mut dt = Map::new();
        for (k, i) in [
            ("year", 0),
            ("month", 1),
            ("day", 2),
            ("hour", 3),
            ("minute", 4),
            ("second", 5),
            ("tz", 6),
            ("tz_offset", 7),
            ("epoch", 8),
            ("weekday", 9),
            ("monthname", 10),
            ("julian_day", 11),
            ("weekday_number", 12),
        ] {
            dt.insert(k.into(), d[i].clone().into());
        }
        dt.insert("date".into(), format!("{}-{}-{}", d[0], d[1], d[2]).into());
        dt.insert("time".into(), format!("{}:{}:{}", d[3], d[4], d[5]).into());
        dt.insert("epoch_int".into(), d[8].clone().into());
        dt.insert("weeknumber".into(), d[15].clone().into());
        dt.insert("tz_dst".into(), d[6].clone().into());
        let local_basic = format!("{}{}{}T{}{}{}", d[0], d[1], d[2], d[3], d[4], d[5]);
        dt.insert(
            "iso8601_basic".into(),
            format!("{local_basic}{}", d[16]).into(),
        );
        dt.insert("iso8601_basic_short".into(), local_basic.into());
        if let (Ok(epoch), Ok(micros)) = (d[8].parse::<u64>(), d[16].parse::<u32>()) {
            dt.insert(
                "iso8601".into(),
                crate::clock::iso8601(epoch, micros, false).into(),
            );
            dt.insert(
                "iso8601_micro".into(),
                crate::clock::iso8601(epoch, micros, true).into(),
            );
        }
        put("date_time", Value::Object(dt));
    }
    super::system::add_system_facts(&mut f, s);
    let (route, addr, link) = if s.contains_key("ip") {
        split_ip_batch(&text(s, "ip"))
    } else {
        (text(s, "route"), text(s, "addr"), text(s, "link"))
    };
    add_network_facts(&mut f, &route, &addr, &link);
    f
}

fn distribution_name(id: &str, name: &str) -> String {
    match id {
        "debian" => "Debian".into(),
        "ubuntu" => "Ubuntu".into(),
        "centos" => "CentOS".into(),
        "rhel" => "RedHat".into(),
        "fedora" => "Fedora".into(),
        "rocky" => "Rocky".into(),
        "almalinux" => "AlmaLinux".into(),
        "alpine" => "Alpine".into(),
        "arch" => "Archlinux".into(),
        "opensuse-leap" | "opensuse-tumbleweed" | "sles" => {
            name.split_whitespace().next().unwrap_or("Suse").into()
        }
        _ => name.split_whitespace().next().unwrap_or(id).to_string(),
    }
}

fn os_family(id: &str, like: &str) -> &'static str {
    let all = format!("{id} {like}");
    let has = |w: &str| all.split_whitespace().any(|x| x == w);
    if has("debian") || has("ubuntu") {
        "Debian"
    } else if has("rhel") || has("fedora") || has("centos") {
        "RedHat"
    } else if has("suse") || has("opensuse") || has("sles") {
        "Suse"
    } else if has("alpine") {
        "Alpine"
    } else if has("arch") {
        "Archlinux"
    } else {
        "Linux"
    }
}

/// `ansible_systemd` from `systemctl --version`: the features line and the version number
/// (Ansible's SystemdFactCollector), when systemd manages the host.
fn systemd_fact(version_output: &str) -> Option<Value> {
    let mut lines = version_output.lines();
    let version = lines.next()?.split(' ').nth(1)?.parse::<u64>().ok()?;
    let features = lines.next().unwrap_or_default();
    Some(serde_json::json!({"features": features, "version": version}))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Output of the gathering script recorded on a Debian 12 machine (environment trimmed).
    fn recorded() -> Vec<u8> {
        let mut out = String::new();
        let mut sec = |name: &str, body: &str| {
            out.push_str(&format!("\n@@etcdplay:{name}\n{body}"));
        };
        sec("hostname", "etcd-1\n");
        sec("fqdn", "etcd-1.lab.example\n");
        sec(
            "uname",
            "Linux\n6.1.0-18-amd64\nx86_64\n#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\n",
        );
        sec("os_release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n");
        sec("debian_version", "12.11\n");
        sec("cpuinfo", "2\n");
        sec("nproc", "2\n");
        sec(
            "meminfo",
            "MemTotal: 4028380 kB\nMemFree: 257324 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
        );
        sec("pid1", "systemd\n");
        sec("systemd_dir", "yes\n");
        sec(
            "systemd",
            "systemd 252 (252.39-1~deb12u2)\n+PAM +AUDIT -GNUTLS default-hierarchy=unified\n",
        );
        sec("id", "deploy\n1000\n1000\ndeploy\n");
        sec(
            "passwd",
            "deploy:x:1000:1000:Deploy:/home/deploy:/bin/bash\n",
        );
        sec("env", "HOME=/home/deploy\0PATH=/usr/bin:/bin\0MULTI=a\nb\0");
        sec("route", "default via 192.0.2.1 dev eth0 proto static \n");
        sec("addr", "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever\n2: eth0    inet 192.0.2.9/24 brd 192.0.2.255 scope global secondary eth0:1\\       valid_lft forever preferred_lft forever\n");
        sec("link", "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n");
        sec("python", "/usr/bin/python3\n/usr/bin/python3.11\n");
        sec("machine_id", "0123456789abcdef0123456789abcdef\n");
        sec(
            "date",
            "2026|11|27|21|30|00|UTC|+0000|1795815000|Friday|November|331|5|Fri|Nov|47|840576\n",
        );
        sec("pkg_mgr", "apt-get\n");
        sec("uptime", "12345.67\n");
        sec("end", "");
        out.into_bytes()
    }

    /// The three `ip` tables printed by one `ip -4 -o -batch` (one section, in the order
    /// route, addresses, links, as `ip` 6.1 on a Debian 12 lab host prints them) give the
    /// same facts as the three commands' sections.
    #[test]
    fn one_ip_batch_gives_the_facts_of_three_commands() {
        let three = String::from_utf8(recorded()).unwrap();
        let sections = parse_sections(three.as_bytes());
        let table = |k: &str| String::from_utf8(sections[k].clone()).unwrap();
        let batch = format!("{}{}{}", table("route"), table("addr"), table("link"));
        let mut one = String::new();
        for (name, body) in &sections {
            if !["route", "addr", "link", "end"].contains(&name.as_str()) {
                one.push_str(&format!(
                    "\n@@etcdplay:{name}\n{}",
                    String::from_utf8_lossy(body)
                ));
            }
        }
        one.push_str(&format!("\n@@etcdplay:ip\n{batch}\n@@etcdplay:end\n"));
        let (a, b) = (parse_facts(three.as_bytes()), parse_facts(one.as_bytes()));
        for key in [
            "ansible_default_ipv4",
            "ansible_interfaces",
            "ansible_all_ipv4_addresses",
            "ansible_eth0",
            "ansible_lo",
        ] {
            assert_eq!(a[key], b[key], "{key}");
        }
        assert_eq!(a, b);
        assert_eq!(
            split_ip_batch(&batch),
            (table("route"), table("addr"), table("link"))
        );
    }

    #[test]
    fn facts_have_ansible_names_and_shapes() {
        let f = parse_facts(&recorded());
        assert_eq!(f["ansible_hostname"], "etcd-1");
        assert_eq!(f["ansible_fqdn"], "etcd-1.lab.example");
        assert_eq!(f["ansible_domain"], "lab.example");
        assert_eq!(f["ansible_distribution"], "Debian");
        assert_eq!(f["ansible_distribution_version"], "12.11");
        assert_eq!(f["ansible_distribution_major_version"], "12");
        assert_eq!(f["ansible_distribution_release"], "bookworm");
        assert_eq!(f["ansible_os_family"], "Debian");
        assert_eq!(f["ansible_architecture"], "x86_64");
        assert_eq!(f["ansible_processor_vcpus"], 2);
        assert_eq!(f["ansible_memtotal_mb"], 3933);
        assert_eq!(f["ansible_service_mgr"], "systemd");
        // Ansible on a Debian 12 lab host (`setup filter=ansible_systemd`): {"features": the
        // second line of `systemctl --version`, "version": 252}.
        assert_eq!(
            f["ansible_systemd"],
            serde_json::json!({"features": "+PAM +AUDIT -GNUTLS default-hierarchy=unified", "version": 252})
        );
        assert_eq!(f["ansible_user_id"], "deploy");
        assert_eq!(f["ansible_user_dir"], "/home/deploy");
        assert_eq!(f["ansible_user_uid"], 1000);
        assert_eq!(f["ansible_env"]["PATH"], "/usr/bin:/bin");
        assert_eq!(f["ansible_env"]["MULTI"], "a\nb");
        assert_eq!(f["ansible_python"]["version"]["major"], 3);
        assert_eq!(f["ansible_python"]["version"]["minor"], 11);
        assert_eq!(f["ansible_python_version"], "3.11");
        assert_eq!(f["discovered_interpreter_python"], "/usr/bin/python3");
        assert_eq!(f["ansible_pkg_mgr"], "apt");
        assert_eq!(f["ansible_date_time"]["date"], "2026-11-27");
        assert_eq!(f["ansible_date_time"]["iso8601"], "2026-11-27T21:30:00Z");
        assert_eq!(
            f["ansible_date_time"]["iso8601_micro"],
            "2026-11-27T21:30:00.840576Z"
        );
        assert_eq!(
            f["ansible_date_time"]["iso8601_basic"],
            "20261127T213000840576"
        );
        assert_eq!(f["ansible_date_time"]["weeknumber"], "47");
    }

    #[test]
    fn network_facts() {
        let f = parse_facts(&recorded());
        let d = &f["ansible_default_ipv4"];
        assert_eq!(d["address"], "192.0.2.2");
        assert_eq!(d["interface"], "eth0");
        assert_eq!(d["gateway"], "192.0.2.1");
        assert_eq!(d["netmask"], "255.255.255.0");
        assert_eq!(d["network"], "192.0.2.0");
        assert_eq!(d["prefix"], "24");
        assert_eq!(d["broadcast"], "192.0.2.255");
        assert_eq!(d["macaddress"], "52:54:00:12:34:56");
        assert_eq!(d["mtu"], 1500);
        assert_eq!(d["type"], "ether");
        assert_eq!(d["alias"], "eth0");
        assert_eq!(
            f["ansible_all_ipv4_addresses"],
            serde_json::json!(["192.0.2.2", "192.0.2.9"])
        );
        assert_eq!(f["ansible_interfaces"], serde_json::json!(["lo", "eth0"]));
        assert_eq!(f["ansible_eth0"]["ipv4"]["address"], "192.0.2.2");
        assert_eq!(
            f["ansible_eth0"]["ipv4_secondaries"][0]["address"],
            "192.0.2.9"
        );
        assert_eq!(f["ansible_lo"]["type"], "loopback");
        assert_eq!(f["ansible_eth0"]["active"], true);
    }

    #[test]
    fn no_default_route_gives_empty_dict() {
        let f = parse_facts(b"\n@@etcdplay:hostname\nh\n\n@@etcdplay:end\n");
        assert_eq!(f["ansible_default_ipv4"], serde_json::json!({}));
        assert_eq!(f["ansible_hostname"], "h");
    }
}
