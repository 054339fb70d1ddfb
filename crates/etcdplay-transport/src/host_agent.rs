//! The host agent (`etcdplay-agent`, see that crate): a program etcdplay keeps on hosts it
//! reaches as root and starts in place of the shell loop, with the same protocol and fewer
//! processes per request. This module decides whether a shell starts it, and installs it.
//!
//! A shell is started with [`HostAgent::start_prefix`] in front of the loop: with builtins
//! only (no process), it runs the cached agent when the file and its directory are the
//! login's own and no symlinks, and otherwise goes on into the loop. The agent checks the rest
//! itself (root, a 0700 directory) and refuses otherwise; the transport then starts the loop
//! and does not try the agent again on that connection. A host whose first shell started the
//! loop although the login is root gets the agent when the transport closes, in two requests
//! (one that checks the platform and makes the directory private, then the upload, streamed
//! over a channel of its own from the one copy all hosts share: a framed request would copy
//! it per host, and a fleet's hosts all close at once), for the next run: a run never waits
//! for an upload before its work.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::script::sh_quote;
use crate::shipped::ShippedBinary;
use crate::{ExecOutput, ExecRequest, PutRequest};

/// The agent's file name next to `etcdplay`, and the prefix of its cached copies.
pub const AGENT_NAME: &str = "etcdplay-agent";
/// Where hosts keep it (the data-dir reader's directory).
pub const AGENT_CACHE_DIR: &str = "/var/cache/etcdplay/bin";
/// The first line of a script that asks the agent for answers it would otherwise start a
/// process for (`etcdplay-agent`'s `prefill.rs`: the words it knows, and why only a first
/// line counts); under the shell loop it is a comment.
pub const AGENT_PREFILL_HINT: &str = "# ep_agent_prefill ";

/// The prefixes of the words that have the agent act rather than answer: it writes a file
/// (`put:`) or makes a directory (`mkdir:`) as the script would, before it answers any other
/// word, and answers none when the act fails (the script then acts itself). A script whose
/// hint acts does nothing else to the host, so what the agent answers after the act is what
/// the script would find: such a script may carry, on the same line, the words of whatever
/// runs after it in the same request.
const ACTING_WORDS: [&str; 2] = ["put:", "mkdir:"];

/// A script's leading prefill hint split off: its words and the rest of the script.
fn leading_hint(script: &str) -> Option<(&str, &str)> {
    let rest = script.strip_prefix(AGENT_PREFILL_HINT)?;
    Some(rest.split_once('\n').unwrap_or((rest, "")))
}

/// The one prefill line of a request that runs `first`, then `then`, and the two scripts
/// without theirs: `first`'s words, then `then`'s when nothing `first` does can have made
/// their answers stale (`first` is `:`, or its hint acts: see [`ACTING_WORDS`]). A hint that
/// is not hoisted stays where it was, a comment.
pub(crate) fn joined_hints<'a>(first: &'a str, then: &'a str) -> (String, &'a str, &'a str) {
    let (first_words, first_rest) = leading_hint(first).unwrap_or(("", first));
    let acts = first_words
        .split(' ')
        .any(|w| ACTING_WORDS.iter().any(|a| w.starts_with(a)));
    let (then_words, then_rest) = match leading_hint(then) {
        Some(split) if acts || first.trim() == ":" => split,
        _ => ("", then),
    };
    let words: Vec<&str> = [first_words, then_words]
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect();
    let line = if words.is_empty() {
        String::new()
    } else {
        format!("{AGENT_PREFILL_HINT}{}\n", words.join(" "))
    };
    (line, first_rest, then_rest)
}

/// A path as a word of the agent's prefill hint: its bytes in hex (a path may hold spaces,
/// colons, any byte but NUL; the agent's `prefill::unhex` reads it back).
pub fn agent_hint_path(path: &str) -> String {
    path.bytes().map(|b| format!("{b:02x}")).collect()
}
/// The exit status of an agent that refused to serve (`etcdplay-agent`'s `REFUSED`).
const REFUSED_STATUS: i32 = 97;

