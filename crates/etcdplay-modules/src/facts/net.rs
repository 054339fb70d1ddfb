//! Network facts from `ip` output: interfaces (`ansible_interfaces`, `ansible_<iface>`),
//! `ansible_default_ipv4` and `ansible_all_ipv4_addresses`, in Ansible's shapes.

use serde_json::{Map, Value};

/// One IPv4 address line of `ip -4 -o addr show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Addr {
    pub(crate) iface: String,
    pub(crate) label: String,
    pub(crate) address: String,
    pub(crate) prefix: u8,
    pub(crate) broadcast: Option<String>,
    pub(crate) secondary: bool,
}

/// One line of `ip -o link show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) name: String,
    pub(crate) up: bool,
    pub(crate) mtu: u64,
    pub(crate) kind: String,
    pub(crate) mac: Option<String>,
}

pub(crate) fn parse_addrs(text: &str) -> Vec<Addr> {
    text.lines()
        .filter_map(|line| {
            let main = line.split('\\').next().unwrap_or(line);
            let words: Vec<&str> = main.split_whitespace().collect();
            let iface = words.get(1)?.to_string();
            let at = words.iter().position(|w| *w == "inet")?;
            let (address, prefix) = words.get(at + 1)?.split_once('/')?;
            let broadcast = words
                .iter()
                .position(|w| *w == "brd")
                .and_then(|i| words.get(i + 1))
                .map(|s| s.to_string());
            let label = words
                .last()
                .map(|s| s.to_string())
                .filter(|l| l.starts_with(iface.as_str()))
                .unwrap_or_else(|| iface.clone());
            Some(Addr {
                iface,
                label,
                address: address.to_string(),
                prefix: prefix.parse().ok()?,
                broadcast,
                secondary: words.contains(&"secondary"),
            })
        })
        .collect()
}

pub(crate) fn parse_links(text: &str) -> Vec<Link> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.splitn(3, ": ");
            it.next()?;
            let name = it.next()?.split('@').next()?.to_string();
            let rest = it.next()?;
            let flags = rest.split('>').next().unwrap_or("");
            let words: Vec<&str> = rest.split_whitespace().collect();
            let mtu = words
                .iter()
                .position(|w| *w == "mtu")
                .and_then(|i| words.get(i + 1))
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            let (kind, mac) = match words.iter().find(|w| w.starts_with("link/")) {
                Some(l) => {
                    let k = l.trim_start_matches("link/");
                    let pos = words.iter().position(|w| w == l).unwrap_or(0);
                    let mac = words
                        .get(pos + 1)
                        .filter(|m| m.contains(':') && k != "none")
                        .map(|m| m.to_string());
                    (
                        if k == "ether" {
                            "ether".to_string()
                        } else if k == "loopback" {
                            "loopback".to_string()
                        } else {
                            k.to_string()
                        },
                        mac,
                    )
                }
                None => ("unknown".to_string(), None),
            };
            Some(Link {
                name,
                up: flags.split(',').any(|f| f == "UP" || f.ends_with("<UP")),
                mtu,
                kind,
                mac,
            })
        })
        .collect()
}

/// `24` → `255.255.255.0`.
pub(crate) fn netmask(prefix: u8) -> String {
    let m: u32 = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    std::net::Ipv4Addr::from(m).to_string()
}

pub(crate) fn network(address: &str, prefix: u8) -> String {
    let ip: std::net::Ipv4Addr = address.parse().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
    let m: u32 = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    std::net::Ipv4Addr::from(u32::from(ip) & m).to_string()
}

fn ipv4_dict(a: &Addr) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("address".into(), a.address.clone().into());
    m.insert(
        "broadcast".into(),
        a.broadcast.clone().unwrap_or_default().into(),
    );
    m.insert("netmask".into(), netmask(a.prefix).into());
    m.insert("network".into(), network(&a.address, a.prefix).into());
    m.insert("prefix".into(), a.prefix.to_string().into());
    m
}

