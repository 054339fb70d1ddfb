//! `--timing`: where the wall time of a run went, printed after the recap, slowest first
//! within the list's order kept readable: one line per phase with its slowest host.

use std::time::Duration;

use etcdplay_engine::TimingEntry;

/// The timing table as text.
pub(crate) fn render(entries: &[TimingEntry], total: Duration) -> String {
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
    out
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
        let text = render(&entries, Duration::from_millis(2000));
        assert_eq!(
            text,
            "TIMING ************************************************************************\n    1.234s  etcds : Start etcd daemon (slowest: lab2)\n    2.000s  total wall time\n"
        );
    }
}
