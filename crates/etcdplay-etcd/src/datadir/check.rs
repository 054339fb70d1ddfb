//! The data-dir algorithm (see the project's etcd data-dir notes, steps 1–5): no WAL means
//! uninitialised; otherwise start from the newest valid `.snap`, replay the WAL's conf changes
//! and publish requests above the snapshot index, then consult the bbolt backend. Anything the
//! reader cannot interpret (a ConfChangeV2, undecodable conf change, broken CRC chain) is an
//! error, so callers fail closed.

use std::collections::{BTreeMap, BTreeSet};

use super::bbolt::{Bolt, BoltError};
use super::entry::{decode_conf_change, ConfChange};
use super::error::{Corruption, DataDirError};
use super::member::{hex_id, parse_hex_id, Member, MemberJson};
use super::report::{BackendUse, DataDirReport, DataDirState, ReadOptions};
use super::snap;
use super::source::DataDirSource;
use super::wal::{self, Relevant};

const SNAP_DIR: &str = "member/snap";
const DB_PATH: &str = "member/snap/db";
const DEFAULT_WAL_DIR: &str = "member/wal";

/// Reads the membership a data dir will restore. Never panics on any file content.
pub fn read_data_dir(
    src: &dyn DataDirSource,
    opts: &ReadOptions,
) -> Result<DataDirReport, DataDirError> {
    let mut warnings = Vec::new();
    let wal_dir = opts.wal_dir.as_deref().unwrap_or(DEFAULT_WAL_DIR);
    let Some(segments) = wal::list_segments(src, wal_dir, &mut warnings)? else {
        return Ok(DataDirReport {
            state: DataDirState::Uninitialized,
        });
    };

    let snapshot = snap::newest_valid(src, SNAP_DIR, &mut warnings)?;
    let base_index = snapshot.as_ref().map_or(0, |s| s.index);
    let needed = wal::needed_segments(&segments, base_index);
    let scan = wal::scan(src, wal_dir, needed, base_index, opts.block_size)?;
    let (mut members, mut removed) = match snapshot {
        Some(s) => {
            if !scan.snapshot_markers.contains(&s.index) {
                warnings.push(format!(
                    "{}: the WAL has no snapshot marker for index {}; etcd may refuse to start",
                    s.path, s.index
                ));
            }
            (s.members, s.removed)
        }
        None => (BTreeMap::new(), BTreeSet::new()),
    };

    for (index, (at, relevant)) in &scan.entries {
        let index = *index;
        match relevant {
            Relevant::ConfChangeV2 => {
                return Err(DataDirError::ConfChangeV2 {
                    path: at.path.clone(),
                    offset: at.offset,
                    index,
                })
            }
            Relevant::ConfChange(bytes) => {
                let cc = decode_conf_change(bytes).map_err(|problem| DataDirError::BadEntry {
                    path: at.path.clone(),
                    offset: at.offset,
                    index,
                    problem,
                })?;
                if index > scan.commit {
                    warnings.push(format!(
                        "conf change at index {index} is not committed yet (commit {})",
                        scan.commit
                    ));
                }
                apply(&mut members, &mut removed, cc, index, &mut warnings);
            }
            Relevant::Attributes(a) => {
                if let Some(m) = members.get_mut(&a.id) {
                    m.name.clone_from(&a.name);
                    m.client_urls.clone_from(&a.client_urls);
                }
            }
        }
    }

    match opts.backend {
        BackendUse::Skip => {}
        BackendUse::CrossCheck => match backend_members(src) {
            Ok(Some(db)) => cross_check(&members, &db, &mut warnings),
            Ok(None) => {}
            Err(e) => warnings.push(format!("{DB_PATH}: not cross-checked: {e}")),
        },
        BackendUse::Primary => {
            let db = backend_members(src)
                .map_err(backend_error)?
                .ok_or_else(|| DataDirError::Backend {
                    path: DB_PATH.into(),
                    problem: Corruption::Format("no members bucket".into()),
                })?;
            cross_check(&db, &members, &mut warnings);
            members = db;
        }
    }

    Ok(DataDirReport {
        state: DataDirState::Initialized {
            local_id: scan.local_id,
            cluster_id: scan.cluster_id,
            members: members.into_values().collect(),
            warnings,
        },
    })
}

fn backend_error(e: BoltError) -> DataDirError {
    match e {
        BoltError::Source(source) => DataDirError::Source {
            path: DB_PATH.into(),
            source,
        },
        BoltError::Corrupt { offset, problem } => DataDirError::Corrupt {
            path: DB_PATH.into(),
            offset,
            problem,
        },
    }
}

