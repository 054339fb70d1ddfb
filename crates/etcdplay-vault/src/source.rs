//! Where vault passwords come from, as ansible-playbook and ansible-vault take them:
//! `--vault-id [label@]source` (repeatable), `--vault-password-file FILE`, `--ask-vault-pass`,
//! and the configuration's `vault_identity_list` and `vault_password_file`. A source is
//! `prompt` (asked on the terminal without echo), an executable (run; its stdout is the
//! password; a name ending in `-client` is given `--vault-id LABEL`), or a file whose content
//! is the password. Ansible's order: configured identities, then `--vault-id`s, then password
//! files (command line, then configuration) labelled `default`, then `--ask-vault-pass`.
//! A source that fails is a warning as long as another one gives a secret.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use crate::codec::is_vaulted;
use crate::keyring::{Keyring, VaultSecret, DEFAULT_VAULT_ID};

/// The most of a password file or a script's output that is read.
const MAX_PASSWORD_BYTES: u64 = 1 << 20;

/// Why a password source gave no secret (the password itself never appears here).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("The vault password file {0} was not found")]
    NotFound(String),
    #[error("The vault password file provided '{0}' can not be a directory")]
    Directory(String),
    #[error("Could not read vault password file '{path}': {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("vault password file {0} is larger than 1 MiB; refused")]
    TooLarge(String),
    #[error("Invalid vault password was provided from {kind} ({path})")]
    Empty { kind: &'static str, path: String },
    #[error("Problem running vault password script {path} ({source}). If this is not a script, remove the executable bit from the file.")]
    Spawn {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Vault password script {path} returned non-zero ({code})")]
    ScriptFailed { path: String, code: String },
    #[error("Vault password client script {path} did not find a secret for vault-id={label}")]
    ClientNoSecret { path: String, label: String },
    #[error("Vault password client script {path} returned non-zero ({code}) when getting secret for vault-id={label}")]
    ClientFailed {
        path: String,
        code: String,
        label: String,
    },
    #[error("the vault password in {path} is itself vaulted and cannot be decrypted: {source}")]
    VaultedPassword {
        path: String,
        #[source]
        source: crate::VaultError,
    },
    #[error("Error in vault password prompt ({label}): {source}")]
    Prompt {
        label: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Invalid vault password was provided")]
    EmptyPrompt,
}

/// One `[label@]source` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    /// `None`: no `label@` given (the secret is labelled `default`).
    pub label: Option<String>,
    pub source: String,
    /// `--ask-vault-pass` (prompts `Vault password: ` rather than `Vault password (label): `).
    pub ask_vault_pass: bool,
}

impl SecretSpec {
    /// Splits `label@source` at the first `@`, as Ansible does.
    pub fn parse(arg: &str) -> SecretSpec {
        match arg.split_once('@') {
            Some((label, source)) => SecretSpec {
                label: Some(label.to_string()),
                source: source.to_string(),
                ask_vault_pass: source == "prompt_ask_vault_pass",
            },
            None => SecretSpec {
                label: None,
                source: arg.to_string(),
                ask_vault_pass: arg == "prompt_ask_vault_pass",
            },
        }
    }

    fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(DEFAULT_VAULT_ID)
    }
}

/// Every way a run was told about vault secrets.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `vault_identity_list` of the configuration (its `ANSIBLE_VAULT_IDENTITY_LIST` wins).
    pub configured_ids: Vec<String>,
    /// `--vault-id`, in order.
    pub vault_ids: Vec<String>,
    /// `--vault-password-file`, in order.
    pub password_files: Vec<String>,
    /// `vault_password_file` of the configuration (or `ANSIBLE_VAULT_PASSWORD_FILE`).
    pub configured_password_file: Option<String>,
    pub ask_vault_pass: bool,
}

impl Sources {
    /// The sources in Ansible's order.
    pub fn specs(&self) -> Vec<SecretSpec> {
        let mut specs: Vec<SecretSpec> = self
            .configured_ids
            .iter()
            .chain(&self.vault_ids)
            .map(|s| SecretSpec::parse(s))
            .collect();
        for file in self
            .password_files
            .iter()
            .chain(&self.configured_password_file)
        {
            specs.push(SecretSpec {
                label: Some(DEFAULT_VAULT_ID.into()),
                source: file.clone(),
                ask_vault_pass: false,
            });
        }
        if self.ask_vault_pass {
            specs.push(SecretSpec::parse("default@prompt_ask_vault_pass"));
        }
        specs
    }

    pub fn is_empty(&self) -> bool {
        self.specs().is_empty()
    }
}

/// The secrets that loaded and the warnings of those that did not.
#[derive(Debug, Default)]
pub struct Loaded {
    pub keyring: Keyring,
    pub warnings: Vec<String>,
}

