//! The `etcdplay` command: argument parsing and output at the edge, everything else in the
//! library crates. Each subcommand lives in its own module and returns an [`exit::ExitCode`].

mod exit;
mod output;

use clap::{Parser, Subcommand};

/// Deploys and operates etcd clusters over SSH, from Ansible-style inventories and playbooks.
#[derive(Parser)]
#[command(name = "etcdplay", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {};
    #[allow(unreachable_code)]
    std::process::exit(exit::ExitCode::code(code));
}
