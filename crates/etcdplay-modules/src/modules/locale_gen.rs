//! `locale_gen` (community.general): locales generated or not, as the collection manages
//! them. A locale is present when `locale -a` lists it (encodings compared after the
//! collection's normalisation, `en_US.utf8` is `en_US.UTF-8`); it must be offered by
//! `/etc/locale.gen` (Ubuntu: `/usr/share/i18n/SUPPORTED`) or already be there. On Debian the
//! locale's line in `/etc/locale.gen` is uncommented (or commented) and `locale-gen` runs; on
//! Ubuntu (`/var/lib/locales/supported.d/`) `locale-gen NAME` adds it and a removal edits
//! `supported.d/local` and runs `locale-gen --purge`. One probe reads it all.

use std::sync::Arc;

use etcdplay_transport::script::sh_quote;

use crate::host::Ctx;
use crate::probe::{decode_b64, section};
use crate::read_ahead::{sections, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::{ModuleError, ModuleResult};
use etcdplay_transport::ExecOutput;

const NORMALIZED: &[(&str, &str)] = &[
    (".utf8", ".UTF-8"),
    (".eucjp", ".EUC-JP"),
    (".iso885915", ".ISO-8859-15"),
    (".cp1251", ".CP1251"),
    (".koi8r", ".KOI8-R"),
    (".armscii8", ".ARMSCII-8"),
    (".euckr", ".EUC-KR"),
    (".gbk", ".GBK"),
    (".gb18030", ".GB18030"),
    (".euctw", ".EUC-TW"),
];

fn normalized(name: &str) -> String {
    NORMALIZED
        .iter()
        .fold(name.to_string(), |n, (from, to)| n.replace(from, to))
}

/// The names of `wanted` that `locale -a` does not list.
pub(crate) fn not_present<'a>(wanted: &'a [String], locale_a: &str) -> Vec<&'a str> {
    let have: Vec<String> = locale_a.lines().map(normalized).collect();
    wanted
        .iter()
        .filter(|w| !have.contains(&normalized(w)))
        .map(String::as_str)
        .collect()
}

/// The locale a `locale.gen`/`SUPPORTED` line offers (`# de_CH.UTF-8 UTF-8` offers
/// `de_CH.UTF-8`).
fn offered(line: &str) -> Option<&str> {
    let body = line.strip_prefix('#').unwrap_or(line).trim_start();
    let mut words = body.split_whitespace();
    let (name, _charset) = (words.next()?, words.next()?);
    words.next().is_none().then_some(name)
}

/// `/etc/locale.gen` with the lines of `names` uncommented (`enable`) or commented out.
pub(crate) fn set_lines(text: &str, names: &[String], enable: bool) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let body = line.strip_prefix('#').unwrap_or(line).trim_start();
            let hit = names.iter().find_map(|n| {
                body.strip_prefix(n.as_str())
                    .and_then(|rest| rest.strip_prefix(' '))
                    .filter(|charset| !charset.trim().is_empty())
            });
            match hit {
                Some(charset) if enable => {
                    let name = &body[..body.len() - charset.len() - 1];
                    format!("{name} {charset}")
                }
                Some(charset) => {
                    let name = &body[..body.len() - charset.len() - 1];
                    format!("# {name} {charset}")
                }
                None => line.to_string(),
            }
        })
        .collect()
}

/// `locale_gen`'s probe: whether the host keeps Ubuntu's `supported.d`, the files offering
/// and listing locales, and `locale -a`; the same for every task.
pub(crate) struct LocaleProbe;

