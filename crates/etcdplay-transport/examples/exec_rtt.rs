//! Micro benchmark: latency of one `exec` on an open `SshTransport` (long-lived remote shell)
//! against a new channel on the same master (`ssh -S SOCKET host true`) and a plain
//! `ssh host true` that connects from scratch.
//!
//! Usage: `cargo run -p etcdplay-transport --example exec_rtt -- ADDRESS [--port N]
//! [--user U] [--key FILE] [--known-hosts FILE] [--accept-new|--strict|--off] [--count N]`

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use etcdplay_transport::{ExecRequest, HostKeyChecking, SshOptions, SshTransport, Transport};

fn usage() -> ! {
    eprintln!(
        "usage: exec_rtt ADDRESS [--port N] [--user U] [--key FILE] [--known-hosts FILE] \
         [--accept-new|--strict|--off] [--count N]"
    );
    std::process::exit(2)
}

fn parse() -> (SshOptions, usize) {
    let mut args = std::env::args().skip(1);
    let Some(address) = args.next() else { usage() };
    let mut opts = SshOptions::new(address.clone(), address);
    let mut count = 100;
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--port" => opts.port = Some(value().parse().unwrap_or_else(|_| usage())),
            "--user" => opts.user = Some(value()),
            "--key" => opts.key_file = Some(PathBuf::from(value())),
            "--known-hosts" => opts.known_hosts = Some(PathBuf::from(value())),
            "--count" => count = value().parse().unwrap_or_else(|_| usage()),
            "--accept-new" => opts.host_key_checking = HostKeyChecking::AcceptNew,
            "--strict" => opts.host_key_checking = HostKeyChecking::Strict,
            "--off" => opts.host_key_checking = HostKeyChecking::Off,
            _ => usage(),
        }
    }
    (opts, count.max(1))
}

/// The same ssh options for the command-line comparisons as the transport uses.
fn ssh_command(opts: &SshOptions) -> std::process::Command {
    let mut c = std::process::Command::new("ssh");
    c.args([
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=accept-new",
    ]);
    if let Some(p) = opts.port {
        c.arg("-p").arg(p.to_string());
    }
    if let Some(u) = &opts.user {
        c.arg("-l").arg(u);
    }
    if let Some(k) = &opts.key_file {
        c.args(["-o", "IdentitiesOnly=yes", "-i"]).arg(k);
    }
    if let Some(k) = &opts.known_hosts {
        c.arg("-o")
            .arg(format!("UserKnownHostsFile={}", k.display()));
    }
    c
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let total: Duration = samples.iter().sum();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what:<34} n={:<4} mean {:>7.2} ms  median {:>7.2} ms  max {:>7.2} ms",
        samples.len(),
        ms(total) / samples.len() as f64,
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1])
    );
}

fn time_command(mut make: impl FnMut() -> std::process::Command, n: usize) -> Vec<Duration> {
    (0..n)
        .filter_map(|_| {
            let t0 = Instant::now();
            let ok = make()
                .arg("true")
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            ok.then(|| t0.elapsed())
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let (opts, count) = parse();
    let t0 = Instant::now();
    let transport = match SshTransport::connect(opts.clone()).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    println!(
        "connect (master + first shell): {:.1} ms",
        t0.elapsed().as_secs_f64() * 1000.0
    );

    let mut shell = Vec::with_capacity(count);
    for _ in 0..count {
        let t0 = Instant::now();
        match transport.exec(ExecRequest::script("true")).await {
            Ok(out) if out.rc == 0 => shell.push(t0.elapsed()),
            Ok(out) => eprintln!("exec failed: rc {}", out.rc),
            Err(e) => eprintln!("exec failed: {e}"),
        }
    }
    report("exec on the long-lived shell", &mut shell);

    let socket = transport.control_socket().to_path_buf();
    let small = count.min(20);
    let mut channel = time_command(
        || {
            let mut c = ssh_command(&opts);
            c.arg("-S").arg(&socket).arg(&opts.address);
            c
        },
        small,
    );
    report("new channel on the master", &mut channel);
    let mut plain = time_command(
        || {
            let mut c = ssh_command(&opts);
            c.args(["-o", "ControlMaster=no", "-o", "ControlPath=none"])
                .arg(&opts.address);
            c
        },
        small,
    );
    report("plain `ssh host true`", &mut plain);
    if let Err(e) = transport.close().await {
        eprintln!("close: {e}");
    }
}
