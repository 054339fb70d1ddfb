//! End-to-end behaviour of a PKI directory, judged by the openssl CLI: file modes, names and
//! key usages in the certificates, chain verification, reuse and the reasons for re-issuing,
//! user-supplied CAs, and refusal of exposed keys.

mod common;

use std::fs;
use std::path::Path;

use common::{chmod, full_pki, member, mode, openssl, openssl_ca, openssl_ca_days, openssl_ok};
use etcdplay_pki::{render_table, EnsureOptions, Issued, PkiDir, PkiError};

fn reason(issued: Issued) -> String {
    match issued {
        Issued::Issued { reason } => reason,
        Issued::Reused => panic!("expected a re-issue, got Reused"),
    }
}

#[test]
fn new_pki_dir_has_expected_files_and_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = full_pki(tmp.path());
    let dir = pki.path();
    assert_eq!(mode(dir), 0o700);
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ca-key.pem",
            "ca.pem",
            "client-key.pem",
            "client.pem",
            "etcd1-key.pem",
            "etcd1.pem",
            "etcd2-key.pem",
            "etcd2.pem"
        ]
    );
    for key in [
        "ca-key.pem",
        "client-key.pem",
        "etcd1-key.pem",
        "etcd2-key.pem",
    ] {
        assert_eq!(mode(&dir.join(key)), 0o600, "{key}");
    }
    for cert in ["ca.pem", "client.pem", "etcd1.pem"] {
        assert_eq!(mode(&dir.join(cert)), 0o644, "{cert}");
    }
    assert_eq!(pki.ca_pem_path(), dir.join("ca.pem"));
    assert_eq!(
        pki.member_paths("etcd1"),
        (dir.join("etcd1.pem"), dir.join("etcd1-key.pem"))
    );
    assert_eq!(
        pki.ca_pem().unwrap(),
        fs::read_to_string(dir.join("ca.pem")).unwrap()
    );
}

#[test]
fn member_cert_has_names_usages_subject_and_verifies_against_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = PkiDir::open_or_create(&tmp.path().join("pki"));
    let mut pki = pki.unwrap();
    pki.ensure_ca().unwrap();
    let spec = member(
        "etcd1",
        &[
            "192.168.56.11",
            "etcd1.example.com",
            "10.0.2.15",
            "192.168.56.11",
        ],
    );
    pki.ensure_member(&spec, &EnsureOptions::default()).unwrap();
    let dir = pki.path();

    let text = openssl_ok(
        dir,
        &[
            "x509",
            "-in",
            "etcd1.pem",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName,extendedKeyUsage,basicConstraints",
        ],
    );
    assert!(text.contains("subject=O = etcdplay, CN = etcd1"), "{text}");
    let san_line = text
        .lines()
        .skip_while(|l| !l.contains("Subject Alternative Name"))
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let mut sans: Vec<&str> = san_line.split(", ").collect();
    sans.sort();
    assert_eq!(
        sans,
        [
            "DNS:etcd1",
            "DNS:etcd1.example.com",
            "DNS:localhost",
            "IP Address:0:0:0:0:0:0:0:1",
            "IP Address:10.0.2.15",
            "IP Address:127.0.0.1",
            "IP Address:192.168.56.11",
        ],
        "{text}"
    );
    assert!(
        text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
        "{text}"
    );
    assert!(text.contains("CA:FALSE"), "{text}");

    let verify = openssl_ok(
        dir,
        &[
            "verify",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "sslserver",
            "etcd1.pem",
        ],
    );
    assert!(verify.contains("etcd1.pem: OK"), "{verify}");
    let verify = openssl_ok(
        dir,
        &[
            "verify",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "sslclient",
            "etcd1.pem",
        ],
    );
    assert!(verify.contains("etcd1.pem: OK"), "{verify}");

    // The CA: ten years, CA:TRUE, random (not key-derived) 16-byte serial.
    let ca = openssl_ok(
        dir,
        &[
            "x509",
            "-in",
            "ca.pem",
            "-noout",
            "-subject",
            "-serial",
            "-enddate",
            "-ext",
            "basicConstraints",
        ],
    );
    assert!(
        ca.contains("CN = etcdplay CA") && ca.contains("CA:TRUE"),
        "{ca}"
    );
    let serial = ca.lines().find_map(|l| l.strip_prefix("serial=")).unwrap();
    assert_eq!(serial.len(), 32, "{ca}");
    let in_9y = openssl(
        dir,
        &[
            "x509",
            "-in",
            "ca.pem",
            "-noout",
            "-checkend",
            &(9 * 365 * 86400).to_string(),
        ],
    );
    assert!(in_9y.0, "CA should be valid for ~10 years: {}", in_9y.1);
}

