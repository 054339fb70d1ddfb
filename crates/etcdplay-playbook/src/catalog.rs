//! Which modules exist and which arguments they take. The parser asks a [`ModuleCatalog`] so
//! that it can reject `copyy:` or `dset=` before any host is contacted without depending on the
//! crate that implements the modules; [`DefaultCatalog`] lists the modules etcdplay ships.

/// What the parser needs to know about modules.
pub trait ModuleCatalog {
    /// The canonical name for a name as written (`ansible.builtin.copy` → `copy`), or `None`
    /// when no such module exists.
    fn canonical(&self, name: &str) -> Option<String>;
    /// The argument names (aliases included) a module accepts; `None` accepts anything.
    fn arg_names(&self, canonical: &str) -> Option<Vec<&'static str>>;
    /// Whether the module takes a free-form command line (`shell: echo hi`) into `_raw_params`.
    fn free_form(&self, canonical: &str) -> bool;
    /// Why a literal argument value is unacceptable (wrong type, not one of the choices), or
    /// `None`. Values containing templates are not passed here: they are only known at run time.
    fn check_value(&self, canonical: &str, arg: &str, value: &serde_json::Value) -> Option<String> {
        let _ = (canonical, arg, value);
        None
    }
    /// Every canonical module name, for "did you mean" suggestions.
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The modules etcdplay implements, with the arguments Ansible documents for them.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultCatalog;

const SELINUX: &[&str] = &[
    "seuser",
    "serole",
    "setype",
    "selevel",
    "unsafe_writes",
    "attributes",
    "attr",
];

/// (name, free-form, arguments). `None` arguments: anything goes (`set_fact`, etcdplay's own
/// checks whose arguments their implementation validates).
const MODULES: &[(&str, bool, Option<&[&str]>)] = &[
    (
        "command",
        true,
        Some(&[
            "_raw_params",
            "argv",
            "chdir",
            "cmd",
            "creates",
            "removes",
            "stdin",
            "stdin_add_newline",
            "strip_empty_ends",
            "expand_argument_vars",
        ]),
    ),
    (
        "shell",
        true,
        Some(&[
            "_raw_params",
            "chdir",
            "cmd",
            "creates",
            "removes",
            "executable",
            "stdin",
            "stdin_add_newline",
        ]),
    ),
    ("raw", true, Some(&["_raw_params", "executable"])),
    (
        "script",
        true,
        Some(&[
            "_raw_params",
            "cmd",
            "chdir",
            "creates",
            "removes",
            "executable",
            "decrypt",
        ]),
    ),
    (
        "copy",
        false,
        Some(&[
            "src",
            "dest",
            "content",
            "backup",
            "force",
            "mode",
            "owner",
            "group",
            "remote_src",
            "directory_mode",
            "follow",
            "local_follow",
            "validate",
            "checksum",
            "decrypt",
        ]),
    ),
    (
        "template",
        false,
        Some(&[
            "src",
            "dest",
            "backup",
            "force",
            "mode",
            "owner",
            "group",
            "follow",
            "validate",
            "newline_sequence",
            "block_start_string",
            "block_end_string",
            "variable_start_string",
            "variable_end_string",
            "comment_start_string",
            "comment_end_string",
            "trim_blocks",
            "lstrip_blocks",
            "output_encoding",
        ]),
    ),
    (
        "file",
        false,
        Some(&[
            "path",
            "dest",
            "name",
            "state",
            "mode",
            "owner",
            "group",
            "recurse",
            "src",
            "force",
            "follow",
            "access_time",
            "access_time_format",
            "modification_time",
            "modification_time_format",
        ]),
    ),
    (
        "lineinfile",
        false,
        Some(&[
            "path",
            "dest",
            "destfile",
            "name",
            "line",
            "value",
            "regexp",
            "regex",
            "search_string",
            "state",
            "insertafter",
            "insertbefore",
            "create",
            "backup",
            "backrefs",
            "firstmatch",
            "mode",
            "owner",
            "group",
            "validate",
        ]),
    ),
    (
        "blockinfile",
        false,
        Some(&[
            "path",
            "dest",
            "destfile",
            "name",
            "block",
            "content",
            "marker",
            "marker_begin",
            "marker_end",
            "state",
            "insertafter",
            "insertbefore",
            "create",
            "backup",
            "mode",
            "owner",
            "group",
            "validate",
            "append_newline",
            "prepend_newline",
        ]),
    ),
    (
        "stat",
        false,
        Some(&[
            "path",
            "dest",
            "name",
            "follow",
            "get_checksum",
            "checksum_algorithm",
            "checksum",
            "checksum_algo",
            "get_mime",
            "mime",
            "mime_type",
            "mime-type",
            "get_attributes",
            "attr",
            "attributes",
            "get_selinux_context",
        ]),
    ),
    ("slurp", false, Some(&["src", "path"])),
    (
        "fetch",
        false,
        Some(&[
            "src",
            "dest",
            "flat",
            "fail_on_missing",
            "validate_checksum",
        ]),
    ),
    (
        "get_url",
        false,
        Some(&[
            "url",
            "dest",
            "checksum",
            "mode",
            "owner",
            "group",
            "force",
            "timeout",
            "headers",
            "url_username",
            "username",
            "url_password",
            "password",
            "validate_certs",
            "use_proxy",
            "backup",
            "tmp_dest",
            "client_cert",
            "client_key",
            "http_agent",
            "force_basic_auth",
            "decompress",
            "ciphers",
            "use_gssapi",
            "use_netrc",
            "unredirected_headers",
        ]),
    ),
    (
        "unarchive",
        false,
        Some(&[
            "src",
            "dest",
            "remote_src",
            "copy",
            "creates",
            "extra_opts",
            "exclude",
            "include",
            "keep_newer",
            "list_files",
            "mode",
            "owner",
            "group",
            "validate_certs",
            "decrypt",
            "io_buffer_size",
        ]),
    ),
    (
        "systemd",
        false,
        Some(&[
            "name",
            "service",
            "unit",
            "state",
            "enabled",
            "daemon_reload",
            "daemon-reload",
            "daemon_reexec",
            "daemon-reexec",
            "force",
            "masked",
            "no_block",
            "scope",
        ]),
    ),
    (
        "service",
        false,
        Some(&[
            "name",
            "state",
            "enabled",
            "arguments",
            "args",
            "pattern",
            "runlevel",
            "sleep",
            "use",
        ]),
    ),
    (
        "user",
        false,
        Some(&[
            "name",
            "user",
            "state",
            "uid",
            "group",
            "groups",
            "append",
            "shell",
            "home",
            "create_home",
            "createhome",
            "system",
            "comment",
            "password",
            "update_password",
            "remove",
            "force",
            "move_home",
            "generate_ssh_key",
            "ssh_key_bits",
            "ssh_key_comment",
            "ssh_key_file",
            "ssh_key_passphrase",
            "ssh_key_type",
            "expires",
            "password_lock",
            "local",
            "non_unique",
            "skeleton",
            "hidden",
            "umask",
            "password_expire_max",
            "password_expire_min",
            "password_expire_warn",
        ]),
    ),
    (
        "group",
        false,
        Some(&[
            "name",
            "state",
            "gid",
            "system",
            "local",
            "non_unique",
            "force",
            "gid_min",
            "gid_max",
        ]),
    ),
    (
        "wait_for",
        false,
        Some(&[
            "host",
            "port",
            "path",
            "state",
            "timeout",
            "delay",
            "connect_timeout",
            "sleep",
            "search_regex",
            "regexp",
            "exclude_hosts",
            "active_connection_states",
            "msg",
        ]),
    ),
    (
        "setup",
        false,
        Some(&["gather_subset", "gather_timeout", "filter", "fact_path"]),
    ),
    ("set_fact", false, None),
    ("debug", false, Some(&["msg", "var", "verbosity"])),
    ("fail", false, Some(&["msg"])),
    (
        "assert",
        false,
        Some(&["that", "fail_msg", "msg", "success_msg", "quiet"]),
    ),
    ("meta", true, Some(&["_raw_params"])),
    (
        "pause",
        false,
        Some(&["minutes", "seconds", "prompt", "echo"]),
    ),
    ("include_vars", true, Some(crate::action::INCLUDE_VARS_ARGS)),
    ("data_dir_scheme_check", false, None),
    ("etcd_health", false, None),
];

/// Modules that also exist under a second name.
const ALIASES: &[(&str, &str)] = &[("systemd_service", "systemd")];

/// Modules whose files (or owner/mode) may carry SELinux and attribute arguments.
const FILE_LIKE: &[&str] = &[
    "copy",
    "template",
    "file",
    "lineinfile",
    "blockinfile",
    "get_url",
    "unarchive",
];

impl ModuleCatalog for DefaultCatalog {
    fn canonical(&self, name: &str) -> Option<String> {
        let short = name
            .strip_prefix("ansible.builtin.")
            .or_else(|| name.strip_prefix("ansible.legacy."))
            .unwrap_or(name);
        let short = ALIASES
            .iter()
            .find(|(a, _)| *a == short)
            .map_or(short, |(_, c)| *c);
        MODULES
            .iter()
            .find(|(n, _, _)| *n == short)
            .map(|(n, _, _)| (*n).to_string())
    }

