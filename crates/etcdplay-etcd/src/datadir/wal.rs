//! The WAL scanner. It walks `member/wal/*.wal` in name order, frame by frame, verifies the
//! CRC-32C chain across records and files, and keeps only what membership needs: the local
//! member and cluster ids, the snapshot markers, and the membership-related raft entries with
//! an index above the `.snap` index. Raft log truncation is honoured the way etcd's
//! `ReadAll` does it: an entry at index `i` discards every kept entry at `i` or later.
//! A zero frame ends a segment's data, so the preallocated zero tail of a 64 MB segment is
//! never read.

use std::collections::BTreeMap;

use super::entry::{
    decode_attributes, decode_entry, Attributes, ENTRY_CONF_CHANGE, ENTRY_CONF_CHANGE_V2,
    ENTRY_NORMAL,
};
use super::error::{Corruption, DataDirError};
use super::protobuf::fields;
use super::seqread::SeqReader;
use super::source::DataDirSource;

/// etcd refuses WAL records above 10 MiB; so do we, before allocating for one.
const MAX_RECORD_BYTES: u64 = 10 * 1024 * 1024;

const REC_METADATA: u64 = 1;
const REC_ENTRY: u64 = 2;
const REC_STATE: u64 = 3;
const REC_CRC: u64 = 4;
const REC_SNAPSHOT: u64 = 5;

/// Where a kept entry was found, for error messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) path: String,
    pub(crate) offset: u64,
}

/// A membership-relevant raft entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Relevant {
    /// The raw `ConfChange` bytes, decoded when applied so a later truncation can drop
    /// an entry that would not even decode.
    ConfChange(Vec<u8>),
    ConfChangeV2,
    Attributes(Attributes),
}

/// What the WAL says.
#[derive(Debug, Clone, Default)]
pub(crate) struct WalScan {
    pub(crate) local_id: u64,
    pub(crate) cluster_id: u64,
    /// Index → entry, only entries with index > the base snapshot index.
    pub(crate) entries: BTreeMap<u64, (Location, Relevant)>,
    /// Indexes of `walpb.Snapshot` markers.
    pub(crate) snapshot_markers: Vec<u64>,
    /// The last hard state's commit index.
    pub(crate) commit: u64,
    /// The last index in the log (0 when no entry follows the base snapshot).
    pub(crate) last_index: u64,
}

/// One WAL segment file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Segment {
    pub(crate) seq: u64,
    /// The raft index the segment starts after (from its name).
    pub(crate) index: u64,
    pub(crate) name: String,
}

