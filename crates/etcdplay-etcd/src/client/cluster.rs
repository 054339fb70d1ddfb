//! [`ClusterClient`]: the cluster as a list of endpoints. Health is judged per endpoint
//! with one connection each, in parallel; membership changes go to the first endpoint that
//! accepts a connection, with typed errors for the refusals callers must handle (joins and
//! the HTTP→HTTPS peer migration build on them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{AlarmAction, AlarmOptions, AlarmType, Client, MemberAddOptions};

use crate::client::endpoint::EndpointUrl;
use crate::client::error::{rpc_error, ClientError, MembershipRefusal};
use crate::client::member::{members_of, ClusterMember, MemberAdded};
use crate::client::metrics;
use crate::client::probe::{self, Probe};
use crate::client::status::{cluster_problems, serving_problems, EndpointStatus};
use crate::client::tls::{install_crypto_provider, EndpointTls};

/// How often [`ClusterClient::wait_healthy`] polls.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// An etcd cluster reached through its client URLs.
#[derive(Debug, Clone)]
pub struct ClusterClient {
    endpoints: Vec<EndpointUrl>,
    tls: Option<Arc<EndpointTls>>,
    timeout: Duration,
}

impl ClusterClient {
    /// Checks the endpoints and TLS material; connects to nothing yet. With `tls`, every
    /// endpoint must be `https://`; without, `http://`. `timeout` bounds each endpoint's
    /// probe and each call.
    pub fn new(
        endpoints: Vec<String>,
        tls: Option<EndpointTls>,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        if endpoints.is_empty() {
            return Err(ClientError::NoEndpoints);
        }
        if let Some(tls) = &tls {
            tls.validate()?;
        }
        let parsed = endpoints
            .iter()
            .map(|e| EndpointUrl::parse(e, tls.is_some()))
            .collect::<Result<Vec<_>, _>>()?;
        install_crypto_provider();
        Ok(ClusterClient {
            endpoints: parsed,
            tls: tls.map(Arc::new),
            timeout,
        })
    }

    /// The endpoint URLs, normalised.
    pub fn endpoints(&self) -> Vec<String> {
        self.endpoints.iter().map(|e| e.url.clone()).collect()
    }

    /// The checked endpoints.
    pub(crate) fn endpoint_urls(&self) -> &[EndpointUrl] {
        &self.endpoints
    }

    /// The TLS material, shared.
    pub(crate) fn tls(&self) -> Option<Arc<EndpointTls>> {
        self.tls.clone()
    }

    /// The per-endpoint timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Probes every endpoint in parallel, one connection each; returns in endpoint order.
    /// A dead endpoint comes back unhealthy within the timeout.
    pub async fn endpoint_status(&self) -> Vec<EndpointStatus> {
        let tasks: Vec<_> = self
            .endpoints
            .iter()
            .map(|ep| tokio::spawn(probe::probe(ep.clone(), self.tls.clone(), self.timeout)))
            .collect();
        let mut probes = Vec::with_capacity(tasks.len());
        for (task, ep) in tasks.into_iter().zip(&self.endpoints) {
            probes.push(task.await.unwrap_or_else(|e| Probe {
                status: EndpointStatus::failed(&ep.url, format!("probe task failed: {e}")),
                members: None,
            }));
        }
        name_members(&self.endpoints, probes)
    }

    /// Polls until every endpoint is healthy and exactly one leader exists, or `timeout`
    /// passes ([`ClientError::NotHealthy`] with the last poll). Polls at least once; the
    /// last poll may overrun `timeout` by up to the client's per-endpoint timeout.
    pub async fn wait_healthy(
        &self,
        timeout: Duration,
    ) -> Result<Vec<EndpointStatus>, ClientError> {
        self.wait_until(timeout, cluster_problems).await
    }

    /// Like [`Self::wait_healthy`], but a raised alarm does not count against a member that
    /// serves ([`EndpointStatus::serving`]): the wait of work that clears an alarm.
    pub async fn wait_serving(
        &self,
        timeout: Duration,
    ) -> Result<Vec<EndpointStatus>, ClientError> {
        self.wait_until(timeout, serving_problems).await
    }

