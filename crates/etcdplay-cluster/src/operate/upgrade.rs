//! `etcd_upgrade` on the control node: the version-skew guard of the cluster playbook and
//! the wait that ends an upgrade. Phase `check`, before any binary is copied, learns the
//! version of the binary the play installs (`<bin> --version` on the control node, or the
//! `version` argument) and what the members run (each member's `/version`: server and
//! cluster version), and plans: nothing to do, a patch release (a plain rolling restart), one
//! minor up (an upgrade: the playbook snapshots first), or a refusal — a downgrade below the
//! cluster's minor or any member's, a skipped minor, another major — that fails the task
//! before any member is touched, because a member restarted on such a binary does not start
//! on its data. Phase `settle`, after the rolling restart, waits until every member reports
//! the new version and the cluster version has risen to its minor. When no member answers
//! (a first deployment, or a cluster that is down) the check passes, even when the control
//! node cannot run the binary, and phase `host` (on each host) compares the binary with the
//! etcd installed there when its data dir is not empty: the release that last ran on that
//! data, refused in the same way.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use etcdplay_etcd::{EtcdVersion, VersionReport};
use serde_json::{json, Map, Value};
use tokio::io::AsyncReadExt;

use super::{failed, sh, str_arg};
use crate::args::{client_from_args, wait_from_args};
use crate::error::ActionError;
use etcdplay_engine::HostAction;
use etcdplay_etcd::datadir::shell_quote;

/// How long `<bin> --version` may take.
const VERSION_RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of `<bin> --version`'s output that is read.
const MAX_VERSION_OUTPUT: u64 = 64 * 1024;
/// How long `settle` waits for the cluster version, by default.
const DEFAULT_SETTLE: Duration = Duration::from_secs(120);

/// What one member runs, as its `/version` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Running {
    pub(crate) endpoint: String,
    pub(crate) server: EtcdVersion,
    pub(crate) cluster: Option<EtcdVersion>,
}

/// What installing the binary means for the running cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// No member answered: a first deployment (or a cluster that is down; see the notes).
    NoRunningMember,
    /// Every member already runs this version.
    Same,
    /// The same minor as the cluster, another patch release: a plain rolling restart.
    Patch,
    /// One minor above the cluster's: snapshot, rolling restart, wait for the cluster version.
    Upgrade { from: EtcdVersion },
}

impl Plan {
    fn label(&self) -> &'static str {
        match self {
            Plan::NoRunningMember => "no-running-member",
            Plan::Same => "none",
            Plan::Patch => "patch",
            Plan::Upgrade { .. } => "upgrade",
        }
    }
}

/// Why the binary must not replace the running one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error(
        "refusing to install etcd {binary}: {what} runs etcd {running}, and etcd cannot be \
         downgraded by swapping its binary (a member restarted on {binary} would not start on \
         data written by {running}); nothing was changed. Point etcd_bin_src (or \
         etcd_release_url) at a {running_minor} binary, or restore a snapshot taken before the \
         upgrade with `etcdplay restore`"
    )]
    Downgrade {
        binary: EtcdVersion,
        what: String,
        running: String,
        running_minor: String,
    },
    #[error(
        "refusing to install etcd {binary}: the cluster version is {cluster}, and etcd upgrades \
         one minor version at a time; nothing was changed. Upgrade to the newest {next} release \
         first, then to {binary}"
    )]
    SkippedMinor {
        binary: EtcdVersion,
        cluster: String,
        next: String,
    },
    #[error(
        "refusing to install etcd {binary}: the cluster runs etcd {running}, another major \
         version; nothing was changed"
    )]
    OtherMajor {
        binary: EtcdVersion,
        running: String,
    },
}