impl FirstProbe for LocaleProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        input
            .args
            .list("name")?
            .ok_or_else(|| ModuleError::missing("locale_gen", "name"))?;
        Ok(Some(with_funcs(&format!(
            "{}[ -d /var/lib/locales/supported.d/ ] && echo yes\n{}ep_b64 /etc/locale.gen\n{}ep_b64 /usr/share/i18n/SUPPORTED\n{}ep_b64 /var/lib/locales/supported.d/local\n{}locale -a 2>/dev/null || :\n{}",
            section("ubuntu"),
            section("gen"),
            section("supported"),
            section("local"),
            section("locales"),
            section("end")
        ))))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let names = a
        .list("name")?
        .ok_or_else(|| ModuleError::missing("locale_gen", "name"))?;
    let present = a.choice("state", &["absent", "present"], "present")? == "present";
    let s = ctx.read_probe::<LocaleProbe>().await?;
    let text = |k: &str| {
        String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default()).into_owned()
    };
    let file =
        |k: &str| String::from_utf8_lossy(&decode_b64(s.get(k)).unwrap_or_default()).into_owned();
    let ubuntu = text("ubuntu").trim() == "yes";
    let gen = file("gen");
    if !ubuntu && s.get("gen").is_none_or(|g| g.trim_ascii().is_empty()) {
        return Ok(ModuleResult::fail(
            "/var/lib/locales/supported.d/ and /etc/locale.gen are missing. Is the package \"locales\" installed?",
        ));
    }
    let available = if ubuntu {
        file("supported")
    } else {
        gen.clone()
    };
    let locale_a = text("locales");
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| !available.lines().any(|l| offered(l) == Some(n.as_str())))
        .map(String::as_str)
        .filter(|n| not_present(&[n.to_string()], &locale_a).len() == 1)
        .collect();
    if !unknown.is_empty() {
        return Ok(ModuleResult::fail(format!(
            "The following locales you've entered are not available on your system: {}",
            unknown.join(", ")
        )));
    }
    let is_present = not_present(&names, &locale_a).is_empty();
    let mut res = ModuleResult::ok();
    res.set("name", names.clone());
    res.changed = is_present != present;
    if !res.changed || ctx.call.check {
        return Ok(res);
    }
    let quoted: Vec<String> = names.iter().map(|n| sh_quote(n)).collect();
    let command = match (ubuntu, present) {
        (false, _) => {
            let new = set_lines(&gen, &names, present);
            ctx.put(
                "/etc/locale.gen",
                Arc::new(new.into_bytes()),
                None,
                None,
                None,
            )
            .await?;
            "locale-gen\n".to_string()
        }
        (true, true) => format!("locale-gen {}\n", quoted.join(" ")),
        (true, false) => {
            let kept: String = file("local")
                .split_inclusive('\n')
                .filter(|l| {
                    !names
                        .iter()
                        .any(|n| l.split(' ').next() == Some(n.as_str()))
                })
                .collect();
            ctx.put(
                "/var/lib/locales/supported.d/local",
                Arc::new(kept.into_bytes()),
                None,
                None,
                None,
            )
            .await?;
            "locale-gen --purge\n".to_string()
        }
    };
    if let Err(msg) = ctx.change(command).await? {
        return Ok(ModuleResult::fail(msg));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_gen_lines_and_locale_a_names() {
        // As Debian's /etc/locale.gen ships them.
        let gen = "# This file lists locales\n#\n# de_CH.UTF-8 UTF-8\n# en_US ISO-8859-1\n# en_US.UTF-8 UTF-8\n";
        assert_eq!(offered("# en_US.UTF-8 UTF-8"), Some("en_US.UTF-8"));
        assert_eq!(offered("# This file lists locales"), None);
        let on = set_lines(gen, &["en_US.UTF-8".to_string()], true);
        assert!(
            on.ends_with("# en_US ISO-8859-1\nen_US.UTF-8 UTF-8\n"),
            "{on}"
        );
        let off = set_lines(&on, &["en_US.UTF-8".to_string()], false);
        assert!(off.ends_with("# en_US.UTF-8 UTF-8\n"), "{off}");
        assert_eq!(off, gen);
        // `locale -a` prints encodings in lower case.
        let listed = "C\nC.utf8\nPOSIX\nen_US.utf8\n";
        let wanted = vec!["en_US.UTF-8".to_string(), "de_CH.UTF-8".to_string()];
        assert_eq!(not_present(&wanted, listed), ["de_CH.UTF-8"]);
    }
}
