//! Reading back what the host printed after making a backup: a snapshot's revision and hash,
//! a copy's WAL files, and the file's sha256, each required before the backup counts.

use super::{Kind, VerifyError};

/// The value after `key ` on its own line of `out`.
fn field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
        .map(str::trim)
}

fn sha256_field(out: &str) -> Result<String, VerifyError> {
    field(out, "sha256")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
        .ok_or(VerifyError::NoSha256)
}

/// Reads what [`verify_snapshot_script`] printed: the snapshot's revision and hash (both
/// must be there: `snapshot status` read the whole backend) and the file's sha256.
pub(crate) fn parse_snapshot_verification(out: &str) -> Result<(Kind, String), VerifyError> {
    let status = field(out, "status").ok_or(VerifyError::NoStatus)?;
    let json: serde_json::Value =
        serde_json::from_str(status).map_err(|e| VerifyError::BadStatus(e.to_string()))?;
    let revision = json
        .get("revision")
        .and_then(serde_json::Value::as_u64)
        .filter(|r| *r > 0)
        .ok_or(VerifyError::NoRevision)?;
    let hash = json
        .get("hash")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| VerifyError::BadStatus("no hash".into()))?;
    let total_keys = json.get("totalKey").and_then(serde_json::Value::as_u64);
    Ok((
        Kind::Snapshot {
            revision,
            hash,
            total_keys,
        },
        sha256_field(out)?,
    ))
}

/// Reads what [`copy_script`] printed: an archive listing WAL files (the member was
/// initialised, so a copy without them lost its log) and the file's sha256.
pub(crate) fn parse_copy_verification(out: &str) -> Result<(Kind, String), VerifyError> {
    let count = |k| {
        field(out, k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    if count("wal") == 0 {
        return Err(VerifyError::NoWal);
    }
    Ok((
        Kind::DataDirCopy {
            entries: count("entries"),
        },
        sha256_field(out)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_verification_needs_a_revision_a_hash_and_a_sha256() {
        let sum = "a".repeat(64);
        let ok = format!("status {{\"hash\":3735928559,\"revision\":42,\"totalKey\":40,\"totalSize\":20480}}\nsha256 {sum}\n");
        assert_eq!(
            parse_snapshot_verification(&ok),
            Ok((
                Kind::Snapshot {
                    revision: 42,
                    hash: 0xdeadbeef,
                    total_keys: Some(40)
                },
                sum.clone()
            ))
        );
        assert_eq!(
            parse_snapshot_verification(&format!("sha256 {sum}\n")),
            Err(VerifyError::NoStatus)
        );
        assert!(matches!(
            parse_snapshot_verification(&format!("status Error: invalid database\nsha256 {sum}")),
            Err(VerifyError::BadStatus(_))
        ));
        assert_eq!(
            parse_snapshot_verification(&format!(
                "status {{\"hash\":1,\"revision\":0}}\nsha256 {sum}"
            )),
            Err(VerifyError::NoRevision)
        );
        assert_eq!(
            parse_snapshot_verification("status {\"hash\":1,\"revision\":3}\nsha256 xyz\n"),
            Err(VerifyError::NoSha256)
        );
    }

    #[test]
    fn copy_verification_needs_wal_files() {
        let sum = "0".repeat(64);
        assert_eq!(
            parse_copy_verification(&format!("entries 12\nwal 1\nsha256 {sum}\n")),
            Ok((Kind::DataDirCopy { entries: 12 }, sum.clone()))
        );
        assert_eq!(
            parse_copy_verification(&format!("entries 3\nwal 0\nsha256 {sum}\n")),
            Err(VerifyError::NoWal)
        );
    }
}
