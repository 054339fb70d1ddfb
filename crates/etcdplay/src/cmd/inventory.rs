//! `etcdplay inventory -i INV --list|--graph`: the inventory as `ansible-inventory` shows it,
//! to check what etcdplay understood from an inventory before running anything on it.

use clap::Args;
use etcdplay_inventory::Inventory;

use crate::exit::ExitCode;
use crate::output::redact;

/// Options of `etcdplay inventory`.
#[derive(Debug, Args)]
pub(crate) struct InventoryArgs {
    /// Inventory file, directory or `host1,host2,` list; may be given several times.
    #[arg(short = 'i', long = "inventory", required = true)]
    inventory: Vec<String>,
    /// Every group and host with its variables, as `ansible-inventory --list` prints it.
    #[arg(long, conflicts_with = "graph", required_unless_present = "graph")]
    list: bool,
    /// The group tree, as `ansible-inventory --graph` prints it.
    #[arg(long)]
    graph: bool,
    /// With --graph: show variables too.
    #[arg(long, requires = "graph")]
    vars: bool,
    #[command(flatten)]
    vault: crate::vault_args::VaultArgs,
}

pub(crate) fn run(args: InventoryArgs) -> ExitCode {
    let installed = crate::ansible_cfg::AnsibleConfig::discover()
        .map_err(|e| e.to_string())
        .and_then(|config| args.vault.install(&config));
    if let Err(message) = installed {
        eprintln!("ERROR: {message}");
        return ExitCode::BadOptions;
    }
    let inventory = match Inventory::load(&args.inventory) {
        Ok(i) => i,
        Err(d) => {
            eprintln!("{}", redact::text(&d.sorted().to_string()));
            return ExitCode::ParseError;
        }
    };
    for w in inventory.warnings() {
        eprintln!("[WARNING]: {w}");
    }
    if args.list {
        println!("{}", redact::text(&inventory.to_list_json_string()));
    } else {
        println!("{}", redact::text(&inventory.to_graph(args.vars)));
    }
    ExitCode::Ok
}
