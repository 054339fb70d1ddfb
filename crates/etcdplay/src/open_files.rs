//! Whether the open-file limit leaves room for the connections a run will hold. A run keeps
//! the SSH connections of a `serial` batch open while the batch runs (the engine closes a
//! host's once the run is done with it), and each holds descriptors of this process; past the
//! limit, connecting fails host by host in the middle of the run with "Too many open files".
//! So the need is worked out before any host is touched and a run that cannot fit stops with
//! the numbers and what to change (ARCHITECTURE.md says why it stops rather than closing idle
//! connections to make room).

use etcdplay_transport::DESCRIPTORS_PER_IDLE_CONNECTION;

/// Descriptors the run needs besides its connections: standard streams, files read, the
/// runtime, and per fork a connection being opened or a local command running (pipes).
const BASE_NEED: u64 = 64;
const PER_FORK: u64 = 8;

/// A run larger than the open-file limit allows.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "this run may hold connections to {hosts} hosts at once, which needs about {need} open \
     files ({per_host} per host and {base} for the run itself), but the open-file limit is \
     {soft} (hard limit {hard}). Raise the hard limit (`ulimit -Hn`, `LimitNOFILE=` for a \
     service, /etc/security/limits.conf) or run the plays in smaller batches with `serial:` \
     (about {fits} hosts at once fit)"
)]
pub(crate) struct TooManyHosts {
    hosts: u64,
    need: u64,
    per_host: u64,
    base: u64,
    soft: u64,
    hard: String,
    fits: u64,
}

/// Checks that `hosts` connections held at once fit the open-file limit `soft` (already
/// raised to the hard one at start; `hard` only for the message, `None` = unlimited).
pub(crate) fn check(
    hosts: usize,
    forks: usize,
    soft: u64,
    hard: Option<u64>,
) -> Result<(), TooManyHosts> {
    let per_host = DESCRIPTORS_PER_IDLE_CONNECTION as u64;
    let base = BASE_NEED + PER_FORK * forks as u64;
    let need = base + per_host * hosts as u64;
    if need <= soft {
        return Ok(());
    }
    Err(TooManyHosts {
        hosts: hosts as u64,
        need,
        per_host,
        base,
        soft,
        hard: hard.map_or_else(|| "unlimited".into(), |h| h.to_string()),
        fits: soft.saturating_sub(base) / per_host,
    })
}

/// [`check`] against this process's limit; an unlimited or unreadable limit passes.
pub(crate) fn check_process(hosts: usize, forks: usize) -> Result<(), TooManyHosts> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    match limit.current {
        Some(soft) => check(hosts, forks, soft, limit.maximum),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_that_fits_passes() {
        // 1,000 hosts, forks 50: 3,000 + 64 + 400 descriptors.
        assert_eq!(check(1_000, 50, 20_000, Some(20_000)), Ok(()));
        assert_eq!(check(6_000, 50, 20_000, Some(20_000)), Ok(()));
    }

    #[test]
    fn a_fleet_past_the_limit_is_refused_with_the_numbers() {
        let e = check(10_000, 50, 20_000, Some(20_000)).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("10000 hosts at once"), "{text}");
        assert!(text.contains("needs about 30464 open files"), "{text}");
        assert!(
            text.contains("3 per host and 464 for the run itself"),
            "{text}"
        );
        assert!(
            text.contains("the open-file limit is 20000 (hard limit 20000)"),
            "{text}"
        );
        assert!(text.contains("about 6512 hosts at once fit"), "{text}");
    }
}
