//! Answers read ahead of time. On a run that changes nothing, every task of a play only reads
//! the host (stat a path, hash a file, ask systemd), yet each costs its own round trip, and on
//! a fleet those round trips are most of the wall time. [`Prefetching`] lets the engine send the
//! read-only probes of several upcoming tasks in one request ([`batch_script`]) and keeps their
//! answers ([`split_batch`]); when a module then sends exactly one of those requests, it gets
//! the kept answer without a round trip. Any other request (a change, an upload, a script not
//! read ahead) may alter what the probes read, so it drops every answer still kept: an answer is
//! only ever used while nothing but read-ahead probes went to the host since it was read.
//!
//! On a host whose tasks change it, answers never survive to the next task; there the engine
//! hands the next task's probes to [`Prefetching::prefetch_after_change`], and they go in the
//! request of the next change etcdplay's own module sends (`crate::change_batch`), read right
//! after it.
//!
//! Every process a batch starts costs the host CPU (issue #18), so a batch starts as few as it
//! can: identical probes run once, a caller's prelude may answer what several probes ask in
//! one command (the modules' `stat` of every path), and a probe whose script begins with
//! [`INLINE_PROBE`] runs in the batch's own shell instead of a subshell of its own.

use crate::change_batch::{change_then_batch, split_change};
use crate::script::random_token;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::{Become, ExecOutput, ExecRequest, PutRequest, Transport, TransportError};

/// A request whose answer may be kept: a script with no input and no environment, so the
/// script text and the user it runs as say everything about it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    script: String,
    become_: Option<Become>,
}

impl Key {
    fn of(req: &ExecRequest) -> Option<Key> {
        (req.stdin.is_empty() && req.env.is_empty()).then(|| Key {
            script: req.script.clone(),
            become_: req.become_.clone(),
        })
    }
}

#[derive(Debug, Default)]
struct Kept {
    answers: Vec<(Key, ExecOutput)>,
    /// Probes to send with the next change (see [`Prefetching::prefetch_after_change`]).
    after_change: Option<AfterChange>,
    /// Requests that were not answered from `answers` and have not finished yet.
    in_flight: usize,
    /// Moves at the start and at the end of every such request, so a read-ahead that overlapped
    /// one (on another channel to the same host) can tell, and throws its answers away.
    generation: u64,
}

impl Kept {
    /// Marks the start of a request that goes to the host: every kept answer is dropped.
    /// Returns the generation it leaves.
    fn start(&mut self) -> u64 {
        self.answers.clear();
        self.in_flight += 1;
        self.generation += 1;
        self.generation
    }
}

/// Probes waiting for a change to ride on: their distinct scripts, the user they run as and
/// the batch prelude.
#[derive(Debug)]
struct AfterChange {
    keys: Vec<Key>,
    scripts: Vec<String>,
    become_: Option<Become>,
    prelude: String,
}

/// A [`Transport`] that can read probes ahead (see the module documentation).
pub struct Prefetching {
    inner: Arc<dyn Transport>,
    kept: Mutex<Kept>,
}

impl Prefetching {
    pub fn new(inner: Arc<dyn Transport>) -> Self {
        Prefetching {
            inner,
            kept: Mutex::new(Kept::default()),
        }
    }

    fn kept(&self) -> MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many read-ahead answers are waiting to be used.
    pub fn waiting(&self) -> usize {
        self.kept().answers.len()
    }

    /// Drops every kept answer (the engine knows they were read for tasks that will not use
    /// them).
    pub fn forget(&self) {
        let mut kept = self.kept();
        kept.answers.clear();
        kept.after_change = None;
    }

    /// Runs `probes` in one request and keeps their answers; returns how many were kept.
    /// Only requests without input or environment that run as the first one's user are sent;
    /// the others are left to run by themselves. The probes must only read the host: they may
    /// run even if their task then does not (a `when:` that turns out false). A probe that
    /// wrote to stderr is not kept (its module then sends it again and sees that stderr).
    pub async fn prefetch(&self, probes: &[ExecRequest]) -> Result<usize, TransportError> {
        self.prefetch_with(probes, "").await
    }

