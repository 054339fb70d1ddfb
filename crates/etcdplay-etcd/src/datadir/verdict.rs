//! Step 6 of the data-dir algorithm: given what the data dir will restore and what the plan
//! wants, decide whether starting etcd with the plan is safe. etcd ignores
//! `--initial-advertise-peer-urls` once a WAL exists and dials peers at their *stored* URLs,
//! so a stored `http://` peer with a TLS plan (or the reverse) leaves the member unable to
//! rejoin; the verdict blocks such plans instead of letting systemd time out.

use super::error::DataDirError;
use super::report::{DataDirReport, DataDirState};

/// The peer scheme a plan uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerScheme {
    Http,
    Https,
}

/// What the play intends for this member's peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPlan {
    pub scheme: PeerScheme,
    /// The planned `--initial-advertise-peer-urls` of the local member; empty when only the
    /// scheme is known.
    pub advertise_peer_urls: Vec<String>,
}

impl PeerPlan {
    /// A plan that only fixes the scheme.
    pub fn scheme(scheme: PeerScheme) -> Self {
        Self {
            scheme,
            advertise_peer_urls: Vec::new(),
        }
    }

    /// A plan from the local member's advertise URLs; any `https`/`unixs` URL makes it TLS.
    pub fn advertise(urls: Vec<String>) -> Self {
        let tls = urls.iter().any(|u| is_tls(&scheme_of(u)));
        Self {
            scheme: if tls {
                PeerScheme::Https
            } else {
                PeerScheme::Http
            },
            advertise_peer_urls: urls,
        }
    }
}

/// The outcome of the data-dir check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Block {
        reasons: Vec<String>,
    },
    /// The dir could not be read well enough to decide; callers should fail closed.
    CannotVerify {
        reason: String,
    },
}

/// The verdict for a read result, mapping read errors to [`Verdict::CannotVerify`].
pub fn verdict(result: &Result<DataDirReport, DataDirError>, plan: &PeerPlan) -> Verdict {
    match result {
        Ok(report) => report.verdict(plan),
        Err(e) => Verdict::CannotVerify {
            reason: e.to_string(),
        },
    }
}

fn scheme_of(url: &str) -> String {
    url.split_once("://")
        .map_or_else(String::new, |(s, _)| s.to_ascii_lowercase())
}

fn is_tls(scheme: &str) -> bool {
    matches!(scheme, "https" | "unixs")
}

/// Lowercases scheme and authority and drops a trailing `/`, then sorts, so that
/// formatting differences do not block.
fn normalized(urls: &[String]) -> Vec<String> {
    let mut out: Vec<String> = urls
        .iter()
        .map(|u| {
            let u = u.trim().trim_end_matches('/');
            match u.split_once("://") {
                Some((s, rest)) => {
                    let (auth, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                    format!(
                        "{}://{}{}",
                        s.to_ascii_lowercase(),
                        auth.to_ascii_lowercase(),
                        path
                    )
                }
                None => u.to_string(),
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

impl DataDirReport {
    /// Judges `plan` against this data dir (step 6).
    pub fn verdict(&self, plan: &PeerPlan) -> Verdict {
        let DataDirState::Initialized {
            local_id, members, ..
        } = &self.state
        else {
            return Verdict::Pass; // etcd will bootstrap from the planned flags
        };
        if members.is_empty() {
            return Verdict::CannotVerify {
                reason: "the data dir has a WAL but no members could be reconstructed".into(),
            };
        }
        let mut reasons = Vec::new();
        for m in members {
            for url in &m.peer_urls {
                let s = scheme_of(url);
                let wrong = match plan.scheme {
                    PeerScheme::Https => !is_tls(&s),
                    PeerScheme::Http => is_tls(&s) || !matches!(s.as_str(), "http" | "unix"),
                };
                if wrong {
                    let want = match plan.scheme {
                        PeerScheme::Https => "https",
                        PeerScheme::Http => "http",
                    };
                    reasons.push(format!(
                        "member {:x} ({}) has stored peer URL {url} but the plan uses {want}; etcd ignores the new flags on an initialized data dir",
                        m.id,
                        if m.name.is_empty() { "unnamed" } else { &m.name }
                    ));
                }
            }
        }
        match self.local_member() {
            None => reasons.push(format!(
                "the local member {local_id:x} is not in the stored membership (it was removed); etcd will refuse to start"
            )),
            Some(local) if !plan.advertise_peer_urls.is_empty() => {
                if normalized(&local.peer_urls) != normalized(&plan.advertise_peer_urls) {
                    reasons.push(format!(
                        "the local member {:x} has stored peer URLs {} but the plan advertises {}",
                        local.id,
                        local.peer_urls.join(","),
                        plan.advertise_peer_urls.join(",")
                    ));
                }
            }
            Some(_) => {}
        }
        if reasons.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Block { reasons }
        }
    }
}
