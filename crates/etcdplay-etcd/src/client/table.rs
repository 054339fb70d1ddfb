//! `etcdctl endpoint status -w table`-style rendering: an ASCII table with `+---+` borders,
//! centred headers and right-aligned cells, plus health and latency columns so that one
//! table answers both `endpoint status` and `endpoint health`.

use std::time::Duration;

use crate::client::status::EndpointStatus;

const HEADERS: [&str; 12] = [
    "ENDPOINT",
    "ID",
    "NAME",
    "VERSION",
    "IS LEADER",
    "RAFT TERM",
    "RAFT INDEX",
    "DB SIZE",
    "QUOTA",
    "ALARMS",
    "HEALTHY",
    "LATENCY",
];

/// Shown for a value the endpoint could not report.
const UNKNOWN: &str = "-";

/// Renders the statuses as a table, one row per endpoint, ending with a newline.
pub fn render_status_table(statuses: &[EndpointStatus]) -> String {
    let rows: Vec<[String; 12]> = statuses.iter().map(row).collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let border = {
        let mut line = String::from("+");
        for w in &widths {
            line.push_str(&"-".repeat(w + 2));
            line.push('+');
        }
        line.push('\n');
        line
    };
    let mut out = border.clone();
    out.push('|');
    for (h, w) in HEADERS.iter().zip(&widths) {
        let gap = w - h.chars().count();
        let left = gap / 2;
        out.push_str(&format!(
            " {}{}{} |",
            " ".repeat(left),
            h,
            " ".repeat(gap - left)
        ));
    }
    out.push('\n');
    out.push_str(&border);
    for r in &rows {
        out.push('|');
        for (cell, w) in r.iter().zip(&widths) {
            out.push_str(&format!(" {cell:>w$} |"));
        }
        out.push('\n');
    }
    out.push_str(&border);
    out
}

fn row(s: &EndpointStatus) -> [String; 12] {
    let known = s.version.is_some();
    let opt = |v: Option<String>| v.unwrap_or_else(|| UNKNOWN.to_string());
    [
        s.endpoint.clone(),
        opt(s.member_id_hex()),
        opt(s.name.clone()),
        opt(s.version.clone()),
        if known {
            s.is_leader.to_string()
        } else {
            UNKNOWN.to_string()
        },
        opt(s.raft_term.map(|t| t.to_string())),
        opt(s.raft_index.map(|i| i.to_string())),
        opt(s.db_size.map(human_bytes)),
        opt(s.quota_bytes.map(|q| quota(s.db_size, q))),
        if s.alarms.is_empty() {
            UNKNOWN.to_string()
        } else {
            s.alarms.join(",")
        },
        s.healthy.to_string(),
        opt(s.latency.filter(|_| s.healthy).map(latency)),
    ]
}

/// The quota and how much of it the backend fills: "2.1 GB (1%)".
fn quota(db_size: Option<i64>, quota: i64) -> String {
    match db_size {
        Some(size) if quota > 0 => format!(
            "{} ({}%)",
            human_bytes(quota),
            (size.max(0) as f64 * 100.0 / quota as f64).round()
        ),
        _ => human_bytes(quota),
    }
}

fn latency(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

/// Byte counts in SI units as etcdctl shows them ("20 kB", "1.2 MB"): one decimal below
/// ten units, none above.
pub(crate) fn human_bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    if n < 10.0 {
        return format!("{n} B");
    }
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let exp = ((n.ln() / 1000f64.ln()).floor() as usize).min(UNITS.len() - 1);
    let value = (n / 1000f64.powi(exp as i32) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[exp])
    } else {
        format!("{value:.0} {}", UNITS[exp])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_like_etcdctl() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(9), "9 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(20480), "20 kB");
        assert_eq!(human_bytes(1_234_567), "1.2 MB");
        assert_eq!(human_bytes(2_147_483_648), "2.1 GB");
    }

    #[test]
    fn table_matches_snapshot() {
        let leader = EndpointStatus {
            endpoint: "https://10.0.0.11:2379".into(),
            member_id: Some(0x8e9e05c52164694d),
            name: Some("etcd1".into()),
            version: Some("3.4.23".into()),
            db_size: Some(20480),
            is_leader: true,
            is_learner: false,
            leader_id: Some(0x8e9e05c52164694d),
            raft_term: Some(2),
            raft_index: Some(1234),
            raft_applied_index: None,
            db_size_in_use: None,
            cluster_id: None,
            revision: None,
            healthy: true,
            latency: Some(Duration::from_micros(2345)),
            error: None,
            alarms: Vec::new(),
            quota_bytes: Some(2_147_483_648),
        };
        let follower = EndpointStatus {
            endpoint: "https://10.0.0.12:2379".into(),
            member_id: Some(0xa1),
            name: Some("etcd2".into()),
            is_leader: false,
            raft_index: Some(99),
            db_size: Some(16_900_000),
            quota_bytes: Some(16_777_216),
            alarms: vec!["NOSPACE".into()],
            healthy: false,
            latency: Some(Duration::from_millis(12)),
            ..leader.clone()
        };
        let dead = EndpointStatus::failed("https://10.0.0.13:2379", "connection refused".into());
        let expected = "\
+------------------------+------------------+-------+---------+-----------+-----------+------------+---------+--------------+---------+---------+---------+
|        ENDPOINT        |        ID        | NAME  | VERSION | IS LEADER | RAFT TERM | RAFT INDEX | DB SIZE |    QUOTA     | ALARMS  | HEALTHY | LATENCY |
+------------------------+------------------+-------+---------+-----------+-----------+------------+---------+--------------+---------+---------+---------+
| https://10.0.0.11:2379 | 8e9e05c52164694d | etcd1 |  3.4.23 |      true |         2 |       1234 |   20 kB |  2.1 GB (0%) |       - |    true |   2.3ms |
| https://10.0.0.12:2379 |               a1 | etcd2 |  3.4.23 |     false |         2 |         99 |   17 MB | 17 MB (101%) | NOSPACE |   false |       - |
| https://10.0.0.13:2379 |                - |     - |       - |         - |         - |          - |       - |            - |       - |   false |       - |
+------------------------+------------------+-------+---------+-----------+-----------+------------+---------+--------------+---------+---------+---------+
";
        assert_eq!(render_status_table(&[leader, follower, dead]), expected);
    }
}
