//! Member and client certificates: deciding whether the certificate on disk can be kept,
//! and issuing a new one (fresh key, signed by the CA) when it cannot. The decision is a
//! pure function of what is on disk, what is wanted and the clock, so it is tested directly.

use std::collections::BTreeSet;
use std::path::Path;

use rcgen::KeyPair;
use time::OffsetDateTime;

use crate::ca::{self, CertAuthority};
use crate::error::PkiError;
use crate::files::{self, CERT_MODE, KEY_MODE};
use crate::inspect::{self, CertSummary};
use crate::options::{EnsureOptions, Issued};
use crate::profile::{self, LeafKind};
use crate::san::San;

/// One wanted leaf certificate.
#[derive(Debug)]
pub(crate) struct LeafRequest<'a> {
    /// Member or client.
    pub(crate) kind: LeafKind,
    /// Subject common name.
    pub(crate) common_name: &'a str,
    /// Exact wanted SAN set.
    pub(crate) sans: BTreeSet<San>,
    /// Certificate file.
    pub(crate) cert_path: &'a Path,
    /// Key file.
    pub(crate) key_path: &'a Path,
}

/// What was found on disk for a leaf, already parsed.
pub(crate) struct Existing {
    /// The certificate, or why it could not be read.
    pub(crate) cert: Option<Result<CertSummary, String>>,
    /// The key's raw public key, `Some(None)` when the key file exists but cannot be loaded.
    pub(crate) key_public: Option<Option<Vec<u8>>>,
}

/// The reason given when only the signing CA changed (a CA rotation): the certificate is
/// signed again for the same key (see [`ensure`]).
const NEW_SIGNER: &str = "not signed by the current CA";

/// Returns why the existing files must be replaced, or `None` when they can be reused.
pub(crate) fn reissue_reason(
    existing: &Existing,
    request: &LeafRequest<'_>,
    ca: &CertAuthority,
    options: &EnsureOptions,
    now: OffsetDateTime,
) -> Option<String> {
    if options.rotate {
        return Some("rotation requested".to_owned());
    }
    let cert = match &existing.cert {
        None => return Some("no certificate yet".to_owned()),
        Some(Err(reason)) => return Some(format!("existing certificate unusable: {reason}")),
        Some(Ok(cert)) => cert,
    };
    let key_public = match &existing.key_public {
        None => return Some("private key file missing".to_owned()),
        Some(None) => return Some("existing private key cannot be loaded".to_owned()),
        Some(Some(public)) => public,
    };
    if *key_public != cert.public_key {
        return Some("private key does not match the certificate".to_owned());
    }
    if !inspect::is_signed_by(&cert.der, ca.cert_der()) {
        return Some(NEW_SIGNER.to_owned());
    }
    let days_left = (cert.not_after - now).whole_days();
    if cert.not_after <= now {
        return Some("expired".to_owned());
    }
    // A certificate already lasting as long as the CA cannot be improved by renewing it;
    // re-issuing would only restart members on every run until the CA is replaced.
    if days_left < options.min_days_left && cert.not_after < ca.not_after() {
        return Some(format!(
            "expires in {days_left} days (renewal below {} days)",
            options.min_days_left
        ));
    }
    if cert.not_before > now + time::Duration::hours(1) {
        return Some("not valid yet (starts in the future)".to_owned());
    }
    if cert.common_name.as_deref() != Some(request.common_name) {
        return Some(format!(
            "common name changed from {:?} to {:?}",
            cert.common_name.as_deref().unwrap_or(""),
            request.common_name
        ));
    }
    let mut missing_eku = Vec::new();
    if request.kind.needs_server_auth() && !cert.server_auth {
        missing_eku.push("serverAuth");
    }
    if !cert.client_auth {
        missing_eku.push("clientAuth");
    }
    if !missing_eku.is_empty() {
        return Some(format!(
            "missing extended key usage {}",
            missing_eku.join(", ")
        ));
    }
    if cert.sans != request.sans {
        return Some(describe_san_change(&cert.sans, &request.sans));
    }
    None
}

/// "subject alternative names changed: added a, b; removed c".
fn describe_san_change(have: &BTreeSet<San>, want: &BTreeSet<San>) -> String {
    let list = |set: BTreeSet<&San>| {
        set.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let added: BTreeSet<&San> = want.difference(have).collect();
    let removed: BTreeSet<&San> = have.difference(want).collect();
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!("added {}", list(added)));
    }
    if !removed.is_empty() {
        parts.push(format!("removed {}", list(removed)));
    }
    format!("subject alternative names changed: {}", parts.join("; "))
}

/// Reads what is on disk for a leaf. A key file open to group or others is an error, not a
/// reason to re-issue: the user must learn that a key was exposed.
pub(crate) fn read_existing(request: &LeafRequest<'_>) -> Result<Existing, PkiError> {
    let key_text = files::read_key(request.key_path)?;
    let cert = files::read_optional(request.cert_path)?.map(|bytes| inspect::summarize_pem(&bytes));
    let key_public = key_text.map(|text| {
        ca::load_key(request.key_path, &text)
            .ok()
            .map(|key| key.public_key_raw().to_vec())
    });
    Ok(Existing { cert, key_public })
}

