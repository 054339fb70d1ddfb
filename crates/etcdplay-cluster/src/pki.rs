//! `etcd_pki`: makes sure the cluster CA, one certificate per member and a client certificate
//! exist in the PKI directory on the control node, re-issuing what is missing, expiring, no
//! longer matching the member's addresses, or asked to rotate. Members' subject alternative
//! names are pinned to configuration: the inventory name, `ansible_host` (else the default IPv4
//! address the playbook configures etcd with), `etcd_cert_extra_sans`, and the loopback names.

use std::path::PathBuf;

use etcdplay_pki::{EnsureOptions, MemberSpec, PkiDir};
use serde_json::{json, Map, Value};

use crate::error::ActionError;
use etcdplay_engine::RunContext;

/// Runs the action; `hosts` are the members (inventory names).
pub(crate) fn run(
    run: &dyn RunContext,
    args: &Map<String, Value>,
    origin: &str,
) -> Result<Value, ActionError> {
    let dir = args
        .get("dir")
        .and_then(Value::as_str)
        .ok_or_else(|| ActionError::argument(origin, "etcd_pki needs 'dir'"))?;
    let hosts: Vec<String> = match args.get("hosts") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => {
            return Err(ActionError::argument(
                origin,
                "etcd_pki needs 'hosts' (a list of inventory names)",
            ))
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
    let members = member_specs(run, &hosts);
    if run.options().check {
        // Check mode: say what would be issued without writing the PKI directory.
        return Ok(
            json!({"changed": false, "msg": "certificates are not checked in check mode", "skipped": true}),
        );
    }
    let mut pki = PkiDir::open_or_create(&PathBuf::from(dir)).map_err(ActionError::pki(origin))?;
    let report = pki
        .ensure_all(&members, &options)
        .map_err(ActionError::pki(origin))?;
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

/// The wanted certificate of each member in `hosts`.
pub(crate) fn member_specs(run: &dyn RunContext, hosts: &[String]) -> Vec<MemberSpec> {
    hosts
        .iter()
        .map(|h| MemberSpec {
            name: h.clone(),
            sans: member_sans(run, h),
        })
        .collect()
}

/// The names and addresses a member's certificate must carry, from configuration only (see
/// [`pinned_sans`]).
fn member_sans(run: &dyn RunContext, host: &str) -> Vec<String> {
    let vars = run.host_vars(host);
    let render = |name: &str| match vars.raw(name) {
        Some(Value::String(text)) => run.render(text, name, &vars).ok(),
        _ => None,
    };
    let default_ipv4 = run
        .facts(host)
        .get("ansible_default_ipv4")
        .and_then(|v| v.get("address"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let extra: Vec<String> = match vars.raw("etcd_cert_extra_sans") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(_)) => render("etcd_cert_extra_sans")
            .map(|s| s.split(',').map(|p| p.trim().to_string()).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    pinned_sans(host, render("ansible_host"), default_ipv4, extra)
}

/// A member certificate's names: the inventory name, the configured address (`ansible_host`,
/// else the default IPv4 address etcd is configured with), the extra names the inventory lists,
/// and loopback. Never every address a host reports: a host that lied in its facts would
/// otherwise get a certificate, signed by the cluster CA, for another member's address.
fn pinned_sans(
    host: &str,
    ansible_host: Option<String>,
    default_ipv4: Option<String>,
    extra: Vec<String>,
) -> Vec<String> {
    let mut sans = vec![host.to_string()];
    sans.extend(ansible_host.or(default_ipv4));
    sans.extend(extra.into_iter().filter(|s| !s.is_empty()));
    sans.extend(["127.0.0.1", "::1", "localhost"].map(str::to_string));
    let mut seen = std::collections::HashSet::new();
    sans.retain(|s| seen.insert(s.clone()));
    sans
}

#[cfg(test)]
mod tests {
    use super::pinned_sans;

    #[test]
    fn sans_come_from_configuration_not_from_reported_addresses() {
        assert_eq!(
            pinned_sans(
                "m1",
                Some("10.0.0.1".into()),
                Some("10.9.9.9".into()),
                vec![]
            ),
            ["m1", "10.0.0.1", "127.0.0.1", "::1", "localhost"]
        );
        assert_eq!(
            pinned_sans(
                "m1",
                None,
                Some("10.0.0.2".into()),
                vec!["etcd.example".into()]
            ),
            [
                "m1",
                "10.0.0.2",
                "etcd.example",
                "127.0.0.1",
                "::1",
                "localhost"
            ]
        );
        assert_eq!(
            pinned_sans("10.0.0.3", Some("10.0.0.3".into()), None, vec![]),
            ["10.0.0.3", "127.0.0.1", "::1", "localhost"]
        );
    }
}
