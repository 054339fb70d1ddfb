//! `password_hash` (SHA-256/SHA-512 crypt on the `sha-crypt` crate, written as passlib writes
//! it: its default rounds, `rounds=` left out when it is 5000) and `to_uuid` (UUID version 5 in
//! Ansible's namespace, on the `uuid` crate).

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind};

use super::ensure_defined;
use crate::pyrepr::try_py_str;

/// Ansible's namespace for `to_uuid` (`UUID_NAMESPACE_ANSIBLE`).
const ANSIBLE_NAMESPACE: &str = "361e6d51-faec-444a-9079-341386da8e2e";
/// The crypt alphabet, for salts and the encoded hash.
const CRYPT_ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// The rounds crypt(3) uses when none are written.
const IMPLICIT_ROUNDS: u32 = 5_000;
/// Most rounds accepted: crypt allows 999,999,999, which would keep a render busy for hours.
const MAX_ROUNDS: u32 = 10_000_000;
/// Longest password hashed.
const MAX_PASSWORD: usize = 64 * 1024;

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("password_hash", password_hash);
    env.add_filter("to_uuid", to_uuid);
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// `to_uuid(namespace=UUID_NAMESPACE_ANSIBLE)`.
fn to_uuid(value: Value, namespace: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    ensure_defined(&value)?;
    let namespace = match kwargs.get::<Option<String>>("namespace")? {
        Some(ns) => ns,
        None => namespace.unwrap_or_else(|| ANSIBLE_NAMESPACE.into()),
    };
    kwargs.assert_all_used()?;
    let ns = uuid::Uuid::parse_str(&namespace)
        .map_err(|e| invalid(format!("Invalid value '{namespace}' for 'namespace': {e}")))?;
    let name = try_py_str(&value)?;
    Ok(uuid::Uuid::new_v5(&ns, name.as_bytes()).to_string())
}

/// The SHA-crypt variants and passlib's defaults for them.
#[derive(Clone, Copy)]
enum Scheme {
    Sha256,
    Sha512,
}

impl Scheme {
    fn from_name(name: &str) -> Result<Self, Error> {
        match name {
            "sha256" | "sha256_crypt" => Ok(Scheme::Sha256),
            "sha512" | "sha512_crypt" => Ok(Scheme::Sha512),
            "md5" | "md5_crypt" | "blowfish" | "bcrypt" => Err(invalid(format!(
                "password_hash: {name} is not supported by etcdplay (use sha512 or sha256)"
            ))),
            other => Err(invalid(format!(
                "{other} is not in the list of supported passlib algorithms: md5, blowfish, sha256, sha512"
            ))),
        }
    }
    fn id(self) -> &'static str {
        match self {
            Scheme::Sha256 => "5",
            Scheme::Sha512 => "6",
        }
    }
    /// passlib's default rounds.
    fn default_rounds(self) -> u32 {
        match self {
            Scheme::Sha256 => 535_000,
            Scheme::Sha512 => 656_000,
        }
    }
}

/// `password_hash(hashtype='sha512', salt=None, salt_size=None, rounds=None, ident=None)`.
fn password_hash(
    value: Value,
    hashtype: Option<String>,
    salt: Option<Value>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    ensure_defined(&value)?;
    let hashtype = kwargs
        .get::<Option<String>>("hashtype")?
        .or(hashtype)
        .unwrap_or_else(|| "sha512".into());
    let salt = kwargs
        .get::<Option<Value>>("salt")?
        .or(salt)
        .filter(|s| !s.is_none());
    let salt_size = kwargs.get::<Option<usize>>("salt_size")?.unwrap_or(16);
    let rounds: Option<u32> = kwargs.get("rounds")?;
    let _ident: Option<String> = kwargs.get("ident")?;
    kwargs.assert_all_used()?;
    let scheme = Scheme::from_name(&hashtype)?;
    let password = try_py_str(&value)?;
    if password.len() > MAX_PASSWORD {
        return Err(invalid(format!(
            "password_hash: password longer than {MAX_PASSWORD} bytes"
        )));
    }
    let salt = match salt {
        Some(salt) => try_py_str(&salt)?,
        None => random_salt(salt_size.min(16))?,
    };
    check_salt(&salt)?;
    let rounds = rounds.unwrap_or(scheme.default_rounds());
    if !(1_000..=MAX_ROUNDS).contains(&rounds) {
        return Err(invalid(format!(
            "password_hash: rounds must be between 1000 and {MAX_ROUNDS}, got {rounds}"
        )));
    }
    Ok(crypt(scheme, password.as_bytes(), &salt, rounds))
}

