//! The safety backup `--leftover-membership migrate|reset` take of every member before they
//! stop, move or delete anything. A backup is only worth its name if it restores, so:
//!
//! - A running member is backed up with `etcdctl snapshot save` over its client URL, `http`
//!   or `https` (with the member's own certificate when it may act as a TLS client, else the
//!   control node's client certificate, uploaded to a private directory removed right
//!   after). If no snapshot can be taken the whole operation stops: a copy of a live data
//!   dir would be a torn bbolt file, so it is never the fallback.
//! - A member that does not run is copied with `tar`, after checking, in the same shell as
//!   the copy, that systemd has the unit stopped and no process holds a file in its dirs. A
//!   unit that is starting (or restarting after a failure) serves no client, so no snapshot
//!   can come from it; it is stopped first, which `reset` and a restore do anyway.
//! - Every backup is verified on the host (`snapshot status` reads the snapshot's revision
//!   and hash; a copy must list WAL files), copied to `<inventory dir>/backups/<host>/`
//!   (0600 in a 0700 directory, fsynced with its directory) and its sha256 compared with the
//!   host's file, before the caller goes on.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use etcdplay_etcd::datadir::shell_quote;
use etcdplay_transport::{ExecOutput, ExecRequest, PutRequest, TransportError};
use sha2::{Digest, Sha256};

use super::guard::HostCheck;
use super::unitfile::ClientTls;
use crate::extension::RunContext;

/// Where backups live on the hosts.
pub(crate) const HOST_BACKUP_DIR: &str = "/var/backups/etcdplay";

/// etcdctl on the host, with the v3 API (3.4 still defaults to v2 for some commands).
pub(crate) const ETCDCTL: &str =
    "ETCDCTL_API=3 \"$(command -v etcdctl || echo /usr/local/bin/etcdctl)\"";

/// How long one `snapshot save` may take: etcdctl's default of 5 s would cut off the
/// transfer of a large backend.
const SNAPSHOT_TIMEOUT: &str = "600s";

/// Why a member could not be backed up; nothing has been stopped, moved or deleted by
/// `migrate`/`reset` when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BackupError {
    #[error("{what}: {source}")]
    Transport {
        what: String,
        #[source]
        source: TransportError,
    },
    #[error("{host}: {step} failed (exit {rc}): {stderr}")]
    HostCommand {
        host: String,
        step: &'static str,
        rc: i32,
        stderr: String,
    },
    #[error("{host}: etcd runs (unit {unit} is active) but no client URL of it is known, so no snapshot can be taken; a copy of a running member's data dir would not be consistent")]
    NoClientUrl { host: String, unit: String },
    #[error("{host}: etcd runs (unit {unit} is active) but `etcdctl snapshot save` failed on every client URL; a copy of a running member's data dir would not be consistent, so nothing was changed:\n{}", attempts.join("\n"))]
    SnapshotFailed {
        host: String,
        unit: String,
        /// One line per client URL tried: the URL and etcdctl's stderr.
        attempts: Vec<String>,
    },
    #[error("{host}: not copying {data_dir}: {detail}")]
    NotStopped {
        host: String,
        data_dir: String,
        detail: String,
    },
    #[error("{host}: the backup {path} does not verify: {problem}")]
    Unverified {
        host: String,
        path: String,
        #[source]
        problem: VerifyError,
    },
    #[error("{host}: the copy {} has sha256 {local}, but {path} on the host has {remote}", copy.display())]
    ChecksumMismatch {
        host: String,
        path: String,
        copy: PathBuf,
        local: String,
        remote: String,
    },
    #[error("{}: {what}: {source}", path.display())]
    Local {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is mode {mode:04o}, not 0600", path.display())]
    LocalMode { path: PathBuf, mode: u32 },
    #[error("{host}: the control node's client certificate: {source}")]
    ControlPki {
        host: String,
        #[source]
        source: etcdplay_pki::PkiError,
    },
    #[error("{host}: could not remove {dir}, which holds a copy of the control node's client key: {detail}")]
    Cleanup {
        host: String,
        dir: String,
        detail: String,
    },
}

/// What the host's verification of a backup printed that does not hold up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum VerifyError {
    #[error("snapshot status printed no status line")]
    NoStatus,
    #[error("snapshot status is not understood ({0})")]
    BadStatus(String),
    #[error("snapshot status reports no revision")]
    NoRevision,
    #[error("the archive lists no WAL file")]
    NoWal,
    #[error("no sha256 was printed")]
    NoSha256,
}