/// Adds the network facts to `facts`.
/// The output of one `ip -4 -o -batch` of `route show default`, `addr show` and `link show`
/// (one process where three commands cost three) split back into the three tables: a link
/// line names its device with a colon (`2: eth0: <...>`), an address line has `inet` after
/// the device (`2: eth0    inet ...`), the rest are routes.
pub(crate) fn split_ip_batch(text: &str) -> (String, String, String) {
    let (mut route, mut addr, mut link) = (String::new(), String::new(), String::new());
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let numbered = words
            .next()
            .and_then(|w| w.strip_suffix(':'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let device = words.next().unwrap_or_default();
        let table = match (numbered, words.next()) {
            (true, _) if device.ends_with(':') => &mut link,
            (true, Some("inet")) => &mut addr,
            _ => &mut route,
        };
        table.push_str(line);
        table.push('\n');
    }
    (route, addr, link)
}

pub(crate) fn add_network_facts(
    facts: &mut Map<String, Value>,
    route: &str,
    addrs: &str,
    links: &str,
) {
    let addrs = parse_addrs(addrs);
    let links = parse_links(links);
    let mut names: Vec<String> = links.iter().map(|l| l.name.clone()).collect();
    for a in &addrs {
        if !names.contains(&a.iface) {
            names.push(a.iface.clone());
        }
    }
    facts.insert(
        "ansible_interfaces".into(),
        Value::Array(names.iter().cloned().map(Value::String).collect()),
    );
    let all: Vec<Value> = addrs
        .iter()
        .filter(|a| !a.address.starts_with("127."))
        .map(|a| Value::String(a.address.clone()))
        .collect();
    facts.insert("ansible_all_ipv4_addresses".into(), Value::Array(all));

    for name in &names {
        let link = links.iter().find(|l| &l.name == name);
        let mut d = Map::new();
        d.insert("device".into(), name.clone().into());
        d.insert("active".into(), link.is_some_and(|l| l.up).into());
        d.insert(
            "type".into(),
            link.map(|l| l.kind.clone())
                .unwrap_or_else(|| "unknown".into())
                .into(),
        );
        d.insert("mtu".into(), link.map(|l| l.mtu).unwrap_or(0).into());
        d.insert("promisc".into(), false.into());
        // Ansible reports no MAC address for the loopback device.
        if let Some(mac) = link
            .filter(|l| l.kind != "loopback")
            .and_then(|l| l.mac.clone())
        {
            d.insert("macaddress".into(), mac.into());
        }
        let mine: Vec<&Addr> = addrs.iter().filter(|a| &a.iface == name).collect();
        if let Some(first) = mine.iter().find(|a| !a.secondary).or(mine.first()) {
            d.insert("ipv4".into(), Value::Object(ipv4_dict(first)));
            let secondaries: Vec<Value> = mine
                .iter()
                .filter(|a| a.address != first.address)
                .map(|a| Value::Object(ipv4_dict(a)))
                .collect();
            if !secondaries.is_empty() {
                d.insert("ipv4_secondaries".into(), Value::Array(secondaries));
            }
        }
        facts.insert(
            format!("ansible_{}", name.replace(['-', ':', '.'], "_")),
            Value::Object(d),
        );
    }

    // `default via GW dev IFACE ... [src ADDR]`: the first default route wins, as the kernel's.
    let mut def = Map::new();
    if let Some(line) = route.lines().find(|l| l.starts_with("default")) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let after = |key: &str| {
            w.iter()
                .position(|x| *x == key)
                .and_then(|i| w.get(i + 1))
                .map(|s| s.to_string())
        };
        if let Some(iface) = after("dev") {
            let src = after("src");
            let addr = addrs
                .iter()
                .find(|a| a.iface == iface && src.as_ref().is_none_or(|s| *s == a.address))
                .or_else(|| addrs.iter().find(|a| a.iface == iface));
            if let Some(a) = addr {
                def.extend(ipv4_dict(a));
                def.insert("alias".into(), a.label.clone().into());
            }
            if let Some(gw) = after("via") {
                def.insert("gateway".into(), gw.into());
            }
            def.insert("interface".into(), iface.clone().into());
            if let Some(l) = links.iter().find(|l| l.name == iface) {
                def.insert(
                    "macaddress".into(),
                    l.mac.clone().unwrap_or_default().into(),
                );
                def.insert("mtu".into(), l.mtu.into());
                def.insert("type".into(), l.kind.clone().into());
            }
        }
    }
    facts.insert("ansible_default_ipv4".into(), Value::Object(def));
}
