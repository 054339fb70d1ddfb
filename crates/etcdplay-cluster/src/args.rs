//! The arguments the cluster actions share: `endpoints`/`ca`/`cert`/`key` read into a
//! [`ClusterClient`] (TLS material from files on the control node), and `timeout`.

use std::path::Path;
use std::time::Duration;

use etcdplay_etcd::{ClusterClient, EndpointTls, SecretKeyPem};
use etcdplay_source::{read_text_file, MAX_TEXT_FILE};
use serde_json::{Map, Value};

use crate::error::ActionError;

/// How long one endpoint may take to answer one probe or call.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the client from `endpoints` and, when any of `ca`/`cert`/`key` is set, TLS
/// material read from those files on the control node.
pub(crate) fn client_from_args(
    args: &Map<String, Value>,
    origin: &str,
) -> Result<ClusterClient, ActionError> {
    let endpoints = endpoints_arg(args, "endpoints", origin)?;
    let tls = tls_from_args(args, origin)?;
    ClusterClient::new(endpoints, tls, CALL_TIMEOUT).map_err(ActionError::cluster(origin))
}

/// A list-of-URLs argument; a comma-separated string is accepted too (what a Jinja join
/// produces), and empty items are dropped.
pub(crate) fn endpoints_arg(
    args: &Map<String, Value>,
    name: &str,
    origin: &str,
) -> Result<Vec<String>, ActionError> {
    let items: Vec<String> = match args.get(name) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let items: Vec<String> = items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Err(ActionError::argument(
            origin,
            format!("'{name}' needs at least one etcd client URL"),
        ));
    }
    Ok(items)
}

/// TLS material, or `None` when none of `ca`, `cert`, `key` is given (plain HTTP).
fn tls_from_args(
    args: &Map<String, Value>,
    origin: &str,
) -> Result<Option<EndpointTls>, ActionError> {
    let path = |k: &str| {
        args.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let (ca, cert, key) = (path("ca"), path("cert"), path("key"));
    match (ca, cert, key) {
        (None, None, None) => Ok(None),
        (Some(ca), Some(cert), Some(key)) => {
            let read = |p: &str| {
                read_text_file(Path::new(p), MAX_TEXT_FILE).map_err(|e| ActionError::ReadFile {
                    origin: origin.to_string(),
                    path: p.to_string(),
                    problem: e.problem,
                })
            };
            let (ca_pem, client_cert_pem) = (read(&ca)?, read(&cert)?);
            // The key with the PKI directory's checks: owned by us, no group or other access.
            let key = etcdplay_pki::read_private_key(std::path::Path::new(&key))
                .map_err(ActionError::pki(origin))?;
            Ok(Some(EndpointTls {
                ca_pem,
                client_cert_pem,
                client_key_pem: SecretKeyPem::new(key),
            }))
        }
        _ => Err(ActionError::argument(
            origin,
            "'ca', 'cert' and 'key' go together (all three for TLS, none for plain HTTP)",
        )),
    }
}

/// The `timeout` argument in seconds, or `default`.
pub(crate) fn wait_from_args(
    args: &Map<String, Value>,
    default: Duration,
    origin: &str,
) -> Result<Duration, ActionError> {
    match args.get("timeout") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n.as_u64().map(Duration::from_secs).ok_or_else(|| {
            ActionError::argument(origin, "'timeout' must be a whole number of seconds")
        }),
        Some(Value::String(s)) => s
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| {
                ActionError::argument(
                    origin,
                    format!("'timeout' must be a whole number of seconds, got '{s}'"),
                )
            }),
        Some(other) => Err(ActionError::argument(
            origin,
            format!("'timeout' must be a whole number of seconds, got {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::health::DEFAULT_WAIT;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn endpoints_accept_lists_and_comma_strings() {
        let list = endpoints_arg(
            &args(json!({"endpoints": ["http://a:2379", " http://b:2379 "]})),
            "endpoints",
            "t",
        )
        .unwrap();
        assert_eq!(list, vec!["http://a:2379", "http://b:2379"]);
        let joined = endpoints_arg(
            &args(json!({"endpoints": "http://a:2379,,http://b:2379"})),
            "endpoints",
            "t",
        )
        .unwrap();
        assert_eq!(joined, vec!["http://a:2379", "http://b:2379"]);
        assert!(endpoints_arg(&args(json!({"endpoints": []})), "endpoints", "t").is_err());
    }

    #[test]
    fn tls_needs_all_three_files() {
        let e = client_from_args(
            &args(json!({"endpoints": ["https://a:2379"], "ca": "/nonexistent/ca.pem"})),
            "play.yml:3:5",
        )
        .unwrap_err();
        assert!(e.to_string().contains("go together"), "{e}");
        let e = client_from_args(&args(json!({"endpoints": ["https://a:2379"], "ca": "/nonexistent/ca.pem", "cert": "/nonexistent/c.pem", "key": "/nonexistent/k.pem"})), "t").unwrap_err();
        assert!(
            e.to_string().contains("cannot read /nonexistent/ca.pem"),
            "{e}"
        );
        // Plain HTTP needs no files.
        assert!(client_from_args(&args(json!({"endpoints": ["http://127.0.0.1:1"]})), "t").is_ok());
    }

    #[test]
    fn timeout_parses_numbers_and_strings() {
        assert_eq!(
            wait_from_args(&args(json!({"timeout": 7})), DEFAULT_WAIT, "t").unwrap(),
            Duration::from_secs(7)
        );
        assert_eq!(
            wait_from_args(&args(json!({"timeout": "9"})), DEFAULT_WAIT, "t").unwrap(),
            Duration::from_secs(9)
        );
        assert_eq!(
            wait_from_args(&args(json!({})), DEFAULT_WAIT, "t").unwrap(),
            DEFAULT_WAIT
        );
        assert!(wait_from_args(&args(json!({"timeout": "soon"})), DEFAULT_WAIT, "t").is_err());
    }
}
