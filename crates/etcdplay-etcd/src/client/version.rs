//! etcd's versions: [`EtcdVersion`] read from `etcd --version` or a version string, and each
//! member's server and cluster version from its HTTP `/version` endpoint
//! ([`ClusterClient::versions`]), the one place etcd 3.4 and 3.5 report the cluster version
//! (the v3 gRPC status carries only the server's). The request is one `GET /version`
//! (`http.rs`); the answer is read up to a bound.

use std::fmt;

use crate::client::cluster::ClusterClient;
use crate::client::endpoint::EndpointUrl;
use crate::client::http;
use crate::client::tls::EndpointTls;

/// The most of a `/version` answer that is read (etcd's is under 100 bytes of JSON).
const MAX_ANSWER: u64 = 16 * 1024;

/// An etcd release number, `MAJOR.MINOR.PATCH` (a pre-release suffix is ignored; the cluster
/// version `3.5.0` reads as 3.5.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EtcdVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl EtcdVersion {
    /// Reads `3.5.1`, `v3.5.1`, `3.5.0-rc.0`, `3.5` (patch 0), or the output of
    /// `etcd --version` (its `etcd Version: X.Y.Z` line).
    pub fn parse(text: &str) -> Option<EtcdVersion> {
        let line = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("etcd Version:"))
            .unwrap_or(text);
        let word = line.trim().trim_start_matches('v');
        let core = word.split(['-', '+', ' ']).next().unwrap_or_default();
        let mut parts = core.split('.');
        let number = |p: Option<&str>| p.and_then(|s| s.parse::<u32>().ok());
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        let patch = match parts.next() {
            None => 0,
            some => number(some)?,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(EtcdVersion {
            major,
            minor,
            patch,
        })
    }

    /// `MAJOR.MINOR`, how etcd names a cluster version.
    pub fn minor_label(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// Whether both are the same `MAJOR.MINOR`.
    pub fn same_minor(&self, other: &EtcdVersion) -> bool {
        (self.major, self.minor) == (other.major, other.minor)
    }
}

impl fmt::Display for EtcdVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What one member's `/version` said, or why it said nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionReport {
    /// The endpoint asked.
    pub endpoint: String,
    /// `Ok((server, cluster))` as etcd wrote them (`etcdserver`, `etcdcluster`).
    pub answer: Result<(String, String), String>,
}

impl ClusterClient {
    /// Asks every endpoint's `/version` in parallel; returns in endpoint order. A dead
    /// endpoint comes back with its error within the client's timeout.
    pub async fn versions(&self) -> Vec<VersionReport> {
        let tasks: Vec<_> = self
            .endpoint_urls()
            .iter()
            .map(|ep| {
                let (ep, tls, timeout) = (ep.clone(), self.tls(), self.timeout());
                tokio::spawn(async move {
                    match tokio::time::timeout(timeout, fetch_version(&ep, tls.as_deref())).await {
                        Ok(answer) => answer,
                        Err(_) => Err(format!("no answer within {}s", timeout.as_secs())),
                    }
                })
            })
            .collect();
        let mut reports = Vec::with_capacity(tasks.len());
        for (task, ep) in tasks.into_iter().zip(self.endpoint_urls()) {
            let answer = task
                .await
                .unwrap_or_else(|e| Err(format!("version task failed: {e}")));
            reports.push(VersionReport {
                endpoint: ep.url.clone(),
                answer,
            });
        }
        reports
    }
}

/// One `GET /version` on `ep`.
async fn fetch_version(
    ep: &EndpointUrl,
    tls: Option<&EndpointTls>,
) -> Result<(String, String), String> {
    let raw = http::get(ep, tls, "/version", MAX_ANSWER)
        .await
        .map_err(|e| e.to_string())?;
    parse_answer(raw.as_bytes())
}

/// The `(etcdserver, etcdcluster)` pair of an HTTP answer.
fn parse_answer(raw: &[u8]) -> Result<(String, String), String> {
    let text = String::from_utf8_lossy(raw);
    let status = text.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("/version answered '{}'", status.trim()));
    }
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // The body is one small JSON object; taking it from its braces also reads a chunked one.
    let json = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) if a < b => &body[a..=b],
        _ => return Err("/version: no JSON object in the answer".into()),
    };
    let doc: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("/version: not JSON ({e})"))?;
    let field = |k: &str| {
        doc.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("/version: no '{k}' in {json}"))
    };
    Ok((field("etcdserver")?, field("etcdcluster")?))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn versions_are_read_from_etcd_output_and_strings() {
        let v = |major, minor, patch| EtcdVersion {
            major,
            minor,
            patch,
        };
        // What `etcd --version` prints (Debian bookworm's etcd-server 3.4.23).
        let out = "etcd Version: 3.4.23\nGit SHA: Not provided\nGo Version: go1.19.8\n";
        assert_eq!(EtcdVersion::parse(out), Some(v(3, 4, 23)));
        assert_eq!(EtcdVersion::parse("3.5.0"), Some(v(3, 5, 0)));
        assert_eq!(EtcdVersion::parse("v3.6.0-rc.1"), Some(v(3, 6, 0)));
        assert_eq!(EtcdVersion::parse("3.5"), Some(v(3, 5, 0)));
        for bad in ["", "etcd", "3", "3.x.1", "3.5.1.2", "etcd Version: three"] {
            assert_eq!(EtcdVersion::parse(bad), None, "{bad}");
        }
        assert!(v(3, 4, 23) < v(3, 5, 0) && v(3, 5, 0) < v(3, 5, 1));
        assert_eq!(v(3, 5, 1).minor_label(), "3.5");
        assert_eq!(v(3, 5, 1).to_string(), "3.5.1");
    }

    #[test]
    fn answers_are_read_with_or_without_chunking() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 44\r\n\r\n{\"etcdserver\":\"3.4.23\",\"etcdcluster\":\"3.4.0\"}";
        assert_eq!(parse_answer(plain), Ok(("3.4.23".into(), "3.4.0".into())));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2c\r\n{\"etcdserver\":\"3.5.1\",\"etcdcluster\":\"3.5.0\"}\r\n0\r\n\r\n";
        assert_eq!(parse_answer(chunked), Ok(("3.5.1".into(), "3.5.0".into())));
        let refused = b"HTTP/1.1 404 Not Found\r\n\r\n404 page not found";
        assert!(parse_answer(refused).unwrap_err().contains("404"));
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\n\r\n{\"x\":1}")
            .unwrap_err()
            .contains("etcdserver"));
    }

    #[tokio::test]
    async fn versions_are_asked_of_every_endpoint_in_order() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // A one-shot HTTP server answering with the body a 3.4.23 lab member gives `curl /version`.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 1024];
            let n = conn.read(&mut buf).await.expect("read");
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = r#"{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(answer.as_bytes()).await.expect("write");
            head
        });
        // Port 9 on loopback: nothing listens there.
        let client = ClusterClient::new(
            vec![format!("http://{addr}"), "http://127.0.0.1:9".into()],
            None,
            Duration::from_secs(5),
        )
        .expect("client");
        let reports = client.versions().await;
        let head = server.await.expect("server");
        assert!(head.starts_with("GET /version HTTP/1.1\r\n"), "{head}");
        assert_eq!(reports.len(), 2);
        assert_eq!(
            reports[0].answer,
            Ok(("3.4.23".to_string(), "3.4.0".to_string()))
        );
        assert!(
            reports[1].answer.as_ref().unwrap_err().contains("connect"),
            "{reports:?}"
        );
    }
}
