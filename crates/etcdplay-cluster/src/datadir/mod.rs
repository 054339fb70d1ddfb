//! `data_dir_scheme_check`: reads an etcd data dir on the host (WAL, `.snap`, bbolt) through
//! the transport and compares the stored membership with the planned peer URLs. The reader
//! runs on the host when it can ([`shipped`]: `etcdplay-datadir-reader`, uploaded once and
//! cached, one round trip per check). Otherwise the reader of etcdplay-etcd runs here
//! ([`commands`]), each file access a shell command on the host. Either way the data dir is
//! only read.

mod commands;
mod finding;
mod shipped;

use std::collections::BTreeSet;
use std::sync::Mutex;

use etcdplay_engine::HostAction;
use etcdplay_etcd::{DataDirError, DataDirReport, DataDirState, PeerPlan, PeerScheme, Verdict};
use etcdplay_transport::{Become, Transport};
use serde_json::{json, Map, Value};

use crate::error::ActionError;
use commands::read_with_commands;
pub(crate) use finding::Finding;

/// WAL read-ahead: large, because each block is one round trip to the host.
const BLOCK_SIZE: usize = 8 << 20;

/// What reading one data dir produced.
pub(crate) struct RemoteRead {
    pub(crate) result: Result<DataDirReport, DataDirError>,
    /// Requests sent to the host for this read.
    pub(crate) round_trips: usize,
    /// Where the reader ran: `host` (the shipped reader) or `commands`.
    pub(crate) reader: &'static str,
    /// Why the shipped reader was not used on this host, when it was tried and failed.
    pub(crate) fallback: Option<shipped::Unavailable>,
}

/// Hosts (by inventory name) on which the shipped reader failed during this run: they are
/// read with shell commands from then on, without trying again.
static COMMANDS_ONLY: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn commands_only(host: &str) -> bool {
    COMMANDS_ONLY
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(host)
}

/// Reads the data dir at `data_dir` on the host behind `transport` (read-only): with the
/// reader shipped next to `etcdplay` when there is one and the host can run it, otherwise
/// with shell commands. Both give the same result for the same bytes. Under `--check`
/// (`check`) nothing is written on the host: a reader not cached there yet is not uploaded,
/// and that host is read with shell commands.
pub(crate) async fn read_remote(
    transport: &dyn Transport,
    become_: Option<&Become>,
    data_dir: &str,
    wal_dir: Option<&str>,
    check: bool,
) -> RemoteRead {
    let mut fallback = None;
    let mut tried = 0;
    if !commands_only(transport.host()) {
        if let Some(binary) = shipped::reader_of_this_run().await {
            let reader = shipped::HostReader {
                binary: &binary,
                cache_dir: shipped::HOST_CACHE_DIR,
                may_write: !check,
            };
            match reader
                .read(transport, become_, data_dir, wal_dir, BLOCK_SIZE)
                .await
            {
                Ok(read) => {
                    return RemoteRead {
                        result: read.result,
                        round_trips: read.round_trips,
                        reader: "host",
                        fallback: None,
                    }
                }
                Err(failed) => {
                    COMMANDS_ONLY
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(transport.host().to_string());
                    fallback = Some(failed.why);
                    tried = failed.round_trips;
                }
            }
        }
    }
    let mut read = read_with_commands(transport, become_, data_dir, wal_dir).await;
    read.fallback = fallback;
    read.round_trips += tried;
    read
}

