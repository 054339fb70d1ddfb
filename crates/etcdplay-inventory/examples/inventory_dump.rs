//! Prints etcdplay's view of an inventory the way `ansible-inventory` does, for comparing the
//! two by hand: `inventory_dump list|graph|graph-vars|hosts PATTERN [LIMIT] -- SOURCE...`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use etcdplay_inventory::Inventory;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let (cmd, sources) = (&args[..split], args.get(split + 1..).unwrap_or(&[]));
    let inv = match Inventory::load(sources) {
        Ok(inv) => inv,
        Err(d) => {
            eprintln!("{d}");
            std::process::exit(1);
        }
    };
    match cmd.first().map(String::as_str) {
        Some("list") => println!("{}", inv.to_list_json_string()),
        Some("graph") => println!("{}", inv.to_graph(false)),
        Some("graph-vars") => println!("{}", inv.to_graph(true)),
        Some("hosts") => {
            let pattern = cmd.get(1).map_or("all", String::as_str);
            match inv.select_limited(pattern, cmd.get(2).map(String::as_str)) {
                Ok(hosts) => println!("{}", hosts.join(" ")),
                Err(e) => println!("ERROR {e}"),
            }
        }
        _ => {
            eprintln!(
                "usage: inventory_dump list|graph|graph-vars|hosts PATTERN [LIMIT] -- SOURCE..."
            );
            std::process::exit(2);
        }
    }
}
