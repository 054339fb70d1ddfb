//! Host names as inventories write them: an optional `:port` suffix (`db1:2222`, `[::1]:22`) and
//! numeric or alphabetic ranges (`etcd[01:03]`, `node-[a:c]`, `web[0:10:5]`), expanded exactly
//! the way Ansible's inventory plugins expand them so that the same inventory yields the same
//! host names in both tools.

use std::sync::LazyLock;

use regex::Regex;

/// How many host names one pattern may expand to; more is refused rather than exhausting memory
/// on a typo such as `node[0:99999999]`.
const MAX_EXPANSION: usize = 100_000;

const RANGE_ALNUM: &str = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";

static BRACKETED_HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[(.+)\]:([0-9]+)$").expect("static regex"));
static HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$").expect("static regex"));
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let part = r"(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|\[[0-9]+:[0-9]+(?::[0-9]+)?\])";
    Regex::new(&format!(r"(?i)^(?:{part}\.){{3}}{part}$")).expect("static regex")
});
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    let c = r"(?:[0-9a-f]{1,4}|\[[0-9a-f]+:[0-9a-f]+(?::[0-9]+)?\])";
    let alternatives = [
        format!("(?:{c}:){{7}}{c}"),
        format!("(?:{c}:){{1,6}}:"),
        format!("(?:{c}:)(?::{c}){{1,6}}"),
        format!("(?:{c}:){{2}}(?::{c}){{1,5}}"),
        format!("(?:{c}:){{3}}(?::{c}){{1,4}}"),
        format!("(?:{c}:){{4}}(?::{c}){{1,3}}"),
        format!("(?:{c}:){{5}}(?::{c}){{1,2}}"),
        format!("(?:{c}:){{6}}(?::{c})"),
        format!(":(?::{c}){{1,6}}"),
        format!("{c}?::"),
        format!(r"(?:0:){{6}}(?:{c}\.){{3}}{c}"),
        format!(r"::(?:ffff:)?(?:{c}\.){{3}}{c}"),
        format!(r"(?:0:){{5}}ffff:(?:{c}\.){{3}}{c}"),
    ];
    Regex::new(&format!("(?i)^(?:{})$", alternatives.join("|"))).expect("static regex")
});
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    // Ansible's label is "word chars, `-`, ranges, not ending in `_` or `-`"; it says the last
    // part with a lookbehind, which the regex crate lacks, so the last token is spelt out.
    let r = RANGE_ALNUM;
    let label = format!(r"(?:(?:\w|{r})(?:[\w-]|{r})*)?(?:[^\W_]|{r})");
    Regex::new(&format!(r"(?i)^{label}(?:\.{label})*$")).expect("static regex")
});

/// Splits `address` into a host and an optional port, as Ansible's `parse_address` does.
/// Errors when what is left is not a host name or an IP address.
pub(crate) fn parse_address(
    address: &str,
    allow_ranges: bool,
) -> Result<(String, Option<i64>), String> {
    let mut host = address.to_string();
    let mut port = None;
    // Ansible tries both forms in turn, the second on what the first left.
    for re in [&*BRACKETED_HOSTPORT, &*HOSTPORT] {
        if let Some(c) = re.captures(&host) {
            let p = c[2]
                .parse::<i64>()
                .map_err(|_| format!("Not a valid port number: {}", &c[2]))?;
            port = Some(p);
            host = c[1].to_string();
        }
    }
    if !(IPV4.is_match(&host) || IPV6.is_match(&host) || HOSTNAME.is_match(&host)) {
        return Err(format!("Not a valid network hostname: {host}"));
    }
    if !allow_ranges && host.contains('[') {
        return Err("Detected range in host but was asked to ignore ranges".into());
    }
    Ok((host, port))
}

/// A host pattern from an inventory: the host names it stands for and the port it names.
/// Like Ansible, a string that is not a valid address is taken whole as the name.
pub(crate) fn expand_host_pattern(pattern: &str) -> Result<(Vec<String>, Option<i64>), String> {
    let (name, port) = parse_address(pattern, true).unwrap_or_else(|_| (pattern.to_string(), None));
    let names = if name.contains('[') {
        expand_range(&name)?
    } else {
        vec![name]
    };
    Ok((names, port))
}

/// Expands the first `[begin:end(:step)]` in `line`, then any further ones in each result.
fn expand_range(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    expand_into(line, &mut out)?;
    Ok(out)
}

