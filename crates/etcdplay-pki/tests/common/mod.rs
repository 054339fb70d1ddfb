//! Helpers shared by the integration tests: running the openssl CLI (an independent judge of
//! the certificates) and setting up a PKI directory with a CA, members and a client.

#![allow(dead_code, unreachable_pub)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use etcdplay_pki::{EnsureOptions, Issued, MemberSpec, PkiDir};

/// Runs `openssl` with `args` in `dir`; returns (success, stdout + stderr). A missing openssl
/// binary fails the test loudly: these checks must never be skipped silently.
pub fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI must be installed to run these tests");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Like [`openssl`] but panics with the output when the command fails.
pub fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, text) = openssl(dir, args);
    assert!(ok, "openssl {args:?} failed:\n{text}");
    text
}

/// A member spec with the given extra names.
pub fn member(name: &str, sans: &[&str]) -> MemberSpec {
    MemberSpec {
        name: name.to_owned(),
        sans: sans.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Creates a PKI directory under `parent` with a CA, members `etcd1` and `etcd2`, and the
/// client certificate.
pub fn full_pki(parent: &Path) -> PkiDir {
    let mut pki = PkiDir::open_or_create(&parent.join("pki")).unwrap();
    assert!(pki.ensure_ca().unwrap().changed());
    let opts = EnsureOptions::default();
    for (name, ip) in [("etcd1", "10.77.0.1"), ("etcd2", "10.77.0.2")] {
        let got = pki.ensure_member(&member(name, &[ip]), &opts).unwrap();
        assert!(matches!(got, Issued::Issued { .. }), "{got:?}");
    }
    assert!(pki.ensure_client(&opts).unwrap().changed());
    pki
}

/// Permission bits of a path.
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Sets the permission bits of a path.
pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Makes a self-signed CA with the openssl CLI, as a user bringing their own CA would.
/// `key_alg` is passed to `-newkey` (e.g. `rsa:2048` or `ec`).
pub fn openssl_ca(dir: &Path, key_alg: &str) {
    openssl_ca_days(dir, key_alg, 60);
}

/// [`openssl_ca`] with a chosen validity in days.
pub fn openssl_ca_days(dir: &Path, key_alg: &str, days: u32) {
    let days = days.to_string();
    fs::create_dir_all(dir).unwrap();
    chmod(dir, 0o700);
    let mut args = vec!["req", "-x509", "-newkey", key_alg];
    if key_alg == "ec" {
        args.extend(["-pkeyopt", "ec_paramgen_curve:prime256v1"]);
    }
    args.extend([
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        &days,
        "-subj",
        "/C=DE/O=Example Corp/CN=Example Etcd Root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl_ok(dir, &args);
    chmod(&dir.join("ca-key.pem"), 0o600);
}
