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
    /// Playbooks to check.
    #[arg(required = true)]
    playbooks: Vec<PathBuf>,
}

pub(crate) fn run(args: SyntaxCheckArgs) -> ExitCode {
    let settings = match super::apply::Settings::resolve(&args.inventory, None, None, None) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("ERROR: {message}");
            return ExitCode::BadOptions;
        }
    };
    match super::apply::prepare(&settings, &args.playbooks) {
        Ok(_) => {
            for p in &args.playbooks {
                println!("\nplaybook: {}", p.display());
            }
            ExitCode::Ok
        }
        Err(code) => code,
    }
}
