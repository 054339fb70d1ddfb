//! `etcdplay vault encrypt|decrypt|view|encrypt_string|rekey`: ansible-vault's file commands,
//! writing text ansible-vault reads back (and reading what it writes). A file changed in place
//! is replaced atomically: the new content goes to a private temporary file (0600, created
//! exclusively) beside it, gets the original's mode, and is renamed over it, so no reader ever
//! sees half a file and no plaintext lands anywhere the user did not name.

use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use clap::{Args, Subcommand};
use etcdplay_vault::source::{self, SecretSpec, Sources};
use etcdplay_vault::{Keyring, VaultSecret, MAX_VAULT_TEXT};
use zeroize::Zeroizing;

use crate::ansible_cfg::AnsibleConfig;
use crate::exit::ExitCode;
use crate::vault_args::VaultArgs;

/// `etcdplay vault` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum VaultCommand {
    /// Encrypt files in place (or to --output); no file: stdin to stdout.
    Encrypt(FileArgs),
    /// Decrypt files in place (or to --output); no file: stdin to stdout.
    Decrypt(FileArgs),
    /// Print the plaintext of vaulted files.
    View(FileArgs),
    /// Encrypt strings into `!vault |` YAML values; `-` or no string: read stdin.
    #[command(name = "encrypt_string", visible_alias = "encrypt-string")]
    EncryptString(StringArgs),
    /// Re-encrypt files in place with a new password.
    Rekey(RekeyArgs),
}

/// Options shared by the file commands.
#[derive(Debug, Args)]
pub(crate) struct FileArgs {
    files: Vec<String>,
    /// Write the result here (`-`: stdout) instead of in place; one input file at most.
    #[arg(long = "output")]
    output: Option<String>,
    #[command(flatten)]
    secrets: SecretArgs,
}

/// `encrypt_string` options.
#[derive(Debug, Args)]
pub(crate) struct StringArgs {
    /// Strings to encrypt (`-` or none: read stdin).
    strings: Vec<String>,
    /// Variable names for the strings, in order (may repeat).
    #[arg(short = 'n', long = "name")]
    names: Vec<String>,
    /// The variable name for the string read from stdin.
    #[arg(long = "stdin-name")]
    stdin_name: Option<String>,
    /// Write the result here instead of stdout.
    #[arg(long = "output")]
    output: Option<String>,
    #[command(flatten)]
    secrets: SecretArgs,
}

/// `rekey` options.
#[derive(Debug, Args)]
pub(crate) struct RekeyArgs {
    #[arg(required = true)]
    files: Vec<String>,
    /// The new password's file (or executable).
    #[arg(long = "new-vault-password-file")]
    new_password_file: Option<String>,
    /// The new secret as `[label@]source`.
    #[arg(long = "new-vault-id")]
    new_vault_id: Option<String>,
    #[command(flatten)]
    secrets: SecretArgs,
}

/// Where secrets come from, and which one encrypts.
#[derive(Debug, Args)]
pub(crate) struct SecretArgs {
    #[command(flatten)]
    vault: VaultArgs,
    /// The vault id (label) of the secret to encrypt with.
    #[arg(long = "encrypt-vault-id")]
    encrypt_vault_id: Option<String>,
}

/// A failure of a vault command, printed as `ERROR: ...`.
type Failure = String;

pub(crate) fn run(command: VaultCommand) -> ExitCode {
    let result = match command {
        VaultCommand::Encrypt(args) => encrypt_files(&args),
        VaultCommand::Decrypt(args) => decrypt_files(&args, false),
        VaultCommand::View(args) => decrypt_files(&args, true),
        VaultCommand::EncryptString(args) => encrypt_strings(&args),
        VaultCommand::Rekey(args) => rekey(&args),
    };
    match result {
        Ok(()) => ExitCode::Ok,
        Err(message) => {
            eprintln!("ERROR: {message}");
            ExitCode::Error
        }
    }
}

const NO_PASSWORD: &str = "A vault password is required to use Ansible's Vault";

/// The secrets of the command line and configuration; with none given and a terminal, the
/// password is asked (twice when encrypting, as ansible-vault does).
fn keyring(args: &SecretArgs, for_encryption: bool) -> Result<Keyring, Failure> {
    let config = AnsibleConfig::discover().map_err(|e| e.to_string())?;
    let mut sources: Sources = args.vault.sources(&config);
    if sources.is_empty() {
        if !std::io::stdin().is_terminal() {
            return Err(NO_PASSWORD.into());
        }
        if for_encryption {
            return ask_new_password("default");
        }
        sources.ask_vault_pass = true;
    }
    let loaded =
        source::load(&sources.specs(), &mut source::terminal_prompt).map_err(|e| e.to_string())?;
    for warning in &loaded.warnings {
        eprintln!("[WARNING]: {warning}");
    }
    if loaded.keyring.is_empty() {
        return Err(NO_PASSWORD.into());
    }
    Ok(loaded.keyring)
}