    fn arg_names(&self, canonical: &str) -> Option<Vec<&'static str>> {
        let (_, _, args) = MODULES.iter().find(|(n, _, _)| *n == canonical)?;
        let mut names: Vec<&'static str> = (*args)?.to_vec();
        if FILE_LIKE.contains(&canonical) {
            names.extend_from_slice(SELINUX);
        }
        Some(names)
    }

    fn free_form(&self, canonical: &str) -> bool {
        MODULES.iter().any(|(n, free, _)| *n == canonical && *free)
    }

    fn names(&self) -> Vec<String> {
        MODULES
            .iter()
            .map(|(n, _, _)| (*n).to_string())
            .chain(ALIASES.iter().map(|(a, _)| (*a).to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_strips_collections_and_aliases() {
        let c = DefaultCatalog;
        assert_eq!(c.canonical("ansible.builtin.copy").as_deref(), Some("copy"));
        assert_eq!(
            c.canonical("ansible.legacy.shell").as_deref(),
            Some("shell")
        );
        assert_eq!(c.canonical("systemd_service").as_deref(), Some("systemd"));
        assert_eq!(
            c.canonical("ansible.builtin.systemd_service").as_deref(),
            Some("systemd")
        );
        assert_eq!(c.canonical("copyy"), None);
        assert_eq!(c.canonical("community.general.copy"), None);
    }

    #[test]
    fn arguments_and_free_form() {
        let c = DefaultCatalog;
        assert!(c.free_form("shell") && c.free_form("command") && !c.free_form("copy"));
        let copy = c.arg_names("copy").unwrap_or_default();
        assert!(copy.contains(&"dest") && copy.contains(&"seuser") && !copy.contains(&"dset"));
        assert!(c.arg_names("set_fact").is_none());
        assert!(c.arg_names("nonexistent").is_none());
        assert!(c.names().iter().any(|n| n == "systemd_service"));
    }
}
