//! Cluster members as etcd's membership API reports them, in owned form, with the id shown
//! in hex the way `etcdctl member list` shows it.

/// One member of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMember {
    pub id: u64,
    /// Empty until the member has started and published its name.
    pub name: String,
    pub peer_urls: Vec<String>,
    /// Empty until the member has started.
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

impl ClusterMember {
    /// The id in lowercase hex, as etcdctl prints it.
    pub fn id_hex(&self) -> String {
        format!("{:x}", self.id)
    }
}

impl From<&etcd_client::Member> for ClusterMember {
    fn from(m: &etcd_client::Member) -> Self {
        ClusterMember {
            id: m.id(),
            name: m.name().to_string(),
            peer_urls: m.peer_urls().to_vec(),
            client_urls: m.client_urls().to_vec(),
            is_learner: m.is_learner(),
        }
    }
}

/// The result of adding a member: the new member (its name is empty until it starts) and
/// the membership after the change, which the new member's `--initial-cluster` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAdded {
    pub member: ClusterMember,
    pub members: Vec<ClusterMember>,
}

pub(crate) fn members_of(list: &[etcd_client::Member]) -> Vec<ClusterMember> {
    list.iter().map(ClusterMember::from).collect()
}
