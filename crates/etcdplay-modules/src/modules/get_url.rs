//! `get_url`: download a URL on the host into `dest` (a directory destination gets the URL's
//! file name). The probe stats the destination and computes its checksum; with `force: no`
//! (the default) an existing file whose checksum matches is left alone without any download.
//! Otherwise the host downloads with curl, wget or python3 (whichever exists) into a temporary
//! file, verifies `checksum: ALGO:HEX`, and replaces the destination only if the bytes differ.
//! The URL travels on the script's stdin, never in a process argument, so credentials in it
//! do not show in `ps`.

use etcdplay_transport::script::sh_quote;
use etcdplay_transport::{ExecOutput, ExecRequest};
use serde_json::Value;

use crate::attrs::Attrs;
use crate::host::Ctx;
use crate::probe::{section, PathState};
use crate::{ModuleError, ModuleResult};

/// What `checksum:` gives after its algorithm: the digest, or a URL of a digest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Digest {
    Hex(String),
    Url(String),
}

/// `sha256:abcd...` → (`sha256sum`, `abcd...`); `sha256:https://.../SHA256SUMS` → the URL.
pub(crate) fn parse_checksum(spec: &str) -> Result<(&'static str, Digest), String> {
    let (algo, hex) = spec
        .split_once(':')
        .ok_or_else(|| format!("checksum '{spec}' must be ALGORITHM:HEX"))?;
    let tool = match algo.to_ascii_lowercase().as_str() {
        "md5" => "md5sum",
        "sha1" => "sha1sum",
        "sha224" => "sha224sum",
        "sha256" => "sha256sum",
        "sha384" => "sha384sum",
        "sha512" => "sha512sum",
        other => return Err(format!("unsupported checksum algorithm '{other}'")),
    };
    let scheme = hex.split_once("://").map(|(s, _)| s);
    if matches!(scheme, Some("http" | "https" | "ftp" | "file")) {
        return Ok((tool, Digest::Url(hex.to_string())));
    }
    clean_digest(hex).map(|d| (tool, Digest::Hex(d)))
}

/// Ansible's last step on a digest: every non-word character removed, lower case, and it
/// must then be hexadecimal ("The checksum format is invalid").
fn clean_digest(text: &str) -> Result<String, String> {
    let digest: String = text
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_lowercase();
    if digest.is_empty() || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("The checksum format is invalid".into());
    }
    Ok(digest)
}

/// The digest for `filename` in a digest file (GNU `HEX  name`, `HEX *name`, BSD
/// `ALGO (name) = HEX`, or one lone digest), as Ansible's get_url reads it.
pub(crate) fn digest_for(filename: &str, text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    if let [only] = lines.as_slice() {
        if only.split_whitespace().count() == 1 {
            return Some(only.trim().to_string());
        }
    }
    lines.iter().find_map(|line| {
        let (digest, path) = bsd_line(line).or_else(|| gnu_line(line))?;
        (path == filename).then(|| digest.to_string())
    })
}

fn is_digest_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

/// `ALGO (path) = DIGEST` (a space before `(` and before `=` optional).
fn bsd_line(line: &str) -> Option<(&str, &str)> {
    let open = line.find('(')?;
    let algo = line[..open].trim_end();
    if algo.is_empty() || !algo.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let close = line.rfind(')')?;
    let digest = line[close + 1..]
        .trim_start()
        .strip_prefix('=')?
        .strip_prefix(' ')?;
    (close > open && !digest.is_empty() && digest.chars().all(is_digest_char))
        .then(|| (digest, &line[open + 1..close]))
}

/// `DIGEST<spaces>[*|./|.]path`, the path's leading `.` and `/` removed.
fn gnu_line(line: &str) -> Option<(&str, &str)> {
    let end = line.find(char::is_whitespace)?;
    let digest = &line[..end];
    if digest.is_empty() || !digest.chars().all(is_digest_char) {
        return None;
    }
    let rest = line[end..].trim_start();
    let rest = rest
        .strip_prefix('*')
        .or_else(|| rest.strip_prefix("./"))
        .or_else(|| rest.strip_prefix('.'))
        .unwrap_or(rest);
    let path = rest.trim_start_matches(['.', '/']);
    (!path.is_empty()).then_some((digest, path))
}

/// Request options that travel to curl as config lines on stdin (`-K -`): credentials and
/// header values never reach a command line.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestOptions {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
}

impl RequestOptions {
    fn wants_curl(&self) -> bool {
        !self.headers.is_empty() || self.user.is_some()
    }

