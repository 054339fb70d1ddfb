//! The `modification_time`/`access_time` arguments of `file` (with their `*_format`): `preserve`,
//! `now`, or a time written in a Python `strptime` format (`%Y%m%d%H%M.%S` by default) that
//! Ansible reads as the host's local time (`time.mktime`). The control node only reads the
//! format; the host turns the calendar time into seconds (`date -d`), so its time zone is the
//! one that counts, as with Ansible, whose module runs on the host.

use etcdplay_transport::script::sh_quote;

/// Ansible's default `modification_time_format` and `access_time_format`.
pub(crate) const DEFAULT_FORMAT: &str = "%Y%m%d%H%M.%S";

/// What a timestamp argument asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimeArg {
    /// Leave the time as it is.
    Preserve,
    /// Set it to the current time (always a change, as with Ansible).
    Now,
    /// Set it to this local calendar time, written `YYYY-MM-DD HH:MM:SS` for `date -d`.
    At(String),
}

impl TimeArg {
    /// Reads an argument's value; `None` is Ansible's default: `now` for `state: touch`,
    /// `preserve` otherwise. The error is Ansible's message.
    pub(crate) fn parse(value: Option<&str>, format: &str, touch: bool) -> Result<TimeArg, String> {
        match value {
            None if touch => Ok(TimeArg::Now),
            None | Some("preserve") => Ok(TimeArg::Preserve),
            Some("now") => Ok(TimeArg::Now),
            Some(text) => strptime(text, format).map(TimeArg::At).map_err(|why| {
                format!(
                    "Error while obtaining timestamp for time {text} using format {format}: {why}"
                )
            }),
        }
    }

    /// A shell command printing the seconds since the epoch this time is on the host, for the
    /// probe (nothing to print for `preserve` and `now`).
    pub(crate) fn probe_command(&self) -> Option<String> {
        match self {
            TimeArg::At(calendar) => Some(format!("date -d {} +%s\n", sh_quote(calendar))),
            TimeArg::Preserve | TimeArg::Now => None,
        }
    }

    /// Whether the time must be set, given the probe's seconds for `At` and the path's current
    /// time; and the `touch -d` argument that sets it (`None`: the current time).
    pub(crate) fn plan(&self, wanted_seconds: Option<i64>, current: f64) -> Option<Option<i64>> {
        match self {
            TimeArg::Preserve => None,
            TimeArg::Now => Some(None),
            // Ansible compares the float `st_mtime` with mktime's whole seconds.
            TimeArg::At(_) => {
                let wanted = wanted_seconds?;
                (wanted as f64 != current).then_some(Some(wanted))
            }
        }
    }
}

/// The `touch` command that sets one time (`-m` or `-a`) of `path` (the path is quoted).
pub(crate) fn touch_command(flag: &str, seconds: Option<i64>, quoted_path: &str) -> String {
    match seconds {
        Some(s) => format!("touch -c {flag} -d @{s} -- {quoted_path}"),
        None => format!("touch -c {flag} -- {quoted_path}"),
    }
}

