//! A minimal, read-only bbolt reader for etcd's `member/snap/db`. It reads the two meta pages,
//! picks the valid one with the higher txid, and walks the B+tree of the root bucket to the
//! `members` and `members_removed` buckets (usually inline). Only the pages on those paths are
//! read, each with one `read_at`, so a multi-GB backend costs a few KiB of I/O. Stale copies of
//! old values in free pages are never visited because only live tree pages are followed.

use std::collections::BTreeMap;

use super::error::Corruption;
use super::source::{DataDirSource, SourceError};

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const FLAG_BRANCH: u16 = 0x01;
const FLAG_LEAF: u16 = 0x02;
const BUCKET_LEAF_FLAG: u32 = 0x01;
/// B+trees in an etcd backend are a handful of levels deep; more means a cycle.
const MAX_DEPTH: usize = 32;
/// Bounds a whole-bucket walk on a corrupt file.
const MAX_PAGES_PER_WALK: usize = 100_000;
/// A single page (with overflow) larger than this is corrupt for our purposes.
const MAX_PAGE_BYTES: u64 = 64 * 1024 * 1024;

/// A failure while reading the backend.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BoltError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("at byte {offset}: {problem}")]
    Corrupt { offset: u64, problem: Corruption },
}

fn corrupt(offset: u64, msg: impl Into<String>) -> BoltError {
    BoltError::Corrupt {
        offset,
        problem: Corruption::Format(msg.into()),
    }
}

/// The plain key/value pairs of one bucket, in key order.
pub(crate) type BucketEntries = BTreeMap<Vec<u8>, Vec<u8>>;

/// An open bbolt file.
pub(crate) struct Bolt<'s> {
    src: &'s dyn DataDirSource,
    path: &'s str,
    page_size: u64,
    root: u64,
    size: u64,
}

/// A page image: either read from disk (`pgid` known) or an inline bucket page.
struct Page {
    bytes: Vec<u8>,
    /// File offset of `bytes[0]` (for error messages; inline pages use the parent's).
    offset: u64,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// FNV-1a 64, the checksum bbolt stores in its meta pages.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A validated meta page: `(page_size, root pgid, txid)`.
fn parse_meta(page: &[u8]) -> Option<(u32, u64, u64)> {
    let m = page.get(PAGE_HEADER..PAGE_HEADER + 64)?;
    if u32_at(m, 0)? != MAGIC || u32_at(m, 4)? != VERSION {
        return None;
    }
    if fnv1a64(&m[..56]) != u64_at(m, 56)? {
        return None;
    }
    Some((u32_at(m, 8)?, u64_at(m, 16)?, u64_at(m, 48)?))
}

impl<'s> Bolt<'s> {
    /// Opens `path`, choosing the valid meta page with the higher transaction id.
    pub(crate) fn open(src: &'s dyn DataDirSource, path: &'s str) -> Result<Self, BoltError> {
        let size = src.file_size(path)?;
        let mut first = vec![0u8; 4096];
        let n = src.read_at(path, 0, &mut first)?;
        first.truncate(n);
        let meta0 = parse_meta(&first);
        // Page 1 sits one page size in; if meta 0 is damaged, try the usual page sizes.
        let candidates: Vec<u64> = match meta0 {
            Some((ps, _, _)) => vec![u64::from(ps)],
            None => vec![4096, 8192, 16384, 32768, 65536],
        };
        let mut meta1 = None;
        for ps in candidates {
            let mut page = vec![0u8; PAGE_HEADER + 64];
            let n = src.read_at(path, ps, &mut page)?;
            page.truncate(n);
            if let Some(m) = parse_meta(&page).filter(|m| u64::from(m.0) == ps) {
                meta1 = Some(m);
                break;
            }
        }
        let best = match (meta0, meta1) {
            (Some(a), Some(b)) => Some(if b.2 > a.2 { b } else { a }),
            (a, b) => a.or(b),
        };
        let Some((page_size, root, _)) = best else {
            return Err(corrupt(0, "no valid bbolt meta page"));
        };
        if !(512..=1 << 20).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(corrupt(0, format!("implausible page size {page_size}")));
        }
        Ok(Self {
            src,
            path,
            page_size: u64::from(page_size),
            root,
            size,
        })
    }

