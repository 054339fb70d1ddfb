//! Checksums of control-node files that tasks copy to hosts. The same `src` (an etcd binary,
//! 20 MB) goes to every host on every run, and hashing it costs more than the rest of a
//! no-change run, so a sum is computed once per run for all hosts, and remembered across runs
//! in the user's cache directory (`$XDG_CACHE_HOME/etcdplay/sums`, else `~/.cache/...`), one
//! small file per source named by device and inode, holding the size, mtime and ctime it was
//! computed for. Any write to the file moves its ctime, which cannot be set back, so a
//! remembered sum is only reused for the very same bytes; a torn or foreign entry only costs a
//! fresh hash, and a cache that cannot be written is simply not used. The bytes themselves are
//! shared too, while uploads hold them: hosts uploading the same version of a file at the same
//! time get one copy ([`ChecksumCache::read_shared`]), so memory does not grow with hosts × size.
//! The md5 a copy's result carries is computed once per version too, for this run only
//! ([`ChecksumCache::md5`]: only files being uploaded need it).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use etcdplay_source::{open_regular, read_opened, ReadFileError};
use sha1::Digest;

/// The most etcdplay reads of a file it uploads (`copy`/`unarchive` `src`), which it holds in
/// memory whole: far beyond any binary or archive etcdplay deploys (hundreds of MB), and the
/// same bound as a file read back from a host (8 GiB), so that whatever `fetch` brought back
/// can be uploaded again. Not the 64 MiB of YAML and templates.
pub(crate) const MAX_UPLOAD_SOURCE: u64 = etcdplay_transport::MAX_GET_SIZE;