fn expand_into(line: &str, out: &mut Vec<String>) -> Result<(), String> {
    let open = line
        .find('[')
        .ok_or("host range must be begin:end or begin:end:step")?;
    let (head, rest) = line.split_at(open);
    let rest = &rest[1..];
    let close = rest
        .find(']')
        .ok_or_else(|| format!("host range in '{line}' is missing its closing ']'"))?;
    let (nrange, tail) = (&rest[..close], &rest[close + 1..]);
    if head.contains('|') || nrange.contains('|') || tail.contains('|') {
        // Ansible splits on '|' after replacing the brackets, so such a name cannot be expanded.
        return Err(format!("host range in '{line}' cannot contain '|'"));
    }
    let bounds: Vec<&str> = nrange.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err("host range must be begin:end or begin:end:step".into());
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err("host range must specify end value".into());
    }
    let step: i64 = match bounds.get(2) {
        Some(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("host range step '{s}' is not a number"))?,
        None => 1,
    };
    if step <= 0 {
        return Err(format!(
            "host range step must be a positive number, got {step}"
        ));
    }
    let width = if beg.starts_with('0') && beg.len() > 1 {
        if beg.len() != end.len() {
            return Err("host range must specify equal-length begin and end formats".into());
        }
        beg.len()
    } else {
        0
    };
    let items: Vec<String> = match (single_letter(beg), single_letter(end)) {
        (Some(b), Some(e)) => {
            const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
            let (ib, ie) = (LETTERS.find(b).unwrap_or(0), LETTERS.find(e).unwrap_or(0));
            if ib > ie {
                return Err("host range must have begin <= end".into());
            }
            LETTERS[ib..=ie]
                .chars()
                .step_by(step as usize)
                .map(|c| c.to_string())
                .collect()
        }
        _ => {
            let b: i64 = beg
                .trim()
                .parse()
                .map_err(|_| format!("host range begin '{beg}' is not a number or a letter"))?;
            let e: i64 = end
                .trim()
                .parse()
                .map_err(|_| format!("host range end '{end}' is not a number or a letter"))?;
            let count = if e < b {
                0
            } else {
                ((e - b) / step + 1) as u64
            };
            if count as usize > MAX_EXPANSION {
                return Err(format!(
                    "host range [{nrange}] expands to more than {MAX_EXPANSION} hosts"
                ));
            }
            (0..count)
                .map(|i| format!("{:0width$}", b + i as i64 * step))
                .collect()
        }
    };
    for item in items {
        if out.len() >= MAX_EXPANSION {
            return Err(format!(
                "host pattern '{line}' expands to more than {MAX_EXPANSION} hosts"
            ));
        }
        let name = format!("{head}{item}{tail}");
        if name.contains('[') {
            expand_into(&name, out)?;
        } else {
            out.push(name);
        }
    }
    Ok(())
}

fn single_letter(s: &str) -> Option<char> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphabetic() => Some(c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_addresses() {
        assert_eq!(
            parse_address("db1:2222", true),
            Ok(("db1".into(), Some(2222)))
        );
        assert_eq!(
            parse_address("[::1]:22", true),
            Ok(("::1".into(), Some(22)))
        );
        assert_eq!(
            parse_address("10.0.0.1", true),
            Ok(("10.0.0.1".into(), None))
        );
        assert_eq!(parse_address("fe80::1", true), Ok(("fe80::1".into(), None)));
        assert!(parse_address("host_", true).is_err());
        assert!(parse_address("a b", true).is_err());
        assert!(parse_address("web[1:2]", false).is_err());
    }

    #[test]
    fn ranges_expand_like_ansible() {
        assert_eq!(
            expand_host_pattern("etcd[01:03]").unwrap().0,
            ["etcd01", "etcd02", "etcd03"]
        );
        assert_eq!(
            expand_host_pattern("n[a:c].x:22").unwrap(),
            (vec!["na.x".into(), "nb.x".into(), "nc.x".into()], Some(22))
        );
        assert_eq!(
            expand_host_pattern("w[0:10:5]").unwrap().0,
            ["w0", "w5", "w10"]
        );
        assert_eq!(
            expand_host_pattern("r[1:2]-[a:b]").unwrap().0,
            ["r1-a", "r1-b", "r2-a", "r2-b"]
        );
        assert_eq!(expand_host_pattern("r[:1]").unwrap().0, ["r0", "r1"]);
        assert_eq!(
            expand_host_pattern("r[3:1]").unwrap().0,
            Vec::<String>::new()
        );
        assert!(expand_host_pattern("r[01:3]")
            .unwrap_err()
            .contains("equal-length"));
        assert!(expand_host_pattern("r[1:]")
            .unwrap_err()
            .contains("end value"));
        assert!(expand_host_pattern("r[1]")
            .unwrap_err()
            .contains("begin:end"));
        assert!(expand_host_pattern("r[0:99999999]")
            .unwrap_err()
            .contains("more than"));
    }
}
