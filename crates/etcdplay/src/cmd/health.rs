//! `etcdplay health -i INV`: asks every etcd member of the inventory, over the etcd API and
//! one connection each, whether it is healthy, and prints etcdctl's status table with each
//! member's raised alarms (NOSPACE, CORRUPT: the member is then unhealthy) and its backend's
//! size against its quota (read from the member's `/metrics`). Exit 0 when every member is
//! healthy and there is exactly one leader, 2 otherwise (each problem on its own line), 4 when
//! the inventory does not parse, 5 for bad options.
//!
//! Endpoints are `https://<ansible_host or name>:2379` for each host of the etcd group when
//! the PKI directory holds the CA and the client certificate, `http://…:2379` otherwise;
//! `--endpoints` replaces them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use etcdplay_etcd::client::{
    cluster_problems, render_status_table, ClusterClient, EndpointStatus, EndpointTls, SecretKeyPem,
};
use etcdplay_inventory::{ConnectionVars, Inventory};
use etcdplay_source::{read_text_file, MAX_TEXT_FILE};
use serde_json::Value;

use crate::exit::ExitCode;
use crate::extra_vars;

/// The etcd client port the endpoints use.
const CLIENT_PORT: u16 = 2379;
/// The group whose hosts are the etcd members, unless `-e etcd_group=NAME` says otherwise.
const DEFAULT_GROUP: &str = "etcd";
/// The files `--pki-dir` must hold for TLS: CA, client certificate, client key.
const PKI_FILES: [&str; 3] = ["ca.pem", "client.pem", "client-key.pem"];

/// Options of `etcdplay health`.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// Inventory file, directory or `host1,host2,` list; may be given several times.
    #[arg(short = 'i', long = "inventory", required_unless_present = "endpoints")]
    pub(crate) inventory: Vec<String>,
    /// Extra variables; `etcd_group=NAME` picks the group of etcd members (default `etcd`).
    #[arg(short = 'e', long = "extra-vars")]
    pub(crate) extra_vars: Vec<String>,
    /// Directory with ca.pem, client.pem and client-key.pem (default: `pki/` next to the
    /// first inventory). Without them the endpoints are plain http://.
    #[arg(long)]
    pub(crate) pki_dir: Option<PathBuf>,
    /// Seconds each member has to answer.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub(crate) timeout: u64,
    /// Client URLs to check instead of the inventory's hosts (comma separated, may repeat).
    #[arg(long, value_delimiter = ',')]
    pub(crate) endpoints: Vec<String>,
}

pub(crate) async fn run(args: HealthArgs) -> ExitCode {
    match plan(&args) {
        Ok(Some(target)) => check(target, Duration::from_secs(args.timeout)).await,
        Ok(None) => ExitCode::ParseError,
        Err(message) => {
            eprintln!("ERROR: {message}");
            ExitCode::BadOptions
        }
    }
}

/// Works out endpoints and TLS material from the options. `Ok(None)` means the inventory
/// did not parse (already printed); `Err` is a bad option.
pub(crate) fn plan(args: &HealthArgs) -> Result<Option<Target>, String> {
    let extra = extra_vars::parse_all(&args.extra_vars)?;
    let group = match extra.get("etcd_group") {
        None => DEFAULT_GROUP.to_string(),
        Some(Value::String(g)) if !g.trim().is_empty() => g.trim().to_string(),
        Some(other) => return Err(format!("etcd_group must be a group name, got {other}")),
    };
    let pki_dir = args.pki_dir.clone().or_else(|| {
        args.inventory
            .first()
            .map(|i| default_pki_dir(Path::new(i)))
    });
    // TLS unless the endpoints say otherwise or the cluster was deployed with etcd_tls=false,
    // as `apply` decides: missing PKI files are then an error, never a quiet plain HTTP.
    let tls_wanted = if args.endpoints.is_empty() {
        match extra.get("etcd_tls") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => !matches!(
                s.trim().to_ascii_lowercase().as_str(),
                "false" | "no" | "off" | "0" | "n" | "f"
            ),
            Some(other) => return Err(format!("etcd_tls must be a boolean, got {other}")),
        }
    } else {
        args.endpoints
            .iter()
            .any(|e| e.trim().starts_with("https://"))
    };
    let tls = match (&pki_dir, tls_wanted) {
        (Some(dir), true) => Some(read_tls(dir)?),
        (None, true) => return Err("https endpoints need --pki-dir".to_string()),
        (_, false) => None,
    };
    let endpoints = if args.endpoints.is_empty() {
        let inventory = match Inventory::load(&args.inventory) {
            Ok(i) => i,
            Err(d) => {
                eprintln!("{}", d.sorted());
                return Ok(None);
            }
        };
        endpoints_from_inventory(&inventory, &group, tls.is_some())?
    } else {
        args.endpoints
            .iter()
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect()
    };
    Ok(Some(Target { endpoints, tls }))
}

