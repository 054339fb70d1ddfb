//! Real etcd clusters for the tests: `etcd` members on 127.0.0.1 with free high ports and
//! temporary data dirs, plain or with TLS and client-certificate auth on the client port
//! (certificates from `etcdplay-pki`). Members are stopped by their own pid when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use etcdplay_pki::{EnsureOptions, MemberSpec, PkiDir};

use crate::client::tls::{EndpointTls, SecretKeyPem};

/// The etcd binary (Debian's etcd-server package); `ETCD_BIN` overrides.
fn etcd_bin() -> PathBuf {
    std::env::var_os("ETCD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"))
}

/// `n` distinct free ports on 127.0.0.1 (held open together so that they differ).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) client_url: String,
    child: Option<Child>,
}

impl Member {
    /// Stops the member (SIGKILL to its pid) and waits for it.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) struct Cluster {
    pub(crate) members: Vec<Member>,
    /// The PKI directory when the cluster uses TLS.
    pub(crate) pki: Option<PkiDir>,
    /// Keeps data dirs and logs until the cluster is dropped (members drop first).
    pub(crate) dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` members named `m0..`; `tls` puts the client port behind TLS with
    /// `--client-cert-auth`. Peers talk plain HTTP (not what is tested here).
    pub(crate) fn start(n: usize, tls: bool) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("etcdplay-client-")
            .tempdir()
            .expect("temp dir");
        let ports = free_ports(2 * n);
        let scheme = if tls { "https" } else { "http" };
        let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        let peer_url = |i: usize| format!("http://127.0.0.1:{}", ports[2 * i + 1]);
        let initial: Vec<String> = (0..n)
            .map(|i| format!("{}={}", names[i], peer_url(i)))
            .collect();
        let pki = tls.then(|| {
            let mut pki = PkiDir::open_or_create(&dir.path().join("pki")).expect("pki dir");
            pki.ensure_ca().expect("ca");
            for name in &names {
                let spec = MemberSpec {
                    name: name.clone(),
                    sans: vec!["127.0.0.1".into()],
                };
                pki.ensure_member(&spec, &EnsureOptions::default())
                    .expect("member cert");
            }
            pki.ensure_client(&EnsureOptions::default())
                .expect("client cert");
            pki
        });
        let mut members = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let client_url = format!("{scheme}://127.0.0.1:{}", ports[2 * i]);
            let data = dir.path().join(format!("{name}.etcd"));
            let log =
                std::fs::File::create(dir.path().join(format!("{name}.log"))).expect("log file");
            let mut cmd = Command::new(etcd_bin());
            cmd.args(["--name", name])
                .arg("--data-dir")
                .arg(&data)
                .args([
                    "--listen-client-urls",
                    &client_url,
                    "--advertise-client-urls",
                    &client_url,
                ])
                .args([
                    "--listen-peer-urls",
                    &peer_url(i),
                    "--initial-advertise-peer-urls",
                    &peer_url(i),
                ])
                .args([
                    "--initial-cluster",
                    &initial.join(","),
                    "--initial-cluster-state",
                    "new",
                ])
                .args(["--initial-cluster-token", &format!("t-{}", ports[0])])
                .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            if let Some(pki) = &pki {
                let (cert, key) = pki.member_paths(name);
                cmd.arg("--cert-file").arg(cert).arg("--key-file").arg(key);
                cmd.arg("--trusted-ca-file")
                    .arg(pki.ca_pem_path())
                    .arg("--client-cert-auth");
            }
            let child = cmd.spawn().expect("start etcd");
            members.push(Member {
                name: name.clone(),
                client_url,
                child: Some(child),
            });
        }
        Cluster { members, pki, dir }
    }

    pub(crate) fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// The client TLS material of this cluster's PKI.
    pub(crate) fn client_tls(&self) -> EndpointTls {
        let pki = self.pki.as_ref().expect("a TLS cluster");
        tls_from(pki)
    }

    /// The last lines of a member's log, for failure messages.
    pub(crate) fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

/// The CA and client certificate of `pki` as [`EndpointTls`].
pub(crate) fn tls_from(pki: &PkiDir) -> EndpointTls {
    let client = pki.client_files().expect("client files");
    EndpointTls {
        ca_pem: pki.ca_pem().expect("ca pem").to_string(),
        client_cert_pem: client.cert_pem.clone(),
        client_key_pem: SecretKeyPem::new(client.key_pem.expose().to_string()),
    }
}

/// A second, unrelated CA with its own client certificate.
pub(crate) fn other_pki(root: &Path) -> PkiDir {
    let mut pki = PkiDir::open_or_create(&root.join("other-pki")).expect("other pki");
    pki.ensure_ca().expect("other ca");
    pki.ensure_client(&EnsureOptions::default())
        .expect("other client");
    pki
}
