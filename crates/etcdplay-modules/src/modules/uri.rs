//! `uri`: an HTTP(S) request made from the host, as Ansible's module makes it: method, body
//! (`raw`, `json` or `form-urlencoded`), headers, basic auth, redirects, certificate checking,
//! and the statuses that count as success (`status_code`). The host's python3 sends it (every
//! host Ansible manages has one); the request, credentials included, travels on stdin, and
//! one JSON line comes back. The pure [`decide`] turns the answer into Ansible's result
//! (`status`, `content`, `json`, lower-cased response headers, `url`, `redirected`).

use std::collections::BTreeMap;

use base64::Engine;
use etcdplay_transport::script::sh_quote;
use etcdplay_transport::ExecRequest;
use serde_json::{json, Map, Value};

use crate::host::Ctx;
use crate::{ModuleError, ModuleResult};

/// Sends the request read from stdin and prints one JSON line; never raises. Credentials are
/// configured as Ansible's `open_url` does (`_configure_auth`): `url_username` wins, else the
/// URL's userinfo (split at its first `@`, then at its first `:`, both percent-decoded) is
/// taken out of the URL; with `force_basic_auth` they go in the first request's header, else
/// to urllib's basic and digest handlers, which answer a 401 challenge. Failures are told
/// apart as Ansible's `fetch_url` does: `fail` ends the module with that message alone,
/// `error` is a status of -1 with its message.
const SENDER: &str = r#"import base64, http.client, json, ssl, sys, time, urllib.error, urllib.request
from urllib.parse import unquote, urlparse, urlunparse
r = json.loads(sys.stdin.read())
def mask(u):
    p = urlparse(u)
    if not p.username and not p.password:
        return u
    if p.password:
        n = p.netloc.replace(f"{p.username}:{p.password}@", "****:****@")
    else:
        n = p.netloc.replace(f"{p.username}@", "****@")
    return urlunparse(p._replace(netloc=n))
class Keep(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None if not r["follow"] else super().redirect_request(req, fp, code, msg, headers, newurl)
ctx = ssl.create_default_context()
if not r["validate_certs"]:
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
out = {"url": mask(r["url"])}
handlers = [Keep(), urllib.request.HTTPSHandler(context=ctx)]
url, headers, user, password = r["url"], r["headers"], r["user"], r["password"]
start = time.time()
try:
    p = urlparse(url)
    if p.scheme != "ftp":
        if user:
            netloc = p.netloc
        elif "@" in p.netloc:
            cred, netloc = p.netloc.split("@", 1)
            user, _, password = cred.partition(":")
            user, password = unquote(user), unquote(password)
            url = urlunparse(p._replace(netloc=netloc))
        if user and not r["force_basic_auth"]:
            pm = urllib.request.HTTPPasswordMgrWithDefaultRealm()
            pm.add_password(None, netloc, user, password)
            handlers += [urllib.request.HTTPBasicAuthHandler(pm), urllib.request.HTTPDigestAuthHandler(pm)]
        elif user:
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            headers["Authorization"] = "Basic " + token
    opener = urllib.request.build_opener(*handlers)
    data = base64.b64decode(r["body"]) if r["body"] is not None else None
    req = urllib.request.Request(url, data=data, method=r["method"], headers=headers)
    resp = opener.open(req, timeout=r["timeout"])
except (ConnectionError, ValueError) as e:
    out["fail"] = str(e)
except urllib.error.HTTPError as e:
    resp = e
except urllib.error.URLError as e:
    out["error"] = f"Request failed: {e}"
except OSError as e:
    out["error"] = f"Connection failure: {e}"
except http.client.BadStatusLine as e:
    out["error"] = f"Connection failure: connection was closed before a valid response was received: {e.line}"
except Exception as e:
    out["error"] = f"An unknown error occurred: {e}"
if "error" in out:
    out["elapsed"] = int(time.time() - start)
if "fail" in out or "error" in out:
    print(json.dumps(out)); sys.exit(0)
body = resp.read()
out.update(status=resp.status if hasattr(resp, "status") else resp.code, final_url=mask(resp.geturl()),
           headers={k.lower(): v for k, v in resp.headers.items()}, content=base64.b64encode(body).decode(),
           elapsed=int(time.time() - start))
print(json.dumps(out))
"#;

/// What the host's sender answered.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    /// A failure that ends the module with this message alone (Ansible's `fetch_url` fails
    /// the module itself on a `ValueError` such as an invalid port).
    pub(crate) fail: Option<String>,
    /// A request that got no response: status -1 with this message.
    pub(crate) error: Option<String>,
    pub(crate) status: i64,
    pub(crate) url: String,
    pub(crate) final_url: String,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) content: Vec<u8>,
    pub(crate) elapsed: i64,
}

