//! An exclusive lock around `up` and `down`, so two processes (two test binaries, a user and a
//! test) never create or delete the same namespaces at once. Released when dropped.

use std::fs::{File, OpenOptions};
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

use crate::error::LabError;

/// Holds the lock file locked until dropped (closing the file releases the lock).
#[derive(Debug)]
pub(crate) struct LabLock {
    _file: File,
}

impl LabLock {
    /// Waits for the lock on `path`, creating the file and its directory if needed.
    pub(crate) async fn acquire(path: &Path) -> Result<LabLock, LabError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(LabError::io(dir))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(LabError::io(path))?;
        let owned = path.to_path_buf();
        // flock blocks the thread; keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            flock(&file, FlockOperation::LockExclusive).map_err(|e| LabError::Io {
                path: owned,
                source: e.into(),
            })?;
            Ok(LabLock { _file: file })
        })
        .await
        .map_err(|e| LabError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run").join("lock");
        let first = LabLock::acquire(&path).await.expect("first");
        let second =
            tokio::time::timeout(Duration::from_millis(300), LabLock::acquire(&path)).await;
        assert!(
            second.is_err(),
            "second lock must wait while the first is held"
        );
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), LabLock::acquire(&path)).await;
        assert!(matches!(third, Ok(Ok(_))));
    }
}
