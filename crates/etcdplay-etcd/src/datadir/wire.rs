//! The encoding a reader run on the host (`etcdplay-datadir-reader`) uses to hand its
//! `Result<DataDirReport, DataDirError>` back to the control node: one line of JSON,
//! `{"etcdplay_datadir_reader":1,"result":{"Ok":…}|{"Err":…}}`. The control node decodes it
//! into the very same types, so the verdict and every message built from the result are what
//! reading through shell commands would have produced. The version field lets a control node
//! refuse output of a reader it does not understand (it then falls back to shell commands).
//! I/O errors cross as their kind and their text, so their `Display` is the host's, verbatim.

use std::io;

use super::error::DataDirError;
use super::report::DataDirReport;

/// The format version written by [`encode_result`] and required by [`decode_result`].
pub const WIRE_VERSION: u32 = 1;

/// Why bytes are not a reader's answer.
#[derive(Debug, thiserror::Error)]
#[error("not the output of etcdplay-datadir-reader: {0}")]
pub struct WireError(String);

#[derive(serde::Serialize)]
struct EnvelopeOut<'a> {
    etcdplay_datadir_reader: u32,
    result: &'a Result<DataDirReport, DataDirError>,
}

#[derive(serde::Deserialize)]
struct EnvelopeIn {
    etcdplay_datadir_reader: u32,
    result: Result<DataDirReport, DataDirError>,
}

/// Encodes a read result as one line of JSON (no trailing newline).
pub fn encode_result(result: &Result<DataDirReport, DataDirError>) -> String {
    let envelope = EnvelopeOut {
        etcdplay_datadir_reader: WIRE_VERSION,
        result,
    };
    // Every field is a string, integer, bool or sequence of them: serialising cannot fail.
    serde_json::to_string(&envelope).unwrap_or_else(|e| {
        format!(
            "{{\"etcdplay_datadir_reader\":0,\"error\":{:?}}}",
            e.to_string()
        )
    })
}

/// Decodes what [`encode_result`] wrote (surrounding whitespace allowed).
pub fn decode_result(bytes: &[u8]) -> Result<Result<DataDirReport, DataDirError>, WireError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| WireError("output is not UTF-8".into()))?
        .trim();
    let envelope: EnvelopeIn = serde_json::from_str(text)
        .map_err(|e| WireError(format!("{e} (output starts with {:?})", preview(text))))?;
    if envelope.etcdplay_datadir_reader != WIRE_VERSION {
        return Err(WireError(format!(
            "format version {} (this etcdplay reads {WIRE_VERSION})",
            envelope.etcdplay_datadir_reader
        )));
    }
    Ok(envelope.result)
}

/// The first characters of some output, for an error message.
fn preview(text: &str) -> String {
    text.chars().take(80).collect()
}

/// Serde for [`super::SourceError`], which holds an `io::Error` serde cannot carry itself.
pub(crate) mod source_error {
    use super::{io, io_kind_from_name, io_kind_name};
    use crate::datadir::source::SourceError;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    enum Wire {
        NotFound,
        Io { kind: String, message: String },
        Remote(String),
    }

    pub(crate) fn serialize<S: Serializer>(e: &SourceError, s: S) -> Result<S::Ok, S::Error> {
        match e {
            SourceError::NotFound => Wire::NotFound,
            SourceError::Io(io) => Wire::Io {
                kind: io_kind_name(io.kind()).to_string(),
                message: io.to_string(),
            },
            SourceError::Remote(m) => Wire::Remote(m.clone()),
        }
        .serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SourceError, D::Error> {
        Ok(match Wire::deserialize(d)? {
            Wire::NotFound => SourceError::NotFound,
            Wire::Io { kind, message } => {
                SourceError::Io(io::Error::new(io_kind_from_name(&kind), message))
            }
            Wire::Remote(m) => SourceError::Remote(m),
        })
    }
}

/// The `io::ErrorKind`s a file reader meets, by name; anything else travels as `Other`.
const IO_KINDS: &[(io::ErrorKind, &str)] = &[
    (io::ErrorKind::NotFound, "NotFound"),
    (io::ErrorKind::PermissionDenied, "PermissionDenied"),
    (io::ErrorKind::InvalidInput, "InvalidInput"),
    (io::ErrorKind::InvalidData, "InvalidData"),
    (io::ErrorKind::UnexpectedEof, "UnexpectedEof"),
    (io::ErrorKind::Interrupted, "Interrupted"),
    (io::ErrorKind::OutOfMemory, "OutOfMemory"),
    (io::ErrorKind::Unsupported, "Unsupported"),
    (io::ErrorKind::NotADirectory, "NotADirectory"),
    (io::ErrorKind::IsADirectory, "IsADirectory"),
    (
        io::ErrorKind::StaleNetworkFileHandle,
        "StaleNetworkFileHandle",
    ),
    (io::ErrorKind::TimedOut, "TimedOut"),
    (io::ErrorKind::WouldBlock, "WouldBlock"),
];

fn io_kind_name(kind: io::ErrorKind) -> &'static str {
    IO_KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("Other", |(_, n)| n)
}