    /// [`Prefetching::prefetch`] with `prelude` run first in the batch's shell: shell code that
    /// only reads the host and prints nothing, setting variables and functions the probes may
    /// use (a probe must give the same answer without them, as it does when sent alone).
    /// Identical probes run once and their answer is kept for each.
    pub async fn prefetch_with(
        &self,
        probes: &[ExecRequest],
        prelude: &str,
    ) -> Result<usize, TransportError> {
        let Some((become_, keys)) = keepable(probes) else {
            return Ok(0);
        };
        let generation = {
            let kept = self.kept();
            if kept.in_flight > 0 {
                return Ok(0);
            }
            kept.generation
        };
        let token = random_token();
        let scripts = distinct_scripts(&keys);
        let request = ExecRequest {
            script: batch_script(&scripts, &token, prelude),
            become_,
            ..ExecRequest::default()
        };
        let out = self.inner.exec(request).await?;
        let parts = split_batch(&out, scripts.len(), &token);
        let answers: Vec<(Key, ExecOutput)> = keys
            .iter()
            .filter_map(|k| {
                let i = scripts.iter().position(|s| *s == k.script)?;
                parts[i].clone().map(|p| (k.clone(), p))
            })
            .collect();
        let mut kept = self.kept();
        if kept.generation != generation || kept.in_flight > 0 {
            return Ok(0);
        }
        kept.answers = answers;
        Ok(kept.answers.len())
    }

    /// Sends `probes` (with `prelude`, as [`Prefetching::prefetch_with`] would) in the same
    /// request as the next change this transport carries (`exec_change`, `put`,
    /// `put_then_read`: scripts etcdplay wrote itself), right after it, and keeps their answers
    /// as a read-ahead would (see `change_batch`). Returns how many probes wait; a later call
    /// replaces them, [`Prefetching::drop_after_change`] drops them. A change whose user or
    /// environment differs from the probes' goes alone.
    pub fn prefetch_after_change(&self, probes: &[ExecRequest], prelude: &str) -> usize {
        let mut kept = self.kept();
        kept.after_change = None;
        let Some((become_, keys)) = keepable(probes) else {
            return 0;
        };
        let scripts = distinct_scripts(&keys)
            .into_iter()
            .map(str::to_string)
            .collect();
        let n = keys.len();
        kept.after_change = Some(AfterChange {
            keys,
            scripts,
            become_,
            prelude: prelude.to_string(),
        });
        n
    }

    /// Drops the probes waiting for a change (their task is over).
    pub fn drop_after_change(&self) {
        self.kept().after_change = None;
    }

    /// The waiting probes, taken out, when a change as `become_` with environment `env` may
    /// carry them.
    fn after_change_for(
        &self,
        become_: &Option<Become>,
        env: &[(String, String)],
    ) -> Option<AfterChange> {
        let mut kept = self.kept();
        let fits = kept
            .after_change
            .as_ref()
            .is_some_and(|a| a.become_ == *become_ && env.is_empty());
        if fits {
            kept.after_change.take()
        } else {
            None
        }
    }

    /// Keeps the answers of a batch that rode on a change, unless another request to the host
    /// started or ended meanwhile (`generation` is the one the change's own start left).
    fn keep_after_change(
        &self,
        probes: AfterChange,
        batch: Option<ExecOutput>,
        token: &str,
        generation: u64,
    ) {
        let Some(batch) = batch else { return };
        let parts = split_batch(&batch, probes.scripts.len(), token);
        let answers: Vec<(Key, ExecOutput)> = probes
            .keys
            .iter()
            .filter_map(|k| {
                let i = probes.scripts.iter().position(|s| *s == k.script)?;
                parts[i].clone().map(|p| (k.clone(), p))
            })
            .collect();
        let mut kept = self.kept();
        if kept.generation == generation && kept.in_flight == 1 {
            kept.answers = answers;
        }
    }