/// What to check: the client URLs and, for https://, the CA and client certificate.
pub(crate) struct Target {
    pub(crate) endpoints: Vec<String>,
    pub(crate) tls: Option<EndpointTls>,
}

async fn check(target: Target, timeout: Duration) -> ExitCode {
    let client = match ClusterClient::new(target.endpoints, target.tls, timeout) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return ExitCode::BadOptions;
        }
    };
    let statuses = with_quotas(&client, client.endpoint_status().await).await;
    print!("{}", render_status_table(&statuses));
    let problems = cluster_problems(&statuses);
    for p in &problems {
        eprintln!("UNHEALTHY: {p}");
    }
    if problems.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::HostFailed
    }
}

/// The statuses with each member's backend quota filled in (from its `/metrics`).
pub(crate) async fn with_quotas(
    client: &ClusterClient,
    mut statuses: Vec<EndpointStatus>,
) -> Vec<EndpointStatus> {
    let quotas = client.backend_quotas().await;
    for (status, quota) in statuses.iter_mut().zip(quotas) {
        status.quota_bytes = quota;
    }
    statuses
}

/// `pki/` next to the inventory: inside it when it is a directory, beside it when a file (or a
/// host list, which has no directory: the current one).
fn default_pki_dir(inventory: &Path) -> PathBuf {
    let base = if inventory.is_dir() {
        inventory
    } else {
        inventory.parent().unwrap_or(Path::new("."))
    };
    let base = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    base.join("pki")
}

/// Reads the CA and client certificate from `dir`; any missing file is an error naming it (a
/// plain-HTTP cluster is asked for with `-e etcd_tls=false` or `http://` endpoints).
fn read_tls(dir: &Path) -> Result<EndpointTls, String> {
    let missing: Vec<&str> = PKI_FILES
        .iter()
        .filter(|f| !dir.join(f).is_file())
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "PKI directory {} lacks {} (needed for TLS; run `etcdplay apply` first, or pass \
             -e etcd_tls=false for a plain-HTTP cluster)",
            dir.display(),
            missing.join(", ")
        ));
    }
    let read = |name: &str| {
        let path = dir.join(name);
        // The error names the file, never its contents.
        read_text_file(&path, MAX_TEXT_FILE)
            .map_err(|e| format!("cannot read {}: {}", path.display(), e.problem))
    };
    // The key with the same checks `apply` makes: owned by us, no group or other access.
    let key = etcdplay_pki::read_private_key(&dir.join(PKI_FILES[2])).map_err(|e| e.to_string())?;
    Ok(EndpointTls {
        ca_pem: read(PKI_FILES[0])?,
        client_cert_pem: read(PKI_FILES[1])?,
        client_key_pem: SecretKeyPem::new(key),
    })
}

