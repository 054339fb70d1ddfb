//! Running the data-dir reader on the host itself. Reading a data dir through shell commands
//! moves every WAL byte the reader needs over SSH (up to a few hundred MB for several full
//! 64 MB segments); `etcdplay-datadir-reader`, built next to `etcdplay`, reads them from the
//! host's disk and sends back one line of JSON that decodes into the same
//! `Result<DataDirReport, DataDirError>`. The binary is cached on the host as
//! `/var/cache/etcdplay/bin/etcdplay-datadir-reader-<sha1, 12 hex>` (directory 0700, owned by
//! the user the check runs as), so the usual check is ONE round trip: a script that checks the
//! platform and the cached file and `exec`s it. The first check on a host uploads it (three
//! round trips). Whatever goes wrong is reported to the caller, which falls back to shell
//! commands: an absent binary, another OS or architecture, a host whose C library is too
//! old, a cache dir that cannot be made private.

use std::sync::Arc;

use etcdplay_etcd::datadir::shell_quote;
use etcdplay_etcd::{decode_result, DataDirError, DataDirReport, WireError};
use etcdplay_transport::{
    Become, ExecRequest, PutRequest, ShippedBinary, Transport, TransportError,
};
use tokio::sync::OnceCell;

/// The reader's file name next to `etcdplay`, and the prefix of its cached copies.
pub(crate) const READER_NAME: &str = "etcdplay-datadir-reader";
/// Where hosts keep the uploaded reader.
pub(crate) const HOST_CACHE_DIR: &str = "/var/cache/etcdplay/bin";
/// Lines the host script prints instead of running the reader.
const UNSUPPORTED: &str = "etcdplay-reader:unsupported-platform";
const NO_CACHE_DIR: &str = "etcdplay-reader:no-private-cache-dir";
const NEED_UPLOAD: &str = "etcdplay-reader:need-upload";

/// The reader binary of this control node (see [`ShippedBinary`]).
pub(crate) type ReaderBinary = ShippedBinary;

/// The reader next to the running executable, loaded and hashed once per run.
pub(crate) async fn reader_of_this_run() -> Option<Arc<ReaderBinary>> {
    static BINARY: OnceCell<Option<Arc<ReaderBinary>>> = OnceCell::const_new();
    BINARY
        .get_or_init(|| async {
            tokio::task::spawn_blocking(|| ShippedBinary::beside_current_exe(READER_NAME))
                .await
                .ok()
                .flatten()
                .map(Arc::new)
        })
        .await
        .clone()
}

/// One data-dir read through the cached reader on a host.
#[derive(Debug)]
pub(crate) struct HostRead {
    pub(crate) result: Result<DataDirReport, DataDirError>,
    /// Requests sent to the host (1 when the reader was already there).
    pub(crate) round_trips: usize,
}

/// Why the reader could not run on a host, and what trying cost.
#[derive(Debug)]
pub(crate) struct NotOnHost {
    pub(crate) why: Unavailable,
    pub(crate) round_trips: usize,
}

/// Why the reader could not run on a host (the host is then read with shell commands).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unavailable {
    #[error(transparent)]
    Transport(TransportError),
    #[error("the host is not {platform}")]
    Platform { platform: String },
    #[error("{cache_dir} cannot be made private to the user the check runs as")]
    NoPrivateCache { cache_dir: String },
    #[error("--check: the reader is not on the host yet, and nothing is uploaded in check mode")]
    CheckMode,
    #[error("uploading the reader: {0}")]
    Upload(#[source] TransportError),
    #[error("the uploaded reader is not on the host")]
    Vanished,
    /// The reader's output is not an answer; `stderr` is [`stderr_note`] of its stderr.
    #[error("{source}{stderr}")]
    Answer {
        #[source]
        source: WireError,
        stderr: String,
    },
    #[error("the reader exited with {rc}{stderr}")]
    Exit { rc: i32, stderr: String },
}