fn check_salt(salt: &str) -> Result<(), Error> {
    if let Some(bad) = salt.bytes().find(|b| !CRYPT_ALPHABET.contains(b)) {
        return Err(invalid(format!(
            "invalid characters in salt: {:?} (allowed: ./0-9A-Za-z)",
            char::from(bad)
        )));
    }
    if salt.len() > 16 {
        return Err(invalid(format!(
            "salt too large (sha-crypt requires <= 16 chars), got {}",
            salt.len()
        )));
    }
    Ok(())
}

/// A salt of `len` characters of the crypt alphabet from the operating system's randomness.
pub(crate) fn random_salt(len: usize) -> Result<String, Error> {
    let mut rng =
        crate::pyrandom::PyRandom::from_os().map_err(|e| invalid(format!("password_hash: {e}")))?;
    let mut out = String::with_capacity(len);
    for _ in 0..len {
        let index = rng
            .choice_index(CRYPT_ALPHABET.len())
            .map_err(|e| invalid(e.to_string()))?;
        out.push(char::from(CRYPT_ALPHABET[index]));
    }
    Ok(out)
}

/// The modular crypt string `$id$[rounds=N$]salt$hash`.
fn crypt(scheme: Scheme, password: &[u8], salt: &str, rounds: u32) -> String {
    let params = sha_crypt::Params::new(rounds).unwrap_or_default();
    let encoded = match scheme {
        Scheme::Sha256 => encode(
            &sha_crypt::sha256_crypt(password, salt.as_bytes(), params),
            10,
        ),
        Scheme::Sha512 => encode(
            &sha_crypt::sha512_crypt(password, salt.as_bytes(), params),
            21,
        ),
    };
    let rounds_field = if rounds == IMPLICIT_ROUNDS {
        String::new()
    } else {
        format!("rounds={rounds}$")
    };
    format!("${}${rounds_field}{salt}${encoded}", scheme.id())
}

/// SHA-crypt's output encoding (Drepper's specification): the digest is read in groups of three
/// bytes `k`, `k+n`, `k+2n` (rotated by `k mod 3`), each written as four little-endian base-64
/// digits; the one or two bytes left over end the string.
fn encode(digest: &[u8], n: usize) -> String {
    let mut out = String::new();
    let mut push = |word: u32, digits: usize| {
        for i in 0..digits {
            out.push(char::from(
                CRYPT_ALPHABET[((word >> (6 * i)) & 0x3f) as usize],
            ));
        }
    };
    for k in 0..n {
        let (a, b, c) = (digest[k], digest[k + n], digest[k + 2 * n]);
        // The specification rotates the triple one way for SHA-512 and the other for SHA-256.
        let rotation = if n == 21 { k % 3 } else { (3 - k % 3) % 3 };
        let (b2, b1, b0) = match rotation {
            0 => (a, b, c),
            1 => (b, c, a),
            _ => (c, a, b),
        };
        push(
            (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0),
            4,
        );
    }
    match digest.len() - 3 * n {
        1 => push(u32::from(digest[3 * n]), 2),
        _ => push(
            (u32::from(digest[3 * n + 1]) << 8) | u32::from(digest[3 * n]),
            3,
        ),
    }
    out
}
