//! `apt_key`: a key in apt's keyrings through `apt-key`, as Ansible's module manages it: the
//! key named by `id` (8, 16 or more hex digits), or the first key of `file`, `data` or `url`
//! (read with `gpg --with-colons`), compared with `apt-key adv --list-public-keys` (short ids
//! when `id` has 8 digits, else 16), added from the file, data, URL or `keyserver`, removed by
//! its short id, and the listing read again to check. One probe finds the programs, lists the
//! keys and reads the key's id; the pure [`parse_key_id`], [`listed_keys`] and [`decide`] do
//! Ansible's reasoning; one request changes and lists again.

use base64::Engine;
use etcdplay_transport::script::sh_quote;
use serde_json::{json, Value};

use crate::args::Args;
use crate::host::Ctx;
use crate::probe::{missing_executable, section, BIN_PATHS};
use crate::read_ahead::{sections, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::spec::{optional as arg, ArgSpec, ArgType};
use crate::{ModuleError, ModuleResult};
use etcdplay_transport::ExecOutput;

/// Ansible's argument spec (ansible-core 2.19 `apt_key`).
pub(crate) const APT_KEY: &[ArgSpec] = &[
    arg("id", ArgType::Str),
    arg("url", ArgType::Str),
    arg("data", ArgType::Str),
    arg("file", ArgType::Path),
    arg("keyring", ArgType::Path),
    arg("validate_certs", ArgType::Bool),
    arg("keyserver", ArgType::Str),
    arg("state", ArgType::Str),
];

/// Where a key to add comes from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    File(String),
    Data(String),
    Url(String),
    Keyserver(String),
    None,
}

/// The task's arguments, checked as Ansible checks them.
struct Task {
    id: Option<String>,
    source: Source,
    keyring: Option<String>,
    validate_certs: bool,
    present: bool,
}

impl Task {
    fn from_args(a: &Args) -> Result<Task, ModuleError> {
        let given: Vec<&str> = ["data", "file", "keyserver", "url"]
            .into_iter()
            .filter(|k| a.has(k))
            .collect();
        if given.len() > 1 {
            return Err(ModuleError::bad(
                "apt_key",
                given[0],
                format!("parameters are mutually exclusive: {}", given.join("|")),
            ));
        }
        let source = match (
            a.str("file"),
            a.str("data"),
            a.str("url"),
            a.str("keyserver"),
        ) {
            (Some(f), ..) => Source::File(f),
            (_, Some(d), ..) => Source::Data(d),
            (_, _, Some(u), _) => Source::Url(u),
            (.., Some(k)) => Source::Keyserver(k),
            _ => Source::None,
        };
        Ok(Task {
            id: a.str("id").filter(|i| !i.is_empty()),
            source,
            keyring: a.str("keyring"),
            validate_certs: a.bool("validate_certs", true)?,
            present: a.choice("state", &["absent", "present"], "present")? == "present",
        })
    }

    /// `apt-key` with the task's `--keyring`.
    fn apt_key(&self) -> String {
        match &self.keyring {
            Some(k) => format!("apt-key --keyring {}", sh_quote(k)),
            None => "apt-key".to_string(),
        }
    }
}

/// Shell that writes the body at `url` to stdout with the host's python3 (Ansible's module
/// fetches on the host too); `validate_certs: no` skips the certificate check.
fn download(url: &str, validate_certs: bool) -> String {
    let program = "import ssl,sys,urllib.request as u\n\
        c=None if sys.argv[2]=='1' else ssl._create_unverified_context()\n\
        sys.stdout.buffer.write(u.urlopen(sys.argv[1],context=c,timeout=30).read())";
    format!(
        "python3 -c {} {} {}",
        sh_quote(program),
        sh_quote(url),
        if validate_certs { "1" } else { "0" }
    )
}

/// Shell printing `rc=N` then the output of `command` (stderr dropped).
fn captured(command: &str) -> String {
    format!("out=$({command} 2>/dev/null); echo \"rc=$?\"; printf '%s\\n' \"$out\"\n")
}

/// The probe: which programs exist, the keys listed, and the id of the key to add when no
/// `id` names it.
pub(crate) struct AptKeyProbe;