fn sha1_hex(bytes: &[u8]) -> String {
    sha1::Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FileVersion {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileVersion {
    fn of(meta: &std::fs::Metadata) -> FileVersion {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        FileVersion {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The line stored in the cache entry before the sum.
    fn stamp(&self) -> String {
        format!("{} {} {}", self.size, self.mtime_ns, self.ctime_ns)
    }
}

pub(crate) struct ChecksumCache {
    sums: Mutex<HashMap<FileVersion, String>>,
    /// md5s for copy results, for this run only (asked only of files being uploaded).
    md5s: Mutex<HashMap<FileVersion, String>>,
    /// Contents being uploaded, by version; gone once the last upload dropped them.
    shared: Mutex<HashMap<FileVersion, Weak<Vec<u8>>>>,
    /// `None`: remember for this run only.
    dir: Option<PathBuf>,
}

impl Default for ChecksumCache {
    fn default() -> Self {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
        ChecksumCache::in_dir(base.map(|b| b.join("etcdplay").join("sums")))
    }
}

impl ChecksumCache {
    pub(crate) fn in_dir(dir: Option<PathBuf>) -> Self {
        ChecksumCache {
            sums: Mutex::new(HashMap::new()),
            md5s: Mutex::new(HashMap::new()),
            shared: Mutex::new(HashMap::new()),
            dir,
        }
    }

    /// The bytes of `path`: the copy another caller still holds when the file is the same
    /// version, else read now (under the lock, so hosts asking at once wait for one read).
    /// Only a regular file of at most [`MAX_UPLOAD_SOURCE`] bytes is read.
    pub(crate) fn read_shared(&self, path: &Path) -> Result<Arc<Vec<u8>>, ReadFileError> {
        let (file, meta) = open_regular(path)?;
        let version = FileVersion::of(&meta);
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bytes) = shared.get(&version).and_then(Weak::upgrade) {
            return Ok(bytes);
        }
        shared.retain(|_, held| held.strong_count() > 0);
        let bytes = Arc::new(read_opened(file, &meta, path, MAX_UPLOAD_SOURCE)?);
        // Changed while being read: these bytes are handed out, but not as `version`.
        let after = std::fs::metadata(path).map(|m| FileVersion::of(&m)).ok();
        if after.as_ref() == Some(&version) && bytes.len() as u64 == version.size {
            shared.insert(version, Arc::downgrade(&bytes));
        }
        Ok(bytes)
    }

    /// The size and sha1 of the file at `path`, read and hashed only when neither this run
    /// nor an earlier one knows this version of it. Hashing happens under the lock: the hosts
    /// that ask at the same time wait for the first one's result instead of all hashing the
    /// same file at once.
    pub(crate) fn digest(&self, path: &Path) -> Result<(u64, String), ReadFileError> {
        // Opened even when the sum is known: a FIFO or device is refused the same either way.
        let (file, meta) = open_regular(path)?;
        let version = FileVersion::of(&meta);
        let mut sums = self.sums.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sum) = sums.get(&version) {
            return Ok((version.size, sum.clone()));
        }
        if let Some(sum) = self.remembered(&version) {
            sums.insert(version.clone(), sum.clone());
            return Ok((version.size, sum));
        }
        let bytes = read_opened(file, &meta, path, MAX_UPLOAD_SOURCE)?;
        let sum = sha1_hex(&bytes);
        // Changed while being read: the sum is right for these bytes, but not for `version`.
        let after = std::fs::metadata(path).map(|m| FileVersion::of(&m)).ok();
        if after.as_ref() == Some(&version) && bytes.len() as u64 == version.size {
            self.remember(&version, &sum);
            sums.insert(version, sum.clone());
        }
        Ok((bytes.len() as u64, sum))
    }

    /// The md5 of the file at `path`, computed once per version of it in this run, under
    /// the lock (hosts asking at once wait for the first one's result).
    pub(crate) fn md5(&self, path: &Path) -> Result<String, ReadFileError> {
        let (_, meta) = open_regular(path)?;
        let version = FileVersion::of(&meta);
        let mut md5s = self.md5s.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sum) = md5s.get(&version) {
            return Ok(sum.clone());
        }
        let bytes = self.read_shared(path)?;
        let sum: String = md5::Md5::digest(bytes.as_slice())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let after = std::fs::metadata(path).map(|m| FileVersion::of(&m)).ok();
        if after.as_ref() == Some(&version) && bytes.len() as u64 == version.size {
            md5s.insert(version, sum.clone());
        }
        Ok(sum)
    }

    fn entry(&self, v: &FileVersion) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{}.{}", v.dev, v.ino)))
    }

    fn remembered(&self, v: &FileVersion) -> Option<String> {
        let text = std::fs::read_to_string(self.entry(v)?).ok()?;
        let (stamp, sum) = text.trim_end().rsplit_once(' ')?;
        let well_formed = sum.len() == 40 && sum.bytes().all(|b| b.is_ascii_hexdigit());
        (stamp == v.stamp() && well_formed).then(|| sum.to_string())
    }

    /// Writes the entry through a temporary file and a rename, so a reader never sees half.
    fn remember(&self, v: &FileVersion, sum: &str) {
        let (Some(dir), Some(entry)) = (self.dir.as_ref(), self.entry(v)) else {
            return;
        };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            // Per process: two runs at once each write their own, and either rename wins.
            let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, format!("{} {sum}\n", v.stamp()))?;
            std::fs::rename(&tmp, &entry).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })
        };
        let _ = write();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path) -> ChecksumCache {
        ChecksumCache::in_dir(Some(dir.join("sums")))
    }

    /// Number of cache entries in `dir/sums`.
    fn entries(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir.join("sums"))
            .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default()
    }

    #[test]
    fn uploads_of_one_version_share_one_copy_and_a_new_version_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("etcd");
        std::fs::write(&file, b"v1").unwrap();
        let c = cache(dir.path());
        let first = c.read_shared(&file).unwrap();
        let second = c.read_shared(&file).unwrap();
        assert!(
            Arc::ptr_eq(&first, &second),
            "a second host gets the same copy"
        );
        std::fs::write(&file, b"v2!").unwrap();
        let third = c.read_shared(&file).unwrap();
        assert_eq!(&third[..], b"v2!", "a changed file is read again");
        drop((first, second, third));
        let again = c.read_shared(&file).unwrap();
        assert_eq!(&again[..], b"v2!");
        assert_eq!(
            c.shared.lock().unwrap().len(),
            1,
            "copies nobody holds are forgotten"
        );
    }

    #[test]
    fn a_sum_is_computed_once_per_version_and_survives_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("etcd");
        std::fs::write(&file, b"v1").unwrap();
        let run1 = cache(dir.path());
        assert_eq!(run1.digest(&file).unwrap(), (2, sha1_hex(b"v1")));
        let [entry] = &entries(dir.path())[..] else {
            panic!("one entry")
        };
        // Later answers come from what was remembered: make it say something else to prove it.
        let text = std::fs::read_to_string(entry).unwrap();
        let fake = "f".repeat(40);
        std::fs::write(entry, text.replace(&sha1_hex(b"v1"), &fake)).unwrap();
        assert_eq!(
            run1.digest(&file).unwrap().1,
            sha1_hex(b"v1"),
            "this run remembers in memory"
        );
        assert_eq!(
            cache(dir.path()).digest(&file).unwrap().1,
            fake,
            "the next run reads the entry"
        );

        // Same size, the mtime put back: the ctime moved, so it is hashed again.
        let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::fs::write(&file, b"v2").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_eq!(
            cache(dir.path()).digest(&file).unwrap(),
            (2, sha1_hex(b"v2"))
        );
        assert_eq!(
            cache(dir.path()).digest(&file).unwrap(),
            (2, sha1_hex(b"v2"))
        );
    }

    /// The md5 of a copy's result: right, kept for the version it was computed for (proved
    /// by changing the remembered value), computed again for a new version.
    #[test]
    fn an_md5_is_computed_once_per_version() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("etcd");
        std::fs::write(&file, b"v1").unwrap();
        let c = cache(dir.path());
        // As `md5sum` prints them.
        assert_eq!(c.md5(&file).unwrap(), "6654c734ccab8f440ff0825eb443dc7f");
        let fake = "0".repeat(32);
        for sum in c.md5s.lock().unwrap().values_mut() {
            *sum = fake.clone();
        }
        assert_eq!(
            c.md5(&file).unwrap(),
            fake,
            "the same version is not hashed again"
        );
        std::fs::write(&file, b"v2!").unwrap();
        assert_eq!(c.md5(&file).unwrap(), "c67a9ca5f84c1f187c62ef4d51387bef");
        assert_eq!(
            entries(dir.path()).len(),
            0,
            "md5s are not remembered across runs"
        );
    }

    #[test]
    fn bad_entries_and_unwritable_caches_only_cost_a_hash() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").unwrap();
        cache(dir.path()).digest(&file).unwrap();
        let [entry] = &entries(dir.path())[..] else {
            panic!("one entry")
        };
        let text = std::fs::read_to_string(entry).unwrap();
        std::fs::write(entry, text.replace(&sha1_hex(b"abc"), "not-a-sum")).unwrap();
        assert_eq!(
            cache(dir.path()).digest(&file).unwrap().1,
            sha1_hex(b"abc"),
            "a damaged entry is not trusted"
        );

        let blocked = dir.path().join("plain-file");
        std::fs::write(&blocked, b"").unwrap();
        assert_eq!(cache(&blocked).digest(&file).unwrap().1, sha1_hex(b"abc"));
        assert_eq!(
            ChecksumCache::in_dir(None).digest(&file).unwrap().1,
            sha1_hex(b"abc")
        );
        assert!(cache(dir.path())
            .digest(&dir.path().join("missing"))
            .is_err());
    }
}
