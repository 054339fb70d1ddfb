//! `timezone` (community.general): the system time zone and whether the hardware clock keeps
//! local time. Where `timedatectl` answers (systemd), both are read from `timedatectl status`
//! and set with `set-timezone`/`set-local-rtc`, as the collection's systemd class does;
//! elsewhere the zone is the `/etc/localtime` link into `/usr/share/zoneinfo` (and
//! `/etc/timezone`, when the host has one), as its Debian class keeps it. One probe reads it
//! all and checks that the zone exists; the result's diff is `{name, hwclock}` before/after.

use std::sync::Arc;

use etcdplay_transport::script::sh_quote;
use serde_json::{Map, Value};

use crate::args::to_bool;
use crate::host::Ctx;
use crate::probe::section;
use crate::read_ahead::{sections, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::{Diff, ModuleError, ModuleResult};
use etcdplay_transport::ExecOutput;

/// The zone and clock as `timedatectl status` prints them (`Time zone: Europe/Paris (CET,
/// +0100)`, `RTC in local TZ: no`).
pub(crate) fn parse_timedatectl(status: &str) -> (Option<String>, Option<String>) {
    let mut zone = None;
    let mut hwclock = None;
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let first = value.split_whitespace().next().map(str::to_string);
        match key.trim() {
            "Time zone" | "Timezone" => zone = first,
            "RTC in local TZ" => {
                hwclock = first.map(|v| {
                    if to_bool(&Value::String(v)).unwrap_or(false) {
                        "local".to_string()
                    } else {
                        "UTC".to_string()
                    }
                })
            }
            _ => {}
        }
    }
    (zone, hwclock)
}

/// The zone `/etc/localtime` links to, `n/a` otherwise (as the collection reports it).
pub(crate) fn zone_of_link(target: &str) -> String {
    target
        .split_once("/usr/share/zoneinfo/")
        .map(|(_, z)| z.to_string())
        .filter(|z| !z.is_empty())
        .unwrap_or_else(|| "n/a".to_string())
}

/// `timezone`'s probe: `timedatectl status` where systemd runs, the `/etc/localtime` link,
/// `/etc/timezone`, and whether the zone asked for exists.
pub(crate) struct TimezoneProbe;

impl FirstProbe for TimezoneProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let zone_check = match input.args.str("name") {
            Some(z) => format!(
                "[ -f {} ] && echo yes\n",
                sh_quote(&format!("/usr/share/zoneinfo/{z}"))
            ),
            None => "echo yes\n".to_string(),
        };
        Ok(Some(with_funcs(&format!(
            "{}if command -v timedatectl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then timedatectl status 2>/dev/null && echo '@@ok'; fi\n\
             {}readlink /etc/localtime 2>/dev/null || :\n{}cat /etc/timezone 2>/dev/null || :\n{}{zone_check}{}",
            section("status"),
            section("link"),
            section("etc_timezone"),
            section("zone"),
            section("end")
        ))))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let name = a.str("name");
    let hwclock = match a.str("hwclock") {
        None => None,
        Some(h) if h.eq_ignore_ascii_case("local") => Some("local".to_string()),
        Some(h) if h.eq_ignore_ascii_case("utc") => Some("UTC".to_string()),
        Some(h) => return Err(ctx.bad("hwclock", format!("value '{h}' is not one of: local, UTC"))),
    };
    if name.is_none() && hwclock.is_none() {
        return Err(ctx.bad("name", "one of the following is required: name, hwclock"));
    }
    let s = ctx.read_probe::<TimezoneProbe>().await?;
    let text = |k: &str| {
        String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default()).into_owned()
    };
    if let Some(z) = &name {
        if text("zone").trim() != "yes" {
            return Ok(ModuleResult::fail(format!(
                "Error message:\ngiven timezone \"{z}\" is not available"
            )));
        }
    }
    let status = text("status");
    let systemd = status.contains("@@ok");
    let (zone_now, clock_now) = if systemd {
        let (z, h) = parse_timedatectl(&status);
        (
            z.unwrap_or_else(|| "n/a".into()),
            h.unwrap_or_else(|| "n/a".into()),
        )
    } else {
        (zone_of_link(text("link").trim()), "n/a".to_string())
    };
    if hwclock.is_some() && !systemd {
        return Ok(ModuleResult::fail(
            "etcdplay's timezone sets hwclock only through timedatectl (systemd)",
        ));
    }
    let mut before = Map::new();
    let mut after = Map::new();
    let mut commands = Vec::new();
    if let Some(z) = &name {
        before.insert("name".into(), Value::String(zone_now.clone()));
        after.insert("name".into(), Value::String(z.clone()));
        if *z != zone_now {
            commands.push(if systemd {
                format!("timedatectl set-timezone {}", sh_quote(z))
            } else {
                format!(
                    "ln -sf {} /etc/localtime",
                    sh_quote(&format!("/usr/share/zoneinfo/{z}"))
                )
            });
        }
    }
    if let Some(h) = &hwclock {
        before.insert("hwclock".into(), Value::String(clock_now.clone()));
        after.insert("hwclock".into(), Value::String(h.clone()));
        if *h != clock_now {
            let local = if h == "local" { "yes" } else { "no" };
            commands.push(format!("timedatectl set-local-rtc {local}"));
        }
    }
    let mut res = ModuleResult::ok();
    res.changed = !commands.is_empty();
    if res.changed {
        res.diff = Some(Diff {
            before: Value::Object(before),
            after: Value::Object(after),
            before_header: None,
            after_header: None,
        });
    }
    if !res.changed || ctx.call.check {
        res.msg = Some(String::new());
        return Ok(res);
    }
    let keeps_etc_timezone = !systemd && !text("etc_timezone").trim().is_empty();
    if let (true, Some(z)) = (keeps_etc_timezone, &name) {
        ctx.put(
            "/etc/timezone",
            Arc::new(format!("{z}\n").into_bytes()),
            None,
            None,
            None,
        )
        .await?;
    }
    if let Err(msg) = ctx.change(commands.join(" && ") + "\n").await? {
        return Ok(ModuleResult::fail(format!("Error message:\n{msg}")));
    }
    res.msg = Some(
        commands
            .iter()
            .map(|c| format!("executed `{c}`"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timedatectl_and_links_give_the_zone() {
        // As Debian bookworm's `timedatectl status` prints it.
        let status = "               Local time: Fri 2026-12-04 23:50:58 UTC\n\
           Universal time: Fri 2026-12-04 23:50:58 UTC\n\
                 RTC time: n/a\n\
                Time zone: Etc/UTC (UTC, +0000)\n\
System clock synchronized: no\n\
              NTP service: n/a\n\
          RTC in local TZ: no\n";
        assert_eq!(
            parse_timedatectl(status),
            (Some("Etc/UTC".into()), Some("UTC".into()))
        );
        assert_eq!(
            zone_of_link("/usr/share/zoneinfo/Europe/Paris"),
            "Europe/Paris"
        );
        assert_eq!(
            zone_of_link("../usr/share/zoneinfo/Asia/Tokyo"),
            "Asia/Tokyo"
        );
        assert_eq!(zone_of_link(""), "n/a");
    }
}
