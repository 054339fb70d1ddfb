//! Reading a unit on the host in as few round trips as the answer allows: one exec prints
//! `systemctl cat` and, only for a unit that mentions etcd, `systemctl show`; an etcd unit
//! then costs its `EnvironmentFile=`s and `--config-file`, and a running one a `stat` of its
//! configuration inputs.

use std::collections::BTreeMap;

use etcdplay_etcd::unit::{
    config_inputs, parse_env_file, parse_stat, raw_settings, show_script, stat_script,
    EtcdSettings, ServiceState, ServiceUnit, Staleness,
};
use etcdplay_source::{load_yaml, YamlError};
use etcdplay_transport::{Become, ExecRequest, Transport, TransportError};

/// Root for reading data dirs and unit files unless the login user already is root.
pub(super) fn root_become(user: Option<&str>) -> Option<Become> {
    match user {
        Some("root") => None,
        // A login the inventory does not name may or may not be root: the transport asks the
        // host and uses sudo only when it is not.
        None | Some(_) => Some(Become::sudo("root")),
    }
}

/// Why the unit a task starts could not be read: the guard then cannot verify the host.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UnitError {
    /// The probe (`systemctl cat`/`show`) did not reach the host.
    #[error(transparent)]
    Probe(#[from] TransportError),
    #[error("{unit}: EnvironmentFile {path}: {source}")]
    EnvironmentFile {
        unit: String,
        path: String,
        #[source]
        source: TransportError,
    },
    #[error("{unit}: --config-file {path}: {source}")]
    ConfigFile {
        unit: String,
        path: String,
        #[source]
        source: TransportError,
    },
    #[error("{unit}: --config-file {path}: {source}")]
    ConfigYaml {
        unit: String,
        path: String,
        #[source]
        source: YamlError,
    },
}