/// Whether a large upload's channel ended with the agent's refusal (it read nothing and
/// wrote nothing; the upload is sent again through the put script).
pub(crate) fn upload_refused(rc: i32, stderr: &[u8]) -> bool {
    rc == REFUSED_STATUS && stderr.starts_with(b"agent-refused ")
}

/// What the install check prints when the upload should follow.
const NEED_UPLOAD: &str = "etcdplay-agent:need-upload";

/// The agent a transport may start and install.
#[derive(Debug, Clone)]
pub struct HostAgent {
    pub binary: Arc<ShippedBinary>,
    /// [`AGENT_CACHE_DIR`], or a scratch directory in tests.
    pub cache_dir: String,
    /// `false` under `--check`: a cached agent is used, nothing is installed.
    pub may_install: bool,
}

impl HostAgent {
    /// The agent next to the running executable, loaded and hashed once per run.
    pub fn of_this_run(may_install: bool) -> Option<HostAgent> {
        static BINARY: std::sync::OnceLock<Option<Arc<ShippedBinary>>> = std::sync::OnceLock::new();
        let binary = BINARY
            .get_or_init(|| ShippedBinary::beside_current_exe(AGENT_NAME).map(Arc::new))
            .clone()?;
        Some(HostAgent {
            binary,
            cache_dir: AGENT_CACHE_DIR.to_string(),
            may_install,
        })
    }

    fn host_path(&self) -> String {
        self.binary.host_path(&self.cache_dir, AGENT_NAME)
    }

    /// Shell text that `exec`s the cached agent with `args` when the file and its directory
    /// are there, the login's own and no symlinks (builtins only: no process); otherwise it
    /// does nothing and the shell goes on.
    fn exec_if_found(&self, args: &str) -> String {
        format!(
            "p={path}; q=${{p%/*}}\n\
             if [ -d \"$q\" ] && ! [ -L \"$q\" ] && [ -O \"$q\" ] && [ -f \"$p\" ] && ! [ -L \"$p\" ] && [ -O \"$p\" ] && [ -x \"$p\" ]; then exec \"$p\" {args}; fi\n\
             unset p q\n",
            path = sh_quote(&self.host_path()),
        )
    }

    /// Shell text put in front of the loop: `exec` the agent with the marker (`$1`) when it is
    /// there and the login's own; otherwise nothing, and the loop starts.
    pub(crate) fn start_prefix(&self) -> String {
        self.exec_if_found("\"$1\"")
    }

    /// The script of a large upload's channel that has the agent write it (`etcdplay-agent
    /// --put`, one process that hashes while it writes: see the agent's `bulk_put.rs`), found
    /// and checked as [`HostAgent::start_prefix`] does; when it is not there, `fallback` (the
    /// put script) runs in the same shell and reads the same input. Only for uploads the
    /// agent writes as the script would: no owner or group to resolve by name.
    pub(crate) fn bulk_put_script(&self, req: &PutRequest, len: usize, fallback: &str) -> String {
        let mode = req
            .mode
            .map_or_else(|| "-".to_string(), |m| format!("{m:o}"));
        let dest = agent_hint_path(&req.dest);
        let agent = self.exec_if_found(&format!("--put {mode} {dest} {len}"));
        format!("{agent}{fallback}")
    }

    /// The first of the two requests that install the agent for the next run: checks the
    /// platform, makes the directory private (dropping other versions' agents) and says
    /// whether [`HostAgent::upload`] should follow ([`HostAgent::wants_upload`]). A host of
    /// another platform, or where the directory cannot be the login's own, is left alone.
    pub(crate) fn install_check(&self) -> ExecRequest {
        ExecRequest::script(format!(
            "d={dir}; p={path}\n\
             [ \"$(uname -sm)\" = {platform} ] || exit 0\n\
             mkdir -p \"$d\" && chmod 700 \"$d\" && [ -O \"$d\" ] && ! [ -L \"$d\" ] || exit 0\n\
             for f in \"$d\"/{AGENT_NAME}-*; do [ \"$f\" = \"$p\" ] || rm -f \"$f\"; done\n\
             echo {NEED_UPLOAD}\n",
            dir = sh_quote(&self.cache_dir),
            path = sh_quote(&self.host_path()),
            platform = sh_quote(self.binary.platform()),
        ))
    }

