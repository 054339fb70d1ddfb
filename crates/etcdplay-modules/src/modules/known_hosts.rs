//! `known_hosts`: one host's key in a `known_hosts` file, as Ansible's module keeps it. The
//! host's lines are found by `ssh-keygen -F` on the host (which understands hashed names,
//! name lists and `[host]:port`), in the same probe that reads the file; the pure [`decide`]
//! says whether the key is there, must replace a key of the same type, or must go; the new
//! text is written atomically (a removal without `key` is `ssh-keygen -R`). `hash_host`
//! hashes the name as OpenSSH does (`|1|salt|HMAC-SHA1(salt, name)`, both base64).

use std::io::Read;
use std::sync::Arc;

use base64::Engine;
use etcdplay_transport::script::sh_quote;
use etcdplay_transport::ExecOutput;
use serde_json::Value;
use sha1::{Digest, Sha1};

use crate::args::Args;
use crate::host::Ctx;
use crate::probe::{decode_b64, section, PathState};
use crate::read_ahead::{sections, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::{Diff, ModuleError, ModuleResult};

/// A known_hosts line split as the module compares lines: marker, host field, type, key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) marker: Option<String>,
    pub(crate) host: String,
    pub(crate) kind: String,
    pub(crate) key: String,
}

pub(crate) fn parse_entry(line: &str) -> Option<Entry> {
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let (marker, host) = if first.starts_with('@') {
        (Some(first.to_string()), words.next()?.to_string())
    } else {
        (None, first.to_string())
    };
    Some(Entry {
        marker,
        host,
        kind: words.next()?.to_string(),
        key: words.next()?.to_string(),
    })
}

/// HMAC-SHA1 (RFC 2104), what OpenSSH hashes known host names with.
fn hmac_sha1(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha1::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha1::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// The host field `|1|SALT|HASH` for `host` with `salt`.
pub(crate) fn hashed_name(host: &str, salt: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "|1|{}|{}",
        b64.encode(salt),
        b64.encode(hmac_sha1(salt, host.as_bytes()))
    )
}

/// Whether a key line's host field names `host` (plainly, in a list, or hashed).
pub(crate) fn names_host(field: &str, host: &str) -> bool {
    if let Some(rest) = field.strip_prefix("|1|") {
        let b64 = base64::engine::general_purpose::STANDARD;
        let Some((salt, hash)) = rest.split_once('|') else {
            return false;
        };
        return match (b64.decode(salt), b64.decode(hash)) {
            (Ok(salt), Ok(hash)) => hmac_sha1(&salt, host.as_bytes()) == hash,
            _ => false,
        };
    }
    field.split(',').any(|n| n.eq_ignore_ascii_case(host))
}

/// What the file holds for the host, from `ssh-keygen -F` output: found at all, whether the
/// given key must be added or replace another of its type, and the line of that other key.
pub(crate) fn decide(keygen_out: &str, key: Option<&str>) -> (bool, bool, Option<usize>) {
    if keygen_out.trim().is_empty() {
        return (false, false, None);
    }
    let Some(new) = key.and_then(parse_entry) else {
        return (true, false, None);
    };
    let mut line = None;
    for l in keygen_out.lines().filter(|l| !l.is_empty()) {
        if l.starts_with('#') {
            // As Ansible's `found: line (\d+)`: the number may be followed by a word
            // (`... found: line 5 CA` for a `@cert-authority` line, `REVOKED`).
            line = l.split("found: line ").nth(1).and_then(|n| {
                let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            });
            continue;
        }
        let Some(found) = parse_entry(l) else {
            continue;
        };
        let mut new = new.clone();
        if found.marker.is_none() && new.host.starts_with("|1|") && found.host.starts_with("|1|") {
            // A hashed name is not hashed again with another salt.
            new.host.clone_from(&found.host);
        }
        if found.marker.is_some() {
            if found == new {
                return (true, false, line);
            }
        } else if found == new {
            return (true, false, line);
        } else if found.kind == new.kind {
            return (true, true, line);
        }
    }
    (true, true, None)
}

