//! Helpers shared by the integration tests: locating the fixtures made by
//! `tests/fixtures/make-fixtures.sh`, reading the `etcdctl member list -w json` output saved
//! beside each one, and loading a fixture into memory for mutation.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use etcdplay_etcd::{MemDir, Member};
use serde::Deserialize;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[derive(Deserialize)]
struct ListJson {
    members: Vec<ListMember>,
}

#[derive(Deserialize)]
struct ListMember {
    #[serde(rename = "ID")]
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "peerURLs")]
    peer_urls: Vec<String>,
    #[serde(default, rename = "clientURLs")]
    client_urls: Vec<String>,
    #[serde(default, rename = "isLearner")]
    is_learner: bool,
}

/// The members etcdctl listed when the fixture was made, sorted by id.
pub fn expected_members(name: &str) -> Vec<Member> {
    let bytes = std::fs::read(fixture(name).join("members.json")).unwrap();
    let list: ListJson = serde_json::from_slice(&bytes).unwrap();
    let mut out: Vec<Member> = list
        .members
        .into_iter()
        .map(|m| Member {
            id: m.id,
            name: m.name,
            peer_urls: m.peer_urls,
            client_urls: m.client_urls,
            is_learner: m.is_learner,
        })
        .collect();
    out.sort_by_key(|m| m.id);
    out
}

/// The id of the member that owns the fixture's data dir.
pub fn expected_local_id(name: &str) -> u64 {
    let local = std::fs::read_to_string(fixture(name).join("local")).unwrap();
    expected_members(name)
        .into_iter()
        .find(|m| m.name == local.trim())
        .map(|m| m.id)
        .unwrap()
}

/// Every file of the fixture's data dir, as (relative path, bytes), sorted.
pub fn files(name: &str) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let root = fixture(name).join("data");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    out
}

pub fn mem_dir(files: &[(String, Vec<u8>)]) -> MemDir {
    let mut d = MemDir::new();
    for (p, b) in files {
        d.insert(p.clone(), b.clone());
    }
    d
}

/// Offsets of the WAL frames in `wal` (start of each 8-byte frame header) and their total
/// size, walked the same way etcd does.
pub fn frames(wal: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 8 <= wal.len() {
        let frame = u64::from_le_bytes(wal[pos..pos + 8].try_into().unwrap());
        if frame == 0 {
            break;
        }
        let len = (frame & 0x00ff_ffff_ffff_ffff) as usize;
        let pad = if frame >> 63 == 1 {
            ((frame >> 56) & 7) as usize
        } else {
            0
        };
        out.push((pos, 8 + len + pad));
        pos += 8 + len + pad;
    }
    out
}

pub const FIXTURES: &[&str] = &[
    "fresh-1",
    "http-3",
    "http-3-m2",
    "migrated-https-3",
    "member-removed",
    "restored-https",
    "snapcount",
];

/// Builds WAL segment bytes the way etcd's encoder does (frames padded to 8 bytes, running
/// CRC-32C), for cases no real run produces on demand (ConfChangeV2, rewritten indexes).
pub struct WalBuilder {
    pub bytes: Vec<u8>,
    crc: u32,
}

pub fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn field_varint(n: u64, v: u64, out: &mut Vec<u8>) {
    varint(n << 3, out);
    varint(v, out);
}

pub fn field_bytes(n: u64, b: &[u8], out: &mut Vec<u8>) {
    varint((n << 3) | 2, out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

impl WalBuilder {
    /// A first segment: CRC record 0, then metadata for `node`/`cluster`.
    pub fn new(node: u64, cluster: u64) -> Self {
        Self::continuing(0, node, cluster)
    }

    /// A later segment, opening with the previous segment's running CRC `prev_crc`.
    pub fn continuing(prev_crc: u32, node: u64, cluster: u64) -> Self {
        let mut w = Self {
            bytes: Vec::new(),
            crc: prev_crc,
        };
        w.record(4, &[]);
        let mut md = Vec::new();
        field_varint(1, node, &mut md);
        field_varint(2, cluster, &mut md);
        w.record(1, &md);
        w
    }

    pub fn record(&mut self, kind: u64, data: &[u8]) {
        let crc = if kind == 4 {
            self.crc
        } else {
            self.crc = crc32c::crc32c_append(self.crc, data);
            self.crc
        };
        let mut rec = Vec::new();
        field_varint(1, kind, &mut rec);
        field_varint(2, u64::from(crc), &mut rec);
        field_bytes(3, data, &mut rec);
        let pad = (8 - rec.len() % 8) % 8;
        let mut frame = rec.len() as u64;
        if pad != 0 {
            frame |= (0x80 | pad as u64) << 56;
        }
        self.bytes.extend_from_slice(&frame.to_le_bytes());
        self.bytes.extend_from_slice(&rec);
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
    }

    pub fn entry(&mut self, kind: u64, term: u64, index: u64, data: &[u8]) {
        let mut e = Vec::new();
        field_varint(1, kind, &mut e);
        field_varint(2, term, &mut e);
        field_varint(3, index, &mut e);
        field_bytes(4, data, &mut e);
        self.record(2, &e);
    }

    /// A ConfChange entry; `context` is the member JSON (empty for remove).
    pub fn conf_change(&mut self, term: u64, index: u64, kind: u64, node: u64, context: &str) {
        let mut cc = Vec::new();
        field_varint(1, index, &mut cc);
        field_varint(2, kind, &mut cc);
        field_varint(3, node, &mut cc);
        field_bytes(4, context.as_bytes(), &mut cc);
        self.entry(1, term, index, &cc);
    }

    pub fn hard_state(&mut self, term: u64, commit: u64) {
        let mut hs = Vec::new();
        field_varint(1, term, &mut hs);
        field_varint(3, commit, &mut hs);
        self.record(3, &hs);
    }
}

/// A `.snap` file holding a v2 store with `members` (`(id, peer URL)`) at `index`.
pub fn snap_file(index: u64, term: u64, members: &[(u64, &str)]) -> Vec<u8> {
    let mut children = Vec::new();
    for (id, url) in members {
        children.push(format!(
            r#""{id:x}":{{"Children":{{"raftAttributes":{{"Value":"{{\"peerURLs\":[\"{url}\"]}}"}}}}}}"#
        ));
    }
    let store = format!(
        r#"{{"Root":{{"Children":{{"0":{{"Children":{{"members":{{"Children":{{{}}}}}}}}}}}}}}}"#,
        children.join(",")
    );
    let mut meta = Vec::new();
    field_varint(2, index, &mut meta);
    field_varint(3, term, &mut meta);
    let mut snapshot = Vec::new();
    field_bytes(1, store.as_bytes(), &mut snapshot);
    field_bytes(2, &meta, &mut snapshot);
    let mut file = Vec::new();
    field_varint(1, u64::from(crc32c::crc32c(&snapshot)), &mut file);
    field_bytes(2, &snapshot, &mut file);
    file
}
