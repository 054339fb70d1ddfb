//! `rpm_key`: a GPG key in rpm's database, as Ansible's module manages it: `key` is a URL (the
//! host fetches it), a key id (`(0x)?` and 8 hex digits at its start), or a file on the host;
//! the key id of a file comes from `gpg --with-colons`; a key is imported when `rpm -q
//! gpg-pubkey` descriptions (read by gpg) hold no key whose id contains it, after the
//! `fingerprint`s asked for are checked against the file's; removal erases
//! `gpg-pubkey-<last 8 digits>`. One probe reads everything (the URL's body included); the
//! pure [`key_kind`], [`first_key_id`], [`imported`] and [`fingerprints`] reason; one request
//! imports or erases. Results are `changed` only, as Ansible's.

use base64::Engine;
use etcdplay_transport::script::sh_quote;

use crate::args::Args;
use crate::host::Ctx;
use crate::probe::section;
use crate::read_ahead::{sections, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::spec::{ArgSpec, ArgType};
use crate::{ModuleError, ModuleResult};
use etcdplay_transport::ExecOutput;

/// Ansible's argument spec (ansible-core 2.19 `rpm_key`).
pub(crate) const RPM_KEY: &[ArgSpec] = &[
    ArgSpec {
        name: "key",
        kind: ArgType::Str,
        required: true,
        aliases: &[],
    },
    ArgSpec {
        name: "state",
        kind: ArgType::Str,
        required: false,
        aliases: &[],
    },
    ArgSpec {
        name: "fingerprint",
        kind: ArgType::List,
        required: false,
        aliases: &[],
    },
    ArgSpec {
        name: "validate_certs",
        kind: ArgType::Bool,
        required: false,
        aliases: &[],
    },
];

/// What `key` names, decided as Ansible decides it (a file only if it is one on the host).
#[derive(Debug, PartialEq)]
pub(crate) enum KeyKind {
    Url,
    KeyId,
    MaybeFile,
}

pub(crate) fn key_kind(key: &str) -> KeyKind {
    let hex8 = |s: &str| s.len() >= 8 && s.as_bytes()[..8].iter().all(u8::is_ascii_hexdigit);
    let lower = key.to_ascii_lowercase();
    if key.contains("://") {
        KeyKind::Url
    } else if hex8(&lower) || lower.strip_prefix("0x").is_some_and(hex8) {
        KeyKind::KeyId
    } else {
        KeyKind::MaybeFile
    }
}

/// Ansible's `normalize_keyid`: trimmed, upper-cased, without `0x`.
fn normalized(key_id: &str) -> String {
    let upper = key_id.trim().to_uppercase();
    upper.strip_prefix("0X").unwrap_or(&upper).to_string()
}

/// gpg's options for reading keys, as Ansible's module passes them.
const GPG: &str = "\"$gpg\" --no-tty --batch --with-colons --fixed-list-mode";

/// Shell running `command` with its stdout into the current section and, after it, section
/// `<name>_rc` with `rc=N` and the command's stderr.
fn captured(name: &str, command: &str) -> String {
    format!(
        "{{ err=$({command} 2>&1 1>&3); rc=$?; }} 3>&1\n{}echo \"rc=$rc\"; printf '%s\\n' \"$err\"\n",
        section(&format!("{name}_rc"))
    )
}

/// The body at `url` on stdout, fetched by the host's python3.
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

/// The probe: programs, whether `key` is a file, the URL's body, the key file's id and
/// fingerprints, and the imported keys.
pub(crate) struct RpmKeyProbe;

impl FirstProbe for RpmKeyProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let a: &Args = input.args;
        let key = a.req_str("key")?;
        let validate_certs = a.bool("validate_certs", true)?;
        let q = sh_quote(&key);
        let mut s = section("bins");
        s.push_str("command -v rpm >/dev/null 2>&1 && echo rpm\n");
        s.push_str("gpg=$(command -v gpg || command -v gpg2); [ -n \"$gpg\" ] && echo gpg\n");
        s.push_str("[ -n \"$gpg\" ] && command -v rpm >/dev/null 2>&1 || { ");
        s.push_str(&section("end"));
        s.push_str(" exit 0; }\n");
        // The key file: the URL's body (kept as base64, imported from it later) or the
        // host's file; gpg reads it from `$from` `$target`.
        let (from, target) = match key_kind(&key) {
            KeyKind::Url => {
                s.push_str(&section("body"));
                s.push_str(&format!(
                    "body=$({} | base64 -w0); echo \"$body\"\nif [ -n \"$body\" ]; then\n",
                    download(&key, validate_certs)
                ));
                ("printf %s \"$body\" | base64 -d | ", "-".to_string())
            }
            KeyKind::MaybeFile => {
                s.push_str(&section("isfile"));
                s.push_str(&format!("[ -f {q} ] && echo yes\nif [ -f {q} ]; then\n"));
                ("", q.clone())
            }
            KeyKind::KeyId => ("", String::new()),
        };
        if !target.is_empty() {
            s.push_str(&section("keyid"));
            s.push_str(&captured("keyid", &format!("{from}{GPG} {target}")));
            if a.has("fingerprint") {
                s.push_str(&section("fpr"));
                s.push_str(&captured(
                    "fpr",
                    &format!("{from}{GPG} --import --import-options show-only --dry-run {target}"),
                ));
            }
            s.push_str("fi\n");
        }
        s.push_str(&section("imported"));
        s.push_str("if rpm -q gpg-pubkey >/dev/null 2>&1; then\necho yes\n");
        s.push_str(&section("described"));
        s.push_str(&captured(
            "described",
            &format!("rpm -q gpg-pubkey --qf '%{{description}}' | {GPG} -"),
        ));
        s.push_str("fi\n");
        s.push_str(&section("end"));
        Ok(Some(with_funcs(&s)))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

/// The key id of the first `pub:` line of gpg's colons output.
pub(crate) fn first_key_id(colons: &str) -> Option<String> {
    colons
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("pub:"))
        .and_then(|l| l.split(':').nth(4))
        .map(str::to_string)
}

