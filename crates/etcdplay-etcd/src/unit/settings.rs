//! etcd's effective settings from a unit ([`ServiceUnit`]), its `EnvironmentFile=` contents
//! and an etcd YAML `--config-file`: `$VAR` expansion in `ExecStart=`, flags over `ETCD_*`
//! variables, a config file over both as etcd itself does, relative paths against the unit's
//! working directory. Pure code, tested on recorded units.

use std::collections::BTreeMap;

use serde_json::Value;

use super::service::ServiceUnit;

/// Expands `$VAR` and `${VAR}` in one ExecStart word (systemd does this for ExecStart).
fn expand(word: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let b = word.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            let (name, next) = if b[i + 1] == b'{' {
                match word[i + 2..].find('}') {
                    Some(end) => (&word[i + 2..i + 2 + end], i + 3 + end),
                    None => ("", i),
                }
            } else {
                let len = word[i + 1..]
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                (&word[i + 1..i + 1 + len], i + 1 + len)
            };
            if !name.is_empty() {
                out.push_str(env.get(name).map(String::as_str).unwrap_or(""));
                i = next;
                continue;
            }
        }
        let ch = word[i..].chars().next().unwrap_or('$');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// etcd's flags that the data-dir check needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdSettings {
    pub name: Option<String>,
    pub data_dir: String,
    pub wal_dir: Option<String>,
    pub advertise_peer_urls: Vec<String>,
    pub listen_peer_urls: Vec<String>,
    /// Where the member serves clients (a local `http://` one lets etcdctl check health).
    pub listen_client_urls: Vec<String>,
    pub config_file: Option<String>,
    /// The TLS files of the client listener, for etcdctl on the host to reach it over https.
    pub client_tls: ClientTls,
}

/// The client listener's TLS settings: `--cert-file`, `--key-file`, `--trusted-ca-file` and
/// `--client-cert-auth` (or a config file's `client-transport-security`), with relative paths
/// resolved against the unit's working directory as etcd does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub trusted_ca_file: Option<String>,
    /// Whether the member demands a client certificate signed by `trusted_ca_file`.
    pub client_cert_auth: bool,
}

const KEYS: &[&str] = &[
    "name",
    "data-dir",
    "wal-dir",
    "initial-advertise-peer-urls",
    "listen-peer-urls",
    "listen-client-urls",
    "config-file",
];

/// Boolean flags: Go's flag package takes `--flag` alone as true and a value only as
/// `--flag=value`, so the next word is never their value.
const BOOL_KEYS: &[&str] = &["client-cert-auth"];

/// The flags `raw_settings` collects: those above, the TLS files (inputs of the staleness
/// check in `stale.rs`, and what etcdctl reuses for a snapshot) and the boolean ones.
fn collected() -> impl Iterator<Item = &'static str> {
    KEYS.iter()
        .chain(super::stale::TLS_FILE_KEYS)
        .chain(BOOL_KEYS)
        .copied()
}

/// A boolean the way Go's `strconv.ParseBool` reads it; anything else is false.
fn go_bool(s: &str) -> bool {
    matches!(s, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

/// etcd's raw settings by flag name: from `ETCD_*` variables, overridden by flags.
pub fn raw_settings(
    unit: &ServiceUnit,
    env_files: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    // systemd applies EnvironmentFile= after Environment=.
    for (k, v) in unit.environment.iter().chain(env_files.iter()) {
        env.insert(k.clone(), v.clone());
    }
    let mut out = BTreeMap::new();
    for key in collected() {
        let var = format!("ETCD_{}", key.to_ascii_uppercase().replace('-', "_"));
        if let Some(v) = env.get(&var) {
            out.insert(key.to_string(), v.clone());
        }
    }
    let Some(start) = unit.etcd_index() else {
        return out;
    };
    let args: Vec<String> = unit.exec_start[start + 1..]
        .iter()
        .map(|w| expand(w, &env))
        .collect();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let Some(flag) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.to_string(), None),
        };
        if !collected().any(|k| k == name) {
            continue;
        }
        let value = match value {
            Some(v) => v,
            None if BOOL_KEYS.contains(&name.as_str()) => "true".to_string(),
            None if i < args.len() => {
                i += 1;
                args[i - 1].clone()
            }
            None => continue,
        };
        out.insert(name, value);
    }
    out
}

fn urls(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect()
}

