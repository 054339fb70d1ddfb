//! `etcdplay alarm list|disarm -i INV`: the cluster's raised alarms, and clearing NOSPACE once
//! space has been reclaimed (`etcdctl alarm disarm`, with a check first). A NOSPACE alarm of a
//! member whose backend still fills more than 90 % of its quota is not disarmed (the next
//! write would raise it again): compact and `etcdplay defrag` first, or `--force`. A CORRUPT alarm is
//! never disarmed here: that member's data differs from the others', and the way out is to
//! replace it or restore, not to silence the alarm. Endpoints and TLS are found as `health`
//! finds them.

use std::time::Duration;

use clap::{Args, Subcommand};
use etcdplay_etcd::client::{ClusterClient, EndpointStatus};
use serde_json::{json, Value};

use crate::cmd::health::{self, HealthArgs};
use crate::exit::ExitCode;

/// The most of its quota a backend may fill for its NOSPACE alarm to be disarmed. etcd raises
/// the alarm when a write *would* pass the quota, so a full backend may sit just below it:
/// "below the quota" proves nothing was reclaimed; a tenth free does.
const RECLAIMED_PERCENT: i64 = 90;

/// Whether a backend of `size` bytes leaves enough of `quota` free (see [`RECLAIMED_PERCENT`]).
fn reclaimed(size: i64, quota: i64) -> bool {
    size.saturating_mul(100) <= quota.saturating_mul(RECLAIMED_PERCENT)
}

/// How long to wait for a healthy cluster after disarming.
const SETTLE: Duration = Duration::from_secs(30);

/// `etcdplay alarm ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum AlarmCommand {
    /// List the alarms raised in the cluster, with each member's backend size and quota.
    List(AlarmArgs),
    /// Clear NOSPACE alarms once the space is reclaimed (compaction, then `etcdplay defrag`).
    Disarm(AlarmArgs),
}

/// Options of `etcdplay alarm list|disarm`.
#[derive(Debug, Args)]
pub(crate) struct AlarmArgs {
    #[command(flatten)]
    target: HealthArgs,
    /// Disarm NOSPACE even where the backend still fills more than 90 % of its quota (or the
    /// quota cannot be read).
    #[arg(long)]
    force: bool,
    /// Print only a JSON document of what was found and done (stdout).
    #[arg(long)]
    json: bool,
}

/// One raised alarm and the member it belongs to.
struct Raised {
    member_id: u64,
    alarm: String,
    /// The member's status, when one of the endpoints is that member.
    status: Option<EndpointStatus>,
}

impl Raised {
    fn label(&self) -> String {
        self.status.as_ref().map_or_else(
            || format!("member {:x}", self.member_id),
            EndpointStatus::label,
        )
    }

    /// Why this alarm must not be disarmed now, if so.
    fn refusal(&self, force: bool) -> Option<String> {
        if self.alarm == "CORRUPT" {
            return Some(
                "CORRUPT is never disarmed by etcdplay: this member's data differs from the \
                 others'; replace the member (or restore from a backup)"
                    .to_string(),
            );
        }
        if self.alarm != "NOSPACE" {
            return Some(format!("{} is not an alarm etcdplay disarms", self.alarm));
        }
        if force {
            return None;
        }
        let status = self.status.as_ref();
        match (
            status.and_then(|s| s.db_size),
            status.and_then(|s| s.quota_bytes),
        ) {
            (Some(size), Some(quota)) if !reclaimed(size, quota) => Some(format!(
                "the backend still holds {size} bytes of its {quota}-byte quota (more than \
                 {RECLAIMED_PERCENT} %): compact and run `etcdplay defrag` first (or --force)"
            )),
            (Some(_), Some(_)) => None,
            _ => Some(
                "the backend's size or quota cannot be read, so reclaimed space cannot be \
                 checked (--force disarms anyway)"
                    .to_string(),
            ),
        }
    }

    fn json(&self, outcome: &str, reason: Option<&str>) -> Value {
        json!({
            "member": self.label(),
            "member_id": format!("{:x}", self.member_id),
            "alarm": self.alarm,
            "db_size": self.status.as_ref().and_then(|s| s.db_size),
            "quota_bytes": self.status.as_ref().and_then(|s| s.quota_bytes),
            "outcome": outcome,
            "reason": reason,
        })
    }
}

