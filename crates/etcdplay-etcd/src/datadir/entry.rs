//! Decoding of the raft entries that matter for membership: `raftpb.Entry` itself, the
//! `ConfChange` it may carry, and the "publish" requests with which a member announces its
//! name and client URLs (a v2 `PUT /0/members/<hexid>/attributes` in 3.4, an
//! `InternalRaftRequest.cluster_member_attr_set` in 3.5). Everything else in a normal entry
//! is user data and is ignored.

use super::error::Corruption;
use super::member::{parse_hex_id, MemberJson};
use super::protobuf::{fields, Value};

/// `raftpb.Entry` with the payload still borrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RaftEntry<'a> {
    pub(crate) kind: u64,
    pub(crate) term: u64,
    pub(crate) index: u64,
    pub(crate) data: &'a [u8],
}

pub(crate) const ENTRY_NORMAL: u64 = 0;
pub(crate) const ENTRY_CONF_CHANGE: u64 = 1;
pub(crate) const ENTRY_CONF_CHANGE_V2: u64 = 2;

/// Decodes `raftpb.Entry` (`1: Type, 2: Term, 3: Index, 4: Data`).
pub(crate) fn decode_entry(buf: &[u8]) -> Result<RaftEntry<'_>, Corruption> {
    let mut e = RaftEntry {
        kind: 0,
        term: 0,
        index: 0,
        data: &[],
    };
    for f in fields(buf) {
        let (n, v) = f?;
        match n {
            1 => e.kind = v.varint(n)?,
            2 => e.term = v.varint(n)?,
            3 => e.index = v.varint(n)?,
            4 => e.data = v.bytes(n)?,
            _ => {}
        }
    }
    Ok(e)
}

/// What a ConfChange does to the membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConfChange {
    Add { member: MemberJson, node_id: u64 },
    AddLearner { member: MemberJson, node_id: u64 },
    Remove { node_id: u64 },
    Update { member: MemberJson, node_id: u64 },
}

/// Decodes `raftpb.ConfChange` (`1: ID, 2: Type, 3: NodeID, 4: Context`) and its JSON context.
pub(crate) fn decode_conf_change(buf: &[u8]) -> Result<ConfChange, Corruption> {
    let (mut kind, mut node_id, mut context): (u64, u64, &[u8]) = (0, 0, &[]);
    for f in fields(buf) {
        let (n, v) = f?;
        match n {
            2 => kind = v.varint(n)?,
            3 => node_id = v.varint(n)?,
            4 => context = v.bytes(n)?,
            _ => {}
        }
    }
    let member = || -> Result<MemberJson, Corruption> {
        let m = MemberJson::parse(context).map_err(|e| Corruption::Json(e.to_string()))?;
        match m.id {
            // The context must describe the node the change is about.
            Some(id) if id != node_id => Err(Corruption::Format(format!(
                "conf change for node {node_id:x} carries member {id:x}"
            ))),
            _ => Ok(m),
        }
    };
    Ok(match kind {
        0 => ConfChange::Add {
            member: member()?,
            node_id,
        },
        1 => ConfChange::Remove { node_id },
        2 => ConfChange::Update {
            member: member()?,
            node_id,
        },
        3 => ConfChange::AddLearner {
            member: member()?,
            node_id,
        },
        other => return Err(Corruption::UnknownConfChangeType(other)),
    })
}

/// A member's published name and client URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attributes {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) client_urls: Vec<String>,
}

/// Recognises a publish request in a normal entry's data; `None` for anything else. Normal
/// entries carry arbitrary user requests, so bytes that do not decode are simply not ours.
pub(crate) fn decode_attributes(data: &[u8]) -> Option<Attributes> {
    if let Some(a) = v2_publish(data) {
        return Some(a);
    }
    // 3.4 may wrap the v2 request in InternalRaftRequest (field 2); 3.5 publishes through
    // InternalRaftRequest.cluster_member_attr_set (field 1301).
    for f in fields(data) {
        match f.ok()? {
            (2, Value::Bytes(inner)) => {
                if let Some(a) = v2_publish(inner) {
                    return Some(a);
                }
            }
            (1301, Value::Bytes(inner)) => return v3_attr_set(inner),
            _ => {}
        }
    }
    None
}