/// Asks for a password on the terminal (the prompt text is given).
pub type Prompter<'a> = &'a mut dyn FnMut(&str) -> std::io::Result<String>;

/// Reads the terminal without echo, as Python's `getpass`.
pub fn terminal_prompt(prompt: &str) -> std::io::Result<String> {
    rpassword::prompt_password(prompt)
}

/// Loads every source in order. A failing source is a warning while another gives a secret;
/// when none does, the last failure is the error (Ansible's rule). A prompt that fails is
/// always an error.
pub fn load(specs: &[SecretSpec], prompt: Prompter<'_>) -> Result<Loaded, SourceError> {
    let mut secrets: Vec<VaultSecret> = Vec::new();
    let mut warnings = Vec::new();
    let mut last_error = None;
    for spec in specs {
        let label = spec.label().to_string();
        if matches!(spec.source.as_str(), "prompt" | "prompt_ask_vault_pass") {
            let text = if spec.ask_vault_pass {
                "Vault password: ".to_string()
            } else {
                format!("Vault password ({label}): ")
            };
            let password = prompt_secret(&label, &text, prompt)?;
            secrets.push(VaultSecret::new(label, password.to_vec()));
            continue;
        }
        let known = Keyring::new(secrets.clone());
        match password_from_file(&spec.source, &label, &known) {
            Ok(password) => secrets.push(VaultSecret::new(label, password.to_vec())),
            Err(e) => {
                warnings.push(format!("Error getting vault password file ({label}): {e}"));
                last_error = Some(e);
            }
        }
    }
    match last_error {
        Some(e) if secrets.is_empty() => Err(e),
        _ => Ok(Loaded {
            keyring: Keyring::new(secrets),
            warnings,
        }),
    }
}

fn prompt_secret(
    label: &str,
    text: &str,
    prompt: Prompter<'_>,
) -> Result<Zeroizing<Vec<u8>>, SourceError> {
    let answer = Zeroizing::new(prompt(text).map_err(|source| SourceError::Prompt {
        label: label.to_string(),
        source,
    })?);
    let password = answer.trim();
    if password.is_empty() {
        return Err(SourceError::EmptyPrompt);
    }
    Ok(Zeroizing::new(password.as_bytes().to_vec()))
}

/// The password a file gives: its content, or what it prints when it is executable.
fn password_from_file(
    source: &str,
    label: &str,
    known: &Keyring,
) -> Result<Zeroizing<Vec<u8>>, SourceError> {
    let path = expand_home(source);
    let shown = path.display().to_string();
    let meta = std::fs::metadata(&path).map_err(|_| SourceError::NotFound(shown.clone()))?;
    if meta.is_dir() {
        return Err(SourceError::Directory(shown));
    }
    if meta.permissions().mode() & 0o111 != 0 {
        let client = is_client_script(&path);
        return run_script(&path, client.then_some(label));
    }
    let raw = read_bounded(std::fs::File::open(&path), &shown)?;
    let mut content = Zeroizing::new(raw.trim_ascii().to_vec());
    if is_vaulted(&content) {
        content = known
            .decrypt(&content)
            .map_err(|source| SourceError::VaultedPassword {
                path: shown.clone(),
                source,
            })?
            .plaintext;
    }
    let password = trim_newlines(&content);
    if password.is_empty() {
        return Err(SourceError::Empty {
            kind: "file",
            path: shown,
        });
    }
    Ok(Zeroizing::new(password.to_vec()))
}

/// `name-client` or `name-client.ext`: a script that is told which vault id is wanted.
fn is_client_script(path: &Path) -> bool {
    path.file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|s| s.ends_with("-client"))
}

/// Runs a password script: stdout is read (bounded), stderr and stdin stay the user's so the
/// script may prompt. The password never appears in the script's arguments.
fn run_script(path: &Path, client_label: Option<&str>) -> Result<Zeroizing<Vec<u8>>, SourceError> {
    let shown = path.display().to_string();
    let mut command = Command::new(path);
    if let Some(label) = client_label {
        command.arg("--vault-id").arg(label);
    }
    let mut child = command
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| SourceError::Spawn {
            path: shown.clone(),
            source,
        })?;
    let stdout = child.stdout.take().ok_or_else(|| SourceError::Spawn {
        path: shown.clone(),
        source: std::io::Error::other("no stdout"),
    })?;
    let output = read_bounded(Ok(stdout), &shown);
    let status = child.wait().map_err(|source| SourceError::Spawn {
        path: shown.clone(),
        source,
    })?;
    let output = output?;
    let code = status
        .code()
        .map_or_else(|| "killed by a signal".to_string(), |c| c.to_string());
    match (status.success(), client_label) {
        (true, _) => {}
        (false, Some(label)) if status.code() == Some(2) => {
            return Err(SourceError::ClientNoSecret {
                path: shown,
                label: label.to_string(),
            })
        }
        (false, Some(label)) => {
            return Err(SourceError::ClientFailed {
                path: shown,
                code,
                label: label.to_string(),
            })
        }
        (false, None) => return Err(SourceError::ScriptFailed { path: shown, code }),
    }
    let password = trim_newlines(&output);
    if password.is_empty() {
        return Err(SourceError::Empty {
            kind: "script",
            path: shown,
        });
    }
    Ok(Zeroizing::new(password.to_vec()))
}

