//! The common forms of ansible.utils' IP filters and tests on `ipnet`: `ipaddr`, `ipv4`,
//! `ipv6` (validation, and the queries `address`, `host`, `host/prefix`, `network`,
//! `network/prefix`, `netmask`, `prefix`, `broadcast`, `size`, `public`, `private`, `type`,
//! `version`, `bool`, `wrap`, or a network to test membership) and the tests `ip`, `ipv4`,
//! `ipv6` (`ipwrap` is in `scalar.rs`). A value that is not an address gives `False` (lists drop it), as there.

use std::net::IpAddr;

use ipnet::IpNet;
use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

use super::ensure_defined;

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("ipaddr", |v: Value, q: Option<String>| filter(v, q, None));
    env.add_filter("ipv4", |v: Value, q: Option<String>| filter(v, q, Some(4)));
    env.add_filter("ipv6", |v: Value, q: Option<String>| filter(v, q, Some(6)));
    env.add_test("ip", |v: Value| is_ip(&v, None));
    env.add_test("ip_address", |v: Value| is_ip(&v, None));
    env.add_test("ipv4", |v: Value| is_ip(&v, Some(4)));
    env.add_test("ipv4_address", |v: Value| is_ip(&v, Some(4)));
    env.add_test("ipv6", |v: Value| is_ip(&v, Some(6)));
    env.add_test("ipv6_address", |v: Value| is_ip(&v, Some(6)));
}

/// Whether an address was written with a prefix (`network`) or without (`address`).
#[derive(Clone, Copy, PartialEq)]
enum Written {
    Address,
    Network,
}

/// A parsed value: the address with its prefix (netaddr's `IPNetwork`).
struct Parsed {
    net: IpNet,
    written: Written,
}

impl Parsed {
    fn version(&self) -> u8 {
        match self.net {
            IpNet::V4(_) => 4,
            IpNet::V6(_) => 6,
        }
    }
    fn size(&self) -> u128 {
        let bits = u32::from(self.net.max_prefix_len() - self.net.prefix_len());
        1u128.checked_shl(bits).unwrap_or(u128::MAX)
    }
    fn ip(&self) -> IpAddr {
        self.net.addr()
    }
    fn with_prefix(&self) -> String {
        format!("{}/{}", self.net.addr(), self.net.prefix_len())
    }
    fn is_global(&self) -> bool {
        match self.ip() {
            IpAddr::V4(ip) => {
                !(ip.is_private()
                    || ip.is_loopback()
                    || ip.is_link_local()
                    || ip.is_broadcast()
                    || ip.is_documentation()
                    || ip.is_unspecified()
                    || ip.is_multicast()
                    // 100.64.0.0/10 (shared address space) and 192.0.0.0/24 are not global.
                    || (ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64)
                    || (ip.octets()[0..3] == [192, 0, 0])
                    || ip.octets()[0] >= 240)
            }
            IpAddr::V6(ip) => {
                let first = ip.segments()[0];
                !(ip.is_loopback()
                    || ip.is_unspecified()
                    || ip.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
                    || first == 0x2001 && ip.segments()[1] == 0x0db8)
            }
        }
    }
}

/// netaddr's reading of a string: `addr`, `addr/prefix` or `addr/netmask`.
fn parse(text: &str) -> Option<Parsed> {
    let text = text.trim();
    if let Some((addr, prefix)) = text.split_once('/') {
        let addr: IpAddr = addr.parse().ok()?;
        let prefix = match prefix.parse::<u8>() {
            Ok(p) => p,
            Err(_) => netmask_prefix(prefix.parse().ok()?)?,
        };
        return Some(Parsed {
            net: IpNet::new(addr, prefix).ok()?,
            written: Written::Network,
        });
    }
    let addr: IpAddr = text.parse().ok()?;
    Some(Parsed {
        net: IpNet::from(addr),
        written: Written::Address,
    })
}

/// The prefix length of a netmask (`255.255.0.0` is 16); `None` if it is not one.
fn netmask_prefix(mask: IpAddr) -> Option<u8> {
    let bits: u128 = match mask {
        IpAddr::V4(m) => u128::from(u32::from(m)) << 96,
        IpAddr::V6(m) => u128::from(m),
    };
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// A template value as an address, as ansible.utils reads it (an integer is an IPv4 address if
/// it fits, else IPv6).
fn parse_value(value: &Value) -> Result<Option<Parsed>, Error> {
    if value.kind() == ValueKind::Number && value.is_integer() {
        let n = u128::try_from(value.clone()).ok();
        return Ok(n.map(|n| {
            let addr = match u32::try_from(n) {
                Ok(v4) => IpAddr::from(std::net::Ipv4Addr::from(v4)),
                Err(_) => IpAddr::from(std::net::Ipv6Addr::from(n)),
            };
            Parsed {
                net: IpNet::from(addr),
                written: Written::Address,
            }
        }));
    }
    if value.kind() != ValueKind::String {
        return Ok(None);
    }
    Ok(parse(value.as_str().unwrap_or_default()))
}

fn unknown_query(query: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("Unknown filter type: {query}"),
    )
}

