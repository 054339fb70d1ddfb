//! `etcdplay-agent`: the host agent of this crate. Built next to `etcdplay` (`cargo build
//! --workspace`, or `-p etcdplay-agent`), which uploads it to hosts it reaches as root and
//! starts it there in place of the shell loop.

fn main() -> std::process::ExitCode {
    etcdplay_agent::main_with(std::env::args_os().collect())
}