/// The file's lines with `drop` (1-based) left out and `add` appended.
pub(crate) fn edited(text: &str, drop: Option<usize>, add: Option<&str>) -> String {
    let mut out: String = text
        .split_inclusive('\n')
        .enumerate()
        .filter(|(i, _)| Some(i + 1) != drop)
        .map(|(_, l)| l)
        .collect();
    if let Some(line) = add {
        out.push_str(line);
    }
    out
}

fn random_salt() -> Result<[u8; 20], std::io::Error> {
    let mut salt = [0u8; 20];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut salt)?;
    Ok(salt)
}

/// The file the task names, `~/.ssh/known_hosts` by default.
fn path_arg(args: &Args) -> String {
    args.str("path")
        .unwrap_or_else(|| "~/.ssh/known_hosts".to_string())
}

/// `known_hosts`'s probe: the file (`path`, `~/.ssh/known_hosts` by default), its state and
/// content, and what `ssh-keygen -F` finds there for the host.
pub(crate) struct KnownHostsProbe;

impl FirstProbe for KnownHostsProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let a = input.args;
        let host = a.req_str("name")?.to_lowercase();
        let path_arg = path_arg(a);
        // `~` is the home of the user the task runs as, which only the host knows.
        let path_expr = match path_arg.strip_prefix("~/") {
            Some(rest) => format!("\"$HOME\"/{}", sh_quote(rest)),
            None => sh_quote(&path_arg),
        };
        Ok(Some(with_funcs(&format!(
            "ep_p={path_expr}\n{}printf '%s' \"$ep_p\"\n{}ep_stat \"$ep_p\"\n{}ep_b64 \"$ep_p\"\n{}if [ -e \"$ep_p\" ]; then ssh-keygen -F {} -f \"$ep_p\" 2>&1; echo \"@@rc $?\"; fi\n{}",
            section("path"),
            section("stat"),
            section("content"),
            section("keygen"),
            sh_quote(&host),
            section("end")
        ))))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let host = a.req_str("name")?.to_lowercase();
    let present = a.choice("state", &["absent", "present"], "present")? == "present";
    let hash_host = a.bool("hash_host", false)?;
    let given_key = a.str("key");
    let mut key = given_key.clone();
    if key.is_none() && present {
        return Ok(ModuleResult::fail("No key specified when adding a host"));
    }
    if let (Some(k), true) = (&key, hash_host) {
        let salt = random_salt().map_err(|e| ctx.protocol(format!("no randomness: {e}")))?;
        let mut words: Vec<String> = k.split_whitespace().map(str::to_string).collect();
        let at = usize::from(words.first().is_some_and(|w| w.starts_with('@')));
        if let Some(w) = words.get_mut(at) {
            *w = hashed_name(&host, &salt);
        }
        key = Some(words.join(" "));
    }
    if let Some(k) = &mut key {
        if !k.ends_with('\n') {
            k.push('\n');
        }
        if host.contains(',') {
            return Ok(ModuleResult::fail("Comma separated list of names is not supported. Please pass a single name to lookup in the known_hosts file."));
        }
        let field = parse_entry(k).map(|e| e.host).unwrap_or_default();
        if !names_host(&field, &host) {
            return Ok(ModuleResult::fail(
                "Host parameter does not match hashed host field in supplied key",
            ));
        }
    }
    let s = ctx.read_probe::<KnownHostsProbe>().await?;
    let text = |k: &str| {
        String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default()).into_owned()
    };
    let path = text("path");
    let state = PathState::parse(&text("stat")).map_err(|m| ctx.protocol(m))?;
    let existing =
        String::from_utf8_lossy(&decode_b64(s.get("content")).unwrap_or_default()).into_owned();
    let keygen = text("keygen");
    let (out, rc) = keygen.rsplit_once("@@rc ").unwrap_or((&keygen, "0"));
    let rc: i32 = rc.trim().parse().unwrap_or(0);
    if rc > 1 {
        return Ok(ModuleResult::fail(format!(
            "ssh-keygen failed (rc={rc}, stdout='{out}')"
        )));
    }
    let (found, replace_or_add, found_line) =
        decide(if rc == 0 { out } else { "" }, key.as_deref());
    let drop = found_line.filter(|_| replace_or_add || !present);
    let add = (present && (replace_or_add || found_line.is_none()))
        .then_some(key.as_deref())
        .flatten();
    let after = edited(&existing, drop, add);
    let mut res = ModuleResult::ok();
    res.set("name", host.clone())
        .set("key", given_key.map_or(Value::Null, Value::String))
        // Ansible's `path` is of type `path`: the result has it with `~` expanded.
        .set("path", path.clone())
        .set("hash_host", hash_host)
        .set("state", if present { "present" } else { "absent" });
    let before_header = if state.exists {
        path.clone()
    } else {
        "/dev/null".to_string()
    };
    // Ansible's module returns its diff whatever the diff mode (and whether or not anything
    // changes); `--diff` only decides whether it is shown.
    res.diff = Some(Diff {
        before: Value::String(existing.clone()),
        after: Value::String(after.clone()),
        before_header: Some(before_header),
        after_header: Some(path.clone()),
    });
    if !present && found_line.is_none() && key.is_some() {
        return Ok(res);
    }
    let remove_all = found && key.is_none() && !present;
    let rewrite = replace_or_add || found != present;
    res.changed = rewrite || remove_all;
    if !res.changed || ctx.call.check {
        return Ok(res);
    }
    if remove_all {
        let cmd = format!(
            "ssh-keygen -R {} -f {} >/dev/null\n",
            sh_quote(&host),
            sh_quote(&path)
        );
        if let Err(msg) = ctx.change(cmd).await? {
            return Ok(ModuleResult::fail(msg));
        }
        return Ok(res);
    }
    let mode = if state.exists {
        state.mode & 0o7777
    } else {
        0o644
    };
    ctx.put(&path, Arc::new(after.into_bytes()), Some(mode), None, None)
        .await?;
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "lab1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne";
    const OTHER: &str = "lab1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITwo";

    #[test]
    fn ssh_keygen_answers_decide_add_replace_or_keep() {
        // As `ssh-keygen -F lab1 -f FILE` prints a match.
        let found = format!("# Host lab1 found: line 2 \n{KEY}\n");
        assert_eq!(decide(&found, Some(KEY)), (true, false, Some(2)));
        assert_eq!(decide(&found, Some(OTHER)), (true, true, Some(2)));
        let rsa = "lab1 ssh-rsa AAAAB3Nza";
        assert_eq!(decide(&found, Some(rsa)), (true, true, None));
        assert_eq!(decide("", Some(KEY)), (false, false, None));
        assert_eq!(decide(&found, None), (true, false, None));
        // Recorded `ssh-keygen -F '*.example.com'` (OpenSSH 9.2) over two CA lines: the one
        // that is the key is found on its own line, as Ansible's regex reads the number.
        let ca = "@cert-authority *.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPx6";
        let cas = format!(
            "# Host *.example.com found: line 5 CA\n\
             @cert-authority *.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDXh\n\
             # Host *.example.com found: line 7 CA\n{ca}\n"
        );
        assert_eq!(decide(&cas, Some(ca)), (true, false, Some(7)));
        assert_eq!(
            edited("a x y\nlab1 k v\nb z w\n", Some(2), Some("lab1 n m\n")),
            "a x y\nb z w\nlab1 n m\n"
        );
    }

    #[test]
    fn hashed_names_are_openssh_hmacs() {
        // The real `ssh-keygen -F` finds such a field (tests/system.rs); here, the shape.
        let salt = [7u8; 20];
        let field = hashed_name("lab1", &salt);
        assert!(field.starts_with("|1|BwcHBwcHBwcHBwcHBwcHBwcHBwc=|"));
        assert!(names_host(&field, "lab1") && !names_host(&field, "lab2"));
        assert!(names_host("lab2,lab1,10.0.0.1", "LAB1"));
        // RFC 2202 test case 2.
        let mac = hmac_sha1(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }
}
