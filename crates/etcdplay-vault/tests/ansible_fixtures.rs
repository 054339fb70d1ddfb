//! The codec against vault text made by real ansible-vault (ansible-core 2.19.14), committed
//! in `tests/fixtures/`:
//!
//! ```text
//! ansible-vault encrypt --vault-password-file password-default vars-1.1.yml
//! ansible-vault encrypt --vault-id prod@password-prod vars-1.2-prod.yml
//! ansible-vault encrypt_string --vault-password-file password-default 'inline-token-99' --name api_token
//! ansible-vault encrypt_string --vault-id prod@password-prod 'prod-token-77' --name prod_token
//! ansible-vault encrypt --vault-password-file password-default random.bin.vault   (5000 random bytes)
//! ```
//!
//! and what ansible-vault said about the damaged copies made below (`ansible-vault view`):
//! a wrong password and a changed HMAC both give "Decryption failed (no vault secrets were
//! found that could decrypt)"; a truncated body is a format error.

use std::path::PathBuf;

use etcdplay_vault::codec::parse_envelope;
use etcdplay_vault::{FormatProblem, Keyring, VaultError, VaultSecret};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(path).unwrap()
}

fn keys(secrets: &[(&str, &[u8])]) -> Keyring {
    Keyring::new(
        secrets
            .iter()
            .map(|(label, pw)| VaultSecret::new(*label, pw.to_vec()))
            .collect(),
    )
}

const VARS: &str = "db_password: s3cret-value-42\nmulti: |\n  line one\n  line two\n";

#[test]
fn format_1_1_files_from_ansible_vault_decrypt() {
    let text = fixture("vars-1.1.yml");
    assert!(text.starts_with(b"$ANSIBLE_VAULT;1.1;AES256\n"));
    let plain = keys(&[("default", b"hunter2-pass")])
        .decrypt(&text)
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&plain.plaintext), VARS);
    let binary = keys(&[("default", b"hunter2-pass")])
        .decrypt(&fixture("random.bin.vault"))
        .unwrap();
    assert_eq!(
        binary.plaintext.as_slice(),
        fixture("random.bin").as_slice()
    );
}

#[test]
fn format_1_2_files_name_their_vault_id_and_try_it_first() {
    let text = fixture("vars-1.2-prod.yml");
    let envelope = parse_envelope(&text).unwrap();
    assert_eq!(
        (envelope.version.as_str(), envelope.vault_id.as_deref()),
        ("1.2", Some("prod"))
    );
    let ring = keys(&[("default", b"hunter2-pass"), ("prod", b"other-pass")]);
    let plain = ring.decrypt(&text).unwrap();
    assert_eq!(plain.label, "prod");
    assert_eq!(String::from_utf8_lossy(&plain.plaintext), VARS);
}

#[test]
fn inline_values_from_encrypt_string_decrypt_once_unindented() {
    for (file, pw, value) in [
        ("inline-1.1.yml", &b"hunter2-pass"[..], "inline-token-99"),
        ("inline-1.2-prod.yml", &b"other-pass"[..], "prod-token-77"),
    ] {
        let yaml = String::from_utf8(fixture(file)).unwrap();
        let body: String = yaml
            .lines()
            .skip(1)
            .map(|l| format!("{}\n", l.trim()))
            .collect();
        let plain = keys(&[("x", pw)]).decrypt(body.as_bytes()).unwrap();
        assert_eq!(plain.plaintext.as_slice(), value.as_bytes(), "{file}");
    }
}

#[test]
fn wrong_password_tampered_and_truncated_text_are_typed_errors() {
    let text = fixture("vars-1.1.yml");
    let right = keys(&[("default", b"hunter2-pass")]);
    assert_eq!(
        keys(&[("default", b"wrong")]).decrypt(&text).unwrap_err(),
        VaultError::NoSecretDecrypts
    );
    assert_eq!(
        Keyring::default().decrypt(&text).unwrap_err(),
        VaultError::NoSecrets
    );

    // Change one hex digit of the HMAC (the second inner line): the outer hex of the body
    // starts with hex(salt) (128 digits), then 0a, then the HMAC.
    let mut tampered = String::from_utf8(text.clone()).unwrap().replace('\n', "");
    let header_len = "$ANSIBLE_VAULT;1.1;AES256".len();
    let hmac_at = header_len + 2 * (64 + 1);
    let digit = &tampered[hmac_at..hmac_at + 2];
    let flipped = if digit == "30" { "31" } else { "30" };
    tampered.replace_range(hmac_at..hmac_at + 2, flipped);
    let tampered = format!("{}\n{}\n", &tampered[..header_len], &tampered[header_len..]);
    assert_eq!(
        right.decrypt(tampered.as_bytes()).unwrap_err(),
        VaultError::NoSecretDecrypts
    );

    // One flipped ciphertext digit: the HMAC no longer matches.
    let mut changed = text.clone();
    let last = changed.len() - 2;
    changed[last] = if changed[last] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        right.decrypt(&changed).unwrap_err(),
        VaultError::NoSecretDecrypts
    );

    for cut in [30, 100, 300, text.len() - 20] {
        let e = right.decrypt(&text[..cut]).unwrap_err();
        assert!(matches!(e, VaultError::Format(_)), "cut at {cut}: {e}");
    }
    assert_eq!(
        right.decrypt(b"$ANSIBLE_VAULT;1.1\n00\n").unwrap_err(),
        VaultError::Format(FormatProblem::BadHeader)
    );
    assert_eq!(
        right.decrypt(b"$ANSIBLE_VAULT;1.1;AES\n00\n").unwrap_err(),
        VaultError::UnknownCipher("AES".into())
    );
}
