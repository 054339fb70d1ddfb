//! What callers ask for (a member's names, renewal options) and what they get back (whether a
//! certificate was reused or issued, and why — the engine restarts members whose certificate
//! changed).

use crate::error::PkiError;
use crate::profile::DEFAULT_LEAF_VALIDITY_DAYS;

/// The certificate wanted for one etcd member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSpec {
    /// The inventory hostname; also the certificate's common name and file name stem.
    pub name: String,
    /// Extra subject alternative names: `ansible_host`, the host's IPv4 addresses, other DNS
    /// names. IP-looking strings become IP SANs; empty strings are ignored; duplicates collapse.
    /// The inventory name, `127.0.0.1`, `::1` and `localhost` are always added.
    pub sans: Vec<String>,
}

/// How eager to be about replacing existing certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnsureOptions {
    /// Re-issue every member and client certificate even if it is still good.
    pub rotate: bool,
    /// Re-issue a certificate when fewer than this many days of validity remain.
    pub min_days_left: i64,
    /// Validity of newly issued member and client certificates, in days.
    pub validity_days: i64,
}

impl Default for EnsureOptions {
    fn default() -> Self {
        Self {
            rotate: false,
            min_days_left: 30,
            validity_days: DEFAULT_LEAF_VALIDITY_DAYS,
        }
    }
}

impl EnsureOptions {
    /// Rejects options under which a fresh certificate would already be due for renewal,
    /// which would re-issue (and restart members) on every run.
    pub(crate) fn validate(&self) -> Result<(), PkiError> {
        if self.validity_days < 1 {
            return Err(PkiError::InvalidOptions {
                reason: format!("validity of {} days is not positive", self.validity_days),
            });
        }
        if self.min_days_left >= self.validity_days {
            return Err(PkiError::InvalidOptions {
                reason: format!(
                    "renewal threshold of {} days is not below the validity of {} days; every run would re-issue",
                    self.min_days_left, self.validity_days
                ),
            });
        }
        Ok(())
    }
}

/// The outcome for one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Issued {
    /// The existing certificate and key were kept unchanged.
    Reused,
    /// A new certificate (and key) was written.
    Issued {
        /// Why, in words for the user (e.g. "subject alternative names changed: added 10.0.0.7").
        reason: String,
    },
}

impl Issued {
    /// Whether files were (re)written, i.e. whoever uses them needs to pick them up.
    pub fn changed(&self) -> bool {
        matches!(self, Self::Issued { .. })
    }
}