impl Answer {
    pub(crate) fn parse(line: &str) -> Option<Answer> {
        let v: Value = serde_json::from_str(line.trim()).ok()?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Some(Answer {
            fail: v.get("fail").and_then(Value::as_str).map(str::to_string),
            error: v.get("error").and_then(Value::as_str).map(str::to_string),
            status: v.get("status").and_then(Value::as_i64).unwrap_or(-1),
            url: text("url"),
            final_url: text("final_url"),
            headers: v
                .get("headers")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            content: base64::engine::general_purpose::STANDARD
                .decode(text("content"))
                .unwrap_or_default(),
            elapsed: v.get("elapsed").and_then(Value::as_i64).unwrap_or(0),
        })
    }
}

/// Ansible's result for `answer`: failed when the status is not one of `wanted`.
pub(crate) fn decide(answer: &Answer, wanted: &[i64], return_content: bool) -> ModuleResult {
    let mut res = ModuleResult::ok();
    if let Some(msg) = &answer.fail {
        let mut failed = ModuleResult::fail(msg.clone());
        failed.set("status", -1).set("url", answer.url.clone());
        return failed;
    }
    if let Some(error) = &answer.error {
        let mut failed =
            ModuleResult::fail(format!("Status code was -1 and not {wanted:?}: {error}"));
        failed
            .set("status", -1)
            .set("url", answer.url.clone())
            .set("redirected", false)
            .set("elapsed", answer.elapsed);
        return failed;
    }
    res.set("status", answer.status)
        .set("url", answer.final_url.clone())
        .set("redirected", answer.final_url != answer.url)
        .set("elapsed", answer.elapsed);
    for (k, v) in &answer.headers {
        res.set(&k.replace('-', "_"), v.clone());
    }
    let text = String::from_utf8_lossy(&answer.content).into_owned();
    let is_json = answer
        .headers
        .get("content-type")
        .is_some_and(|t| t.contains("json"));
    if is_json {
        if let Ok(parsed) = serde_json::from_str::<Value>(&text) {
            res.set("json", parsed);
        }
    }
    if return_content {
        res.set("content", text);
    }
    if wanted.contains(&answer.status) {
        res.msg = Some(format!("OK ({} bytes)", answer.content.len()));
    } else {
        res.failed = true;
        res.msg = Some(format!(
            "Status code was {} and not {wanted:?}: HTTP Error {}",
            answer.status, answer.status
        ));
    }
    res
}

/// A status code given as a number or as text.
fn status_number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The request body as bytes, per `body_format`.
fn body_bytes(body: Option<&Value>, format: &str) -> Result<Option<Vec<u8>>, String> {
    let Some(body) = body else { return Ok(None) };
    Ok(Some(match (format, body) {
        ("json", Value::String(s)) => s.clone().into_bytes(),
        ("json", other) => other.to_string().into_bytes(),
        ("form-urlencoded", Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                format!("{}={}", form_escape(k), form_escape(&v))
            })
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes(),
        ("form-urlencoded", Value::String(s)) | ("raw", Value::String(s)) => s.clone().into_bytes(),
        ("raw", other) => other.to_string().into_bytes(),
        (f, _) => return Err(format!("body_format '{f}' is not supported")),
    }))
}