fn io_kind_from_name(name: &str) -> io::ErrorKind {
    IO_KINDS
        .iter()
        .find(|(_, n)| *n == name)
        .map_or(io::ErrorKind::Other, |(k, _)| *k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::{Corruption, DataDirState, Member, ProtoError, SourceError};

    fn report(state: DataDirState) -> Result<DataDirReport, DataDirError> {
        Ok(DataDirReport { state })
    }

    /// Every shape a result can take, each error variant and source error at least once.
    fn samples() -> Vec<Result<DataDirReport, DataDirError>> {
        let member = |id: u64, learner: bool| Member {
            id,
            name: format!("m-{id:x} \"quoted\" ü"),
            peer_urls: vec![format!("https://10.0.0.{}:2380", id % 250)],
            client_urls: vec![],
            is_learner: learner,
        };
        let p = "member/wal/0000000000000000-0000000000000000.wal".to_string();
        vec![
            report(DataDirState::Uninitialized),
            report(DataDirState::Initialized {
                local_id: u64::MAX - 58,
                cluster_id: 0x8e9e_05c5_2164_694d,
                members: vec![member(1, false), member(u64::MAX - 58, true)],
                warnings: vec!["a warning\nover two lines".into()],
            }),
            report(DataDirState::Initialized {
                local_id: 7,
                cluster_id: 0,
                members: vec![],
                warnings: vec![],
            }),
            Err(DataDirError::Source {
                path: p.clone(),
                source: SourceError::NotFound,
            }),
            Err(DataDirError::Source {
                path: p.clone(),
                source: SourceError::Io(io::Error::from_raw_os_error(13)),
            }),
            Err(DataDirError::Source {
                path: p.clone(),
                source: SourceError::Io(io::Error::new(io::ErrorKind::UnexpectedEof, "short")),
            }),
            Err(DataDirError::Source {
                path: p.clone(),
                source: SourceError::Remote("exit code 1: dd: failed".into()),
            }),
            Err(DataDirError::Corrupt {
                path: p.clone(),
                offset: 4096,
                problem: Corruption::Truncated,
            }),
            Err(DataDirError::Corrupt {
                path: p.clone(),
                offset: 1,
                problem: Corruption::RecordTooLarge(11 << 20),
            }),
            Err(DataDirError::Corrupt {
                path: p.clone(),
                offset: 2,
                problem: Corruption::CrcMismatch {
                    stored: 0xdead_beef,
                    computed: 1,
                },
            }),
            Err(DataDirError::Corrupt {
                path: p.clone(),
                offset: 3,
                problem: Corruption::UnknownRecordType(9),
            }),
            Err(DataDirError::WalSequenceGap {
                dir: "/var/lib/etcd-wal".into(),
                prev: "a.wal".into(),
                next: "c.wal".into(),
            }),
            Err(DataDirError::NoMetadata {
                dir: "member/wal".into(),
            }),
            Err(DataDirError::MetadataConflict {
                path: p.clone(),
                offset: 0,
                expected: 1,
                expected_cluster: 2,
                found: u64::MAX,
                found_cluster: 4,
            }),
            Err(DataDirError::ConfChangeV2 {
                path: p.clone(),
                offset: 99,
                index: 12,
            }),
            Err(DataDirError::BadEntry {
                path: p.clone(),
                offset: 5,
                index: 6,
                problem: Corruption::UnknownEntryType(4),
            }),
            Err(DataDirError::BadEntry {
                path: p.clone(),
                offset: 5,
                index: 6,
                problem: Corruption::UnknownConfChangeType(8),
            }),
            Err(DataDirError::BadEntry {
                path: p.clone(),
                offset: 5,
                index: 6,
                problem: Corruption::Json("expected value".into()),
            }),
            Err(DataDirError::EntryGap {
                path: p.clone(),
                offset: 7,
                index: 10,
                last: 8,
            }),
            Err(DataDirError::Backend {
                path: "member/snap/db".into(),
                problem: Corruption::Format("no members bucket".into()),
            }),
            Err(DataDirError::Backend {
                path: "member/snap/db".into(),
                problem: Corruption::Proto(ProtoError::Truncated),
            }),
            Err(DataDirError::Backend {
                path: "member/snap/db".into(),
                problem: Corruption::Proto(ProtoError::VarintTooLong),
            }),
            Err(DataDirError::Backend {
                path: "x".into(),
                problem: Corruption::Proto(ProtoError::WireType(3)),
            }),
            Err(DataDirError::Backend {
                path: "x".into(),
                problem: Corruption::Proto(ProtoError::FieldZero),
            }),
            Err(DataDirError::Backend {
                path: "x".into(),
                problem: Corruption::Proto(ProtoError::UnexpectedType { field: 3 }),
            }),
        ]
    }

    /// Fails to compile when a variant is added, so that `samples` is extended with it.
    #[allow(dead_code)]
    fn every_variant_is_sampled(e: &DataDirError, s: &SourceError, c: &Corruption) {
        match e {
            DataDirError::Source { .. }
            | DataDirError::Corrupt { .. }
            | DataDirError::WalSequenceGap { .. }
            | DataDirError::NoMetadata { .. }
            | DataDirError::MetadataConflict { .. }
            | DataDirError::ConfChangeV2 { .. }
            | DataDirError::BadEntry { .. }
            | DataDirError::EntryGap { .. }
            | DataDirError::Backend { .. } => {}
        }
        match s {
            SourceError::NotFound | SourceError::Io(_) | SourceError::Remote(_) => {}
        }
        match c {
            Corruption::Truncated
            | Corruption::RecordTooLarge(_)
            | Corruption::CrcMismatch { .. }
            | Corruption::Proto(_)
            | Corruption::UnknownRecordType(_)
            | Corruption::UnknownEntryType(_)
            | Corruption::UnknownConfChangeType(_)
            | Corruption::Json(_)
            | Corruption::Format(_) => {}
        }
    }

    #[test]
    fn every_result_shape_round_trips_with_the_same_verdict_and_text() {
        use crate::datadir::{verdict, PeerPlan, PeerScheme};
        let plan = PeerPlan::advertise(vec!["https://10.0.0.1:2380".into()]);
        let http = PeerPlan::scheme(PeerScheme::Http);
        for original in samples() {
            let line = encode_result(&original);
            assert!(!line.contains('\n'), "one line: {line}");
            let back = decode_result(line.as_bytes()).unwrap();
            match (&original, &back) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string());
                    assert_eq!(
                        std::mem::discriminant(a),
                        std::mem::discriminant(b),
                        "{a:?} vs {b:?}"
                    );
                    if let (
                        DataDirError::Source { source: x, .. },
                        DataDirError::Source { source: y, .. },
                    ) = (a, b)
                    {
                        assert_eq!(std::mem::discriminant(x), std::mem::discriminant(y));
                        if let (SourceError::Io(x), SourceError::Io(y)) = (x, y) {
                            assert_eq!(x.kind(), y.kind());
                        }
                    }
                }
                _ => panic!("{original:?} came back as {back:?}"),
            }
            // Encoding what was decoded gives the same bytes: nothing was lost or added.
            assert_eq!(encode_result(&back), line);
            assert_eq!(verdict(&original, &plan), verdict(&back, &plan));
            assert_eq!(verdict(&original, &http), verdict(&back, &http));
        }
    }

    #[test]
    fn ids_and_texts_survive_exactly() {
        let line = encode_result(&samples()[1]);
        assert!(line.contains("18446744073709551557"), "{line}");
        let Ok(r) = decode_result(format!("\n{line}\n").as_bytes()).unwrap() else {
            panic!("not a report")
        };
        assert_eq!(r.local_member().map(|m| m.id), Some(u64::MAX - 58));
        let DataDirState::Initialized { warnings, .. } = r.state else {
            panic!("not initialized")
        };
        assert_eq!(warnings, vec!["a warning\nover two lines".to_string()]);
    }

    #[test]
    fn foreign_output_and_other_versions_are_refused() {
        let good = encode_result(&samples()[0]);
        for bad in [
            String::new(),
            "NEED-UPLOAD".into(),
            "{}".into(),
            good.replace(":1,", ":2,"),
            good[..good.len() - 1].to_string(),
            format!("{good} trailing"),
        ] {
            assert!(decode_result(bad.as_bytes()).is_err(), "accepted {bad:?}");
        }
        assert!(decode_result(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn io_kinds_round_trip_by_name() {
        for (kind, name) in IO_KINDS {
            assert_eq!(io_kind_from_name(io_kind_name(*kind)), *kind, "{name}");
        }
        assert_eq!(io_kind_name(io::ErrorKind::AddrInUse), "Other");
        assert_eq!(io_kind_from_name("NoSuchKind"), io::ErrorKind::Other);
    }
}
