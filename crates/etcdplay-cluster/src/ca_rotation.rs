//! `etcd_ca_rotation`: one phase of a CA rotation without downtime, on the control node
//! (`phase: trust | reissue | drop | finish`). The built-in playbook runs the phases in order,
//! installing the files each one writes and rolling the members (one at a time, quorum
//! guarded) in between. Before a phase moves on, the members are asked over TLS whether the
//! previous one took effect on every one of them, with credentials only that phase's state
//! makes work: before the new CA signs, each member must accept a throw-away client
//! certificate of the new CA (it trusts the bundle); before the old CA is dropped, each member
//! must serve a certificate of the new CA to a client trusting nothing else; before the
//! rotation ends, each member must still answer that client. A member that does not is named
//! and the phase does not start. The PKI side (files, state, resumption) is etcdplay-pki's.

use std::path::Path;
use std::time::Duration;

use etcdplay_etcd::{ClusterClient, EndpointTls, SecretKeyPem};
use etcdplay_pki::{EnsureOptions, LeafFiles, PkiDir, RotationPhase, RotationStep};
use serde_json::{json, Map, Value};

use crate::args::{endpoints_arg, wait_from_args};
use crate::error::ActionError;
use etcdplay_engine::RunContext;

/// How long each check waits for every member to answer (they were just restarted).
const DEFAULT_WAIT: Duration = Duration::from_secs(60);
/// One endpoint's probe.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The phase the task asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Requested {
    Trust,
    Reissue,
    Drop,
    Finish,
}

impl Requested {
    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "trust" => Self::Trust,
            "reissue" => Self::Reissue,
            "drop" => Self::Drop,
            "finish" => Self::Finish,
            _ => return None,
        })
    }
}

/// Runs the action.
pub(crate) async fn run(
    run: &dyn RunContext,
    args: &Map<String, Value>,
    origin: &str,
) -> Result<Value, ActionError> {
    let word = args
        .get("phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let phase = Requested::parse(word).ok_or_else(|| {
        ActionError::argument(
            origin,
            format!("'phase' must be trust, reissue, drop or finish, got '{word}'"),
        )
    })?;
    let dir = args
        .get("dir")
        .and_then(Value::as_str)
        .ok_or_else(|| ActionError::argument(origin, "etcd_ca_rotation needs 'dir'"))?;
    let endpoints = endpoints_arg(args, "endpoints", origin)?;
    let wait = wait_from_args(args, DEFAULT_WAIT, origin)?;
    if run.options().check {
        return Ok(json!({"changed": false, "skipped": true,
            "msg": "a CA rotation does not run in check mode"}));
    }
    let pki_err = ActionError::pki;
    let mut pki = PkiDir::open_or_create(Path::new(dir)).map_err(pki_err(origin))?;
    let before = pki
        .rotation_state()
        .map_err(pki_err(origin))?
        .map(|s| s.phase);
    let check = Check {
        endpoints: &endpoints,
        wait,
        origin,
    };
    let mut out = Map::new();
    let step = match phase {
        Requested::Trust => pki.rotation_trust().map_err(pki_err(origin))?,
        Requested::Reissue => {
            if before == Some(RotationPhase::Trust) {
                let probe = pki.rotation_probe_identity().map_err(pki_err(origin))?;
                let trust = read_text(&pki.ca_pem_path(), origin)?;
                match check
                    .run(trust, probe, "accept a client certificate of the new CA")
                    .await?
                {
                    Ok(verified) => out.insert("verified".into(), verified),
                    Err(msg) => return Ok(refused(word, before, msg)),
                };
            }
            let step = pki.rotation_switch().map_err(pki_err(origin))?;
            let members = crate::pki::member_specs(run, &hosts_arg(args, origin)?);
            let report = pki
                .ensure_all(&members, &EnsureOptions::default())
                .map_err(pki_err(origin))?;
            out.insert("changed_members".into(), json!(report.changed_members()));
            out.insert("client_changed".into(), json!(report.client.changed()));
            RotationStep {
                changed: step.changed || report.any_changed(),
                ..step
            }
        }
        Requested::Drop | Requested::Finish => {
            let due = match phase {
                Requested::Drop => before == Some(RotationPhase::Reissue),
                _ => before == Some(RotationPhase::Drop),
            };
            if due {
                pki.ensure_ca().map_err(pki_err(origin))?;
                let new_ca = pki.ca_pem().map_err(pki_err(origin))?.to_owned();
                let client = pki.client_files().map_err(pki_err(origin))?;
                let what = "serve a certificate of the new CA to a client trusting it alone";
                match check.run(new_ca, client, what).await? {
                    Ok(verified) => out.insert("verified".into(), verified),
                    Err(msg) => return Ok(refused(word, before, msg)),
                };
            }
            match phase {
                Requested::Drop => pki.rotation_drop(),
                _ => pki.rotation_finish(),
            }
            .map_err(pki_err(origin))?
        }
    };
    Ok(result(word, before, step, out))
}

