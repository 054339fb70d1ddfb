//! `.snap` files: `snappb.Snapshot{1: crc, 2: data}` wrapping `raftpb.Snapshot{1: data,
//! 2: metadata{2: index, 3: term}}`, whose data is the v2 store as JSON. The newest file whose
//! CRC verifies is the base membership etcd 3.4/3.5 restore from. Members are read only from
//! the store tree (`Root` → `0` → `members` / `removed_members`); the JSON's watcher event
//! history also mentions members, with stale URLs, and is deliberately not consulted.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use super::error::{Corruption, DataDirError};
use super::member::{parse_hex_id, Member, MemberJson};
use super::protobuf::fields;
use super::source::DataDirSource;

/// A `.snap` larger than this is not a membership snapshot we can sensibly load.
const MAX_SNAP_BYTES: u64 = 512 * 1024 * 1024;

/// The membership in one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SnapMembership {
    pub(crate) path: String,
    pub(crate) index: u64,
    pub(crate) term: u64,
    /// Live members (removed ones already subtracted), by id.
    pub(crate) members: BTreeMap<u64, Member>,
    pub(crate) removed: BTreeSet<u64>,
}

/// Finds the newest valid `.snap` in `dir`; broken ones are skipped with a warning, as etcd
/// itself does (it renames them `.broken` and tries the next).
pub(crate) fn newest_valid(
    src: &dyn DataDirSource,
    dir: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<SnapMembership>, DataDirError> {
    let names = src
        .list_dir(dir)
        .map_err(|source| DataDirError::Source {
            path: dir.to_string(),
            source,
        })?
        .unwrap_or_default();
    let mut snaps: Vec<String> = names
        .into_iter()
        .filter(|n| n.strip_suffix(".snap").is_some_and(valid_snap_stem))
        .collect();
    // Names are zero-padded hex term-index, so the name order is the age order.
    snaps.sort();
    for name in snaps.iter().rev() {
        let path = format!("{dir}/{name}");
        match read_snap(src, &path) {
            Ok(s) => return Ok(Some(s)),
            Err(e @ DataDirError::Source { .. }) => return Err(e),
            Err(e) => warnings.push(format!("skipping unusable snapshot: {e}")),
        }
    }
    Ok(None)
}

fn valid_snap_stem(stem: &str) -> bool {
    stem.len() == 33
        && stem.as_bytes()[16] == b'-'
        && stem
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 16 || b.is_ascii_hexdigit())
}

