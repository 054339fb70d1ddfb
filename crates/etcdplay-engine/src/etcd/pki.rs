//! `etcd_pki`: makes sure the cluster CA, one certificate per member and a client certificate
//! exist in the PKI directory on the control node, re-issuing what is missing, expiring, no
//! longer matching the member's addresses, or asked to rotate. Members' subject alternative
//! names come from the inventory and facts: the inventory name, `ansible_host`, every IPv4
//! address the host reported, and the loopback names.

use std::path::PathBuf;

use etcdplay_pki::{EnsureOptions, MemberSpec, PkiDir};
use serde_json::{json, Map, Value};

use crate::error::TaskError;
use crate::play::PlayRun;

/// Runs the action; `hosts` are the members (inventory names).
pub(crate) fn run(
    run: &PlayRun<'_>,
    args: &Map<String, Value>,
    origin: &str,
) -> Result<Value, TaskError> {
    let dir = args
        .get("dir")
        .and_then(Value::as_str)
        .ok_or_else(|| TaskError::Invalid(format!("{origin}: etcd_pki needs 'dir'")))?;
    let hosts: Vec<String> = match args.get("hosts") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => {
            return Err(TaskError::Invalid(format!(
                "{origin}: etcd_pki needs 'hosts' (a list of inventory names)"
            )))
        }
    };
    let rotate = matches!(args.get("rotate"), Some(Value::Bool(true)))
        || args
            .get("rotate")
            .and_then(Value::as_str)
            .and_then(etcdplay_source::parse_bool)
            == Some(true);
    let options = EnsureOptions {
        rotate,
        ..EnsureOptions::default()
    };
    let members: Vec<MemberSpec> = hosts
        .iter()
        .map(|h| MemberSpec {
            name: h.clone(),
            sans: member_sans(run, h),
        })
        .collect();
    if run.engine.options.check {
        // Check mode: say what would be issued without writing the PKI directory.
        return Ok(
            json!({"changed": false, "msg": "certificates are not checked in check mode", "skipped": true}),
        );
    }
    let mut pki = PkiDir::open_or_create(&PathBuf::from(dir))
        .map_err(|e| TaskError::Invalid(format!("{origin}: {e}")))?;
    let report = pki
        .ensure_all(&members, &options)
        .map_err(|e| TaskError::Invalid(format!("{origin}: {e}")))?;
    let changed_members: Vec<String> = report
        .changed_members()
        .into_iter()
        .map(str::to_string)
        .collect();
    let reasons: Map<String, Value> = report
        .members
        .iter()
        .filter_map(|(name, issued)| match issued {
            etcdplay_pki::Issued::Issued { reason } => {
                Some((name.clone(), Value::String(reason.clone())))
            }
            etcdplay_pki::Issued::Reused => None,
        })
        .collect();
    Ok(json!({
        "changed": report.any_changed(),
        "dir": dir,
        "ca_changed": report.ca.changed(),
        "changed_members": changed_members,
        "reasons": reasons,
    }))
}

/// The names and addresses a member's certificate must carry.
fn member_sans(run: &PlayRun<'_>, host: &str) -> Vec<String> {
    let shared = &run.engine.shared;
    let vars = shared.vars_for(host, &shared.host_layers(host));
    let mut sans = vec![host.to_string()];
    if let Some(Value::String(address)) = vars.raw("ansible_host") {
        if let Ok(address) = run
            .engine
            .templar
            .render_string(address, "ansible_host", &vars)
        {
            sans.push(address);
        }
    }
    let facts = shared.memory(host).facts;
    if let Some(Value::Array(addresses)) = facts.get("ansible_all_ipv4_addresses") {
        sans.extend(
            addresses
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string),
        );
    }
    sans.extend(["127.0.0.1", "::1", "localhost"].map(str::to_string));
    sans
}