#[test]
fn client_cert_is_client_auth_only_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = full_pki(tmp.path());
    let dir = pki.path();
    let text = openssl_ok(
        dir,
        &[
            "x509",
            "-in",
            "client.pem",
            "-noout",
            "-subject",
            "-ext",
            "extendedKeyUsage",
        ],
    );
    assert!(text.contains("CN = etcdplay-client"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(!text.contains("Server Authentication"), "{text}");
    openssl_ok(
        dir,
        &[
            "verify",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "sslclient",
            "client.pem",
        ],
    );
    let (server_ok, out) = openssl(
        dir,
        &[
            "verify",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "sslserver",
            "client.pem",
        ],
    );
    assert!(
        !server_ok,
        "client cert must not pass as a server cert: {out}"
    );
}

#[test]
fn second_run_reuses_everything_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = full_pki(tmp.path());
    let snapshot = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().into_string().unwrap(),
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let before = snapshot(pki.path());
    drop(pki);
    let mut again = PkiDir::open_or_create(&tmp.path().join("pki")).unwrap();
    assert_eq!(again.ensure_ca().unwrap(), Issued::Reused);
    let opts = EnsureOptions::default();
    // Same names in another order and with duplicates: still the same wanted set.
    let spec = member("etcd1", &["10.77.0.1", "127.0.0.1", "ETCD1", "10.77.0.1"]);
    assert_eq!(again.ensure_member(&spec, &opts).unwrap(), Issued::Reused);
    assert_eq!(
        again
            .ensure_member(&member("etcd2", &["10.77.0.2"]), &opts)
            .unwrap(),
        Issued::Reused
    );
    assert_eq!(again.ensure_client(&opts).unwrap(), Issued::Reused);
    assert_eq!(snapshot(again.path()), before);
}

#[test]
fn san_change_reissues_and_says_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = full_pki(tmp.path());
    let old = fs::read(pki.path().join("etcd1.pem")).unwrap();
    let old_key = fs::read(pki.path().join("etcd1-key.pem")).unwrap();
    let got = pki
        .ensure_member(&member("etcd1", &["10.77.0.9"]), &EnsureOptions::default())
        .unwrap();
    assert_eq!(
        reason(got),
        "subject alternative names changed: added 10.77.0.9; removed 10.77.0.1"
    );
    assert_ne!(fs::read(pki.path().join("etcd1.pem")).unwrap(), old);
    assert_ne!(fs::read(pki.path().join("etcd1-key.pem")).unwrap(), old_key);
    let text = openssl_ok(
        pki.path(),
        &[
            "x509",
            "-in",
            "etcd1.pem",
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    );
    assert!(
        text.contains("IP Address:10.77.0.9") && !text.contains("10.77.0.1"),
        "{text}"
    );
    // Other members are untouched.
    let opts = EnsureOptions::default();
    assert_eq!(
        pki.ensure_member(&member("etcd2", &["10.77.0.2"]), &opts)
            .unwrap(),
        Issued::Reused
    );
}