    /// `change` with `probes` after it in one request, and the token that splits the answer.
    fn carrying(change: ExecRequest, probes: &AfterChange) -> (ExecRequest, String) {
        let token = random_token();
        let scripts: Vec<&str> = probes.scripts.iter().map(String::as_str).collect();
        let combined = ExecRequest {
            script: change_then_batch(&change.script, &scripts, &token, &probes.prelude),
            ..change
        };
        (combined, token)
    }

    /// The change's own answer out of a [`Prefetching::carrying`] request's, keeping the
    /// probes' answers.
    fn carried(
        &self,
        out: ExecOutput,
        probes: AfterChange,
        token: &str,
        generation: u64,
    ) -> ExecOutput {
        let (answer, batch) = split_change(out, token);
        self.keep_after_change(probes, batch, token, generation);
        answer
    }

    /// Marks the start of a request that goes to the host (see [`Kept::start`]).
    fn start(&self) -> u64 {
        self.kept().start()
    }

    /// The kept answer to `req`, taken out, leaving the others kept.
    fn answer_kept_for(&self, req: &ExecRequest) -> Option<ExecOutput> {
        let key = Key::of(req)?;
        let mut kept = self.kept();
        let i = kept.answers.iter().position(|(k, _)| *k == key)?;
        Some(kept.answers.remove(i).1)
    }

    /// The kept answer to `req`, taken out; `None` drops every kept answer and marks the start
    /// of a request that goes to the host.
    fn take(&self, req: Option<&ExecRequest>) -> Option<ExecOutput> {
        let mut kept = self.kept();
        if let Some(key) = req.and_then(Key::of) {
            if let Some(i) = kept.answers.iter().position(|(k, _)| *k == key) {
                return Some(kept.answers.remove(i).1);
            }
        }
        kept.start();
        None
    }

    fn finished(&self) {
        let mut kept = self.kept();
        kept.in_flight -= 1;
        kept.generation += 1;
    }
}

#[async_trait]
impl Transport for Prefetching {
    fn host(&self) -> &str {
        self.inner.host()
    }

    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        if let Some(answer) = self.take(Some(&request)) {
            return Ok(answer);
        }
        let out = self.inner.exec(request).await;
        self.finished();
        out
    }

    /// A request that changes nothing the kept answers read leaves them kept; it may still be
    /// answered by one of them.
    async fn exec_reading(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        if let Some(answer) = self.answer_kept_for(&request) {
            return Ok(answer);
        }
        self.inner.exec_reading(request).await
    }

    /// A change etcdplay wrote: the probes waiting for one go with it.
    async fn exec_change(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        let generation = self.start();
        let out = match self.after_change_for(&request.become_, &request.env) {
            None => self.inner.exec(request).await,
            Some(probes) => {
                let (combined, token) = Self::carrying(request, &probes);
                let out = self.inner.exec(combined).await;
                out.map(|out| self.carried(out, probes, &token, generation))
            }
        };
        self.finished();
        out
    }

    /// The probes waiting for a change go with the write, read after it.
    async fn put(&self, request: PutRequest) -> Result<(), TransportError> {
        let generation = self.start();
        let out = match self.after_change_for(&request.become_, &[]) {
            None => self.inner.put(request).await,
            Some(probes) => {
                let after = ExecRequest {
                    script: ":".to_string(),
                    become_: request.become_.clone(),
                    ..ExecRequest::default()
                };
                let (after, token) = Self::carrying(after, &probes);
                let out = self.inner.put_then_read(request, after).await;
                out.map(|out| drop(self.carried(out, probes, &token, generation)))
            }
        };
        self.finished();
        out
    }

    async fn put_then_read(
        &self,
        request: PutRequest,
        after: ExecRequest,
    ) -> Result<ExecOutput, TransportError> {
        let generation = self.start();
        let probes = if request.become_ == after.become_ {
            self.after_change_for(&after.become_, &after.env)
        } else {
            None
        };
        let out = match probes {
            None => self.inner.put_then_read(request, after).await,
            Some(probes) => {
                let (after, token) = Self::carrying(after, &probes);
                let out = self.inner.put_then_read(request, after).await;
                out.map(|out| self.carried(out, probes, &token, generation))
            }
        };
        self.finished();
        out
    }

    /// Reading a file changes nothing: kept answers stay.
    async fn get(&self, path: &str, become_: Option<&Become>) -> Result<Vec<u8>, TransportError> {
        self.inner.get(path, become_).await
    }

    async fn close(&self) -> Result<(), TransportError> {
        self.take(None);
        let out = self.inner.close().await;
        self.finished();
        out
    }
}