/// Lists the WAL segments of `dir` in order; `Ok(None)` means uninitialised.
pub(crate) fn list_segments(
    src: &dyn DataDirSource,
    dir: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<Vec<Segment>>, DataDirError> {
    let names = src.list_dir(dir).map_err(|source| DataDirError::Source {
        path: dir.to_string(),
        source,
    })?;
    let mut segs: Vec<Segment> = Vec::new();
    for name in names.unwrap_or_default() {
        let Some(stem) = name.strip_suffix(".wal") else {
            continue; // `.tmp` preallocations and anything else are not segments
        };
        match parse_segment_name(stem) {
            Some((seq, index)) => segs.push(Segment { seq, index, name }),
            None => warnings.push(format!("{dir}/{name}: not a WAL segment name, ignored")),
        }
    }
    if segs.is_empty() {
        return Ok(None);
    }
    segs.sort();
    for w in segs.windows(2) {
        if w[1].seq != w[0].seq.wrapping_add(1) {
            return Err(DataDirError::WalSequenceGap {
                dir: dir.to_string(),
                prev: w[0].name.clone(),
                next: w[1].name.clone(),
            });
        }
    }
    Ok(Some(segs))
}

/// The segments etcd itself reads when the base snapshot is at `base_index`: from the last
/// segment starting at or before it. Older segments hold only entries the snapshot already
/// contains, so they are neither read nor required to be intact (etcd may have purged them).
pub(crate) fn needed_segments(segments: &[Segment], base_index: u64) -> &[Segment] {
    match segments.iter().rposition(|s| s.index <= base_index) {
        Some(first) => &segments[first..],
        // Every segment starts after the snapshot: the entries in between are gone, which
        // the scan reports as a gap in the log.
        None => segments,
    }
}

/// `<seq:016x>-<index:016x>`.
fn parse_segment_name(stem: &str) -> Option<(u64, u64)> {
    let (a, b) = stem.split_once('-')?;
    if a.len() != 16 || b.len() != 16 {
        return None;
    }
    Some((
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    ))
}

/// Scans `segments` in order. `base_index` is the `.snap` index (0 without a snapshot).
pub(crate) fn scan(
    src: &dyn DataDirSource,
    dir: &str,
    segments: &[Segment],
    base_index: u64,
    block: usize,
) -> Result<WalScan, DataDirError> {
    let mut st = ScanState {
        out: WalScan {
            last_index: base_index,
            ..WalScan::default()
        },
        base_index,
        crc: 0,
        have_metadata: false,
        at: Location::default(),
    };
    for seg in segments {
        let path = format!("{}/{}", dir.trim_end_matches('/'), seg.name);
        st.scan_segment(src, &path, block)?;
    }
    if !st.have_metadata {
        return Err(DataDirError::NoMetadata {
            dir: dir.to_string(),
        });
    }
    Ok(st.out)
}

struct ScanState {
    out: WalScan,
    base_index: u64,
    /// The running CRC-32C, chained across records and segments.
    crc: u32,
    have_metadata: bool,
    /// The record being decoded, for error locations.
    at: Location,
}

impl ScanState {
    fn corrupt(&self, problem: impl Into<Corruption>) -> DataDirError {
        DataDirError::Corrupt {
            path: self.at.path.clone(),
            offset: self.at.offset,
            problem: problem.into(),
        }
    }

    fn scan_segment(
        &mut self,
        src: &dyn DataDirSource,
        path: &str,
        block: usize,
    ) -> Result<(), DataDirError> {
        let io = |source| DataDirError::Source {
            path: path.to_string(),
            source,
        };
        let size = src.file_size(path).map_err(io)?;
        let mut r = SeqReader::new(src, path, size, block);
        loop {
            self.at = Location {
                path: path.to_string(),
                offset: r.pos(),
            };
            if r.remaining() < 8 {
                // EOF, or a few trailing bytes that must be zero fill.
                let rest = r.take(r.remaining() as usize).map_err(io)?.unwrap_or(&[]);
                if rest.iter().any(|b| *b != 0) {
                    return Err(self.corrupt(Corruption::Truncated));
                }
                return Ok(());
            }
            let mut frame_bytes = [0u8; 8];
            match r.take(8).map_err(io)? {
                Some(b) => frame_bytes.copy_from_slice(b),
                None => return Err(self.corrupt(Corruption::Truncated)),
            }
            let frame = u64::from_le_bytes(frame_bytes);
            if frame == 0 {
                return Ok(()); // preallocated space: end of this segment's data
            }
            let len = frame & 0x00ff_ffff_ffff_ffff;
            let pad = if frame >> 63 == 1 {
                (frame >> 56) & 7
            } else {
                0
            };
            if len > MAX_RECORD_BYTES {
                return Err(self.corrupt(Corruption::RecordTooLarge(len)));
            }
            let rec = match r.take((len + pad) as usize).map_err(io)? {
                Some(b) => &b[..len as usize],
                None => return Err(self.corrupt(Corruption::Truncated)),
            };
            self.record(rec)?;
        }
    }

    fn record(&mut self, rec: &[u8]) -> Result<(), DataDirError> {
        let (mut kind, mut stored_crc, mut data): (u64, u32, &[u8]) = (0, 0, &[]);
        for f in fields(rec) {
            let (n, v) = f.map_err(|e| self.corrupt(e))?;
            match n {
                1 => kind = v.varint(n).map_err(|e| self.corrupt(e))?,
                // walpb declares crc as uint32; a wider value cannot match any CRC.
                2 => stored_crc = v.varint(n).map_err(|e| self.corrupt(e))? as u32,
                3 => data = v.bytes(n).map_err(|e| self.corrupt(e))?,
                _ => {}
            }
        }
        if kind == REC_CRC {
            // A segment opens with the previous segment's running CRC (0 in the first).
            if self.crc != 0 && stored_crc != self.crc {
                return Err(self.corrupt(Corruption::CrcMismatch {
                    stored: stored_crc,
                    computed: self.crc,
                }));
            }
            self.crc = stored_crc;
            return Ok(());
        }
        self.crc = crc32c::crc32c_append(self.crc, data);
        if stored_crc != self.crc {
            return Err(self.corrupt(Corruption::CrcMismatch {
                stored: stored_crc,
                computed: self.crc,
            }));
        }
        match kind {
            REC_METADATA => self.metadata(data),
            REC_ENTRY => self.entry(data),
            REC_STATE => {
                for f in fields(data) {
                    let (n, v) = f.map_err(|e| self.corrupt(e))?;
                    if n == 3 {
                        self.out.commit = v.varint(n).map_err(|e| self.corrupt(e))?;
                    }
                }
                Ok(())
            }
            REC_SNAPSHOT => {
                for f in fields(data) {
                    let (n, v) = f.map_err(|e| self.corrupt(e))?;
                    if n == 1 {
                        let idx = v.varint(n).map_err(|e| self.corrupt(e))?;
                        self.out.snapshot_markers.push(idx);
                    }
                }
                Ok(())
            }
            other => Err(self.corrupt(Corruption::UnknownRecordType(other))),
        }
    }

    fn metadata(&mut self, data: &[u8]) -> Result<(), DataDirError> {
        let (mut node, mut cluster) = (0u64, 0u64);
        for f in fields(data) {
            let (n, v) = f.map_err(|e| self.corrupt(e))?;
            match n {
                1 => node = v.varint(n).map_err(|e| self.corrupt(e))?,
                2 => cluster = v.varint(n).map_err(|e| self.corrupt(e))?,
                _ => {}
            }
        }
        if self.have_metadata && (node, cluster) != (self.out.local_id, self.out.cluster_id) {
            return Err(DataDirError::MetadataConflict {
                path: self.at.path.clone(),
                offset: self.at.offset,
                expected: self.out.local_id,
                expected_cluster: self.out.cluster_id,
                found: node,
                found_cluster: cluster,
            });
        }
        self.have_metadata = true;
        self.out.local_id = node;
        self.out.cluster_id = cluster;
        Ok(())
    }

    fn entry(&mut self, data: &[u8]) -> Result<(), DataDirError> {
        let e = decode_entry(data).map_err(|e| self.corrupt(e))?;
        if e.index <= self.base_index {
            return Ok(()); // already contained in the snapshot
        }
        if e.index > self.out.last_index + 1 {
            return Err(DataDirError::EntryGap {
                path: self.at.path.clone(),
                offset: self.at.offset,
                index: e.index,
                last: self.out.last_index,
            });
        }
        // Raft log truncation: a rewritten index drops everything from it onwards.
        drop(self.out.entries.split_off(&e.index));
        self.out.last_index = e.index;
        let relevant = match e.kind {
            ENTRY_NORMAL => decode_attributes(e.data).map(Relevant::Attributes),
            ENTRY_CONF_CHANGE => Some(Relevant::ConfChange(e.data.to_vec())),
            ENTRY_CONF_CHANGE_V2 => Some(Relevant::ConfChangeV2),
            other => {
                return Err(DataDirError::BadEntry {
                    path: self.at.path.clone(),
                    offset: self.at.offset,
                    index: e.index,
                    problem: Corruption::UnknownEntryType(other),
                })
            }
        };
        if let Some(r) = relevant {
            self.out.entries.insert(e.index, (self.at.clone(), r));
        }
        Ok(())
    }
}