#[test]
fn near_expiry_reissues_with_full_validity() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pki = PkiDir::open_or_create(&tmp.path().join("pki")).unwrap();
    pki.ensure_ca().unwrap();
    let spec = member("etcd1", &[]);
    let short = EnsureOptions {
        validity_days: 10,
        min_days_left: 0,
        ..EnsureOptions::default()
    };
    pki.ensure_member(&spec, &short).unwrap();
    let (ok, _) = openssl(
        pki.path(),
        &[
            "x509",
            "-in",
            "etcd1.pem",
            "-noout",
            "-checkend",
            &(20 * 86400).to_string(),
        ],
    );
    assert!(!ok, "the short certificate should end within 20 days");

    let got = pki.ensure_member(&spec, &EnsureOptions::default()).unwrap();
    assert_eq!(reason(got), "expires in 9 days (renewal below 30 days)");
    let (ok, out) = openssl(
        pki.path(),
        &[
            "x509",
            "-in",
            "etcd1.pem",
            "-noout",
            "-checkend",
            &(360 * 86400).to_string(),
        ],
    );
    assert!(ok, "renewed certificate should last about a year: {out}");
    assert_eq!(
        pki.ensure_member(&spec, &EnsureOptions::default()).unwrap(),
        Issued::Reused
    );
}

#[test]
fn options_that_would_reissue_forever_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pki = PkiDir::open_or_create(&tmp.path().join("pki")).unwrap();
    pki.ensure_ca().unwrap();
    let bad = EnsureOptions {
        validity_days: 10,
        ..EnsureOptions::default()
    };
    let err = pki.ensure_member(&member("etcd1", &[]), &bad).unwrap_err();
    assert!(matches!(err, PkiError::InvalidOptions { .. }), "{err}");
}

#[test]
fn rotate_reissues_every_leaf() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = full_pki(tmp.path());
    let old = fs::read(pki.path().join("etcd2.pem")).unwrap();
    let rotate = EnsureOptions {
        rotate: true,
        ..EnsureOptions::default()
    };
    let got = pki
        .ensure_member(&member("etcd2", &["10.77.0.2"]), &rotate)
        .unwrap();
    assert_eq!(reason(got), "rotation requested");
    assert_eq!(
        reason(pki.ensure_client(&rotate).unwrap()),
        "rotation requested"
    );
    assert_ne!(fs::read(pki.path().join("etcd2.pem")).unwrap(), old);
    openssl_ok(
        pki.path(),
        &["verify", "-CAfile", "ca.pem", "etcd2.pem", "client.pem"],
    );
}

#[test]
fn new_ca_reissues_members_signed_by_the_old_one() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = full_pki(tmp.path());
    let dir = pki.path().to_path_buf();
    drop(pki);
    fs::remove_file(dir.join("ca.pem")).unwrap();
    fs::remove_file(dir.join("ca-key.pem")).unwrap();
    let (old_ok, _) = openssl(&dir, &["verify", "-CAfile", "ca.pem", "etcd1.pem"]);
    assert!(!old_ok);

    let mut pki = PkiDir::open_or_create(&dir).unwrap();
    assert_eq!(reason(pki.ensure_ca().unwrap()), "created a new CA");
    let got = pki.ensure_member(&member("etcd1", &["10.77.0.1"]), &EnsureOptions::default());
    assert_eq!(reason(got.unwrap()), "not signed by the current CA");
    openssl_ok(&dir, &["verify", "-CAfile", "ca.pem", "etcd1.pem"]);
}

#[test]
fn key_not_matching_certificate_is_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = full_pki(tmp.path());
    let dir = pki.path();
    fs::copy(dir.join("etcd2-key.pem"), dir.join("etcd1-key.pem")).unwrap();
    let got = pki.ensure_member(&member("etcd1", &["10.77.0.1"]), &EnsureOptions::default());
    assert_eq!(
        reason(got.unwrap()),
        "private key does not match the certificate"
    );
    // openssl confirms the pair matches again: same public key from cert and from key.
    let from_cert = openssl_ok(dir, &["x509", "-in", "etcd1.pem", "-noout", "-pubkey"]);
    let from_key = openssl_ok(dir, &["pkey", "-in", "etcd1-key.pem", "-pubout"]);
    assert_eq!(from_cert, from_key);
}

