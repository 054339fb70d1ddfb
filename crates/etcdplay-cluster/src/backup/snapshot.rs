//! A snapshot of a running member: `etcdctl snapshot save` over one of its client URLs, with
//! the member's own certificate when it may act as a TLS client, else the control node's
//! client certificate uploaded to a private directory on the host and removed right after.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use etcdplay_engine::RunContext;
use etcdplay_etcd::datadir::shell_quote;
use etcdplay_etcd::unit::ClientTls;
use etcdplay_transport::PutRequest;

use super::local::local_err;
use super::{exec, stderr_tail, BackupError, Member, ETCDCTL};

/// How long one `snapshot save` may take: etcdctl's default of 5 s would cut off the
/// transfer of a large backend.
const SNAPSHOT_TIMEOUT: &str = "600s";

/// The client URLs to try a snapshot on, in order: the ones the running member published
/// (it serves them now, whatever the planned unit says), then the planned listener's, with
/// a wildcard address turned into loopback. Only http(s) URLs, each once.
pub(crate) fn snapshot_endpoints(stored: &[String], planned_listen: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let planned = planned_listen.iter().map(|u| {
        u.replace("://0.0.0.0:", "://127.0.0.1:")
            .replace("://[::]:", "://[::1]:")
    });
    for url in stored.iter().cloned().chain(planned) {
        let url = url.trim_end_matches('/').to_string();
        let lower = url.to_ascii_lowercase();
        if (lower.starts_with("http://") || lower.starts_with("https://")) && !out.contains(&url) {
            out.push(url);
        }
    }
    out
}

/// Whose certificate etcdctl presents to an https client URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientCert {
    /// The member's own `--cert-file`/`--key-file`, already on the host.
    Member,
    /// The control node's `pki/client.pem`, uploaded for the snapshot only.
    ControlNode,
    /// None: the member does not ask for one, or none is at hand.
    None,
}

/// The certificate to present. The member's own certificate when it may authenticate a
/// client (the built-in playbook's member certificates carry clientAuth); otherwise the
/// control node's client certificate when there is one; otherwise the member's if its
/// usage could not be read (the member then says whether it accepts it).
pub(crate) fn choose_client_cert(
    tls: &ClientTls,
    member_client_auth: Option<bool>,
    control_client: bool,
) -> ClientCert {
    let member_files = tls.cert_file.is_some() && tls.key_file.is_some();
    match (member_files, member_client_auth) {
        (true, Some(true)) => ClientCert::Member,
        _ if control_client => ClientCert::ControlNode,
        (true, None) => ClientCert::Member,
        _ => ClientCert::None,
    }
}

/// The files etcdctl is given for one https URL (paths on the host; etcdctl reads them, so
/// no key content is on a command line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub(crate) cacert: Option<String>,
    pub(crate) cert: Option<String>,
    pub(crate) key: Option<String>,
}

/// The script that saves a snapshot of the member at `endpoint` to `path`, or fails with
/// etcdctl's stderr. etcdctl writes `path.part` and renames it when complete (and fsyncs),
/// so `path` never holds a partial snapshot; a leftover from a killed run is removed first.
pub(crate) fn snapshot_script(endpoint: &str, tls: &TlsFiles, path: &str) -> String {
    let mut flags = format!(
        "--dial-timeout=5s --command-timeout={SNAPSHOT_TIMEOUT} --endpoints={}",
        shell_quote(endpoint)
    );
    if endpoint.to_ascii_lowercase().starts_with("https://") {
        for (flag, file) in [
            ("--cacert", &tls.cacert),
            ("--cert", &tls.cert),
            ("--key", &tls.key),
        ] {
            if let Some(file) = file {
                flags.push_str(&format!(" {flag}={}", shell_quote(file)));
            }
        }
    }
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
    format!(
        "umask 077\nmkdir -p {dir} || exit 1\nrm -f -- {p} {part}\n{ETCDCTL} {flags} snapshot save {p} >/dev/null",
        dir = shell_quote(dir),
        p = shell_quote(path),
        part = shell_quote(&format!("{path}.part")),
    )
}

/// The script that reads a snapshot back on the host (with `etcdutl` where it exists: 3.6
/// dropped `etcdctl snapshot status`) and prints `status JSON` and `sha256 HEX`.
pub(crate) fn verify_snapshot_script(path: &str) -> String {
    format!(
        "f={p}\nif command -v etcdutl >/dev/null 2>&1; then s=$(etcdutl snapshot status -w json \"$f\"); else s=$({ETCDCTL} snapshot status -w json \"$f\"); fi || exit 1\nprintf 'status %s\\n' \"$s\"\nh=$(sha256sum < \"$f\") || exit 1\nprintf 'sha256 %s\\n' \"${{h%% *}}\"",
        p = shell_quote(path)
    )
}