    /// The curl config for `url`, ended by the line `@end@` (the script reads up to it).
    fn curl_config(&self, url: &str) -> String {
        let quote = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
        let mut lines = vec![format!("url = {}", quote(url))];
        for (name, value) in &self.headers {
            lines.push(format!("header = {}", quote(&format!("{name}: {value}"))));
        }
        if let Some(user) = &self.user {
            let pass = self.password.as_deref().unwrap_or("");
            lines.push(format!("user = {}", quote(&format!("{user}:{pass}"))));
        }
        lines.push("@end@".into());
        lines.join("\n")
    }
}

/// Reads the curl config (up to `@end@`) and then the URL from stdin into `$cfg` and `$url`.
const READ_REQUEST: &str = "cfg=\nwhile IFS= read -r l && [ \"$l\" != @end@ ]; do cfg=\"$cfg$l\n\"; done\nIFS= read -r url\n";

/// The request as Ansible's `fetch_url` makes it, with the host's python3 (urllib, as
/// Ansible's module): the URL on stdin; arguments method, timeout, `1` to skip certificate
/// checks, and the file the body goes to. A failure is one `@@json` line on stderr with
/// Ansible's result keys (`msg`, and `status_code`/`response` for an HTTP error); a HEAD
/// prints `len=` and the response's Content-Length (`unknown` without one).
const PY_FETCH: &str = r#"import http.client, json, shutil, ssl, sys, urllib.error, urllib.request
url = sys.stdin.read()
method, timeout, insecure, out = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
def fail(**f):
    sys.stderr.write("@@json " + json.dumps(f) + "\n")
    sys.exit(4)
ctx = ssl.create_default_context()
if insecure:
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
try:
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx))
    r = opener.open(urllib.request.Request(url, method=method), timeout=timeout)
except (ConnectionError, ValueError) as e:
    fail(msg=str(e))
except urllib.error.HTTPError as e:
    fail(msg="Request failed", status_code=e.code, response=str(e))
except urllib.error.URLError as e:
    fail(msg=f"Request failed: {e}")
except OSError as e:
    fail(msg=f"Connection failure: {e}")
except http.client.BadStatusLine as e:
    fail(msg=f"Connection failure: connection was closed before a valid response was received: {e.line}")
except Exception as e:
    fail(msg=f"An unknown error occurred: {e}")
length = r.headers.get("Content-Length", "unknown")
code = getattr(r, "status", None)
if code != 200 and not url.startswith("file:/") and not url.startswith("ftp:/"):
    fail(msg="Request failed", status_code=code, response=f"OK ({length} bytes)")
if method == "HEAD":
    print(f"len={length}")
else:
    with open(out, "wb") as f:
        shutil.copyfileobj(r, f)
"#;

/// The downloader lines: python3 as Ansible's module (see [`PY_FETCH`]), else curl or wget;
/// with headers or credentials curl (given them as a config on stdin) is required. `$tmp`
/// receives the body; with `head`, only a HEAD request is made (check mode, as Ansible's
/// module) and `len=` says the Content-Length.
fn download_lines(timeout: i64, insecure: bool, needs_curl: bool, head: bool) -> String {
    let ins_curl = if insecure { " -k" } else { "" };
    let ins_wget = if insecure {
        " --no-check-certificate"
    } else {
        ""
    };
    let curl = if head {
        format!(
            "printf '%s' \"$cfg\" | curl -fsSLI{ins_curl} --max-time {timeout} -K - -o \"$tmp\" || {{ echo \"Request failed: curl exit $?\" >&2; exit 4; }}\n\
             printf 'len=%s\\n' \"$(tr -d '\\r' < \"$tmp\" | awk -F': *' 'tolower($1)==\"content-length\"{{n=$2}} END{{print (n==\"\" ? \"unknown\" : n)}}')\"\n"
        )
    } else {
        format!(
            "printf '%s' \"$cfg\" | curl -fsSL{ins_curl} --max-time {timeout} -K - -o \"$tmp\" || {{ echo \"Request failed: curl exit $?\" >&2; exit 4; }}\n"
        )
    };
    if needs_curl {
        return format!(
            "if command -v curl >/dev/null 2>&1; then {curl}\
             else echo 'headers and url_username need curl on the host' >&2; exit 5; fi\n"
        );
    }
    let wget = if head {
        format!("printf '%s\\n' \"$url\" | wget -q --spider{ins_wget} -T {timeout} -i - || {{ echo \"Request failed: wget exit $?\" >&2; exit 4; }}\necho len=unknown\n")
    } else {
        format!("printf '%s\\n' \"$url\" | wget -q{ins_wget} -T {timeout} -O \"$tmp\" -i - || {{ echo \"Request failed: wget exit $?\" >&2; exit 4; }}\n")
    };
    format!(
        "if command -v python3 >/dev/null 2>&1; then printf '%s' \"$url\" | python3 -c {} {} {timeout} {} \"$tmp\" || exit 4\n\
         elif command -v curl >/dev/null 2>&1; then {curl}\
         elif command -v wget >/dev/null 2>&1; then {wget}\
         else echo 'no downloader on the host: install python3, curl or wget' >&2; exit 5; fi\n",
        sh_quote(PY_FETCH),
        if head { "HEAD" } else { "GET" },
        if insecure { "1" } else { "0" },
    )
}

