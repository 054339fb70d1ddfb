//! `--timing`: where the wall time of a run went, printed after the recap, slowest first
//! within the list's order kept readable: one line per phase with its slowest host; then how
//! many processes the hosts started (their pid counters, read after connecting and before
//! closing).

use std::time::Duration;

use etcdplay_engine::TimingEntry;

/// The timing table as text.
pub(crate) fn render(
    entries: &[TimingEntry],
    processes: &[(String, u64)],
    total: Duration,
) -> String {
    let mut out = String::from(
        "TIMING ************************************************************************\n",
    );
    for e in entries {
        let host = e
            .slowest_host
            .as_ref()
            .map(|h| format!(" (slowest: {h})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:>9.3}s  {}{}\n",
            e.wall.as_secs_f64(),
            e.phase,
            host
        ));
    }
    out.push_str(&format!("{:>9.3}s  total wall time\n", total.as_secs_f64()));
    if let Some(line) = processes_line(processes) {
        out.push_str(&line);
    }
    out
}

/// `processes per host: median N (min–max, most on HOST)`, or nothing without SSH hosts.
fn processes_line(processes: &[(String, u64)]) -> Option<String> {
    let mut counts: Vec<u64> = processes.iter().map(|(_, n)| *n).collect();
    counts.sort_unstable();
    let median = *counts.get(counts.len() / 2)?;
    let (most_host, most) = processes.iter().max_by_key(|(_, n)| *n)?;
    Some(format!(
        "processes per host: median {median} ({}–{most}, most on {most_host}), \
         from the host's pid counter between the first request and the last\n",
        counts[0]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_phase_and_a_total() {
        let entries = vec![TimingEntry {
            phase: "etcds : Start etcd daemon".into(),
            slowest_host: Some("lab2".into()),
            wall: Duration::from_millis(1234),
        }];
        let text = render(&entries, &[], Duration::from_millis(2000));
        assert_eq!(
            text,
            "TIMING ************************************************************************\n    1.234s  etcds : Start etcd daemon (slowest: lab2)\n    2.000s  total wall time\n"
        );
    }

    #[test]
    fn processes_per_host_as_median_range_and_busiest_host() {
        let counts = [("a".to_string(), 30), ("b".into(), 41), ("c".into(), 33)];
        let text = render(&[], &counts, Duration::from_millis(1000));
        assert!(
            text.ends_with(
                "processes per host: median 33 (30–41, most on b), from the host's pid \
                 counter between the first request and the last\n"
            ),
            "{text}"
        );
    }
}
