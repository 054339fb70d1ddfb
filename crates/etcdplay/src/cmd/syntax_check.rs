//! `etcdplay syntax-check -i INV PLAYBOOK...`: everything `apply` checks before contacting a
//! host (inventory, playbooks, roles, modules and their arguments), and nothing more.

use std::path::PathBuf;

use clap::Args;

use crate::exit::ExitCode;

/// Options of `etcdplay syntax-check`.
#[derive(Debug, Args)]
pub(crate) struct SyntaxCheckArgs {
    /// Inventory file, directory or `host1,host2,` list; may be given several times (default:
    /// `inventory` of ansible.cfg / ANSIBLE_INVENTORY).
    #[arg(short = 'i', long = "inventory")]
    inventory: Vec<String>,
    /// Extra variables, as `apply` takes them: checked for syntax (accepted as ansible-playbook
    /// accepts them with --syntax-check).
    #[arg(short = 'e', long = "extra-vars")]
    extra_vars: Vec<String>,
    /// Tags, as `apply` takes them (accepted; the whole playbook is checked).
    #[arg(short = 't', long = "tags", value_delimiter = ',')]
    tags: Vec<String>,
    #[command(flatten)]
    vault: crate::vault_args::VaultArgs,
    /// Playbooks to check.
    #[arg(required = true)]
    playbooks: Vec<PathBuf>,
}

pub(crate) fn run(args: SyntaxCheckArgs) -> ExitCode {
    let settings = match super::apply::Settings::resolve(
        &args.inventory,
        &super::apply::ConnectionArgs::default(),
        None,
        None,
        None,
    ) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("ERROR: {message}");
            return ExitCode::BadOptions;
        }
    };
    if let Err(message) = args.vault.install(&settings.config) {
        eprintln!("ERROR: {message}");
        return ExitCode::BadOptions;
    }
    let extra = match crate::extra_vars::parse_all(&args.extra_vars) {
        Ok(extra) => extra,
        Err(message) => {
            eprintln!("ERROR: {message}");
            return ExitCode::BadOptions;
        }
    };
    // Tags select tasks to run; a syntax check reads every task whatever they are.
    let _ = &args.tags;
    match super::apply::prepare(&settings, &args.playbooks, &extra) {
        Ok(_) => {
            for p in &args.playbooks {
                println!("\nplaybook: {}", p.display());
            }
            ExitCode::Ok
        }
        Err(code) => code,
    }
}
