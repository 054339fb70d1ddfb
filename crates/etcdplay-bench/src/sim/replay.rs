//! Recording what a real host answers, and answering the same way for many simulated hosts.
//!
//! A request is looked up by its normalized text: the host's name becomes a placeholder, and
//! so does every 32-hex-digit token (etcdplay's per-request random tokens: skip markers,
//! read-ahead separators), numbered in order of appearance. The recorded answer is stored with
//! the same placeholders, so the replay puts back the asking host's name and the tokens of the
//! request being answered. Uploads are accepted and counted; a request never recorded is
//! answered with a failure and counted, so a replay that drifted from the recording shows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use etcdplay_engine::{ConnectTarget, Connector};
use etcdplay_transport::{
    Become, ExecOutput, ExecRequest, LocalTransport, PutRequest, Transport, TransportError,
};

const HOST_MARK: &[u8] = b"\x00HOST\x00";
/// The host's name as the host agent's prefill words spell a path holding it (in hex, see
/// `etcdplay_transport::agent_hint_path`): a hint line names the host's own `workdir`.
const HOST_HEX_MARK: &[u8] = b"\x00HOSTHEX\x00";

/// Recorded answers, by normalized request.
#[derive(Default)]
pub struct Recording {
    answers: Mutex<HashMap<String, Answer>>,
    /// Requests a replay could not answer.
    pub misses: AtomicU64,
    /// Uploads a replay accepted (a no-change run should have none).
    pub puts: AtomicU64,
}

#[derive(Clone)]
enum Answer {
    Exec(ExecOutput),
    Get(Vec<u8>),
}

impl Recording {
    pub fn len(&self) -> usize {
        self.answers.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn store(&self, key: String, answer: Answer) {
        self.answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, answer);
    }

    fn lookup(&self, key: &str) -> Option<Answer> {
        self.answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }
}