/// How a member is backed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// It runs: `etcdctl snapshot save` over a client URL, nothing else.
    Snapshot,
    /// systemd has it stopped: a `tar` of its dirs after confirming no process holds them.
    CopyStopped,
    /// systemd is starting, stopping or restarting it: no client is served, and a copy could
    /// be torn. Stop it, then copy as above.
    StopThenCopy,
}

/// The method for a unit in systemd state `state` (`systemctl is-active` prints it).
pub(crate) fn method_for(state: &str) -> Method {
    match state.trim() {
        // `reloading`/`refreshing`: the main process keeps running and serving.
        "active" | "reloading" | "refreshing" => Method::Snapshot,
        "inactive" | "failed" => Method::CopyStopped,
        _ => Method::StopThenCopy,
    }
}

/// What a verified backup is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Snapshot {
        revision: u64,
        hash: u64,
        total_keys: Option<u64>,
    },
    DataDirCopy {
        entries: u64,
    },
}

/// One member's backup, verified on the host and on the control node.
#[derive(Debug, Clone)]
pub(crate) struct Backup {
    pub(crate) kind: Kind,
    /// On the host.
    pub(crate) host_path: String,
    /// The control node's copy.
    pub(crate) local: PathBuf,
    pub(crate) sha256: String,
    /// How it came about when that is worth saying (a unit stopped first, the client
    /// certificate used).
    pub(crate) note: Option<String>,
}

impl Backup {
    pub(crate) fn is_snapshot(&self) -> bool {
        matches!(self.kind, Kind::Snapshot { .. })
    }

    /// The operator's line: `HOST: backup of DIR at PATH on the host, copied to LOCAL`, then
    /// an indented line saying what it is and how it was verified.
    pub(crate) fn describe(&self, host: &str, data_dir: &str) -> String {
        let what = match &self.kind {
            Kind::Snapshot {
                revision,
                hash,
                total_keys,
            } => {
                let keys = total_keys
                    .map(|k| format!(", {k} keys"))
                    .unwrap_or_default();
                format!("snapshot at revision {revision}{keys}, hash {hash:#x}")
            }
            Kind::DataDirCopy { entries } => {
                format!("copy of the stopped member's dirs ({entries} entries)")
            }
        };
        let note = self
            .note
            .as_deref()
            .map(|n| format!("; {n}"))
            .unwrap_or_default();
        format!(
            "{host}: backup of {data_dir} at {} on the host, copied to {}\n  {what}, sha256 {} on both sides{note}",
            self.host_path,
            self.local.display(),
            self.sha256
        )
    }
}

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

/// The data dir (and a separate WAL dir) as `tar` members relative to `/`.
fn dirs_of(data_dir: &str, wal_dir: Option<&str>) -> Vec<String> {
    let mut dirs = vec![data_dir.trim_end_matches('/').to_string()];
    if let Some(w) = wal_dir {
        let inside = w.starts_with(&format!("{}/", dirs[0]));
        if w.starts_with('/') && !inside {
            dirs.push(w.trim_end_matches('/').to_string());
        }
    }
    dirs
}

