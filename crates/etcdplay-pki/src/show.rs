//! `etcdplay pki show`: a description of every certificate in the PKI directory (file,
//! subject, names, expiry, whether the current CA signed it) and its rendering as a table.

use std::fs;
use std::path::Path;

use time::OffsetDateTime;

use crate::dir::CA_CERT_FILE;
use crate::error::PkiError;
use crate::inspect;
use crate::san::San;

/// The PEM header that marks a certificate.
const CERT_MARKER: &str = "-----BEGIN CERTIFICATE-----";

/// Days of validity below which a certificate is flagged as due for renewal.
const RENEW_SOON_DAYS: i64 = 30;

/// One certificate found in the PKI directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// File name inside the directory.
    pub file: String,
    /// Subject, e.g. `O=etcdplay, CN=etcd1`.
    pub subject: String,
    /// Issuer in the same form.
    pub issuer: String,
    /// Subject alternative names.
    pub sans: Vec<San>,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Whole days left until `not_after` (negative once expired).
    pub days_left: i64,
    /// Whether this is a CA certificate.
    pub is_ca: bool,
    /// Whether a CA of `ca.pem` signed it (`None` when there is no readable `ca.pem`).
    pub signed_by_ca: Option<bool>,
}

impl CertInfo {
    /// A one-word verdict for the table.
    pub fn status(&self) -> &'static str {
        if self.days_left < 0 {
            "EXPIRED"
        } else if self.signed_by_ca == Some(false) {
            "NOT-SIGNED-BY-CA"
        } else if self.days_left < RENEW_SOON_DAYS {
            "renew-soon"
        } else {
            "ok"
        }
    }
}

/// Lists the certificates in `dir`, sorted by file name, `ca.pem` first.
pub(crate) fn list(dir: &Path, now: OffsetDateTime) -> Result<Vec<CertInfo>, PkiError> {
    let entries = fs::read_dir(dir).map_err(|e| PkiError::DirUnreadable {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| PkiError::DirUnreadable {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Key files are skipped by name and never opened: `show` must not touch secrets.
        if name.ends_with(".pem") && !name.ends_with("-key.pem") && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort_by_key(|n| (n != CA_CERT_FILE, n.clone()));

    // Every CA of `ca.pem`: during a CA rotation it is a bundle of the old and the new one.
    let ca_ders: Option<Vec<Vec<u8>>> = files_read(&dir.join(CA_CERT_FILE)).ok().map(|bytes| {
        inspect::cert_blocks(&String::from_utf8_lossy(&bytes))
            .iter()
            .filter_map(|block| inspect::first_cert_der(block.as_bytes()).ok())
            .collect()
    });
    let mut infos = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let bytes = files_read(&path)?;
        // Other PEM files (parameters, keys under unusual names) are not certificates.
        if !bytes
            .windows(CERT_MARKER.len())
            .any(|w| w == CERT_MARKER.as_bytes())
        {
            continue;
        }
        let summary =
            inspect::summarize_pem(&bytes).map_err(|reason| PkiError::BadCert { path, reason })?;
        infos.push(CertInfo {
            signed_by_ca: ca_ders
                .as_ref()
                .map(|cas| cas.iter().any(|ca| inspect::is_signed_by(&summary.der, ca))),
            file: name,
            subject: summary.subject,
            issuer: summary.issuer,
            sans: summary.sans.into_iter().collect(),
            not_after: summary.not_after,
            days_left: (summary.not_after - now).whole_days(),
            is_ca: summary.is_ca,
        });
    }
    Ok(infos)
}

fn files_read(path: &Path) -> Result<Vec<u8>, PkiError> {
    etcdplay_source::read_file(path, etcdplay_source::MAX_TEXT_FILE).map_err(PkiError::read)
}

/// Renders certificates as an aligned text table for `etcdplay pki show`.
pub fn render_table(certs: &[CertInfo]) -> String {
    let date_format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    let header = [
        "FILE",
        "SUBJECT",
        "NOT AFTER (UTC)",
        "DAYS",
        "STATUS",
        "SANS",
    ];
    let rows: Vec<[String; 6]> = certs
        .iter()
        .map(|c| {
            let sans: Vec<String> = c.sans.iter().map(ToString::to_string).collect();
            [
                c.file.clone(),
                c.subject.clone(),
                c.not_after
                    .format(&date_format)
                    .unwrap_or_else(|_| c.not_after.to_string()),
                c.days_left.to_string(),
                if c.is_ca && c.status() == "ok" {
                    "ok (CA)"
                } else {
                    c.status()
                }
                .to_owned(),
                if sans.is_empty() {
                    "-".to_owned()
                } else {
                    sans.join(",")
                },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row = header.map(str::to_owned);
    for row in std::iter::once(&header_row).chain(&rows) {
        let last = row.len() - 1;
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}