/// Reads and decodes one `.snap` file.
pub(crate) fn read_snap(
    src: &dyn DataDirSource,
    path: &str,
) -> Result<SnapMembership, DataDirError> {
    let io = |source| DataDirError::Source {
        path: path.to_string(),
        source,
    };
    let corrupt = |offset: u64, problem: Corruption| DataDirError::Corrupt {
        path: path.to_string(),
        offset,
        problem,
    };
    let size = src.file_size(path).map_err(io)?;
    if size > MAX_SNAP_BYTES {
        return Err(corrupt(
            0,
            Corruption::Format(format!("{size} bytes is too large for a .snap")),
        ));
    }
    let mut buf = vec![0u8; size as usize];
    let n = src.read_at(path, 0, &mut buf).map_err(io)?;
    buf.truncate(n);
    if buf.is_empty() {
        return Err(corrupt(0, Corruption::Truncated));
    }

    let (mut crc, mut data): (Option<u32>, Option<&[u8]>) = (None, None);
    for f in fields(&buf) {
        let (n, v) = f.map_err(|e| corrupt(0, e.into()))?;
        match n {
            1 => crc = Some(v.varint(n).map_err(|e| corrupt(0, e.into()))? as u32),
            2 => data = Some(v.bytes(n).map_err(|e| corrupt(0, e.into()))?),
            _ => {}
        }
    }
    let (Some(crc), Some(data)) = (crc, data) else {
        return Err(corrupt(
            0,
            Corruption::Format("no crc or data field".into()),
        ));
    };
    let computed = crc32c::crc32c(data);
    if computed != crc {
        return Err(corrupt(
            0,
            Corruption::CrcMismatch {
                stored: crc,
                computed,
            },
        ));
    }

    let (mut store, mut index, mut term): (&[u8], u64, u64) = (&[], 0, 0);
    for f in fields(data) {
        let (n, v) = f.map_err(|e| corrupt(0, e.into()))?;
        match n {
            1 => store = v.bytes(n).map_err(|e| corrupt(0, e.into()))?,
            2 => {
                let meta = v.bytes(n).map_err(|e| corrupt(0, e.into()))?;
                for g in fields(meta) {
                    let (m, w) = g.map_err(|e| corrupt(0, e.into()))?;
                    match m {
                        2 => index = w.varint(m).map_err(|e| corrupt(0, e.into()))?,
                        3 => term = w.varint(m).map_err(|e| corrupt(0, e.into()))?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let (members, removed) = store_membership(store).map_err(|p| corrupt(0, p))?;
    Ok(SnapMembership {
        path: path.to_string(),
        index,
        term,
        members,
        removed,
    })
}

/// Extracts live members and removed ids from the v2 store JSON.
fn store_membership(store: &[u8]) -> Result<(BTreeMap<u64, Member>, BTreeSet<u64>), Corruption> {
    let json: Json = serde_json::from_slice(store).map_err(|e| Corruption::Json(e.to_string()))?;
    let cluster = child(json.get("Root"), "0");
    let mut removed = BTreeSet::new();
    if let Some(Json::Object(ids)) =
        child(cluster, "removed_members").and_then(|n| n.get("Children"))
    {
        for hex in ids.keys() {
            removed.insert(parse_hex_id(hex).ok_or_else(|| bad_id(hex))?);
        }
    }
    let mut members = BTreeMap::new();
    if let Some(Json::Object(ids)) = child(cluster, "members").and_then(|n| n.get("Children")) {
        for (hex, node) in ids {
            let id = parse_hex_id(hex).ok_or_else(|| bad_id(hex))?;
            if removed.contains(&id) {
                continue;
            }
            let raft = leaf_json(node, "raftAttributes")?.unwrap_or_default();
            let attrs = leaf_json(node, "attributes")?.unwrap_or_default();
            members.insert(
                id,
                Member {
                    id,
                    name: attrs.name.unwrap_or_default(),
                    peer_urls: raft.peer_urls.unwrap_or_default(),
                    client_urls: attrs.client_urls.unwrap_or_default(),
                    is_learner: raft.is_learner.unwrap_or(false),
                },
            );
        }
    }
    Ok((members, removed))
}

fn bad_id(hex: &str) -> Corruption {
    Corruption::Format(format!("store has member key {hex:?}, not a hex id"))
}

/// `node.Children[name]`, if present.
fn child<'a>(node: Option<&'a Json>, name: &str) -> Option<&'a Json> {
    node?.get("Children")?.get(name)
}

/// Parses the JSON string stored in `node.Children[name].Value`.
fn leaf_json(node: &Json, name: &str) -> Result<Option<MemberJson>, Corruption> {
    match child(Some(node), name).and_then(|n| n.get("Value")) {
        Some(Json::String(s)) => MemberJson::parse(s.as_bytes())
            .map(Some)
            .map_err(|e| Corruption::Json(e.to_string())),
        Some(_) => Err(Corruption::Format(format!(
            "store value {name} is not a string"
        ))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_tree_wins_over_event_history() {
        let store = br#"{"Root":{"Children":{"0":{"Children":{
            "members":{"Children":{
              "a":{"Children":{"raftAttributes":{"Value":"{\"peerURLs\":[\"https://x:2380\"]}"},
                               "attributes":{"Value":"{\"name\":\"n\",\"clientURLs\":[\"http://x:2379\"]}"}}},
              "b":{"Children":{"raftAttributes":{"Value":"{\"peerURLs\":[\"http://y:2380\"]}"}}}}},
            "removed_members":{"Children":{"b":{}}}}}}},
          "WatcherHub":{"EventHistory":{"Queue":{"Events":[{"node":{"key":"/0/members/a/raftAttributes",
            "value":"{\"peerURLs\":[\"http://x:2380\"]}"}}]}}}}"#;
        let (members, removed) = store_membership(store).unwrap();
        assert_eq!(removed, BTreeSet::from([0xb]));
        assert_eq!(members.len(), 1);
        assert_eq!(members[&0xa].peer_urls, vec!["https://x:2380"]);
        assert_eq!(members[&0xa].name, "n");
    }

    #[test]
    fn snap_names_must_be_term_index() {
        assert!(valid_snap_stem("0000000000000009-0000000000000065"));
        assert!(!valid_snap_stem("0000000000000009_0000000000000065"));
        assert!(!valid_snap_stem("db"));
    }
}