/// A download script's request: the URL (and the credentials curl is given) travel on stdin,
/// never in a command line.
fn download_request(script: String, options: &RequestOptions, url: &str) -> ExecRequest {
    let mut req = ExecRequest::script(script);
    req.stdin = format!("{}\n{url}\n", options.curl_config(url)).into_bytes();
    req
}

/// The result of a download script that failed, with the keys Ansible's module returns.
fn failed_download(
    out: &ExecOutput,
    url: &str,
    dest: &str,
    started: std::time::Instant,
) -> ModuleResult {
    let mut r = request_failure(&out.stderr_str());
    r.set("url", url)
        .set("dest", dest)
        .set("elapsed", started.elapsed().as_secs());
    r
}

/// A failed request's result: the `@@json` line [`PY_FETCH`] wrote (Ansible's keys), else
/// the downloader's stderr as the message.
fn request_failure(stderr: &str) -> ModuleResult {
    let keys = stderr
        .lines()
        .find_map(|l| l.strip_prefix("@@json "))
        .and_then(|j| serde_json::from_str::<serde_json::Map<String, Value>>(j).ok());
    let Some(mut keys) = keys else {
        return ModuleResult::fail(stderr.trim().to_string());
    };
    let msg = match keys.remove("msg") {
        Some(Value::String(m)) => m,
        _ => "Request failed".to_string(),
    };
    let mut r = ModuleResult::fail(msg);
    r.data.extend(keys);
    r
}

