//! Ansible's global template functions beyond lookups: `now(utc=False, fmt=None)`, a Python
//! `datetime` (attributes `year` .. `microsecond`, methods `strftime`, `isoformat`,
//! `timestamp`) or, with `fmt`, its `strftime` text. Time zones come from the system's tz
//! database through `jiff`.

use std::fmt;
use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::Zoned;
use minijinja::value::{Kwargs, Object, ObjectRepr, Value};
use minijinja::{Environment, Error, ErrorKind, State};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_function("now", now);
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// `now(utc=False, fmt=None)`.
fn now(utc: Option<bool>, fmt: Option<String>, kwargs: Kwargs) -> Result<Value, Error> {
    let utc = kwargs.get::<Option<bool>>("utc")?.or(utc).unwrap_or(false);
    let fmt = kwargs.get::<Option<String>>("fmt")?.or(fmt);
    kwargs.assert_all_used()?;
    let zone = if utc {
        TimeZone::UTC
    } else {
        TimeZone::system()
    };
    let time = DateTime {
        zoned: Zoned::now().with_time_zone(zone),
    };
    match fmt {
        Some(fmt) => Ok(Value::from(time.strftime(&fmt)?)),
        None => Ok(Value::from_object(time)),
    }
}

/// A Python naive `datetime` (Ansible's `now()` returns one without a time zone).
#[derive(Debug)]
pub(crate) struct DateTime {
    zoned: Zoned,
}

impl DateTime {
    fn microsecond(&self) -> i32 {
        self.zoned.subsec_nanosecond() / 1_000
    }

    /// Python's `strftime`: jiff's, with `%f` as six digits of microseconds.
    fn strftime(&self, fmt: &str) -> Result<String, Error> {
        if fmt.len() > 4096 {
            return Err(invalid("strftime: format longer than 4096 bytes"));
        }
        let mut prepared = String::with_capacity(fmt.len());
        let mut chars = fmt.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                prepared.push(c);
                continue;
            }
            match chars.next() {
                Some('f') => prepared.push_str(&format!("{:06}", self.microsecond())),
                Some(other) => {
                    prepared.push('%');
                    prepared.push(other);
                }
                None => prepared.push('%'),
            }
        }
        jiff::fmt::strtime::format(prepared.as_str(), &self.zoned)
            .map_err(|e| invalid(format!("strftime: {e}")))
    }

    fn isoformat(&self) -> String {
        let base = self.zoned.strftime("%Y-%m-%dT%H:%M:%S").to_string();
        match self.microsecond() {
            0 => base,
            us => format!("{base}.{us:06}"),
        }
    }
}

impl fmt::Display for DateTime {
    /// `str(datetime)`: `YYYY-MM-DD HH:MM:SS[.ffffff]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.isoformat().replacen('T', " ", 1))
    }
}

impl Object for DateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let z = &self.zoned;
        Some(Value::from(match key.as_str()? {
            "year" => i32::from(z.year()),
            "month" => i32::from(z.month()),
            "day" => i32::from(z.day()),
            "hour" => i32::from(z.hour()),
            "minute" => i32::from(z.minute()),
            "second" => i32::from(z.second()),
            "microsecond" => self.microsecond(),
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match (method, args) {
            ("strftime", [fmt]) => Ok(Value::from(
                self.strftime(fmt.as_str().unwrap_or_default())?,
            )),
            ("isoformat", []) => Ok(Value::from(self.isoformat())),
            ("timestamp", []) => Ok(Value::from(
                self.zoned.timestamp().as_millisecond() as f64 / 1000.0,
            )),
            ("weekday", []) => Ok(Value::from(i32::from(
                self.zoned.weekday().to_monday_zero_offset(),
            ))),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("datetime has no method {method}"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result
    where
        Self: Sized + 'static,
    {
        fmt::Display::fmt(self.as_ref(), f)
    }
}
