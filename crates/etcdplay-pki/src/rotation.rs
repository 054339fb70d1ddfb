//! The control node's half of a CA rotation without downtime. The rotation moves through
//! three phases, each rolled out to the members before the next starts: `trust` (a new CA is
//! created and `ca.pem` becomes a bundle of the old and the new CA, which members then trust),
//! `reissue` (the new CA becomes the signer: its key replaces `ca-key.pem` and every leaf is
//! signed again by it) and `drop` (`ca.pem` holds the new CA alone). The phase reached is kept
//! in `pki/ca-rotation`, and every step is written so that re-running it after a crash at any
//! point finishes it: the new CA waits in `ca-next.pem`/`ca-next-key.pem` until it signs, the
//! bundle is a union, and the signer is whichever certificate of `ca.pem` matches
//! `ca-key.pem`. The new CA's key is created here, 0600, and never leaves this directory.

use std::path::PathBuf;

use time::OffsetDateTime;

use crate::ca::CertAuthority;
use crate::dir::PkiDir;
use crate::error::PkiError;
use crate::files::{self, CERT_MODE, KEY_MODE};
use crate::inspect;
use crate::material::{LeafFiles, SecretPem};
use crate::profile::{self, LeafKind, CLIENT_COMMON_NAME};

/// The file that records a rotation in progress (absent otherwise).
pub const ROTATION_STATE_FILE: &str = "ca-rotation";
/// The new CA's certificate until it becomes the signer.
const NEXT_CERT_FILE: &str = "ca-next.pem";
/// The new CA's key until it becomes the signer.
const NEXT_KEY_FILE: &str = "ca-next-key.pem";
/// Validity of the throw-away client certificate that proves members trust the new CA.
const PROBE_VALIDITY_DAYS: i64 = 1;

/// How far a rotation has come (the phase whose files are on the control node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RotationPhase {
    /// `ca.pem` is the bundle of old and new CA; the old CA still signs.
    Trust,
    /// The new CA signs; `ca.pem` is still the bundle.
    Reissue,
    /// `ca.pem` holds the new CA alone.
    Drop,
}

impl RotationPhase {
    /// The word used in the state file and in results.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trust => "trust",
            Self::Reissue => "reissue",
            Self::Drop => "drop",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        [Self::Trust, Self::Reissue, Self::Drop]
            .into_iter()
            .find(|p| p.as_str() == word)
    }
}

/// A rotation in progress, as `pki/ca-rotation` records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationState {
    /// The phase whose control-node files are written.
    pub phase: RotationPhase,
    /// SHA-256 fingerprint of the CA being replaced.
    pub old_ca: String,
    /// SHA-256 fingerprint of the new CA.
    pub new_ca: String,
}

impl RotationState {
    fn render(&self) -> String {
        format!(
            "# A CA rotation is in progress: `etcdplay apply --rotate-ca` resumes it.\n\
             phase={}\nold_ca={}\nnew_ca={}\n",
            self.phase.as_str(),
            self.old_ca,
            self.new_ca
        )
    }

    fn parse(text: &str) -> Option<Self> {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .map(str::trim)
        };
        let fingerprint = |name: &str| {
            field(name)
                .filter(|f| f.len() == 64 && f.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_owned)
        };
        Some(Self {
            phase: RotationPhase::parse(field("phase")?)?,
            old_ca: fingerprint("old_ca")?,
            new_ca: fingerprint("new_ca")?,
        })
    }
}

/// What one rotation step did on the control node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationStep {
    /// The rotation after the step (`None` once finished).
    pub state: Option<RotationState>,
    /// Whether a file was written or removed.
    pub changed: bool,
    /// What happened, in words.
    pub msg: String,
}

impl PkiDir {
    fn state_path(&self) -> PathBuf {
        self.path().join(ROTATION_STATE_FILE)
    }

    /// The rotation in progress, if any.
    pub fn rotation_state(&self) -> Result<Option<RotationState>, PkiError> {
        let path = self.state_path();
        let Some(bytes) = files::read_optional(&path)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        RotationState::parse(&text)
            .map(Some)
            .ok_or_else(|| PkiError::Rotation {
                state: path,
                reason: "the file cannot be read (expected phase=, old_ca=, new_ca= lines); \
                         it was not written by etcdplay"
                    .to_owned(),
            })
    }

    fn write_state(&self, state: &RotationState) -> Result<(), PkiError> {
        files::write_atomic(&self.state_path(), state.render().as_bytes(), CERT_MODE)
    }

    fn rotation_error(&self, reason: impl Into<String>) -> PkiError {
        PkiError::Rotation {
            state: self.state_path(),
            reason: reason.into(),
        }
    }