/// Runs the reader on the host behind `transport`; `Err` says why it could not (the caller
/// then reads with shell commands).
pub(crate) struct HostReader<'a> {
    pub(crate) binary: &'a ReaderBinary,
    /// [`HOST_CACHE_DIR`], or a scratch directory in tests.
    pub(crate) cache_dir: &'a str,
    /// `false` under `--check`: a cached reader is used, but nothing is created, removed or
    /// uploaded on the host.
    pub(crate) may_write: bool,
}

impl HostReader<'_> {
    pub(crate) async fn read(
        &self,
        transport: &dyn Transport,
        become_: Option<&Become>,
        data_dir: &str,
        wal_dir: Option<&str>,
        block_size: usize,
    ) -> Result<HostRead, NotOnHost> {
        let mut round_trips = 0;
        self.try_read(
            transport,
            become_,
            data_dir,
            wal_dir,
            block_size,
            &mut round_trips,
        )
        .await
        .map_err(|why| NotOnHost { why, round_trips })
    }

    async fn try_read(
        &self,
        transport: &dyn Transport,
        become_: Option<&Become>,
        data_dir: &str,
        wal_dir: Option<&str>,
        block_size: usize,
        round_trips: &mut usize,
    ) -> Result<HostRead, Unavailable> {
        let script = self.run_script(data_dir, wal_dir, block_size);
        for attempt in 0..2 {
            *round_trips += 1;
            // Reads the data dir; what it may write is its own cache of the reader, which no
            // task's probe reads.
            let out = transport
                .exec_reading(ExecRequest {
                    script: script.clone(),
                    become_: become_.cloned(),
                    ..ExecRequest::default()
                })
                .await
                .map_err(Unavailable::Transport)?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            match (out.rc, stdout.trim()) {
                (0, UNSUPPORTED) => {
                    return Err(Unavailable::Platform {
                        platform: self.binary.platform().to_string(),
                    })
                }
                (0, NO_CACHE_DIR) => {
                    return Err(Unavailable::NoPrivateCache {
                        cache_dir: self.cache_dir.to_string(),
                    })
                }
                (0, NEED_UPLOAD) if !self.may_write => return Err(Unavailable::CheckMode),
                (0, NEED_UPLOAD) if attempt == 0 => {
                    *round_trips += 1;
                    let put = PutRequest {
                        dest: self.host_path(),
                        content: self.binary.bytes().clone(),
                        mode: Some(0o755),
                        become_: become_.cloned(),
                        ..PutRequest::default()
                    };
                    transport.put(put).await.map_err(Unavailable::Upload)?;
                }
                (0, NEED_UPLOAD) => return Err(Unavailable::Vanished),
                (0, _) => {
                    return match decode_result(&out.stdout) {
                        Ok(result) => Ok(HostRead {
                            result,
                            round_trips: *round_trips,
                        }),
                        Err(source) => Err(Unavailable::Answer {
                            source,
                            stderr: stderr_note(&out.stderr),
                        }),
                    }
                }
                (rc, _) => {
                    return Err(Unavailable::Exit {
                        rc,
                        stderr: stderr_note(&out.stderr),
                    })
                }
            }
        }
        Err(Unavailable::Vanished)
    }

    fn host_path(&self) -> String {
        self.binary.host_path(self.cache_dir, READER_NAME)
    }

    /// The one script of a check: run the cached reader if it is there and safe to run (its
    /// directory private to us), otherwise make the directory private, drop readers of other
    /// etcdplay versions (not this one's: a concurrent check may be uploading it) and ask for
    /// an upload. Arguments are paths only.
    fn run_script(&self, data_dir: &str, wal_dir: Option<&str>, block_size: usize) -> String {
        let mut args = format!("--block-size {block_size}");
        if let Some(w) = wal_dir {
            args.push_str(&format!(" --wal-dir {}", shell_quote(w)));
        }
        args.push_str(&format!(" -- {}", shell_quote(data_dir)));
        format!(
            "d={dir}; p={path}\n\
             [ \"$(uname -sm)\" = {platform} ] || {{ echo {UNSUPPORTED}; exit 0; }}\n\
             if [ -O \"$d\" ] && [ -O \"$p\" ] && [ -x \"$p\" ] && [ \"$(stat -c %a \"$d\")\" = 700 ]; then exec \"$p\" {args}; fi\n\
             {read_only}\
             mkdir -p \"$d\" && chmod 700 \"$d\" && [ -O \"$d\" ] || {{ echo {NO_CACHE_DIR}; exit 0; }}\n\
             for f in \"$d\"/{READER_NAME}-*; do [ \"$f\" = \"$p\" ] || rm -f \"$f\"; done\n\
             echo {NEED_UPLOAD}\n",
            read_only = if self.may_write { String::new() } else { format!("echo {NEED_UPLOAD}; exit 0\n") },
            dir = shell_quote(self.cache_dir),
            path = shell_quote(&self.host_path()),
            platform = shell_quote(self.binary.platform()),
        )
    }
}