/// Applies one conf change the way etcd's `RaftCluster` does.
fn apply(
    members: &mut BTreeMap<u64, Member>,
    removed: &mut BTreeSet<u64>,
    cc: ConfChange,
    index: u64,
    warnings: &mut Vec<String>,
) {
    let new_member = |node_id: u64, m: MemberJson, learner: bool| Member {
        id: node_id,
        name: m.name.unwrap_or_default(),
        peer_urls: m.peer_urls.unwrap_or_default(),
        client_urls: m.client_urls.unwrap_or_default(),
        is_learner: learner,
    };
    match cc {
        ConfChange::Add { member, node_id } | ConfChange::AddLearner { member, node_id }
            if removed.contains(&node_id) =>
        {
            let _ = member;
            warnings.push(format!(
                "index {index}: re-adding removed member {} is refused by etcd; ignored",
                hex_id(node_id)
            ));
        }
        ConfChange::Add { member, node_id } => match members.get_mut(&node_id) {
            // Adding an existing learner as a voter is how etcd encodes a promotion.
            Some(existing) if existing.is_learner => existing.is_learner = false,
            _ => {
                let learner = member.is_learner.unwrap_or(false);
                members.insert(node_id, new_member(node_id, member, learner));
            }
        },
        ConfChange::AddLearner { member, node_id } => {
            members.insert(node_id, new_member(node_id, member, true));
        }
        ConfChange::Update { member, node_id } => match members.get_mut(&node_id) {
            Some(existing) => existing.peer_urls = member.peer_urls.unwrap_or_default(),
            None => warnings.push(format!(
                "index {index}: update of unknown member {}; ignored",
                hex_id(node_id)
            )),
        },
        ConfChange::Remove { node_id } => {
            members.remove(&node_id);
            removed.insert(node_id);
        }
    }
}

/// Live members from the backend (`members` minus `members_removed`); `None` without a db.
fn backend_members(src: &dyn DataDirSource) -> Result<Option<BTreeMap<u64, Member>>, BoltError> {
    match src.file_size(DB_PATH) {
        Ok(_) => {}
        Err(super::source::SourceError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let db = Bolt::open(src, DB_PATH)?;
    let Some(bucket) = db.bucket_entries(b"members")? else {
        return Ok(None);
    };
    let removed: BTreeSet<u64> = db
        .bucket_entries(b"members_removed")?
        .unwrap_or_default()
        .keys()
        .filter_map(|k| std::str::from_utf8(k).ok().and_then(parse_hex_id))
        .collect();
    let mut out = BTreeMap::new();
    for (key, value) in bucket {
        let bad = |what: String| BoltError::Corrupt {
            offset: 0,
            problem: Corruption::Format(what),
        };
        let id = std::str::from_utf8(&key)
            .ok()
            .and_then(parse_hex_id)
            .ok_or_else(|| bad(format!("members key {key:?} is not a hex id")))?;
        if removed.contains(&id) {
            continue;
        }
        let m = MemberJson::parse(&value).map_err(|e| BoltError::Corrupt {
            offset: 0,
            problem: Corruption::Json(e.to_string()),
        })?;
        out.insert(
            id,
            Member {
                id,
                name: m.name.unwrap_or_default(),
                peer_urls: m.peer_urls.unwrap_or_default(),
                client_urls: m.client_urls.unwrap_or_default(),
                is_learner: m.is_learner.unwrap_or(false),
            },
        );
    }
    Ok(Some(out))
}

/// Warns about every difference between the authoritative membership and the other source.
fn cross_check(
    primary: &BTreeMap<u64, Member>,
    other: &BTreeMap<u64, Member>,
    warnings: &mut Vec<String>,
) {
    for (id, m) in other {
        match primary.get(id) {
            None => warnings.push(format!(
                "{DB_PATH}/WAL disagree: member {} ({}) is not in the restored membership; stale copy, ignored",
                hex_id(*id),
                m.peer_urls.join(",")
            )),
            Some(p) if p.peer_urls != m.peer_urls => warnings.push(format!(
                "{DB_PATH}/WAL disagree on member {} peer URLs: {} vs {}",
                hex_id(*id),
                p.peer_urls.join(","),
                m.peer_urls.join(",")
            )),
            Some(_) => {}
        }
    }
    for id in primary.keys().filter(|id| !other.contains_key(id)) {
        warnings.push(format!(
            "{DB_PATH}/WAL disagree: member {} is missing from one of them",
            hex_id(*id)
        ));
    }
}
