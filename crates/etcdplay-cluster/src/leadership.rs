//! Handing leadership over before a member goes away: a leader that is stopped or removed
//! leaves the cluster without one for an election timeout, and writes fail meanwhile. Used by
//! `etcd_member_restart` (a rolling restart) and `etcd_member_remove`.

use etcdplay_etcd::EndpointStatus;
use serde_json::{json, Map, Value};

use crate::args::client_from_args;
use crate::error::ActionError;
use crate::operate::choose_source;

/// When the member at `own_endpoint` leads, hands its leadership to the healthy follower among
/// `others` that has applied the most, and returns that member's name; `None` when the member
/// does not lead or no follower can take over (the caller goes on: etcd then elects one).
/// `args` gives the TLS settings; the request goes to `own_endpoint` alone, because only the
/// leader accepts it.
pub(crate) async fn hand_over_leadership(
    args: &Map<String, Value>,
    origin: &str,
    own_endpoint: &str,
    others: &[EndpointStatus],
) -> Result<Option<String>, ActionError> {
    let mut own_args = args.clone();
    own_args.insert("endpoints".into(), json!([own_endpoint]));
    let own_client = client_from_args(&own_args, origin)?;
    let own_status = own_client.endpoint_status().await;
    let leads = own_status.first().is_some_and(|s| s.healthy && s.is_leader);
    if !leads {
        return Ok(None);
    }
    let Ok(i) = choose_source(others) else {
        return Ok(None);
    };
    let Some(to) = others[i].member_id else {
        return Ok(None);
    };
    own_client
        .move_leader(to)
        .await
        .map_err(ActionError::cluster(origin))?;
    Ok(Some(others[i].label()))
}