fn ask_new_password(label: &str) -> Result<Keyring, Failure> {
    let first =
        Zeroizing::new(source::terminal_prompt("New Vault password: ").map_err(|e| e.to_string())?);
    let second = Zeroizing::new(
        source::terminal_prompt("Confirm New Vault password: ").map_err(|e| e.to_string())?,
    );
    if first.trim() != second.trim() {
        return Err("Passwords do not match".into());
    }
    if first.trim().is_empty() {
        return Err("Invalid vault password was provided".into());
    }
    let secret = VaultSecret::new(label, first.trim().as_bytes().to_vec());
    Ok(Keyring::new(vec![secret]))
}

/// The label to encrypt with: `--encrypt-vault-id`, or the only secret (several without
/// `--encrypt-vault-id` is ansible-vault's error too).
fn encrypt_label(keys: &Keyring, args: &SecretArgs) -> Result<Option<String>, Failure> {
    if let Some(id) = &args.encrypt_vault_id {
        if id.contains(';') {
            return Err(format!(
                "'{id}' is not a valid vault id. The character ';' is not allowed in vault ids"
            ));
        }
        return Ok(Some(id.clone()));
    }
    let labels = keys.labels();
    if labels.len() > 1 {
        return Err(format!(
            "The vault-ids {} are available to encrypt. Specify the vault-id to encrypt with --encrypt-vault-id",
            labels.join(",")
        ));
    }
    if labels.iter().any(|l| l.contains(';')) {
        return Err("The character ';' is not allowed in vault ids".into());
    }
    Ok(None)
}

fn encrypt_files(args: &FileArgs) -> Result<(), Failure> {
    check_output(args)?;
    let keys = keyring(&args.secrets, true)?;
    let label = encrypt_label(&keys, &args.secrets)?;
    for file in inputs(&args.files) {
        let plain = Zeroizing::new(read_input(file)?);
        let text = keys
            .encrypt(&plain, label.as_deref())
            .map_err(|e| format!("{file}: {e}"))?;
        write_result(file, args.output.as_deref(), text.as_bytes())?;
    }
    if std::io::stdout().is_terminal() {
        eprintln!("Encryption successful");
    }
    Ok(())
}

fn decrypt_files(args: &FileArgs, view: bool) -> Result<(), Failure> {
    check_output(args)?;
    let keys = keyring(&args.secrets, false)?;
    for file in inputs(&args.files) {
        let data = read_input(file)?;
        let plain = keys
            .decrypt(&data)
            .map_err(|e| format!("{e} for {file}"))?
            .plaintext;
        if view {
            write_stdout(&plain)?;
        } else {
            write_result(file, args.output.as_deref(), &plain)?;
        }
    }
    if !view && std::io::stdout().is_terminal() {
        eprintln!("Decryption successful");
    }
    Ok(())
}

fn encrypt_strings(args: &StringArgs) -> Result<(), Failure> {
    let keys = keyring(&args.secrets, true)?;
    let label = encrypt_label(&keys, &args.secrets)?;
    let given: Vec<&String> = args.strings.iter().filter(|s| s.as_str() != "-").collect();
    let mut plaintexts: Vec<(Zeroizing<Vec<u8>>, Option<String>)> = Vec::new();
    if given.is_empty() || args.strings.iter().any(|s| s == "-") {
        if std::io::stdin().is_terminal() {
            eprintln!("Reading plaintext input from stdin. (ctrl-d to end input, twice if your content does not already have a newline)");
        }
        let text = Zeroizing::new(read_input("-")?);
        if text.is_empty() {
            return Err("stdin was empty, not encrypting".into());
        }
        plaintexts.push((text, args.stdin_name.clone()));
    }
    if args.names.len() < given.len() && !args.names.is_empty() {
        eprintln!("The number of --name options do not match the number of args.");
    }
    for (index, text) in given.iter().enumerate() {
        if text.is_empty() {
            return Err(
                "The plaintext provided from the command line args was empty, not encrypting"
                    .into(),
            );
        }
        let name = args.names.get(index).cloned();
        plaintexts.push((Zeroizing::new(text.as_bytes().to_vec()), name));
    }
    let mut blocks = Vec::new();
    for (plain, name) in &plaintexts {
        let text = keys
            .encrypt(plain, label.as_deref())
            .map_err(|e| e.to_string())?;
        blocks.push(yaml_block(&text, name.as_deref()));
    }
    let out = format!("{}\n", blocks.join("\n"));
    match args.output.as_deref() {
        None | Some("-") => write_stdout(out.as_bytes())?,
        Some(path) => write_result(path, Some(path), out.as_bytes())?,
    }
    if std::io::stdout().is_terminal() {
        eprintln!("Encryption successful");
    }
    Ok(())
}