/// The plan for installing `binary` over the members in `running` (those that answered).
/// The cluster version is the lowest any member reports, else the lowest server minor.
pub(crate) fn plan(binary: EtcdVersion, running: &[Running]) -> Result<Plan, Refusal> {
    let Some(lowest_server) = running.iter().map(|r| r.server).min() else {
        return Ok(Plan::NoRunningMember);
    };
    let cluster = running
        .iter()
        .filter_map(|r| r.cluster)
        .min()
        .unwrap_or(lowest_server);
    if running.iter().any(|r| r.server.major != binary.major) || cluster.major != binary.major {
        return Err(Refusal::OtherMajor {
            binary,
            running: cluster.to_string(),
        });
    }
    if binary.minor < cluster.minor {
        let newest = running.iter().map(|r| r.server).max().unwrap_or(cluster);
        return Err(Refusal::Downgrade {
            binary,
            what: format!("the cluster (version {})", cluster.minor_label()),
            running: newest.to_string(),
            running_minor: cluster.minor_label(),
        });
    }
    // A member already above the binary's minor while the cluster is not (an upgrade half
    // done): that member would not start on its data either.
    if let Some(ahead) = running
        .iter()
        .filter(|r| r.server.minor > binary.minor)
        .max_by_key(|r| r.server)
    {
        return Err(Refusal::Downgrade {
            binary,
            what: format!("the member at {}", ahead.endpoint),
            running: ahead.server.to_string(),
            running_minor: ahead.server.minor_label(),
        });
    }
    if binary.minor > cluster.minor + 1 {
        return Err(Refusal::SkippedMinor {
            binary,
            cluster: cluster.minor_label(),
            next: format!("{}.{}", cluster.major, cluster.minor + 1),
        });
    }
    if running.iter().all(|r| r.server == binary) {
        return Ok(Plan::Same);
    }
    if binary.minor == cluster.minor {
        return Ok(Plan::Patch);
    }
    Ok(Plan::Upgrade { from: cluster })
}

/// `etcd_upgrade` on the control node.
pub(crate) async fn run(args: &Map<String, Value>, origin: &str) -> Result<Value, ActionError> {
    match str_arg(args, "phase").as_deref().unwrap_or("check") {
        "check" => check(args, origin).await,
        "settle" => settle(args, origin).await,
        other => Err(ActionError::argument(
            origin,
            format!("etcd_upgrade 'phase' must be check, settle or host, got '{other}'"),
        )),
    }
}

/// Whether the action runs on a host (phase `host`) rather than on the control node.
pub(crate) fn runs_on_host(args: &Map<String, Value>) -> bool {
    str_arg(args, "phase").as_deref() == Some("host")
}

/// What phase `host` found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Installed {
    /// The data dir is missing or empty: nothing a binary could fail to read.
    EmptyDataDir,
    /// No etcd is installed at the path.
    NoBinary,
    /// The installed etcd's `--version` output.
    Version(String),
}

/// The script of phase `host`: the data dir's state, then the installed binary's version.
fn installed_script(data_dir: &str, installed: &str) -> String {
    let (dir, bin) = (shell_quote(data_dir), shell_quote(installed));
    format!(
        "if [ ! -d {dir} ] || [ -z \"$(ls -A {dir} 2>/dev/null)\" ]; then echo EMPTY; \
         elif [ ! -x {bin} ]; then echo NO-BINARY; \
         else timeout 20 {bin} --version 2>/dev/null | head -c 4096; fi"
    )
}

fn parse_installed(out: &str) -> Installed {
    match out.trim() {
        "EMPTY" => Installed::EmptyDataDir,
        "NO-BINARY" => Installed::NoBinary,
        other => Installed::Version(other.to_string()),
    }
}