/// The requests of `probes` whose answers may be kept (no input, no environment) that run as
/// the first one's user, with that user; `None` when there are none.
fn keepable(probes: &[ExecRequest]) -> Option<(Option<Become>, Vec<Key>)> {
    let become_ = probes.first()?.become_.clone();
    let keys: Vec<Key> = probes
        .iter()
        .filter_map(Key::of)
        .filter(|k| k.become_ == become_)
        .collect();
    (!keys.is_empty()).then_some((become_, keys))
}

/// The scripts of `keys`, each once, in order.
fn distinct_scripts(keys: &[Key]) -> Vec<&str> {
    let mut scripts: Vec<&str> = Vec::new();
    for k in keys {
        if !scripts.contains(&k.script.as_str()) {
            scripts.push(&k.script);
        }
    }
    scripts
}

/// One script that runs each of `scripts` as it would run alone (a subshell of its own, no
/// input) and prints, after each one's stdout, a line `\n@@TOKEN INDEX RC STDERR_LEN`. The
/// script's stderr is captured only to be measured: an answer with stderr is not kept.
pub(crate) fn batch_script(scripts: &[&str], token: &str, prelude: &str) -> String {
    // A prelude's prefill hint goes on the batch's first line, where the host agent looks.
    let (hint, prelude) = if prelude.starts_with(crate::AGENT_PREFILL_HINT) {
        prelude.split_once('\n').unwrap_or((prelude, ""))
    } else {
        ("", prelude)
    };
    let mut out = String::new();
    if !hint.is_empty() {
        out.push_str(hint);
        out.push('\n');
    }
    out.push_str("exec 5>&1\n");
    // The prelude prints nothing (it would become the first answer's output) and its
    // messages are nobody's.
    if !prelude.is_empty() {
        out.push_str("{\n:\n");
        out.push_str(prelude);
        out.push_str("\n} >/dev/null 2>&1 </dev/null\n");
    }
    for (i, script) in scripts.iter().enumerate() {
        // The body is a function so that the script is parsed as a whole of its own.
        // `:` first: an empty body would be a syntax error.
        out.push_str("ep_probe() {\n:\n");
        out.push_str(script);
        out.push_str("\n}\n");
        if script.starts_with(INLINE_PROBE) {
            // In the batch's shell (no process): its stderr goes to the batch's stderr after a
            // line naming it, and `e` in its separator says so.
            out.push_str(&format!("printf '\\n@@{token} {i}\\n' >&2\n"));
            out.push_str("ep_probe </dev/null; ep_rc=$?\n");
            out.push_str(&format!("printf '\\n@@{token} {i} %s e\\n' \"$ep_rc\"\n"));
        } else {
            // In the command substitution's subshell, so its variables, functions and `exit`
            // stay there.
            out.push_str("ep_err=$(ep_probe 2>&1 >&5 5>&- </dev/null); ep_rc=$?\n");
            out.push_str(&format!(
                "printf '\\n@@{token} {i} %s %s\\n' \"$ep_rc\" \"${{#ep_err}}\"\n"
            ));
        }
    }
    out
}

/// The first line of a probe that may run in the batch's own shell, without a subshell (one
/// process less per probe). Such a probe must not `exit`, change shell options, traps, the
/// directory or the umask, must set every variable it reads before reading it, and must read
/// no input. Alone, the line is a comment.
pub const INLINE_PROBE: &str = "# etcdplay: inline probe\n";