/// Runs one of the guard's scripts, which only read the host (read-ahead answers of later
/// tasks stay kept).
async fn exec_stdout(
    transport: &dyn Transport,
    become_: Option<&Become>,
    script: String,
) -> Result<(i32, String), TransportError> {
    let out = transport
        .exec_reading(ExecRequest {
            script,
            become_: become_.cloned(),
            ..ExecRequest::default()
        })
        .await?;
    Ok((out.rc, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// An etcd unit as the guard read it on one host.
pub(crate) struct EtcdUnit {
    pub(crate) service: ServiceUnit,
    pub(crate) settings: EtcdSettings,
    /// systemd's view: whether it runs, since when, its unit file and drop-ins.
    pub(crate) state: ServiceState,
    /// The files its configuration comes from (see `stale::config_inputs`).
    pub(crate) inputs: Vec<String>,
}

/// Separates `systemctl cat` from `systemctl show` in the probe's output.
const SHOW_MARK: &str = "--- etcdplay: systemctl show ---";

/// One round trip for both: the unit's text and systemd's state of it. systemd is asked for
/// the state only when the text mentions etcd (every other unit is left alone right after),
/// which spares a `systemctl` run per host for every other unit a play starts.
///
/// In a read-ahead batch with the `systemd` module's own probe, systemd's view of the unit
/// is already there (`loaded_unit_script`): when the unit is loaded as it is on disk and
/// nothing in that view mentions etcd, the unit cannot start etcd (the guard looks for an
/// `ExecStart=` word naming `etcd`, which `show` prints as written), and the probe ends
/// with no output, which reads as "not an etcd unit", without a `systemctl cat`; so does a
/// unit that the answer shows does not exist (a converging host's read-ahead asks before the
/// task that writes the unit has run).
///
/// Where systemd's view is stale or missing, the host agent may know that no unit file on
/// the host mentions etcd at all (its `noetcd` word): then no unit's text can, and no
/// `systemctl cat` is needed either. That answer is not asked for a unit whose name mentions
/// etcd, nor taken when systemd's view (trusted or not) does.
pub(super) fn unit_settings_script(unit: &str) -> String {
    let quoted = etcdplay_etcd::datadir::shell_quote(unit);
    let ask_agent = !unit.to_ascii_lowercase().contains("etcd");
    let (hint, agent_says) = if ask_agent {
        (
            format!("{}noetcd\n", etcdplay_transport::AGENT_PREFILL_HINT),
            "if [ -z \"$ep_uv\" ] && [ \"${ep_ag_noetcd-}\" = yes ]; then case $ep_ur in *[Ee][Tt][Cc][Dd]*) ;; *) exit 0;; esac; fi\n",
        )
    } else {
        (String::new(), "")
    };
    format!(
        "{hint}{}if [ \"$ep_ua\" = yes ]; then exit 0; fi\ncase $ep_uv in ''|*etcd*) ;; *) exit 0;; esac\n{agent_says}t=$(systemctl cat -- {quoted} 2>/dev/null); rc=$?\nprintf '%s\\n' \"$t\"\necho '{SHOW_MARK}'\ncase $t in *etcd*)\n{}\n;; esac\nexit $rc",
        etcdplay_modules::loaded_unit_script(unit),
        show_script(unit)
    )
}

/// The etcd settings a unit will start with on the host, or `None` when it does not run etcd.
pub(crate) async fn unit_settings(
    transport: &dyn Transport,
    become_: Option<&Become>,
    unit: &str,
) -> Result<Option<EtcdUnit>, UnitError> {
    let (rc, out) = exec_stdout(transport, become_, unit_settings_script(unit)).await?;
    let (text, shown) = match out.rsplit_once(SHOW_MARK) {
        Some((text, shown)) => (text, shown),
        None => (out.as_str(), ""),
    };
    if rc != 0 || !text.contains("etcd") {
        return Ok(None);
    }
    let parsed = ServiceUnit::parse(text);
    if !parsed.runs_etcd() {
        return Ok(None);
    }
    let mut env_vars = Vec::new();
    for (path, optional) in &parsed.environment_files {
        match transport.get(path, become_).await {
            Ok(bytes) => env_vars.extend(parse_env_file(&String::from_utf8_lossy(&bytes))),
            Err(_) if *optional => {}
            Err(source) => {
                return Err(UnitError::EnvironmentFile {
                    unit: unit.to_string(),
                    path: path.clone(),
                    source,
                })
            }
        }
    }
    let raw: BTreeMap<String, String> = raw_settings(&parsed, &env_vars);
    let config = match raw.get("config-file") {
        Some(path) => {
            let bytes =
                transport
                    .get(path, become_)
                    .await
                    .map_err(|source| UnitError::ConfigFile {
                        unit: unit.to_string(),
                        path: path.clone(),
                        source,
                    })?;
            let node = load_yaml(&String::from_utf8_lossy(&bytes)).map_err(|source| {
                UnitError::ConfigYaml {
                    unit: unit.to_string(),
                    path: path.clone(),
                    source,
                }
            })?;
            Some(node.to_json())
        }
        None => None,
    };
    let settings =
        EtcdSettings::resolve(&raw, config.as_ref(), parsed.working_directory.as_deref());
    let state = ServiceState::parse(shown);
    let inputs = config_inputs(&parsed, &state, &raw, config.as_ref());
    Ok(Some(EtcdUnit {
        service: parsed,
        settings,
        state,
        inputs,
    }))
}

/// Whether the running etcd of `unit` is stale: one `stat` of its inputs. Unreadable output
/// means "not known to be stale" (nothing is restarted on a guess).
pub(super) async fn staleness(
    transport: &dyn Transport,
    become_: Option<&Become>,
    unit: &EtcdUnit,
) -> Option<Staleness> {
    if !unit.state.running || unit.inputs.is_empty() {
        return None;
    }
    let (_, out) = exec_stdout(transport, become_, stat_script(&unit.inputs))
        .await
        .ok()?;
    Staleness::judge(&unit.state, &parse_stat(&unit.inputs, &out))
}
#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the unit probe with a fake `systemctl` whose `cat` prints `text` (exit `rc`) and
    /// whose `show` prints a state line.
    fn probe(text: &str, rc: i32) -> (i32, String) {
        probe_of("etcd.service", "", text, rc)
    }

    /// The probe of `unit` with `before` in front of it (the agent's answers, a batch's
    /// variables), against the fake.
    fn probe_of(unit: &str, before: &str, text: &str, rc: i32) -> (i32, String) {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("systemctl");
        std::fs::write(&fake, format!("#!/bin/sh\ncase $1 in cat) printf '%s' '{text}'; exit {rc};; show) echo ActiveState=active;; esac\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap()
        );
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{before}{}", unit_settings_script(unit)))
            .env("PATH", path)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
        )
    }

    #[test]
    fn the_unit_probe_asks_systemd_for_state_only_for_etcd_units() {
        let etcd = "[Service]\nExecStart=/usr/local/bin/etcd --name a\n";
        let (rc, out) = probe(etcd, 0);
        assert_eq!(rc, 0);
        assert_eq!(out, format!("{etcd}{SHOW_MARK}\nActiveState=active\n"));
        let (rc, out) = probe("[Service]\nExecStart=/bin/sleep 1\n", 0);
        assert_eq!(
            (rc, out),
            (
                0,
                format!("[Service]\nExecStart=/bin/sleep 1\n{SHOW_MARK}\n")
            )
        );
        let (rc, _) = probe("", 1);
        assert_eq!(rc, 1, "a unit systemctl cannot show keeps its exit code");
    }

    /// The agent's word that no unit file mentions etcd spares `systemctl cat`, but only for
    /// a unit whose name does not mention etcd and whose loaded view (stale or not) does not.
    #[test]
    fn the_agents_answer_spares_systemctl_cat_only_where_nothing_mentions_etcd() {
        let etcd = "[Service]\nExecStart=/usr/local/bin/etcd --name a\n";
        let hint = format!("{}noetcd\n", etcdplay_transport::AGENT_PREFILL_HINT);
        assert!(unit_settings_script("app.service").starts_with(&hint));
        assert!(!unit_settings_script("my-ETCD.service").contains("noetcd"));
        let agent = "ep_ag_noetcd=yes\n";
        // The fake's `cat` text stands for what systemctl would have said.
        assert_eq!(probe_of("app.service", agent, etcd, 0), (0, String::new()));
        let (_, out) = probe_of("app.service", "", etcd, 0);
        assert!(out.contains("--name a"), "without the answer, cat: {out}");
        // A stale loaded view that mentions etcd (the prelude's answer, not trusted).
        let stale = "ep_un=1\nep_unit_shown() { ep_uv='FragmentPath=/opt/Etcd/app.service'; }\n";
        let (_, out) = probe_of("app.service", &format!("{agent}{stale}"), etcd, 0);
        assert!(
            out.contains("--name a"),
            "a stale view naming etcd: cat: {out}"
        );
        let (_, out) = probe_of("etcd-2.service", agent, etcd, 0);
        assert!(out.contains("--name a"), "a name naming etcd: cat: {out}");
    }
}
