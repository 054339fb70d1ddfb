//! Whether a running etcd is *stale*: its main process started before the last change of one
//! of its configuration inputs, so it still runs the configuration it had before. This is what
//! a run interrupted between changing a unit and restarting the member (a lost handler
//! notification) leaves behind, and what a re-run must finish.
//!
//! The inputs are the files etcd's configuration comes from: the unit file and its drop-ins,
//! `EnvironmentFile=`s, the `--config-file`, the etcd binary of `ExecStart=`, and the TLS
//! files named by flags, `ETCD_*` variables or the config file. Each is compared by its status
//! change time (ctime: set by the kernel on every write, rename or chmod, and not settable by
//! `touch`) with systemd's `ExecMainStartTimestamp`. Both come from the host's one clock, and a
//! file written before a start always has a ctime before it, so an unchanged member is never
//! judged stale. Pure code: the host's output goes in, the verdict comes out.

use std::collections::BTreeMap;

use crate::datadir::shell_quote;
use serde_json::Value;

use super::service::ServiceUnit;
use super::timestamp::{format_micros, parse_micros};

/// The `systemctl show` properties the verdict needs.
const PROPERTIES: &str = "ActiveState,MainPID,ExecMainStartTimestamp,FragmentPath,DropInPaths";

/// Flags (and `ETCD_*` variables) that name a TLS file etcd reads at start.
pub const TLS_FILE_KEYS: &[&str] = &[
    "cert-file",
    "key-file",
    "trusted-ca-file",
    "client-crl-file",
    "peer-cert-file",
    "peer-key-file",
    "peer-trusted-ca-file",
    "peer-crl-file",
];

/// Shell lines printing the unit's state: microsecond UTC timestamps when systemd knows
/// `--timestamp=` (v247+), else its default format in UTC (second precision).
pub fn show_script(unit: &str) -> String {
    let q = shell_quote(unit);
    format!("TZ=UTC0; export TZ\nsystemctl show --timestamp=us+utc -p {PROPERTIES} -- {q} 2>/dev/null || systemctl show -p {PROPERTIES} -- {q} 2>/dev/null")
}

/// What systemd says about the unit's main process and where the unit comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceState {
    /// Active with a main process: only such a unit can run an old configuration.
    pub running: bool,
    pub main_pid: u32,
    /// The latest instant (µs since the epoch) the main process may have started: a time
    /// shown to the second counts as the end of that second, so rounding never makes an
    /// unchanged member look stale.
    pub started: Option<i64>,
    pub fragment: Option<String>,
    pub drop_ins: Vec<String>,
}

