//! Ansible's configuration, found and read as Ansible does, so that a project's `ansible.cfg`
//! (kubespray's `roles_path`, a default inventory, `forks`, ...) works unchanged. One file is
//! used: `$ANSIBLE_CONFIG`, else `./ansible.cfg` (not in a world-writable directory, which
//! Ansible ignores too), else `~/.ansible.cfg`, else `/etc/ansible/ansible.cfg`. For every
//! setting the matching `ANSIBLE_*` environment variable wins over the file; a command-line
//! option wins over both. What is read is listed in ANSIBLE_COMPAT.md.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use etcdplay_engine::Gathering;

/// Ansible's default `roles_path` (after the playbook's own `roles/`).
const DEFAULT_ROLES_PATH: &str = "~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles";

/// A problem with the configuration file, named by its path and line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("{path}: cannot read the Ansible configuration: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{origin}: {key} = '{value}' is not {expected}")]
    Value {
        origin: String,
        key: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// The settings of the configuration file in use, and the environment.
#[derive(Debug, Default)]
pub(crate) struct AnsibleConfig {
    /// The file read, if any.
    pub(crate) file: Option<PathBuf>,
    /// `(section, key)` → value, keys lower-cased.
    values: HashMap<(String, String), String>,
    env: HashMap<String, String>,
}

/// One setting: its environment variable, section and key.
struct Setting {
    env: &'static str,
    section: &'static str,
    key: &'static str,
}

const ROLES_PATH: Setting = setting("ANSIBLE_ROLES_PATH", "defaults", "roles_path");
const INVENTORY: Setting = setting("ANSIBLE_INVENTORY", "defaults", "inventory");
const FORKS: Setting = setting("ANSIBLE_FORKS", "defaults", "forks");
const TIMEOUT: Setting = setting("ANSIBLE_TIMEOUT", "defaults", "timeout");
const HOST_KEY_CHECKING: Setting =
    setting("ANSIBLE_HOST_KEY_CHECKING", "defaults", "host_key_checking");
const REMOTE_USER: Setting = setting("ANSIBLE_REMOTE_USER", "defaults", "remote_user");
const PRIVATE_KEY_FILE: Setting =
    setting("ANSIBLE_PRIVATE_KEY_FILE", "defaults", "private_key_file");

const BECOME: Setting = setting("ANSIBLE_BECOME", "privilege_escalation", "become");
const BECOME_USER: Setting = setting("ANSIBLE_BECOME_USER", "privilege_escalation", "become_user");
const BECOME_METHOD: Setting = setting(
    "ANSIBLE_BECOME_METHOD",
    "privilege_escalation",
    "become_method",
);
const GATHERING: Setting = setting("ANSIBLE_GATHERING", "defaults", "gathering");
const ASYNC_DIR: Setting = setting("ANSIBLE_ASYNC_DIR", "defaults", "async_dir");

const VAULT_PASSWORD_FILE: Setting = setting(
    "ANSIBLE_VAULT_PASSWORD_FILE",
    "defaults",
    "vault_password_file",
);
const VAULT_IDENTITY_LIST: Setting = setting(
    "ANSIBLE_VAULT_IDENTITY_LIST",
    "defaults",
    "vault_identity_list",
);

const fn setting(env: &'static str, section: &'static str, key: &'static str) -> Setting {
    Setting { env, section, key }
}

impl AnsibleConfig {
    /// Finds and reads the configuration as Ansible would for this process.
    pub(crate) fn discover() -> Result<AnsibleConfig, ConfigError> {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("ANSIBLE_"))
            .collect();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let cwd = std::env::current_dir().ok();
        let file = find_config(env.get("ANSIBLE_CONFIG"), cwd.as_deref(), home.as_deref());
        let mut config = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                AnsibleConfig::parse(&text, path)?
            }
            None => AnsibleConfig::default(),
        };
        config.env = env;
        Ok(config)
    }

    /// Reads INI text as Python's configparser does for Ansible: `[section]`, `key = value` or
    /// `key: value`, `#` and `;` comment lines, indented continuation lines.
    fn parse(text: &str, path: &Path) -> Result<AnsibleConfig, ConfigError> {
        let mut values = HashMap::new();
        let mut section: Option<String> = None;
        let mut last: Option<(String, String)> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim_end();
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            let syntax = |message: &str| ConfigError::Syntax {
                path: path.display().to_string(),
                line: index + 1,
                message: message.to_string(),
            };
            if line.starts_with([' ', '\t']) {
                let key = last
                    .as_ref()
                    .ok_or_else(|| syntax("continuation line without a key"))?;
                let value: &mut String = values.get_mut(key).ok_or_else(|| syntax("bad line"))?;
                value.push('\n');
                value.push_str(trimmed);
                continue;
            }
            if let Some(name) = trimmed.strip_prefix('[') {
                let name = name
                    .strip_suffix(']')
                    .ok_or_else(|| syntax("a section header ends with ']'"))?;
                section = Some(name.trim().to_string());
                last = None;
                continue;
            }
            let split = trimmed
                .find(['=', ':'])
                .ok_or_else(|| syntax("expected 'key = value'"))?;
            let section = section
                .clone()
                .ok_or_else(|| syntax("a setting before any [section]"))?;
            let key = trimmed[..split].trim().to_ascii_lowercase();
            let value = strip_inline_comment(trimmed[split + 1..].trim()).to_string();
            let entry = (section, key);
            values.insert(entry.clone(), value);
            last = Some(entry);
        }
        Ok(AnsibleConfig {
            file: Some(path.to_path_buf()),
            values,
            env: HashMap::new(),
        })
    }

    /// A setting's value and where it came from (for messages).
    fn get(&self, s: &Setting) -> Option<(String, String)> {
        if let Some(v) = self.env.get(s.env) {
            return Some((v.clone(), s.env.to_string()));
        }
        let v = self
            .values
            .get(&(s.section.to_string(), s.key.to_string()))?;
        let file = self
            .file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_default();
        Some((v.clone(), format!("{file} [{}]", s.section)))
    }

    /// Directories searched for roles after the playbook's `roles/`: `roles_path`, relative
    /// entries against the configuration file's directory, `~` expanded; Ansible's default
    /// when unset.
    pub(crate) fn roles_path(&self) -> Vec<PathBuf> {
        let (text, from_file) = match self.get(&ROLES_PATH) {
            Some((v, origin)) => (v, !origin.starts_with("ANSIBLE_")),
            None => (DEFAULT_ROLES_PATH.to_string(), false),
        };
        let base = self
            .file
            .as_ref()
            .filter(|_| from_file)
            .and_then(|f| f.parent())
            .map(Path::to_path_buf);
        text.split([':', '\n'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| resolve(p, base.as_deref()))
            .collect()
    }

    /// The default inventory sources (`-i` not given).
    pub(crate) fn inventory(&self) -> Vec<String> {
        let Some((text, origin)) = self.get(&INVENTORY) else {
            return Vec::new();
        };
        let base = self
            .file
            .as_ref()
            .filter(|_| !origin.starts_with("ANSIBLE_"))
            .and_then(|f| f.parent())
            .map(Path::to_path_buf);
        text.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| resolve(p, base.as_deref()).display().to_string())
            .collect()
    }

    pub(crate) fn forks(&self) -> Result<Option<u32>, ConfigError> {
        self.number(&FORKS, "forks")
    }

    pub(crate) fn timeout(&self) -> Result<Option<u64>, ConfigError> {
        self.number(&TIMEOUT, "timeout")
    }

    /// `host_key_checking`: `Some(false)` turns checking off, as Ansible's `False` does.
    pub(crate) fn host_key_checking(&self) -> Result<Option<bool>, ConfigError> {
        self.boolean(&HOST_KEY_CHECKING)
    }

    /// `[privilege_escalation] become`: tasks become unless a keyword or variable says not.
    pub(crate) fn become_(&self) -> Result<Option<bool>, ConfigError> {
        self.boolean(&BECOME)
    }

    /// `[privilege_escalation] become_user`.
    pub(crate) fn become_user(&self) -> Option<String> {
        self.get(&BECOME_USER).map(|(v, _)| v)
    }

    /// `[privilege_escalation] become_method` (checked when a task becomes, as Ansible does).
    pub(crate) fn become_method(&self) -> Option<String> {
        self.get(&BECOME_METHOD).map(|(v, _)| v)
    }

    /// `async_dir`: where async jobs keep their status on the host, below `ansible_async_dir`.
    pub(crate) fn async_dir(&self) -> Option<String> {
        self.get(&ASYNC_DIR).map(|(v, _)| v)
    }

    /// `gathering`: when plays gather facts (`implicit` unless set).
    pub(crate) fn gathering(&self) -> Result<Gathering, ConfigError> {
        let Some((v, origin)) = self.get(&GATHERING) else {
            return Ok(Gathering::Implicit);
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "implicit" => Ok(Gathering::Implicit),
            "explicit" => Ok(Gathering::Explicit),
            "smart" => Ok(Gathering::Smart),
            _ => Err(ConfigError::Value {
                origin,
                key: GATHERING.key,
                value: v,
                expected: "one of implicit, explicit, smart",
            }),
        }
    }

    fn boolean(&self, s: &Setting) -> Result<Option<bool>, ConfigError> {
        let Some((v, origin)) = self.get(s) else {
            return Ok(None);
        };
        match etcdplay_source::parse_bool(&v) {
            Some(b) => Ok(Some(b)),
            None => Err(ConfigError::Value {
                origin,
                key: s.key,
                value: v,
                expected: "a boolean",
            }),
        }
    }

    /// `remote_user`: the login when neither inventory, play nor task names one.
    pub(crate) fn remote_user(&self) -> Option<String> {
        self.get(&REMOTE_USER).map(|(v, _)| v)
    }

    /// `private_key_file`: the key when the inventory names none.
    pub(crate) fn private_key_file(&self) -> Option<String> {
        self.get(&PRIVATE_KEY_FILE)
            .map(|(v, _)| resolve(&v, None).display().to_string())
    }

    /// `vault_password_file`: a relative path from the file is against its directory (a
    /// `path` setting of Ansible), one from the environment against the current directory.
    pub(crate) fn vault_password_file(&self) -> Option<String> {
        let (value, origin) = self.get(&VAULT_PASSWORD_FILE)?;
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        let base = self
            .file
            .as_ref()
            .filter(|_| !origin.starts_with("ANSIBLE_"))
            .and_then(|f| f.parent());
        Some(resolve(value, base).display().to_string())
    }

    /// `vault_identity_list`: `label@source` entries, comma separated, used as written.
    pub(crate) fn vault_identity_list(&self) -> Vec<String> {
        self.get(&VAULT_IDENTITY_LIST)
            .map(|(v, _)| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn number<T: std::str::FromStr>(
        &self,
        s: &Setting,
        key: &'static str,
    ) -> Result<Option<T>, ConfigError> {
        let Some((v, origin)) = self.get(s) else {
            return Ok(None);
        };
        v.trim().parse().map(Some).map_err(|_| ConfigError::Value {
            origin,
            key,
            value: v,
            expected: "a number",
        })
    }
}

/// Which file Ansible reads: `$ANSIBLE_CONFIG` (a file, or a directory holding ansible.cfg),
/// `./ansible.cfg` unless the directory is world-writable, `~/.ansible.cfg`,
/// `/etc/ansible/ansible.cfg`.
fn find_config(env: Option<&String>, cwd: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    if let Some(given) = env {
        let path = resolve(given, None);
        let path = if path.is_dir() {
            path.join("ansible.cfg")
        } else {
            path
        };
        if path.is_file() {
            return Some(path);
        }
    }
    if let Some(cwd) = cwd {
        let world_writable = std::fs::metadata(cwd)
            .map(|m| m.permissions().mode() & 0o002 != 0)
            .unwrap_or(true);
        let local = cwd.join("ansible.cfg");
        if !world_writable && local.is_file() {
            return Some(local);
        }
    }
    if let Some(home) = home {
        let user = home.join(".ansible.cfg");
        if user.is_file() {
            return Some(user);
        }
    }
    let system = PathBuf::from("/etc/ansible/ansible.cfg");
    system.is_file().then_some(system)
}

/// `~` expanded; a relative path joined to `base` when given.
fn resolve(path: &str, base: Option<&Path>) -> PathBuf {
    let expanded = match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ if path == "~" => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default(),
        _ => PathBuf::from(path),
    };
    let joined = match base {
        Some(base) if expanded.is_relative() => base.join(expanded),
        _ => expanded,
    };
    // Lexically, as Ansible's `unfrackpath` gives paths from its configuration.
    etcdplay_source::lexically_normal(&joined)
}