/// Whether inline probe `i` wrote nothing to stderr: in the batch's stderr, the line that names
/// it is followed by the next one's or by the end.
fn inline_stderr_empty(stderr: &[u8], token: &str, i: usize) -> bool {
    let mark = format!("\n@@{token} {i}\n");
    let Some(at) = find(stderr, mark.as_bytes()) else {
        return false;
    };
    let rest = &stderr[at + mark.len()..];
    rest.is_empty() || rest.starts_with(format!("\n@@{token} ").as_bytes())
}

/// Splits the output of [`batch_script`] into the answers of its `n` scripts, in order; `None`
/// for one that wrote to stderr or whose separator is missing or malformed (and for all after
/// it).
pub(crate) fn split_batch(out: &ExecOutput, n: usize, token: &str) -> Vec<Option<ExecOutput>> {
    let stdout = &out.stdout;
    let mark = format!("\n@@{token} ");
    let mut answers = Vec::with_capacity(n);
    let mut pos = 0;
    for i in 0..n {
        let found = find(&stdout[pos..], mark.as_bytes()).and_then(|at| {
            let start = pos + at + mark.len();
            let end = start + stdout[start..].iter().position(|&b| b == b'\n')?;
            let fields: Vec<&str> = std::str::from_utf8(&stdout[start..end])
                .ok()?
                .split(' ')
                .collect();
            match fields.as_slice() {
                [index, rc, err_len] if index.parse::<usize>().ok() == Some(i) => Some((
                    pos + at,
                    end + 1,
                    rc.parse::<i32>().ok()?,
                    match *err_len {
                        "e" => inline_stderr_empty(&out.stderr, token, i),
                        len => len.parse::<u64>().ok()? == 0,
                    },
                )),
                _ => None,
            }
        });
        let Some((body_end, next, rc, quiet)) = found else {
            break;
        };
        answers.push(quiet.then(|| ExecOutput {
            rc,
            stdout: stdout[pos..body_end].to_vec(),
            stderr: Vec::new(),
        }));
        pos = next;
    }
    answers.resize(n, None);
    answers
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> ExecOutput {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        ExecOutput {
            rc: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }

    fn stdout_only(stdout: &[u8]) -> ExecOutput {
        ExecOutput {
            rc: 0,
            stdout: stdout.to_vec(),
            stderr: Vec::new(),
        }
    }

    fn alone(script: &str) -> ExecOutput {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        ExecOutput {
            rc: out.status.code().unwrap(),
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }

    #[test]
    fn each_answer_equals_the_script_run_alone() {
        let scripts = [
            "printf 'no newline at the end'",
            "f() { echo \"in f $1\"; }\nf 1\ncase x in x) echo case;; esac\nexit 3",
            "printf '\\0\\001binary\\n\\n'; x=$(echo sub); echo \"$x\"",
            "echo to stderr >&2; echo out",
            "cat; echo after input",
            "",
            "echo last; exit 0",
        ];
        assert_batch_answers_as_alone(&scripts);
    }

    /// Each script of one batch answers as it does run alone; one that wrote to stderr has no
    /// answer (its module asks again on its own).
    fn assert_batch_answers_as_alone(scripts: &[&str]) {
        let token = random_token();
        let out = sh(&batch_script(scripts, &token, ""));
        let parts = split_batch(&out, scripts.len(), &token);
        for (i, script) in scripts.iter().enumerate() {
            let want = alone(script);
            if want.stderr.is_empty() {
                assert_eq!(parts[i].as_ref(), Some(&want), "script {i}: {script}");
            } else {
                assert_eq!(parts[i], None, "script {i} wrote to stderr");
            }
        }
    }

    #[test]
    fn a_script_cannot_end_the_batch_or_leak_into_the_next() {
        let scripts = [
            "v=1; ep_mine() { echo hijacked; }; exit 7",
            "echo \"v=${v:-unset}\"; ep_mine 2>/dev/null || echo clean",
        ];
        let token = random_token();
        let parts = split_batch(&sh(&batch_script(&scripts, &token, "")), 2, &token);
        assert_eq!(parts[0].as_ref().map(|p| p.rc), Some(7));
        assert_eq!(
            parts[1].as_ref().map(|p| p.stdout.as_slice()),
            Some(&b"v=unset\nclean\n"[..])
        );
    }

    #[test]
    fn inline_probes_answer_as_alone_and_their_stderr_is_told_apart() {
        let inline = |body: &str| format!("{INLINE_PROBE}{body}");
        let scripts = [
            inline("v=1; echo \"first $v\""),
            inline("echo oops >&2; echo out"),
            "echo in a subshell; echo err >&2".to_owned(),
            inline("printf 'no newline'; false"),
            inline("echo quiet"),
        ];
        let refs: Vec<&str> = scripts.iter().map(String::as_str).collect();
        assert_batch_answers_as_alone(&refs);
    }

    #[test]
    fn the_prelude_is_silent_and_its_variables_reach_every_probe() {
        let scripts = [
            format!("{INLINE_PROBE}echo \"inline ${{ep_seen:-no}}\""),
            "echo \"subshell ${ep_seen:-no}\"".to_owned(),
        ];
        let refs: Vec<&str> = scripts.iter().map(String::as_str).collect();
        let token = random_token();
        let prelude = "echo noise; echo noise >&2; ep_seen=yes";
        let parts = split_batch(&sh(&batch_script(&refs, &token, prelude)), 2, &token);
        assert_eq!(
            parts[0].as_ref().map(|p| p.stdout.as_slice()),
            Some(&b"inline yes\n"[..])
        );
        assert_eq!(
            parts[1].as_ref().map(|p| p.stdout.as_slice()),
            Some(&b"subshell yes\n"[..])
        );
    }

    /// The host agent reads a prefill hint on a script's first line only: a prelude's hint is
    /// moved there, and the batch runs as before.
    #[test]
    fn a_preludes_prefill_hint_opens_the_batch() {
        let token = random_token();
        let prelude = format!("{}cpuinfo\nep_seen=yes", crate::AGENT_PREFILL_HINT);
        let script = batch_script(&["echo \"${ep_seen:-no}\""], &token, &prelude);
        assert!(
            script.starts_with(&format!(
                "{}cpuinfo\nexec 5>&1\n",
                crate::AGENT_PREFILL_HINT
            )),
            "{script}"
        );
        let parts = split_batch(&sh(&script), 1, &token);
        assert_eq!(
            parts[0].as_ref().map(|p| p.stdout.as_slice()),
            Some(&b"yes\n"[..])
        );
    }

    #[test]
    fn missing_or_forged_separators_keep_nothing_after_them() {
        let token = random_token();
        let good = sh(&batch_script(&["echo a", "echo Bee", "echo c"], &token, "")).stdout;
        // Cut short after the first answer.
        let cut = &good[..good.windows(3).position(|w| w == b"Bee").unwrap()];
        let parts = split_batch(&stdout_only(cut), 3, &token);
        assert!(parts[0].is_some() && parts[1].is_none() && parts[2].is_none());
        // Another batch's token is just output.
        let other = random_token();
        assert_ne!(token, other);
        assert_eq!(
            split_batch(&stdout_only(&good), 3, &other),
            vec![None, None, None]
        );
        // A separator out of order ends the split.
        let swapped = String::from_utf8(good.clone())
            .unwrap()
            .replace(&format!("@@{token} 1 "), &format!("@@{token} 2 "));
        let parts = split_batch(&stdout_only(swapped.as_bytes()), 3, &token);
        assert!(parts[0].is_some() && parts[1].is_none());
    }

    /// A fake host that records requests and runs each with `/bin/sh` here, with its input;
    /// a put with content writes it to `dest` here (tests point it into a scratch directory).
    struct Recorder {
        sent: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Transport for Recorder {
        fn host(&self) -> &str {
            "h1"
        }
        async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
            use std::io::Write;
            self.sent.lock().unwrap().push(request.script.clone());
            let mut child = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&request.script)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let input = child.stdin.take().unwrap();
            // A script that does not read its input may exit first.
            let _ = { input }.write_all(&request.stdin);
            let out = child.wait_with_output().unwrap();
            Ok(ExecOutput {
                rc: out.status.code().unwrap(),
                stdout: out.stdout,
                stderr: out.stderr,
            })
        }
        async fn put(&self, request: PutRequest) -> Result<(), TransportError> {
            self.sent
                .lock()
                .unwrap()
                .push(format!("put {}", request.dest));
            if !request.content.is_empty() {
                std::fs::write(&request.dest, request.content.as_slice()).unwrap();
            }
            Ok(())
        }
        async fn get(&self, _: &str, _: Option<&Become>) -> Result<Vec<u8>, TransportError> {
            Ok(Vec::new())
        }
        async fn close(&self) -> Result<(), TransportError> {
            Ok(())
        }
    }

    /// A [`Recorder`] and the [`Prefetching`] host in front of it.
    fn recorded_host() -> (Arc<Recorder>, Prefetching) {
        let rec = Arc::new(Recorder {
            sent: Mutex::new(Vec::new()),
        });
        let host = Prefetching::new(rec.clone());
        (rec, host)
    }

    /// The stdout of `script` sent as a plain request.
    async fn stdout_of(host: &Prefetching, script: &str) -> Vec<u8> {
        host.exec(ExecRequest::script(script)).await.unwrap().stdout
    }

    #[tokio::test]
    async fn kept_answers_serve_exact_requests_until_anything_else_is_sent() {
        let (rec, host) = recorded_host();
        let probes: Vec<ExecRequest> = ["echo one", "echo two", "echo one"]
            .iter()
            .map(|s| ExecRequest::script(*s))
            .collect();
        assert_eq!(host.prefetch(&probes).await.unwrap(), 3);
        assert_eq!(
            rec.sent.lock().unwrap().len(),
            1,
            "one request for three probes"
        );
        assert_eq!(
            rec.sent.lock().unwrap()[0].matches("echo one").count(),
            1,
            "identical probes run once"
        );
        // Served in any order, each kept answer once; become is part of the request.
        assert_eq!(stdout_of(&host, "echo two").await, b"two\n");
        assert_eq!(stdout_of(&host, "echo one").await, b"one\n");
        assert_eq!(rec.sent.lock().unwrap().len(), 1);
        let as_root = ExecRequest {
            become_: Some(Become::sudo("root")),
            ..ExecRequest::script("echo one")
        };
        assert_eq!(host.exec(as_root).await.unwrap().stdout, b"one\n");
        assert_eq!(
            rec.sent.lock().unwrap().len(),
            2,
            "another user's request is not served"
        );
        assert_eq!(host.waiting(), 0, "and it dropped the rest");
        host.exec(ExecRequest::script("echo one")).await.unwrap();
        assert_eq!(rec.sent.lock().unwrap().len(), 3);

        // An upload drops kept answers; so does a request with input.
        host.prefetch(&probes).await.unwrap();
        host.put(PutRequest {
            dest: "/x".into(),
            ..PutRequest::default()
        })
        .await
        .unwrap();
        assert_eq!(host.waiting(), 0);
        host.prefetch(&probes).await.unwrap();
        let with_input = ExecRequest {
            stdin: b"x".to_vec(),
            ..ExecRequest::script("echo one")
        };
        host.exec(with_input).await.unwrap();
        assert_eq!(host.waiting(), 0);
        // Reading a file does not.
        host.prefetch(&probes).await.unwrap();
        host.get("/etc/hostname", None).await.unwrap();
        assert_eq!(host.waiting(), 3);
    }

    // A request sent as one that changes nothing the probes read (the data-dir guard's) goes
    // to the host and leaves the kept answers for their tasks; one that was read ahead is
    // answered from them.
    #[tokio::test]
    async fn reading_requests_leave_kept_answers() {
        let (rec, host) = recorded_host();
        let probes: Vec<ExecRequest> = ["echo one", "echo two"]
            .iter()
            .map(|s| ExecRequest::script(*s))
            .collect();
        host.prefetch(&probes).await.unwrap();
        let out = host
            .exec_reading(ExecRequest::script("echo guard"))
            .await
            .unwrap();
        assert_eq!(out.stdout, b"guard\n");
        assert_eq!(
            rec.sent.lock().unwrap().len(),
            2,
            "the reading request was sent"
        );
        assert_eq!(host.waiting(), 2, "and left both answers kept");
        let out = host
            .exec_reading(ExecRequest::script("echo two"))
            .await
            .unwrap();
        assert_eq!((out.stdout, host.waiting()), (b"two\n".to_vec(), 1));
        assert_eq!(stdout_of(&host, "echo one").await, b"one\n");
        assert_eq!(
            rec.sent.lock().unwrap().len(),
            2,
            "both served without a request"
        );
    }

    mod after_change {
        use super::*;

        /// The next task's probe goes in the change's request, reads what the change did, and is
        /// then answered without a request; the change answers as alone.
        #[tokio::test]
        async fn the_next_probe_rides_on_the_change_and_reads_after_it() {
            let dir = tempfile::tempdir().unwrap();
            let f = dir.path().join("f");
            let probe = ExecRequest::script(format!("cat {}", f.display()));
            let (rec, host) = recorded_host();
            assert_eq!(
                host.prefetch_after_change(std::slice::from_ref(&probe), ""),
                1
            );
            // A plain exec (a user's command) does not carry them.
            host.exec(ExecRequest::script("true")).await.unwrap();
            assert!(!rec.sent.lock().unwrap()[0].contains("cat "));
            let change = ExecRequest {
                stdin: b"new".to_vec(),
                ..ExecRequest::script(format!(
                    "cat >{}; echo changed; echo note >&2; exit 4",
                    f.display()
                ))
            };
            let out = host.exec_change(change).await.unwrap();
            assert_eq!(out.rc, 4);
            assert_eq!(out.stdout, b"changed\n");
            assert_eq!(out.stderr, b"note\n");
            assert_eq!(rec.sent.lock().unwrap().len(), 2, "one request for both");
            assert_eq!(host.waiting(), 1);
            assert_eq!(host.exec(probe.clone()).await.unwrap().stdout, b"new");
            assert_eq!(rec.sent.lock().unwrap().len(), 2, "the probe was answered");
            // Sent once: the next change goes alone.
            host.exec_change(ExecRequest::script("true")).await.unwrap();
            assert!(!rec.sent.lock().unwrap()[2].contains("cat "));
        }

        /// Another user's change, or one with environment, leaves the probes waiting; a put
        /// carries them (read after the write); a put_then_read returns its read's answer.
        #[tokio::test]
        async fn puts_carry_them_and_other_users_do_not() {
            let dir = tempfile::tempdir().unwrap();
            let f = dir.path().join("f");
            let probe = ExecRequest::script(format!("cat {}", f.display()));
            let (rec, host) = recorded_host();
            host.prefetch_after_change(std::slice::from_ref(&probe), "");
            let as_root = ExecRequest {
                become_: Some(Become::sudo("root")),
                ..ExecRequest::script(":")
            };
            host.exec_change(as_root).await.unwrap();
            let with_env = ExecRequest {
                env: vec![("A".into(), "1".into())],
                ..ExecRequest::script(":")
            };
            host.exec_change(with_env).await.unwrap();
            assert!(rec.sent.lock().unwrap().iter().all(|s| !s.contains("cat ")));
            let put = PutRequest {
                dest: f.display().to_string(),
                content: Arc::new(b"put".to_vec()),
                ..PutRequest::default()
            };
            host.put(put.clone()).await.unwrap();
            assert_eq!(host.waiting(), 1);
            assert_eq!(host.exec(probe.clone()).await.unwrap().stdout, b"put");
            host.prefetch_after_change(std::slice::from_ref(&probe), "");
            let read = host
                .put_then_read(put, ExecRequest::script("echo read; exit 2"))
                .await
                .unwrap();
            assert_eq!((read.rc, read.stdout.as_slice()), (2, &b"read\n"[..]));
            assert_eq!(host.waiting(), 1);
            // Forgotten with the rest.
            host.prefetch_after_change(&[probe], "");
            host.forget();
            host.exec_change(ExecRequest::script(":")).await.unwrap();
            assert_eq!(host.waiting(), 0);
        }
    }
}