/// Makes sure the leaf described by `request` exists and is good, issuing it if needed.
pub(crate) fn ensure(
    ca: &CertAuthority,
    request: &LeafRequest<'_>,
    options: &EnsureOptions,
    now: OffsetDateTime,
) -> Result<Issued, PkiError> {
    options.validate()?;
    let existing = read_existing(request)?;
    let Some(reason) = reissue_reason(&existing, request, ca, options, now) else {
        return Ok(Issued::Reused);
    };
    // When only the signer changed, the key is sound and matches the certificate (checked
    // before the signer): signing the same key again means the certificate file is the only
    // file that changes, in one rename, so etcd (which reads its pair on every handshake) and
    // tools never meet a certificate and a key that do not belong together mid-rotation.
    let key = match reason == NEW_SIGNER {
        true => files::read_key(request.key_path)?
            .map(|text| ca::load_key(request.key_path, &text))
            .transpose()?,
        false => None,
    };
    issue(ca, request, options.validity_days, now, key)?;
    Ok(Issued::Issued { reason })
}

/// Issues a certificate, for `kept_key` or else for a new key, and writes them, key first: a
/// crash in between leaves a key that does not match the old certificate, which the next run
/// detects and repairs. A kept key is not written again.
fn issue(
    ca: &CertAuthority,
    request: &LeafRequest<'_>,
    validity_days: i64,
    now: OffsetDateTime,
    kept_key: Option<KeyPair>,
) -> Result<(), PkiError> {
    let what = format!("certificate for {}", request.common_name);
    let (key, new_key) = match kept_key {
        Some(key) => (key, false),
        None => (
            KeyPair::generate().map_err(|e| PkiError::issue(what.as_str(), &e))?,
            true,
        ),
    };
    let mut params = profile::leaf_params(
        request.kind,
        request.common_name,
        &request.sans,
        validity_days,
        now,
    )?;
    // A leaf must not outlive its CA: peers would reject it anyway once the CA expires.
    params.not_after = params.not_after.min(ca.not_after());
    let cert = ca.sign(&what, &params, &key)?;
    if new_key {
        files::write_atomic(request.key_path, key.serialize_pem().as_bytes(), KEY_MODE)?;
    }
    files::write_atomic(request.cert_path, cert.pem().as_bytes(), CERT_MODE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::san;
    use time::Duration;

    struct Fixture {
        _dir: tempfile::TempDir,
        ca: CertAuthority,
        cert: std::path::PathBuf,
        key: std::path::PathBuf,
    }

    fn fixture(now: OffsetDateTime) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertAuthority::generate(&dir.path().join("ca.pem"), now).unwrap();
        let (cert, key) = (dir.path().join("m.pem"), dir.path().join("m-key.pem"));
        Fixture {
            _dir: dir,
            ca,
            cert,
            key,
        }
    }

    fn request<'a>(f: &'a Fixture, kind: LeafKind, cn: &'a str) -> LeafRequest<'a> {
        LeafRequest {
            kind,
            common_name: cn,
            sans: san::member_sans(cn, &[]).unwrap(),
            cert_path: &f.cert,
            key_path: &f.key,
        }
    }

    fn decide(f: &Fixture, req: &LeafRequest<'_>, now: OffsetDateTime) -> Option<String> {
        let existing = read_existing(req).unwrap();
        reissue_reason(&existing, req, &f.ca, &EnsureOptions::default(), now)
    }

    #[test]
    fn reasons_follow_the_clock() {
        // Whole seconds, as certificates store them, so the day count below is exact.
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let f = fixture(now);
        let req = request(&f, LeafKind::Member, "m");
        assert_eq!(decide(&f, &req, now).as_deref(), Some("no certificate yet"));
        issue(&f.ca, &req, 365, now, None).unwrap();
        assert_eq!(decide(&f, &req, now), None);
        assert_eq!(
            decide(&f, &req, now + Duration::days(400)).as_deref(),
            Some("expired")
        );
        assert_eq!(
            decide(&f, &req, now + Duration::days(340)).as_deref(),
            Some("expires in 25 days (renewal below 30 days)")
        );
        assert_eq!(
            decide(&f, &req, now - Duration::days(1)).as_deref(),
            Some("not valid yet (starts in the future)")
        );
    }

    #[test]
    fn reasons_follow_the_profile() {
        let now = OffsetDateTime::now_utc();
        let f = fixture(now);
        let client = request(&f, LeafKind::Client, "m");
        issue(&f.ca, &client, 365, now, None).unwrap();
        let member = request(&f, LeafKind::Member, "m");
        assert_eq!(
            decide(&f, &member, now).as_deref(),
            Some("missing extended key usage serverAuth")
        );
        let renamed = request(&f, LeafKind::Client, "n");
        assert_eq!(
            decide(&f, &renamed, now).as_deref(),
            Some("common name changed from \"m\" to \"n\"")
        );
        std::fs::remove_file(&f.key).unwrap();
        assert_eq!(
            decide(&f, &client, now).as_deref(),
            Some("private key file missing")
        );
        std::fs::write(&f.cert, "garbage").unwrap();
        let reason = decide(&f, &client, now).unwrap();
        assert!(
            reason.starts_with("existing certificate unusable"),
            "{reason}"
        );
    }

    #[test]
    fn ca_debug_hides_the_key() {
        let f = fixture(OffsetDateTime::now_utc());
        let shown = format!("{:?} {:#?}", f.ca, f.ca);
        assert!(shown.contains("<private key elided>"), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        let key_pem = f.ca.key_pem();
        for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!shown.contains(line), "{shown}");
        }
    }
}
