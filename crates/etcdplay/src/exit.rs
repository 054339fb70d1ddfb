//! Exit codes, in one place, as `ansible-playbook` uses them, so scripts written around Ansible
//! keep working: 0 ok, 1 error, 2 a host failed, 3 a host unreachable, 4 parse error, 5 bad
//! options, 99 interrupted.

/// The process exit code of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitCode {
    Ok = 0,
    Error = 1,
    HostFailed = 2,
    HostUnreachable = 3,
    ParseError = 4,
    BadOptions = 5,
    Interrupted = 99,
}

impl ExitCode {
    pub(crate) fn code(self) -> i32 {
        self as i32
    }
}