impl FirstProbe for AptKeyProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let task = Task::from_args(input.args)?;
        let mut script = section("bins");
        script.push_str("command -v apt-key >/dev/null 2>&1 && echo apt-key\n");
        script.push_str("command -v gpg >/dev/null 2>&1 && echo gpg\n");
        script.push_str(&section("paths"));
        script.push_str(BIN_PATHS);
        script.push_str(&section("list"));
        script.push_str(&captured(&format!(
            "LANG=C LC_ALL=C {} adv --list-public-keys --keyid-format=long",
            task.apt_key()
        )));
        if task.id.is_none() {
            let gpg = "LANG=C LC_ALL=C gpg --with-colons";
            let read_id = match &task.source {
                Source::File(f) => Some(format!("{gpg} {}", sh_quote(f))),
                Source::Data(d) => Some(format!(
                    "printf %s {} | base64 -d | {gpg} -",
                    base64::engine::general_purpose::STANDARD.encode(d)
                )),
                Source::Url(u) => Some(format!("{} | {gpg} -", download(u, task.validate_certs))),
                Source::Keyserver(_) | Source::None => None,
            };
            if let Some(read_id) = read_id {
                script.push_str(&section("keyid"));
                script.push_str(&captured(&read_id));
            }
        }
        script.push_str(&section("end"));
        Ok(Some(with_funcs(&script)))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

/// `key_id` as Ansible's `parse_key_id` splits it: (short id, fingerprint to compare, full id),
/// upper-cased without `0x`; `Err` for what is not hex or not 8, 16 or more than 16 digits.
pub(crate) fn parse_key_id(key_id: &str) -> Result<(String, String, String), ()> {
    let upper = key_id.trim().to_uppercase();
    let id = upper.strip_prefix("0X").unwrap_or(&upper).to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(());
    }
    let len = id.len();
    if len != 8 && len != 16 && len <= 16 {
        return Err(());
    }
    let short = id[len - 8..].to_string();
    let fingerprint = if len > 16 {
        id[len - 16..].to_string()
    } else {
        id.clone()
    };
    Ok((short, fingerprint, id))
}