    /// Whether [`HostAgent::install_check`]'s answer asks for the upload.
    pub(crate) fn wants_upload(out: &ExecOutput) -> bool {
        out.rc == 0 && out.stdout_str().trim() == NEED_UPLOAD
    }

    /// The upload of the agent (root-only, as the directory).
    pub(crate) fn upload(&self) -> PutRequest {
        PutRequest {
            dest: self.host_path(),
            content: self.binary.bytes().clone(),
            mode: Some(0o700),
            ..PutRequest::default()
        }
    }
}

/// How a shell's start went, from its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Started {
    /// The shell loop, running as `uid` (`None` if it printed something else).
    Loop { uid: Option<u32> },
    /// The agent.
    Agent,
    /// The agent would not serve this login or directory; the loop must be started instead.
    AgentRefused,
}

/// What one connection knows about its host's agent.
#[derive(Debug, Default)]
pub(crate) struct AgentUse {
    agent: Option<HostAgent>,
    /// The agent refused or failed to start here: shells start the loop from then on.
    off: AtomicBool,
    /// How the first shell started.
    first: Mutex<Option<Started>>,
}

impl AgentUse {
    pub(crate) fn new(agent: Option<HostAgent>) -> Self {
        AgentUse {
            agent,
            ..AgentUse::default()
        }
    }

    /// The prefix a new shell starts with, while the agent may be tried.
    pub(crate) fn start_prefix(&self) -> Option<String> {
        if self.off.load(Ordering::Relaxed) {
            return None;
        }
        self.agent.as_ref().map(HostAgent::start_prefix)
    }

    /// The agent, when this connection's shells are served by it (a large upload may then be
    /// written by it too).
    pub(crate) fn serving(&self) -> Option<&HostAgent> {
        let first = *self.first.lock().unwrap_or_else(|e| e.into_inner());
        (first == Some(Started::Agent) && !self.off.load(Ordering::Relaxed))
            .then_some(self.agent.as_ref())
            .flatten()
    }

    pub(crate) fn turn_off(&self) {
        self.off.store(true, Ordering::Relaxed);
    }

    pub(crate) fn note(&self, started: Started) {
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(started);
    }

    /// The agent to install when the connection closes: there is one, installing is allowed,
    /// and the first shell was the loop of a root login (with the agent not even tried, or
    /// not found).
    pub(crate) fn to_install(&self) -> Option<&HostAgent> {
        let agent = self.agent.as_ref().filter(|a| a.may_install)?;
        let first = *self.first.lock().unwrap_or_else(|e| e.into_inner());
        (first == Some(Started::Loop { uid: Some(0) }) && !self.off.load(Ordering::Relaxed))
            .then_some(agent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{agent_in, is_root, private_agent_copy, spawn_like_sshd};
    use crate::{LocalTransport, Transport};
    use std::os::unix::fs::PermissionsExt;
    use tokio::io::{AsyncBufReadExt, BufReader};

    /// Words go on one first line: a change's own always, the next script's only after a
    /// change whose hint acts or a change that is `:`; a hint not hoisted stays a comment.
    #[test]
    fn hints_are_hoisted_only_over_an_act() {
        let h = AGENT_PREFILL_HINT;
        let put = format!("{h}put:644:2f78\nwrite\n");
        let batch = format!("{h}stat:2f78\nprobe\n");
        assert_eq!(
            joined_hints(&put, &batch),
            (format!("{h}put:644:2f78 stat:2f78\n"), "write\n", "probe\n")
        );
        let mkdir = format!("{h}mkdir:750:2f64\nmake\n");
        assert_eq!(
            joined_hints(&mkdir, &batch).0,
            format!("{h}mkdir:750:2f64 stat:2f78\n")
        );
        assert_eq!(
            joined_hints(":", &batch),
            (format!("{h}stat:2f78\n"), ":", "probe\n")
        );
        // A change the agent does not do itself could make the answers stale.
        let change = "systemctl enable x\n";
        assert_eq!(
            joined_hints(change, &batch),
            (String::new(), change, batch.as_str())
        );
        let reading = format!("{h}cpuinfo\nfacts\n");
        assert_eq!(
            joined_hints(&reading, &batch),
            (format!("{h}cpuinfo\n"), "facts\n", batch.as_str())
        );
        assert_eq!(
            joined_hints(&put, "probe\n").0,
            format!("{h}put:644:2f78\n")
        );
    }

    /// The first line a connection's start command prints, run locally.
    async fn first_line(agent: &HostAgent) -> String {
        let mut child = spawn_like_sshd(
            tokio::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!(
                    "{}{}",
                    agent.start_prefix(),
                    crate::shell_protocol::LOOP_SCRIPT
                ))
                .args(["etcdplay", "M"]),
        );
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .await
            .unwrap();
        line
    }

    #[tokio::test]
    #[allow(clippy::print_stderr)]
    async fn the_agent_serves_only_from_a_private_directory_and_the_loop_otherwise() {
        if !is_root() {
            eprintln!("the agent serves root only; skipped");
            return;
        }
        let (dir, path) = private_agent_copy();
        let agent = agent_in(dir.path());
        assert_eq!(first_line(&agent).await, "M ready agent\n");
        // Group- or world-readable directory: the agent refuses, before serving anything.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            first_line(&agent).await,
            "M agent-refused dir-not-private\n"
        );
        // Absent, or a symlink: the loop, without a process spent on trying.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let moved = dir.path().join("elsewhere");
        std::fs::rename(&path, &moved).unwrap();
        assert_eq!(first_line(&agent).await, "M ready sh 0\n");
        std::os::unix::fs::symlink(&moved, &path).unwrap();
        assert_eq!(first_line(&agent).await, "M ready sh 0\n");
    }

