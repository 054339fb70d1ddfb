//! Damaged and unusual data dirs: truncated and corrupted copies of the real fixtures,
//! synthetic WALs for cases etcd 3.4 does not produce on demand (ConfChangeV2, log
//! truncation), and a seeded mutation loop asserting the reader never panics.

// Long runs print their inputs and timings (ETCDPLAY_FUZZ_SCALE/SEED).
#![allow(clippy::print_stderr)]

mod common;

use common::{expected_members, files, frames, mem_dir, WalBuilder};
use etcdplay_etcd::{
    read_data_dir, verdict, BackendUse, Corruption, DataDirError, DataDirState, MemDir, PeerPlan,
    PeerScheme, ReadOptions, Verdict,
};

const WAL0: &str = "member/wal/0000000000000000-0000000000000000.wal";

fn with_file(name: &str, path: &str, f: impl FnOnce(&mut Vec<u8>)) -> MemDir {
    let mut all = files(name);
    let entry = all.iter_mut().find(|(p, _)| p == path).unwrap();
    f(&mut entry.1);
    mem_dir(&all)
}

fn read(d: &MemDir) -> Result<etcdplay_etcd::DataDirReport, DataDirError> {
    read_data_dir(d, &ReadOptions::default())
}

#[test]
fn wal_cut_inside_a_record_cannot_be_verified() {
    let d = with_file("http-3", WAL0, |w| {
        let (start, len) = *frames(w).last().unwrap();
        w.truncate(start + len / 2);
    });
    let res = read(&d);
    assert!(
        matches!(
            res,
            Err(DataDirError::Corrupt {
                problem: Corruption::Truncated,
                ..
            })
        ),
        "{res:?}"
    );
    assert!(matches!(
        verdict(&res, &PeerPlan::scheme(PeerScheme::Https)),
        Verdict::CannotVerify { .. }
    ));
}

#[test]
fn wal_cut_at_a_frame_boundary_reads_the_prefix() {
    let wal = files("http-3")
        .into_iter()
        .find(|(p, _)| p == WAL0)
        .unwrap()
        .1;
    let want = expected_members("http-3");
    let mut first_complete = None;
    for (k, (start, _)) in frames(&wal).into_iter().enumerate().skip(2) {
        let d = with_file("http-3", WAL0, |w| w.truncate(start));
        // Every frame-aligned prefix is a readable (shorter) log.
        let r = read(&d).unwrap_or_else(|e| panic!("prefix of {k} frames: {e}"));
        let DataDirState::Initialized { members, .. } = r.state else {
            panic!()
        };
        if members.len() == 3 {
            first_complete = Some(members);
            break;
        }
    }
    // The bootstrap conf changes come before the members publish their names and client URLs.
    let members = first_complete.expect("some prefix holds all three members");
    for (got, want) in members.iter().zip(&want) {
        assert_eq!((got.id, &got.peer_urls), (want.id, &want.peer_urls));
        assert!(got.client_urls.is_empty());
    }
}

#[test]
fn flipped_byte_in_a_record_is_a_crc_mismatch() {
    let d = with_file("migrated-https-3", WAL0, |w| {
        let (start, len) = frames(w)[6];
        let frame = u64::from_le_bytes(w[start..start + 8].try_into().unwrap());
        let pad = if frame >> 63 == 1 {
            ((frame >> 56) & 7) as usize
        } else {
            0
        };
        // The last byte of the record is inside its data field.
        w[start + len - pad - 1] ^= 0x40;
    });
    let res = read(&d);
    assert!(
        matches!(
            res,
            Err(DataDirError::Corrupt {
                problem: Corruption::CrcMismatch { .. },
                ..
            })
        ),
        "{res:?}"
    );
}

#[test]
fn broken_snap_is_skipped_and_the_full_wal_replayed() {
    let snap = files("member-removed")
        .into_iter()
        .map(|(p, _)| p)
        .find(|p| p.ends_with(".snap"))
        .unwrap();
    let d = with_file("member-removed", &snap, |s| {
        let n = s.len();
        s[n - 10] ^= 0xff;
    });
    let r = read(&d).unwrap();
    let DataDirState::Initialized {
        members, warnings, ..
    } = &r.state
    else {
        panic!()
    };
    assert_eq!(members, &expected_members("member-removed"));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("skipping unusable snapshot")),
        "{warnings:?}"
    );
}