pub(crate) async fn run(command: AlarmCommand) -> ExitCode {
    let (args, disarm) = match command {
        AlarmCommand::List(args) => (args, false),
        AlarmCommand::Disarm(args) => (args, true),
    };
    let target = match health::plan(&args.target) {
        Ok(Some(target)) => target,
        Ok(None) => return ExitCode::ParseError,
        Err(message) => {
            eprintln!("ERROR: {message}");
            return ExitCode::BadOptions;
        }
    };
    let timeout = Duration::from_secs(args.target.timeout);
    let client = match ClusterClient::new(target.endpoints, target.tls, timeout) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return ExitCode::BadOptions;
        }
    };
    let statuses = health::with_quotas(&client, client.endpoint_status().await).await;
    let raised = match client.alarms().await {
        Ok(list) => list
            .into_iter()
            .map(|(member_id, alarm)| Raised {
                member_id,
                status: statuses
                    .iter()
                    .find(|s| s.member_id == Some(member_id))
                    .cloned(),
                alarm,
            })
            .collect::<Vec<_>>(),
        Err(e) => {
            eprintln!("ERROR: {e}");
            return ExitCode::HostUnreachable;
        }
    };
    let (entries, lines, code) = match disarm {
        false => list(&raised),
        true => disarm_all(&client, &raised, args.force).await,
    };
    if args.json {
        let doc = json!({
            "operation": if disarm { "alarm disarm" } else { "alarm list" },
            "ok": code == ExitCode::Ok,
            "exit_code": code.code(),
            "alarms": entries,
        });
        println!("{doc:#}");
    } else {
        for line in lines {
            println!("{line}");
        }
    }
    code
}

fn list(raised: &[Raised]) -> (Vec<Value>, Vec<String>, ExitCode) {
    if raised.is_empty() {
        return (
            Vec::new(),
            vec!["no alarm raised".to_string()],
            ExitCode::Ok,
        );
    }
    let entries = raised.iter().map(|r| r.json("raised", None)).collect();
    let lines = raised
        .iter()
        .map(|r| format!("{}: {}{}", r.label(), r.alarm, size_note(r)))
        .collect();
    (entries, lines, ExitCode::Ok)
}

/// " (backend 17 MB of a 16 MB quota)" when both are known.
fn size_note(r: &Raised) -> String {
    let status = r.status.as_ref();
    match (
        status.and_then(|s| s.db_size),
        status.and_then(|s| s.quota_bytes),
    ) {
        (Some(size), Some(quota)) => format!(" (backend {size} bytes of a {quota}-byte quota)"),
        _ => String::new(),
    }
}

async fn disarm_all(
    client: &ClusterClient,
    raised: &[Raised],
    force: bool,
) -> (Vec<Value>, Vec<String>, ExitCode) {
    if raised.is_empty() {
        return (
            Vec::new(),
            vec!["no alarm raised: nothing to disarm".to_string()],
            ExitCode::Ok,
        );
    }
    let (mut entries, mut lines, mut code) = (Vec::new(), Vec::new(), ExitCode::Ok);
    for r in raised {
        if let Some(reason) = r.refusal(force) {
            lines.push(format!("{}: {} NOT disarmed: {reason}", r.label(), r.alarm));
            entries.push(r.json("refused", Some(&reason)));
            code = ExitCode::HostFailed;
            continue;
        }
        match client.disarm_nospace(r.member_id).await {
            Ok(()) => {
                lines.push(format!(
                    "{}: {} disarmed{}",
                    r.label(),
                    r.alarm,
                    size_note(r)
                ));
                entries.push(r.json("disarmed", None));
            }
            Err(e) => {
                let reason = e.to_string();
                lines.push(format!("{}: {} NOT disarmed: {reason}", r.label(), r.alarm));
                entries.push(r.json("failed", Some(&reason)));
                code = ExitCode::HostFailed;
            }
        }
    }
    if code == ExitCode::Ok {
        match client.wait_healthy(SETTLE).await {
            Ok(statuses) => lines.push(format!("{} members healthy", statuses.len())),
            Err(e) => {
                lines.push(format!("after disarming: {e}"));
                code = ExitCode::HostFailed;
            }
        }
    }
    (entries, lines, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raised(alarm: &str, size: Option<i64>, quota: Option<i64>) -> Raised {
        Raised {
            member_id: 0xa1,
            alarm: alarm.to_string(),
            status: Some(EndpointStatus {
                db_size: size,
                quota_bytes: quota,
                ..EndpointStatus::failed("https://10.0.0.1:2379", String::new())
            }),
        }
    }

    #[test]
    fn nospace_is_disarmed_only_once_the_backend_is_below_its_quota() {
        assert!(raised("NOSPACE", Some(10), Some(100))
            .refusal(false)
            .is_none());
        assert!(raised("NOSPACE", Some(90), Some(100))
            .refusal(false)
            .is_none());
        assert!(raised("NOSPACE", Some(91), Some(100))
            .refusal(false)
            .is_some());
        // As observed: etcd 3.4.23 raised NOSPACE on a 16777216-byte quota at 16723968 bytes.
        let full = raised("NOSPACE", Some(16_723_968), Some(16_777_216))
            .refusal(false)
            .unwrap();
        assert!(full.contains("etcdplay defrag"), "{full}");
        assert!(raised("NOSPACE", Some(100), Some(100))
            .refusal(true)
            .is_none());
        let unknown = raised("NOSPACE", Some(10), None).refusal(false).unwrap();
        assert!(unknown.contains("--force"), "{unknown}");
    }

    #[test]
    fn corrupt_is_never_disarmed() {
        let why = raised("CORRUPT", Some(1), Some(100)).refusal(true).unwrap();
        assert!(why.contains("replace the member"), "{why}");
    }
}