fn form_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let url = a.req_str("url")?;
    let method = a
        .str("method")
        .unwrap_or_else(|| "GET".into())
        .to_uppercase();
    let format = a.choice("body_format", &["raw", "json", "form-urlencoded"], "raw")?;
    let body = body_bytes(a.raw("body"), &format).map_err(|m| ctx.bad("body_format", m))?;
    let mut headers: Map<String, Value> = a
        .raw("headers")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let has = |h: &Map<String, Value>, name: &str| h.keys().any(|k| k.eq_ignore_ascii_case(name));
    match format.as_str() {
        "json" if !has(&headers, "content-type") => {
            headers.insert("Content-Type".into(), "application/json".into());
        }
        "form-urlencoded" if !has(&headers, "content-type") => {
            headers.insert(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            );
        }
        _ => {}
    }
    let wanted: Vec<i64> = match a.raw("status_code") {
        None => vec![200],
        Some(Value::Array(items)) => items.iter().filter_map(status_number).collect(),
        Some(one) => status_number(one).into_iter().collect(),
    };
    let follow = !matches!(
        a.choice(
            "follow_redirects",
            &["all", "safe", "none", "urllib2", "yes", "no"],
            "safe",
        )?
        .as_str(),
        "none" | "no"
    );
    let request = json!({
        "url": url,
        "method": method,
        "headers": headers,
        "body": body.map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
        "timeout": a.int("timeout")?.unwrap_or(30),
        "validate_certs": a.bool("validate_certs", true)?,
        "follow": follow,
        "user": a.str("url_username"),
        "password": a.str("url_password"),
        "force_basic_auth": a.bool("force_basic_auth", false)?,
    });
    let out = ctx
        .exec_req(ExecRequest {
            script: format!("exec python3 -c {}\n", sh_quote(SENDER)),
            stdin: request.to_string().into_bytes(),
            ..ExecRequest::default()
        })
        .await?;
    if out.rc != 0 {
        return Ok(ModuleResult::fail(format!(
            "python3 is needed on the host for uri: {}",
            out.stderr_str().trim()
        )));
    }
    let Some(answer) = Answer::parse(&out.stdout_str()) else {
        return Err(ctx.protocol(format!(
            "unexpected uri answer '{}'",
            out.stdout_str().trim()
        )));
    };
    Ok(decide(&answer, &wanted, a.bool("return_content", false)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_ansibles_result() {
        let answer = Answer::parse(
            r#"{"url": "http://x/", "status": 200, "final_url": "http://x/", "headers": {"content-type": "application/json", "x-etcd-index": "5"}, "content": "eyJoZWFsdGgiOiAidHJ1ZSJ9", "elapsed": 0}"#,
        )
        .unwrap();
        let res = decide(&answer, &[200], false);
        assert!(!res.failed);
        assert_eq!(res.data["json"], json!({"health": "true"}));
        assert_eq!(res.data["x_etcd_index"], "5");
        assert!(!res.data.contains_key("content"));
        assert_eq!(res.msg.as_deref(), Some("OK (18 bytes)"));
        let res = decide(&answer, &[204], true);
        assert!(res.failed && res.data["content"] == "{\"health\": \"true\"}");
        let refused =
            Answer::parse(r#"{"url": "http://x/", "error": "Request failed: <urlopen error [Errno 111] Connection refused>"}"#)
                .unwrap();
        let res = decide(&refused, &[200], false);
        assert!(res.failed && res.data["status"] == -1);
    }

    #[test]
    fn bodies_follow_body_format() {
        assert_eq!(
            body_bytes(Some(&json!({"a": 1})), "json").unwrap().unwrap(),
            br#"{"a":1}"#
        );
        assert_eq!(
            body_bytes(Some(&json!({"name": "a b", "x": "&"})), "form-urlencoded")
                .unwrap()
                .unwrap(),
            b"name=a+b&x=%26"
        );
        assert!(body_bytes(Some(&json!("x")), "xml").is_err());
    }
}