/// `bytes` with `host` and every 32-hex-digit token replaced by placeholders; also the tokens,
/// in order.
pub fn normalize(bytes: &[u8], host: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let named = replace_all(bytes, host.as_bytes(), HOST_MARK);
    let named = replace_all(
        &named,
        etcdplay_transport::agent_hint_path(host).as_bytes(),
        HOST_HEX_MARK,
    );
    let mut out = Vec::with_capacity(named.len());
    let mut tokens: Vec<Vec<u8>> = Vec::new();
    let mut i = 0;
    while i < named.len() {
        let run = named[i..]
            .iter()
            .take_while(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            .count();
        if run == 0 {
            out.push(named[i]);
            i += 1;
            continue;
        }
        let word = &named[i..i + run];
        if run == 32 {
            let index = match tokens.iter().position(|t| t == word) {
                Some(index) => index,
                None => {
                    tokens.push(word.to_vec());
                    tokens.len() - 1
                }
            };
            out.extend_from_slice(format!("\x00T{index}\x00").as_bytes());
        } else {
            out.extend_from_slice(word);
        }
        i += run;
    }
    (out, tokens)
}

/// The recorded `bytes` with the placeholders of [`normalize`] filled in for this request.
fn denormalize(bytes: &[u8], host: &str, tokens: &[Vec<u8>]) -> Vec<u8> {
    let mut out = replace_all(bytes, HOST_MARK, host.as_bytes());
    out = replace_all(
        &out,
        HOST_HEX_MARK,
        etcdplay_transport::agent_hint_path(host).as_bytes(),
    );
    for (index, token) in tokens.iter().enumerate() {
        out = replace_all(&out, format!("\x00T{index}\x00").as_bytes(), token);
    }
    out
}

/// Replaces `tokens` (as they appear in the request) in an answer by their placeholders.
fn tokenize_answer(bytes: &[u8], host: &str, tokens: &[Vec<u8>]) -> Vec<u8> {
    let mut out = replace_all(bytes, host.as_bytes(), HOST_MARK);
    for (index, token) in tokens.iter().enumerate() {
        out = replace_all(&out, token, format!("\x00T{index}\x00").as_bytes());
    }
    out
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        // The first byte first: a call to compare at every position costs more than the
        // replay's lookups (this is the simulated host's cost, not etcdplay's).
        if haystack[i] == needle[0] && haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// The lookup key of an exec request, and its tokens.
fn exec_key(request: &ExecRequest, host: &str) -> (String, Vec<Vec<u8>>) {
    let mut text = request.script.as_bytes().to_vec();
    text.extend_from_slice(b"\x00stdin\x00");
    text.extend_from_slice(&request.stdin);
    for (k, v) in &request.env {
        text.extend_from_slice(format!("\x00env\x00{k}={v}").as_bytes());
    }
    if let Some(b) = &request.become_ {
        text.extend_from_slice(format!("\x00become\x00{}", b.user).as_bytes());
    }
    let (normal, tokens) = normalize(&text, host);
    (String::from_utf8_lossy(&normal).into_owned(), tokens)
}

fn get_key(path: &str, host: &str) -> String {
    let (normal, _) = normalize(format!("get\x00{path}").as_bytes(), host);
    String::from_utf8_lossy(&normal).into_owned()
}

/// Runs every request on this machine ([`LocalTransport`]) and records the answers.
pub struct RecordingConnector {
    pub recording: Arc<Recording>,
}

#[async_trait]
impl Connector for RecordingConnector {
    async fn connect(&self, target: &ConnectTarget) -> Result<Arc<dyn Transport>, TransportError> {
        Ok(Arc::new(Recorder {
            inner: LocalTransport::new(target.host.clone()),
            host: target.host.clone(),
            recording: self.recording.clone(),
        }))
    }
}

struct Recorder {
    inner: LocalTransport,
    host: String,
    recording: Arc<Recording>,
}

#[async_trait]
impl Transport for Recorder {
    fn host(&self) -> &str {
        &self.host
    }
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        let (key, tokens) = exec_key(&request, &self.host);
        let output = self.inner.exec(request).await?;
        let stored = ExecOutput {
            rc: output.rc,
            stdout: tokenize_answer(&output.stdout, &self.host, &tokens),
            stderr: tokenize_answer(&output.stderr, &self.host, &tokens),
        };
        self.recording.store(key, Answer::Exec(stored));
        Ok(output)
    }
    async fn put(&self, request: PutRequest) -> Result<(), TransportError> {
        self.inner.put(request).await
    }
    async fn get(&self, path: &str, become_: Option<&Become>) -> Result<Vec<u8>, TransportError> {
        let bytes = self.inner.get(path, become_).await?;
        let stored = tokenize_answer(&bytes, &self.host, &[]);
        self.recording
            .store(get_key(path, &self.host), Answer::Get(stored));
        Ok(bytes)
    }
    async fn close(&self) -> Result<(), TransportError> {
        self.inner.close().await
    }
}

/// Simulated hosts answering from a [`Recording`].
pub struct ReplayConnector {
    pub recording: Arc<Recording>,
}

#[async_trait]
impl Connector for ReplayConnector {
    async fn connect(&self, target: &ConnectTarget) -> Result<Arc<dyn Transport>, TransportError> {
        Ok(Arc::new(SimHost {
            host: target.host.clone(),
            recording: self.recording.clone(),
        }))
    }
}

struct SimHost {
    host: String,
    recording: Arc<Recording>,
}

#[async_trait]
impl Transport for SimHost {
    fn host(&self) -> &str {
        &self.host
    }
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        let (key, tokens) = exec_key(&request, &self.host);
        match self.recording.lookup(&key) {
            Some(Answer::Exec(recorded)) => Ok(ExecOutput {
                rc: recorded.rc,
                stdout: denormalize(&recorded.stdout, &self.host, &tokens),
                stderr: denormalize(&recorded.stderr, &self.host, &tokens),
            }),
            _ => {
                self.recording.misses.fetch_add(1, Ordering::Relaxed);
                Ok(ExecOutput {
                    rc: 127,
                    stdout: Vec::new(),
                    stderr: b"simulated host: no recorded answer for this request".to_vec(),
                })
            }
        }
    }
    async fn put(&self, _request: PutRequest) -> Result<(), TransportError> {
        self.recording.puts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    async fn get(&self, path: &str, _become: Option<&Become>) -> Result<Vec<u8>, TransportError> {
        match self.recording.lookup(&get_key(path, &self.host)) {
            Some(Answer::Get(bytes)) => Ok(denormalize(&bytes, &self.host, &[])),
            _ => {
                self.recording.misses.fetch_add(1, Ordering::Relaxed);
                Ok(Vec::new())
            }
        }
    }
    async fn close(&self) -> Result<(), TransportError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tokens_round_trip() {
        let token = "0123456789abcdef0123456789abcdef";
        let sha1 = "0123456789abcdef0123456789abcdef01234567";
        let request = format!("echo {token}; cat /w/simhost-rec/x # {sha1}");
        let (normal, tokens) = normalize(request.as_bytes(), "simhost-rec");
        assert_eq!(tokens, vec![token.as_bytes().to_vec()]);
        let shown = String::from_utf8_lossy(&normal).into_owned();
        assert_eq!(shown, format!("echo \0T0\0; cat /w/\0HOST\0/x # {sha1}"));
        let answer = format!("{token}\nFLEET_HOST=simhost-rec\n");
        let stored = tokenize_answer(answer.as_bytes(), "simhost-rec", &tokens);
        let other = "fedcba9876543210fedcba9876543210".as_bytes().to_vec();
        let replayed = denormalize(&stored, "simhost-000007", &[other]);
        assert_eq!(
            String::from_utf8_lossy(&replayed),
            "fedcba9876543210fedcba9876543210\nFLEET_HOST=simhost-000007\n"
        );
    }

    /// A path holding the host's name, spelled in hex on an agent hint line, is the same
    /// request for every host.
    #[test]
    fn a_hint_line_naming_the_hosts_workdir_is_one_request() {
        let hint = |host: &str| {
            let path = etcdplay_transport::agent_hint_path(&format!("/w/{host}/opt"));
            format!("# ep_agent_prefill stat:{path}\nep_stat /w/{host}/opt\n")
        };
        let (a, _) = normalize(hint("simhost-rec").as_bytes(), "simhost-rec");
        let (b, _) = normalize(hint("simhost-000007").as_bytes(), "simhost-000007");
        assert_eq!(a, b);
    }
}