/// The script that copies a stopped member's dirs to `path` (a gzipped tar), refusing with
/// exit 3 and a reason on stderr unless, right before the copy, systemd has `unit` stopped
/// and no process has a file of the dirs open (etcd holds its WAL and backend open while it
/// runs, whatever systemd believes). `stop` first stops a unit that is starting or
/// restarting. Then it lists the archive and prints `entries N`, `wal N` and `sha256 HEX`.
pub(crate) fn copy_script(
    unit: &str,
    stop: bool,
    data_dir: &str,
    wal_dir: Option<&str>,
    path: &str,
) -> String {
    let dirs = dirs_of(data_dir, wal_dir);
    let members: Vec<String> = dirs
        .iter()
        .map(|d| shell_quote(d.trim_start_matches('/')))
        .collect();
    // A process's open files show up under their resolved path, so a dir reached through a
    // symbolic link is matched by its target too (`$dN`, quoted: a literal pattern).
    let resolve: String = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let q = shell_quote(d);
            format!("d{i}=$(readlink -f -- {q} 2>/dev/null) || d{i}={q}\n")
        })
        .collect();
    let holders: Vec<String> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{q}|{q}/*|\"$d{i}\"|\"$d{i}\"/*", q = shell_quote(d)))
        .collect();
    let stop = if stop {
        format!("systemctl stop -- {} || exit 1\n", shell_quote(unit))
    } else {
        String::new()
    };
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
    format!(
        r#"{stop}{resolve}state=$(systemctl is-active -- {unit} 2>/dev/null)
case $state in inactive|failed) ;; *) echo "unit {unit_text} is ${{state:-unknown}}, not stopped" >&2; exit 3;; esac
for fd in /proc/[0-9]*/fd/*; do
  t=$(readlink "$fd" 2>/dev/null) || continue
  case $t in {holders}) p=${{fd#/proc/}}; echo "process ${{p%%/*}} has $t open" >&2; exit 3;; esac
done
umask 077
mkdir -p {dir} || exit 1
f={p}
tar -C / -czf "$f" {members} || exit 1
sync -- "$f" 2>/dev/null || sync
n=$(tar -tzf "$f" | wc -l) || exit 1
w=$(tar -tzf "$f" | grep -c '\.wal$')
h=$(sha256sum < "$f") || exit 1
printf 'entries %s\nwal %s\nsha256 %s\n' "$n" "$w" "${{h%% *}}""#,
        unit = shell_quote(unit),
        unit_text = unit.replace(['"', '$', '`', '\\'], "_"),
        holders = holders.join("|"),
        dir = shell_quote(dir),
        p = shell_quote(path),
        members = members.join(" "),
    )
}

/// The value after `key ` on its own line of `out`.
fn field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
        .map(str::trim)
}

fn sha256_field(out: &str) -> Result<String, VerifyError> {
    field(out, "sha256")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
        .ok_or(VerifyError::NoSha256)
}

/// Reads what [`verify_snapshot_script`] printed: the snapshot's revision and hash (both
/// must be there: `snapshot status` read the whole backend) and the file's sha256.
pub(crate) fn parse_snapshot_verification(out: &str) -> Result<(Kind, String), VerifyError> {
    let status = field(out, "status").ok_or(VerifyError::NoStatus)?;
    let json: serde_json::Value =
        serde_json::from_str(status).map_err(|e| VerifyError::BadStatus(e.to_string()))?;
    let revision = json
        .get("revision")
        .and_then(serde_json::Value::as_u64)
        .filter(|r| *r > 0)
        .ok_or(VerifyError::NoRevision)?;
    let hash = json
        .get("hash")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| VerifyError::BadStatus("no hash".into()))?;
    let total_keys = json.get("totalKey").and_then(serde_json::Value::as_u64);
    Ok((
        Kind::Snapshot {
            revision,
            hash,
            total_keys,
        },
        sha256_field(out)?,
    ))
}

/// Reads what [`copy_script`] printed: an archive listing WAL files (the member was
/// initialised, so a copy without them lost its log) and the file's sha256.
pub(crate) fn parse_copy_verification(out: &str) -> Result<(Kind, String), VerifyError> {
    let count = |k| {
        field(out, k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    if count("wal") == 0 {
        return Err(VerifyError::NoWal);
    }
    Ok((
        Kind::DataDirCopy {
            entries: count("entries"),
        },
        sha256_field(out)?,
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn local_err(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Local { path, what, source }
}

/// Creates `dir` (and missing parents) 0700: backups hold every key of the cluster.
fn private_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(local_err(dir, "creating the directory"))
}

fn fsync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(local_err(dir, "fsync of the directory"))
}

/// sha256 of a file, read back from disk in pieces.
fn sha256_file(path: &Path) -> Result<String, BackupError> {
    let mut file = std::fs::File::open(path).map_err(local_err(path, "reading back"))?;
    let mut sum = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(local_err(path, "reading back"))?;
        if n == 0 {
            break;
        }
        sum.update(&buf[..n]);
    }
    Ok(hex(&sum.finalize()))
}

/// Stores `bytes` as `dir/name` durably and privately: written 0600 to a temporary name,
/// fsynced, renamed, the directory (and its parent, which may have gained `dir`) fsynced;
/// then the mode and the sha256 of what is on disk are checked against `expected`.
pub(crate) fn store_locally(
    host: &str,
    host_path: &str,
    dir: &Path,
    name: &str,
    bytes: &[u8],
    expected: &str,
) -> Result<PathBuf, BackupError> {
    private_dir(dir)?;
    let path = dir.join(name);
    let part = dir.join(format!(".{name}.part"));
    {
        // A leftover of a killed run is ours and may have another mode: start afresh.
        let _ = std::fs::remove_file(&part);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&part)
            .map_err(local_err(&part, "creating"))?;
        f.write_all(bytes).map_err(local_err(&part, "writing"))?;
        f.sync_all().map_err(local_err(&part, "fsync"))?;
    }
    std::fs::rename(&part, &path).map_err(local_err(&path, "renaming into place"))?;
    fsync_dir(dir)?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsync_dir(parent)?;
    }
    let mode = std::fs::metadata(&path)
        .map_err(local_err(&path, "stat"))?
        .permissions()
        .mode()
        & 0o7777;
    if mode != 0o600 {
        return Err(BackupError::LocalMode { path, mode });
    }
    let local = sha256_file(&path)?;
    if local != expected {
        return Err(BackupError::ChecksumMismatch {
            host: host.to_string(),
            path: host_path.to_string(),
            copy: path,
            local,
            remote: expected.to_string(),
        });
    }
    Ok(path)
}

/// Runs `script` as root (the guard's become) on the host of `c`.
async fn exec(c: &HostCheck, what: &str, script: String) -> Result<ExecOutput, BackupError> {
    c.transport
        .exec(ExecRequest {
            script,
            become_: c.become_.clone(),
            ..ExecRequest::default()
        })
        .await
        .map_err(|source| BackupError::Transport {
            what: what.to_string(),
            source,
        })
}

/// The last lines of a command's stderr, for a message (etcdctl logs JSON lines first).
fn stderr_tail(out: &ExecOutput) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

/// The control node's PKI directory, when it exists (never created here).
fn control_pki(run: &dyn RunContext) -> Option<PathBuf> {
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
    c: &HostCheck,
    pki: &Path,
    need_ca: bool,
) -> Result<Upload, BackupError> {
    let opened =
        etcdplay_pki::PkiDir::open_or_create(pki).map_err(|source| BackupError::ControlPki {
            host: c.host.clone(),
            source,
        })?;
    let leaf = opened
        .client_files()
        .map_err(|source| BackupError::ControlPki {
            host: c.host.clone(),
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
            host: c.host.clone(),
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
                become_: c.become_.clone(),
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

async fn remove_upload(c: &HostCheck, upload: &Upload) -> Result<(), BackupError> {
    let out = exec(
        c,
        "removing the uploaded client certificate",
        format!("rm -rf -- {}", shell_quote(&upload.dir)),
    )
    .await;
    match out {
        Ok(o) if o.rc == 0 => Ok(()),
        Ok(o) => Err(BackupError::Cleanup {
            host: c.host.clone(),
            dir: upload.dir.clone(),
            detail: stderr_tail(&o),
        }),
        Err(e) => Err(BackupError::Cleanup {
            host: c.host.clone(),
            dir: upload.dir.clone(),
            detail: e.to_string(),
        }),
    }
}

/// Takes the snapshot of a running member; the path on the host and a note on the
/// certificate used.
async fn snapshot(
    run: &dyn RunContext,
    c: &HostCheck,
    path: &str,
) -> Result<Option<String>, BackupError> {
    let stored: Vec<String> = c
        .read
        .result
        .as_ref()
        .ok()
        .and_then(|r| r.local_member())
        .map(|m| m.client_urls.clone())
        .unwrap_or_default();
    let endpoints = snapshot_endpoints(&stored, &c.settings.listen_client_urls);
    if endpoints.is_empty() {
        return Err(BackupError::NoClientUrl {
            host: c.host.clone(),
            unit: c.unit.clone(),
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
                .get(cert, c.become_.as_ref())
                .await
                .ok()
                .and_then(|pem| etcdplay_pki::client_auth_allowed(&pem)),
            None => None,
        };
        let stem = etcdplay_pki::CLIENT_STEM;
        let pki = control_pki(run).filter(|p| {
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
            host: c.host.clone(),
            unit: c.unit.clone(),
            attempts,
        });
    }
    Ok(note)
}

/// Backs up one member (see the module notes) and verifies the backup on the host and its
/// copy under `<inventory dir>/backups/<host>/`.
pub(crate) async fn backup(
    run: &dyn RunContext,
    c: &HostCheck,
    stamp: u64,
) -> Result<Backup, BackupError> {
    let base = format!("{HOST_BACKUP_DIR}/{}-{stamp}", c.host);
    let state = exec(
        c,
        "systemctl is-active",
        format!("systemctl is-active -- {} || true", shell_quote(&c.unit)),
    )
    .await?;
    let state = String::from_utf8_lossy(&state.stdout).trim().to_string();
    let method = method_for(&state);
    let (host_path, kind, sha256, note) = match method {
        Method::Snapshot => {
            let path = format!("{base}.snapshot.db");
            let note = snapshot(run, c, &path).await?;
            let out = exec(c, "verifying the snapshot", verify_snapshot_script(&path)).await?;
            if out.rc != 0 {
                return Err(BackupError::HostCommand {
                    host: c.host.clone(),
                    step: "etcdctl snapshot status",
                    rc: out.rc,
                    stderr: stderr_tail(&out),
                });
            }
            let (kind, sum) = parse_snapshot_verification(&String::from_utf8_lossy(&out.stdout))
                .map_err(|problem| BackupError::Unverified {
                    host: c.host.clone(),
                    path: path.clone(),
                    problem,
                })?;
            (path, kind, sum, note)
        }
        Method::CopyStopped | Method::StopThenCopy => {
            let path = format!("{base}.data-dir.tar.gz");
            let stop = method == Method::StopThenCopy;
            let script = copy_script(
                &c.unit,
                stop,
                &c.settings.data_dir,
                c.settings.wal_dir.as_deref(),
                &path,
            );
            let out = exec(c, "copying the data dir", script).await?;
            if out.rc == 3 {
                return Err(BackupError::NotStopped {
                    host: c.host.clone(),
                    data_dir: c.settings.data_dir.clone(),
                    detail: stderr_tail(&out),
                });
            }
            if out.rc != 0 {
                return Err(BackupError::HostCommand {
                    host: c.host.clone(),
                    step: "tar of the stopped member's data dir",
                    rc: out.rc,
                    stderr: stderr_tail(&out),
                });
            }
            let (kind, sum) = parse_copy_verification(&String::from_utf8_lossy(&out.stdout))
                .map_err(|problem| BackupError::Unverified {
                    host: c.host.clone(),
                    path: path.clone(),
                    problem,
                })?;
            let note =
                stop.then(|| format!("unit {} was {state}: stopped before the copy", c.unit));
            (path, kind, sum, note)
        }
    };
    let bytes = c
        .transport
        .get(&host_path, c.become_.as_ref())
        .await
        .map_err(|source| BackupError::Transport {
            what: format!("copying {host_path} back"),
            source,
        })?;
    let dir = run
        .options()
        .inventory_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("backups")
        .join(&c.host);
    let name = host_path.rsplit('/').next().unwrap_or("backup");
    let local = store_locally(&c.host, &host_path, &dir, name, &bytes, &sha256)?;
    Ok(Backup {
        kind,
        host_path,
        local,
        sha256,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_member_systemd_runs_is_snapshotted() {
        assert_eq!(method_for("active\n"), Method::Snapshot);
        assert_eq!(method_for("reloading"), Method::Snapshot);
        assert_eq!(method_for("inactive"), Method::CopyStopped);
        assert_eq!(method_for("failed"), Method::CopyStopped);
        // Starting (etcd serves clients only once ready), restarting after a failure, or an
        // answer systemd did not give: stop it before any copy.
        assert_eq!(method_for("activating"), Method::StopThenCopy);
        assert_eq!(method_for("deactivating"), Method::StopThenCopy);
        assert_eq!(method_for(""), Method::StopThenCopy);
    }

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

    #[test]
    fn snapshot_verification_needs_a_revision_a_hash_and_a_sha256() {
        let sum = "a".repeat(64);
        let ok = format!("status {{\"hash\":3735928559,\"revision\":42,\"totalKey\":40,\"totalSize\":20480}}\nsha256 {sum}\n");
        assert_eq!(
            parse_snapshot_verification(&ok),
            Ok((
                Kind::Snapshot {
                    revision: 42,
                    hash: 0xdeadbeef,
                    total_keys: Some(40)
                },
                sum.clone()
            ))
        );
        assert_eq!(
            parse_snapshot_verification(&format!("sha256 {sum}\n")),
            Err(VerifyError::NoStatus)
        );
        assert!(matches!(
            parse_snapshot_verification(&format!("status Error: invalid database\nsha256 {sum}")),
            Err(VerifyError::BadStatus(_))
        ));
        assert_eq!(
            parse_snapshot_verification(&format!(
                "status {{\"hash\":1,\"revision\":0}}\nsha256 {sum}"
            )),
            Err(VerifyError::NoRevision)
        );
        assert_eq!(
            parse_snapshot_verification("status {\"hash\":1,\"revision\":3}\nsha256 xyz\n"),
            Err(VerifyError::NoSha256)
        );
    }

    #[test]
    fn copy_verification_needs_wal_files() {
        let sum = "0".repeat(64);
        assert_eq!(
            parse_copy_verification(&format!("entries 12\nwal 1\nsha256 {sum}\n")),
            Ok((Kind::DataDirCopy { entries: 12 }, sum.clone()))
        );
        assert_eq!(
            parse_copy_verification(&format!("entries 3\nwal 0\nsha256 {sum}\n")),
            Err(VerifyError::NoWal)
        );
    }

    /// Runs the copy script locally with a fake `systemctl` reporting `state`.
    fn run_copy(state: &str, data: &Path, out: &Path, hold: bool) -> std::process::Output {
        run_copy_with(state, data, hold.then_some(data), out)
    }

    /// The copy of `data` while a process holds a WAL file opened through `held`.
    fn run_copy_at(state: &str, data: &Path, held: &Path, out: &Path) -> std::process::Output {
        run_copy_with(state, data, Some(held), out)
    }

    fn run_copy_with(
        state: &str,
        data: &Path,
        held: Option<&Path>,
        out: &Path,
    ) -> std::process::Output {
        let bin = tempfile::tempdir().unwrap();
        let fake = bin.path().join("systemctl");
        std::fs::write(
            &fake,
            format!("#!/bin/sh\ncase $1 in is-active) echo {state}; [ {state} = active ];; stop) exit 0;; esac\n"),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}:{}",
            bin.path().display(),
            std::env::var("PATH").unwrap()
        );
        let script = copy_script(
            "etcd.service",
            false,
            data.to_str().unwrap(),
            None,
            out.to_str().unwrap(),
        );
        // A process with a WAL file open, the way a running etcd holds it.
        let holder = held.map(|dir| {
            std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg("exec 3<\"$1\"; exec sleep 30")
                .arg("sh")
                .arg(dir.join("member/wal/0.wal"))
                .spawn()
                .unwrap()
        });
        if holder.is_some() {
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        let result = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .env("PATH", path)
            .output()
            .unwrap();
        if let Some(mut h) = holder {
            let _ = h.kill();
            let _ = h.wait();
        }
        result
    }

    #[test]
    fn a_data_dir_is_copied_only_when_stopped_and_not_held_open() {
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("data");
        std::fs::create_dir_all(data.join("member/wal")).unwrap();
        std::fs::write(data.join("member/wal/0.wal"), b"wal bytes").unwrap();
        let out = scratch.path().join("backups/m1-1.data-dir.tar.gz");

        let refused = run_copy("active", &data, &out, false);
        assert_eq!(refused.status.code(), Some(3));
        assert!(String::from_utf8_lossy(&refused.stderr).contains("is active, not stopped"));
        assert!(!out.exists());

        let held = run_copy("inactive", &data, &out, true);
        assert_eq!(held.status.code(), Some(3), "{held:?}");
        let why = String::from_utf8_lossy(&held.stderr);
        assert!(why.contains("has") && why.contains("0.wal open"), "{why}");
        assert!(!out.exists());

        // The same dir reached through a symbolic link is still seen as held.
        let link = scratch.path().join("link");
        std::os::unix::fs::symlink(&data, &link).unwrap();
        let held = run_copy_at("inactive", &link, &data, &out);
        assert_eq!(held.status.code(), Some(3), "{held:?}");
        assert!(!out.exists());

        let copied = run_copy("inactive", &data, &out, false);
        assert!(copied.status.success(), "{copied:?}");
        let printed = String::from_utf8_lossy(&copied.stdout);
        let (kind, sum) = parse_copy_verification(&printed).unwrap();
        assert!(
            matches!(kind, Kind::DataDirCopy { entries } if entries >= 3),
            "{printed}"
        );
        assert_eq!(sum, hex(&Sha256::digest(std::fs::read(&out).unwrap())));
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn the_local_copy_is_private_durable_and_checked() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("backups").join("m1");
        let bytes = b"snapshot bytes".to_vec();
        let sum = hex(&Sha256::digest(&bytes));
        let path = store_locally("m1", "/h/x.db", &dir, "x.db", &bytes, &sum).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert!(!dir.join(".x.db.part").exists());
        // Bytes that do not match the host's sum are refused.
        let err = store_locally("m1", "/h/x.db", &dir, "x.db", b"torn", &sum).unwrap_err();
        assert!(matches!(err, BackupError::ChecksumMismatch { .. }), "{err}");
        assert!(err.to_string().contains("/h/x.db on the host has"), "{err}");
    }
}