impl EtcdSettings {
    /// The effective settings. With a config file etcd ignores flags and variables, so its
    /// YAML (`config`) replaces them when given.
    pub fn resolve(
        raw: &BTreeMap<String, String>,
        config: Option<&Value>,
        working_directory: Option<&str>,
    ) -> Self {
        let mut raw = raw.clone();
        let config_file = raw.get("config-file").cloned();
        if let Some(Value::Object(map)) = config {
            raw.retain(|k, _| k == "config-file");
            for key in KEYS {
                match map.get(*key) {
                    Some(Value::String(s)) => {
                        raw.insert((*key).to_string(), s.clone());
                    }
                    Some(Value::Array(items)) => {
                        let joined: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                        raw.insert((*key).to_string(), joined.join(","));
                    }
                    _ => {}
                }
            }
            // A config file nests the client listener's TLS under one key.
            if let Some(Value::Object(tls)) = map.get("client-transport-security") {
                for key in ["cert-file", "key-file", "trusted-ca-file"] {
                    if let Some(Value::String(s)) = tls.get(key) {
                        raw.insert(key.to_string(), s.clone());
                    }
                }
                match tls.get("client-cert-auth") {
                    Some(Value::Bool(b)) => {
                        raw.insert("client-cert-auth".into(), b.to_string());
                    }
                    Some(Value::String(s)) => {
                        raw.insert("client-cert-auth".into(), s.clone());
                    }
                    _ => {}
                }
            }
        }
        let base = working_directory.unwrap_or("/").trim_end_matches('/');
        // etcd resolves relative paths against its working directory.
        let absolute = |p: &str| {
            if p.starts_with('/') {
                p.to_string()
            } else {
                format!("{base}/{p}")
            }
        };
        let file = |key: &str| raw.get(key).filter(|s| !s.is_empty()).map(|s| absolute(s));
        let client_tls = ClientTls {
            cert_file: file("cert-file"),
            key_file: file("key-file"),
            trusted_ca_file: file("trusted-ca-file"),
            client_cert_auth: raw.get("client-cert-auth").is_some_and(|v| go_bool(v)),
        };
        let name = raw.get("name").cloned().filter(|s| !s.is_empty());
        let mut data_dir = raw
            .get("data-dir")
            .cloned()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{}.etcd", name.as_deref().unwrap_or("default")));
        if !data_dir.starts_with('/') {
            data_dir = absolute(&data_dir);
        }
        EtcdSettings {
            name,
            data_dir,
            wal_dir: raw.get("wal-dir").cloned().filter(|s| !s.is_empty()),
            advertise_peer_urls: raw
                .get("initial-advertise-peer-urls")
                .map(|s| urls(s))
                .unwrap_or_default(),
            listen_peer_urls: raw
                .get("listen-peer-urls")
                .map(|s| urls(s))
                .unwrap_or_default(),
            listen_client_urls: raw
                .get("listen-client-urls")
                .map(|s| urls(s))
                .unwrap_or_default(),
            config_file,
            client_tls,
        }
    }

