//! The SSH channel's input and the lifeline. A thread reads the channel (the agent's stdin)
//! and hands the bytes to the request loop; the moment the channel closes (etcdplay closed
//! it, died, or the connection dropped) it runs the lifeline, which removes the agent's
//! directory and kills what the agent started, a script still running included. The loop
//! itself never reads the channel, so it notices nothing while it waits for a script: the
//! thread does, as the shell loop's relay `cat` does.

use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver};

/// Bytes read from the channel at a time, and chunks in flight: the relay reads at most this
/// far ahead of the loop (4 × 64 KiB), whatever a client sends.
const CHUNK: usize = 64 * 1024;
const CHUNKS_AHEAD: usize = 4;

/// The request loop's side of the channel.
pub(crate) struct Channel {
    chunks: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Channel {
    /// Starts the relay thread over `input`; `lifeline` runs once when `input` ends or fails.
    pub(crate) fn relay(
        mut input: impl Read + Send + 'static,
        lifeline: impl FnOnce() + Send + 'static,
    ) -> Channel {
        let (tx, rx) = sync_channel(CHUNKS_AHEAD);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; CHUNK];
            loop {
                match input.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
            lifeline();
        });
        Channel {
            chunks: rx,
            chunk: Vec::new(),
            at: 0,
        }
    }

    /// The unread rest of the current chunk, waiting for the next one when it is used up.
    /// `None`: the channel ended.
    fn available(&mut self) -> Option<&[u8]> {
        while self.at == self.chunk.len() {
            self.chunk = self.chunks.recv().ok()?;
            self.at = 0;
        }
        Some(&self.chunk[self.at..])
    }

    /// One line without its newline; `None` when the channel ends first or the line is longer
    /// than `max` bytes.
    pub(crate) fn read_line(&mut self, max: usize) -> Option<Vec<u8>> {
        let mut line = Vec::new();
        loop {
            let bytes = self.available()?;
            match bytes.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    line.extend_from_slice(&bytes[..end]);
                    self.at += end + 1;
                    return (line.len() <= max).then_some(line);
                }
                None => {
                    let n = bytes.len();
                    line.extend_from_slice(bytes);
                    self.at += n;
                    if line.len() > max {
                        return None;
                    }
                }
            }
        }
    }

    /// Copies exactly `len` bytes to `out`.
    pub(crate) fn copy_exact(&mut self, mut len: u64, out: &mut impl Write) -> io::Result<()> {
        while len > 0 {
            let bytes = self.available().ok_or_else(cut_short)?;
            let n = bytes.len().min(usize::try_from(len).unwrap_or(usize::MAX));
            out.write_all(&bytes[..n])?;
            self.at += n;
            len -= n as u64;
        }
        Ok(())
    }
}

fn cut_short() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the channel ended mid-request",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A reader that hands out its bytes a few at a time, as a pipe may.
    struct Trickle(Vec<u8>, usize);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(3).min(self.0.len() - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }

    #[test]
    fn lines_and_bodies_are_read_across_chunks_and_the_lifeline_runs_at_the_end() {
        let (done_tx, done_rx) = mpsc::channel();
        let mut ch = Channel::relay(Trickle(b"1 - 5 0\nhello.1\n".to_vec(), 0), move || {
            done_tx.send(()).unwrap()
        });
        assert_eq!(ch.read_line(100).unwrap(), b"1 - 5 0");
        let mut body = Vec::new();
        ch.copy_exact(5, &mut body).unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(ch.read_line(100).unwrap(), b".1");
        assert_eq!(ch.read_line(100), None);
        done_rx.recv().unwrap();
    }

    #[test]
    fn a_line_too_long_or_a_body_cut_short_is_an_error() {
        let mut ch = Channel::relay(Trickle(b"0123456789\n".to_vec(), 0), || {});
        assert_eq!(ch.read_line(4), None);
        let mut ch = Channel::relay(Trickle(b"abc".to_vec(), 0), || {});
        let mut body = Vec::new();
        let err = ch.copy_exact(5, &mut body).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
