//! The requests a module can make of a host, and what comes back. Kept free of any transport
//! detail so that modules can be unit-tested against a fake.

/// Privilege escalation for one request, as Ansible's `become`/`become_user` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Become {
    /// The user to become (`root` when `become_user` is not set).
    pub user: String,
    /// How: `sudo -n` (the default) or `su`.
    pub method: BecomeMethod,
}

impl Become {
    /// Become `user` with `sudo -n`, Ansible's default method.
    pub fn sudo(user: impl Into<String>) -> Self {
        Become {
            user: user.into(),
            method: BecomeMethod::Sudo(SudoOptions::default()),
        }
    }
}

/// Ansible's `become_method`s that etcdplay implements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BecomeMethod {
    /// `sudo -n -H -u USER`: never prompts (a password is refused, see
    /// [`crate::TransportError::BecomeNeedsPassword`]) unless a password is given and sudo
    /// wants it; then `sudo -k -S`, the password on its standard input.
    Sudo(SudoOptions),
    /// `su [flags] USER -c ...` (Ansible's `su` plugin): from a login that is not root, su asks
    /// for the target user's password, which goes to its standard input.
    Su(SuOptions),
}

impl Default for BecomeMethod {
    fn default() -> Self {
        BecomeMethod::Sudo(SudoOptions::default())
    }
}

/// The password of the `sudo` method (`ansible_become_password`), given to sudo on its
/// standard input only when `sudo -n` would be refused (a `NOPASSWD` rule, or a login that is
/// the become user or root, never sees it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SudoOptions {
    pub password: Option<Secret>,
}

/// `become_exe`, `become_flags` and the password of the `su` method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuOptions {
    /// `become_exe`: the program (`su`).
    pub exe: String,
    /// `become_flags`, split into words (Ansible's default: none).
    pub flags: Vec<String>,
    /// `ansible_become_password`: fed to su on its standard input, never on a command line.
    pub password: Option<Secret>,
}

impl Default for SuOptions {
    fn default() -> Self {
        SuOptions {
            exe: "su".into(),
            flags: Vec::new(),
            password: None,
        }
    }
}

/// A secret value: its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

/// A shell script to run on a host.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// POSIX shell script, run by `/bin/sh`.
    pub script: String,
    /// Bytes fed to the script's standard input (empty: `/dev/null`).
    pub stdin: Vec<u8>,
    /// Extra environment variables for the script.
    pub env: Vec<(String, String)>,
    /// Run as another user (`sudo -n` or `su`).
    pub become_: Option<Become>,
}

impl ExecRequest {
    /// A request that runs `script` with no input, environment or become.
    pub fn script(script: impl Into<String>) -> Self {
        ExecRequest {
            script: script.into(),
            ..ExecRequest::default()
        }
    }
}

/// The outcome of an [`ExecRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub rc: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A file to write on a host.
#[derive(Debug, Clone, Default)]
pub struct PutRequest {
    pub dest: String,
    /// Shared: the same file (an etcd binary) goes to every host, and each upload holding a
    /// copy of its own would cost hosts × size of memory.
    pub content: std::sync::Arc<Vec<u8>>,
    /// Octal mode such as `0644`; `None` keeps the existing file's mode, or 0644 for a new file.
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub become_: Option<Become>,
}