/// Whether a key whose id contains `key_id` is in gpg's reading of rpm's `gpg-pubkey`
/// descriptions (Ansible's `is_key_imported`: field 5 of every line).
pub(crate) fn imported(colons: &str, key_id: &str) -> bool {
    colons
        .lines()
        .any(|l| l.split(':').nth(4).is_some_and(|f| f.contains(key_id)))
}

/// The fingerprints (`fpr:` field 10) of gpg's `--import-options show-only` listing.
pub(crate) fn fingerprints(colons: &str) -> Vec<String> {
    let mut found: Vec<String> = colons
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("fpr:"))
        .filter_map(|l| l.split(':').nth(9).map(str::to_string))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// A Python set's repr of `items` (sorted: Python's own order is its hashing's).
fn set_repr(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("{{{}}}", quoted.join(", "))
}

fn text(s: &Sections, key: &str) -> String {
    String::from_utf8_lossy(s.get(key).map(Vec::as_slice).unwrap_or_default()).into_owned()
}

/// A captured command's exit code and stderr.
fn rc_err(s: &Sections, name: &str) -> (i32, String) {
    let t = text(s, &format!("{name}_rc"));
    let (head, rest) = t.split_once('\n').unwrap_or((t.as_str(), ""));
    let rc = head
        .strip_prefix("rc=")
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or(1);
    (rc, rest.trim_end().to_string())
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let key = a.req_str("key")?;
    let present = a.choice("state", &["absent", "present"], "present")? == "present";
    let wanted: Vec<String> = a
        .list("fingerprint")?
        .unwrap_or_default()
        .iter()
        .map(|f| f.replace(' ', "").to_uppercase())
        .collect();
    let s = ctx.read_probe::<RpmKeyProbe>().await?;
    let bins = text(&s, "bins");
    for (bin, name) in [("rpm", "rpm"), ("gpg", "gpg2")] {
        if !bins.lines().any(|l| l == bin) {
            return Ok(ModuleResult::fail(format!(
                "Failed to find required executable \"{name}\" in paths"
            )));
        }
    }
    let kind = key_kind(&key);
    let body = text(&s, "body").trim().to_string();
    if kind == KeyKind::Url {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(&body)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        if body.is_empty() {
            return Ok(ModuleResult::fail(format!("failed to fetch key at {key}")));
        }
        let begin = pem.find("-----BEGIN PGP PUBLIC KEY BLOCK-----");
        let end = pem.rfind("-----END PGP PUBLIC KEY BLOCK-----");
        if !matches!((begin, end), (Some(b), Some(e)) if b < e) {
            return Ok(ModuleResult::fail(format!("Not a public key: {key}")));
        }
    }
    let has_file = kind == KeyKind::Url || text(&s, "isfile").trim() == "yes";
    let key_id = match kind {
        KeyKind::KeyId => normalized(&key),
        _ if !has_file => return Ok(ModuleResult::fail(format!("Not a valid key {key}"))),
        _ => {
            let (rc, err) = rc_err(&s, "keyid");
            if rc != 0 {
                return Ok(ModuleResult::fail(err));
            }
            match first_key_id(&text(&s, "keyid")) {
                Some(id) => normalized(&id),
                None => return Ok(ModuleResult::fail("Unexpected gpg output")),
            }
        }
    };
    let is_imported = text(&s, "imported").starts_with("yes") && {
        let (rc, err) = rc_err(&s, "described");
        if rc != 0 {
            return Ok(ModuleResult::fail(err));
        }
        imported(&text(&s, "described"), &key_id)
    };
    let mut res = ModuleResult::ok();
    let change = match (present, is_imported) {
        (true, true) | (false, false) => return Ok(res),
        (true, false) => {
            if !has_file {
                return Ok(ModuleResult::fail(
                    "When importing a key, a valid file must be given",
                ));
            }
            if !wanted.is_empty() {
                let (rc, err) = rc_err(&s, "fpr");
                if rc != 0 {
                    return Ok(ModuleResult::fail(err));
                }
                let have = fingerprints(&text(&s, "fpr"));
                if have.is_empty() {
                    return Ok(ModuleResult::fail("Unexpected gpg output"));
                }
                if !wanted.iter().all(|w| have.contains(w)) {
                    let mut asked = wanted.clone();
                    asked.sort();
                    asked.dedup();
                    return Ok(ModuleResult::fail(format!(
                        "The specified fingerprint, '{}', does not match any key fingerprints in '{}'",
                        set_repr(&asked),
                        set_repr(&have)
                    )));
                }
            }
            if kind == KeyKind::Url {
                format!(
                    "t=$(mktemp) && printf %s {} | base64 -d > \"$t\" && rpm --import \"$t\"; rc=$?; rm -f \"$t\"; exit $rc",
                    sh_quote(&body)
                )
            } else {
                format!("rpm --import {}", sh_quote(&key))
            }
        }
        (false, true) => {
            let short = key_id[key_id.len().saturating_sub(8)..].to_lowercase();
            format!(
                "rpm --erase --allmatches {}",
                sh_quote(&format!("gpg-pubkey-{short}"))
            )
        }
    };
    res.changed = true;
    if ctx.call.check {
        return Ok(res);
    }
    if let Err(msg) = ctx.change(change).await? {
        return Ok(ModuleResult::fail(msg));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_told_apart_as_ansible_tells_them() {
        assert_eq!(key_kind("https://example.test/key.asc"), KeyKind::Url);
        assert_eq!(key_kind("0xDEADBEEF"), KeyKind::KeyId);
        assert_eq!(key_kind("deadbeef"), KeyKind::KeyId);
        assert_eq!(
            key_kind("deadbeefcafe.asc"),
            KeyKind::KeyId,
            "re.match anchors only the start"
        );
        assert_eq!(key_kind("/etc/pki/rpm-gpg/RPM-GPG-KEY"), KeyKind::MaybeFile);
        assert_eq!(normalized(" 0xdeadbeef "), "DEADBEEF");
    }

    /// Recorded on Debian 12 (rpm 4.18, gnupg 2.2.40): `rpm -q gpg-pubkey --qf
    /// '%{description}' | gpg --no-tty --batch --with-colons --fixed-list-mode -` and the
    /// show-only import listing of the same key.
    #[test]
    fn gpg_listings_are_read_as_ansible_reads_them() {
        let described = "pub:-:255:22:4757D36C5EB13EE6:1796441071:::-:::scSC::::::23::0:\n\
                         fpr:::::::::CCD2B8577AE8B192533BA02B4757D36C5EB13EE6:\n\
                         uid:-::::1796441071::3E0A::t <t@localhost>::::::::::0:\n";
        assert!(imported(described, "4757D36C5EB13EE6"));
        assert!(imported(described, "5EB13EE6"));
        assert!(!imported(described, "DEADBEEF"));
        assert_eq!(first_key_id(described).as_deref(), Some("4757D36C5EB13EE6"));
        assert_eq!(
            fingerprints(described),
            ["CCD2B8577AE8B192533BA02B4757D36C5EB13EE6"]
        );
        assert_eq!(set_repr(&["A".into(), "B".into()]), "{'A', 'B'}");
    }
}