/// `etcdserverpb.Request{2: Method, 3: Path, 4: Val}` with `PUT /0/members/<id>/attributes`.
fn v2_publish(data: &[u8]) -> Option<Attributes> {
    let (mut method, mut path, mut val): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
    for f in fields(data) {
        match f.ok()? {
            (2, Value::Bytes(b)) => method = b,
            (3, Value::Bytes(b)) => path = b,
            (4, Value::Bytes(b)) => val = b,
            _ => {}
        }
    }
    if method != b"PUT" {
        return None;
    }
    let path = std::str::from_utf8(path).ok()?;
    let id = parse_hex_id(
        path.strip_prefix("/0/members/")?
            .strip_suffix("/attributes")?,
    )?;
    let m = MemberJson::parse(val).ok()?;
    Some(Attributes {
        id,
        name: m.name.unwrap_or_default(),
        client_urls: m.client_urls.unwrap_or_default(),
    })
}

/// `membershippb.ClusterMemberAttrSetRequest{1: member_ID, 2: Attributes{1: name, 2: client_urls}}`.
fn v3_attr_set(data: &[u8]) -> Option<Attributes> {
    let mut out = Attributes {
        id: 0,
        name: String::new(),
        client_urls: Vec::new(),
    };
    for f in fields(data) {
        match f.ok()? {
            (1, Value::Varint(id)) => out.id = id,
            (2, Value::Bytes(attrs)) => {
                for g in fields(attrs) {
                    match g.ok()? {
                        (1, Value::Bytes(b)) => out.name = String::from_utf8(b.to_vec()).ok()?,
                        (2, Value::Bytes(b)) => {
                            out.client_urls.push(String::from_utf8(b.to_vec()).ok()?)
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    (out.id != 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_bytes(n: u8, b: &[u8]) -> Vec<u8> {
        let mut v = vec![(n << 3) | 2, b.len() as u8];
        v.extend_from_slice(b);
        v
    }

    #[test]
    fn recognises_a_v2_publish_request() {
        let mut req = vec![0x08, 0x05];
        req.extend(field_bytes(2, b"PUT"));
        req.extend(field_bytes(3, b"/0/members/1e69c8dd07d89878/attributes"));
        req.extend(field_bytes(
            4,
            br#"{"name":"m1","clientURLs":["http://a:2379"]}"#,
        ));
        let a = decode_attributes(&req).unwrap();
        assert_eq!(a.id, 0x1e69_c8dd_07d8_9878);
        assert_eq!(a.name, "m1");
        assert_eq!(a.client_urls, vec!["http://a:2379"]);
        // The same request for raftAttributes is not a publish.
        let mut other = field_bytes(2, b"PUT");
        other.extend(field_bytes(3, b"/0/members/1/raftAttributes"));
        assert_eq!(decode_attributes(&other), None);
    }

    #[test]
    fn recognises_a_3_5_cluster_member_attr_set() {
        // InternalRaftRequest{100: header{}, 1301: {1: id, 2: {1: "m2", 2: url}}}
        let mut attrs = field_bytes(1, b"m2");
        attrs.extend(field_bytes(2, b"https://b:2379"));
        let mut set = vec![0x08, 0x2a];
        set.extend(field_bytes(2, &attrs));
        let mut req = vec![0xa2, 0x06, 0x00]; // field 100, empty header
        req.extend([0xaa, 0x51, set.len() as u8]); // field 1301, wire type 2
        req.extend(set);
        let a = decode_attributes(&req).unwrap();
        assert_eq!((a.id, a.name.as_str()), (42, "m2"));
        assert_eq!(a.client_urls, vec!["https://b:2379"]);
        // A v3 put (field 4) is user data.
        let mut put = vec![0xa2, 0x06, 0x00];
        put.extend(field_bytes(4, b"\x0a\x01k\x12\x01v"));
        assert_eq!(decode_attributes(&put), None);
    }

    #[test]
    fn conf_change_context_must_match_node_id() {
        let mut cc = vec![0x10, 0x00, 0x18, 0x07];
        cc.extend(field_bytes(4, br#"{"id":8,"peerURLs":["http://a:2380"]}"#));
        assert!(matches!(
            decode_conf_change(&cc),
            Err(Corruption::Format(_))
        ));
        let mut ok = vec![0x10, 0x01, 0x18, 0x07];
        ok.extend(field_bytes(4, b""));
        assert_eq!(
            decode_conf_change(&ok).unwrap(),
            ConfChange::Remove { node_id: 7 }
        );
        assert!(matches!(
            decode_conf_change(&[0x10, 0x09]),
            Err(Corruption::UnknownConfChangeType(9))
        ));
    }
}
