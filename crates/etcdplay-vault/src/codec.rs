//! The vault file format, versions 1.1 and 1.2, written from ansible-core's description of it.
//!
//! ```text
//! $ANSIBLE_VAULT;1.1;AES256            (1.2: $ANSIBLE_VAULT;1.2;AES256;<vault id>)
//! hex( hex(salt) "\n" hex(hmac) "\n" hex(ciphertext) )   wrapped at 80 columns
//! ```
//!
//! PBKDF2-HMAC-SHA256 (10,000 iterations) turns the password and the 32-byte salt into 80
//! bytes: the AES-256 key, the HMAC-SHA256 key and the 16-byte initial counter of AES-256-CTR.
//! The plaintext is PKCS#7-padded to whole 16-byte blocks before encryption; the HMAC covers
//! the ciphertext and is checked in constant time before a byte is decrypted. The vault id in a
//! 1.2 header is not authenticated: it only says which secret to try first.

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{FormatProblem, VaultError};

/// The first bytes of every vault text.
pub const HEADER: &str = "$ANSIBLE_VAULT";
/// The most vault text etcdplay decrypts or writes: 256 MiB of envelope is 64 MiB of
/// plaintext (each byte is hexadecimal twice). Vaulted files are vars and keys, kilobytes.
pub const MAX_VAULT_TEXT: usize = 256 << 20;

const CIPHER: &str = "AES256";
const ITERATIONS: u32 = 10_000;
const KEY_LEN: usize = 32;
const IV_LEN: usize = 16;
const SALT_LEN: usize = 32;
const BLOCK: usize = 16;
const LINE_WIDTH: usize = 80;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// Whether `data` is vault text (it starts with the header, as Ansible checks).
pub fn is_vaulted(data: &[u8]) -> bool {
    data.starts_with(HEADER.as_bytes())
}

/// A parsed envelope: the header's fields and the outer-hex-decoded body.
#[derive(Debug)]
pub struct Envelope {
    pub version: String,
    pub cipher: String,
    /// The vault id of a 1.2 header.
    pub vault_id: Option<String>,
    body: Vec<u8>,
}

/// Reads the header and body of vault text (leading whitespace of the text and a `\r` before
/// each newline are tolerated, as Python's `splitlines` does).
pub fn parse_envelope(text: &[u8]) -> Result<Envelope, VaultError> {
    if text.len() > MAX_VAULT_TEXT {
        return Err(VaultError::TooLarge {
            limit: MAX_VAULT_TEXT,
        });
    }
    let text = text.trim_ascii_start();
    if !is_vaulted(text) {
        return Err(VaultError::Format(FormatProblem::NoHeader));
    }
    let mut lines = text.split(|&b| b == b'\n').map(trim_cr);
    let header = lines.next().unwrap_or_default();
    let fields: Vec<&[u8]> = header
        .split(|&b| b == b';')
        .map(<[u8]>::trim_ascii)
        .collect();
    let (version, cipher) = match fields.as_slice() {
        [_, version, cipher, ..] if !version.is_empty() && !cipher.is_empty() => {
            (text_of(version), text_of(cipher))
        }
        _ => return Err(VaultError::Format(FormatProblem::BadHeader)),
    };
    let vault_id = fields
        .get(3)
        .map(|id| text_of(id))
        .filter(|id| !id.is_empty());
    if cipher != CIPHER {
        return Err(VaultError::UnknownCipher(cipher));
    }
    let hex_body: Vec<u8> = lines.flat_map(|line| line.iter().copied()).collect();
    let body = hex::decode(hex_body).map_err(|_| VaultError::Format(FormatProblem::BodyNotHex))?;
    Ok(Envelope {
        version,
        cipher,
        vault_id,
        body,
    })
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The three parts of a body: salt, HMAC and ciphertext.
struct Parts {
    salt: Vec<u8>,
    hmac: Vec<u8>,
    ciphertext: Vec<u8>,
}

fn split_body(body: &[u8]) -> Result<Parts, VaultError> {
    let format = |p| VaultError::Format(p);
    let mut parts = body.splitn(3, |&b| b == b'\n');
    let (Some(salt), Some(hmac), Some(ciphertext)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format(FormatProblem::MissingParts));
    };
    let parts = Parts {
        salt: hex::decode(salt).map_err(|_| format(FormatProblem::SaltNotHex))?,
        hmac: hex::decode(hmac).map_err(|_| format(FormatProblem::HmacNotHex))?,
        ciphertext: hex::decode(ciphertext).map_err(|_| format(FormatProblem::CiphertextNotHex))?,
    };
    if parts.ciphertext.is_empty() || !parts.ciphertext.len().is_multiple_of(BLOCK) {
        return Err(format(FormatProblem::CiphertextLength));
    }
    Ok(parts)
}