fn url_basename(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or("");
    if name.is_empty() {
        "index.html".into()
    } else {
        name.to_string()
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let started = std::time::Instant::now();
    let a = &ctx.args;
    let url = a.req_str("url")?;
    let dest = a.req_str("dest")?;
    let force = a.bool("force", false)?;
    let timeout = a.int("timeout")?.unwrap_or(10).max(1);
    let insecure = !a.bool("validate_certs", true)?;
    let options = request_options(ctx)?;
    if url.contains('\n') {
        return Err(ctx.bad("url", "a URL cannot contain a newline"));
    }
    let checksum = match a.str("checksum").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => match parse_checksum(&c) {
            Err(msg) => return Ok(ModuleResult::fail(msg)),
            Ok((tool, Digest::Hex(hex))) => Some((tool, hex)),
            Ok((tool, Digest::Url(sums))) => {
                match fetch_digest(ctx, &sums, &url, &options, timeout, insecure).await? {
                    Ok(hex) => Some((tool, hex)),
                    Err(msg) => return Ok(ModuleResult::fail(msg)),
                }
            }
        },
    };
    let attrs = Attrs::from_args(a)?;

    let mut script = format!(
        "d={}\nif [ -d \"$d\" ]; then d=\"$d/\"{}; fi\n",
        sh_quote(&dest),
        sh_quote(&url_basename(&url))
    );
    script.push_str(&section("path"));
    script.push_str("printf '%s' \"$d\"\n");
    script.push_str(&section("stat"));
    script.push_str("ep_stat \"$d\"\n");
    if let Some((tool, _)) = &checksum {
        script.push_str(&section("sum"));
        script.push_str(&format!(
            "[ -f \"$d\" ] && {tool} < \"$d\" | cut -d' ' -f1\n"
        ));
    }
    script.push_str(&section("end"));
    let s = ctx.probe(&script).await?;
    let text = |k: &str| {
        String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default())
            .trim()
            .to_string()
    };
    let path = text("path");
    let st = PathState::parse(&text("stat")).map_err(|m| ctx.protocol(m))?;
    let mut res = ModuleResult::ok();
    res.set("url", url.clone()).set("dest", path.clone());
    if let Some(sum) = &st.sha1 {
        res.set("checksum_dest", sum.clone());
    }
    let checksum_ok = checksum.as_ref().map(|(_, want)| text("sum") == *want);
    let plan = attrs.plan(&path, &st);
    if st.exists && !force && checksum_ok != Some(false) {
        // Present and not forced: no download; only attributes may need fixing.
        res.msg = Some("file already exists".into());
        plan.fields().write(&mut res);
        if !plan.commands.is_empty() {
            res.changed = true;
            if !ctx.call.check {
                if let Err(msg) = ctx.change(plan.commands.join("\n")).await? {
                    return Ok(ModuleResult::fail(msg));
                }
            }
        }
        return Ok(res);
    }
    if ctx.call.check {
        // Ansible's module makes a HEAD request in check mode: its failure fails the task;
        // the empty body it gets is what the destination is compared with.
        let script = format!(
            "set -e\n{READ_REQUEST}tmp=$(mktemp)\ntrap 'rm -f \"$tmp\"' EXIT\n{}",
            download_lines(timeout, insecure, options.wants_curl(), true)
        );
        let out = ctx
            .exec_req(download_request(script, &options, &url))
            .await?;
        if out.rc != 0 {
            return Ok(failed_download(&out, &url, &path, started));
        }
        let stdout = out.stdout_str();
        let length = stdout
            .lines()
            .find_map(|l| l.strip_prefix("len="))
            .unwrap_or("unknown");
        const EMPTY_SHA1: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        res.changed = st.sha1.as_deref() != Some(EMPTY_SHA1);
        res.set("checksum_src", EMPTY_SHA1)
            .set("elapsed", started.elapsed().as_secs());
        res.msg = Some(format!("OK ({length} bytes)"));
        return Ok(res);
    }

    let new_mode = match (&attrs.mode, st.exists) {
        (Some(m), true) => m.apply(st.mode, false),
        (Some(m), false) => m.apply(0o644, false),
        (None, true) => st.mode & 0o7777,
        (None, false) => 0o644,
    };
    let mut dl = format!(
        "set -e\n{READ_REQUEST}d={}\n\
         tmp=$(mktemp \"$(dirname -- \"$d\")/.etcdplay-dl.XXXXXXXX\")\ntrap 'rm -f \"$tmp\"' EXIT\n{}",
        sh_quote(&path),
        download_lines(timeout, insecure, options.wants_curl(), false)
    );
    if let Some((tool, want)) = &checksum {
        dl.push_str(&format!("got=$({tool} < \"$tmp\" | cut -d' ' -f1)\n[ \"$got\" = {want} ] || {{ echo \"The checksum for $d did not match {want}; it was $got.\" >&2; exit 6; }}\n"));
    }
    dl.push_str("new=$(sha1sum < \"$tmp\" | cut -c1-40)\nsize=$(stat -c %s \"$tmp\")\n");
    dl.push_str("if [ -f \"$d\" ] && [ \"$(sha1sum < \"$d\" | cut -c1-40)\" = \"$new\" ]; then echo \"same $new $size\"\n");
    if !plan.commands.is_empty() {
        dl.push_str(&format!("{}\n", plan.commands.join("\n")));
    }
    dl.push_str("exit 0\nfi\n");
    // Owner and group before the mode: chown clears setuid and setgid bits.
    if let Some(o) = &attrs.owner {
        dl.push_str(&format!("chown -- {} \"$tmp\"\n", sh_quote(o)));
    }
    if let Some(g) = &attrs.group {
        dl.push_str(&format!("chgrp -- {} \"$tmp\"\n", sh_quote(g)));
    }
    dl.push_str(&format!("chmod {new_mode:o} \"$tmp\"\n"));
    dl.push_str("mv -f \"$tmp\" \"$d\"\ntrap - EXIT\necho \"new $new $size\"\n");
    let out = ctx.exec_req(download_request(dl, &options, &url)).await?;
    if out.rc != 0 {
        return Ok(failed_download(&out, &url, &path, started));
    }
    let line = out.stdout_str();
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() != 3 {
        return Err(ctx.protocol(format!("unexpected download report '{}'", line.trim())));
    }
    res.changed = f[0] == "new" || !plan.commands.is_empty();
    res.set("checksum_src", f[1])
        .set("size", f[2].parse::<u64>().unwrap_or(0))
        .set("status_code", 200);
    res.set(
        "mode",
        crate::mode::format_mode(if f[0] == "new" { new_mode } else { plan.mode }),
    );
    res.msg = Some(format!("OK ({} bytes)", f[2]));
    Ok(res)
}

