//! The vault options every command that reads playbooks or inventories takes
//! (`--vault-id`, `--vault-password-file`, `--ask-vault-pass`), combined with ansible.cfg's
//! `vault_identity_list`/`vault_password_file` (and their `ANSIBLE_*` variables) into the run's
//! keyring, installed before any file is read. Passwords are read from files, scripts or the
//! terminal; none is ever taken on the command line.

use clap::Args;
use etcdplay_vault::source::{self, Sources};

use crate::ansible_cfg::AnsibleConfig;

/// Vault options, as ansible-playbook takes them.
#[derive(Debug, Args, Default, Clone)]
pub(crate) struct VaultArgs {
    /// A vault secret: `[label@]source`, the source a password file, an executable that
    /// prints the password, or `prompt`; may repeat.
    #[arg(long = "vault-id", value_name = "[LABEL@]SOURCE")]
    pub(crate) vault_ids: Vec<String>,
    /// A file holding the vault password, or an executable printing it; may repeat.
    #[arg(long = "vault-password-file", visible_alias = "vault-pass-file")]
    pub(crate) password_files: Vec<String>,
    /// Ask for the vault password on the terminal.
    #[arg(
        short = 'J',
        long = "ask-vault-pass",
        visible_alias = "ask-vault-password"
    )]
    pub(crate) ask_vault_pass: bool,
}

impl VaultArgs {
    /// The command line's sources after the configuration's, in Ansible's order.
    pub(crate) fn sources(&self, config: &AnsibleConfig) -> Sources {
        Sources {
            configured_ids: config.vault_identity_list(),
            vault_ids: self.vault_ids.clone(),
            password_files: self.password_files.clone(),
            configured_password_file: config.vault_password_file(),
            ask_vault_pass: self.ask_vault_pass,
        }
    }

    /// Loads the secrets and makes them the run's keyring; warnings (a source that failed
    /// while another worked) are printed. `Err` is the message of the last failing source
    /// when none gave a secret.
    pub(crate) fn install(&self, config: &AnsibleConfig) -> Result<(), String> {
        let specs = self.sources(config).specs();
        if specs.is_empty() {
            return Ok(());
        }
        let loaded =
            source::load(&specs, &mut source::terminal_prompt).map_err(|e| e.to_string())?;
        for warning in &loaded.warnings {
            eprintln!("[WARNING]: {warning}");
        }
        etcdplay_vault::session::install(loaded.keyring);
        Ok(())
    }
}
