//! The PKI directory on the control node (by default `<inventory dir>/pki/`): where the CA,
//! member and client certificates live, and the entry point for ensuring they exist.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::ca::CertAuthority;
use crate::error::PkiError;
use crate::files::{self, CERT_MODE, KEY_MODE};
use crate::leaf::{self, LeafRequest};
use crate::material::{LeafFiles, SecretPem};
use crate::options::{EnsureOptions, Issued, MemberSpec};
use crate::profile::{LeafKind, CLIENT_COMMON_NAME};
use crate::report::EnsureReport;
use crate::san;
use crate::show::{self, CertInfo};

/// File name of the CA certificate.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key.
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// File stem of the client certificate for tools.
pub const CLIENT_STEM: &str = "client";

/// An opened PKI directory, with the CA once [`PkiDir::ensure_ca`] has run.
#[derive(Debug)]
pub struct PkiDir {
    root: PathBuf,
    /// Loaded by `ensure_ca`; its `Debug` hides the key.
    ca: Option<CertAuthority>,
}

impl PkiDir {
    /// Opens the directory, creating it with mode 0700 if it does not exist. An existing
    /// directory must be listable and closed to group and others.
    pub fn open_or_create(path: &Path) -> Result<Self, PkiError> {
        Ok(Self {
            root: files::prepare_dir(path)?,
            ca: None,
        })
    }