/// A value without a trailing ` ;comment` or ` #comment` (configparser's inline comments as
/// Ansible enables them).
fn strip_inline_comment(value: &str) -> &str {
    [" ;", " #", "\t;", "\t#"]
        .iter()
        .filter_map(|m| value.find(m))
        .min()
        .map_or(value, |at| value[..at].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str, env: &[(&str, &str)]) -> AnsibleConfig {
        let mut c = AnsibleConfig::parse(text, Path::new("/proj/ansible.cfg")).expect("parses");
        c.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        c
    }

    #[test]
    fn settings_come_from_the_file_and_the_environment_wins() {
        let text = "# kubespray-like\n[defaults]\nroles_path = roles:../shared/roles ; comment\n\
                    inventory = inventory/hosts.ini\nforks=25\nhost_key_checking: False\n\
                    timeout = 30\n[privilege_escalation]\nbecome = True\n";
        let c = config(text, &[]);
        assert_eq!(
            c.roles_path(),
            [PathBuf::from("/proj/roles"), PathBuf::from("/shared/roles")]
        );
        assert_eq!(c.inventory(), ["/proj/inventory/hosts.ini"]);
        assert_eq!(c.forks().unwrap(), Some(25));
        assert_eq!(c.timeout().unwrap(), Some(30));
        assert_eq!(c.host_key_checking().unwrap(), Some(false));
        let c = config(
            text,
            &[("ANSIBLE_FORKS", "7"), ("ANSIBLE_ROLES_PATH", "/r")],
        );
        assert_eq!(c.forks().unwrap(), Some(7));
        assert_eq!(c.roles_path(), [PathBuf::from("/r")]);
    }

    #[test]
    fn bad_files_and_values_are_errors_with_their_place() {
        let e = AnsibleConfig::parse("roles_path = x\n", Path::new("/p/ansible.cfg")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/p/ansible.cfg:1: a setting before any [section]"
        );
        let c = config("[defaults]\nforks = many\n", &[]);
        assert!(c
            .forks()
            .unwrap_err()
            .to_string()
            .contains("forks = 'many' is not a number"));
    }

    #[test]
    fn vault_settings_come_from_the_file_and_the_environment() {
        let text =
            "[defaults]\nvault_password_file = secrets/pw\nvault_identity_list = dev@a, prod@/b\n";
        let c = config(text, &[]);
        assert_eq!(c.vault_password_file().as_deref(), Some("/proj/secrets/pw"));
        assert_eq!(c.vault_identity_list(), ["dev@a", "prod@/b"]);
        let c = config(
            text,
            &[
                ("ANSIBLE_VAULT_PASSWORD_FILE", "/env/pw"),
                ("ANSIBLE_VAULT_IDENTITY_LIST", "x@y"),
            ],
        );
        assert_eq!(c.vault_password_file().as_deref(), Some("/env/pw"));
        assert_eq!(c.vault_identity_list(), ["x@y"]);
    }

    #[test]
    fn privilege_escalation_and_gathering_settings() {
        let text = "[defaults]\ngathering = Smart\n[privilege_escalation]\nbecome = yes\n\
                    become_user = app\nbecome_method = su\n";
        let c = config(text, &[]);
        assert_eq!(c.gathering().unwrap(), Gathering::Smart);
        assert_eq!(c.become_().unwrap(), Some(true));
        assert_eq!(c.become_user().as_deref(), Some("app"));
        assert_eq!(c.become_method().as_deref(), Some("su"));
        let c = config(
            text,
            &[("ANSIBLE_GATHERING", "explicit"), ("ANSIBLE_BECOME", "no")],
        );
        assert_eq!(c.gathering().unwrap(), Gathering::Explicit);
        assert_eq!(c.become_().unwrap(), Some(false));
        assert_eq!(config("", &[]).gathering().unwrap(), Gathering::Implicit);
        let c = config("[defaults]\nasync_dir = /var/jobs\n", &[]);
        assert_eq!(c.async_dir().as_deref(), Some("/var/jobs"));
        let c = config("", &[("ANSIBLE_ASYNC_DIR", "~/jobs")]);
        assert_eq!(c.async_dir().as_deref(), Some("~/jobs"));
        let bad = config("[defaults]\ngathering = lazy\n", &[]).gathering();
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("gathering = 'lazy' is not one of implicit, explicit, smart"));
    }

    #[test]
    fn the_file_is_found_in_ansibles_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::write(d.join("ansible.cfg"), "[defaults]\n").expect("write");
        let home = d.join("home");
        std::fs::create_dir(&home).expect("mkdir");
        std::fs::write(home.join(".ansible.cfg"), "[defaults]\n").expect("write");
        assert_eq!(
            find_config(None, Some(d), Some(&home)),
            Some(d.join("ansible.cfg"))
        );
        let env = home.join(".ansible.cfg").display().to_string();
        assert_eq!(
            find_config(Some(&env), Some(d), None),
            Some(home.join(".ansible.cfg"))
        );
        // A world-writable working directory's ansible.cfg is ignored, as by Ansible.
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        assert_eq!(
            find_config(None, Some(d), Some(&home)),
            Some(home.join(".ansible.cfg"))
        );
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}