/// Phase `host`: the binary (`version`, as phase `check` found it) against the etcd installed
/// at `installed` on the host, when the host's data dir holds data.
pub(crate) async fn run_host(
    ctx: &HostAction<'_>,
    args: &Map<String, Value>,
) -> Result<Value, ActionError> {
    let origin = ctx.origin;
    let binary = str_arg(args, "version")
        .and_then(|v| EtcdVersion::parse(&v))
        .ok_or_else(|| {
            ActionError::argument(origin, "etcd_upgrade phase host needs 'version' (X.Y.Z)")
        })?;
    let data_dir = super::required(args, "data_dir", origin)?;
    let installed = str_arg(args, "installed").unwrap_or_else(|| "/usr/local/bin/etcd".into());
    let out = match sh(
        ctx,
        "reading the installed etcd",
        installed_script(&data_dir, &installed),
    )
    .await?
    {
        Ok(out) => out,
        Err(msg) => return Ok(failed(msg)),
    };
    let text = match parse_installed(&out) {
        Installed::EmptyDataDir => {
            return Ok(json!({"changed": false, "msg": format!("{data_dir} is empty")}))
        }
        Installed::NoBinary => {
            return Ok(json!({"changed": false, "msg": format!("no etcd at {installed}")}))
        }
        Installed::Version(text) => text,
    };
    let Some(found) = EtcdVersion::parse(&text) else {
        return Ok(failed(format!(
            "{}: cannot read the version of {installed} ('{}'); its data dir {data_dir} is not \
             empty, so etcd {binary} is not installed over it unchecked",
            ctx.host,
            text.lines().next().unwrap_or_default()
        )));
    };
    let here = Running {
        endpoint: format!("{}:{installed}", ctx.host),
        server: found,
        cluster: None,
    };
    match plan(binary, std::slice::from_ref(&here)) {
        Ok(p) => Ok(json!({
            "changed": false,
            "installed_version": found.to_string(),
            "plan": p.label(),
            "msg": format!("{}: installed etcd {found}, data in {data_dir}: {} to {binary}", ctx.host, p.label()),
        })),
        Err(refusal) => Ok(failed(format!(
            "{}: no member answered, and etcd {found} (installed at {installed}) last ran on \
             the data in {data_dir}: {refusal}",
            ctx.host
        ))),
    }
}

/// Phase `check`.
async fn check(args: &Map<String, Value>, origin: &str) -> Result<Value, ActionError> {
    let client = client_from_args(args, origin)?;
    let reports = client.versions().await;
    let (running, silent) = split_reports(&reports);
    let binary = match binary_version(args, origin).await? {
        Ok(v) => v,
        // Nothing runs that a wrong binary could break (a first deployment, say from a
        // control node that cannot run the hosts' binaries): nothing to compare.
        Err(why) if running.is_empty() => {
            return Ok(json!({
                "changed": false,
                "plan": Plan::NoRunningMember.label(),
                "upgrade": false,
                "binary_version": null,
                "unreachable": silent,
                "msg": format!("no member answered, nothing to compare ({why})"),
            }))
        }
        Err(why) => return Ok(failed(why)),
    };
    let plan = match plan(binary, &running) {
        Ok(plan) => plan,
        Err(refusal) => {
            let mut result = failed(refusal.to_string());
            describe(&mut result, binary, &running, &silent);
            return Ok(result);
        }
    };
    let msg = match plan {
        Plan::NoRunningMember => format!("etcd {binary}: no member answered, nothing to compare"),
        Plan::Same => format!("every member runs etcd {binary}"),
        Plan::Patch => format!("etcd {binary}: another patch release of the running minor"),
        Plan::Upgrade { from } => format!(
            "upgrade from etcd {} to {binary} (members: {}): snapshot first, then one member \
             at a time",
            from.minor_label(),
            census(&running)
        ),
    };
    let mut result = json!({
        "changed": false,
        "plan": plan.label(),
        "upgrade": matches!(plan, Plan::Upgrade { .. }),
        "msg": msg,
    });
    describe(&mut result, binary, &running, &silent);
    Ok(result)
}