    /// The plan these settings make for the data-dir verdict: TLS when any listen or
    /// advertise peer URL is `https`, and the advertise URLs to compare with the stored ones.
    pub fn plan(&self) -> crate::PeerPlan {
        let tls = self
            .listen_peer_urls
            .iter()
            .chain(&self.advertise_peer_urls)
            .any(|u| {
                u.to_ascii_lowercase().starts_with("https://")
                    || u.to_ascii_lowercase().starts_with("unixs://")
            });
        crate::PeerPlan {
            scheme: if tls {
                crate::PeerScheme::Https
            } else {
                crate::PeerScheme::Http
            },
            advertise_peer_urls: self.advertise_peer_urls.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::parse_env_file;

    /// `systemctl cat etcd` recorded on a lab host after the etcd-role playbook.
    const ROLE_UNIT: &str = r#"# /etc/systemd/system/etcd.service
# Ansible managed
[Unit]
Description=etcd key-value store (etcd1)
After=network-online.target

[Service]
Type=notify
User=etcd
EnvironmentFile=-/etc/etcd/etcd.env
ExecStart=/usr/local/bin/etcd \
  --name etcd1 \
  --data-dir /var/lib/etcd/default \
  --listen-client-urls http://10.213.7.11:2379,http://127.0.0.1:2379 \
  --advertise-client-urls http://10.213.7.11:2379 \
  --listen-peer-urls http://10.213.7.11:2380 \
  --initial-advertise-peer-urls http://10.213.7.11:2380 \
  --initial-cluster etcd1=http://10.213.7.11:2380,etcd2=http://10.213.7.12:2380 \
  --initial-cluster-state new
Restart=on-failure

[Install]
WantedBy=multi-user.target
"#;

    /// Debian's packaged unit plus a drop-in that replaces ExecStart and sets variables.
    const DEBIAN_WITH_DROPIN: &str = r#"# /lib/systemd/system/etcd.service
[Unit]
Description=etcd - highly-available key value store

[Service]
Environment=DAEMON_ARGS=
Environment=ETCD_NAME=%H
Environment=ETCD_DATA_DIR=/var/lib/etcd/default
EnvironmentFile=-/etc/default/%p
Type=notify
User=etcd
ExecStart=/usr/bin/etcd $DAEMON_ARGS

# /etc/systemd/system/etcd.service.d/override.conf
[Service]
Environment="ETCD_LISTEN_PEER_URLS=https://10.0.0.5:2380" ETCD_WAL_DIR=/srv/wal
ExecStart=
ExecStart=/usr/bin/etcd --data-dir=/srv/etcd ${EXTRA}
"#;

    #[test]
    fn role_unit_gives_flags_and_optional_env_file() {
        let unit = ServiceUnit::parse(ROLE_UNIT);
        assert!(unit.runs_etcd());
        assert_eq!(
            unit.environment_files,
            vec![("/etc/etcd/etcd.env".to_string(), true)]
        );
        let env = parse_env_file("ETCD_HEARTBEAT_INTERVAL=100\n# c\nETCD_DATA_DIR=/elsewhere\n");
        let raw = raw_settings(&unit, &env);
        let s = EtcdSettings::resolve(&raw, None, None);
        assert_eq!(s.name.as_deref(), Some("etcd1"));
        // The flag wins over the ETCD_DATA_DIR variable.
        assert_eq!(s.data_dir, "/var/lib/etcd/default");
        assert_eq!(s.advertise_peer_urls, vec!["http://10.213.7.11:2380"]);
        assert_eq!(s.listen_peer_urls, vec!["http://10.213.7.11:2380"]);
        assert_eq!(s.plan().scheme, crate::PeerScheme::Http);
        let tls = ServiceUnit::parse(
            &ROLE_UNIT.replace("--listen-peer-urls http:", "--listen-peer-urls https:"),
        );
        let s = EtcdSettings::resolve(&raw_settings(&tls, &[]), None, None);
        assert_eq!(s.plan().scheme, crate::PeerScheme::Https);
    }

    #[test]
    fn dropin_resets_exec_start_and_variables_fill_in() {
        let unit = ServiceUnit::parse(DEBIAN_WITH_DROPIN);
        assert_eq!(
            unit.exec_start,
            vec!["/usr/bin/etcd", "--data-dir=/srv/etcd", "${EXTRA}"]
        );
        let env = parse_env_file("EXTRA=\"--initial-advertise-peer-urls=https://10.0.0.5:2380\"\n");
        let s = EtcdSettings::resolve(&raw_settings(&unit, &env), None, None);
        assert_eq!(s.data_dir, "/srv/etcd");
        assert_eq!(s.wal_dir.as_deref(), Some("/srv/wal"));
        assert_eq!(s.name.as_deref(), Some("%H"));
        assert_eq!(s.listen_peer_urls, vec!["https://10.0.0.5:2380"]);
        assert_eq!(s.advertise_peer_urls, vec!["https://10.0.0.5:2380"]);
    }

    #[test]
    fn config_file_replaces_flags_and_relative_dirs_use_working_directory() {
        let unit = ServiceUnit::parse(
            "[Service]\nWorkingDirectory=/var/lib/etcd\nExecStart=/usr/local/bin/etcd --config-file /etc/etcd/etcd.yml --data-dir /ignored\n",
        );
        let raw = raw_settings(&unit, &[]);
        assert_eq!(
            raw.get("config-file").map(String::as_str),
            Some("/etc/etcd/etcd.yml")
        );
        let yaml = serde_json::json!({"name": "n1", "initial-advertise-peer-urls": "https://a:2380,https://b:2380", "listen-peer-urls": ["https://a:2380"]});
        let s = EtcdSettings::resolve(&raw, Some(&yaml), unit.working_directory.as_deref());
        assert_eq!(s.data_dir, "/var/lib/etcd/n1.etcd");
        assert_eq!(
            s.advertise_peer_urls,
            vec!["https://a:2380", "https://b:2380"]
        );
        assert_eq!(s.listen_peer_urls, vec!["https://a:2380"]);
        assert_eq!(s.config_file.as_deref(), Some("/etc/etcd/etcd.yml"));
    }

    #[test]
    fn exec_start_overrides_round_trip_through_the_parser() {
        let unit = ServiceUnit::parse(ROLE_UNIT);
        let dropin = unit.exec_start_with(&[
            "--listen-peer-urls=http://10.213.7.11:2380".to_string(),
            "a \"q\" b".to_string(),
        ]);
        let again = ServiceUnit::parse(&format!("{ROLE_UNIT}\n[Service]\n{dropin}"));
        assert_eq!(again.exec_start.len(), unit.exec_start.len() + 2);
        assert_eq!(
            again.exec_start.last().map(String::as_str),
            Some("a \"q\" b")
        );
        let s = EtcdSettings::resolve(&raw_settings(&again, &[]), None, None);
        assert_eq!(s.listen_peer_urls, vec!["http://10.213.7.11:2380"]);
        assert_eq!(
            s.listen_client_urls,
            vec!["http://10.213.7.11:2379", "http://127.0.0.1:2379"]
        );
    }

    #[test]
    fn client_tls_comes_from_flags_variables_or_the_config_file() {
        // The built-in playbook's unit: `--client-cert-auth` is a boolean flag, so the
        // `--peer-trusted-ca-file` after it stays a flag of its own.
        let unit = ServiceUnit::parse(
            "[Service]\nWorkingDirectory=/etc/etcd\nExecStart=/usr/local/bin/etcd --name m1 \\\n  --listen-client-urls https://10.0.0.5:2379,https://127.0.0.1:2379 \\\n  --trusted-ca-file /etc/etcd/pki/ca.pem --cert-file pki/member.pem \\\n  --key-file=/etc/etcd/pki/member-key.pem --client-cert-auth \\\n  --peer-trusted-ca-file /etc/etcd/pki/peer-ca.pem --peer-client-cert-auth\n",
        );
        let raw = raw_settings(&unit, &[]);
        assert_eq!(
            raw.get("peer-trusted-ca-file").map(String::as_str),
            Some("/etc/etcd/pki/peer-ca.pem")
        );
        let s = EtcdSettings::resolve(&raw, None, unit.working_directory.as_deref());
        assert_eq!(
            s.client_tls,
            ClientTls {
                cert_file: Some("/etc/etcd/pki/member.pem".into()),
                key_file: Some("/etc/etcd/pki/member-key.pem".into()),
                trusted_ca_file: Some("/etc/etcd/pki/ca.pem".into()),
                client_cert_auth: true,
            }
        );
        // `=false` turns it off; variables fill in what flags leave out.
        let unit = ServiceUnit::parse(
            "[Service]\nEnvironment=ETCD_CERT_FILE=/c.pem ETCD_CLIENT_CERT_AUTH=true\nExecStart=/usr/bin/etcd --client-cert-auth=false\n",
        );
        let s = EtcdSettings::resolve(&raw_settings(&unit, &[]), None, None);
        assert_eq!(s.client_tls.cert_file.as_deref(), Some("/c.pem"));
        assert!(!s.client_tls.client_cert_auth);
        // A config file nests the client TLS settings and replaces flags.
        let unit = ServiceUnit::parse(
            "[Service]\nExecStart=/usr/bin/etcd --config-file /etc/etcd/e.yml --cert-file /ignored.pem\n",
        );
        let yaml = serde_json::json!({"client-transport-security": {"cert-file": "/etc/etcd/s.pem", "key-file": "/etc/etcd/s-key.pem", "trusted-ca-file": "/etc/etcd/ca.pem", "client-cert-auth": true}});
        let s = EtcdSettings::resolve(&raw_settings(&unit, &[]), Some(&yaml), None);
        assert_eq!(s.client_tls.cert_file.as_deref(), Some("/etc/etcd/s.pem"));
        assert_eq!(
            s.client_tls.key_file.as_deref(),
            Some("/etc/etcd/s-key.pem")
        );
        assert!(s.client_tls.client_cert_auth);
    }
}