#[test]
fn world_readable_ca_key_is_refused_with_path() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = full_pki(tmp.path());
    let key = pki.ca_key_path();
    let before = fs::read(&key).unwrap();
    chmod(&key, 0o644);
    let mut pki = PkiDir::open_or_create(pki.path()).unwrap();
    let err = pki.ensure_ca().unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, PkiError::InsecureKey { mode: 0o644, .. }),
        "{msg}"
    );
    assert!(msg.contains(&key.display().to_string()), "{msg}");
    assert!(
        msg.contains("readable or writable by group or others"),
        "{msg}"
    );
    assert!(msg.contains("chmod 600"), "{msg}");
    assert_eq!(
        fs::read(&key).unwrap(),
        before,
        "the key must not be touched"
    );
    // Member keys are held to the same rule.
    chmod(&key, 0o600);
    pki.ensure_ca().unwrap();
    chmod(&pki.path().join("etcd1-key.pem"), 0o604);
    let err = pki.ensure_member(&member("etcd1", &["10.77.0.1"]), &EnsureOptions::default());
    assert!(
        matches!(err, Err(PkiError::InsecureKey { mode: 0o604, .. })),
        "{err:?}"
    );
}

#[test]
fn unusable_pki_dirs_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    fs::write(&file, b"").unwrap();
    let err = PkiDir::open_or_create(&file.join("pki")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PkiError::DirUnreadable { .. }), "{msg}");
    assert!(
        msg.starts_with("PKI directory ") && msg.contains("cannot be read"),
        "{msg}"
    );
    assert!(matches!(
        PkiDir::open_or_create(&file),
        Err(PkiError::NotADirectory { .. })
    ));
    let open = tmp.path().join("open");
    fs::create_dir(&open).unwrap();
    chmod(&open, 0o755);
    let msg = PkiDir::open_or_create(&open).unwrap_err().to_string();
    assert!(msg.contains("chmod 700"), "{msg}");
}

#[test]
fn half_a_ca_is_not_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    openssl_ca(&dir, "ec");
    fs::remove_file(dir.join("ca-key.pem")).unwrap();
    let mut pki = PkiDir::open_or_create(&dir).unwrap();
    let err = pki.ensure_ca().unwrap_err();
    assert!(matches!(err, PkiError::IncompleteCa { .. }), "{err}");
    assert!(!dir.join("ca-key.pem").exists());
    assert!(matches!(
        pki.ensure_member(&member("etcd1", &[]), &EnsureOptions::default()),
        Err(PkiError::CaNotLoaded)
    ));
}

#[test]
fn bring_your_own_ca_is_used_as_is() {
    for alg in ["ec", "rsa:2048"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        openssl_ca(&dir, alg);
        let ca_before = fs::read(dir.join("ca.pem")).unwrap();
        let key_before = fs::read(dir.join("ca-key.pem")).unwrap();

        let mut pki = PkiDir::open_or_create(&dir).unwrap();
        assert_eq!(pki.ensure_ca().unwrap(), Issued::Reused, "{alg}");
        pki.ensure_member(&member("etcd1", &["10.1.1.1"]), &EnsureOptions::default())
            .unwrap();
        pki.ensure_client(&EnsureOptions::default()).unwrap();
        assert_eq!(fs::read(dir.join("ca.pem")).unwrap(), ca_before);
        assert_eq!(fs::read(dir.join("ca-key.pem")).unwrap(), key_before);

        let out = openssl_ok(
            &dir,
            &["verify", "-CAfile", "ca.pem", "etcd1.pem", "client.pem"],
        );
        assert!(
            out.contains("etcd1.pem: OK") && out.contains("client.pem: OK"),
            "{alg}: {out}"
        );
        let issuer = openssl_ok(&dir, &["x509", "-in", "etcd1.pem", "-noout", "-issuer"]);
        assert!(
            issuer.contains("C = DE, O = Example Corp, CN = Example Etcd Root"),
            "{issuer}"
        );
        let again = pki.ensure_member(&member("etcd1", &["10.1.1.1"]), &EnsureOptions::default());
        assert_eq!(again.unwrap(), Issued::Reused, "{alg}");
    }
}

