//! The reader must stay cheap on big dirs: it must not read a WAL segment's preallocated
//! zero tail, and must read only the few bbolt pages on the way to the member buckets.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;

use common::fixture;
use etcdplay_etcd::{read_data_dir, DataDirSource, LocalDir, ReadOptions, SourceError};

/// Records bytes read per file.
struct Counting {
    inner: LocalDir,
    bytes: RefCell<BTreeMap<String, u64>>,
}

impl DataDirSource for Counting {
    fn list_dir(&self, dir: &str) -> Result<Option<Vec<String>>, SourceError> {
        self.inner.list_dir(dir)
    }
    fn file_size(&self, path: &str) -> Result<u64, SourceError> {
        self.inner.file_size(path)
    }
    fn read_at(&self, path: &str, offset: u64, buf: &mut [u8]) -> Result<usize, SourceError> {
        let n = self.inner.read_at(path, offset, buf)?;
        *self.bytes.borrow_mut().entry(path.to_string()).or_default() += n as u64;
        Ok(n)
    }
}

#[test]
fn preallocated_wal_tail_and_big_db_are_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture("restored-https").join("data/member");
    std::fs::create_dir_all(tmp.path().join("member/wal")).unwrap();
    std::fs::create_dir_all(tmp.path().join("member/snap")).unwrap();
    for sub in ["wal", "snap"] {
        for e in std::fs::read_dir(src.join(sub)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(
                e.path(),
                tmp.path().join("member").join(sub).join(e.file_name()),
            )
            .unwrap();
        }
    }
    // Restore etcd's 64 MB preallocation (sparse) and grow the db to 1 GiB of free space.
    let wal = tmp
        .path()
        .join("member/wal/0000000000000000-0000000000000000.wal");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .unwrap()
        .set_len(64_000_000)
        .unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(tmp.path().join("member/snap/db"))
        .unwrap()
        .set_len(1 << 30)
        .unwrap();

    let counting = Counting {
        inner: LocalDir::new(tmp.path()),
        bytes: RefCell::new(BTreeMap::new()),
    };
    let opts = ReadOptions {
        block_size: 64 * 1024,
        ..ReadOptions::default()
    };
    let report = read_data_dir(&counting, &opts).unwrap();
    let plain = read_data_dir(
        &LocalDir::new(fixture("restored-https").join("data")),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(report, plain);
    let bytes = counting.bytes.borrow();
    let wal_read = bytes["member/wal/0000000000000000-0000000000000000.wal"];
    let db_read = bytes["member/snap/db"];
    assert!(wal_read <= 64 * 1024, "read {wal_read} WAL bytes");
    assert!(db_read <= 8 * 4096, "read {db_read} db bytes");
}