/// The control node's PKI directory, when it exists (never created here).
pub(super) fn control_pki(run: &dyn RunContext) -> Option<PathBuf> {
    let inventory = run.options().inventory_dir.as_deref()?;
    let dir = etcdplay_pki::PkiDir::default_path(inventory);
    dir.is_dir().then_some(dir)
}

/// The control node's client certificate and CA, uploaded to a fresh 0700 directory on the
/// host; the caller removes it with [`remove_upload`] whatever happens.
struct Upload {
    dir: String,
    files: TlsFiles,
}

async fn upload_control_client(
    c: &Member<'_>,
    pki: &Path,
    need_ca: bool,
) -> Result<Upload, BackupError> {
    let opened =
        etcdplay_pki::PkiDir::open_or_create(pki).map_err(|source| BackupError::ControlPki {
            host: c.host.to_string(),
            source,
        })?;
    let leaf = opened
        .client_files()
        .map_err(|source| BackupError::ControlPki {
            host: c.host.to_string(),
            source,
        })?;
    let ca = if need_ca {
        let path = opened.ca_pem_path();
        Some(std::fs::read(&path).map_err(local_err(&path, "reading"))?)
    } else {
        None
    };
    // /run is a tmpfs: the key never reaches the host's disk. mktemp -d makes it 0700.
    let out = exec(
        c,
        "a private directory for the client certificate",
        "umask 077; mktemp -d /run/etcdplay-snapshot.XXXXXXXX".into(),
    )
    .await?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.rc != 0 || !dir.starts_with("/run/etcdplay-snapshot.") {
        return Err(BackupError::HostCommand {
            host: c.host.to_string(),
            step: "mktemp -d /run/etcdplay-snapshot.XXXXXXXX",
            rc: out.rc,
            stderr: stderr_tail(&out),
        });
    }
    let upload = Upload {
        files: TlsFiles {
            cacert: ca.as_ref().map(|_| format!("{dir}/ca.pem")),
            cert: Some(format!("{dir}/client.pem")),
            key: Some(format!("{dir}/client-key.pem")),
        },
        dir,
    };
    let mut puts = vec![
        (
            format!("{}/client.pem", upload.dir),
            leaf.cert_pem.clone().into_bytes(),
        ),
        (
            format!("{}/client-key.pem", upload.dir),
            leaf.key_pem.expose().as_bytes().to_vec(),
        ),
    ];
    puts.extend(ca.map(|ca| (format!("{}/ca.pem", upload.dir), ca)));
    for (dest, content) in puts {
        let put = c
            .transport
            .put(PutRequest {
                dest: dest.clone(),
                content: Arc::new(content),
                mode: Some(0o600),
                owner: None,
                group: None,
                become_: c.become_.cloned(),
            })
            .await;
        if let Err(source) = put {
            remove_upload(c, &upload).await?;
            return Err(BackupError::Transport {
                what: format!("uploading {dest}"),
                source,
            });
        }
    }
    Ok(upload)
}

async fn remove_upload(c: &Member<'_>, upload: &Upload) -> Result<(), BackupError> {
    let out = exec(
        c,
        "removing the uploaded client certificate",
        format!("rm -rf -- {}", shell_quote(&upload.dir)),
    )
    .await;
    match out {
        Ok(o) if o.rc == 0 => Ok(()),
        Ok(o) => Err(BackupError::Cleanup {
            host: c.host.to_string(),
            dir: upload.dir.clone(),
            detail: stderr_tail(&o),
        }),
        Err(e) => Err(BackupError::Cleanup {
            host: c.host.to_string(),
            dir: upload.dir.clone(),
            detail: e.to_string(),
        }),
    }
}