/// The AES key, HMAC key and initial counter derived from a password and salt.
struct Keys {
    bytes: Zeroizing<[u8; 2 * KEY_LEN + IV_LEN]>,
}

impl Keys {
    fn derive(password: &[u8], salt: &[u8]) -> Keys {
        let mut bytes = Zeroizing::new([0u8; 2 * KEY_LEN + IV_LEN]);
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, ITERATIONS, bytes.as_mut());
        Keys { bytes }
    }
    fn cipher_key(&self) -> &[u8] {
        &self.bytes[..KEY_LEN]
    }
    fn hmac_key(&self) -> &[u8] {
        &self.bytes[KEY_LEN..2 * KEY_LEN]
    }
    fn counter(&self) -> &[u8] {
        &self.bytes[2 * KEY_LEN..]
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(self.hmac_key()).expect("HMAC accepts any key")
    }

    fn apply_keystream(&self, data: &mut [u8]) {
        let mut cipher = Aes256Ctr::new(self.cipher_key().into(), self.counter().into());
        cipher.apply_keystream(data);
    }
}

/// Decrypts a parsed envelope with one password. A wrong password or changed data fails the
/// HMAC check ([`VaultError::NoSecretDecrypts`]); nothing is decrypted before it passes.
pub fn decrypt_envelope(
    envelope: &Envelope,
    password: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let parts = split_body(&envelope.body)?;
    let keys = Keys::derive(password, &parts.salt);
    let mut mac = keys.mac();
    mac.update(&parts.ciphertext);
    // verify_slice compares in constant time.
    mac.verify_slice(&parts.hmac)
        .map_err(|_| VaultError::NoSecretDecrypts)?;
    let mut plain = Zeroizing::new(parts.ciphertext);
    keys.apply_keystream(&mut plain);
    unpad(&mut plain)?;
    Ok(plain)
}

/// Removes PKCS#7 padding in place.
fn unpad(data: &mut Zeroizing<Vec<u8>>) -> Result<(), VaultError> {
    let bad = || VaultError::Format(FormatProblem::Padding);
    let n = usize::from(*data.last().ok_or_else(bad)?);
    if n == 0 || n > BLOCK || n > data.len() {
        return Err(bad());
    }
    if data[data.len() - n..].iter().any(|&b| usize::from(b) != n) {
        return Err(bad());
    }
    let keep = data.len() - n;
    data.truncate(keep);
    Ok(())
}

/// Encrypts `plaintext` with `password` into vault text with a fresh random salt: format 1.1,
/// or 1.2 when a vault id other than `default` is given (as ansible-vault writes it).
pub fn encrypt(
    plaintext: &[u8],
    password: &[u8],
    vault_id: Option<&str>,
) -> Result<String, VaultError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::getrandom(&mut salt).map_err(|e| VaultError::Random(e.to_string()))?;
    encrypt_with_salt(plaintext, password, vault_id, &salt)
}