    fn read_page(&self, pgid: u64) -> Result<Page, BoltError> {
        let offset = pgid
            .checked_mul(self.page_size)
            .filter(|o| *o < self.size && pgid >= 2)
            .ok_or_else(|| corrupt(0, format!("page id {pgid} is outside the file")))?;
        let mut bytes = vec![0u8; self.page_size as usize];
        let n = self.src.read_at(self.path, offset, &mut bytes)?;
        if n < PAGE_HEADER {
            return Err(corrupt(offset, "short page"));
        }
        bytes.truncate(n);
        if u64_at(&bytes, 0) != Some(pgid) {
            return Err(corrupt(offset, format!("page {pgid} has a different id")));
        }
        let overflow = u64::from(u32_at(&bytes, 12).unwrap_or(0));
        if overflow > 0 {
            let total = (overflow + 1) * self.page_size;
            if total > MAX_PAGE_BYTES || offset + total > self.size {
                return Err(corrupt(offset, "page overflow runs past the file"));
            }
            bytes.resize(total as usize, 0);
            let n = self.src.read_at(self.path, offset, &mut bytes)?;
            bytes.truncate(n);
        }
        Ok(Page { bytes, offset })
    }

    /// All key/value pairs of top-level bucket `name`, or `None` if it does not exist.
    pub(crate) fn bucket_entries(&self, name: &[u8]) -> Result<Option<BucketEntries>, BoltError> {
        let root = self.read_page(self.root)?;
        let Some((flags, value, at)) = self.lookup(root, name, 0)? else {
            return Ok(None);
        };
        if flags & BUCKET_LEAF_FLAG == 0 {
            return Err(corrupt(at, "bucket name maps to a plain value"));
        }
        let bucket_root = u64_at(&value, 0).ok_or_else(|| corrupt(at, "short bucket header"))?;
        let page = if bucket_root == 0 {
            // Inline bucket: its leaf page follows the 16-byte bucket header.
            Page {
                bytes: value[16.min(value.len())..].to_vec(),
                offset: at,
            }
        } else {
            self.read_page(bucket_root)?
        };
        let mut out = BTreeMap::new();
        let mut visited = 0;
        self.collect(page, 0, &mut visited, &mut out)?;
        Ok(Some(out))
    }

    /// Finds `key` in the tree under `page`: `(leaf flags, value, offset)`.
    fn lookup(
        &self,
        page: Page,
        key: &[u8],
        depth: usize,
    ) -> Result<Option<(u32, Vec<u8>, u64)>, BoltError> {
        if depth > MAX_DEPTH {
            return Err(corrupt(page.offset, "B+tree too deep (cycle?)"));
        }
        match elements(&page)? {
            Elements::Branch(children) => {
                // The last child whose first key is <= key covers it.
                let pick = children
                    .iter()
                    .rposition(|(k, _)| k.as_slice() <= key)
                    .unwrap_or(0);
                match children.get(pick) {
                    Some((_, pgid)) => self.lookup(self.read_page(*pgid)?, key, depth + 1),
                    None => Ok(None),
                }
            }
            Elements::Leaf(items) => Ok(items
                .into_iter()
                .find(|(_, k, _)| k.as_slice() == key)
                .map(|(f, _, v)| (f, v, page.offset))),
        }
    }

    fn collect(
        &self,
        page: Page,
        depth: usize,
        visited: &mut usize,
        out: &mut BucketEntries,
    ) -> Result<(), BoltError> {
        *visited += 1;
        if depth > MAX_DEPTH || *visited > MAX_PAGES_PER_WALK {
            return Err(corrupt(
                page.offset,
                "B+tree too deep or too large (cycle?)",
            ));
        }
        match elements(&page)? {
            Elements::Branch(children) => {
                for (_, pgid) in children {
                    self.collect(self.read_page(pgid)?, depth + 1, visited, out)?;
                }
            }
            Elements::Leaf(items) => {
                for (flags, k, v) in items {
                    // Nested buckets are not part of etcd's member buckets.
                    if flags & BUCKET_LEAF_FLAG == 0 {
                        out.insert(k, v);
                    }
                }
            }
        }
        Ok(())
    }
}

enum Elements {
    Branch(Vec<(Vec<u8>, u64)>),
    Leaf(Vec<(u32, Vec<u8>, Vec<u8>)>),
}