/// The task result: the phase asked for, where the rotation stands, what was checked.
fn result(
    word: &str,
    before: Option<RotationPhase>,
    step: RotationStep,
    mut out: Map<String, Value>,
) -> Value {
    let (state, old_ca, new_ca) = match &step.state {
        Some(s) => (
            s.phase.as_str(),
            Some(s.old_ca.clone()),
            Some(s.new_ca.clone()),
        ),
        None => ("none", None, None),
    };
    out.insert("changed".into(), json!(step.changed));
    out.insert("phase".into(), json!(word));
    out.insert(
        "rotation_before".into(),
        json!(before.map_or("none", RotationPhase::as_str)),
    );
    out.insert("rotation".into(), json!(state));
    out.insert("old_ca".into(), json!(old_ca));
    out.insert("new_ca".into(), json!(new_ca));
    let msg = summary(&step, &out);
    out.insert("msg".into(), json!(msg));
    Value::Object(out)
}

/// The one line `--output json` and the stream show: what the phase did and checked.
fn summary(step: &RotationStep, out: &Map<String, Value>) -> String {
    let names = |key: &str| {
        out.get(key).and_then(Value::as_array).map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
    };
    let mut parts = vec![step.msg.clone()];
    if let Some(state) = &step.state {
        parts.push(format!(
            "old CA sha256 {}…, new CA sha256 {}…",
            &state.old_ca[..16],
            &state.new_ca[..16]
        ));
    }
    if let Some(verified) = names("verified") {
        parts.push(format!("checked first: {verified}"));
    }
    if let Some(members) = names("changed_members").filter(|m| !m.is_empty()) {
        parts.push(format!("re-issued under the new CA: {members}"));
    }
    if out.get("client_changed") == Some(&Value::Bool(true)) {
        parts.push("and the client certificate".to_owned());
    }
    parts.join("; ")
}

/// A failed result: the phase did not start because a member is not ready for it.
fn refused(word: &str, before: Option<RotationPhase>, msg: String) -> Value {
    json!({
        "changed": false,
        "failed": true,
        "phase": word,
        "rotation": before.map_or("none", RotationPhase::as_str),
        "msg": msg,
    })
}

/// A check that every member answers healthy to a client with given trust and identity.
struct Check<'a> {
    endpoints: &'a [String],
    wait: Duration,
    origin: &'a str,
}

impl Check<'_> {
    /// The members that answered, or (inner `Err`) why the phase cannot start, naming those
    /// that did not.
    async fn run(
        &self,
        trust: String,
        identity: LeafFiles,
        what: &str,
    ) -> Result<Result<Value, String>, ActionError> {
        let tls = EndpointTls {
            ca_pem: trust,
            client_cert_pem: identity.cert_pem.clone(),
            client_key_pem: SecretKeyPem::new(identity.key_pem.expose().to_owned()),
        };
        let client = ClusterClient::new(self.endpoints.to_vec(), Some(tls), CALL_TIMEOUT)
            .map_err(ActionError::cluster(self.origin))?;
        match client.wait_healthy(self.wait).await {
            Ok(statuses) => Ok(Ok(json!(statuses
                .iter()
                .map(|s| s.label())
                .collect::<Vec<_>>()))),
            Err(etcdplay_etcd::ClientError::NotHealthy { problems, .. }) => Ok(Err(format!(
                "not every member is ready for the next phase: each must {what}: {}; the \
                 rotation stays where it is (re-run `etcdplay apply --rotate-ca` once fixed)",
                problems.join("; ")
            ))),
            Err(e) => Err(ActionError::cluster(self.origin)(e)),
        }
    }
}

fn hosts_arg(args: &Map<String, Value>, origin: &str) -> Result<Vec<String>, ActionError> {
    match args.get("hosts") {
        Some(Value::Array(items)) => Ok(items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()),
        _ => Err(ActionError::argument(
            origin,
            "etcd_ca_rotation needs 'hosts' (a list of inventory names)",
        )),
    }
}

fn read_text(path: &Path, origin: &str) -> Result<String, ActionError> {
    etcdplay_source::read_text_file(path, etcdplay_source::MAX_TEXT_FILE).map_err(|e| {
        ActionError::ReadFile {
            origin: origin.to_string(),
            path: path.display().to_string(),
            problem: e.problem,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_the_four_words() {
        assert_eq!(Requested::parse("trust"), Some(Requested::Trust));
        assert_eq!(Requested::parse("finish"), Some(Requested::Finish));
        assert_eq!(Requested::parse("Trust"), None);
        assert_eq!(Requested::parse(""), None);
    }
}
