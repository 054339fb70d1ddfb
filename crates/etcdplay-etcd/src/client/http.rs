//! One HTTP/1.1 `GET` to a member's client URL, for what etcd reports only over HTTP (`/version`,
//! `/metrics`): plain TCP, or TLS verified against the cluster CA alone with the client
//! certificate (the same rustls and ring as the gRPC channels). `Connection: close`, the answer
//! read up to a bound; only a `200` answer is returned.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::endpoint::EndpointUrl;
use crate::client::tls::EndpointTls;

/// Why a `GET` gave no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("bad endpoint address '{0}'")]
    Address(String),
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} answered '{status}'")]
    Status { path: String, status: String },
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> HttpError {
    move |source| HttpError::Io { what, source }
}

/// `GET path` on `ep`: the whole answer (status line, headers, body) as text, at most `limit`
/// bytes of it.
pub(crate) async fn get(
    ep: &EndpointUrl,
    tls: Option<&EndpointTls>,
    path: &str,
    limit: u64,
) -> Result<String, HttpError> {
    let (host, port) = host_port(ep).ok_or_else(|| HttpError::Address(ep.url.clone()))?;
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(io("connect"))?;
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let head = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    let raw = match tls {
        None => exchange(tcp, &head, limit).await?,
        Some(tls) => {
            let name =
                ServerName::try_from(host.clone()).map_err(|_| HttpError::Address(host.clone()))?;
            let stream = tokio_rustls::TlsConnector::from(Arc::new(client_config(tls)?))
                .connect(name, tcp)
                .await
                .map_err(io("TLS handshake"))?;
            exchange(stream, &head, limit).await?
        }
    };
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(HttpError::Status {
            path: path.to_string(),
            status: status.trim().chars().take(80).collect(),
        });
    }
    Ok(text)
}

/// `host` and `port` of the endpoint's URL (brackets of an IPv6 host removed; the scheme's
/// port when none is written).
pub(crate) fn host_port(ep: &EndpointUrl) -> Option<(String, u16)> {
    let authority = ep.url.split_once("://")?.1;
    let authority = authority.split('/').next().unwrap_or(authority);
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

/// Sends the request and reads the answer (to EOF or the bound); an error after some bytes
/// arrived (a peer closing TLS without `close_notify`) keeps what was read.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    head: &str,
    limit: u64,
) -> Result<Vec<u8>, HttpError> {
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(io("send"))?;
    stream.flush().await.map_err(io("send"))?;
    let mut raw = Vec::new();
    match (&mut stream).take(limit).read_to_end(&mut raw).await {
        Err(e) if raw.is_empty() => Err(io("read")(e)),
        _ => Ok(raw),
    }
}

/// A rustls client trusting only the cluster CA, presenting the client certificate.
fn client_config(tls: &EndpointTls) -> Result<rustls::ClientConfig, HttpError> {
    let bad = |what: &str| HttpError::Tls(what.to_string());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(tls.ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(|_| bad("CA certificate"))?)
            .map_err(|_| bad("CA certificate"))?;
    }
    let chain = CertificateDer::pem_slice_iter(tls.client_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("client certificate"))?;
    // The parser's error never quotes the key; say only what kind of problem it is.
    let key = PrivateKeyDer::from_pem_slice(tls.client_key_pem.expose().as_bytes())
        .map_err(|_| bad("client key: no PEM private key found"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| HttpError::Tls(format!("client certificate: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_come_from_the_url() {
        let ep = |url: &str, https: bool| EndpointUrl {
            url: url.to_string(),
            https,
        };
        assert_eq!(
            host_port(&ep("https://10.0.0.1:2379", true)),
            Some(("10.0.0.1".into(), 2379))
        );
        assert_eq!(
            host_port(&ep("https://[fd00::1]:2379", true)),
            Some(("fd00::1".into(), 2379))
        );
        assert_eq!(
            host_port(&ep("http://etcd1", false)),
            Some(("etcd1".into(), 80))
        );
        assert_eq!(host_port(&ep("etcd1:2379", false)), None);
    }
}
