//! Just enough of the D-Bus wire protocol to call systemd's manager over its private socket
//! (`/run/systemd/private`, root only), which is what `systemctl` itself does when run as
//! root: connect, authenticate as our uid (`EXTERNAL`), send a method call, and read messages
//! until its reply (systemd sends every signal to every private connection; they are
//! skipped). Little-endian messages only, the header fields and body types these calls use
//! (`s`, `o`, `g`, `u`, `b`, arrays of strings); anything else is an error, and the caller
//! then leaves the work to `systemctl`. Every read is bounded (message size, header size, the
//! number of messages skipped) and the socket has a timeout.

use std::io::{self, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Largest message read (systemd's replies to these calls are a few hundred bytes; its
/// signals a few KiB).
const MAX_MESSAGE: usize = 1 << 20;
/// Most messages read while waiting for one reply.
const MAX_SKIPPED: usize = 10_000;
/// The longest wait for an answer (a reload of a large host takes seconds).
const TIMEOUT: Duration = Duration::from_secs(90);

const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;

const FIELD_PATH: u8 = 1;
const FIELD_INTERFACE: u8 = 2;
const FIELD_MEMBER: u8 = 3;
const FIELD_ERROR_NAME: u8 = 4;
const FIELD_REPLY_SERIAL: u8 = 5;
const FIELD_DESTINATION: u8 = 6;
const FIELD_SIGNATURE: u8 = 8;

/// What a method call got back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// The body of a method return.
    Return(Vec<u8>),
    /// An error's name and message.
    Error(String, String),
}

/// A connection to systemd's manager.
pub(crate) struct Bus {
    /// Buffered: a reload answers after hundreds of signals, two reads each unbuffered.
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    serial: u32,
}

impl Bus {
    /// Connects and authenticates as the effective uid.
    pub(crate) fn connect(socket: &Path) -> io::Result<Bus> {
        let mut stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let uid = rustix::process::geteuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        // `BEGIN` goes in the same write as `AUTH`, as systemctl sends them, and the first
        // call only after the answer: systemd reads both lines at once and is running when
        // it answers. A call sent right behind a `BEGIN` of its own can reach systemd in the
        // same read as the `BEGIN`, and then waited unanswered (seen on systemd 252).
        stream.write_all(format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").as_bytes())?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let line = read_auth_line(&mut reader)?;
        if !line.starts_with(b"OK ") {
            return Err(invalid("authentication refused"));
        }
        Ok(Bus {
            reader,
            writer: stream,
            serial: 0,
        })
    }

    /// Calls `member` of `org.freedesktop.systemd1.Manager` with `body` (of D-Bus type
    /// `signature`) and waits for its reply.
    pub(crate) fn call_manager(
        &mut self,
        member: &str,
        signature: &str,
        body: &[u8],
    ) -> io::Result<Reply> {
        self.serial += 1;
        let serial = self.serial;
        self.writer
            .write_all(&method_call(serial, member, signature, body))?;
        for _ in 0..MAX_SKIPPED {
            let message = read_message(&mut self.reader)?;
            if message.reply_serial != Some(serial) {
                continue;
            }
            return match message.kind {
                METHOD_RETURN => Ok(Reply::Return(message.body)),
                ERROR => {
                    let text = match message.signature.as_deref() {
                        Some(s) if s.starts_with('s') => {
                            Cursor::new(&message.body, 0).string().unwrap_or_default()
                        }
                        _ => String::new(),
                    };
                    Ok(Reply::Error(message.error_name.unwrap_or_default(), text))
                }
                _ => Err(invalid("unexpected message kind")),
            };
        }
        Err(invalid("no reply"))
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// The server's answer to `AUTH`, up to its `\r\n`.
fn read_auth_line(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if line.len() > 512 {
            return Err(invalid("authentication line too long"));
        }
        stream.read_exact(&mut byte)?;
        line.push(byte[0]);
    }
    Ok(line)
}

/// Marshals values at offsets relative to the start of the buffer, which is where D-Bus
/// measures alignment from (a body starts 8-aligned, so the body's own offsets do too).
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    fn align(&mut self, to: usize) {
        while !self.buf.len().is_multiple_of(to) {
            self.buf.push(0);
        }
    }

    fn u32(&mut self, v: u32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `s` or `o`.
    pub(crate) fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn signature(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    pub(crate) fn boolean(&mut self, b: bool) {
        self.u32(u32::from(b));
    }

    /// An `as`.
    pub(crate) fn strings(&mut self, items: &[&str]) {
        self.align(4);
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        // Strings align to 4, which the length already left the buffer at.
        let start = self.buf.len();
        for item in items {
            self.string(item);
        }
        let len = (self.buf.len() - start) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }

    /// A header field: `(code, variant)`, 8-aligned.
    fn field(&mut self, code: u8, kind: &str, value: &str) {
        self.align(8);
        self.buf.push(code);
        self.signature(kind);
        match kind {
            "g" => self.signature(value),
            _ => self.string(value),
        }
    }
}

/// A method call to systemd's manager object.
fn method_call(serial: u32, member: &str, signature: &str, body: &[u8]) -> Vec<u8> {
    let mut w = Writer::default();
    w.buf.extend_from_slice(&[b'l', METHOD_CALL, 0, 1]);
    w.buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
    w.buf.extend_from_slice(&serial.to_le_bytes());
    w.buf.extend_from_slice(&[0; 4]);
    w.field(FIELD_PATH, "o", "/org/freedesktop/systemd1");
    w.field(FIELD_INTERFACE, "s", "org.freedesktop.systemd1.Manager");
    w.field(FIELD_MEMBER, "s", member);
    w.field(FIELD_DESTINATION, "s", "org.freedesktop.systemd1");
    if !signature.is_empty() {
        w.field(FIELD_SIGNATURE, "g", signature);
    }
    let fields = (w.buf.len() - 16) as u32;
    w.buf[12..16].copy_from_slice(&fields.to_le_bytes());
    w.align(8);
    w.buf.extend_from_slice(body);
    w.buf
}

/// What is read of a message.
#[derive(Debug, Default)]
struct Message {
    kind: u8,
    /// The sender's serial and the member called: what the tests' fake manager answers by.
    #[cfg_attr(not(test), allow(dead_code))]
    serial: u32,
    #[cfg_attr(not(test), allow(dead_code))]
    member: Option<String>,
    reply_serial: Option<u32>,
    error_name: Option<String>,
    signature: Option<String>,
    body: Vec<u8>,
}

/// Reads values of a message part; offsets count from the part's start, which is 8-aligned
/// in the message (`base` is its offset there, for the header fields that start at 16).
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
    base: usize,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8], base: usize) -> Self {
        Cursor { data, at: 0, base }
    }

    fn align(&mut self, to: usize) {
        while !(self.base + self.at).is_multiple_of(to) {
            self.at += 1;
        }
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.data.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.bytes(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        self.align(4);
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }

    fn string(&mut self) -> Option<String> {
        let len = self.u32()? as usize;
        let text = self.bytes(len)?;
        self.byte()?;
        Some(String::from_utf8_lossy(text).into_owned())
    }

    fn signature(&mut self) -> Option<String> {
        let len = usize::from(self.byte()?);
        let text = self.bytes(len)?;
        self.byte()?;
        Some(String::from_utf8_lossy(text).into_owned())
    }

    fn done(&self) -> bool {
        self.at >= self.data.len()
    }
}

/// Reads one whole message.
fn read_message(stream: &mut impl Read) -> io::Result<Message> {
    let mut fixed = [0u8; 16];
    stream.read_exact(&mut fixed)?;
    if fixed[0] != b'l' || fixed[3] != 1 {
        return Err(invalid("not a little-endian D-Bus 1 message"));
    }
    let word = |i: usize| u32::from_le_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
    let (body_len, fields_len) = (word(4) as usize, word(12) as usize);
    let padded = fields_len.div_ceil(8) * 8;
    if padded + body_len > MAX_MESSAGE {
        return Err(invalid("message too large"));
    }
    let mut rest = vec![0u8; padded + body_len];
    stream.read_exact(&mut rest)?;
    let body = rest.split_off(padded);
    let mut message = Message {
        kind: fixed[1],
        serial: word(8),
        body,
        ..Message::default()
    };
    let mut fields = Cursor::new(&rest[..fields_len], 16);
    while !fields.done() {
        fields.align(8);
        let (Some(code), Some(kind)) = (fields.byte(), fields.signature()) else {
            return Err(invalid("bad header field"));
        };
        let value = match kind.as_str() {
            "u" => fields.u32().map(|v| v.to_string()),
            "s" | "o" => fields.string(),
            "g" => fields.signature(),
            _ => None,
        }
        .ok_or_else(|| invalid("bad header field value"))?;
        match code {
            FIELD_MEMBER => message.member = Some(value),
            FIELD_REPLY_SERIAL => message.reply_serial = value.parse().ok(),
            FIELD_ERROR_NAME => message.error_name = Some(value),
            FIELD_SIGNATURE => message.signature = Some(value),
            _ => {}
        }
    }
    Ok(message)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A reply as systemd frames one: `kind`, answering `serial`, with an error name or none.
    fn reply(kind: u8, serial: u32, error: Option<&str>, body: &[u8], sig: &str) -> Vec<u8> {
        let mut w = Writer::default();
        w.buf.extend_from_slice(&[b'l', kind, 1, 1]);
        w.buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
        w.buf.extend_from_slice(&77u32.to_le_bytes());
        w.buf.extend_from_slice(&[0; 4]);
        w.align(8);
        w.buf.push(FIELD_REPLY_SERIAL);
        w.signature("u");
        w.u32(serial);
        if let Some(name) = error {
            w.field(FIELD_ERROR_NAME, "s", name);
        }
        if !sig.is_empty() {
            w.field(FIELD_SIGNATURE, "g", sig);
        }
        w.field(7, "s", ":1.0");
        let fields = (w.buf.len() - 16) as u32;
        w.buf[12..16].copy_from_slice(&fields.to_le_bytes());
        w.align(8);
        w.buf.extend_from_slice(body);
        w.buf
    }

    /// A signal, as systemd sends to every private connection.
    fn signal() -> Vec<u8> {
        let mut body = Writer::default();
        body.string("fleet-dummy.service");
        let mut m = method_call(5, "UnitNew", "so", &body.buf);
        m[1] = 4;
        m
    }

    /// What a fake manager saw: the member and body of each call.
    pub(crate) type Calls = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

    /// A fake systemd manager on `socket`: checks the handshake, then answers each call with
    /// a signal and `answer(member)` (an error name, or `None` for a return).
    pub(crate) fn fake_manager(socket: &Path, answer: fn(&str) -> Option<&'static str>) -> Calls {
        let listener = UnixListener::bind(socket).unwrap();
        let calls: Calls = Default::default();
        let seen = calls.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut hello = [0u8; 1];
                conn.read_exact(&mut hello).unwrap();
                assert_eq!(hello, [0]);
                let auth = read_auth_line(&mut conn).unwrap();
                assert!(auth.starts_with(b"AUTH EXTERNAL "), "{auth:?}");
                conn.write_all(b"OK 0123456789abcdef0123456789abcdef\r\n")
                    .unwrap();
                let begin = read_auth_line(&mut conn).unwrap();
                assert_eq!(begin, b"BEGIN\r\n");
                while let Ok(call) = read_message(&mut conn) {
                    let serial = call.serial;
                    let member = call.member.clone().unwrap_or_default();
                    seen.lock()
                        .unwrap()
                        .push((member.clone(), call.body.clone()));
                    conn.write_all(&signal()).unwrap();
                    let mut text = Writer::default();
                    text.string("Unit x.service not found.");
                    let out = match answer(&member) {
                        Some(name) => reply(ERROR, serial, Some(name), &text.buf, "s"),
                        None => reply(METHOD_RETURN, serial, None, &[], ""),
                    };
                    conn.write_all(&out).unwrap();
                }
            }
        });
        calls
    }

    #[test]
    fn a_call_is_answered_past_the_signals_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("private");
        let calls = fake_manager(&socket, |_| None);
        let mut bus = Bus::connect(&socket).unwrap();
        let mut body = Writer::default();
        body.strings(&["a.service", "b.service"]);
        body.boolean(false);
        body.boolean(true);
        assert_eq!(
            bus.call_manager("EnableUnitFiles", "asbb", &body.buf)
                .unwrap(),
            Reply::Return(Vec::new())
        );
        assert_eq!(
            bus.call_manager("Reload", "", &[]).unwrap(),
            Reply::Return(Vec::new())
        );
        let calls = calls.lock().unwrap();
        let members: Vec<&str> = calls.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(members, ["EnableUnitFiles", "Reload"]);
        // `as`: the byte length (the padding between elements counted, none after the last),
        // each string with its length and NUL, aligned to 4; then the two booleans.
        let mut want = Vec::new();
        want.extend_from_slice(&30u32.to_le_bytes());
        want.extend_from_slice(&9u32.to_le_bytes());
        want.extend_from_slice(b"a.service\0\0\0");
        want.extend_from_slice(&9u32.to_le_bytes());
        want.extend_from_slice(b"b.service\0");
        want.extend_from_slice(&[0, 0]);
        want.extend_from_slice(&0u32.to_le_bytes());
        want.extend_from_slice(&1u32.to_le_bytes());
        assert_eq!(calls[0].1, want);
    }

    #[test]
    fn an_error_reply_carries_its_name_and_message() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("private");
        fake_manager(&socket, |_| Some("org.freedesktop.systemd1.NoSuchUnit"));
        let mut bus = Bus::connect(&socket).unwrap();
        assert_eq!(
            bus.call_manager("Reload", "", &[]).unwrap(),
            Reply::Error(
                "org.freedesktop.systemd1.NoSuchUnit".into(),
                "Unit x.service not found.".into()
            )
        );
    }

    /// The header of a call as this client frames it parses back: each field where D-Bus
    /// puts it (8-aligned structs, 4-aligned strings), the body after the padding.
    #[test]
    fn a_method_call_is_framed_as_d_bus_frames_it() {
        let mut body = Writer::default();
        body.string("x.service");
        let call = method_call(9, "StartUnit", "ss", &body.buf);
        assert_eq!(&call[..4], &[b'l', METHOD_CALL, 0, 1]);
        assert_eq!(u32::from_le_bytes(call[8..12].try_into().unwrap()), 9);
        let fields_len = u32::from_le_bytes(call[12..16].try_into().unwrap()) as usize;
        assert_eq!(
            (call.len() - body.buf.len()) % 8,
            0,
            "the body starts 8-aligned"
        );
        assert_eq!(
            call.len() - body.buf.len(),
            (16 + fields_len).div_ceil(8) * 8
        );
        let message = read_message(&mut &call[..]).unwrap();
        assert_eq!(message.kind, METHOD_CALL);
        assert_eq!(message.signature.as_deref(), Some("ss"));
        assert_eq!(message.body, body.buf);
        // Too large to be read: refused before it is.
        let mut huge = call.clone();
        huge[4..8].copy_from_slice(&(MAX_MESSAGE as u32).to_le_bytes());
        assert!(read_message(&mut &huge[..]).is_err());
    }
}