/// `name: !vault |` and the vault text indented by 10 spaces, as ansible-vault prints it.
fn yaml_block(vault_text: &str, name: Option<&str>) -> String {
    let mut lines = vec![match name {
        Some(name) => format!("{name}: !vault |"),
        None => "!vault |".to_string(),
    }];
    lines.extend(vault_text.lines().map(|l| format!("{:10}{l}", "")));
    lines.join("\n")
}

fn rekey(args: &RekeyArgs) -> Result<(), Failure> {
    let keys = keyring(&args.secrets, false)?;
    let new_spec = match (&args.new_vault_id, &args.new_password_file) {
        (Some(id), _) => SecretSpec::parse(id),
        (None, Some(file)) => SecretSpec {
            label: None,
            source: file.clone(),
            ask_vault_pass: false,
        },
        (None, None) if std::io::stdin().is_terminal() => SecretSpec::parse("prompt"),
        (None, None) => {
            return Err("A new vault password is required to use Ansible's Vault rekey".into())
        }
    };
    let new_keys = source::load(&[new_spec], &mut source::terminal_prompt)
        .map_err(|e| e.to_string())?
        .keyring;
    for file in &args.files {
        let data = read_input(file)?;
        let plain = keys
            .decrypt(&data)
            .map_err(|e| format!("{e} for {file}"))?
            .plaintext;
        let text = new_keys
            .encrypt(&plain, args.secrets.encrypt_vault_id.as_deref())
            .map_err(|e| e.to_string())?;
        write_result(file, None, text.as_bytes())?;
    }
    eprintln!("Rekey successful");
    Ok(())
}

fn check_output(args: &FileArgs) -> Result<(), Failure> {
    if args.output.is_some() && args.files.len() > 1 {
        return Err("At most one input file may be used with the --output option".into());
    }
    Ok(())
}

/// The files named, or stdin (`-`) when none is.
fn inputs(files: &[String]) -> Vec<&str> {
    if files.is_empty() {
        vec!["-"]
    } else {
        files.iter().map(String::as_str).collect()
    }
}

/// A file (a regular one, bounded) or stdin (`-`, bounded too).
fn read_input(file: &str) -> Result<Vec<u8>, Failure> {
    let limit = MAX_VAULT_TEXT as u64;
    if file == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("stdin: {e}"))?;
        if bytes.len() as u64 > limit {
            return Err(format!("stdin: more than {} MiB; refused", limit >> 20));
        }
        return Ok(bytes);
    }
    etcdplay_source::read_file(Path::new(file), limit).map_err(|e| e.to_string())
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))
}

/// Writes the result for input `file`: to `output` when given (`-`: stdout), else over `file`
/// itself (stdin's result goes to stdout).
fn write_result(file: &str, output: Option<&str>, bytes: &[u8]) -> Result<(), Failure> {
    match output.unwrap_or(file) {
        "-" => write_stdout(bytes),
        target => write_atomically(Path::new(target), bytes).map_err(|e| format!("{target}: {e}")),
    }
}

/// Replaces (or creates) `path` with `bytes`: a 0600 temporary file created exclusively in the
/// same directory, given the mode of the file it replaces (0600 for a new file, as
/// ansible-vault creates them), synced, then renamed over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o600);
    let mut temp = tempfile::Builder::new()
        .prefix(".etcdplay-vault-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_yaml_block_is_indented_like_ansible_vaults() {
        let text = "$ANSIBLE_VAULT;1.1;AES256\n3132\n3334\n";
        assert_eq!(
            yaml_block(text, Some("token")),
            "token: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n          3132\n          3334"
        );
        assert!(yaml_block(text, None).starts_with("!vault |\n          $ANSIBLE"));
    }

    #[test]
    fn an_atomic_write_keeps_the_mode_of_the_file_it_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vars.yml");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let fresh = dir.path().join("fresh.yml");
        write_atomically(&fresh, b"x").unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Nothing but the two files is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