fn encrypt_with_salt(
    plaintext: &[u8],
    password: &[u8],
    vault_id: Option<&str>,
    salt: &[u8],
) -> Result<String, VaultError> {
    if is_vaulted(plaintext) {
        return Err(VaultError::AlreadyEncrypted);
    }
    // Each plaintext byte becomes four hex digits in the envelope.
    if plaintext.len() > MAX_VAULT_TEXT / 4 - BLOCK {
        return Err(VaultError::TooLarge {
            limit: MAX_VAULT_TEXT,
        });
    }
    let keys = Keys::derive(password, salt);
    let pad = BLOCK - plaintext.len() % BLOCK;
    let mut data = Zeroizing::new(Vec::with_capacity(plaintext.len() + pad));
    data.extend_from_slice(plaintext);
    data.resize(plaintext.len() + pad, pad as u8);
    keys.apply_keystream(&mut data);
    let mut mac = keys.mac();
    mac.update(&data);
    let tag = mac.finalize().into_bytes();
    let inner = format!(
        "{}\n{}\n{}",
        hex::encode(salt),
        hex::encode(tag),
        hex::encode(data.as_slice())
    );
    Ok(format_envelope(&hex::encode(inner), vault_id))
}

fn format_envelope(body: &str, vault_id: Option<&str>) -> String {
    let mut text = match vault_id.filter(|id| !id.is_empty() && *id != "default") {
        Some(id) => format!("{HEADER};1.2;{CIPHER};{id}\n"),
        None => format!("{HEADER};1.1;{CIPHER}\n"),
    };
    // The body is ASCII hex: byte chunks are character chunks.
    for line in body.as_bytes().chunks(LINE_WIDTH) {
        text.push_str(std::str::from_utf8(line).unwrap_or_default());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_trip_keeps_the_bytes_and_wraps_at_80_columns() {
        for len in [0usize, 1, 15, 16, 17, 100] {
            let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let text = encrypt(&plain, b"pw", None).unwrap();
            assert!(text.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"), "{text}");
            assert!(text.lines().skip(1).all(|l| l.len() <= 80), "{text}");
            let env = parse_envelope(text.as_bytes()).unwrap();
            assert_eq!(
                decrypt_envelope(&env, b"pw").unwrap().as_slice(),
                &plain[..]
            );
        }
    }

    #[test]
    fn a_vault_id_makes_format_1_2_except_default() {
        let text = encrypt(b"x", b"pw", Some("prod")).unwrap();
        assert!(text.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
        let env = parse_envelope(text.as_bytes()).unwrap();
        assert_eq!(env.vault_id.as_deref(), Some("prod"));
        let text = encrypt(b"x", b"pw", Some("default")).unwrap();
        assert!(text.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
    }

    #[test]
    fn the_same_salt_gives_the_same_text_and_a_new_salt_another() {
        let a = encrypt_with_salt(b"abc", b"pw", None, &[7; 32]).unwrap();
        let b = encrypt_with_salt(b"abc", b"pw", None, &[7; 32]).unwrap();
        assert_eq!(a, b);
        assert_ne!(encrypt(b"abc", b"pw", None).unwrap(), a);
    }

    #[test]
    fn vault_text_is_not_encrypted_twice() {
        let text = encrypt(b"abc", b"pw", None).unwrap();
        assert_eq!(
            encrypt(text.as_bytes(), b"pw", None).unwrap_err(),
            VaultError::AlreadyEncrypted
        );
    }

    #[test]
    fn bad_padding_after_a_valid_hmac_is_a_format_error() {
        let mut data = Zeroizing::new(vec![1u8, 2, 3, 0]);
        assert!(unpad(&mut data).is_err());
        let mut data = Zeroizing::new(vec![1u8, 2, 2, 3]);
        assert!(unpad(&mut data).is_err());
        let mut data = Zeroizing::new(vec![9u8, 2, 2]);
        unpad(&mut data).unwrap();
        assert_eq!(data.as_slice(), &[9]);
    }
}
