//! Proof that rustls (the TLS stack the etcd client uses) accepts the certificates: real
//! mutual-TLS handshakes over 127.0.0.1, with members acting as servers and as peers' clients,
//! the tools' client certificate, and a user-supplied RSA CA — plus the failures that must
//! happen (wrong server name, client from another CA).

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{full_pki, member, openssl_ca};
use etcdplay_pki::{EnsureOptions, PkiDir};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn roots(dir: &Path) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap())
        .unwrap();
    Arc::new(roots)
}

fn identity(dir: &Path, stem: &str) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let certs = CertificateDer::pem_file_iter(dir.join(format!("{stem}.pem")))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join(format!("{stem}-key.pem"))).unwrap();
    (certs, key)
}

/// Runs one mutual-TLS exchange: a server in `server_dir` presenting `server_stem` and
/// requiring a client certificate from its CA; a client trusting `client_dir`'s CA,
/// presenting `client_stem` and expecting the server to be `server_name`. Returns the
/// subject of the client as the server saw it, or the first error.
async fn handshake(
    server_dir: &Path,
    server_stem: &str,
    client_dir: &Path,
    client_stem: &str,
    server_name: &str,
) -> Result<String, String> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(server_dir), provider())
        .build()
        .unwrap();
    let (certs, key) = identity(server_dir, server_stem);
    let server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| format!("server config: {e}"))?;
    let (certs, key) = identity(client_dir, client_stem);
    let client = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(client_dir))
        .with_client_auth_cert(certs, key)
        .map_err(|e| format!("client config: {e}"))?;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let server_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = acceptor
            .accept(tcp)
            .await
            .map_err(|e| format!("server: {e}"))?;
        let peer = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first().cloned())
            .ok_or("no client certificate")?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf)
            .await
            .map_err(|e| format!("server read: {e}"))?;
        tls.write_all(b"pong").await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(peer)
    });

    let connector = TlsConnector::from(Arc::new(client));
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let client_result = async {
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("client: {e}"))?;
        tls.write_all(b"ping")
            .await
            .map_err(|e| format!("client write: {e}"))?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf)
            .await
            .map_err(|e| format!("client read: {e}"))?;
        assert_eq!(&buf, b"pong");
        Ok::<_, String>(())
    }
    .await;
    // In TLS 1.3 the client finishes before the server judges its certificate, so either
    // side may hold the informative error: report both.
    let peer = match (client_result, server_task.await.unwrap()) {
        (Ok(()), Ok(peer)) => peer,
        (client, server) => {
            return Err(format!("{:?} / {:?}", client.err(), server.err()));
        }
    };
    let (_, cert) = x509_parser::parse_x509_certificate(peer.as_ref()).unwrap();
    Ok(cert.subject().to_string())
}

#[tokio::test]
async fn members_and_client_complete_mutual_tls() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = full_pki(tmp.path());
    let dir = pki.path();
    // etcdctl-style: tools' client certificate against a member reached by loopback IP.
    let peer = handshake(dir, "etcd1", dir, "client", "127.0.0.1")
        .await
        .unwrap();
    assert_eq!(peer, "O=etcdplay, CN=etcdplay-client");
    // Peer traffic: etcd2 connects to etcd1 with its member certificate, by DNS names.
    for name in ["localhost", "etcd1"] {
        let peer = handshake(dir, "etcd1", dir, "etcd2", name).await.unwrap();
        assert_eq!(peer, "O=etcdplay, CN=etcd2");
    }
    // IPv6 loopback SAN, checked by name only (the TCP connection itself is 127.0.0.1).
    handshake(dir, "etcd2", dir, "etcd1", "::1").await.unwrap();
}

#[tokio::test]
async fn wrong_name_and_foreign_client_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = full_pki(tmp.path());
    let dir = pki.path();
    let err = handshake(dir, "etcd1", dir, "client", "etcd2")
        .await
        .unwrap_err();
    assert!(
        err.contains("client:") && err.contains("not valid for name"),
        "{err}"
    );
    let err = handshake(dir, "etcd1", dir, "client", "10.77.0.2")
        .await
        .unwrap_err();
    assert!(err.contains("not valid for name"), "{err}");

    // A client certificate from another etcdplay PKI (another CA) must be refused by the
    // server even though the client trusts the server.
    let other = full_pki(&tmp.path().join("other"));
    std::fs::copy(dir.join("ca.pem"), other.path().join("ca.pem")).unwrap();
    let err = handshake(dir, "etcd1", other.path(), "client", "etcd1")
        .await
        .unwrap_err();
    assert!(
        err.contains("server:") && err.contains("UnknownIssuer"),
        "{err}"
    );
}

#[tokio::test]
async fn certificates_from_an_openssl_rsa_ca_work_in_rustls() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    openssl_ca(&dir, "rsa:2048");
    let mut pki = PkiDir::open_or_create(&dir).unwrap();
    pki.ensure_ca().unwrap();
    let opts = EnsureOptions::default();
    pki.ensure_member(&member("etcd1", &["10.9.9.1"]), &opts)
        .unwrap();
    pki.ensure_client(&opts).unwrap();
    let peer = handshake(&dir, "etcd1", &dir, "client", "etcd1")
        .await
        .unwrap();
    assert_eq!(peer, "O=etcdplay, CN=etcdplay-client");
}
