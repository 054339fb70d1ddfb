//! Wall-clock timestamps as hosts print them, read into microseconds since the Unix epoch, so
//! that the start of a service (`systemctl show` with `--timestamp=us+utc`, e.g.
//! `Fri 2026-11-27 23:52:10.123456 UTC`) and the status change of a file (`stat -c %z`, e.g.
//! `2026-11-27 23:41:41.177738283 +0000`) can be compared. Only forms whose zone is known
//! (`UTC`, `GMT`, `Z`, `±HHMM`) are read: a time in an unnamed local zone is `None`, which
//! callers treat as "unknown", never as "older".

/// Microseconds since 1970-01-01 00:00:00 UTC of `text`, or `None` when it is empty, `n/a`,
/// or not one of the understood forms.
pub fn parse_micros(text: &str) -> Option<i64> {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    // systemd puts the weekday first.
    if words
        .first()
        .is_some_and(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
    {
        words.remove(0);
    }
    let [date, time, zone] = words.as_slice() else {
        return None;
    };
    let offset_secs = zone_offset(zone)?;
    let mut d = date.split('-');
    let (year, month, day) = (
        d.next()?.parse::<i64>().ok()?,
        d.next()?.parse::<u32>().ok()?,
        d.next()?.parse::<u32>().ok()?,
    );
    if d.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (hms, frac) = match time.split_once('.') {
        Some((hms, frac)) => (hms, frac),
        None => (*time, ""),
    };
    let mut t = hms.split(':');
    let (h, m, s) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    if t.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Microseconds: the first six digits, padded (nanoseconds are cut, never rounded up).
    let micros: i64 = format!("{:0<6}", &frac[..frac.len().min(6)]).parse().ok()?;
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s - offset_secs;
    Some(secs * 1_000_000 + micros)
}

/// Seconds east of UTC of a zone word.
fn zone_offset(zone: &str) -> Option<i64> {
    match zone {
        "UTC" | "GMT" | "Z" => Some(0),
        _ => {
            let (sign, digits) = match zone.as_bytes().first()? {
                b'+' => (1, &zone[1..]),
                b'-' => (-1, &zone[1..]),
                _ => return None,
            };
            let digits = digits.replace(':', "");
            if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let hours: i64 = digits[..2].parse().ok()?;
            let mins: i64 = digits[2..].parse().ok()?;
            Some(sign * (hours * 3600 + mins * 60))
        }
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's civil algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD HH:MM:SS UTC` of microseconds since the epoch, for messages.
pub fn format_micros(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // The inverse of days_from_civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_timestamps_with_microseconds() {
        // date -u -d '2026-11-27 23:52:10' +%s → 1795823530
        assert_eq!(
            parse_micros("Fri 2026-11-27 23:52:10.123456 UTC"),
            Some(1_795_823_530_123_456)
        );
        assert_eq!(
            parse_micros("Fri 2026-11-27 23:52:10 UTC"),
            Some(1_795_823_530_000_000)
        );
        assert_eq!(parse_micros("Thu 1970-01-01 00:00:00 UTC"), Some(0));
        // Leap day and the turn of a year.
        assert_eq!(
            parse_micros("Thu 2024-02-29 12:00:00 UTC"),
            Some(1_709_208_000_000_000)
        );
        assert_eq!(
            parse_micros("Thu 2026-12-31 23:59:59.999999 UTC"),
            Some(1_798_761_599_999_999)
        );
    }

    #[test]
    fn stat_change_times_with_nanoseconds_and_offsets() {
        assert_eq!(
            parse_micros("2026-11-27 23:52:10.123456789 +0000"),
            Some(1_795_823_530_123_456)
        );
        // An offset east of UTC is an earlier instant than the same wall time in UTC.
        assert_eq!(
            parse_micros("2026-11-28 01:22:10.5 +0130"),
            Some(1_795_823_530_500_000)
        );
        assert_eq!(
            parse_micros("2026-11-27 18:52:10 -05:00"),
            Some(1_795_823_530_000_000)
        );
    }

    #[test]
    fn unknown_or_empty_times_are_none() {
        for bad in [
            "",
            "n/a",
            "Fri 2026-11-27 23:52:10 CET",
            "2026-11-27 23:52:10",
            "2026-13-01 00:00:00 UTC",
            "2026-11-27 24:00:00 UTC",
            "2026-11-27 23:52:1x UTC",
            "2026-11-27 23:52:10.12a UTC",
            "-",
        ] {
            assert_eq!(parse_micros(bad), None, "{bad}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for t in [
            "2026-11-27 23:52:10 UTC",
            "1970-01-01 00:00:00 UTC",
            "2024-02-29 12:00:00 UTC",
            "2000-03-01 00:00:01 UTC",
        ] {
            let micros = parse_micros(t).unwrap();
            assert_eq!(format_micros(micros), t);
        }
    }
}