fn read_bounded(
    reader: std::io::Result<impl Read>,
    shown: &str,
) -> Result<Zeroizing<Vec<u8>>, SourceError> {
    let read_error = |source| SourceError::Read {
        path: shown.to_string(),
        source,
    };
    let mut bytes = Zeroizing::new(Vec::new());
    reader
        .map_err(read_error)?
        .take(MAX_PASSWORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_PASSWORD_BYTES {
        return Err(SourceError::TooLarge(shown.to_string()));
    }
    Ok(bytes)
}

/// Strips `\r` and `\n` at both ends (Ansible's `strip(b'\r\n')`).
fn trim_newlines(bytes: &[u8]) -> &[u8] {
    let is_newline = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = bytes
        .iter()
        .position(|b| !is_newline(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_newline(b))
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

/// `~` expanded and made absolute (as Ansible's `unfrackpath`): a relative script name is run
/// from the current directory, never looked up in `PATH`.
fn expand_home(path: &str) -> PathBuf {
    let expanded = match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    };
    std::path::absolute(&expanded).unwrap_or(expanded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_prompt(_: &str) -> std::io::Result<String> {
        Err(std::io::Error::other("no terminal in tests"))
    }

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> String {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path.display().to_string()
    }

    fn password_of(loaded: &Loaded, label: &str) -> Vec<u8> {
        loaded
            .keyring
            .encrypt_secret(Some(label))
            .unwrap()
            .password()
            .to_vec()
    }

    #[test]
    fn files_scripts_and_client_scripts_give_passwords_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "pw.txt", "  from-file \n", 0o600);
        let script = write(dir.path(), "pw.sh", "#!/bin/sh\necho from-script\n", 0o700);
        let client = write(
            dir.path(),
            "pw-client.sh",
            "#!/bin/sh\n[ \"$1\" = --vault-id ] && echo \"for-$2\"\n",
            0o700,
        );
        let sources = Sources {
            configured_ids: vec![format!("cfg@{file}")],
            vault_ids: vec![format!("prod@{client}")],
            password_files: vec![script],
            ..Sources::default()
        };
        let loaded = load(&sources.specs(), &mut no_prompt).unwrap();
        assert_eq!(loaded.keyring.labels(), ["cfg", "prod", "default"]);
        // A file's content is stripped of all surrounding whitespace, as Ansible does.
        assert_eq!(password_of(&loaded, "cfg"), b"from-file");
        assert_eq!(password_of(&loaded, "prod"), b"for-prod");
        assert_eq!(password_of(&loaded, "default"), b"from-script");
    }

    #[test]
    fn a_failing_source_warns_unless_it_is_the_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let good = write(dir.path(), "pw", "x\n", 0o600);
        let failing = write(dir.path(), "bad.sh", "#!/bin/sh\nexit 3\n", 0o700);
        let specs = Sources {
            vault_ids: vec![failing.clone(), good],
            ..Sources::default()
        }
        .specs();
        let loaded = load(&specs, &mut no_prompt).unwrap();
        assert_eq!(loaded.keyring.labels(), ["default"]);
        assert_eq!(
            loaded.warnings,
            [format!(
                "Error getting vault password file (default): Vault password script {failing} returned non-zero (3)"
            )]
        );
        let e = load(&[SecretSpec::parse(&failing)], &mut no_prompt).unwrap_err();
        assert!(matches!(e, SourceError::ScriptFailed { .. }), "{e}");
        let missing = dir.path().join("nope").display().to_string();
        let e = load(&[SecretSpec::parse(&missing)], &mut no_prompt).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("The vault password file {missing} was not found")
        );
        let empty = write(dir.path(), "empty", "\n\n", 0o600);
        let e = load(&[SecretSpec::parse(&empty)], &mut no_prompt).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Invalid vault password was provided from file ({empty})")
        );
    }

    #[test]
    fn prompts_use_ansibles_texts() {
        let mut asked = Vec::new();
        let mut prompt = |text: &str| {
            asked.push(text.to_string());
            Ok(" typed \n".to_string())
        };
        let specs = Sources {
            vault_ids: vec!["dev@prompt".into()],
            ask_vault_pass: true,
            ..Sources::default()
        }
        .specs();
        let loaded = load(&specs, &mut prompt).unwrap();
        assert_eq!(asked, ["Vault password (dev): ", "Vault password: "]);
        assert_eq!(password_of(&loaded, "dev"), b"typed");
    }
}
