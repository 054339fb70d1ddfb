//! The shipped reader, `etcdplay-datadir-reader`, run as the real binary cargo built, must
//! answer exactly what the in-process reader answers on the same data dir: through
//! `LocalDir`, and through the shell-command source the engine falls back to. The data dirs
//! are the etcd-made fixtures of etcdplay-etcd, plus damaged, relocated-WAL and missing ones
//! for the error and option paths.

use std::path::{Path, PathBuf};
use std::process::Command;

use etcdplay_etcd::{
    decode_result, read_data_dir, BackendUse, CommandSource, DataDirError, DataDirReport,
    DataDirState, LocalDir, ReadOptions,
};

const READER: &str = env!("CARGO_BIN_EXE_etcdplay-datadir-reader");

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../etcdplay-etcd/tests/fixtures")
}

/// Every fixture data dir, by name.
fn fixture_dirs() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("data/member").is_dir())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                p.join("data"),
            )
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 7,
        "fixtures missing under {}",
        fixtures().display()
    );
    out
}

/// Runs the binary; it must exit 0 with nothing on stderr and one decodable line.
fn run_reader(dir: &Path, extra: &[&str]) -> Result<DataDirReport, DataDirError> {
    let out = Command::new(READER)
        .args(extra)
        .arg("--")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: exit {:?}: {}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout.iter().filter(|b| **b == b'\n').count(),
        1,
        "one line"
    );
    decode_result(&out.stdout).unwrap()
}

fn sh(command: &str) -> Result<Vec<u8>, String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn same(
    what: &str,
    a: &Result<DataDirReport, DataDirError>,
    b: &Result<DataDirReport, DataDirError>,
) {
    match (a, b) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}"),
        _ => panic!("{what}: {a:?} vs {b:?}"),
    }
}

fn backend_flag(b: BackendUse) -> &'static str {
    match b {
        BackendUse::CrossCheck => "cross-check",
        BackendUse::Primary => "primary",
        BackendUse::Skip => "skip",
    }
}

#[test]
fn every_fixture_reads_the_same_on_the_host_as_in_process_and_through_commands() {
    for (name, dir) in fixture_dirs() {
        for backend in [
            BackendUse::CrossCheck,
            BackendUse::Primary,
            BackendUse::Skip,
        ] {
            let options = ReadOptions {
                backend,
                block_size: 8 << 20,
                ..ReadOptions::default()
            };
            let local = read_data_dir(&LocalDir::new(&dir), &options);
            let commands = read_data_dir(
                &CommandSource::new(sh, dir.to_string_lossy().into_owned()),
                &options,
            );
            let shipped = run_reader(
                &dir,
                &[
                    "--backend",
                    backend_flag(backend),
                    "--block-size",
                    "8388608",
                ],
            );
            let what = format!("{name} ({backend:?})");
            same(&what, &local, &shipped);
            same(&what, &commands, &shipped);
            if backend == BackendUse::CrossCheck {
                let report = shipped.as_ref().unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(
                    matches!(report.state, DataDirState::Initialized { .. }),
                    "{what}"
                );
            }
        }
        // The default block size gives the same answer.
        same(
            &name,
            &read_data_dir(&LocalDir::new(&dir), &ReadOptions::default()),
            &run_reader(&dir, &[]),
        );
    }
}

#[test]
fn a_damaged_wal_gives_the_same_error_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data dir");
    copy_tree(&fixtures().join("http-3/data"), &dir);
    let wal = dir.join("member/wal");
    let segment = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wal"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    // A flipped byte inside the first records breaks the CRC chain.
    bytes[100] ^= 0x55;
    std::fs::write(&segment, &bytes).unwrap();
    let local = read_data_dir(&LocalDir::new(&dir), &ReadOptions::default());
    assert!(local.is_err(), "the damage went unnoticed: {local:?}");
    same("damaged", &local, &run_reader(&dir, &[]));
    let commands = read_data_dir(
        &CommandSource::new(sh, dir.to_string_lossy().into_owned()),
        &ReadOptions::default(),
    );
    same("damaged (commands)", &commands, &run_reader(&dir, &[]));
}

#[test]
fn a_separate_wal_dir_and_a_missing_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let wal = tmp.path().join("wal");
    copy_tree(&fixtures().join("snapcount/data"), &data);
    std::fs::rename(data.join("member/wal"), &wal).unwrap();
    let wal_arg = wal.to_string_lossy().into_owned();
    let options = ReadOptions {
        wal_dir: Some(wal_arg.clone()),
        ..ReadOptions::default()
    };
    let local = read_data_dir(&LocalDir::new(&data), &options);
    assert!(
        matches!(
            local,
            Ok(DataDirReport {
                state: DataDirState::Initialized { .. }
            })
        ),
        "{local:?}"
    );
    same(
        "wal dir",
        &local,
        &run_reader(&data, &["--wal-dir", &wal_arg]),
    );
    assert_eq!(
        run_reader(&data, &[]).unwrap().state,
        DataDirState::Uninitialized
    );
    assert_eq!(
        run_reader(&tmp.path().join("nothing here"), &[])
            .unwrap()
            .state,
        DataDirState::Uninitialized
    );
}

#[test]
fn bad_arguments_exit_2_without_an_answer() {
    let out = Command::new(READER)
        .args(["--block-size", "1", "/tmp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}
