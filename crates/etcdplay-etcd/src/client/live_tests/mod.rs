//! Tests against real etcd 3.4 processes on 127.0.0.1: health and status of a 3-member
//! cluster over HTTP and over TLS with client-certificate auth, a stopped member, an
//! endpoint that accepts TCP but never answers, refused TLS clients, and the membership
//! calls.

mod harness;

use std::time::{Duration, Instant};

use harness::{other_pki, tls_from, Cluster};

use crate::client::{
    cluster_ok, render_status_table, ClientError, ClusterClient, EndpointTls, MembershipRefusal,
};

const SETTLE: Duration = Duration::from_secs(30);

async fn healthy(cluster: &Cluster, tls: Option<EndpointTls>) -> ClusterClient {
    let client =
        ClusterClient::new(cluster.endpoints(), tls, Duration::from_secs(3)).expect("client");
    if let Err(e) = client.wait_healthy(SETTLE).await {
        panic!(
            "cluster never became healthy: {e}\n{}",
            cluster.log_tail("m0")
        );
    }
    client
}

fn names(statuses: &[crate::client::EndpointStatus]) -> Vec<String> {
    statuses
        .iter()
        .map(|s| s.name.clone().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_cluster_status_then_a_member_stops() {
    let mut cluster = Cluster::start(3, false);
    let client = healthy(&cluster, None).await;
    let statuses = client.endpoint_status().await;
    assert!(cluster_ok(&statuses), "{statuses:#?}");
    assert_eq!(names(&statuses), ["m0", "m1", "m2"]);
    assert_eq!(statuses.iter().filter(|s| s.is_leader).count(), 1);
    let leader = statuses
        .iter()
        .find(|s| s.is_leader)
        .and_then(|s| s.member_id);
    for s in &statuses {
        assert_eq!(s.version.as_deref(), Some("3.4.23"), "{s:?}");
        assert!(
            s.healthy && s.error.is_none() && s.latency.is_some(),
            "{s:?}"
        );
        assert_eq!(s.leader_id, leader, "every member follows the same leader");
        assert!(
            s.member_id.is_some() && s.raft_term.unwrap_or(0) >= 2,
            "{s:?}"
        );
    }
    let members = client.member_list().await.expect("member list");
    let mut listed: Vec<(String, String)> = members
        .iter()
        .map(|m| (m.name.clone(), m.id_hex()))
        .collect();
    listed.sort();
    let mut seen: Vec<(String, String)> = statuses
        .iter()
        .map(|s| {
            (
                s.name.clone().unwrap_or_default(),
                s.member_id_hex().unwrap_or_default(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(listed, seen, "status ids match the member list");
    let table = render_status_table(&statuses);
    assert!(
        table.contains(" m1 |") && table.contains(&cluster.members[2].client_url),
        "{table}"
    );

    // Stop a follower: its endpoint must turn unhealthy within the timeout, the rest stays up.
    let victim = statuses
        .iter()
        .position(|s| !s.is_leader)
        .expect("a follower");
    cluster.members[victim].stop();
    let timeout = Duration::from_secs(2);
    let client = ClusterClient::new(cluster.endpoints(), None, timeout).expect("client");
    let started = Instant::now();
    let after = client.endpoint_status().await;
    assert!(
        started.elapsed() < timeout + Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert!(!cluster_ok(&after));
    let down = &after[victim];
    assert!(!down.healthy && down.error.is_some(), "{down:?}");
    assert_eq!(
        down.name.as_deref(),
        Some(cluster.members[victim].name.as_str()),
        "named from the member list"
    );
    assert_eq!(down.member_id, statuses[victim].member_id);
    for (i, s) in after.iter().enumerate().filter(|(i, _)| *i != victim) {
        assert!(s.healthy, "member {i} should stay healthy: {s:?}");
    }
    let e = client
        .wait_healthy(Duration::from_secs(2))
        .await
        .expect_err("not healthy");
    match e {
        ClientError::NotHealthy { problems, last, .. } => {
            assert_eq!(last.len(), 3);
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains(&cluster.members[victim].name)),
                "{problems:?}"
            );
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn silent_endpoint_times_out() {
    // Accepts TCP connections (the kernel completes them) but never speaks.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let timeout = Duration::from_millis(1500);
    let client = ClusterClient::new(vec![url.clone()], None, timeout).expect("client");
    let started = Instant::now();
    let statuses = client.endpoint_status().await;
    let took = started.elapsed();
    assert!(
        took >= timeout - Duration::from_millis(100) && took < timeout + Duration::from_secs(1),
        "{took:?}"
    );
    assert_eq!(statuses.len(), 1);
    assert!(
        !statuses[0].healthy
            && statuses[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("1.5s")),
        "{statuses:?}"
    );
    assert!(matches!(
        client.member_list().await,
        Err(ClientError::Unreachable { .. })
    ));
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_cluster_with_client_cert_auth() {
    let cluster = Cluster::start(3, true);
    let client = healthy(&cluster, Some(cluster.client_tls())).await;
    let statuses = client.endpoint_status().await;
    assert!(cluster_ok(&statuses), "{statuses:#?}");
    assert_eq!(names(&statuses), ["m0", "m1", "m2"]);
    assert!(statuses
        .iter()
        .all(|s| s.endpoint.starts_with("https://127.0.0.1:")));

    let other = other_pki(cluster.dir.path());
    let timeout = Duration::from_secs(3);
    let real = cluster.client_tls();

    // Trusts the cluster CA but presents a certificate from another CA: etcd refuses it.
    let foreign_cert = tls_from(&other);
    let wrong_identity = EndpointTls {
        ca_pem: real.ca_pem.clone(),
        ..foreign_cert
    };
    let refused =
        ClusterClient::new(cluster.endpoints(), Some(wrong_identity), timeout).expect("client");
    let statuses = refused.endpoint_status().await;
    assert!(
        statuses
            .iter()
            .all(|s| !s.healthy && s.error.is_some() && s.version.is_none()),
        "{statuses:#?}"
    );

    // Valid client certificate, but the server is checked against another CA: we refuse it.
    let wrong_ca = EndpointTls {
        ca_pem: other.ca_pem().expect("ca").to_string(),
        ..cluster.client_tls()
    };
    let distrusting =
        ClusterClient::new(cluster.endpoints(), Some(wrong_ca), timeout).expect("client");
    let statuses = distrusting.endpoint_status().await;
    for s in &statuses {
        assert!(!s.healthy && s.version.is_none(), "{s:?}");
        let e = s.error.as_deref().unwrap_or_default().to_ascii_lowercase();
        assert!(e.contains("certificate") || e.contains("issuer"), "{e}");
    }

    // Plain HTTP against the TLS port.
    let plain: Vec<String> = cluster
        .endpoints()
        .iter()
        .map(|e| e.replacen("https://", "http://", 1))
        .collect();
    let plain = ClusterClient::new(plain, None, timeout).expect("client");
    let statuses = plain.endpoint_status().await;
    assert!(
        statuses
            .iter()
            .all(|s| !s.healthy && s.error.is_some() && s.version.is_none()),
        "{statuses:#?}"
    );
    assert!(!cluster_ok(&statuses));

    // TLS material with an http:// endpoint is a usage error, found before connecting.
    let mixed = ClusterClient::new(
        vec!["http://127.0.0.1:2379".into()],
        Some(cluster.client_tls()),
        timeout,
    );
    assert!(matches!(mixed, Err(ClientError::BadEndpoint { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_add_update_remove_round_trip() {
    let cluster = Cluster::start(3, false);
    let client = healthy(&cluster, None).await;
    let before = client.member_list().await.expect("list");
    assert_eq!(before.len(), 3);

    // An unstarted learner: it joins the membership without a name and cannot vote.
    let peer = "http://127.0.0.1:1".to_string();
    // etcd refuses changes as "unhealthy cluster" until every peer has been connected for
    // 5 s; a fresh cluster is in that window, so retry on exactly that refusal.
    let deadline = Instant::now() + Duration::from_secs(20);
    let added = loop {
        match client.member_add(std::slice::from_ref(&peer), true).await {
            Err(ClientError::Refused {
                kind: MembershipRefusal::UnhealthyCluster,
                ..
            }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => break other.expect("add learner"),
        }
    };
    assert!(
        added.member.is_learner && added.member.name.is_empty(),
        "{added:?}"
    );
    assert_eq!(added.member.peer_urls, std::slice::from_ref(&peer));
    assert_eq!(added.members.len(), 4);
    assert!(added.members.iter().any(|m| m.id == added.member.id));

    // The same peer URL twice is refused, with a typed reason. (Within the same second etcd
    // would first trip over the id, derived from the URLs and the time in seconds.)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = client
        .member_add(std::slice::from_ref(&peer), true)
        .await
        .expect_err("duplicate");
    assert!(
        matches!(
            again,
            ClientError::Refused {
                kind: MembershipRefusal::PeerUrlExists,
                ..
            }
        ),
        "{again}"
    );
    // A learner that never started cannot be promoted.
    let promote = client
        .member_promote(added.member.id)
        .await
        .expect_err("not in sync");
    assert!(
        matches!(
            promote,
            ClientError::Refused {
                kind: MembershipRefusal::LearnerNotReady,
                ..
            }
        ),
        "{promote}"
    );

    let moved = "http://127.0.0.1:2".to_string();
    let updated = client
        .member_update(added.member.id, std::slice::from_ref(&moved))
        .await
        .expect("update");
    let m = updated
        .iter()
        .find(|m| m.id == added.member.id)
        .expect("still there");
    assert_eq!(m.peer_urls, [moved]);

    let after = client.member_remove(added.member.id).await.expect("remove");
    assert_eq!(after.len(), 3);
    let mut ids: Vec<u64> = client
        .member_list()
        .await
        .expect("list")
        .iter()
        .map(|m| m.id)
        .collect();
    let mut want: Vec<u64> = before.iter().map(|m| m.id).collect();
    ids.sort_unstable();
    want.sort_unstable();
    assert_eq!(ids, want);

    let gone = client
        .member_remove(added.member.id)
        .await
        .expect_err("already removed");
    assert!(
        matches!(
            gone,
            ClientError::Refused {
                kind: MembershipRefusal::MemberNotFound,
                ..
            }
        ),
        "{gone}"
    );
    assert!(client.wait_healthy(Duration::from_secs(10)).await.is_ok());
}
