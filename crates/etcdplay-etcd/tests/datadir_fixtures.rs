//! The reader against data dirs written by real etcd 3.4 runs (see
//! `tests/fixtures/make-fixtures.sh`): each must yield exactly the members `etcdctl member list`
//! printed, and the verdicts must match the safe/unsafe cases of an HTTP → HTTPS migration.

mod common;

use common::{expected_local_id, expected_members, fixture, FIXTURES};
use etcdplay_etcd::{
    read_data_dir, BackendUse, DataDirReport, DataDirState, LocalDir, PeerPlan, PeerScheme,
    ReadOptions, Verdict,
};

fn read(name: &str) -> DataDirReport {
    read_with(name, BackendUse::CrossCheck)
}

fn read_with(name: &str, backend: BackendUse) -> DataDirReport {
    let opts = ReadOptions {
        backend,
        ..ReadOptions::default()
    };
    read_data_dir(&LocalDir::new(fixture(name).join("data")), &opts)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn warnings(r: &DataDirReport) -> &[String] {
    match &r.state {
        DataDirState::Initialized { warnings, .. } => warnings,
        DataDirState::Uninitialized => &[],
    }
}

fn https(urls: &[&str]) -> PeerPlan {
    PeerPlan::advertise(urls.iter().map(|s| s.to_string()).collect())
}

#[test]
fn every_fixture_yields_the_members_etcdctl_listed() {
    for name in FIXTURES {
        let r = read(name);
        let DataDirState::Initialized {
            local_id,
            members,
            cluster_id,
            ..
        } = &r.state
        else {
            panic!("{name}: uninitialised");
        };
        assert_eq!(members, &expected_members(name), "{name}");
        assert_eq!(*local_id, expected_local_id(name), "{name}");
        assert_ne!(*cluster_id, 0, "{name}");
    }
}

#[test]
fn fresh_and_migrated_dirs_have_no_warnings() {
    for name in ["fresh-1", "http-3", "http-3-m2", "migrated-https-3"] {
        assert_eq!(warnings(&read(name)), &[] as &[String], "{name}");
    }
}

#[test]
fn ids_above_2_pow_53_survive() {
    let r = read("http-3");
    let DataDirState::Initialized { members, .. } = &r.state else {
        panic!()
    };
    assert!(members.iter().any(|m| m.id > 1 << 53));
}

#[test]
fn http_cluster_blocks_a_tls_plan_naming_every_member() {
    let v = read("http-3").verdict(&https(&["https://127.0.0.1:42380"]));
    let Verdict::Block { reasons } = v else {
        panic!("expected block, got {v:?}")
    };
    // Three members with http peer URLs, plus the local URL mismatch.
    assert_eq!(reasons.len(), 4, "{reasons:#?}");
    for ip in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        assert!(reasons.iter().any(|r| r.contains(&format!("http://{ip}:"))));
    }
    assert_eq!(
        read("http-3").verdict(&PeerPlan::scheme(PeerScheme::Https)),
        Verdict::Block {
            reasons: reasons[..3].to_vec()
        }
    );
}

#[test]
fn http_cluster_passes_its_own_plan_and_blocks_a_moved_url() {
    let r = read("http-3-m2");
    assert_eq!(
        r.verdict(&https(&["http://127.0.0.2:42382/"])),
        Verdict::Pass
    );
    assert!(matches!(
        r.verdict(&https(&["http://127.0.0.2:9999"])),
        Verdict::Block { reasons } if reasons.len() == 1 && reasons[0].contains("stored peer URLs")
    ));
}

#[test]
fn migrated_dir_passes_tls_although_its_bytes_still_mention_http() {
    // A plain `grep http://` would flag this dir: the WAL keeps the bootstrap conf changes.
    let wal = std::fs::read(
        fixture("migrated-https-3").join("data/member/wal/0000000000000000-0000000000000000.wal"),
    )
    .unwrap();
    assert!(wal.windows(22).any(|w| w == b"http://127.0.0.1:42380"));
    let r = read("migrated-https-3");
    assert_eq!(
        r.verdict(&https(&["https://127.0.0.1:42380"])),
        Verdict::Pass
    );
    // The opposite direction: stored https while the plan went back to http.
    let v = r.verdict(&PeerPlan::scheme(PeerScheme::Http));
    assert!(
        matches!(v, Verdict::Block { ref reasons } if reasons.len() == 3),
        "{v:?}"
    );
}

