//! The operator's explanation of a refused data-dir check: what the dir holds, what the plan
//! wants, what etcd would do on it, and the command lines of the two ways forward.

use etcdplay_etcd::{DataDirError, DataDirReport, DataDirState, PeerPlan, PeerScheme, Verdict};

/// One host's refused check, with everything the operator needs to decide: what the dir
/// holds, what the plan wants, what etcd would do, and the two ways forward.
pub(crate) struct Finding<'a> {
    pub(crate) host: &'a str,
    pub(crate) unit: Option<&'a str>,
    pub(crate) data_dir: &'a str,
    pub(crate) read: &'a Result<DataDirReport, DataDirError>,
    pub(crate) plan: &'a PeerPlan,
    pub(crate) verdict: &'a Verdict,
    pub(crate) listen_peer_urls: &'a [String],
}

impl Finding<'_> {
    /// The full explanation; `stopped` are the hosts on which nothing was started.
    pub(crate) fn message(&self, stopped: &[String]) -> String {
        let mut out = String::new();
        let what = match self.verdict {
            Verdict::CannotVerify { .. } => "cannot verify",
            _ => "refuses",
        };
        let unit = self
            .unit
            .map(|u| format!(" (unit {u})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "data-dir scheme check {what} on {}{unit}: data dir {}",
            self.host, self.data_dir
        ));
        match self.read {
            Ok(report) => {
                if let DataDirState::Initialized {
                    local_id, members, ..
                } = &report.state
                {
                    out.push_str(&format!(
                        " already holds a cluster (local member {local_id:x}); etcd ignores --initial-cluster and --initial-advertise-peer-urls on it and restores these {} member(s):\n",
                        members.len()
                    ));
                    for m in members {
                        let me = if m.id == *local_id {
                            " (this host)"
                        } else {
                            ""
                        };
                        let name = if m.name.is_empty() {
                            "(unnamed)"
                        } else {
                            m.name.as_str()
                        };
                        out.push_str(&format!(
                            "  member {:x} name={name} peer URLs: {}{me}\n",
                            m.id,
                            m.peer_urls.join(",")
                        ));
                    }
                } else {
                    out.push_str(" is not initialized\n");
                }
            }
            Err(e) => out.push_str(&format!(" could not be read: {e}\n")),
        }
        let scheme = match self.plan.scheme {
            PeerScheme::Https => "https",
            PeerScheme::Http => "http",
        };
        let advertise = if self.plan.advertise_peer_urls.is_empty() {
            "(not set)".to_string()
        } else {
            self.plan.advertise_peer_urls.join(",")
        };
        out.push_str(&format!(
            "  planned peer URLs of {}: advertise {advertise}",
            self.host
        ));
        if !self.listen_peer_urls.is_empty() {
            out.push_str(&format!(", listen {}", self.listen_peer_urls.join(",")));
        }
        out.push_str(&format!(" (scheme {scheme})\n"));
        match self.verdict {
            Verdict::Block { reasons } => {
                for r in reasons {
                    out.push_str(&format!("  - {r}\n"));
                }
                let effect = match self.plan.scheme {
                    PeerScheme::Https => "dial the other members at their stored http:// URLs; every TLS peer listener rejects that with \"tls: first record does not look like a TLS handshake\", the member never rejoins and the systemd start times out",
                    PeerScheme::Http => "dial the other members at their stored https:// URLs while this member listens without TLS; the member never rejoins and the systemd start times out",
                };
                out.push_str(&format!("  what etcd would do: {effect}.\n"));
            }
            Verdict::CannotVerify { reason } => out.push_str(&format!("  - {reason}\n  the check fails closed: etcdplay does not start etcd on a data dir it cannot read.\n")),
            Verdict::Pass => {}
        }
        out.push_str(&format!(
            "  The data dir was not touched, and etcd was not started or restarted on {}.\n",
            if stopped.is_empty() {
                self.host.to_string()
            } else {
                stopped.join(", ")
            }
        ));
        out.push_str("  Remedies:\n");
        out.push_str(&format!("    keep every key (rolling member update to the planned URLs, or snapshot+restore): {}\n", remedy_command("migrate")));
        out.push_str(&format!("    start fresh after a backup of the data dir (the keys are lost from the cluster): {}", remedy_command("reset")));
        out
    }
}

/// The command line of this run with `--leftover-membership MODE` (replacing any given).
pub(crate) fn remedy_command(mode: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    let is_etcdplay = args
        .first()
        .is_some_and(|a| a.rsplit('/').next() == Some("etcdplay"))
        && args.get(1).is_some_and(|a| a == "apply");
    let mut words: Vec<String> = if is_etcdplay {
        let mut out = vec!["etcdplay".to_string()];
        let mut i = 1;
        while i < args.len() {
            let a = &args[i];
            if a == "--leftover-membership" {
                i += 2;
                continue;
            }
            if !a.starts_with("--leftover-membership=") {
                out.push(shell_word(a));
            }
            i += 1;
        }
        out
    } else {
        vec![
            "etcdplay".into(),
            "apply".into(),
            "-i".into(),
            "INVENTORY".into(),
            "PLAYBOOK".into(),
        ]
    };
    words.push("--leftover-membership".into());
    words.push(mode.into());
    words.join(" ")
}

/// Quotes a word for a shell only when it needs it.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c))
    {
        s.to_string()
    } else {
        etcdplay_etcd::datadir::shell_quote(s)
    }
}