/// How many members run each version, newest first: `1 on 3.5.1, 2 on 3.4.23`.
fn census(running: &[Running]) -> String {
    let mut counts: Vec<(EtcdVersion, usize)> = Vec::new();
    for r in running {
        match counts.iter_mut().find(|(v, _)| *v == r.server) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.server, 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.0));
    counts
        .iter()
        .map(|(v, n)| format!("{n} on {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Adds what was found to a result.
fn describe(result: &mut Value, binary: EtcdVersion, running: &[Running], silent: &[Value]) {
    let Value::Object(map) = result else {
        return;
    };
    let cluster = running.iter().filter_map(|r| r.cluster).min();
    map.insert("binary_version".into(), json!(binary.to_string()));
    map.insert(
        "cluster_version".into(),
        json!(cluster.map(|c| c.minor_label())),
    );
    map.insert("members".into(), members_json(running));
    map.insert("unreachable".into(), Value::Array(silent.to_vec()));
}

fn members_json(running: &[Running]) -> Value {
    running
        .iter()
        .map(|r| json!({"endpoint": r.endpoint, "version": r.server.to_string()}))
        .collect()
}

/// The members that answered with versions etcdplay can read, and the others with why.
fn split_reports(reports: &[VersionReport]) -> (Vec<Running>, Vec<Value>) {
    let mut running = Vec::new();
    let mut silent = Vec::new();
    for r in reports {
        match &r.answer {
            Ok((server, cluster)) => match EtcdVersion::parse(server) {
                Some(v) => running.push(Running {
                    endpoint: r.endpoint.clone(),
                    server: v,
                    cluster: EtcdVersion::parse(cluster),
                }),
                None => silent.push(json!({
                    "endpoint": r.endpoint,
                    "error": format!("unreadable server version '{server}'"),
                })),
            },
            Err(e) => silent.push(json!({"endpoint": r.endpoint, "error": e})),
        }
    }
    (running, silent)
}

/// The binary's version: the `version` argument, else `<bin> --version` on the control node.
/// `Err` is the task's failure message.
async fn binary_version(
    args: &Map<String, Value>,
    origin: &str,
) -> Result<Result<EtcdVersion, String>, ActionError> {
    if let Some(given) = str_arg(args, "version") {
        return Ok(EtcdVersion::parse(&given)
            .ok_or_else(|| format!("'version' is not an etcd version (X.Y.Z): '{given}'")));
    }
    let Some(bin) = str_arg(args, "bin") else {
        return Err(ActionError::argument(
            origin,
            "etcd_upgrade needs 'bin' (the etcd binary on the control node) or 'version'",
        ));
    };
    Ok(run_version(Path::new(&bin)).await)
}

/// Runs `bin --version` (bounded in time and output) and reads its `etcd Version:` line.
async fn run_version(bin: &Path) -> Result<EtcdVersion, String> {
    let cannot = |why: String| {
        format!(
            "cannot learn the version of {}: {why}; set etcd_bin_version to the binary's \
             version when the control node cannot run it",
            bin.display()
        )
    };
    let mut child = tokio::process::Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| cannot(e.to_string()))?;
    let mut out = Vec::new();
    let read = async {
        if let Some(stdout) = child.stdout.take() {
            stdout
                .take(MAX_VERSION_OUTPUT)
                .read_to_end(&mut out)
                .await?;
        }
        child.wait().await
    };
    let status = match tokio::time::timeout(VERSION_RUN_TIMEOUT, read).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(cannot(e.to_string())),
        Err(_) => {
            return Err(cannot(format!(
                "--version did not finish within {}s",
                VERSION_RUN_TIMEOUT.as_secs()
            )))
        }
    };
    let text = String::from_utf8_lossy(&out);
    match EtcdVersion::parse(&text) {
        Some(v) if status.success() => Ok(v),
        _ => Err(cannot(format!(
            "`--version` ({status}) printed no 'etcd Version: X.Y.Z' line"
        ))),
    }
}