/// The start of a failed reader's stderr, for the fallback's reason.
fn stderr_note(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", text.chars().take(300).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcdplay_etcd::{encode_result, DataDirState, Member, SourceError};
    use etcdplay_transport::LocalTransport;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn initialized() -> Result<DataDirReport, DataDirError> {
        Ok(DataDirReport {
            state: DataDirState::Initialized {
                local_id: u64::MAX - 1,
                cluster_id: 3,
                members: vec![Member {
                    id: u64::MAX - 1,
                    name: "m1".into(),
                    peer_urls: vec!["http://10.0.0.1:2380".into()],
                    ..Member::default()
                }],
                warnings: vec!["w".into()],
            },
        })
    }

    /// A stand-in reader: a shell script that logs its arguments and prints `answer`.
    fn fake_reader(answer: &str, log: &Path) -> ReaderBinary {
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" >>{}\nprintf '%s\\n' {}\n",
            shell_quote(&log.to_string_lossy()),
            shell_quote(answer)
        );
        ReaderBinary::from_bytes(
            script.into_bytes(),
            etcdplay_transport::control_platform().unwrap(),
        )
    }

    async fn read(
        binary: &ReaderBinary,
        cache: &Path,
        data_dir: &str,
    ) -> Result<HostRead, Unavailable> {
        read_as(binary, cache, data_dir, true).await
    }

    async fn read_as(
        binary: &ReaderBinary,
        cache: &Path,
        data_dir: &str,
        may_write: bool,
    ) -> Result<HostRead, Unavailable> {
        let cache = cache.to_string_lossy().into_owned();
        let reader = HostReader {
            binary,
            cache_dir: &cache,
            may_write,
        };
        reader
            .read(
                &LocalTransport::new("h1"),
                None,
                data_dir,
                Some("/w a'l"),
                8 << 20,
            )
            .await
            .map_err(|e| {
                assert!((1..=3).contains(&e.round_trips), "{e:?}");
                e.why
            })
    }

    #[tokio::test]
    async fn uploads_once_then_runs_in_one_round_trip_with_the_same_result() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("args");
        let cache = tmp.path().join("cache/bin");
        let binary = fake_reader(&encode_result(&initialized()), &log);
        let first = read(&binary, &cache, "/data dir").await.unwrap();
        assert_eq!(first.round_trips, 3);
        assert_eq!(first.result.unwrap(), initialized().unwrap());
        let second = read(&binary, &cache, "/data dir").await.unwrap();
        assert_eq!(second.round_trips, 1);
        assert_eq!(second.result.unwrap(), initialized().unwrap());
        // The arguments arrive as words, the data dir after `--`.
        let args = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            args,
            "--block-size\n8388608\n--wal-dir\n/w a'l\n--\n/data dir\n".repeat(2)
        );
        let dir_mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let names: Vec<String> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![format!("{READER_NAME}-{}", binary.tag())]);
        let file_mode = std::fs::metadata(cache.join(&names[0]))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(file_mode, 0o755);
    }

    /// `--check` writes nothing on the host: no directory, no upload; a cached reader is used.
    #[tokio::test]
    async fn check_mode_uses_a_cached_reader_but_never_uploads() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("args");
        let cache = tmp.path().join("cache/bin");
        let binary = fake_reader(&encode_result(&initialized()), &log);
        let why = read_as(&binary, &cache, "/d", false)
            .await
            .unwrap_err()
            .to_string();
        assert!(why.contains("--check"), "{why}");
        assert!(
            !tmp.path().join("cache").exists(),
            "check mode created the cache dir"
        );
        read(&binary, &cache, "/d").await.unwrap();
        let cached = read_as(&binary, &cache, "/d", false).await.unwrap();
        assert_eq!(
            (cached.round_trips, cached.result.unwrap()),
            (1, initialized().unwrap())
        );
    }

    #[tokio::test]
    async fn a_read_error_is_data_and_a_new_version_replaces_the_old_one() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("args");
        let cache = tmp.path().join("bin");
        let old = fake_reader(&encode_result(&initialized()), &log);
        read(&old, &cache, "/d").await.unwrap();
        let error = Err(DataDirError::Source {
            path: "member/wal".into(),
            source: SourceError::Io(std::io::Error::from_raw_os_error(13)),
        });
        let new = fake_reader(&encode_result(&error), &log);
        assert_ne!(old.tag(), new.tag());
        let got = read(&new, &cache, "/d").await.unwrap();
        assert_eq!(got.round_trips, 3);
        assert_eq!(
            got.result.unwrap_err().to_string(),
            "member/wal: Permission denied (os error 13)"
        );
        let names: Vec<String> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![format!("{READER_NAME}-{}", new.tag())]);
    }

    #[tokio::test]
    async fn failures_are_reasons_to_fall_back() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("args");
        // A binary the host cannot execute (like a missing glibc symbol: exit 127/1 + stderr).
        let broken = ReaderBinary::from_bytes(
            b"#!/nonexistent/interpreter\n".to_vec(),
            etcdplay_transport::control_platform().unwrap(),
        );
        let e = read(&broken, &tmp.path().join("c1"), "/d")
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("exited with 126")
                || e.contains("exited with 127")
                || e.contains("exited with 2"),
            "{e}"
        );
        // Output that is not an answer.
        let chatty = fake_reader("hello", &log);
        let e = read(&chatty, &tmp.path().join("c2"), "/d")
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("not the output of etcdplay-datadir-reader"),
            "{e}"
        );
        // Another platform.
        let foreign = ReaderBinary::from_bytes(b"x".to_vec(), "Plan9 pdp11".into());
        let e = read(&foreign, &tmp.path().join("c3"), "/d")
            .await
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e, "the host is not Plan9 pdp11");
        assert!(
            !tmp.path().join("c3").exists(),
            "nothing is written for a foreign host"
        );
        // A cache dir that cannot be created (a file is in the way).
        std::fs::write(tmp.path().join("file"), b"").unwrap();
        let good = fake_reader(&encode_result(&initialized()), &log);
        let e = read(&good, &tmp.path().join("file/bin"), "/d")
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("cannot be made private"), "{e}");
    }

    #[tokio::test]
    async fn a_cached_reader_in_a_shared_directory_is_not_run() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("args");
        let cache = tmp.path().join("bin");
        let binary = fake_reader(&encode_result(&initialized()), &log);
        read(&binary, &cache, "/d").await.unwrap();
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        // Not trusted as it is: the directory is made private again and the reader re-uploaded.
        let again = read(&binary, &cache, "/d").await.unwrap();
        assert_eq!(again.round_trips, 3);
        assert_eq!(
            std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}