#[test]
fn leaves_never_outlive_the_ca_and_do_not_churn_near_its_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    openssl_ca_days(&dir, "ec", 20);
    let mut pki = PkiDir::open_or_create(&dir).unwrap();
    pki.ensure_ca().unwrap();
    let spec = member("etcd1", &[]);
    assert!(pki
        .ensure_member(&spec, &EnsureOptions::default())
        .unwrap()
        .changed());
    let ca_end = openssl_ok(&dir, &["x509", "-in", "ca.pem", "-noout", "-enddate"]);
    let leaf_end = openssl_ok(&dir, &["x509", "-in", "etcd1.pem", "-noout", "-enddate"]);
    assert_eq!(leaf_end, ca_end);
    // 19 days left is below the 30-day threshold, but renewing cannot do better.
    assert_eq!(
        pki.ensure_member(&spec, &EnsureOptions::default()).unwrap(),
        Issued::Reused
    );
    assert_eq!(pki.show().unwrap()[1].status(), "renew-soon");
}

#[test]
fn legacy_or_mismatched_ca_keys_are_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    openssl_ca(&dir, "ec");
    openssl_ok(&dir, &["ec", "-in", "ca-key.pem", "-out", "legacy.pem"]);
    fs::rename(dir.join("legacy.pem"), dir.join("ca-key.pem")).unwrap();
    chmod(&dir.join("ca-key.pem"), 0o600);
    let mut pki = PkiDir::open_or_create(&dir).unwrap();
    let msg = pki.ensure_ca().unwrap_err().to_string();
    assert!(msg.contains("openssl pkcs8 -topk8"), "{msg}");

    let other = tmp.path().join("other");
    openssl_ca(&other, "ec");
    fs::copy(other.join("ca-key.pem"), dir.join("ca-key.pem")).unwrap();
    let err = pki.ensure_ca().unwrap_err();
    assert!(matches!(err, PkiError::CaKeyMismatch { .. }), "{err}");
}

#[test]
fn bad_member_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pki = PkiDir::open_or_create(&tmp.path().join("pki")).unwrap();
    pki.ensure_ca().unwrap();
    for name in [
        "", "ca", "client", "../etc", "a/b", ".hidden", "web-key", "sp ace",
    ] {
        let err = pki.ensure_member(&member(name, &[]), &EnsureOptions::default());
        assert!(
            matches!(err, Err(PkiError::InvalidName { .. })),
            "{name:?}: {err:?}"
        );
    }
    assert!(!tmp.path().join("etc.pem").exists());
}

#[test]
fn private_keys_never_show_in_debug_or_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = full_pki(tmp.path());
    let dir = pki.path().to_path_buf();
    let key_text = fs::read_to_string(dir.join("ca-key.pem")).unwrap();
    let key_lines: Vec<&str> = key_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(!key_lines.is_empty());
    let mut outputs = vec![format!("{pki:?}"), format!("{pki:#?}")];

    // A corrupted member key and a CA key with one flipped character (valid PEM framing).
    let mut broken = key_text.replacen(key_lines[0], &key_lines[0].replace('A', "B"), 1);
    if broken == key_text {
        broken = key_text.replacen(key_lines[0], &"Q".repeat(key_lines[0].len()), 1);
    }
    fs::write(dir.join("ca-key.pem"), &broken).unwrap();
    let mut again = PkiDir::open_or_create(&dir).unwrap();
    let err = again.ensure_ca().unwrap_err();
    outputs.push(err.to_string());
    outputs.push(format!("{err:?}"));
    outputs.push(format!("{again:?}"));
    chmod(&dir.join("ca-key.pem"), 0o666);
    let err = again.ensure_ca().unwrap_err();
    outputs.push(err.to_string());
    outputs.push(format!("{err:?}"));

    for out in &outputs {
        assert!(!out.contains("PRIVATE KEY"), "{out}");
        for line in &key_lines {
            assert!(!out.contains(line), "key material in: {out}");
        }
        for line in broken.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!out.contains(line), "key material in: {out}");
        }
    }
}