/// One client URL per host of `group`, in inventory order: the host's `ansible_host` (or
/// its inventory name) on port 2379.
pub(crate) fn endpoints_from_inventory(
    inventory: &Inventory,
    group: &str,
    https: bool,
) -> Result<Vec<String>, String> {
    let hosts = inventory.group_hosts(group).ok_or_else(|| {
        format!("the inventory has no group '{group}' (set another with -e etcd_group=NAME)")
    })?;
    if hosts.is_empty() {
        return Err(format!("group '{group}' has no hosts"));
    }
    let scheme = if https { "https" } else { "http" };
    let mut endpoints = Vec::with_capacity(hosts.len());
    for host in &hosts {
        let vars = inventory
            .host_layers(host)
            .map(|l| l.merged(None))
            .unwrap_or_default();
        let address = match ConnectionVars::from_vars(&vars).host {
            None | Some(Value::Null) => host.clone(),
            Some(Value::String(s)) if s.contains("{{") => {
                return Err(format!(
                    "host {host}: ansible_host '{s}' is a template, which health does not expand; give --endpoints"
                ))
            }
            Some(Value::String(s)) => s.trim().to_string(),
            Some(other) => other.to_string(),
        };
        if address.is_empty() {
            return Err(format!("host {host}: ansible_host is empty"));
        }
        // A bare IPv6 address needs brackets in a URL.
        let address = if address.contains(':') && !address.starts_with('[') {
            format!("[{address}]")
        } else {
            address
        };
        endpoints.push(format!("{scheme}://{address}:{CLIENT_PORT}"));
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(yaml: &str) -> (tempfile::TempDir, Inventory) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("hosts.yml");
        std::fs::write(&path, yaml).expect("write inventory");
        let inv = Inventory::load(&[path.to_string_lossy().into_owned()]).expect("inventory loads");
        (dir, inv)
    }

    const HOSTS: &str = "
all:
  vars:
    ansible_user: admin
  children:
    etcd:
      hosts:
        etcd1:
          ansible_host: 10.0.0.11
        etcd2:
        etcd3:
          ansible_host: 'fd00::13'
    backup:
      hosts:
        b1:
          ansible_host: 10.9.9.9
";

    #[test]
    fn endpoints_follow_ansible_host_then_name() {
        let (_dir, inv) = inventory(HOSTS);
        assert_eq!(
            endpoints_from_inventory(&inv, "etcd", true).expect("endpoints"),
            [
                "https://10.0.0.11:2379",
                "https://etcd2:2379",
                "https://[fd00::13]:2379"
            ]
        );
        assert_eq!(
            endpoints_from_inventory(&inv, "backup", false).expect("endpoints"),
            ["http://10.9.9.9:2379"]
        );
    }

    #[test]
    fn bad_groups_and_templates_are_errors() {
        let (_dir, inv) = inventory(HOSTS);
        let e = endpoints_from_inventory(&inv, "etcd_servers", false).expect_err("unknown group");
        assert!(e.contains("no group 'etcd_servers'"), "{e}");
        let (_dir, inv) = inventory("etcd:\n  hosts:\n    e1:\n      ansible_host: '{{ ip }}'\n");
        let e = endpoints_from_inventory(&inv, "etcd", false).expect_err("template");
        assert!(e.contains("e1") && e.contains("--endpoints"), "{e}");
    }

    #[test]
    fn missing_or_open_pki_files_are_errors_never_plain_http() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = dir.path().join("pki");
        std::fs::create_dir(&pki).expect("mkdir");
        let e = read_tls(&pki).expect_err("empty dir");
        assert!(e.contains("ca.pem, client.pem, client-key.pem"), "{e}");
        std::fs::write(pki.join("ca.pem"), "CA").expect("write");
        let e = read_tls(&pki).expect_err("partial");
        assert!(e.contains("client.pem, client-key.pem"), "{e}");
        std::fs::write(pki.join("client.pem"), "CERT").expect("write");
        std::fs::write(pki.join("client-key.pem"), "KEY").expect("write");
        let key = pki.join("client-key.pem");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = read_tls(&pki).expect_err("key readable by others");
        assert!(e.contains("readable or writable by group or others"), "{e}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let tls = read_tls(&pki).expect("tls");
        assert_eq!(
            (tls.ca_pem.as_str(), tls.client_cert_pem.as_str()),
            ("CA", "CERT")
        );
        assert_eq!(tls.client_key_pem.expose(), "KEY");
        let inv_file = dir.path().join("hosts.yml");
        std::fs::write(&inv_file, "all: {}\n").expect("write");
        assert_eq!(default_pki_dir(&inv_file), pki);
        assert_eq!(default_pki_dir(dir.path()), pki);
        assert_eq!(default_pki_dir(Path::new("a,b,")), Path::new("./pki"));
    }
}