#[test]
fn broken_backend_only_warns_in_cross_check_mode() {
    let d = with_file("http-3", "member/snap/db", |db| {
        for b in &mut db[..8192] {
            *b = 0;
        }
    });
    let r = read(&d).unwrap();
    let DataDirState::Initialized {
        members, warnings, ..
    } = &r.state
    else {
        panic!()
    };
    assert_eq!(members, &expected_members("http-3"));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("no valid bbolt meta page")),
        "{warnings:?}"
    );
    let primary = ReadOptions {
        backend: BackendUse::Primary,
        ..ReadOptions::default()
    };
    assert!(matches!(
        read_data_dir(&d, &primary),
        Err(DataDirError::Corrupt { .. })
    ));
}

fn synthetic(w: &WalBuilder) -> MemDir {
    let mut d = MemDir::new();
    d.insert(WAL0, w.bytes.clone());
    d
}

const BIG: u64 = 0xfedc_ba98_7654_3210;

#[test]
fn conf_change_v2_fails_closed() {
    let mut w = WalBuilder::new(BIG, 7);
    w.conf_change(
        1,
        1,
        0,
        BIG,
        &format!(r#"{{"id":{BIG},"peerURLs":["http://a:2380"]}}"#),
    );
    w.entry(2, 1, 2, b"\x08\x01");
    let res = read(&synthetic(&w));
    assert!(
        matches!(res, Err(DataDirError::ConfChangeV2 { index: 2, .. })),
        "{res:?}"
    );
}

#[test]
fn rewritten_index_drops_the_old_tail() {
    let mut w = WalBuilder::new(BIG, 7);
    w.conf_change(
        1,
        1,
        0,
        BIG,
        &format!(r#"{{"id":{BIG},"peerURLs":["http://a:2380"]}}"#),
    );
    // Term 2 proposes an update at index 2 and a ConfChangeV2 at 3 ...
    w.conf_change(
        2,
        2,
        2,
        BIG,
        &format!(r#"{{"id":{BIG},"peerURLs":["https://b:2380"]}}"#),
    );
    w.entry(2, 2, 3, b"");
    // ... which a new leader (term 3) overwrites from index 2 on with a normal entry.
    w.entry(0, 3, 2, b"");
    w.hard_state(3, 2);
    let r = read(&synthetic(&w)).unwrap();
    let DataDirState::Initialized {
        members, local_id, ..
    } = &r.state
    else {
        panic!()
    };
    assert_eq!(*local_id, BIG);
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].peer_urls, vec!["http://a:2380"]);
}

#[test]
fn gap_in_the_log_and_undecodable_conf_change_fail_closed() {
    let mut w = WalBuilder::new(1, 7);
    w.conf_change(1, 1, 0, 1, r#"{"id":1,"peerURLs":["http://a:2380"]}"#);
    w.conf_change(1, 3, 0, 2, r#"{"id":2,"peerURLs":["http://b:2380"]}"#);
    assert!(matches!(
        read(&synthetic(&w)),
        Err(DataDirError::EntryGap {
            index: 3,
            last: 1,
            ..
        })
    ));

    let mut w = WalBuilder::new(1, 7);
    w.conf_change(1, 1, 0, 1, r#"{"id":1,"peerURLs":["http://a:2380"]}"#);
    w.conf_change(1, 2, 0, 2, r#"{"id":2,"peerURLs":[not json"#);
    assert!(matches!(
        read(&synthetic(&w)),
        Err(DataDirError::BadEntry {
            index: 2,
            problem: Corruption::Json(_),
            ..
        })
    ));
}

#[test]
fn local_member_removed_blocks() {
    let mut w = WalBuilder::new(1, 7);
    w.conf_change(
        1,
        1,
        0,
        1,
        r#"{"id":1,"peerURLs":["https://a:2380"],"name":"a"}"#,
    );
    w.conf_change(
        1,
        2,
        0,
        2,
        r#"{"id":2,"peerURLs":["https://b:2380"],"name":"b"}"#,
    );
    w.conf_change(1, 3, 1, 1, "");
    w.hard_state(1, 3);
    let r = read(&synthetic(&w)).unwrap();
    match r.verdict(&PeerPlan::scheme(PeerScheme::Https)) {
        Verdict::Block { reasons } => {
            assert_eq!(reasons.len(), 1);
            assert!(reasons[0].contains("removed"), "{reasons:?}");
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn crc_chain_continues_across_segments() {
    let mut w = WalBuilder::new(1, 7);
    w.conf_change(1, 1, 0, 1, r#"{"id":1,"peerURLs":["http://a:2380"]}"#);
    let mut d = synthetic(&w);
    // A second segment must open with the first one's running CRC.
    let mut next = WalBuilder::new(1, 7);
    next.conf_change(1, 2, 3, 2, r#"{"id":2,"peerURLs":["http://b:2380"]}"#);
    let seg1 = "member/wal/0000000000000001-0000000000000002.wal";
    d.insert(seg1, next.bytes.clone());
    assert!(matches!(
        read(&d),
        Err(DataDirError::Corrupt { problem: Corruption::CrcMismatch { .. }, ref path, .. }) if path.ends_with(seg1)
    ));
}

#[test]
fn segments_before_the_snapshot_are_not_needed() {
    // Segment 0 is damaged; segment 1 starts at index 5, before the snapshot at 7.
    let mut seg1 = WalBuilder::continuing(0x1234_5678, 1, 7);
    for index in 5..=7 {
        seg1.entry(0, 2, index, b"");
    }
    seg1.conf_change(
        2,
        8,
        0,
        2,
        r#"{"id":2,"peerURLs":["https://b:2380"],"name":"b"}"#,
    );
    seg1.hard_state(2, 8);
    let mut d = MemDir::new();
    d.insert(WAL0, b"not a wal at all, and not zero either".to_vec());
    d.insert(
        "member/wal/0000000000000001-0000000000000005.wal",
        seg1.bytes.clone(),
    );
    d.insert(
        "member/snap/0000000000000002-0000000000000007.snap",
        common::snap_file(7, 2, &[(1, "https://a:2380")]),
    );
    let r = read(&d).unwrap();
    let DataDirState::Initialized {
        members, local_id, ..
    } = &r.state
    else {
        panic!()
    };
    assert_eq!(*local_id, 1);
    let got: Vec<_> = members
        .iter()
        .map(|m| (m.id, m.peer_urls[0].as_str()))
        .collect();
    assert_eq!(got, vec![(1, "https://a:2380"), (2, "https://b:2380")]);

    // Without the snapshot, segment 0 is needed and its damage fails the read.
    let mut d2 = MemDir::new();
    d2.insert(WAL0, b"not a wal at all, and not zero either".to_vec());
    d2.insert(
        "member/wal/0000000000000001-0000000000000005.wal",
        seg1.bytes,
    );
    assert!(read(&d2).is_err());
}

/// xorshift64*: a tiny deterministic generator so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    match rng.below(5) {
        0 => {
            let n = rng.below(bytes.len() + 1);
            bytes.truncate(n);
        }
        1 => {
            for _ in 0..=rng.below(8) {
                if !bytes.is_empty() {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(8);
                }
            }
        }
        2 => {
            let i = rng.below(bytes.len() + 1);
            let junk: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
            bytes.splice(i..i, junk);
        }
        3 => {
            // Overwrite an 8-byte word with an extreme value (lengths, page ids, counts).
            if bytes.len() >= 8 {
                let i = rng.below(bytes.len() - 7);
                let v = [u64::MAX, 0, 1 << 63, rng.next()][rng.below(4)];
                bytes[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        _ => {
            *bytes = (0..rng.below(4096)).map(|_| rng.next() as u8).collect();
        }
    }
}

/// The bounded run in CI uses the defaults; a longer run sets `ETCDPLAY_FUZZ_SCALE` (mutations
/// multiplied by it) and `ETCDPLAY_FUZZ_SEED` (a different stream of mutations).
fn fuzz_env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

#[test]
fn seeded_mutations_never_panic() {
    let mut rng = Rng((0x9e37_79b9_7f4a_7c15 ^ fuzz_env("ETCDPLAY_FUZZ_SEED").unwrap_or(0)).max(1));
    let rounds = 150 * fuzz_env("ETCDPLAY_FUZZ_SCALE").unwrap_or(1).max(1) as usize;
    let started = std::time::Instant::now();
    let mut outcomes = [0usize; 2];
    for name in common::FIXTURES {
        let base = files(name);
        for _ in 0..rounds {
            let mut all = base.clone();
            let k = rng.below(all.len());
            mutate(&mut rng, &mut all[k].1);
            let d = mem_dir(&all);
            for backend in [BackendUse::CrossCheck, BackendUse::Primary] {
                let opts = ReadOptions {
                    backend,
                    ..ReadOptions::default()
                };
                let res = read_data_dir(&d, &opts);
                let _ = verdict(&res, &PeerPlan::scheme(PeerScheme::Https));
                outcomes[usize::from(res.is_ok())] += 1;
            }
        }
    }
    eprintln!(
        "fuzz: {} reads of mutated data dirs in {:.1?} ({} refused, {} read)",
        outcomes[0] + outcomes[1],
        started.elapsed(),
        outcomes[0],
        outcomes[1]
    );
    // Both outcomes must occur, or the mutations are not reaching the parsers.
    assert!(outcomes[0] > 100 && outcomes[1] > 100, "{outcomes:?}");
}
