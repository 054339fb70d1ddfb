//! `etcdplay modules --list` (hidden): every module name etcdplay accepts, aliases included, one
//! a line, read from the module registry. Scripts use it to choose what to compare with Ansible
//! (`compat/targets/run` picks ansible-core's integration targets by it).

use clap::Args;
use etcdplay_source::ModuleCatalog;

use crate::exit::ExitCode;

/// Options of `etcdplay modules`.
#[derive(Debug, Args)]
pub(crate) struct ModulesArgs {
    /// Print the module names, one a line, sorted (the only thing this command does).
    #[arg(long)]
    list: bool,
}

/// Prints the registry's module names.
pub(crate) fn run(args: &ModulesArgs) -> ExitCode {
    if !args.list {
        eprintln!("etcdplay modules: nothing to do (use --list)");
        return ExitCode::BadOptions;
    }
    let mut names = etcdplay_modules::Registry.names();
    names.sort();
    for name in names {
        println!("{name}");
    }
    ExitCode::Ok
}