/// `ipaddr(query='')` and its `ipv4`/`ipv6` forms, on one value or a list.
fn filter(value: Value, query: Option<String>, version: Option<u8>) -> Result<Value, Error> {
    ensure_defined(&value)?;
    let query = query.unwrap_or_default();
    if value.kind() == ValueKind::Seq {
        let mut out = Vec::new();
        for item in value.try_iter()? {
            let result = filter(item, Some(query.clone()), version)?;
            if result.is_true() {
                out.push(result);
            }
        }
        return Ok(Value::from(out));
    }
    let Some(parsed) = parse_value(&value)? else {
        return Ok(Value::from(false));
    };
    // A query that is itself a network asks whether the value lies in it.
    if let Some(range) = parse(&query).filter(|_| !KNOWN_QUERIES.contains(&query.as_str())) {
        let inside = range.net.trunc().contains(&parsed.ip());
        return Ok(if inside { value } else { Value::from(false) });
    }
    if version.is_some_and(|v| v != parsed.version()) {
        return Ok(Value::from(false));
    }
    answer(&parsed, &query, value)
}

/// The queries [`answer`] knows.
const KNOWN_QUERIES: &[&str] = &[
    "",
    "address",
    "ip",
    "host",
    "host/prefix",
    "address/prefix",
    "network",
    "network_id",
    "network/prefix",
    "subnet",
    "cidr",
    "netmask",
    "prefix",
    "broadcast",
    "size",
    "public",
    "private",
    "type",
    "version",
    "bool",
    "wrap",
    "net",
];

fn text(s: String) -> Result<Value, Error> {
    Ok(Value::from(s))
}

fn answer(v: &Parsed, query: &str, value: Value) -> Result<Value, Error> {
    let network = v.net.network();
    let is_network_address = v.ip() == network;
    let none = Ok(Value::from(()));
    match query {
        "" => match v.written {
            Written::Address => text(v.ip().to_string()),
            Written::Network => text(v.with_prefix()),
        },
        "address" | "ip" => {
            if v.size() == 1 || !is_network_address || v.size() == 2 || v.version() == 6 {
                text(v.ip().to_string())
            } else {
                none
            }
        }
        "host" => {
            if v.size() == 1 {
                text(format!("{}/{}", v.ip(), v.net.prefix_len()))
            } else if !is_network_address || v.size() == 2 {
                text(v.with_prefix())
            } else {
                none
            }
        }
        "host/prefix" | "address/prefix" => {
            if v.size() > 2 && (is_network_address || v.ip() == v.net.broadcast()) {
                Ok(Value::from(false))
            } else {
                text(v.with_prefix())
            }
        }
        "network" | "network_id" => text(network.to_string()),
        "network/prefix" | "subnet" => text(v.net.trunc().to_string()),
        "cidr" => text(v.with_prefix()),
        "net" => {
            if v.size() > 1 && is_network_address {
                text(v.net.trunc().to_string())
            } else {
                none
            }
        }
        "netmask" => text(v.net.netmask().to_string()),
        "prefix" => Ok(Value::from(v.net.prefix_len())),
        "broadcast" => {
            if v.size() > 2 {
                text(v.net.broadcast().to_string())
            } else {
                none
            }
        }
        "size" => Ok(Value::from(v.size())),
        "public" => Ok(if v.is_global() {
            value
        } else {
            Value::from(())
        }),
        "private" => Ok(if v.is_global() {
            Value::from(())
        } else {
            value
        }),
        "type" => text(
            if v.size() > 1 && is_network_address {
                "network"
            } else {
                "address"
            }
            .into(),
        ),
        "version" => Ok(Value::from(v.version())),
        "bool" => Ok(Value::from(true)),
        "wrap" => match (v.version(), v.written) {
            (6, Written::Address) => text(format!("[{}]", v.ip())),
            (6, Written::Network) => text(format!("[{}]/{}", v.ip(), v.net.prefix_len())),
            _ => Ok(value),
        },
        other => Err(unknown_query(other)),
    }
}

/// The `ip`/`ipv4`/`ipv6` tests: a plain address (no prefix) of that version.
fn is_ip(value: &Value, version: Option<u8>) -> Result<bool, Error> {
    ensure_defined(value)?;
    let Some(text) = value.as_str() else {
        return Ok(false);
    };
    let Ok(addr) = text.parse::<IpAddr>() else {
        return Ok(false);
    };
    Ok(match version {
        Some(4) => addr.is_ipv4(),
        Some(6) => addr.is_ipv6(),
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netmasks_become_prefixes() {
        assert_eq!(netmask_prefix("255.255.0.0".parse().unwrap()), Some(16));
        assert_eq!(netmask_prefix("255.0.255.0".parse().unwrap()), None);
        assert_eq!(netmask_prefix("0.0.0.0".parse().unwrap()), Some(0));
    }
}