impl ServiceState {
    /// Parses `systemctl show -p ...` output (`Key=value` lines).
    pub fn parse(text: &str) -> Self {
        let props: BTreeMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let get = |k: &str| {
            props
                .get(k)
                .copied()
                .filter(|v| !v.is_empty() && *v != "n/a")
        };
        let main_pid = get("MainPID").and_then(|p| p.parse().ok()).unwrap_or(0);
        let started = get("ExecMainStartTimestamp").and_then(|t| {
            let micros = parse_micros(t)?;
            let precise = t
                .split_whitespace()
                .any(|w| w.contains(':') && w.contains('.'));
            Some(if precise { micros } else { micros + 999_999 })
        });
        ServiceState {
            running: get("ActiveState") == Some("active") && main_pid > 0,
            main_pid,
            started,
            fragment: get("FragmentPath").map(str::to_string),
            drop_ins: get("DropInPaths")
                .map(|d| d.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
        }
    }
}

/// The files whose change means the running etcd no longer runs what is configured, in a
/// stable order without repeats. `raw` holds the flags and `ETCD_*` variables (see
/// `settings.rs`'s `raw_settings`), `config` the parsed `--config-file` (which replaces both).
pub fn config_inputs(
    unit: &ServiceUnit,
    state: &ServiceState,
    raw: &BTreeMap<String, String>,
    config: Option<&Value>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    out.extend(state.fragment.clone());
    out.extend(state.drop_ins.iter().cloned());
    out.extend(unit.environment_files.iter().map(|(p, _)| p.clone()));
    if let Some(binary) = unit.etcd_index().and_then(|i| unit.exec_start.get(i)) {
        // `/usr/bin/env etcd` names no file; the binary is then found on PATH and not counted.
        if binary.starts_with('/') {
            out.push(binary.clone());
        }
    }
    out.extend(raw.get("config-file").cloned());
    match config {
        Some(Value::Object(map)) => {
            for section in ["client-transport-security", "peer-transport-security"] {
                if let Some(Value::Object(tls)) = map.get(section) {
                    out.extend(
                        tls.iter()
                            .filter(|(k, _)| k.ends_with("-file"))
                            .filter_map(|(_, v)| v.as_str())
                            .map(str::to_string),
                    );
                }
            }
        }
        _ => out.extend(TLS_FILE_KEYS.iter().filter_map(|k| raw.get(*k)).cloned()),
    }
    let base = unit
        .working_directory
        .as_deref()
        .unwrap_or("/")
        .trim_end_matches('/')
        .to_string();
    let mut seen = Vec::new();
    for p in out.into_iter().filter(|p| !p.is_empty()) {
        // etcd resolves relative paths against its working directory.
        let p = if p.starts_with('/') {
            p
        } else {
            format!("{base}/{p}")
        };
        if !seen.contains(&p) {
            seen.push(p);
        }
    }
    seen
}

/// A script printing one line per file, in order: its ctime (`stat -L`: a symlink counts by
/// its target) or `-` when it cannot be read. One `stat` reads every file that exists (each
/// process costs the host CPU); its lines are handed out to the files in order with shell
/// builtins. Should that `stat` fail (a file gone in between), each file is read on its own.
pub fn stat_script(files: &[String]) -> String {
    let list: Vec<String> = files.iter().map(|f| shell_quote(f)).collect();
    let list = list.join(" ");
    format!(
        r#"TZ=UTC0; export TZ
set --
for f in {list}; do [ -e "$f" ] && set -- "$@" "$f"; done
if [ $# -eq 0 ] || o=$(stat -L -c %z -- "$@" 2>/dev/null); then
  nl='
'
  for f in {list}; do
    if [ -e "$f" ]; then printf '%s\n' "${{o%%"$nl"*}}"; o=${{o#*"$nl"}}; else echo -; fi
  done
else
  for f in {list}; do stat -L -c %z -- "$f" 2>/dev/null || echo -; done
fi"#
    )
}

/// Pairs each file with its ctime from [`stat_script`]'s output (`None`: unknown).
pub fn parse_stat(files: &[String], stdout: &str) -> Vec<(String, Option<i64>)> {
    let mut lines = stdout.lines();
    files
        .iter()
        .map(|f| (f.clone(), lines.next().and_then(parse_micros)))
        .collect()
}

/// A running etcd that started before its configuration last changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staleness {
    pub main_pid: u32,
    pub started: i64,
    /// The inputs changed after the start, newest first, with their ctimes.
    pub changed: Vec<(String, i64)>,
}

impl Staleness {
    /// `Some` when the unit runs and some input changed after its main process started.
    /// Unknown times never make a member stale: a restart is only ever added on evidence.
    pub fn judge(state: &ServiceState, ctimes: &[(String, Option<i64>)]) -> Option<Self> {
        if !state.running {
            return None;
        }
        let started = state.started?;
        let mut changed: Vec<(String, i64)> = ctimes
            .iter()
            .filter_map(|(f, t)| t.filter(|t| *t > started).map(|t| (f.clone(), t)))
            .collect();
        if changed.is_empty() {
            return None;
        }
        changed.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Some(Staleness {
            main_pid: state.main_pid,
            started,
            changed,
        })
    }

    /// "running since T, configuration changed at T2 (files)".
    pub fn reason(&self) -> String {
        let newest = self
            .changed
            .first()
            .map(|(_, t)| *t)
            .unwrap_or(self.started);
        let files: Vec<&str> = self.changed.iter().map(|(f, _)| f.as_str()).collect();
        format!(
            "running since {} (pid {}), configuration changed at {} ({})",
            format_micros(self.started),
            self.main_pid,
            format_micros(newest),
            files.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::{parse_env_file, raw_settings};

    /// `systemctl show --timestamp=us+utc -p ...` of a lab member after the built-in playbook.
    const SHOWN: &str = "ActiveState=active\nMainPID=4242\nExecMainStartTimestamp=Fri 2026-11-27 23:52:10.123456 UTC\nFragmentPath=/etc/systemd/system/etcd.service\nDropInPaths=/etc/systemd/system/etcd.service.d/10-a.conf /run/systemd/system/etcd.service.d/20-b.conf\n";

    const UNIT: &str = "[Service]\nEnvironmentFile=/etc/etcd/etcd-initial.env\nEnvironmentFile=-/etc/default/etcd\nExecStart=/usr/local/bin/etcd --name a --data-dir /var/lib/etcd/data \\\n  --cert-file /etc/etcd/pki/member.pem --key-file=/etc/etcd/pki/member-key.pem \\\n  --trusted-ca-file ${PKI}/ca.pem --peer-cert-file /etc/etcd/pki/member.pem --snapshot-count 100\n";

    fn micros(t: &str) -> Option<i64> {
        parse_micros(t)
    }

    #[test]
    fn show_output_gives_the_running_process_and_unit_files() {
        let s = ServiceState::parse(SHOWN);
        assert!(s.running);
        assert_eq!(s.main_pid, 4242);
        assert_eq!(s.started, micros("2026-11-27 23:52:10.123456 UTC"));
        assert_eq!(
            s.fragment.as_deref(),
            Some("/etc/systemd/system/etcd.service")
        );
        assert_eq!(s.drop_ins.len(), 2);
        // A stopped unit: no main process, no start time.
        let stopped = ServiceState::parse("ActiveState=inactive\nMainPID=0\nExecMainStartTimestamp=\nFragmentPath=/etc/systemd/system/etcd.service\nDropInPaths=\n");
        assert!(!stopped.running);
        assert_eq!(stopped.started, None);
        assert!(stopped.drop_ins.is_empty());
        // Active but between restarts (no main process) is not running.
        assert!(!ServiceState::parse("ActiveState=active\nMainPID=0\n").running);
    }

    #[test]
    fn a_start_shown_to_the_second_counts_as_the_end_of_that_second() {
        let s = ServiceState::parse(
            "ActiveState=active\nMainPID=7\nExecMainStartTimestamp=Fri 2026-11-27 23:52:10 UTC\n",
        );
        assert_eq!(s.started, micros("2026-11-27 23:52:10.999999 UTC"));
        // So a file written in that second, before the start, does not make it stale...
        assert_eq!(
            Staleness::judge(&s, &[("/u".into(), micros("2026-11-27 23:52:10.5 +0000"))]),
            None
        );
        // ...and one from the next second does.
        assert!(
            Staleness::judge(&s, &[("/u".into(), micros("2026-11-27 23:52:11 +0000"))]).is_some()
        );
    }

    #[test]
    fn inputs_are_unit_files_env_files_binary_and_tls_files() {
        let unit = ServiceUnit::parse(UNIT);
        let state = ServiceState::parse(SHOWN);
        let raw = raw_settings(
            &unit,
            &parse_env_file("PKI=/etc/etcd/pki\nETCD_PEER_KEY_FILE=/etc/etcd/pki/peer-key.pem\n"),
        );
        let inputs = config_inputs(&unit, &state, &raw, None);
        assert_eq!(
            inputs,
            vec![
                "/etc/systemd/system/etcd.service",
                "/etc/systemd/system/etcd.service.d/10-a.conf",
                "/run/systemd/system/etcd.service.d/20-b.conf",
                "/etc/etcd/etcd-initial.env",
                "/etc/default/etcd",
                "/usr/local/bin/etcd",
                "/etc/etcd/pki/member.pem",
                "/etc/etcd/pki/member-key.pem",
                "/etc/etcd/pki/ca.pem",
                "/etc/etcd/pki/peer-key.pem",
            ]
        );
        // The data dir and plain tunables are not inputs.
        assert!(!inputs.iter().any(|f| f.contains("/var/lib/etcd")));
    }

    #[test]
    fn with_a_config_file_its_tls_sections_count_and_relative_paths_use_the_working_directory() {
        let unit = ServiceUnit::parse("[Service]\nWorkingDirectory=/srv/etcd\nExecStart=/usr/bin/env etcd --config-file conf/etcd.yml --cert-file /ignored.pem\n");
        let raw = raw_settings(&unit, &[]);
        let config = serde_json::json!({
            "name": "a",
            "client-transport-security": {"cert-file": "/etc/etcd/server.pem", "key-file": "/etc/etcd/server-key.pem", "client-cert-auth": true},
            "peer-transport-security": {"trusted-ca-file": "pki/ca.pem", "auto-tls": false},
        });
        let inputs = config_inputs(&unit, &ServiceState::default(), &raw, Some(&config));
        assert_eq!(
            inputs,
            vec![
                "/srv/etcd/conf/etcd.yml",
                "/etc/etcd/server.pem",
                "/etc/etcd/server-key.pem",
                "/srv/etcd/pki/ca.pem"
            ]
        );
    }

    #[test]
    fn stat_output_pairs_with_files_in_order() {
        let files = vec!["/a".to_string(), "/missing".to_string(), "/b".to_string()];
        let got = parse_stat(
            &files,
            "2026-11-27 23:41:41.177738283 +0000\n-\n2026-11-27 23:55:00.000000001 +0000\n",
        );
        assert_eq!(
            got[0],
            ("/a".to_string(), micros("2026-11-27 23:41:41.177738 UTC"))
        );
        assert_eq!(got[1], ("/missing".to_string(), None));
        assert_eq!(got[2].1, micros("2026-11-27 23:55:00 UTC"));
        // Output cut short leaves the rest unknown rather than shifted.
        assert_eq!(parse_stat(&files, "-\n")[2].1, None);
    }

    /// The script on this machine's shell: real `stat` output in the format the parser reads,
    /// a symlink judged by its target, a missing file as unknown.
    #[test]
    fn stat_script_runs_and_reads_real_change_times() {
        let dir = tempfile::tempdir().unwrap();
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros() as i64
        };
        let before = now() - 2_000_000; // coarse kernel clock: allow for its lag
        let file = dir.path().join("etcd.service");
        std::fs::write(&file, "[Service]\n").unwrap();
        let link = dir.path().join("it's a link.pem");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let files: Vec<String> = [file.clone(), dir.path().join("missing"), link]
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(stat_script(&files))
            .env("TZ", "Europe/Berlin")
            .output()
            .unwrap();
        let got = parse_stat(&files, &String::from_utf8_lossy(&out.stdout));
        let after = now() + 2_000_000;
        let t = got[0]
            .1
            .unwrap_or_else(|| panic!("{got:?} from {:?}", String::from_utf8_lossy(&out.stdout)));
        assert!(before <= t && t <= after, "{t} not in {before}..{after}");
        assert_eq!(got[1].1, None);
        assert_eq!(got[2].1, Some(t));
    }

    #[test]
    fn stale_only_when_an_input_changed_after_the_start() {
        let state = ServiceState::parse(SHOWN);
        let before = micros("2026-11-27 23:52:09.9 +0000");
        let after = micros("2026-11-27 23:56:00 +0000");
        let much_after = micros("2026-11-27 23:57:00 +0000");
        assert_eq!(
            Staleness::judge(&state, &[("/u".into(), before), ("/x".into(), None)]),
            None
        );
        let stale = Staleness::judge(
            &state,
            &[
                ("/u".into(), after),
                ("/e".into(), before),
                ("/c".into(), much_after),
            ],
        )
        .unwrap();
        assert_eq!(
            stale
                .changed
                .iter()
                .map(|(f, _)| f.as_str())
                .collect::<Vec<_>>(),
            vec!["/c", "/u"]
        );
        let reason = stale.reason();
        assert!(
            reason.contains("running since 2026-11-27 23:52:10 UTC (pid 4242)")
                && reason.contains("changed at 2026-11-27 23:57:00 UTC (/c, /u)"),
            "{reason}"
        );
        // A stopped unit is never stale: starting it picks up the configuration anyway.
        let stopped = ServiceState {
            running: false,
            ..state.clone()
        };
        assert_eq!(Staleness::judge(&stopped, &[("/u".into(), after)]), None);
        // Without a start time nothing is claimed.
        let unknown = ServiceState {
            started: None,
            ..state
        };
        assert_eq!(Staleness::judge(&unknown, &[("/u".into(), after)]), None);
    }
}
