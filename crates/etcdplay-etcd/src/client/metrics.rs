//! A member's backend quota, which etcd's gRPC API does not report: read from the Prometheus
//! text its client URL serves at `/metrics` (`etcd_server_quota_backend_bytes`, since etcd
//! 3.4), over the same TLS as every other call (the cluster CA, the client certificate). One
//! HTTP/1.1 request with `Connection: close`; the answer is read up to [`MAX_METRICS`].

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::endpoint::EndpointUrl;
use crate::client::tls::EndpointTls;

/// The metric holding the quota.
const QUOTA_METRIC: &str = "etcd_server_quota_backend_bytes";
/// The most of `/metrics` read (a member serves some 200 kB).
const MAX_METRICS: u64 = 8 * 1024 * 1024;

/// Why the quota could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MetricsError {
    #[error("bad endpoint address")]
    Address,
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("/metrics answered {0}")]
    Status(String),
    #[error("/metrics has no {QUOTA_METRIC}")]
    Missing,
}

/// The quota in bytes of the member at `ep`.
pub(crate) async fn quota(
    ep: &EndpointUrl,
    tls: Option<&EndpointTls>,
    timeout: Duration,
) -> Result<i64, MetricsError> {
    let body = tokio::time::timeout(timeout, fetch(ep, tls))
        .await
        .map_err(|_| MetricsError::Timeout(timeout))??;
    parse_quota(&body).ok_or(MetricsError::Missing)
}

/// `host` and `port` of the endpoint's URL (brackets of an IPv6 host removed).
fn host_port(ep: &EndpointUrl) -> Option<(String, u16)> {
    let authority = ep.url.split_once("://")?.1;
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']')?;
            (host, after.strip_prefix(':').unwrap_or(""))
        }
        None => authority.rsplit_once(':').unwrap_or((authority, "")),
    };
    let port = match port {
        "" if ep.https => 443,
        "" => 80,
        p => p.parse().ok()?,
    };
    Some((host.to_string(), port))
}

async fn fetch(ep: &EndpointUrl, tls: Option<&EndpointTls>) -> Result<String, MetricsError> {
    let (host, port) = host_port(ep).ok_or(MetricsError::Address)?;
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: text/plain\r\n\r\n"
    );
    match tls {
        None => exchange(tcp, &request).await,
        Some(tls) => {
            let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(tls)?));
            let name = ServerName::try_from(host).map_err(|_| MetricsError::Address)?;
            let stream = connector.connect(name, tcp).await?;
            exchange(stream, &request).await
        }
    }
}

/// A rustls client trusting the cluster CA alone and presenting the client certificate.
fn client_config(tls: &EndpointTls) -> Result<rustls::ClientConfig, MetricsError> {
    let bad = |what: &str| MetricsError::Tls(what.to_string());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(tls.ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(|_| bad("CA certificate"))?)
            .map_err(|_| bad("CA certificate"))?;
    }
    let chain = CertificateDer::pem_slice_iter(tls.client_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("client certificate"))?;
    let key = PrivateKeyDer::from_pem_slice(tls.client_key_pem.expose().as_bytes())
        .map_err(|_| bad("client key"))?;
    rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| MetricsError::Tls(e.to_string()))
}

/// Sends the request and reads the answer (bounded); the body when the status is 200.
async fn exchange(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    request: &str,
) -> Result<String, MetricsError> {
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let mut answer = Vec::new();
    stream.take(MAX_METRICS).read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200") && !status.starts_with("HTTP/1.0 200") {
        return Err(MetricsError::Status(status.chars().take(80).collect()));
    }
    Ok(text.into_owned())
}

/// The quota from Prometheus text: the sample line `etcd_server_quota_backend_bytes 2.147483648e+09`.
/// (A chunked body may split a line only between chunks of several kB; the sample line is
/// short and read whole in practice, and a split one is reported as missing.)
pub(crate) fn parse_quota(text: &str) -> Option<i64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(QUOTA_METRIC)?.strip_prefix(' ')?;
        let bytes: f64 = value.trim().parse().ok()?;
        (bytes.is_finite() && bytes >= 0.0).then_some(bytes as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_sample_is_read_in_prometheus_notation() {
        // As etcd 3.4.23 printed it for --quota-backend-bytes 12345678.
        let text =
            "# HELP etcd_server_quota_backend_bytes Current backend storage quota size in bytes.\n\
                    # TYPE etcd_server_quota_backend_bytes gauge\n\
                    etcd_server_quota_backend_bytes 1.2345678e+07\n\
                    etcd_server_quota_backend_bytes_other 5\n";
        assert_eq!(parse_quota(text), Some(12_345_678));
        assert_eq!(parse_quota("etcd_server_quota_backend_bytes NaN\n"), None);
        assert_eq!(parse_quota("nothing here\n"), None);
    }

    #[test]
    fn host_and_port_come_from_the_url() {
        let ep = |url: &str| EndpointUrl {
            url: url.to_string(),
            https: url.starts_with("https"),
        };
        assert_eq!(
            host_port(&ep("https://10.0.0.1:2379")),
            Some(("10.0.0.1".to_string(), 2379))
        );
        assert_eq!(
            host_port(&ep("https://[fd00::1]:2379")),
            Some(("fd00::1".to_string(), 2379))
        );
        assert_eq!(
            host_port(&ep("http://etcd1")),
            Some(("etcd1".to_string(), 80))
        );
    }
}
