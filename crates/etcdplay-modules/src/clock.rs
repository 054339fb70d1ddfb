//! Wall-clock stamps in the `2026-01-31 12:00:00.123456` form Ansible's command results use
//! (`start`, `end`, `delta`), without pulling a date library into the crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Formats a UTC time as `YYYY-MM-DD HH:MM:SS.ffffff`.
pub(crate) fn stamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, dd) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{dd:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Formats epoch seconds plus microseconds as UTC ISO 8601 (`2026-01-31T12:00:00Z`, or with
/// `.ffffff` when `micro` is true).
pub(crate) fn iso8601(epoch: u64, micros: u32, micro: bool) -> String {
    let s =
        stamp(UNIX_EPOCH + Duration::from_secs(epoch) + Duration::from_micros(u64::from(micros)));
    let (date, time) = s.split_once(' ').unwrap_or((&s, ""));
    let time = if micro {
        time
    } else {
        time.split('.').next().unwrap_or(time)
    };
    format!("{date}T{time}Z")
}

/// Formats a duration as `H:MM:SS.ffffff`.
pub(crate) fn delta(d: Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}:{:02}:{:02}.{:06}",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(stamp(t), "2023-11-14 22:13:20.123456");
        assert_eq!(
            stamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00.000000"
        );
        assert_eq!(
            iso8601(1_700_000_000, 42, true),
            "2023-11-14T22:13:20.000042Z"
        );
        assert_eq!(iso8601(1_700_000_000, 42, false), "2023-11-14T22:13:20Z");
        assert_eq!(delta(Duration::from_millis(3_723_500)), "1:02:03.500000");
    }
}
