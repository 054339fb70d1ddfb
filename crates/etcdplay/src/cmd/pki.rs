//! `etcdplay pki show [-i INVENTORY | --pki-dir DIR]`: lists the certificates of the PKI
//! directory (the CA, one per member, the client's) with their names, expiry and whether the
//! CA signed them. Private keys are never opened. Exit 0, or 1 when the directory cannot be
//! read.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use etcdplay_pki::{render_table, PkiDir};

use crate::exit::ExitCode;

/// `etcdplay pki ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum PkiCommand {
    /// Show the certificates of the PKI directory.
    Show(ShowArgs),
}

/// Options of `etcdplay pki show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// Inventory whose `pki/` directory to show (inside it when a directory, beside it when
    /// a file).
    #[arg(
        short = 'i',
        long = "inventory",
        conflicts_with = "pki_dir",
        required_unless_present = "pki_dir"
    )]
    pub(crate) inventory: Option<PathBuf>,
    /// The PKI directory itself.
    #[arg(long)]
    pub(crate) pki_dir: Option<PathBuf>,
}

pub(crate) fn run(command: PkiCommand) -> ExitCode {
    match command {
        PkiCommand::Show(args) => show(&args),
    }
}

fn show(args: &ShowArgs) -> ExitCode {
    let dir = match (&args.pki_dir, &args.inventory) {
        (Some(dir), _) => dir.clone(),
        (None, Some(inventory)) => PkiDir::default_path(inventory),
        (None, None) => return ExitCode::BadOptions,
    };
    match render(&dir) {
        Ok(table) => {
            print!("{table}");
            ExitCode::Ok
        }
        Err(message) => {
            eprintln!("ERROR: {message}");
            ExitCode::Error
        }
    }
}

/// The table for `dir`; an error when it does not exist (showing must not create it).
fn render(dir: &Path) -> Result<String, String> {
    if !dir.is_dir() {
        return Err(format!(
            "PKI directory {} does not exist (etcdplay apply creates it)",
            dir.display()
        ));
    }
    let pki = PkiDir::open_or_create(dir).map_err(|e| e.to_string())?;
    let certs = pki.show().map_err(|e| e.to_string())?;
    Ok(render_table(&certs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcdplay_pki::{EnsureOptions, MemberSpec};

    #[test]
    fn missing_directory_is_an_error_and_is_not_created() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        let e = render(&dir).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        assert!(!dir.exists());
    }

    #[test]
    fn lists_ca_member_and_client_without_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        let mut pki = PkiDir::open_or_create(&dir).unwrap();
        let member = MemberSpec {
            name: "lab1".into(),
            sans: vec!["lab1".into(), "10.0.0.1".into()],
        };
        pki.ensure_all(&[member], &EnsureOptions::default())
            .unwrap();
        let table = render(&dir).unwrap();
        for want in ["ca.pem", "lab1.pem", "client.pem"] {
            assert!(table.contains(want), "{want} missing from:\n{table}");
        }
        assert!(
            !table.contains("-key.pem") && !table.contains("PRIVATE KEY"),
            "{table}"
        );
    }
}