    /// The new CA waiting in `ca-next*.pem`, when both files are there.
    fn load_next(&self) -> Result<Option<CertAuthority>, PkiError> {
        let (cert_path, key_path) = (
            self.path().join(NEXT_CERT_FILE),
            self.path().join(NEXT_KEY_FILE),
        );
        let (Some(key), Some(cert)) = (
            files::read_key(&key_path)?,
            files::read_optional(&cert_path)?,
        ) else {
            return Ok(None);
        };
        let cert = String::from_utf8(cert).map_err(|_| PkiError::BadCert {
            path: cert_path.clone(),
            reason: "not a text PEM file".to_owned(),
        })?;
        CertAuthority::load(&cert_path, cert, &key_path, &key).map(Some)
    }

    /// The new CA: the one waiting from an interrupted run, else a fresh one written key
    /// first (a lone key is never used, so a crash between the two writes is harmless).
    fn next_ca(&self) -> Result<CertAuthority, PkiError> {
        if let Some(next) = self.load_next()? {
            return Ok(next);
        }
        let cert_path = self.path().join(NEXT_CERT_FILE);
        let next = CertAuthority::generate(&cert_path, OffsetDateTime::now_utc())?;
        files::write_atomic(
            &self.path().join(NEXT_KEY_FILE),
            next.key_pem().as_bytes(),
            KEY_MODE,
        )?;
        files::write_atomic(&cert_path, next.cert_pem().as_bytes(), CERT_MODE)?;
        Ok(next)
    }

    /// `ca.pem` as it is on disk.
    fn trust_text(&self) -> Result<String, PkiError> {
        let path = self.ca_pem_path();
        let bytes = files::read_optional(&path)?.unwrap_or_default();
        String::from_utf8(bytes).map_err(|_| PkiError::BadCert {
            path,
            reason: "not a text PEM file".to_owned(),
        })
    }

    /// Replaces `ca.pem` with `blocks` when it differs; whether it did.
    fn write_trust(&self, blocks: &[String]) -> Result<bool, PkiError> {
        let wanted = blocks.concat();
        if self.trust_text()? == wanted {
            return Ok(false);
        }
        files::write_atomic(&self.ca_pem_path(), wanted.as_bytes(), CERT_MODE)?;
        Ok(true)
    }

    /// Phase 1: creates the new CA (or takes the one an interrupted run left) and makes
    /// `ca.pem` the bundle of every CA it held plus the new one. Nothing to do once the
    /// rotation is past this phase.
    pub fn rotation_trust(&mut self) -> Result<RotationStep, PkiError> {
        self.ensure_ca()?;
        let state = self.rotation_state()?;
        if let Some(state) = state.as_ref().filter(|s| s.phase > RotationPhase::Trust) {
            let msg = format!(
                "CA rotation already past phase 1 (at {})",
                state.phase.as_str()
            );
            return Ok(RotationStep {
                state: Some(state.clone()),
                changed: false,
                msg,
            });
        }
        let next = self.next_ca()?;
        let mut blocks = inspect::cert_blocks(&self.trust_text()?);
        let next_der = inspect::first_cert_der(next.cert_pem().as_bytes()).ok();
        if !blocks
            .iter()
            .any(|b| inspect::first_cert_der(b.as_bytes()).ok() == next_der)
        {
            blocks.push(next.cert_pem().to_owned());
        }
        let mut changed = self.write_trust(&blocks)?;
        // The state is written last and never rewritten within a phase: after a crash in a
        // later step the signer may already be the new CA, and "old" must stay the old one.
        let state = match state {
            Some(state) => state,
            None => {
                let state = RotationState {
                    phase: RotationPhase::Trust,
                    old_ca: self.ca()?.fingerprint(),
                    new_ca: next.fingerprint(),
                };
                self.write_state(&state)?;
                changed = true;
                state
            }
        };
        Ok(RotationStep {
            state: Some(state),
            changed,
            msg: "ca.pem trusts the old and the new CA; the old CA still signs".to_owned(),
        })
    }

    /// A client certificate signed by the new CA, never written anywhere: a member that
    /// accepts it over TLS trusts the new CA. Only while phase 1 is the one written.
    pub fn rotation_probe_identity(&self) -> Result<LeafFiles, PkiError> {
        let next = self.load_next()?.ok_or_else(|| {
            self.rotation_error("the new CA (ca-next.pem, ca-next-key.pem) is missing")
        })?;
        let now = OffsetDateTime::now_utc();
        let what = "probe client certificate";
        let key = rcgen::KeyPair::generate().map_err(|e| PkiError::issue(what, &e))?;
        let params = profile::leaf_params(
            LeafKind::Client,
            CLIENT_COMMON_NAME,
            &Default::default(),
            PROBE_VALIDITY_DAYS,
            now,
        )?;
        let cert = next.sign(what, &params, &key)?;
        Ok(LeafFiles {
            cert_pem: cert.pem(),
            key_pem: SecretPem::new(key.serialize_pem()),
        })
    }