/// The key ids of `pub`/`sub` lines not marked expired, from apt-key's listing
/// (`pub   rsa4096/0123456789ABCDEF 2012-04-27 [SC]`) or gpg's colons (`pub:-:...:ID:...`),
/// shortened to 8 digits with `short`.
pub(crate) fn listed_keys(output: &str, short: bool) -> Vec<String> {
    let mut found = Vec::new();
    for line in output.split('\n') {
        if !(line.starts_with("pub") || line.starts_with("sub")) || line.contains("expired") {
            continue;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let apt_format = tokens
            .get(1)
            .and_then(|code| code.split_once('/'))
            .filter(|(_, id)| !id.contains('/'))
            .map(|(_, id)| id.to_string());
        let code = match apt_format {
            Some(id) => Some(id),
            None => line.split(':').nth(4).map(str::to_string),
        };
        if let Some(code) = code {
            found.push(code);
        }
    }
    if short {
        found = found
            .into_iter()
            .map(|k| k[k.len().saturating_sub(8)..].to_string())
            .collect();
    }
    found
}

/// Whether the key is to be added (`Some(true)`), removed (`Some(false)`) or left alone.
pub(crate) fn decide(
    present: bool,
    short_format: bool,
    short_id: &str,
    fingerprint: &str,
    keys: &[String],
) -> Option<bool> {
    let listed = |k: &str| keys.iter().any(|x| x == k);
    match present {
        true if short_format && !listed(short_id) => Some(true),
        true if !short_format && !listed(fingerprint) => Some(true),
        false if listed(fingerprint) => Some(false),
        _ => None,
    }
}

/// A command's `rc=N` first line and the rest.
fn answer(s: &Sections, key: &str) -> Option<(i32, String)> {
    let text = String::from_utf8_lossy(s.get(key)?).into_owned();
    let (head, rest) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    Some((
        head.strip_prefix("rc=")?.trim().parse().ok()?,
        rest.to_string(),
    ))
}

/// The script that adds the key (`None`: nothing says where it comes from).
fn add_script(task: &Task, key_id: &str) -> Option<String> {
    let apt_key = task.apt_key();
    Some(match &task.source {
        Source::File(f) => format!("{apt_key} add {}", sh_quote(f)),
        Source::Data(d) => format!(
            "printf %s {} | base64 -d | {apt_key} add -",
            base64::engine::general_purpose::STANDARD.encode(d)
        ),
        Source::Url(u) => format!(
            "{} | {apt_key} add -",
            download(u, task.validate_certs)
        ),
        Source::Keyserver(k) => format!(
            "i=0; while [ $i -lt 5 ]; do LANG=C LC_ALL=C {apt_key} adv --no-tty --keyserver {} --recv {} && break; i=$((i+1)); done; [ $i -lt 5 ]",
            sh_quote(k),
            sh_quote(key_id)
        ),
        Source::None => return None,
    })
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let task = Task::from_args(&ctx.args)?;
    let s = ctx.read_probe::<AptKeyProbe>().await?;
    let bins =
        String::from_utf8_lossy(s.get("bins").map(Vec::as_slice).unwrap_or_default()).into_owned();
    // Ansible's module asks `get_bin_path(required=True)`, which fails the task itself (the
    // module's own handling of a missing program, after it, is never reached).
    for program in ["apt-key", "gpg"] {
        if !bins.lines().any(|l| l == program) {
            let paths =
                String::from_utf8_lossy(s.get("paths").map(Vec::as_slice).unwrap_or_default())
                    .into_owned();
            return Ok(ModuleResult::fail(missing_executable(program, &paths)));
        }
    }
    let mut res = ModuleResult::ok();
    let mut key_id = task.id.clone();
    if key_id.is_none() {
        if matches!(task.source, Source::Keyserver(_)) {
            return Ok(ModuleResult::fail(
                "Missing key_id, required with keyserver.",
            ));
        }
        if let Some((rc, out)) = answer(&s, "keyid") {
            if rc != 0 {
                let what = match &task.source {
                    Source::File(f) => format!("Unable to extract key from '{f}'"),
                    Source::Url(u) => format!("Failed to download key at {u}"),
                    _ => "Unable to extract key from 'inline data'".to_string(),
                };
                return Ok(ModuleResult::fail(what));
            }
            key_id = listed_keys(&out, false).into_iter().next();
        }
    }
    res.set("id", key_id.clone().map_or(Value::Null, Value::from));
    let Ok((short_id, fingerprint, full_id)) = parse_key_id(key_id.as_deref().unwrap_or("None"))
    else {
        let mut fail = ModuleResult::fail("Invalid key_id");
        fail.data = res.data;
        return Ok(fail);
    };
    res.set("short_id", short_id.clone());
    res.set("fp", fingerprint.clone());
    res.set("key_id", full_id.clone());
    let short_format = full_id.len() == 8;
    let Some((0, listing)) = answer(&s, "list") else {
        return Ok(ModuleResult::fail("Unable to list public keys"));
    };
    let before = listed_keys(&listing, short_format);
    res.set("before", json!(before));
    let Some(add) = decide(task.present, short_format, &short_id, &fingerprint, &before) else {
        return Ok(res);
    };
    res.changed = true;
    if ctx.call.check {
        return Ok(res);
    }
    let (change, failure) = if add {
        let Some(script) = add_script(&task, &full_id) else {
            return Ok(ModuleResult::fail(
                "No key to add ... how did i get here?!?!",
            ));
        };
        let failure = match &task.source {
            Source::File(f) => format!("Unable to add a key from file {f}"),
            Source::Keyserver(k) => format!("Error fetching key {full_id} from keyserver: {k}"),
            _ => "Unable to add a key from binary data".to_string(),
        };
        (script, failure)
    } else {
        (
            format!("{} del {}", task.apt_key(), sh_quote(&short_id)),
            format!("Unable to remove a key with id {short_id}"),
        )
    };
    let script = format!(
        "{change} >/dev/null 2>&1 || exit 3\n{}{}",
        section("list"),
        captured(&format!(
            "LANG=C LC_ALL=C {} adv --list-public-keys --keyid-format=long",
            task.apt_key()
        ))
    ) + &section("end");
    let out = ctx.exec(script).await?;
    if out.rc == 3 {
        let mut fail = ModuleResult::fail(failure);
        fail.data = res.data;
        return Ok(fail);
    }
    let after = crate::probe::parse_sections(&out.stdout);
    let Some((0, listing)) = answer(&after, "list") else {
        return Ok(ModuleResult::fail("Unable to list public keys"));
    };
    let after = listed_keys(&listing, short_format);
    res.set("after", json!(after));
    let still = decide(task.present, short_format, &short_id, &fingerprint, &after).is_some();
    if still {
        let what = if add {
            "failed to add the key"
        } else {
            "the key was not removed"
        };
        let mut fail = ModuleResult::fail(format!(
            "apt-key did not return an error, but {what} (check that the id is correct and \
             *not* a subkey)"
        ));
        fail.data = res.data;
        return Ok(fail);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_split_as_ansible_splits_them() {
        assert_eq!(
            parse_key_id("0x9fed2bcbdcd29cdf762678cba6f5e6f69a5b6c3d"),
            Ok((
                "9A5B6C3D".into(),
                "A6F5E6F69A5B6C3D".into(),
                "9FED2BCBDCD29CDF762678CBA6F5E6F69A5B6C3D".into()
            ))
        );
        assert_eq!(
            parse_key_id("A6F5E6F69A5B6C3D"),
            Ok((
                "9A5B6C3D".into(),
                "A6F5E6F69A5B6C3D".into(),
                "A6F5E6F69A5B6C3D".into()
            ))
        );
        assert_eq!(
            parse_key_id("9a5b6c3d"),
            Ok(("9A5B6C3D".into(), "9A5B6C3D".into(), "9A5B6C3D".into()))
        );
        assert!(parse_key_id("12345").is_err());
        assert!(parse_key_id("None").is_err());
        assert!(
            parse_key_id("0123456789ABCDEF0").is_ok(),
            "more than 16 digits"
        );
    }

    /// Recorded on Debian 12 (apt 2.6.1, gnupg 2.2.40): `apt-key --keyring K adv
    /// --list-public-keys --keyid-format=long` and `gpg --with-colons FILE`.
    #[test]
    fn listings_are_read_as_ansible_reads_them() {
        let apt = "/tmp/k.gpg\n----------\npub   ed25519/3B3D2BB1D0CA2F28 2026-12-05 [SC]\n      \
                   0F8A1C2D6E2A7E3C4B5D6E7F3B3D2BB1D0CA2F28\nuid                 [ unknown] t <t@localhost>\n\
                   sub   cv25519/1122334455667788 2026-12-05 [E]\n\
                   pub   rsa2048/AAAABBBBCCCCDDDD 2019-01-01 [SC] [expired: 2020-01-01]\n";
        assert_eq!(
            listed_keys(apt, false),
            ["3B3D2BB1D0CA2F28", "1122334455667788"]
        );
        assert_eq!(listed_keys(apt, true), ["D0CA2F28", "55667788"]);
        let gpg = "pub:-:255:22:3B3D2BB1D0CA2F28:1796428800:::-:::scSC::::::23::0:\n\
                   fpr:::::::::0F8A1C2D6E2A7E3C4B5D6E7F3B3D2BB1D0CA2F28:\nuid:-::::1796428800::X::t <t@localhost>::::::::::0:\n";
        assert_eq!(listed_keys(gpg, false), ["3B3D2BB1D0CA2F28"]);
    }

    #[test]
    fn changes_are_decided_as_ansible_decides_them() {
        let keys = vec!["3B3D2BB1D0CA2F28".to_string()];
        assert_eq!(
            decide(true, false, "D0CA2F28", "3B3D2BB1D0CA2F28", &keys),
            None
        );
        assert_eq!(
            decide(true, false, "AAAAAAAA", "00000000AAAAAAAA", &keys),
            Some(true)
        );
        assert_eq!(
            decide(false, false, "D0CA2F28", "3B3D2BB1D0CA2F28", &keys),
            Some(false)
        );
        assert_eq!(
            decide(false, false, "AAAAAAAA", "00000000AAAAAAAA", &keys),
            None
        );
        let short = vec!["D0CA2F28".to_string()];
        assert_eq!(decide(true, true, "D0CA2F28", "D0CA2F28", &short), None);
    }
}