    /// Where the PKI directory goes by default: `pki/` next to the inventory, i.e. inside
    /// the inventory when it is a directory, beside it when it is a file.
    pub fn default_path(inventory: &Path) -> PathBuf {
        let base = if inventory.is_dir() {
            inventory
        } else {
            inventory.parent().unwrap_or(Path::new("."))
        };
        let base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        base.join("pki")
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Path of `ca.pem`.
    pub fn ca_pem_path(&self) -> PathBuf {
        self.root.join(CA_CERT_FILE)
    }

    /// Path of `ca-key.pem`.
    pub fn ca_key_path(&self) -> PathBuf {
        self.root.join(CA_KEY_FILE)
    }

    /// Certificate and key paths of a member: `<name>.pem` and `<name>-key.pem`.
    pub fn member_paths(&self, name: &str) -> (PathBuf, PathBuf) {
        (
            self.root.join(format!("{name}.pem")),
            self.root.join(format!("{name}-key.pem")),
        )
    }

    /// Certificate and key paths of the client certificate: `client.pem`, `client-key.pem`.
    pub fn client_paths(&self) -> (PathBuf, PathBuf) {
        self.member_paths(CLIENT_STEM)
    }

    /// SHA-256 fingerprint (hex) of the signing CA. Requires [`PkiDir::ensure_ca`].
    pub fn ca_fingerprint(&self) -> Result<String, PkiError> {
        self.ca().map(CertAuthority::fingerprint)
    }

    /// The CA certificate as PEM (to upload to hosts). Requires [`PkiDir::ensure_ca`].
    pub fn ca_pem(&self) -> Result<&str, PkiError> {
        self.ca().map(CertAuthority::cert_pem)
    }

    pub(crate) fn ca(&self) -> Result<&CertAuthority, PkiError> {
        self.ca.as_ref().ok_or(PkiError::CaNotLoaded)
    }

    /// Loads the CA, or creates one when neither `ca.pem` nor `ca-key.pem` exists. A CA the
    /// user put there is used as-is, never replaced. Must run before issuing anything.
    pub fn ensure_ca(&mut self) -> Result<Issued, PkiError> {
        let (cert_path, key_path) = (self.ca_pem_path(), self.ca_key_path());
        let key_text = files::read_key(&key_path)?;
        let cert_bytes = files::read_optional(&cert_path)?;
        let (ca, issued) = match (cert_bytes, key_text) {
            (Some(cert), Some(key)) => {
                let cert = String::from_utf8(cert).map_err(|_| PkiError::BadCert {
                    path: cert_path.clone(),
                    reason: "not a text PEM file".to_owned(),
                })?;
                let ca = CertAuthority::load_signer(&cert_path, &cert, &key_path, &key)?;
                (ca, Issued::Reused)
            }
            (Some(_), None) => {
                return Err(PkiError::IncompleteCa {
                    present: cert_path,
                    missing: key_path,
                })
            }
            (None, Some(_)) => {
                return Err(PkiError::IncompleteCa {
                    present: key_path,
                    missing: cert_path,
                })
            }
            (None, None) => {
                let ca = CertAuthority::generate(&cert_path, OffsetDateTime::now_utc())?;
                // Key first: should the certificate write fail, the next run reports an
                // incomplete CA instead of silently creating a second one.
                files::write_atomic(&key_path, ca.key_pem().as_bytes(), KEY_MODE)?;
                files::write_atomic(&cert_path, ca.cert_pem().as_bytes(), CERT_MODE)?;
                let reason = "created a new CA".to_owned();
                (ca, Issued::Issued { reason })
            }
        };
        self.ca = Some(ca);
        Ok(issued)
    }

    /// Makes sure the member's certificate exists, is signed by the current CA, carries
    /// exactly the wanted names and has at least `min_days_left` days left; issues a new
    /// certificate and key otherwise (or always, with `rotate`).
    pub fn ensure_member(
        &self,
        spec: &MemberSpec,
        options: &EnsureOptions,
    ) -> Result<Issued, PkiError> {
        check_member_name(&spec.name)?;
        let ca = self.ca()?;
        let (cert_path, key_path) = self.member_paths(&spec.name);
        let request = LeafRequest {
            kind: LeafKind::Member,
            common_name: &spec.name,
            sans: san::member_sans(&spec.name, &spec.sans)?,
            cert_path: &cert_path,
            key_path: &key_path,
        };
        leaf::ensure(ca, &request, options, OffsetDateTime::now_utc())
    }

    /// Makes sure the client certificate for tools (CN `etcdplay-client`, clientAuth only)
    /// exists and is good, with the same renewal rules as members.
    pub fn ensure_client(&self, options: &EnsureOptions) -> Result<Issued, PkiError> {
        let ca = self.ca()?;
        let (cert_path, key_path) = self.client_paths();
        let request = LeafRequest {
            kind: LeafKind::Client,
            common_name: CLIENT_COMMON_NAME,
            sans: Default::default(),
            cert_path: &cert_path,
            key_path: &key_path,
        };
        leaf::ensure(ca, &request, options, OffsetDateTime::now_utc())
    }

    /// Ensures the CA, every member in `members` and the client certificate, in that order,
    /// and reports what was (re)issued.
    pub fn ensure_all(
        &mut self,
        members: &[MemberSpec],
        options: &EnsureOptions,
    ) -> Result<EnsureReport, PkiError> {
        let ca = self.ensure_ca()?;
        let members = members
            .iter()
            .map(|spec| Ok((spec.name.clone(), self.ensure_member(spec, options)?)))
            .collect::<Result<Vec<_>, PkiError>>()?;
        let client = self.ensure_client(options)?;
        Ok(EnsureReport {
            ca,
            members,
            client,
        })
    }

    /// Reads a member's certificate and key (for upload). The key is held to the same
    /// permission rule as everywhere else.
    pub fn member_files(&self, name: &str) -> Result<LeafFiles, PkiError> {
        check_member_name(name)?;
        let (cert, key) = self.member_paths(name);
        read_leaf(&cert, &key)
    }

    /// Reads the client certificate and key.
    pub fn client_files(&self) -> Result<LeafFiles, PkiError> {
        let (cert, key) = self.client_paths();
        read_leaf(&cert, &key)
    }

    /// Describes every certificate in the directory (key files are never opened).
    pub fn show(&self) -> Result<Vec<CertInfo>, PkiError> {
        show::list(&self.root, OffsetDateTime::now_utc())
    }
}

fn read_leaf(cert: &Path, key: &Path) -> Result<LeafFiles, PkiError> {
    let missing = |path: &Path| {
        PkiError::io(
            "read",
            path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    };
    let key_pem = files::read_key(key)?.ok_or_else(|| missing(key))?;
    let cert_pem = files::read_optional(cert)?.ok_or_else(|| missing(cert))?;
    let cert_pem = String::from_utf8(cert_pem).map_err(|_| PkiError::BadCert {
        path: cert.to_path_buf(),
        reason: "not a text PEM file".to_owned(),
    })?;
    Ok(LeafFiles {
        cert_pem,
        key_pem: SecretPem::new(key_pem),
    })
}

/// Refuses member names that are not plain file names or that would collide with the CA,
/// the client certificate or another member's key file.
fn check_member_name(name: &str) -> Result<(), PkiError> {
    let invalid = |reason| {
        Err(PkiError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 200 {
        return invalid("must be 1 to 200 characters long");
    }
    if name.starts_with('.') {
        return invalid("must not start with '.'");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
    {
        return invalid("only letters, digits, '.', '-', '_' and ':' are allowed");
    }
    if name == "ca" || name == CLIENT_STEM {
        return invalid("the name is reserved for the CA or client certificate");
    }
    if name.ends_with("-key") {
        return invalid("a name ending in '-key' would collide with another host's key file");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_sits_next_to_the_inventory() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(PkiDir::default_path(dir.path()), dir.path().join("pki"));
        let file = dir.path().join("hosts.yml");
        assert_eq!(PkiDir::default_path(&file), dir.path().join("pki"));
        assert_eq!(
            PkiDir::default_path(Path::new("hosts.ini")),
            Path::new("./pki")
        );
    }
}