/// Phase `settle`: polls every member's `/version` until each runs `version` and the
/// cluster version is its minor.
async fn settle(args: &Map<String, Value>, origin: &str) -> Result<Value, ActionError> {
    let target = str_arg(args, "version")
        .and_then(|v| EtcdVersion::parse(&v))
        .ok_or_else(|| {
            ActionError::argument(origin, "etcd_upgrade phase settle needs 'version' (X.Y.Z)")
        })?;
    let client = client_from_args(args, origin)?;
    let wait = wait_from_args(args, DEFAULT_SETTLE, origin)?;
    let started = Instant::now();
    loop {
        let reports = client.versions().await;
        let (running, silent) = split_reports(&reports);
        let lagging = lagging(target, &running, &silent);
        if lagging.is_empty() {
            return Ok(json!({
                "changed": false,
                "cluster_version": target.minor_label(),
                "members": members_json(&running),
                "settled_after_s": started.elapsed().as_secs_f64(),
                "msg": format!(
                    "every member runs etcd {target}; cluster version {}",
                    target.minor_label()
                ),
            }));
        }
        if started.elapsed() >= wait {
            return Ok(failed(format!(
                "the cluster did not settle on etcd {target} within {}s: {}",
                wait.as_secs(),
                lagging.join("; ")
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// What still differs from a cluster settled on `target`.
fn lagging(target: EtcdVersion, running: &[Running], silent: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = silent
        .iter()
        .map(|s| format!("{} did not answer ({})", s["endpoint"], s["error"]))
        .collect();
    for r in running {
        if r.server != target {
            out.push(format!("{} runs {}", r.endpoint, r.server));
        }
        match r.cluster {
            Some(c) if c.same_minor(&target) => {}
            Some(c) => out.push(format!(
                "{} reports cluster version {}",
                r.endpoint,
                c.minor_label()
            )),
            None => out.push(format!("{} reports no cluster version yet", r.endpoint)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> EtcdVersion {
        EtcdVersion::parse(text).expect("version")
    }

    fn member(n: u8, server: &str, cluster: &str) -> Running {
        Running {
            endpoint: format!("https://10.0.0.{n}:2379"),
            server: v(server),
            cluster: EtcdVersion::parse(cluster),
        }
    }

    fn all(server: &str, cluster: &str) -> Vec<Running> {
        (1..=3).map(|n| member(n, server, cluster)).collect()
    }

    #[test]
    fn one_minor_up_is_an_upgrade() {
        assert_eq!(
            plan(v("3.5.1"), &all("3.4.23", "3.4.0")),
            Ok(Plan::Upgrade { from: v("3.4.0") })
        );
        // Half done: one member already on 3.5.1, the cluster still at 3.4.
        let mut half = all("3.4.23", "3.4.0");
        half[0] = member(1, "3.5.1", "3.4.0");
        assert_eq!(
            plan(v("3.5.1"), &half),
            Ok(Plan::Upgrade { from: v("3.4.0") })
        );
    }

    #[test]
    fn the_census_counts_members_per_version_newest_first() {
        let mut half = all("3.4.23", "3.4.0");
        half[1] = member(2, "3.5.1", "3.4.0");
        assert_eq!(census(&half), "1 on 3.5.1, 2 on 3.4.23");
        assert_eq!(census(&[]), "");
    }

    #[test]
    fn the_same_version_or_another_patch_is_no_upgrade() {
        assert_eq!(plan(v("3.4.23"), &all("3.4.23", "3.4.0")), Ok(Plan::Same));
        assert_eq!(plan(v("3.5.2"), &all("3.5.1", "3.5.0")), Ok(Plan::Patch));
        assert_eq!(plan(v("3.5.0"), &all("3.5.1", "3.5.0")), Ok(Plan::Patch));
        assert_eq!(plan(v("3.4.23"), &[]), Ok(Plan::NoRunningMember));
    }

    #[test]
    fn a_skipped_minor_is_refused() {
        let e = plan(v("3.6.0"), &all("3.4.23", "3.4.0")).unwrap_err();
        assert!(matches!(e, Refusal::SkippedMinor { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("etcd 3.6.0")
                && msg.contains("cluster version is 3.4")
                && msg.contains("newest 3.5 release first"),
            "{msg}"
        );
    }

    #[test]
    fn a_downgrade_is_refused_against_the_cluster_and_every_member() {
        // The trap of issue #17: the default 3.4 binary against an upgraded cluster.
        let e = plan(v("3.4.23"), &all("3.5.1", "3.5.0")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("cannot be downgraded") && msg.contains("runs etcd 3.5.1"),
            "{msg}"
        );
        // One member upgraded, the cluster still at 3.4: that member would not start either.
        let mut half = all("3.4.23", "3.4.0");
        half[2] = member(3, "3.5.1", "3.4.0");
        let msg = plan(v("3.4.23"), &half).unwrap_err().to_string();
        assert!(msg.contains("10.0.0.3") && msg.contains("3.5.1"), "{msg}");
        // A member that lost its cluster version still counts with its server version.
        let e = plan(v("3.3.0"), &all("3.4.23", "")).unwrap_err();
        assert!(matches!(e, Refusal::Downgrade { .. }), "{e:?}");
    }

    #[test]
    fn another_major_is_refused() {
        let e = plan(v("4.0.0"), &all("3.5.1", "3.5.0")).unwrap_err();
        assert!(matches!(e, Refusal::OtherMajor { .. }), "{e:?}");
    }

    #[test]
    fn settling_waits_for_every_member_and_the_cluster_version() {
        let target = v("3.5.1");
        assert!(lagging(target, &all("3.5.1", "3.5.0"), &[]).is_empty());
        let behind = lagging(target, &all("3.5.1", "3.4.0"), &[]);
        assert_eq!(behind.len(), 3, "{behind:?}");
        assert!(behind[0].contains("cluster version 3.4"), "{behind:?}");
        let mut mixed = all("3.5.1", "3.5.0");
        mixed[1] = member(2, "3.4.23", "3.5.0");
        let behind = lagging(
            target,
            &mixed,
            &[json!({"endpoint": "x", "error": "refused"})],
        );
        assert_eq!(behind.len(), 2, "{behind:?}");
        assert!(behind[1].contains("runs 3.4.23"), "{behind:?}");
    }

    #[test]
    fn the_host_phase_reads_what_its_script_prints() {
        let script = installed_script("/var/lib/etcd/data", "/usr/local/bin/etcd");
        assert!(
            script.contains("'/var/lib/etcd/data'") && script.contains("timeout 20"),
            "{script}"
        );
        assert_eq!(parse_installed("EMPTY\n"), Installed::EmptyDataDir);
        assert_eq!(parse_installed("NO-BINARY\n"), Installed::NoBinary);
        let out = "etcd Version: 3.5.1\nGit SHA: e8732fb5f\n";
        assert_eq!(parse_installed(out), Installed::Version(out.trim().into()));
        // A single installed release is both the member's and the cluster's version.
        let here = [member(1, "3.5.1", "")];
        assert!(matches!(
            plan(v("3.4.23"), &here),
            Err(Refusal::Downgrade { .. })
        ));
        assert_eq!(plan(v("3.5.1"), &here), Ok(Plan::Same));
    }

    #[tokio::test]
    async fn with_no_member_answering_nothing_is_refused_even_an_unrunnable_binary() {
        // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        let args = |bin: &str| {
            json!({"phase": "check", "bin": bin, "endpoints": ["http://127.0.0.1:9"]})
                .as_object()
                .cloned()
                .unwrap_or_default()
        };
        let r = run(&args("/nonexistent/etcd"), "t.yml:1:1")
            .await
            .expect("run");
        assert_eq!(r["plan"], "no-running-member", "{r}");
        assert!(r.get("failed").is_none(), "{r}");
        assert!(
            r["msg"]
                .as_str()
                .unwrap_or_default()
                .contains("etcd_bin_version"),
            "{r}"
        );
        let e = run(&args(""), "t.yml:1:1").await.unwrap_err().to_string();
        assert!(e.contains("'bin'"), "{e}");
    }

    #[tokio::test]
    async fn the_version_is_read_from_the_binary_and_failures_say_what_to_set() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("etcd");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'etcd Version: 3.6.0'\necho 'Git SHA: fake'\n",
        )
        .expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(run_version(&fake).await, Ok(v("3.6.0")));
        let missing = run_version(&dir.path().join("nope")).await.unwrap_err();
        assert!(missing.contains("etcd_bin_version"), "{missing}");
        let silent = dir.path().join("silent");
        std::fs::write(&silent, "#!/bin/sh\necho hello\n").expect("write");
        std::fs::set_permissions(&silent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let e = run_version(&silent).await.unwrap_err();
        assert!(e.contains("no 'etcd Version"), "{e}");
    }
}