/// `headers`, `url_username`/`url_password` (aliases `username`/`password`). A line break in
/// any of them would end a curl config line early: refused.
fn request_options(ctx: &Ctx<'_>) -> Result<RequestOptions, ModuleError> {
    let a = &ctx.args;
    let mut headers = Vec::new();
    if let Some(raw) = a.raw("headers") {
        let map = raw
            .as_object()
            .ok_or_else(|| ctx.bad("headers", "expected a mapping"))?;
        for (name, value) in map {
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            headers.push((name.clone(), value));
        }
    }
    let options = RequestOptions {
        headers,
        user: a.str("url_username"),
        password: a.str("url_password"),
    };
    let has_break = |t: &str| t.contains(['\n', '\r']);
    let broken = options
        .headers
        .iter()
        .any(|(n, v)| has_break(n) || has_break(v))
        || options.user.as_deref().is_some_and(has_break)
        || options.password.as_deref().is_some_and(has_break);
    if broken {
        return Err(ctx.bad(
            "headers",
            "a header or credential cannot contain a line break",
        ));
    }
    Ok(options)
}

/// Downloads the digest file at `sums` on the host and finds the digest of `url`'s file in
/// it, with Ansible's message when it cannot.
async fn fetch_digest(
    ctx: &Ctx<'_>,
    sums: &str,
    url: &str,
    options: &RequestOptions,
    timeout: i64,
    insecure: bool,
) -> Result<Result<String, String>, ModuleError> {
    if sums.contains('\n') {
        return Err(ctx.bad("checksum", "a URL cannot contain a newline"));
    }
    let script = format!(
        "set -e\n{READ_REQUEST}tmp=$(mktemp)\ntrap 'rm -f \"$tmp\"' EXIT\n{}cat \"$tmp\"\n",
        download_lines(timeout, insecure, options.wants_curl(), false)
    );
    let mut req = ExecRequest::script(script);
    req.stdin = format!("{}\n{sums}\n", options.curl_config(sums)).into_bytes();
    let out = ctx.exec_req(req).await?;
    if out.rc != 0 {
        return Ok(Err(request_failure(&out.stderr_str())
            .msg
            .unwrap_or_default()));
    }
    let filename = url_basename(url);
    Ok(match digest_for(&filename, &out.stdout_str()) {
        Some(digest) => clean_digest(&digest),
        None => Err(format!(
            "Unable to find a checksum for file '{filename}' in '{sums}'"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_specs() {
        assert_eq!(
            parse_checksum("sha256:ABCD").unwrap(),
            ("sha256sum", Digest::Hex("abcd".to_string()))
        );
        assert!(parse_checksum("sha256").is_err());
        assert!(parse_checksum("crc:00").is_err());
        assert_eq!(
            parse_checksum("sha256:https://x/SHA256SUMS").unwrap(),
            ("sha256sum", Digest::Url("https://x/SHA256SUMS".into()))
        );
        assert_eq!(
            url_basename("https://x/etcd-v3.5.tar.gz?x=1"),
            "etcd-v3.5.tar.gz"
        );
    }

    // The digest-file formats Ansible's get_url reads (parse_digest_lines): GNU with ` ` or
    // ` *` or `./`, BSD `SHA256 (name) = hex`, and a file holding one lone digest.
    #[test]
    fn digest_files_as_ansible_reads_them() {
        let gnu = "aaaa  etcd.tar.gz\nbbbb *other.tar.gz\ncccc  ./third.zip\n";
        assert_eq!(digest_for("etcd.tar.gz", gnu).as_deref(), Some("aaaa"));
        assert_eq!(digest_for("other.tar.gz", gnu).as_deref(), Some("bbbb"));
        assert_eq!(digest_for("third.zip", gnu).as_deref(), Some("cccc"));
        assert_eq!(digest_for("missing", gnu), None);
        let bsd = "SHA256 (etcd.tar.gz) = dddd\n";
        assert_eq!(digest_for("etcd.tar.gz", bsd).as_deref(), Some("dddd"));
        assert_eq!(digest_for("anything", "eeee\n").as_deref(), Some("eeee"));
        assert_eq!(clean_digest("AB\u{200b}CD").as_deref(), Ok("abcd"));
        assert!(clean_digest("xyz").is_err());
    }
}