    async fn wait_until(
        &self,
        timeout: Duration,
        problems_of: fn(&[EndpointStatus]) -> Vec<String>,
    ) -> Result<Vec<EndpointStatus>, ClientError> {
        let start = Instant::now();
        loop {
            let statuses = self.endpoint_status().await;
            let problems = problems_of(&statuses);
            if problems.is_empty() {
                return Ok(statuses);
            }
            if start.elapsed() + POLL_INTERVAL >= timeout {
                return Err(ClientError::NotHealthy {
                    after: start.elapsed(),
                    problems,
                    last: statuses,
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The cluster's members.
    pub async fn member_list(&self) -> Result<Vec<ClusterMember>, ClientError> {
        let (mut client, endpoint) = self.any_client("member list").await?;
        let list = self
            .call("member list", &endpoint, client.member_list())
            .await?;
        Ok(members_of(list.members()))
    }

    /// Adds a member (as a learner when `learner`) with `peer_urls`. etcd refuses changes
    /// with [`MembershipRefusal::UnhealthyCluster`] until every voting member has been
    /// connected to the others for 5 s (so right after a start or restart): retry on it.
    pub async fn member_add(
        &self,
        peer_urls: &[String],
        learner: bool,
    ) -> Result<MemberAdded, ClientError> {
        const OP: &str = "member add";
        let (mut client, endpoint) = self.any_client(OP).await?;
        let options = if learner {
            MemberAddOptions::new().with_is_learner()
        } else {
            MemberAddOptions::new()
        };
        let resp = self
            .call(OP, &endpoint, client.member_add(peer_urls, Some(options)))
            .await?;
        let member = resp
            .member()
            .map(ClusterMember::from)
            .ok_or_else(|| ClientError::Rpc {
                op: OP,
                endpoint: endpoint.clone(),
                message: "etcd answered without the new member".into(),
            })?;
        Ok(MemberAdded {
            member,
            members: members_of(resp.member_list()),
        })
    }

    /// Promotes learner `id` to a voting member; returns the membership after the change.
    pub async fn member_promote(&self, id: u64) -> Result<Vec<ClusterMember>, ClientError> {
        let (mut client, endpoint) = self.any_client("member promote").await?;
        let resp = self
            .call("member promote", &endpoint, client.member_promote(id))
            .await?;
        Ok(members_of(resp.members()))
    }

    /// Replaces the peer URLs of member `id`; returns the membership after the change.
    pub async fn member_update(
        &self,
        id: u64,
        peer_urls: &[String],
    ) -> Result<Vec<ClusterMember>, ClientError> {
        let (mut client, endpoint) = self.any_client("member update").await?;
        let resp = self
            .call(
                "member update",
                &endpoint,
                client.member_update(id, peer_urls.to_vec()),
            )
            .await?;
        Ok(members_of(resp.members()))
    }

    /// Removes member `id`; returns the membership after the change.
    pub async fn member_remove(&self, id: u64) -> Result<Vec<ClusterMember>, ClientError> {
        let (mut client, endpoint) = self.any_client("member remove").await?;
        let resp = self
            .call("member remove", &endpoint, client.member_remove(id))
            .await?;
        Ok(members_of(resp.members()))
    }

    /// Each endpoint's backend quota in endpoint order, read from its `/metrics` (etcd's API
    /// does not report it); an endpoint that did not say gives `None`.
    pub async fn backend_quotas(&self) -> Vec<Option<i64>> {
        let tasks: Vec<_> = self
            .endpoints
            .iter()
            .map(|ep| {
                let (ep, tls, timeout) = (ep.clone(), self.tls.clone(), self.timeout);
                tokio::spawn(async move { metrics::quota(&ep, tls.as_deref(), timeout).await })
            })
            .collect();
        let mut quotas = Vec::with_capacity(tasks.len());
        for task in tasks {
            quotas.push(task.await.ok().and_then(Result::ok));
        }
        quotas
    }

    /// Every alarm raised in the cluster: (member id, alarm name such as `NOSPACE`).
    pub async fn alarms(&self) -> Result<Vec<(u64, String)>, ClientError> {
        const OP: &str = "alarm list";
        let (mut client, endpoint) = self.any_client(OP).await?;
        let resp = self
            .call(
                OP,
                &endpoint,
                client.alarm(AlarmAction::Get, AlarmType::None, None),
            )
            .await?;
        Ok(resp
            .alarms()
            .iter()
            .map(|a| (a.member_id(), a.alarm().as_str_name().to_string()))
            .collect())
    }

    /// Clears the NOSPACE alarm of member `id` (`etcdctl alarm disarm` for one alarm).
    pub async fn disarm_nospace(&self, id: u64) -> Result<(), ClientError> {
        const OP: &str = "alarm disarm";
        let (mut client, endpoint) = self.any_client(OP).await?;
        let mut options = AlarmOptions::new();
        options.with_member(id);
        self.call(
            OP,
            &endpoint,
            client.alarm(AlarmAction::Deactivate, AlarmType::Nospace, Some(options)),
        )
        .await?;
        Ok(())
    }

    /// Defragments the member at `endpoint` (one of this client's), waiting up to `timeout`:
    /// the member serves nothing meanwhile, so callers defragment one member at a time.
    pub async fn defragment(&self, endpoint: &str, timeout: Duration) -> Result<(), ClientError> {
        const OP: &str = "defragment";
        let ep = self
            .endpoints
            .iter()
            .find(|e| e.url == endpoint.trim_end_matches('/'))
            .ok_or_else(|| ClientError::Rpc {
                op: OP,
                endpoint: endpoint.to_string(),
                message: "not an endpoint of this client".into(),
            })?;
        let mut client = probe::connect(ep, self.tls.as_deref(), self.timeout)
            .await
            .map_err(|e| ClientError::Rpc {
                op: OP,
                endpoint: ep.url.clone(),
                message: e.to_string(),
            })?;
        match tokio::time::timeout(timeout, client.defragment()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(ClientError::Rpc {
                op: OP,
                endpoint: ep.url.clone(),
                message: rpc_error(&error),
            }),
            Err(_) => Err(ClientError::Timeout {
                op: OP,
                endpoint: ep.url.clone(),
                after: timeout,
            }),
        }
    }

    /// Asks the leader to hand its leadership to member `to` (etcdctl `move-leader`). Only the
    /// leader accepts it: the first endpoint that answers must be the leader's.
    pub async fn move_leader(&self, to: u64) -> Result<(), ClientError> {
        let (mut client, endpoint) = self.any_client("move leader").await?;
        self.call("move leader", &endpoint, client.move_leader(to))
            .await?;
        Ok(())
    }

    /// A connection to the first endpoint, in order, that answers a status call. Changes
    /// are sent once to one endpoint: retrying a member add elsewhere could add it twice.
    async fn any_client(&self, op: &'static str) -> Result<(Client, String), ClientError> {
        let mut errors = Vec::new();
        for ep in &self.endpoints {
            let attempt = async {
                let mut client = probe::connect(ep, self.tls.as_deref(), self.timeout).await?;
                client
                    .status()
                    .await
                    .map_err(|error| probe::ProbeError::Call {
                        what: "status",
                        error,
                    })?;
                Ok::<_, probe::ProbeError>(client)
            };
            match tokio::time::timeout(self.timeout, attempt).await {
                Ok(Ok(client)) => return Ok((client, ep.url.clone())),
                Ok(Err(e)) => errors.push((ep.url.clone(), e.to_string())),
                Err(_) => errors.push((
                    ep.url.clone(),
                    format!("no answer within {}", probe::secs(self.timeout)),
                )),
            }
        }
        Err(ClientError::Unreachable { op, errors })
    }

    /// Runs one call with the timeout and turns etcd's refusals into typed errors.
    async fn call<T>(
        &self,
        op: &'static str,
        endpoint: &str,
        fut: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, ClientError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                let message = rpc_error(&e);
                let endpoint = endpoint.to_string();
                Err(match MembershipRefusal::from_message(&message) {
                    Some(kind) => ClientError::Refused {
                        op,
                        endpoint,
                        kind,
                        message,
                    },
                    None => ClientError::Rpc {
                        op,
                        endpoint,
                        message,
                    },
                })
            }
            Err(_) => Err(ClientError::Timeout {
                op,
                endpoint: endpoint.to_string(),
                after: self.timeout,
            }),
        }
    }
}

/// Fills in member names (and, for endpoints that did not answer, the member id) from the
/// member lists the live endpoints returned.
fn name_members(endpoints: &[EndpointUrl], probes: Vec<Probe>) -> Vec<EndpointStatus> {
    let mut known: Vec<ClusterMember> = Vec::new();
    for list in probes.iter().filter_map(|p| p.members.as_ref()) {
        for m in list {
            if !known.iter().any(|k| k.id == m.id) {
                known.push(m.clone());
            }
        }
    }
    probes
        .into_iter()
        .zip(endpoints)
        .map(|(p, ep)| {
            let mut s = p.status;
            let member = match s.member_id {
                Some(id) => known.iter().find(|m| m.id == id),
                None => known
                    .iter()
                    .find(|m| m.client_urls.iter().any(|u| ep.matches(u))),
            };
            if let Some(m) = member {
                s.member_id = Some(m.id);
                s.name = Some(m.name.clone());
            }
            s
        })
        .collect()
}