/// Takes the snapshot of a running member; the path on the host and a note on the
/// certificate used.
pub(super) async fn snapshot(
    c: &Member<'_>,
    pki: Option<&Path>,
    path: &str,
) -> Result<Option<String>, BackupError> {
    let endpoints = snapshot_endpoints(&c.published_client_urls, &c.settings.listen_client_urls);
    if endpoints.is_empty() {
        return Err(BackupError::NoClientUrl {
            host: c.host.to_string(),
            unit: c.unit.to_string(),
        });
    }
    let tls = &c.settings.client_tls;
    let mut files = TlsFiles::default();
    let mut upload = None;
    let mut note = None;
    if endpoints
        .iter()
        .any(|e| e.to_ascii_lowercase().starts_with("https://"))
    {
        // The certificate is public: reading it tells whether it may act as a client.
        let member_client_auth = match &tls.cert_file {
            Some(cert) => c
                .transport
                .get(cert, c.become_)
                .await
                .ok()
                .and_then(|pem| etcdplay_pki::client_auth_allowed(&pem)),
            None => None,
        };
        let stem = etcdplay_pki::CLIENT_STEM;
        let pki = pki.filter(|p| {
            p.join(format!("{stem}.pem")).is_file() && p.join(format!("{stem}-key.pem")).is_file()
        });
        files.cacert = tls.trusted_ca_file.clone();
        match choose_client_cert(tls, member_client_auth, pki.is_some()) {
            ClientCert::Member => {
                files.cert = tls.cert_file.clone();
                files.key = tls.key_file.clone();
            }
            ClientCert::ControlNode => {
                if let Some(pki) = &pki {
                    let up = upload_control_client(c, pki, files.cacert.is_none()).await?;
                    files.cert = up.files.cert.clone();
                    files.key = up.files.key.clone();
                    files.cacert = files.cacert.or(up.files.cacert.clone());
                    note = Some("over TLS with the control node's client certificate".into());
                    upload = Some(up);
                }
            }
            ClientCert::None => {}
        }
    }
    let mut attempts = Vec::new();
    let mut saved = false;
    for endpoint in &endpoints {
        let script = snapshot_script(endpoint, &files, path);
        match exec(c, "etcdctl snapshot save", script).await {
            Ok(out) if out.rc == 0 => {
                saved = true;
                break;
            }
            Ok(out) => attempts.push(format!(
                "  {endpoint}: exit {}: {}",
                out.rc,
                stderr_tail(&out)
            )),
            Err(e) => attempts.push(format!("  {endpoint}: {e}")),
        }
    }
    if let Some(up) = &upload {
        remove_upload(c, up).await?;
    }
    if !saved {
        return Err(BackupError::SnapshotFailed {
            host: c.host.to_string(),
            unit: c.unit.to_string(),
            attempts,
        });
    }
    Ok(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_the_running_members_then_the_planned_listeners() {
        let stored = vec!["https://10.0.0.5:2379/".to_string()];
        let planned = vec![
            "https://0.0.0.0:2391".to_string(),
            "https://10.0.0.5:2379".to_string(),
            "unixs://etcd.sock:0".to_string(),
            "https://[::]:2391".to_string(),
        ];
        assert_eq!(
            snapshot_endpoints(&stored, &planned),
            vec![
                "https://10.0.0.5:2379",
                "https://127.0.0.1:2391",
                "https://[::1]:2391"
            ]
        );
        assert!(snapshot_endpoints(&[], &[]).is_empty());
    }

    #[test]
    fn the_member_certificate_is_used_when_it_may_act_as_a_client() {
        let member = ClientTls {
            cert_file: Some("/etc/etcd/pki/member.pem".into()),
            key_file: Some("/etc/etcd/pki/member-key.pem".into()),
            trusted_ca_file: Some("/etc/etcd/pki/ca.pem".into()),
            client_cert_auth: true,
        };
        use ClientCert::*;
        assert_eq!(choose_client_cert(&member, Some(true), true), Member);
        assert_eq!(choose_client_cert(&member, Some(true), false), Member);
        // serverAuth only: the control node's client certificate, or nothing to offer.
        assert_eq!(choose_client_cert(&member, Some(false), true), ControlNode);
        assert_eq!(choose_client_cert(&member, Some(false), false), None);
        // Unreadable usage: the control node's when there is one, else let etcd judge.
        assert_eq!(choose_client_cert(&member, Option::None, true), ControlNode);
        assert_eq!(choose_client_cert(&member, Option::None, false), Member);
        let no_files = ClientTls {
            key_file: Option::None,
            ..member
        };
        assert_eq!(choose_client_cert(&no_files, Some(true), false), None);
        assert_eq!(choose_client_cert(&no_files, Some(true), true), ControlNode);
    }

    #[test]
    fn the_snapshot_command_names_files_never_contents() {
        let tls = TlsFiles {
            cacert: Some("/etc/etcd/pki/ca.pem".into()),
            cert: Some("/etc/etcd/pki/member.pem".into()),
            key: Some("/etc/etcd/pki/member key.pem".into()),
        };
        let path = "/var/backups/etcdplay/m1-7.snapshot.db";
        let s = snapshot_script("https://10.0.0.5:2379", &tls, path);
        assert!(s.starts_with("umask 077\n"), "{s}");
        assert!(s.contains("ETCDCTL_API=3 "), "{s}");
        assert!(
            s.contains(
                "--endpoints='https://10.0.0.5:2379' --cacert='/etc/etcd/pki/ca.pem' --cert='/etc/etcd/pki/member.pem' --key='/etc/etcd/pki/member key.pem' snapshot save '/var/backups/etcdplay/m1-7.snapshot.db'"
            ),
            "{s}"
        );
        assert!(s.contains("rm -f -- '/var/backups/etcdplay/m1-7.snapshot.db' '/var/backups/etcdplay/m1-7.snapshot.db.part'"), "{s}");
        // Over plain http no TLS flag is passed (etcdctl would try TLS with them).
        let s = snapshot_script("http://127.0.0.1:2379", &tls, path);
        assert!(!s.contains("--cacert") && !s.contains("--key"), "{s}");
    }
}