    /// Phase 2: the new CA becomes the signer (its key replaces `ca-key.pem` in one rename;
    /// the old CA key is gone) and its waiting files are removed. The caller then re-issues
    /// the leaves ([`PkiDir::ensure_all`]).
    pub fn rotation_switch(&mut self) -> Result<RotationStep, PkiError> {
        let Some(mut state) = self.rotation_state()? else {
            return Err(self.rotation_error("no CA rotation is in progress (phase 1 has not run)"));
        };
        let mut changed = false;
        if state.phase == RotationPhase::Trust {
            let next = self.load_next()?.ok_or_else(|| {
                self.rotation_error("the new CA (ca-next.pem, ca-next-key.pem) is missing")
            })?;
            let current = files::read_key(&self.ca_key_path())?.unwrap_or_default();
            let key_pem = zeroize::Zeroizing::new(next.key_pem());
            if current != *key_pem {
                files::write_atomic(&self.ca_key_path(), key_pem.as_bytes(), KEY_MODE)?;
            }
            state.phase = RotationPhase::Reissue;
            self.write_state(&state)?;
            changed = true;
        }
        for leftover in [NEXT_KEY_FILE, NEXT_CERT_FILE] {
            let path = self.path().join(leftover);
            match std::fs::remove_file(&path) {
                Ok(()) => changed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(PkiError::io("remove", path, e)),
            }
        }
        self.ensure_ca()?;
        Ok(RotationStep {
            state: Some(state),
            changed,
            msg: "the new CA signs; ca.pem still trusts the old CA too".to_owned(),
        })
    }

    /// Phase 3: `ca.pem` holds the signer (the new CA) alone.
    pub fn rotation_drop(&mut self) -> Result<RotationStep, PkiError> {
        let Some(mut state) = self.rotation_state()? else {
            return Err(self.rotation_error("no CA rotation is in progress"));
        };
        if state.phase == RotationPhase::Trust {
            return Err(self.rotation_error("phase 2 (re-issue under the new CA) has not run"));
        }
        self.ensure_ca()?;
        if self.ca()?.fingerprint() != state.new_ca {
            return Err(self.rotation_error(
                "ca-key.pem does not belong to the new CA the rotation started with",
            ));
        }
        let mut changed = self.write_trust(&[self.ca()?.cert_pem().to_owned()])?;
        if state.phase != RotationPhase::Drop {
            state.phase = RotationPhase::Drop;
            self.write_state(&state)?;
            changed = true;
        }
        Ok(RotationStep {
            state: Some(state),
            changed,
            msg: "ca.pem trusts the new CA alone".to_owned(),
        })
    }