#[test]
fn show_lists_every_certificate_and_renders_a_table() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = full_pki(tmp.path());
    let certs = pki.show().unwrap();
    let files: Vec<&str> = certs.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(files, ["ca.pem", "client.pem", "etcd1.pem", "etcd2.pem"]);
    let ca = &certs[0];
    assert!(ca.is_ca && ca.subject.contains("CN=etcdplay CA"), "{ca:?}");
    assert!((3640..=3650).contains(&ca.days_left), "{ca:?}");
    let etcd1 = &certs[2];
    assert_eq!(etcd1.subject, "O=etcdplay, CN=etcd1");
    assert_eq!(etcd1.signed_by_ca, Some(true));
    assert!((363..=365).contains(&etcd1.days_left), "{etcd1:?}");
    let sans: Vec<String> = etcd1.sans.iter().map(ToString::to_string).collect();
    assert_eq!(
        sans,
        ["etcd1", "localhost", "10.77.0.1", "127.0.0.1", "::1"]
    );
    assert!(certs[1].sans.is_empty());

    let table = render_table(&certs);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    assert!(lines[0].starts_with("FILE        SUBJECT"), "{table}");
    assert!(
        lines[3].starts_with("etcd1.pem   O=etcdplay, CN=etcd1"),
        "{table}"
    );
    assert!(
        lines[3].ends_with(" 364   ok       etcd1,localhost,10.77.0.1,127.0.0.1,::1"),
        "{table}"
    );
    assert!(!table.contains("key"), "{table}");
    let status_col = lines[0].find("STATUS").unwrap();
    assert!(
        lines.iter().skip(1).all(|l| l.len() > status_col),
        "{table}"
    );

    // A PEM file that is not a certificate is left out, unread into the output.
    fs::copy(
        pki.path().join("etcd1-key.pem"),
        pki.path().join("backup.pem"),
    )
    .unwrap();
    assert_eq!(pki.show().unwrap().len(), 4);

    // A certificate from another CA dropped into the directory is flagged.
    let other = tmp.path().join("other");
    let _ = full_pki(&other);
    fs::copy(other.join("pki/etcd1.pem"), pki.path().join("stray.pem")).unwrap();
    let certs = pki.show().unwrap();
    let stray = certs.iter().find(|c| c.file == "stray.pem").unwrap();
    assert_eq!(stray.signed_by_ca, Some(false));
    assert!(render_table(&certs).contains("NOT-SIGNED-BY-CA"));
}

#[test]
fn ensure_all_reports_which_members_changed_and_files_can_be_read() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pki = PkiDir::open_or_create(&tmp.path().join("pki")).unwrap();
    let specs = [
        member("etcd1", &["10.0.0.1"]),
        member("etcd2", &["10.0.0.2"]),
    ];
    let opts = EnsureOptions::default();
    let first = pki.ensure_all(&specs, &opts).unwrap();
    assert!(first.ca.changed() && first.client.changed());
    assert_eq!(first.changed_members(), ["etcd1", "etcd2"]);
    let second = pki.ensure_all(&specs, &opts).unwrap();
    assert!(!second.any_changed(), "{second:?}");
    let moved = [
        member("etcd1", &["10.0.0.1"]),
        member("etcd2", &["10.0.0.3"]),
    ];
    let third = pki.ensure_all(&moved, &opts).unwrap();
    assert_eq!(third.changed_members(), ["etcd2"]);
    assert!(!third.ca.changed() && !third.client.changed());

    let files = pki.member_files("etcd2").unwrap();
    assert_eq!(
        files.cert_pem,
        fs::read_to_string(pki.path().join("etcd2.pem")).unwrap()
    );
    assert_eq!(
        files.key_pem.expose(),
        fs::read_to_string(pki.path().join("etcd2-key.pem")).unwrap()
    );
    assert!(!format!("{files:?}").contains("PRIVATE KEY"));
    assert!(pki
        .client_files()
        .unwrap()
        .cert_pem
        .contains("BEGIN CERTIFICATE"));
    assert!(matches!(
        pki.member_files("etcd9"),
        Err(PkiError::Io { .. })
    ));
}
