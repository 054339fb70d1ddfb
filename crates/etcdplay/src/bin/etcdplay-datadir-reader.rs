//! `etcdplay-datadir-reader`: the data-dir reader of etcdplay-etcd, run on the etcd host
//! itself. etcdplay uploads this binary to a host (`/var/cache/etcdplay/bin/`, named by its
//! sha1) and runs it there with privilege escalation, so the WAL, `.snap` and bbolt bytes are
//! read from the local disk instead of crossing SSH; only the result comes back, as one line
//! of JSON (`etcdplay_etcd::encode_result`) that the control node decodes into the same
//! `Result<DataDirReport, DataDirError>` as its shell-command reader produces.
//!
//! Usage: `etcdplay-datadir-reader [--wal-dir DIR] [--block-size BYTES]
//! [--backend cross-check|primary|skip] [--] DATA_DIR`. The exit status is 0 whenever the
//! reader ran, including on a data dir it cannot read (that error is part of the output);
//! 2 means bad arguments, 1 that the answer could not be written.

use std::io::Write;
use std::process::ExitCode;

use etcdplay_etcd::{encode_result, read_data_dir, BackendUse, LocalDir, ReadOptions};

const USAGE: &str = "usage: etcdplay-datadir-reader [--wal-dir DIR] [--block-size BYTES] [--backend cross-check|primary|skip] [--] DATA_DIR";

/// The data dir and how to read it, from the command line.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<(String, ReadOptions), String> {
    let mut args = args.into_iter();
    let mut options = ReadOptions::default();
    let mut data_dir = None;
    let mut only_positional = false;
    while let Some(arg) = args.next() {
        if only_positional || !arg.starts_with("--") {
            if data_dir.replace(arg).is_some() {
                return Err("more than one DATA_DIR".into());
            }
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--" => only_positional = true,
            "--wal-dir" => options.wal_dir = Some(value()?).filter(|w| !w.is_empty()),
            "--block-size" => {
                let v = value()?;
                options.block_size = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (4096..=(64 << 20)).contains(n))
                    .ok_or_else(|| {
                        format!("--block-size {v:?} is not a size from 4096 to 64 MiB")
                    })?;
            }
            "--backend" => {
                options.backend = match value()?.as_str() {
                    "cross-check" => BackendUse::CrossCheck,
                    "primary" => BackendUse::Primary,
                    "skip" => BackendUse::Skip,
                    other => {
                        return Err(format!(
                            "--backend {other:?} is not cross-check, primary or skip"
                        ))
                    }
                }
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    let data_dir = data_dir
        .filter(|d| !d.is_empty())
        .ok_or("DATA_DIR is missing")?;
    Ok((data_dir, options))
}

fn main() -> ExitCode {
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let parsed = match args {
        Ok(args) => parse_args(args),
        Err(_) => Err("arguments must be UTF-8".into()),
    };
    let (data_dir, options) = match parsed {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "etcdplay-datadir-reader: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = read_data_dir(&LocalDir::new(data_dir), &options);
    let mut line = encode_result(&result);
    line.push('\n');
    let mut out = std::io::stdout().lock();
    match out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "etcdplay-datadir-reader: writing the answer: {e}"
            );
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<(String, ReadOptions), String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn options_in_any_order_and_after_the_separator() {
        let (dir, o) =
            parse(&["--wal-dir", "/w", "--block-size=8388608", "--", "--odd dir"]).unwrap();
        assert_eq!(dir, "--odd dir");
        assert_eq!(o.wal_dir.as_deref(), Some("/w"));
        assert_eq!(o.block_size, 8 << 20);
        assert_eq!(o.backend, BackendUse::CrossCheck);
        let (dir, o) = parse(&["/d", "--backend", "primary"]).unwrap();
        assert_eq!(
            (dir.as_str(), o.backend, o.wal_dir),
            ("/d", BackendUse::Primary, None)
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        for bad in [
            &[][..],
            &["a", "b"],
            &["--wal-dir"],
            &["--block-size", "12", "/d"],
            &["--backend", "bbolt", "/d"],
            &["--verbose", "/d"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