    /// Runs a large upload's channel script locally, `content` on its stdin; its exit status
    /// and stderr.
    fn upload_with(script: &str, content: &[u8], sums: &std::path::Path) -> (i32, String) {
        use std::io::Write;
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", script])
            .env("EP_SUMS_DIR", sums)
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(content).unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code().unwrap_or(-1), err)
    }

    /// The agent writes a large upload as the put script does (content, mode, a replaced
    /// file's mode kept, nothing left beside it, the same failure on a short upload) and also
    /// leaves its checksum in the cache; without the agent the same script falls back to the
    /// put script.
    #[test]
    #[allow(clippy::print_stderr)]
    fn a_large_upload_is_written_by_the_agent_as_by_the_script() {
        if !is_root() {
            eprintln!("the agent serves root only; skipped");
            return;
        }
        let (agent_dir, agent_path) = private_agent_copy();
        let agent = agent_in(agent_dir.path());
        let tmp = tempfile::tempdir().unwrap();
        let sums = tmp.path().join("sums");
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let upload = |name: &str, mode: Option<u32>, len: usize, by_agent: bool| {
            let req = PutRequest {
                dest: tmp.path().join(name).to_string_lossy().into_owned(),
                mode,
                ..PutRequest::default()
            };
            let script = crate::script::put_script(&req, len);
            let script = if by_agent {
                agent.bulk_put_script(&req, len, &script)
            } else {
                script
            };
            upload_with(&script, &content, &sums)
        };
        let look = |name: &str| {
            let path = tmp.path().join(name);
            let meta = std::fs::metadata(&path).unwrap();
            (
                std::fs::read(&path).unwrap(),
                meta.permissions().mode() & 0o7777,
            )
        };
        for (mode, name) in [(Some(0o755), "exec"), (Some(0o640), "conf"), (None, "new")] {
            assert_eq!(
                upload(&format!("{name}.agent"), mode, content.len(), true).0,
                0
            );
            assert_eq!(
                upload(&format!("{name}.sh"), mode, content.len(), false).0,
                0
            );
            assert_eq!(look(&format!("{name}.agent")), look(&format!("{name}.sh")));
        }
        assert_eq!(look("exec.agent").0, content);
        // A replaced file's mode stays when none is asked for.
        for suffix in ["agent", "sh"] {
            let path = tmp.path().join(format!("conf.{suffix}"));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(upload("conf.agent", None, content.len(), true).0, 0);
        assert_eq!(upload("conf.sh", None, content.len(), false).0, 0);
        assert_eq!(look("conf.agent").1, 0o600);
        assert_eq!(look("conf.sh").1, 0o600);
        // The checksum cache holds the agent's files only (the script leaves no entry).
        let meta = std::fs::metadata(tmp.path().join("exec.agent")).unwrap();
        let entry = std::fs::read_to_string(sums.join(format!(
            "{}.{}",
            std::os::unix::fs::MetadataExt::dev(&meta),
            std::os::unix::fs::MetadataExt::ino(&meta)
        )))
        .unwrap();
        let sum: String = sha1::Digest::finalize(sha1::Digest::chain_update(
            <sha1::Sha1 as sha1::Digest>::new(),
            &content,
        ))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
        assert!(entry.ends_with(&format!(" {sum}\n")), "{entry}");
        assert_eq!(std::fs::read_dir(&sums).unwrap().count(), 4);
        // Announced longer than what arrives: both fail with the same message.
        let long = content.len() + 1;
        let cut_short = format!(
            "upload cut short: {} of {long} bytes arrived",
            content.len()
        );
        for (name, by_agent) in [("short.agent", true), ("short.sh", false)] {
            let (rc, err) = upload(name, None, long, by_agent);
            assert_eq!((rc, err.trim()), (1, cut_short.as_str()), "{name}");
        }
        let mut names: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "conf.agent",
                "conf.sh",
                "exec.agent",
                "exec.sh",
                "new.agent",
                "new.sh",
                "sums"
            ]
        );
        // No agent there: the same script writes through the put script.
        std::fs::remove_file(&agent_path).unwrap();
        assert_eq!(upload("gone", Some(0o644), content.len(), true).0, 0);
        assert_eq!(look("gone"), (content.clone(), 0o644));
        assert_eq!(std::fs::read_dir(&sums).unwrap().count(), 4);
    }

    /// The two requests of an install, as the SSH transport sends them at close.
    async fn install(agent: &HostAgent, transport: &LocalTransport) -> bool {
        let out = transport.exec(agent.install_check()).await.unwrap();
        if !HostAgent::wants_upload(&out) {
            return false;
        }
        transport.put(agent.upload()).await.unwrap();
        true
    }

    #[tokio::test]
    #[allow(clippy::print_stderr)]
    async fn install_makes_the_directory_private_and_replaces_other_versions() {
        if !is_root() {
            eprintln!("needs root (the install is for root logins); skipped");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache/bin");
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(cache.join(format!("{AGENT_NAME}-000000000000")), b"old").unwrap();
        let agent = agent_in(&cache);
        let local = LocalTransport::new("h1");
        assert!(install(&agent, &local).await);
        let names: Vec<String> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![format!("{AGENT_NAME}-{}", agent.binary.tag())]);
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&cache), 0o700);
        assert_eq!(mode(&cache.join(&names[0])), 0o700);
        assert_eq!(first_line(&agent).await, "M ready agent\n");
        // Another platform's host is left alone.
        let foreign = HostAgent {
            binary: Arc::new(ShippedBinary::from_bytes(
                b"x".to_vec(),
                "Plan9 pdp11".into(),
            )),
            ..agent.clone()
        };
        assert!(!install(&foreign, &local).await);
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
    }

    #[test]
    fn only_a_root_loop_with_the_agent_untried_or_absent_is_installed_at_close() {
        let agent = || {
            Some(HostAgent {
                binary: Arc::new(ShippedBinary::from_bytes(b"a".to_vec(), "Linux x".into())),
                cache_dir: "/c".into(),
                may_install: true,
            })
        };
        let installs = |agent: Option<HostAgent>, started: &[Started], off: bool| {
            let use_ = AgentUse::new(agent);
            for s in started {
                use_.note(*s);
            }
            if off {
                use_.turn_off();
            }
            use_.to_install().is_some()
        };
        let root = Started::Loop { uid: Some(0) };
        assert!(installs(agent(), &[root], false));
        assert!(!installs(
            agent(),
            &[Started::Loop { uid: Some(1000) }],
            false
        ));
        assert!(!installs(agent(), &[Started::Agent, root], false));
        assert!(!installs(agent(), &[root], true));
        assert!(!installs(None, &[root], false));
        let mut check_mode = agent();
        check_mode.as_mut().unwrap().may_install = false;
        assert!(!installs(check_mode, &[root], false));
    }
}
