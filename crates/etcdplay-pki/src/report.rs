//! The result of ensuring a whole cluster's certificates in one call: for each certificate
//! whether it was reused or (re)issued, so the engine knows which members need a restart.

use crate::options::Issued;

/// Outcome of [`crate::PkiDir::ensure_all`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnsureReport {
    /// The CA (issued only when it was created).
    pub ca: Issued,
    /// Each member by inventory hostname, in the order given.
    pub members: Vec<(String, Issued)>,
    /// The client certificate for tools.
    pub client: Issued,
}

impl EnsureReport {
    /// Inventory hostnames whose certificate changed (candidates for a rolling restart).
    pub fn changed_members(&self) -> Vec<&str> {
        self.members
            .iter()
            .filter(|(_, issued)| issued.changed())
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// Whether anything at all was written.
    pub fn any_changed(&self) -> bool {
        self.ca.changed() || self.client.changed() || self.members.iter().any(|(_, i)| i.changed())
    }
}