    /// Ends the rotation once phase 3 is rolled out: the state file is removed.
    pub fn rotation_finish(&mut self) -> Result<RotationStep, PkiError> {
        let Some(state) = self.rotation_state()? else {
            return Ok(RotationStep {
                state: None,
                changed: false,
                msg: "no CA rotation in progress".to_owned(),
            });
        };
        if state.phase != RotationPhase::Drop {
            return Err(self.rotation_error(format!(
                "cannot finish at phase {}: the old CA is still trusted",
                state.phase.as_str()
            )));
        }
        let path = self.state_path();
        std::fs::remove_file(&path).map_err(|e| PkiError::io("remove", path, e))?;
        Ok(RotationStep {
            state: None,
            changed: true,
            msg: format!("CA rotation finished: the new CA {} alone", state.new_ca),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::options::{EnsureOptions, MemberSpec};

    fn member() -> Vec<MemberSpec> {
        vec![MemberSpec {
            name: "m1".to_owned(),
            sans: vec!["10.0.0.1".to_owned()],
        }]
    }

    fn cert_count(pki: &PkiDir) -> usize {
        inspect::cert_blocks(&pki.trust_text().unwrap()).len()
    }

    fn signed_by_signer(pki: &PkiDir, file: &str) -> bool {
        let pem = std::fs::read(pki.path().join(file)).unwrap();
        let der = inspect::first_cert_der(&pem).unwrap();
        inspect::is_signed_by(&der, pki.ca().unwrap().cert_der())
    }

    #[test]
    fn three_phases_move_trust_then_signer_then_drop_the_old_ca() {
        let dir = tempfile::tempdir().unwrap();
        let mut pki = PkiDir::open_or_create(&dir.path().join("pki")).unwrap();
        pki.ensure_all(&member(), &EnsureOptions::default())
            .unwrap();
        let old = pki.ca_fingerprint().unwrap();
        let client_key = std::fs::read(pki.path().join("client-key.pem")).unwrap();

        let step = pki.rotation_trust().unwrap();
        let state = step.state.clone().unwrap();
        assert_eq!(
            (state.phase, state.old_ca.as_str()),
            (RotationPhase::Trust, old.as_str())
        );
        assert_eq!(cert_count(&pki), 2);
        assert_eq!(pki.ca_fingerprint().unwrap(), old, "the old CA still signs");
        let key_mode = std::fs::metadata(pki.path().join(NEXT_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
        // Idempotent: a second run (a resumed rotation) changes nothing.
        assert!(!pki.rotation_trust().unwrap().changed);
        assert!(pki
            .rotation_probe_identity()
            .unwrap()
            .cert_pem
            .contains("BEGIN CERTIFICATE"));

        pki.rotation_switch().unwrap();
        assert_eq!(pki.ca_fingerprint().unwrap(), state.new_ca);
        assert!(!pki.path().join(NEXT_KEY_FILE).exists());
        let report = pki
            .ensure_all(&member(), &EnsureOptions::default())
            .unwrap();
        assert_eq!(report.changed_members(), ["m1"]);
        assert!(signed_by_signer(&pki, "m1.pem") && signed_by_signer(&pki, "client.pem"));
        let kept = std::fs::read(pki.path().join("client-key.pem")).unwrap();
        assert_eq!(kept, client_key, "re-signed for the same key");
        assert!(!pki.rotation_trust().unwrap().changed, "phase 1 is past");

        pki.rotation_drop().unwrap();
        assert_eq!(cert_count(&pki), 1);
        assert!(!pki.rotation_drop().unwrap().changed);
        let done = pki.rotation_finish().unwrap();
        assert!(done.state.is_none() && pki.rotation_state().unwrap().is_none());
        // A fresh load after the rotation: one CA, the new one, and nothing to re-issue.
        let mut again = PkiDir::open_or_create(pki.path()).unwrap();
        let report = again
            .ensure_all(&member(), &EnsureOptions::default())
            .unwrap();
        assert!(!report.any_changed(), "{report:?}");
        assert_eq!(again.ca_fingerprint().unwrap(), state.new_ca);
    }

    #[test]
    fn a_switch_cut_short_after_the_key_is_finished_by_running_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut pki = PkiDir::open_or_create(&dir.path().join("pki")).unwrap();
        pki.ensure_all(&member(), &EnsureOptions::default())
            .unwrap();
        let state = pki.rotation_trust().unwrap().state.unwrap();
        // The crash: the new key is in place, the state still says phase 1.
        let next_key = std::fs::read(pki.path().join(NEXT_KEY_FILE)).unwrap();
        files::write_atomic(&pki.ca_key_path(), &next_key, KEY_MODE).unwrap();
        let mut resumed = PkiDir::open_or_create(pki.path()).unwrap();
        // The resumed run's phase 1 keeps the recorded old CA and the bundle.
        let step = resumed.rotation_trust().unwrap();
        assert_eq!(step.state.unwrap(), state);
        assert_eq!(cert_count(&resumed), 2);
        let step = resumed.rotation_switch().unwrap();
        assert_eq!(step.state.unwrap().phase, RotationPhase::Reissue);
        assert_eq!(resumed.ca_fingerprint().unwrap(), state.new_ca);
    }

    #[test]
    fn steps_out_of_order_are_refused_with_the_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut pki = PkiDir::open_or_create(&dir.path().join("pki")).unwrap();
        pki.ensure_all(&member(), &EnsureOptions::default())
            .unwrap();
        let err = pki.rotation_switch().unwrap_err().to_string();
        assert!(
            err.contains("ca-rotation") && err.contains("no CA rotation"),
            "{err}"
        );
        pki.rotation_trust().unwrap();
        let err = pki.rotation_drop().unwrap_err().to_string();
        assert!(err.contains("phase 2"), "{err}");
        let err = pki.rotation_finish().unwrap_err().to_string();
        assert!(err.contains("still trusted"), "{err}");
        std::fs::write(pki.path().join(ROTATION_STATE_FILE), "phase=sideways\n").unwrap();
        let err = pki.rotation_state().unwrap_err().to_string();
        assert!(err.contains("cannot be read"), "{err}");
    }
}