/// Parses `text` with the `strptime` directives `%Y %y %m %d %H %M %S %%` (numbers of one or two
/// digits, four for `%Y`, as Python reads them); fields not in the format are 1900-01-01
/// 00:00:00, Python's defaults. Returns `YYYY-MM-DD HH:MM:SS`.
pub(crate) fn strptime(text: &str, format: &str) -> Result<String, String> {
    let mismatch = || format!("time data '{text}' does not match format '{format}'");
    let mut fields = [1900i64, 1, 1, 0, 0, 0];
    let mut rest = text;
    let mut fmt = format.chars();
    while let Some(c) = fmt.next() {
        if c != '%' {
            rest = rest.strip_prefix(c).ok_or_else(mismatch)?;
            continue;
        }
        let directive = fmt.next().ok_or_else(|| "stray % in format".to_owned())?;
        let (slot, width) = match directive {
            'Y' => (0, 4),
            'y' => (0, 2),
            'm' => (1, 2),
            'd' => (2, 2),
            'H' => (3, 2),
            'M' => (4, 2),
            'S' => (5, 2),
            '%' => {
                rest = rest.strip_prefix('%').ok_or_else(mismatch)?;
                continue;
            }
            other => return Err(format!("the format directive %{other} is not supported")),
        };
        let digits = rest
            .chars()
            .take(width)
            .take_while(char::is_ascii_digit)
            .count();
        if digits == 0 {
            return Err(mismatch());
        }
        let value: i64 = rest[..digits].parse().map_err(|_| mismatch())?;
        rest = &rest[digits..];
        // Python: %y 69-99 are 1969-1999, 0-68 are 2000-2068.
        fields[slot] = match directive {
            'y' if value >= 69 => 1900 + value,
            'y' => 2000 + value,
            _ => value,
        };
    }
    if !rest.is_empty() {
        return Err(format!("unconverted data remains: {rest}"));
    }
    let [year, month, day, hour, minute, second] = fields;
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 62;
    if !valid {
        return Err(mismatch());
    }
    Ok(format!(
        "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"
    ))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Python 3.11: time.strptime('202401021504.07', '%Y%m%d%H%M.%S') -> 2024-01-02 15:04:07;
    // time.strptime('2024-1-2', '%Y-%m-%d') -> 2024-01-02 00:00:00; '24' with '%y' -> 2024,
    // '70' -> 1970; a trailing character: "unconverted data remains: x"; '2024-02-30' with
    // '%Y-%m-%d' is refused.
    #[test]
    fn reads_formats_as_python_strptime_does() {
        assert_eq!(
            strptime("202401021504.07", DEFAULT_FORMAT).as_deref(),
            Ok("2024-01-02 15:04:07")
        );
        assert_eq!(
            strptime("2024-1-2", "%Y-%m-%d").as_deref(),
            Ok("2024-01-02 00:00:00")
        );
        assert_eq!(strptime("24", "%y").as_deref(), Ok("2024-01-01 00:00:00"));
        assert_eq!(strptime("70", "%y").as_deref(), Ok("1970-01-01 00:00:00"));
        assert_eq!(
            strptime("202401021504.07x", DEFAULT_FORMAT),
            Err("unconverted data remains: x".to_owned())
        );
        assert!(strptime("2024-02-30", "%Y-%m-%d").is_err());
        assert!(strptime("2024", "%b").is_err());
    }

    // Ansible's file module: no modification_time is `preserve`, except for `state: touch`
    // where it is `now`; a bad time fails with "Error while obtaining timestamp for time ...".
    #[test]
    fn defaults_and_errors_are_ansibles() {
        assert_eq!(TimeArg::parse(None, DEFAULT_FORMAT, true), Ok(TimeArg::Now));
        assert_eq!(
            TimeArg::parse(None, DEFAULT_FORMAT, false),
            Ok(TimeArg::Preserve)
        );
        assert_eq!(
            TimeArg::parse(Some("preserve"), DEFAULT_FORMAT, true),
            Ok(TimeArg::Preserve)
        );
        let err = TimeArg::parse(Some("tomorrow"), DEFAULT_FORMAT, false).unwrap_err();
        assert!(err.starts_with(
            "Error while obtaining timestamp for time tomorrow using format %Y%m%d%H%M.%S: "
        ));
    }

    #[test]
    fn a_time_already_set_is_no_change() {
        let at = TimeArg::At("2024-01-02 15:04:07".into());
        assert_eq!(at.plan(Some(100), 100.0), None);
        assert_eq!(at.plan(Some(100), 100.5), Some(Some(100)));
        assert_eq!(TimeArg::Now.plan(None, 1.0), Some(None));
        assert_eq!(TimeArg::Preserve.plan(None, 1.0), None);
    }
}