/// The registered result of a check: state, members, verdict, reasons, warnings.
pub(crate) fn result_json(
    read: &Result<DataDirReport, DataDirError>,
    verdict: &Verdict,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("changed".into(), Value::Bool(false));
    let mut warnings = Vec::new();
    match read {
        Ok(report) => match &report.state {
            DataDirState::Uninitialized => {
                m.insert("state".into(), json!("uninitialized"));
                m.insert("members".into(), json!([]));
            }
            DataDirState::Initialized {
                local_id,
                members,
                warnings: w,
                ..
            } => {
                m.insert("state".into(), json!("initialized"));
                m.insert("local_id".into(), json!(format!("{local_id:x}")));
                let members: Vec<Value> = members
                    .iter()
                    .map(|x| json!({"id": format!("{:x}", x.id), "name": x.name, "peer_urls": x.peer_urls, "client_urls": x.client_urls, "is_learner": x.is_learner}))
                    .collect();
                m.insert("members".into(), Value::Array(members));
                warnings.extend(w.iter().cloned());
            }
        },
        Err(_) => {
            m.insert("state".into(), json!("unreadable"));
        }
    }
    let (name, reasons) = match verdict {
        Verdict::Pass => ("pass", Vec::new()),
        Verdict::Block { reasons } => ("block", reasons.clone()),
        Verdict::CannotVerify { reason } => ("cannot_verify", vec![reason.clone()]),
    };
    m.insert("verdict".into(), json!(name));
    m.insert("reasons".into(), json!(reasons));
    m.insert("warnings".into(), json!(warnings));
    m
}

fn list_arg(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// The plan from the task's `peer_urls` and `scheme` arguments.
fn plan_of(args: &Map<String, Value>, origin: &str) -> Result<PeerPlan, ActionError> {
    let urls = list_arg(args.get("peer_urls"));
    let scheme = match args.get("scheme").and_then(Value::as_str) {
        None | Some("") => None,
        Some("http") => Some(PeerScheme::Http),
        Some("https") => Some(PeerScheme::Https),
        Some(other) => {
            return Err(ActionError::argument(
                origin,
                format!("data_dir_scheme_check: scheme '{other}' is not http or https"),
            ))
        }
    };
    if urls.is_empty() && scheme.is_none() {
        return Err(ActionError::argument(
            origin,
            "data_dir_scheme_check needs 'peer_urls' or 'scheme'",
        ));
    }
    let mut plan = if urls.is_empty() {
        PeerPlan::scheme(PeerScheme::Http)
    } else {
        PeerPlan::advertise(urls)
    };
    if let Some(s) = scheme {
        plan.scheme = s;
    }
    Ok(plan)
}

pub(crate) async fn run(
    ctx: &HostAction<'_>,
    args: &Map<String, Value>,
) -> Result<Value, ActionError> {
    let data_dir = args
        .get("data_dir")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ActionError::argument(ctx.origin, "data_dir_scheme_check needs 'data_dir'")
        })?;
    let wal_dir = args
        .get("wal_dir")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let report_only = match args.get("mode").and_then(Value::as_str) {
        None | Some("block") => false,
        Some("report") => true,
        Some(other) => {
            return Err(ActionError::argument(
                ctx.origin,
                format!("data_dir_scheme_check: mode '{other}' is not block or report"),
            ))
        }
    };
    let plan = plan_of(args, ctx.origin)?;
    let read = read_remote(ctx.transport, ctx.become_, data_dir, wal_dir, ctx.check).await;
    let verdict = etcdplay_etcd::verdict(&read.result, &plan);
    let mut result = result_json(&read.result, &verdict);
    result.insert("data_dir".into(), json!(data_dir));
    result.insert("round_trips".into(), json!(read.round_trips));
    result.insert("reader".into(), json!(read.reader));
    if let Some(why) = &read.fallback {
        result.insert("reader_fallback".into(), json!(why.to_string()));
    }
    if !report_only && verdict != Verdict::Pass {
        let found = Finding {
            host: ctx.host,
            unit: None,
            data_dir,
            read: &read.result,
            plan: &plan,
            verdict: &verdict,
            listen_peer_urls: &[],
        };
        result.insert("failed".into(), Value::Bool(true));
        result.insert(
            "msg".into(),
            Value::String(found.message(&[ctx.host.to_string()])),
        );
    }
    Ok(Value::Object(result))
}