#[test]
fn restored_dir_passes_although_bbolt_keeps_the_old_http_members() {
    let r = read("restored-https");
    assert_eq!(
        r.verdict(&https(&["https://127.0.0.1:42380"])),
        Verdict::Pass
    );
    let stale: Vec<_> = warnings(&r)
        .iter()
        .filter(|w| w.contains("stale copy") && w.contains("http://"))
        .collect();
    assert_eq!(stale.len(), 3, "{:#?}", warnings(&r));
    // Reading bbolt as the truth (3.6 semantics) would wrongly block this 3.4 dir.
    let primary = read_with("restored-https", BackendUse::Primary);
    assert!(matches!(
        primary.verdict(&PeerPlan::scheme(PeerScheme::Https)),
        Verdict::Block { .. }
    ));
}

#[test]
fn snapshot_plus_wal_learner_is_reconstructed() {
    let r = read("snapcount");
    let snaps: Vec<_> = std::fs::read_dir(fixture("snapcount").join("data/member/snap"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".snap")
        })
        .collect();
    assert_eq!(snaps.len(), 1);
    let DataDirState::Initialized { members, .. } = &r.state else {
        panic!()
    };
    assert_eq!(members.iter().filter(|m| m.is_learner).count(), 1);
    assert_eq!(
        r.verdict(&https(&["http://127.0.0.1:42380"])),
        Verdict::Pass
    );
}

#[test]
fn removed_member_is_gone_and_local_member_still_passes() {
    let r = read("member-removed");
    let DataDirState::Initialized { members, .. } = &r.state else {
        panic!()
    };
    assert_eq!(members.len(), 2);
    assert!(members.iter().all(|m| m.name != "m3"));
    assert_eq!(
        r.verdict(&https(&["https://127.0.0.1:42380"])),
        Verdict::Pass
    );
}

#[test]
fn empty_dir_is_uninitialised_and_passes() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("member/wal")).unwrap();
    // A leftover preallocation is not a segment.
    std::fs::write(tmp.path().join("member/wal/0.tmp"), [0u8; 64]).unwrap();
    let r = read_data_dir(&LocalDir::new(tmp.path()), &ReadOptions::default()).unwrap();
    assert_eq!(r.state, DataDirState::Uninitialized);
    assert_eq!(
        r.verdict(&PeerPlan::scheme(PeerScheme::Https)),
        Verdict::Pass
    );
}

#[test]
fn wal_dir_option_is_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let wal = tmp.path().join("separate-wal");
    std::fs::create_dir_all(data.join("member/snap")).unwrap();
    std::fs::create_dir_all(&wal).unwrap();
    let src = fixture("http-3").join("data/member");
    std::fs::copy(src.join("snap/db"), data.join("member/snap/db")).unwrap();
    for e in std::fs::read_dir(src.join("wal")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), wal.join(e.file_name())).unwrap();
    }
    let opts = ReadOptions {
        wal_dir: Some(wal.to_string_lossy().into_owned()),
        ..ReadOptions::default()
    };
    let r = read_data_dir(&LocalDir::new(&data), &opts).unwrap();
    assert_eq!(r, read("http-3"));
    // Without the option the same dir looks uninitialised.
    let r = read_data_dir(&LocalDir::new(&data), &ReadOptions::default()).unwrap();
    assert_eq!(r.state, DataDirState::Uninitialized);
}

#[test]
fn command_source_through_a_shell_reads_the_same_as_local() {
    use std::cell::Cell;
    let commands = Cell::new(0u32);
    let sh = |command: &str| -> Result<Vec<u8>, String> {
        commands.set(commands.get() + 1);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    };
    for name in ["member-removed", "restored-https"] {
        commands.set(0);
        let root = fixture(name).join("data").to_string_lossy().into_owned();
        let src = etcdplay_etcd::CommandSource::new(&sh, root);
        let r = read_data_dir(&src, &ReadOptions::default()).unwrap();
        assert_eq!(r, read(name), "{name}");
        // One listing per dir, one read per WAL segment and .snap, a few bbolt pages.
        assert!(commands.get() <= 16, "{name}: {} commands", commands.get());
    }
}