/// Decodes a page's element array with bounds checks on every position.
fn elements(page: &Page) -> Result<Elements, BoltError> {
    let b = &page.bytes;
    let bad = |what: &str| corrupt(page.offset, format!("bad page: {what}"));
    let flags = u16_at(b, 8).ok_or_else(|| bad("no header"))?;
    let count = usize::from(u16_at(b, 10).ok_or_else(|| bad("no header"))?);
    if PAGE_HEADER + count * ELEMENT > b.len() {
        return Err(bad("element count exceeds page"));
    }
    let slice = |elem: usize, pos: u32, len: u32| -> Result<Vec<u8>, BoltError> {
        let start = elem
            .checked_add(pos as usize)
            .ok_or_else(|| bad("element position overflows"))?;
        let end = start
            .checked_add(len as usize)
            .ok_or_else(|| bad("element length overflows"))?;
        b.get(start..end)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| bad("element points past the page"))
    };
    let at = |e: usize, off: usize| u32_at(b, e + off).ok_or_else(|| bad("element"));
    if flags & FLAG_BRANCH != 0 {
        let mut children = Vec::with_capacity(count);
        for i in 0..count {
            let e = PAGE_HEADER + i * ELEMENT;
            let (pos, ksize) = (at(e, 0)?, at(e, 4)?);
            let pgid = u64_at(b, e + 8).ok_or_else(|| bad("element"))?;
            children.push((slice(e, pos, ksize)?, pgid));
        }
        Ok(Elements::Branch(children))
    } else if flags & FLAG_LEAF != 0 {
        let mut items = Vec::with_capacity(count);
        for i in 0..count {
            let e = PAGE_HEADER + i * ELEMENT;
            let (lflags, pos, ksize, vsize) = (at(e, 0)?, at(e, 4)?, at(e, 8)?, at(e, 12)?);
            let key = slice(e, pos, ksize)?;
            let value = slice(e, pos.saturating_add(ksize), vsize)?;
            items.push((lflags, key, value));
        }
        Ok(Elements::Leaf(items))
    } else {
        Err(bad(&format!(
            "flags {flags:#x} are neither branch nor leaf"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::source::MemDir;

    const PS: usize = 4096;

    #[test]
    fn fnv1a64_matches_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    fn header(id: u64, flags: u16, count: usize) -> Vec<u8> {
        let mut h = id.to_le_bytes().to_vec();
        h.extend_from_slice(&flags.to_le_bytes());
        h.extend_from_slice(&(count as u16).to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h
    }

    /// A leaf page image (unpadded) holding `(flags, key, value)` items in order.
    fn leaf(id: u64, items: &[(u32, &[u8], Vec<u8>)]) -> Vec<u8> {
        let mut p = header(id, FLAG_LEAF, items.len());
        let mut data = Vec::new();
        let data_start = PAGE_HEADER + items.len() * ELEMENT;
        for (i, (flags, k, v)) in items.iter().enumerate() {
            let elem = PAGE_HEADER + i * ELEMENT;
            let pos = (data_start + data.len() - elem) as u32;
            for x in [*flags, pos, k.len() as u32, v.len() as u32] {
                p.extend_from_slice(&x.to_le_bytes());
            }
            data.extend_from_slice(k);
            data.extend_from_slice(v);
        }
        p.extend(data);
        p
    }

    fn branch(id: u64, children: &[(&[u8], u64)]) -> Vec<u8> {
        let mut p = header(id, FLAG_BRANCH, children.len());
        let mut data = Vec::new();
        let data_start = PAGE_HEADER + children.len() * ELEMENT;
        for (i, (k, pgid)) in children.iter().enumerate() {
            let elem = PAGE_HEADER + i * ELEMENT;
            let pos = (data_start + data.len() - elem) as u32;
            p.extend_from_slice(&pos.to_le_bytes());
            p.extend_from_slice(&(k.len() as u32).to_le_bytes());
            p.extend_from_slice(&pgid.to_le_bytes());
            data.extend_from_slice(k);
        }
        p.extend(data);
        p
    }

    fn meta(id: u64, root: u64, txid: u64) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&MAGIC.to_le_bytes());
        m.extend_from_slice(&VERSION.to_le_bytes());
        m.extend_from_slice(&(PS as u32).to_le_bytes());
        m.extend_from_slice(&0u32.to_le_bytes());
        for x in [root, 0, 2, 8, txid] {
            m.extend_from_slice(&x.to_le_bytes());
        }
        let sum = fnv1a64(&m);
        m.extend_from_slice(&sum.to_le_bytes());
        let mut p = header(id, 0x04, 0);
        p.extend(m);
        p
    }

    fn bucket_value(root: u64, inline: Option<Vec<u8>>) -> Vec<u8> {
        let mut v = root.to_le_bytes().to_vec();
        v.extend_from_slice(&0u64.to_le_bytes());
        v.extend(inline.unwrap_or_default());
        v
    }

    /// meta0 (txid 5) → old root page 3; meta1 (txid 6) → branch root page 4, whose
    /// children are leaves 5 ("alarm") and 6 ("members" → page 7, inline "members_removed").
    fn file() -> Vec<u8> {
        let old_members = leaf(0, &[(0, b"1", br#"{"id":1,"name":"old"}"#.to_vec())]);
        let removed = leaf(0, &[(0, b"2", b"removed".to_vec())]);
        let pages = vec![
            meta(0, 3, 5),
            meta(1, 4, 6),
            header(2, 0x10, 0),
            leaf(3, &[(1, b"members", bucket_value(0, Some(old_members)))]),
            branch(4, &[(b"alarm", 5), (b"members", 6)]),
            leaf(5, &[(1, b"alarm", bucket_value(0, Some(leaf(0, &[]))))]),
            leaf(
                6,
                &[
                    (1, b"members", bucket_value(7, None)),
                    (1, b"members_removed", bucket_value(0, Some(removed))),
                ],
            ),
            leaf(
                7,
                &[
                    (0, b"1", br#"{"id":1,"name":"a"}"#.to_vec()),
                    (0, b"2", br#"{"id":2,"name":"b"}"#.to_vec()),
                ],
            ),
        ];
        let mut out = Vec::new();
        for p in pages {
            assert!(p.len() <= PS);
            let mut p = p;
            p.resize(PS, 0);
            out.extend(p);
        }
        out
    }

    fn open_and_read(bytes: Vec<u8>, bucket: &[u8]) -> Option<BucketEntries> {
        let mut d = MemDir::new();
        d.insert("db", bytes);
        let db = Bolt::open(&d, "db").unwrap();
        db.bucket_entries(bucket).unwrap()
    }

    #[test]
    fn walks_branch_pages_to_inline_and_paged_buckets() {
        let members = open_and_read(file(), b"members").unwrap();
        let names: Vec<_> = members
            .values()
            .map(|v| String::from_utf8_lossy(v))
            .collect();
        assert_eq!(
            names,
            vec![r#"{"id":1,"name":"a"}"#, r#"{"id":2,"name":"b"}"#]
        );
        let removed = open_and_read(file(), b"members_removed").unwrap();
        assert_eq!(
            removed.get(b"2".as_slice()).map(Vec::as_slice),
            Some(b"removed".as_slice())
        );
        assert_eq!(open_and_read(file(), b"alarm").unwrap().len(), 0);
        assert!(open_and_read(file(), b"nope").is_none());
    }

    #[test]
    fn falls_back_to_the_other_meta_page_when_the_newer_is_damaged() {
        let mut bytes = file();
        bytes[PS + 40] ^= 1; // meta 1's bucket sequence: its checksum no longer matches
        let members = open_and_read(bytes, b"members").unwrap();
        assert_eq!(members.len(), 1);
        assert!(String::from_utf8_lossy(&members[b"1".as_slice()]).contains("old"));
    }

    #[test]
    fn a_page_pointing_at_itself_is_an_error_not_a_hang() {
        let mut bytes = file();
        // Make branch page 4's second child point back to page 4.
        let child = 4 * PS + PAGE_HEADER + ELEMENT + 8;
        bytes[child..child + 8].copy_from_slice(&4u64.to_le_bytes());
        let mut d = MemDir::new();
        d.insert("db", bytes);
        let db = Bolt::open(&d, "db").unwrap();
        assert!(matches!(
            db.bucket_entries(b"members"),
            Err(BoltError::Corrupt { .. })
        ));
    }
}
