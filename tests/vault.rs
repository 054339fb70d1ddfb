//! Ansible Vault through the `etcdplay` binary, side by side with real Ansible
//! (`common::ansible_bin`), on a local-connection host (no lab): plays that use vaulted vars
//! files and inline `!vault` values made by ansible-vault, `etcdplay vault` output that
//! ansible-vault reads back (and the reverse), and every password source.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{ansible_bin, etcdplay_bin, text};

const SECRETS: [&str; 3] = ["s3cret-value-42", "inline-token-99", "prod-token-77"];

/// The vault fixtures made by ansible-vault (see crates/etcdplay-vault/tests/ansible_fixtures.rs).
fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crates/etcdplay-vault/tests/fixtures")
        .join(name)
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).expect("fixture")
}

/// Runs a program in `dir` with a clean Ansible environment: no `ANSIBLE_*` from the caller
/// and a HOME of the test's own, so no user configuration is read.
fn run_in(dir: &Path, program: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut command = Command::new(program);
    command.args(args).current_dir(dir).env("HOME", dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("ANSIBLE_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn etcdplay(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    run_in(dir, &etcdplay_bin(), args, env, "")
}

/// Tasks that read vault data on the control node: `copy` of a vaulted `src` (decrypted, and
/// as-is with `decrypt: false`), `include_vars` of a vaulted file, `lookup('file')` of it, and
/// a vaulted `template` source. Their outputs land in `out/`.
const WHERE_VAULT_IS_READ: &str = r#"    - copy: {src: vaulted-vars.yml, dest: "{{ playbook_dir }}/out/copied.yml"}
    - copy: {src: vaulted-vars.yml, dest: "{{ playbook_dir }}/out/raw.yml", decrypt: false}
    - include_vars: {file: vaulted-vars.yml, name: included}
    - copy:
        content: "{{ included.db_password }}|{{ lookup('file', 'vaulted-vars.yml') }}"
        dest: "{{ playbook_dir }}/out/lookup.txt"
    - template: {src: vaulted.j2, dest: "{{ playbook_dir }}/out/templated.txt"}
"#;

/// A project directory: the vaulted vars file, a playbook with two inline values from
/// ansible-vault (1.1 and 1.2 `prod`) and one whose secret is never given, and the inventory.
fn project() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().canonicalize().expect("canonical");
    std::fs::copy(fixture("vars-1.1.yml"), d.join("vaulted-vars.yml")).expect("copy");
    for name in ["password-default", "password-prod"] {
        std::fs::copy(fixture(name), d.join(name)).expect("copy");
    }
    let indent = |text: String| -> String { text.lines().map(|l| format!("    {l}\n")).collect() };
    let mut playbook = String::from(
        "- hosts: local\n  gather_facts: false\n  vars_files: [vaulted-vars.yml]\n  vars:\n",
    );
    playbook.push_str(&indent(fixture_text("inline-1.1.yml")));
    playbook.push_str(&indent(fixture_text("inline-1.2-prod.yml")));
    playbook.push_str(&indent(fixture_text("unused-other.yml")));
    playbook.push_str(
        "  tasks:\n    - debug: var=db_password\n    - debug:\n        msg: \"token {{ api_token }} / {{ prod_token }}\"\n    - copy:\n        content: \"{{ db_password }} {{ api_token }} {{ prod_token }}\"\n        dest: \"{{ playbook_dir }}/secrets.txt\"\n",
    );
    playbook.push_str(WHERE_VAULT_IS_READ);
    std::fs::write(d.join("site.yml"), playbook).expect("write");
    std::fs::create_dir(d.join("out")).expect("mkdir");
    std::fs::write(
        d.join("vaulted.j2"),
        "pw={{ db_password }} token={{ api_token }}\n",
    )
    .expect("write");
    let encrypted = run_in(
        &d,
        &ansible_bin("ansible-vault"),
        &[
            "encrypt",
            "--vault-password-file",
            "password-default",
            "vaulted.j2",
        ],
        &[],
        "",
    );
    assert_eq!(encrypted.status.code(), Some(0), "{}", text(&encrypted));
    std::fs::write(
        d.join("hosts"),
        "local ansible_connection=local ansible_python_interpreter=/opt/etcdplay-ansible/bin/python\n",
    )
    .expect("write");
    (dir, d)
}

/// ansible-playbook 2.19.14, same project, `--vault-id default@password-default --vault-id
/// prod@password-prod -D`, printed the secrets:
///
/// ```text
/// ok: [local] => {
///     "db_password": "s3cret-value-42"
/// }
/// ok: [local] => {
///     "msg": "token inline-token-99 / prod-token-77"
/// }
/// +s3cret-value-42 inline-token-99 prod-token-77
/// ```
///
/// and wrote that line to secrets.txt; the unused value whose secret was not given did not
/// matter. The vaulted `copy` source arrived decrypted (as-is with `decrypt: false`), and
/// `include_vars`, `lookup('file')`, `template` and a vaulted `group_vars/all/vault.yml` read
/// the decrypted text. etcdplay writes the
/// same files, byte for byte, and shows `********` in the stream, the `-v` results, the diff
/// and the JSON report (ANSIBLE_COMPAT.md).
#[test]
fn a_play_uses_vaulted_vars_and_inline_values_and_output_hides_them() {
    let (_dir, d) = project();
    let vault_args = [
        "--vault-id",
        "default@password-default",
        "--vault-id",
        "prod@password-prod",
    ];
    // A vaulted group_vars file (labelled prod) next to the inventory, used by one more task.
    std::fs::create_dir_all(d.join("group_vars/all")).unwrap();
    std::fs::write(
        d.join("group_vars/all/vault.yml"),
        "gv_secret: group-vars-secret-1\n",
    )
    .unwrap();
    let encrypted = run_in(
        &d,
        &ansible_bin("ansible-vault"),
        &[
            "encrypt",
            "--vault-id",
            "prod@password-prod",
            "group_vars/all/vault.yml",
        ],
        &[],
        "",
    );
    assert_eq!(encrypted.status.code(), Some(0), "{}", text(&encrypted));
    let mut playbook = std::fs::read_to_string(d.join("site.yml")).unwrap();
    playbook.push_str(
        "    - copy: {content: \"{{ gv_secret }}\", dest: \"{{ playbook_dir }}/out/gv.txt\"}\n",
    );
    std::fs::write(d.join("site.yml"), playbook).unwrap();
    let ansible = run_in(
        &d,
        &ansible_bin("ansible-playbook"),
        &[&["-i", "hosts", "site.yml", "-D"][..], &vault_args[..]].concat(),
        &[],
        "",
    );
    assert_eq!(ansible.status.code(), Some(0), "{}", text(&ansible));
    let expected = "s3cret-value-42 inline-token-99 prod-token-77";
    assert_eq!(
        std::fs::read_to_string(d.join("secrets.txt")).unwrap(),
        expected
    );
    assert!(text(&ansible).contains("\"db_password\": \"s3cret-value-42\""));
    std::fs::remove_file(d.join("secrets.txt")).unwrap();
    let outputs = [
        "copied.yml",
        "raw.yml",
        "lookup.txt",
        "templated.txt",
        "gv.txt",
    ];
    let read_out = |name: &str| std::fs::read(d.join("out").join(name)).expect(name);
    let from_ansible: Vec<Vec<u8>> = outputs.iter().map(|n| read_out(n)).collect();
    assert_eq!(from_ansible[0], fixture_text("vars-plain.yml").as_bytes());
    assert_eq!(
        from_ansible[1],
        std::fs::read(fixture("vars-1.1.yml")).unwrap()
    );
    std::fs::remove_dir_all(d.join("out")).unwrap();
    std::fs::create_dir(d.join("out")).unwrap();

    let args = [
        &[
            "apply",
            "-i",
            "hosts",
            "site.yml",
            "-D",
            "-v",
            "--output",
            "json",
            "report.json",
        ][..],
        &vault_args[..],
    ]
    .concat();
    let out = etcdplay(&d, &args, &[]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert_eq!(
        std::fs::read_to_string(d.join("secrets.txt")).unwrap(),
        expected
    );
    for (name, theirs) in outputs.iter().zip(&from_ansible) {
        assert_eq!(
            String::from_utf8_lossy(&read_out(name)),
            String::from_utf8_lossy(theirs),
            "{name}"
        );
    }
    let report = std::fs::read_to_string(d.join("report.json")).unwrap();
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        assert!(
            !report.contains(secret),
            "{secret} in the report:\n{report}"
        );
    }
    assert!(shown.contains("\"db_password\": \"********\""), "{shown}");
    assert!(
        shown.contains("\"msg\": \"token ******** / ********\""),
        "{shown}"
    );
    assert!(shown.contains("+******** ******** ********"), "{shown}");
}

/// Without any secret, ansible-playbook 2.19.14 stops at the vaulted vars file
/// (`Invalid vars_files file '.../vaulted-vars.yml': Attempting to decrypt but no vault secrets
/// found.`); with the vars file gone, the first task runs and the one that uses an inline
/// value fails: `Attempt to use undecryptable variable: Attempting to decrypt but no vault
/// secrets found.` with its origin `site.yml:N:C` (an inline value is decrypted when used).
#[test]
fn without_secrets_a_vaulted_file_is_an_error_and_inline_values_fail_when_used() {
    let (_dir, d) = project();
    let out = etcdplay(&d, &["apply", "-i", "hosts", "site.yml"], &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains(
            "site.yml:3:16: vars file `vaulted-vars.yml` cannot be read: Attempting to decrypt but no vault secrets found."
        ),
        "{}",
        text(&out)
    );
    let playbook = std::fs::read_to_string(d.join("site.yml"))
        .unwrap()
        .replace("  vars_files: [vaulted-vars.yml]\n", "")
        .replace("    - debug: var=db_password\n", "    - debug: msg=first\n");
    std::fs::write(d.join("site.yml"), playbook).unwrap();
    let out = etcdplay(&d, &["apply", "-i", "hosts", "site.yml"], &[]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert!(shown.contains("\"msg\": \"first\""), "{shown}");
    assert!(
        shown.contains("site.yml:4:16: Attempt to use undecryptable variable: Attempting to decrypt but no vault secrets found."),
        "{shown}"
    );
}

/// What etcdplay writes, ansible-vault reads, and the reverse: files in format 1.1 and 1.2
/// (`--encrypt-vault-id`), and `encrypt_string` blocks that ansible-playbook decrypts.
#[test]
fn etcdplay_vault_and_ansible_vault_read_each_others_output() {
    let (_dir, d) = project();
    let plain = "key: value-for-both\n";
    std::fs::write(d.join("ours.yml"), plain).unwrap();
    let out = etcdplay(
        &d,
        &[
            "vault",
            "encrypt",
            "--vault-id",
            "prod@password-prod",
            "--encrypt-vault-id",
            "prod",
            "ours.yml",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ours = std::fs::read_to_string(d.join("ours.yml")).unwrap();
    assert!(
        ours.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"),
        "{ours}"
    );
    let view = run_in(
        &d,
        &ansible_bin("ansible-vault"),
        &["view", "--vault-id", "prod@password-prod", "ours.yml"],
        &[],
        "",
    );
    assert_eq!(
        String::from_utf8_lossy(&view.stdout),
        plain,
        "{}",
        text(&view)
    );

    std::fs::write(d.join("theirs.yml"), plain).unwrap();
    let out = run_in(
        &d,
        &ansible_bin("ansible-vault"),
        &[
            "encrypt",
            "--vault-password-file",
            "password-default",
            "theirs.yml",
        ],
        &[],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = etcdplay(
        &d,
        &[
            "vault",
            "decrypt",
            "--vault-password-file",
            "password-default",
            "theirs.yml",
            "--output",
            "-",
        ],
        &[],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        plain,
        "{}",
        text(&out)
    );

    // encrypt_string from stdin: the block goes into a playbook ansible-playbook runs.
    let out = run_in(
        &d,
        &etcdplay_bin(),
        &[
            "vault",
            "encrypt_string",
            "--vault-password-file",
            "password-default",
            "--stdin-name",
            "from_stdin",
        ],
        &[],
        "string-from-stdin",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let block = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        block.starts_with("from_stdin: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n"),
        "{block}"
    );
    let mut playbook = String::from("- hosts: local\n  gather_facts: false\n  vars:\n");
    playbook.extend(block.lines().map(|l| format!("    {l}\n")));
    playbook.push_str("  tasks:\n    - copy: {content: \"{{ from_stdin }}\", dest: \"{{ playbook_dir }}/decrypted.txt\"}\n");
    std::fs::write(d.join("string.yml"), playbook).unwrap();
    let out = run_in(
        &d,
        &ansible_bin("ansible-playbook"),
        &[
            "-i",
            "hosts",
            "string.yml",
            "--vault-password-file",
            "password-default",
        ],
        &[],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(d.join("decrypted.txt")).unwrap(),
        "string-from-stdin"
    );
}

/// A password-source case: its name, the command-line options and the environment.
type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>);

/// Each password source alone decrypts the 1.1 fixture, as with ansible-vault view: a file, an
/// executable, a `-client` executable told its vault id, `ANSIBLE_VAULT_PASSWORD_FILE`,
/// ansible.cfg's `vault_password_file` (relative to the file) and `vault_identity_list`,
/// `ANSIBLE_VAULT_IDENTITY_LIST`, and `--vault-id label@file` next to a wrong secret.
#[test]
fn vault_passwords_come_from_files_scripts_the_environment_and_ansible_cfg() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, d) = project();
    std::fs::copy(fixture("vars-1.1.yml"), d.join("vaulted.yml")).unwrap();
    let script = |name: &str, body: &str| {
        std::fs::write(d.join(name), body).unwrap();
        std::fs::set_permissions(d.join(name), std::fs::Permissions::from_mode(0o700)).unwrap();
    };
    script("pass.sh", "#!/bin/sh\necho hunter2-pass\n");
    script(
        "pass-client.sh",
        "#!/bin/sh\n[ \"$1 $2\" = \"--vault-id dev\" ] || exit 2\necho hunter2-pass\n",
    );
    std::fs::create_dir(d.join("cfg")).unwrap();
    std::fs::copy(fixture("password-default"), d.join("cfg/pw")).unwrap();
    std::fs::write(
        d.join("cfg/ansible.cfg"),
        "[defaults]\nvault_password_file = pw\n",
    )
    .unwrap();
    std::fs::write(
        d.join("ids.cfg"),
        "[defaults]\nvault_identity_list = dev@pass-client.sh\n",
    )
    .unwrap();
    let cfg = d.join("cfg/ansible.cfg").display().to_string();
    let ids_cfg = d.join("ids.cfg").display().to_string();
    let cases: Vec<Case> = vec![
        (
            "file",
            vec!["--vault-password-file", "password-default"],
            vec![],
        ),
        ("script", vec!["--vault-password-file", "pass.sh"], vec![]),
        (
            "client script",
            vec!["--vault-id", "dev@pass-client.sh"],
            vec![],
        ),
        (
            "environment",
            vec![],
            vec![("ANSIBLE_VAULT_PASSWORD_FILE", "pass.sh")],
        ),
        ("ansible.cfg", vec![], vec![("ANSIBLE_CONFIG", &cfg)]),
        (
            "vault_identity_list",
            vec![],
            vec![("ANSIBLE_CONFIG", &ids_cfg)],
        ),
        (
            "identity list env",
            vec![],
            vec![("ANSIBLE_VAULT_IDENTITY_LIST", "x@password-prod,y@pass.sh")],
        ),
        (
            "labelled files",
            vec![
                "--vault-id",
                "prod@password-prod",
                "--vault-id",
                "dev@password-default",
            ],
            vec![],
        ),
    ];
    for (case, args, env) in cases {
        let mut all = vec!["vault", "view"];
        all.extend(args.iter().copied());
        all.push("vaulted.yml");
        let out = etcdplay(&d, &all, &env);
        assert_eq!(out.status.code(), Some(0), "{case}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with("db_password: s3cret-value-42\n"),
            "{case}: {}",
            text(&out)
        );
        // ansible-vault agrees on every source.
        let theirs = run_in(&d, &ansible_bin("ansible-vault"), &all[1..], &env, "");
        assert_eq!(theirs.stdout, out.stdout, "{case}: {}", text(&theirs));
    }
    // The same sources reach a play: ansible.cfg's password file decrypts the vars file (the
    // play then fails where it uses the `prod` value, whose secret this source is not).
    let out = etcdplay(
        &d,
        &["apply", "-i", "hosts", "site.yml"],
        &[("ANSIBLE_CONFIG", &cfg)],
    );
    assert!(
        text(&out).contains("\"db_password\": \"********\""),
        "{}",
        text(&out)
    );
    // A wrong password alone is Ansible's error, naming the file; no password leaks.
    let out = etcdplay(
        &d,
        &[
            "vault",
            "view",
            "--vault-password-file",
            "password-prod",
            "vaulted.yml",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR: Decryption failed (no vault secrets were found that could decrypt). for vaulted.yml\n"
    );
}
