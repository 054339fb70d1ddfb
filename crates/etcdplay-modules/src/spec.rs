//! Module arguments: the spec of each module's arguments (names, aliases, types, required), and
//! the checks made with it before any host is touched: unknown arguments with a suggestion,
//! missing ones, values of the wrong type or outside `state:`'s choices. Which modules exist is
//! the registry's ([`crate::registry`]).

use serde_json::{Map, Value};

use crate::registry::{canonical_name, module_arg_spec, suggest_module};
use crate::ModuleError;

/// The type an argument's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    Str,
    Path,
    Bool,
    Int,
    /// A list, or a comma-separated string.
    List,
    /// A list of paths (Ansible's `elements='path'`: a leading `~` of each is expanded).
    PathList,
    Dict,
    /// File mode: octal string, integer, or symbolic (`u+rwx,g-w`).
    Mode,
    /// Anything (free-form text, `content:` that may be a dict to serialise...).
    Raw,
}

/// One argument a module accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgSpec {
    pub name: &'static str,
    pub kind: ArgType,
    pub required: bool,
    pub aliases: &'static [&'static str],
}

/// An [`ArgSpec`] entry with this name means "any other argument is accepted" (`set_fact`).
pub const ANY_ARG: &str = "*";

/// An optional argument without aliases (modules that keep their spec beside their code use
/// it too).
pub(crate) const fn optional(name: &'static str, kind: ArgType) -> ArgSpec {
    ArgSpec {
        name,
        kind,
        required: false,
        aliases: &[],
    }
}
// The tables below are long: their entries keep the one-letter names.
use optional as a;

const fn r(name: &'static str, kind: ArgType) -> ArgSpec {
    ArgSpec {
        name,
        kind,
        required: true,
        aliases: &[],
    }
}
const fn al(name: &'static str, kind: ArgType, aliases: &'static [&'static str]) -> ArgSpec {
    ArgSpec {
        name,
        kind,
        required: false,
        aliases,
    }
}
const fn ral(name: &'static str, kind: ArgType, aliases: &'static [&'static str]) -> ArgSpec {
    ArgSpec {
        name,
        kind,
        required: true,
        aliases,
    }
}

use ArgType::*;

const FREE_FORM: ArgSpec = al("_raw_params", Raw, &["free_form"]);
const MODE: ArgSpec = a("mode", Mode);
const OWNER: ArgSpec = a("owner", Str);
const GROUP: ArgSpec = a("group", Str);
// SELinux context parts (see `selinux.rs`) and `unsafe_writes` (a fallback for writes that
// cannot be atomic; etcdplay's writes always are), Ansible's common file arguments.
const SEUSER: ArgSpec = a("seuser", Str);
const SEROLE: ArgSpec = a("serole", Str);
const SETYPE: ArgSpec = a("setype", Str);
const SELEVEL: ArgSpec = a("selevel", Str);
const UNSAFE_WRITES: ArgSpec = a("unsafe_writes", Bool);

pub(crate) const COMMAND: &[ArgSpec] = &[
    FREE_FORM,
    a("cmd", Str),
    a("argv", List),
    a("creates", Path),
    a("removes", Path),
    a("chdir", Path),
    a("stdin", Str),
    a("stdin_add_newline", Bool),
    a("strip_empty_ends", Bool),
    a("expand_argument_vars", Bool),
    a("executable", Path),
];
pub(crate) const SHELL: &[ArgSpec] = &[
    FREE_FORM,
    a("cmd", Str),
    a("creates", Path),
    a("removes", Path),
    a("chdir", Path),
    a("stdin", Str),
    a("stdin_add_newline", Bool),
    a("strip_empty_ends", Bool),
    a("executable", Path),
    // Accepted so that the task reaches the host: Ansible's shell action refuses it there
    // (a task failure, which `ignore_errors` and `register` see).
    a("expand_argument_vars", Bool),
];
pub(crate) const COPY: &[ArgSpec] = &[
    a("src", Path),
    a("content", Raw),
    // Required, but checked when the task runs with the copy action's message ("dest is
    // required"), as Ansible's action checks it before its module's argument spec.
    a("dest", Path),
    a("remote_src", Bool),
    a("decrypt", Bool),
    MODE,
    SEUSER,
    SEROLE,
    SETYPE,
    SELEVEL,
    UNSAFE_WRITES,
    OWNER,
    GROUP,
    a("backup", Bool),
    a("force", Bool),
    a("follow", Bool),
    a("validate", Str),
    a("directory_mode", Mode),
    a("local_follow", Bool),
    // Refused when the task runs, with Ansible's message (its copy action does so).
    a("_original_basename", Str),
    a("_diff_peek", Bool),
];
pub(crate) const TEMPLATE: &[ArgSpec] = &[
    r("src", Path),
    r("dest", Path),
    MODE,
    SEUSER,
    SEROLE,
    SETYPE,
    SELEVEL,
    UNSAFE_WRITES,
    OWNER,
    GROUP,
    a("backup", Bool),
    a("force", Bool),
    a("follow", Bool),
    a("trim_blocks", Bool),
    a("lstrip_blocks", Bool),
    a("newline_sequence", Str),
    a("block_start_string", Str),
    a("block_end_string", Str),
    a("variable_start_string", Str),
    a("variable_end_string", Str),
    a("comment_start_string", Str),
    a("comment_end_string", Str),
    a("output_encoding", Str),
    a("validate", Str),
];
pub(crate) const FILE: &[ArgSpec] = &[
    ral("path", Path, &["dest", "name"]),
    a("state", Str),
    a("src", Path),
    MODE,
    SEUSER,
    SEROLE,
    SETYPE,
    SELEVEL,
    UNSAFE_WRITES,
    OWNER,
    GROUP,
    a("recurse", Bool),
    a("force", Bool),
    a("follow", Bool),
    a("modification_time", Str),
    a("modification_time_format", Str),
    a("access_time", Str),
    a("access_time_format", Str),
    al("attributes", Str, &["attr"]),
    // Internal to Ansible's diff machinery, but tasks (its own tests) call it.
    a("_diff_peek", Bool),
];
pub(crate) const LINEINFILE: &[ArgSpec] = &[
    ral("path", Path, &["dest", "destfile", "name"]),
    al("regexp", Str, &["regex"]),
    a("search_string", Str),
    al("line", Str, &["value"]),
    a("state", Str),
    a("insertafter", Str),
    a("insertbefore", Str),
    a("create", Bool),
    a("backrefs", Bool),
    a("backup", Bool),
    a("firstmatch", Bool),
    MODE,
    SEUSER,
    SEROLE,
    SETYPE,
    SELEVEL,
    UNSAFE_WRITES,
    OWNER,
    GROUP,
    a("validate", Str),
];
pub(crate) const BLOCKINFILE: &[ArgSpec] = &[
    ral("path", Path, &["dest", "destfile", "name"]),
    al("block", Str, &["content"]),
    a("marker", Str),
    a("marker_begin", Str),
    a("marker_end", Str),
    a("insertafter", Str),
    a("insertbefore", Str),
    a("state", Str),
    a("create", Bool),
    a("backup", Bool),
    a("append_newline", Bool),
    a("prepend_newline", Bool),
    MODE,
    SEUSER,
    SEROLE,
    SETYPE,
    SELEVEL,
    UNSAFE_WRITES,
    OWNER,
    GROUP,
    a("validate", Str),
];
pub(crate) const STAT: &[ArgSpec] = &[
    ral("path", Path, &["dest", "name"]),
    a("follow", Bool),
    a("get_checksum", Bool),
    al("checksum_algorithm", Str, &["checksum", "checksum_algo"]),
    a("get_mime", Bool),
    a("get_attributes", Bool),
];
pub(crate) const SLURP: &[ArgSpec] = &[ral("src", Path, &["path"])];
pub(crate) const FETCH: &[ArgSpec] = &[
    r("src", Path),
    r("dest", Path),
    a("flat", Bool),
    a("fail_on_missing", Bool),
    a("validate_checksum", Bool),
];
pub(crate) const GET_URL: &[ArgSpec] = &[
    r("url", Str),
    r("dest", Path),
    a("checksum", Str),
    MODE,
    SEUSER,
    SEROLE,
    SETYPE,
    SELEVEL,
    UNSAFE_WRITES,
    OWNER,
    GROUP,
    a("force", Bool),
    a("timeout", Int),
    a("validate_certs", Bool),
    a("headers", Dict),
    al("url_username", Str, &["username"]),
    al("url_password", Str, &["password"]),
    a("force_basic_auth", Bool),
];
pub(crate) const UNARCHIVE: &[ArgSpec] = &[
    r("src", Path),
    r("dest", Path),
    a("remote_src", Bool),
    a("creates", Path),
    OWNER,
    GROUP,
    a("extra_opts", List),
    a("include", List),
    a("exclude", List),
    a("list_files", Bool),
    a("keep_newer", Bool),
    MODE,
    SEUSER,
    SEROLE,
    SETYPE,
    SELEVEL,
    UNSAFE_WRITES,
];
pub(crate) const SYSTEMD: &[ArgSpec] = &[
    al("name", Str, &["service", "unit"]),
    a("state", Str),
    a("enabled", Bool),
    a("masked", Bool),
    al("daemon_reload", Bool, &["daemon-reload"]),
    al("daemon_reexec", Bool, &["daemon-reexec"]),
    a("scope", Str),
    a("no_block", Bool),
    a("force", Bool),
];
pub(crate) const SERVICE: &[ArgSpec] = &[
    r("name", Str),
    a("state", Str),
    a("enabled", Bool),
    a("sleep", Int),
    a("use", Str),
    // Ansible's service action hands a systemd host's task to the systemd module: these
    // reach it, and the sysvinit-only ones below are dropped (with a warning).
    a("daemon_reload", Bool),
    a("daemon_reexec", Bool),
    a("pattern", Str),
    a("runlevel", Str),
    al("arguments", Str, &["args"]),
];
pub(crate) const USER: &[ArgSpec] = &[
    ral("name", Str, &["user"]),
    a("uid", Int),
    a("group", Str),
    a("groups", List),
    a("append", Bool),
    a("shell", Path),
    a("home", Path),
    a("system", Bool),
    al("create_home", Bool, &["createhome"]),
    a("state", Str),
    a("comment", Str),
    a("remove", Bool),
    a("force", Bool),
    a("password", Str),
    a("update_password", Str),
    a("password_lock", Bool),
    a("expires", Raw),
    a("uid_min", Int),
    a("uid_max", Int),
    a("skeleton", Path),
    a("umask", Str),
    a("generate_ssh_key", Bool),
    a("ssh_key_bits", Int),
    a("ssh_key_type", Str),
    a("ssh_key_file", Path),
    a("ssh_key_comment", Str),
    a("ssh_key_passphrase", Str),
    a("password_expire_min", Int),
    a("password_expire_max", Int),
    a("password_expire_warn", Int),
    a("password_expire_account_disable", Int),
];
pub(crate) const GROUP_MOD: &[ArgSpec] = &[
    r("name", Str),
    a("gid", Int),
    a("system", Bool),
    a("state", Str),
    a("local", Bool),
    a("non_unique", Bool),
    a("force", Bool),
    a("gid_min", Int),
    a("gid_max", Int),
];
pub(crate) const WAIT_FOR: &[ArgSpec] = &[
    a("host", Str),
    a("port", Int),
    a("path", Path),
    a("state", Str),
    a("delay", Int),
    a("timeout", Int),
    a("sleep", Int),
    al("search_regex", Str, &[]),
    a("connect_timeout", Int),
    a("msg", Str),
];
pub(crate) const SETUP: &[ArgSpec] = &[
    a("gather_subset", List),
    a("gather_timeout", Int),
    a("filter", List),
    a("fact_path", Path),
];
pub(crate) const APT: &[ArgSpec] = &[
    al("name", List, &["package", "pkg"]),
    a("state", Str),
    a("update_cache", Bool),
    a("cache_valid_time", Int),
    a("deb", Path),
    a("purge", Bool),
    a("autoremove", Bool),
    a("install_recommends", Bool),
    a("dpkg_options", Str),
    a("upgrade", Str),
    a("force", Bool),
    a("allow_unauthenticated", Bool),
    a("lock_timeout", Int),
    al(
        "allow_downgrade",
        Bool,
        &["allow-downgrade", "allow_downgrades", "allow-downgrades"],
    ),
    a("allow_change_held_packages", Bool),
    al("default_release", Str, &["default-release"]),
    a("fail_on_autoremove", Bool),
    a("only_upgrade", Bool),
    a("policy_rc_d", Int),
    a("clean", Bool),
    a("autoclean", Bool),
    // apt-get is what etcdplay always runs, and it needs no python3-apt on the host.
    a("force_apt_get", Bool),
    a("auto_install_module_deps", Bool),
];
pub(crate) const PING: &[ArgSpec] = &[a("data", Str)];
pub(crate) const ASYNC_STATUS: &[ArgSpec] = &[r("jid", Str), a("mode", Str), a("_async_dir", Str)];
pub(crate) const RAW: &[ArgSpec] = &[FREE_FORM, a("executable", Path)];
pub(crate) const TEMPFILE: &[ArgSpec] = &[
    a("state", Str),
    a("path", Path),
    a("prefix", Str),
    a("suffix", Str),
];
pub(crate) const GETENT: &[ArgSpec] = &[
    r("database", Str),
    a("key", Str),
    a("split", Str),
    a("fail_key", Bool),
    a("service", Str),
];
pub(crate) const SYSCTL: &[ArgSpec] = &[
    ral("name", Str, &["key"]),
    al("value", Str, &["val"]),
    a("state", Str),
    a("sysctl_file", Path),
    a("sysctl_set", Bool),
    a("reload", Bool),
    a("ignoreerrors", Bool),
];
pub(crate) const REPLACE: &[ArgSpec] = &[
    ral("path", Path, &["dest", "destfile", "name"]),
    r("regexp", Str),
    a("replace", Str),
    a("after", Str),
    a("before", Str),
    a("backup", Bool),
    a("encoding", Str),
    MODE,
    SEUSER,
    SEROLE,
    SETYPE,
    SELEVEL,
    UNSAFE_WRITES,
    OWNER,
    GROUP,
];
pub(crate) const INI_FILE: &[ArgSpec] = &[
    ral("path", Path, &["dest"]),
    a("section", Str),
    a("option", Str),
    a("value", Str),
    a("state", Str),
    a("no_extra_spaces", Bool),
    a("allow_no_value", Bool),
    a("create", Bool),
    a("backup", Bool),
    MODE,
    SEUSER,
    SEROLE,
    SETYPE,
    SELEVEL,
    UNSAFE_WRITES,
    OWNER,
    GROUP,
];
pub(crate) const URI: &[ArgSpec] = &[
    r("url", Str),
    a("method", Str),
    a("body", Raw),
    a("body_format", Str),
    a("headers", Dict),
    a("status_code", Raw),
    a("return_content", Bool),
    a("timeout", Int),
    a("validate_certs", Bool),
    a("follow_redirects", Str),
    al("url_username", Str, &["user"]),
    al("url_password", Str, &["password"]),
    a("force_basic_auth", Bool),
];
pub(crate) const PACKAGE: &[ArgSpec] = &[r("name", List), a("state", Str), a("use", Str)];
// Package management (#16): dnf/yum and the repository and key modules.
pub(crate) const DNF: &[ArgSpec] = &[
    al("name", List, &["pkg"]),
    a("state", Str),
    a("allow_downgrade", Bool),
    a("allowerasing", Bool),
    a("autoremove", Bool),
    a("best", Bool),
    a("nobest", Bool),
    a("bugfix", Bool),
    a("security", Bool),
    a("cacheonly", Bool),
    a("conf_file", Str),
    a("disable_excludes", Str),
    a("disable_gpg_check", Bool),
    a("disable_plugin", List),
    a("enable_plugin", List),
    a("disablerepo", List),
    a("enablerepo", List),
    a("download_only", Bool),
    a("download_dir", Str),
    a("exclude", List),
    a("installroot", Str),
    a("install_repoquery", Bool),
    a("install_weak_deps", Bool),
    a("list", Str),
    a("releasever", Str),
    a("skip_broken", Bool),
    al("update_cache", Bool, &["expire-cache"]),
    a("update_only", Bool),
    a("validate_certs", Bool),
    a("sslverify", Bool),
    a("lock_timeout", Int),
    a("use_backend", Str),
    // The dnf action's own argument, the backend to hand the work to (as `use_backend`).
    a("use", Str),
];
pub(crate) const APT_REPOSITORY: &[ArgSpec] = &[
    r("repo", Str),
    a("state", Str),
    MODE,
    al("update_cache", Bool, &["update-cache"]),
    a("update_cache_retries", Int),
    a("update_cache_retry_max_delay", Int),
    a("filename", Str),
    a("install_python_apt", Bool),
    a("validate_certs", Bool),
    a("codename", Str),
];
pub(crate) const YUM_REPOSITORY: &[ArgSpec] = &[
    r("name", Str),
    a("state", Str),
    a("reposdir", Path),
    a("baseurl", List),
    a("gpgkey", List),
    al("exclude", List, &["excludepkgs"]),
    a("includepkgs", List),
    al("sslcacert", Str, &["ca_cert"]),
    al("sslclientcert", Str, &["client_cert"]),
    al("sslclientkey", Str, &["client_key"]),
    al("sslverify", Bool, &["validate_certs"]),
    a("bandwidth", Str),
    a("cost", Str),
    a("deltarpm_metadata_percentage", Str),
    a("deltarpm_percentage", Str),
    a("description", Str),
    a("failovermethod", Str),
    a("file", Str),
    a("gpgcakey", Str),
    a("http_caching", Str),
    a("include", Str),
    a("ip_resolve", Str),
    a("keepcache", Str),
    a("metadata_expire", Str),
    a("metadata_expire_filter", Str),
    a("metalink", Str),
    a("mirrorlist", Str),
    a("mirrorlist_expire", Str),
    a("password", Str),
    a("priority", Str),
    a("proxy", Str),
    a("proxy_password", Str),
    a("proxy_username", Str),
    a("retries", Str),
    a("throttle", Str),
    a("timeout", Str),
    a("ui_repoid_vars", Str),
    a("username", Str),
    a("async", Bool),
    a("countme", Bool),
    a("enabled", Bool),
    a("enablegroups", Bool),
    a("gpgcheck", Bool),
    a("keepalive", Bool),
    a("module_hotfixes", Bool),
    a("protect", Bool),
    a("repo_gpgcheck", Bool),
    a("s3_enabled", Bool),
    a("skip_if_unavailable", Bool),
    a("ssl_check_cert_permissions", Bool),
    MODE,
    OWNER,
    GROUP,
];
// Modules of issue #16 item 3 (script, find, inventory changes, system settings).
pub(crate) const SCRIPT: &[ArgSpec] = &[
    FREE_FORM,
    a("cmd", Str),
    a("creates", Path),
    a("removes", Path),
    a("chdir", Path),
    a("executable", Str),
    a("decrypt", Bool),
];
pub(crate) const FIND: &[ArgSpec] = &[
    ral("paths", PathList, &["name", "path"]),
    al("patterns", List, &["pattern"]),
    al("excludes", List, &["exclude"]),
    a("contains", Str),
    a("read_whole_file", Bool),
    a("file_type", Str),
    a("age", Str),
    a("age_stamp", Str),
    a("size", Str),
    a("recurse", Bool),
    a("hidden", Bool),
    a("follow", Bool),
    a("get_checksum", Bool),
    al("checksum_algorithm", Str, &["checksum", "checksum_algo"]),
    a("use_regex", Bool),
    a("depth", Int),
    a("mode", Raw),
    a("exact_mode", Bool),
    a("encoding", Str),
    a("limit", Int),
];
pub(crate) const GROUP_BY: &[ArgSpec] = &[r("key", Str), a("parents", List)];
pub(crate) const ADD_HOST: &[ArgSpec] = &[
    ral("name", Str, &["host", "hostname"]),
    al("groups", List, &["group", "groupname"]),
    a(ANY_ARG, Raw),
];
pub(crate) const CRON: &[ArgSpec] = &[
    r("name", Str),
    a("user", Str),
    al("job", Str, &["value"]),
    a("cron_file", Path),
    a("state", Str),
    a("backup", Bool),
    a("minute", Str),
    a("hour", Str),
    al("day", Str, &["dom"]),
    a("month", Str),
    al("weekday", Str, &["dow"]),
    a("special_time", Str),
    a("disabled", Bool),
    a("env", Bool),
    a("insertafter", Str),
    a("insertbefore", Str),
];
pub(crate) const AUTHORIZED_KEY: &[ArgSpec] = &[
    r("user", Str),
    r("key", Str),
    a("path", Path),
    a("manage_dir", Bool),
    a("state", Str),
    a("key_options", Str),
    a("exclusive", Bool),
    a("comment", Str),
    a("validate_certs", Bool),
    a("follow", Bool),
];
pub(crate) const ASSEMBLE: &[ArgSpec] = &[
    r("src", Path),
    r("dest", Path),
    a("backup", Bool),
    a("delimiter", Str),
    a("remote_src", Bool),
    a("regexp", Str),
    a("ignore_hidden", Bool),
    a("validate", Str),
    a("decrypt", Bool),
    MODE,
    OWNER,
    GROUP,
];
pub(crate) const DEB822_REPOSITORY: &[ArgSpec] = &[
    r("name", Str),
    a("state", Str),
    MODE,
    a("allow_downgrade_to_insecure", Bool),
    a("allow_insecure", Bool),
    a("allow_weak", Bool),
    a("architectures", List),
    a("by_hash", Bool),
    a("check_date", Bool),
    a("check_valid_until", Bool),
    a("components", List),
    a("date_max_future", Int),
    a("enabled", Bool),
    a("inrelease_path", Str),
    a("languages", List),
    a("pdiffs", Bool),
    a("signed_by", Str),
    a("suites", List),
    a("targets", List),
    a("trusted", Bool),
    a("types", List),
    a("uris", List),
];
pub(crate) const HOSTNAME: &[ArgSpec] = &[r("name", Str), a("use", Str)];
pub(crate) const TIMEZONE: &[ArgSpec] = &[a("name", Str), al("hwclock", Str, &["rtc"])];
pub(crate) const KNOWN_HOSTS: &[ArgSpec] = &[
    ral("name", Str, &["host"]),
    a("key", Str),
    a("path", Path),
    a("hash_host", Bool),
    a("state", Str),
];
pub(crate) const MODPROBE: &[ArgSpec] = &[
    r("name", Str),
    a("state", Str),
    a("params", Str),
    a("persistent", Str),
];
pub(crate) const MOUNT: &[ArgSpec] = &[
    ral("path", Path, &["name"]),
    a("src", Path),
    al("fstype", Str, &["type"]),
    a("opts", Str),
    a("dump", Str),
    a("passno", Str),
    r("state", Str),
    a("fstab", Str),
    a("boot", Bool),
    a("backup", Bool),
    a("opts_no_log", Bool),
];
pub(crate) const LOCALE_GEN: &[ArgSpec] = &[r("name", List), a("state", Str)];
// Engine-level modules: executed by the engine, listed here so the parser can check them.
pub(crate) const SET_FACT: &[ArgSpec] = &[a("cacheable", Bool), a(ANY_ARG, Raw)];
pub(crate) const DEBUG: &[ArgSpec] = &[a("msg", Raw), a("var", Str), a("verbosity", Int)];
pub(crate) const FAIL: &[ArgSpec] = &[a("msg", Raw)];
pub(crate) const ASSERT: &[ArgSpec] = &[
    // Any value: a list, or one conditional (a string or a boolean).
    r("that", Raw),
    al("fail_msg", Raw, &["msg"]),
    a("success_msg", Raw),
    a("quiet", Bool),
];
pub(crate) const META: &[ArgSpec] = &[FREE_FORM];
// etcd actions the engine runs (they need the control node's network or several hosts).
pub(crate) const ETCD_PKI: &[ArgSpec] = &[r("dir", Path), r("hosts", List), a("rotate", Bool)];
pub(crate) const ETCD_BACKUP_COLLECT: &[ArgSpec] =
    &[r("dir", Path), r("dest", Path), a("keep", Int)];
pub(crate) const ETCD_CA_ROTATION: &[ArgSpec] = &[
    r("phase", Str),
    r("dir", Path),
    a("hosts", List),
    r("endpoints", List),
    a("timeout", Int),
];
pub(crate) const ETCD_HEALTH: &[ArgSpec] = &[
    r("endpoints", List),
    a("ca", Path),
    a("cert", Path),
    a("key", Path),
    a("timeout", Int),
];
pub(crate) const ETCD_MEMBER_RESTART: &[ArgSpec] = &[
    a("service", Str),
    r("endpoints", List),
    a("endpoint", Str),
    a("ca", Path),
    a("cert", Path),
    a("key", Path),
    a("timeout", Int),
];
pub(crate) const ETCD_MEMBER_JOIN: &[ArgSpec] = &[
    a("phase", Str),
    r("endpoints", List),
    r("endpoint", Str),
    r("peer_urls", List),
    a("data_dir", Path),
    a("ca", Path),
    a("cert", Path),
    a("key", Path),
    a("timeout", Int),
];
pub(crate) const ETCD_MEMBER_REMOVE: &[ArgSpec] = &[
    a("endpoints", List),
    r("endpoint", Str),
    r("peer_urls", List),
    r("data_dir", Path),
    a("wal_dir", Path),
    a("service", Str),
    a("ca", Path),
    a("cert", Path),
    a("key", Path),
    a("timeout", Int),
];
pub(crate) const ETCD_BACKUP_SOURCE: &[ArgSpec] = &[
    r("endpoints", List),
    r("hosts", List),
    a("ca", Path),
    a("cert", Path),
    a("key", Path),
];
pub(crate) const ETCD_BACKUP: &[ArgSpec] = &[
    r("dest", Path),
    a("keep", Int),
    r("endpoint", Str),
    a("service", Str),
    a("pki_dir", Path),
    a("cluster_id", Str),
    a("member_id", Str),
    a("member", Str),
    a("etcd_version", Str),
];
pub(crate) const ETCD_RESTORE_CHECK: &[ArgSpec] = &[
    a("phase", Str),
    a("snapshot", Path),
    a("force", Bool),
    a("revision", Int),
    r("endpoints", List),
    a("ca", Path),
    a("cert", Path),
    a("key", Path),
    a("timeout", Int),
];
pub(crate) const ETCD_RESTORE: &[ArgSpec] = &[
    a("phase", Str),
    r("snapshot", Path),
    r("sha256", Str),
    a("revision", Int),
    a("service", Str),
    r("name", Str),
    r("initial_cluster", Str),
    r("token", Str),
    r("peer_urls", List),
    r("data_dir", Path),
    a("wal_dir", Path),
];
pub(crate) const ETCD_DEFRAG: &[ArgSpec] = &[
    r("endpoints", List),
    a("threshold", Str),
    a("ca", Path),
    a("cert", Path),
    a("key", Path),
    a("timeout", Int),
];
pub(crate) const ETCD_UPGRADE: &[ArgSpec] = &[
    a("phase", Str),
    a("bin", Path),
    a("version", Str),
    a("data_dir", Path),
    a("installed", Path),
    a("endpoints", List),
    a("ca", Path),
    a("cert", Path),
    a("key", Path),
    a("timeout", Int),
];
pub(crate) const DATA_DIR_SCHEME_CHECK: &[ArgSpec] = &[
    r("data_dir", Path),
    a("wal_dir", Path),
    a("peer_urls", List),
    a("scheme", Str),
    a("mode", Str),
];
pub(crate) const PAUSE: &[ArgSpec] = &[
    a("seconds", Int),
    a("minutes", Int),
    a("prompt", Str),
    a("echo", Bool),
];
pub(crate) const INCLUDE_VARS: &[ArgSpec] = &[
    FREE_FORM,
    a("file", Path),
    a("dir", Path),
    a("name", Str),
    a("files_matching", Str),
    a("ignore_files", List),
    a("depth", Int),
    a("extensions", List),
    a("ignore_unknown_extensions", Bool),
    a("hash_behaviour", Str),
];
pub(crate) const INCLUDE_TASKS: &[ArgSpec] = &[FREE_FORM, a("file", Path), a("apply", Dict)];
pub(crate) const INCLUDE_ROLE: &[ArgSpec] = &[
    r("name", Str),
    a("tasks_from", Str),
    a("vars_from", Str),
    a("defaults_from", Str),
    a("handlers_from", Str),
    a("public", Bool),
    a("apply", Dict),
    a("allow_duplicates", Bool),
];

/// Checks `args` against the module's spec and reports every problem (unknown argument with a
/// suggestion, missing required argument, a value of the wrong type).
pub fn validate_args(name: &str, args: &Map<String, Value>) -> Vec<ModuleError> {
    let Some(module) = canonical_name(name) else {
        return vec![ModuleError::UnknownModule {
            name: name.to_string(),
            suggestion: suggest_module(name).map(String::from),
        }];
    };
    let spec = module_arg_spec(module);
    let any = spec.iter().any(|s| s.name == ANY_ARG);
    let mut errors = Vec::new();
    for (key, value) in args {
        match find_arg(spec, key) {
            Some(s) => {
                if let Err(message) = check_module_type(module, s, value) {
                    errors.push(ModuleError::bad(module, key, message));
                }
            }
            None if any => {}
            None => {
                let names = spec
                    .iter()
                    .filter(|s| s.name != ANY_ARG)
                    .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()));
                errors.push(ModuleError::UnknownArgument {
                    module: module.to_string(),
                    arg: key.clone(),
                    suggestion: closest(key, names).map(String::from),
                });
            }
        }
    }
    for s in spec.iter().filter(|s| s.required) {
        if !args
            .keys()
            .any(|k| k == s.name || s.aliases.contains(&k.as_str()))
        {
            errors.push(ModuleError::missing(module, s.name));
        }
    }
    errors
}

pub(crate) fn find_arg<'s>(spec: &'s [ArgSpec], key: &str) -> Option<&'s ArgSpec> {
    spec.iter()
        .find(|s| s.name != ANY_ARG && (s.name == key || s.aliases.contains(&key)))
}

/// The values `state:` may take, per module, as Ansible documents them.
const STATE_CHOICES: &[(&str, &[&str])] = &[
    (
        "file",
        &["absent", "directory", "file", "hard", "link", "touch"],
    ),
    ("systemd", &["reloaded", "restarted", "started", "stopped"]),
    ("service", &["reloaded", "restarted", "started", "stopped"]),
    ("lineinfile", &["absent", "present"]),
    ("cron", &["absent", "present"]),
    ("authorized_key", &["absent", "present"]),
    ("known_hosts", &["absent", "present"]),
    ("modprobe", &["absent", "present"]),
    ("locale_gen", &["absent", "present"]),
    (
        "mount",
        &[
            "absent",
            "absent_from_fstab",
            "mounted",
            "present",
            "unmounted",
            "remounted",
            "ephemeral",
        ],
    ),
    ("blockinfile", &["absent", "present"]),
    ("user", &["absent", "present"]),
    ("group", &["absent", "present"]),
    (
        "apt",
        &[
            "absent",
            "build-dep",
            "latest",
            "present",
            "fixed",
            "installed",
            "removed",
        ],
    ),
    (
        "package",
        &["absent", "installed", "latest", "present", "removed"],
    ),
    (
        "wait_for",
        &["absent", "drained", "present", "started", "stopped"],
    ),
];

/// Checks one literal argument value (no template in it) before any host is touched: its type,
/// and for `state:` the documented choices. `None` when the value is acceptable or unknown.
pub fn check_arg_value(module: &str, arg: &str, value: &Value) -> Option<String> {
    let module = canonical_name(module)?;
    let spec = find_arg(module_arg_spec(module), arg)?;
    if let Err(message) = check_module_type(module, spec, value) {
        return Some(message);
    }
    if spec.name == "state" {
        let choices = STATE_CHOICES.iter().find(|(m, _)| *m == module)?.1;
        let given = value.as_str()?;
        if !choices.contains(&given) {
            return Some(format!(
                "value of state must be one of: {}, got: {given}",
                choices.join(", ")
            ));
        }
    }
    None
}

/// [`check_type`], with what one module accepts beyond its type: `mode: preserve` (the
/// source's mode) for copy and template.
fn check_module_type(module: &str, spec: &ArgSpec, value: &Value) -> Result<(), String> {
    let preserve = spec.kind == Mode && value.as_str() == Some("preserve");
    if preserve && matches!(module, "copy" | "template") {
        return Ok(());
    }
    check_type(spec.kind, value)
}

fn check_type(kind: ArgType, value: &Value) -> Result<(), String> {
    match (kind, value) {
        (_, Value::Null) | (Raw, _) => Ok(()),
        (Bool, v) => crate::args::to_bool(v)
            .map(|_| ())
            .ok_or_else(|| format!("expected a boolean, got {v}")),
        (Int, Value::Number(_)) => Ok(()),
        (Int, Value::String(s)) if s.trim().parse::<i64>().is_ok() => Ok(()),
        (Int, v) => Err(format!("expected an integer, got {v}")),
        (List | PathList, Value::Array(_) | Value::String(_) | Value::Number(_)) => Ok(()),
        (List | PathList, v) => Err(format!("expected a list, got {v}")),
        (Dict, Value::Object(_)) => Ok(()),
        (Dict, v) => Err(format!("expected a mapping, got {v}")),
        (Mode, v) => crate::mode::ModeSpec::from_value(v).map(|_| ()),
        // Ansible converts anything to text for these (`str()` of a mapping or list).
        (Str | Path, _) => Ok(()),
    }
}

/// The candidate nearest to `word` by edit distance, if it is close enough to be a typo.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl Iterator<Item = &'c str>,
) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_argument_gets_a_suggestion() {
        let args = json!({"src": "a", "destt": "/b"});
        let errs = validate_args("template", args.as_object().unwrap());
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            text.contains(
                &"unknown argument 'destt' for module template, did you mean 'dest'?".to_string()
            ),
            "{text:?}"
        );
        assert!(
            text.contains(&"module template: missing required argument 'dest'".to_string()),
            "{text:?}"
        );
    }

    #[test]
    fn aliases_types_and_free_keys() {
        let ok = json!({"name": "/x", "state": "directory", "mode": "u+rwx,g-w"});
        assert!(validate_args("file", ok.as_object().unwrap()).is_empty());
        let bad = json!({"path": "/x", "mode": "u+q", "recurse": "maybe"});
        assert_eq!(validate_args("file", bad.as_object().unwrap()).len(), 2);
        let facts = json!({"anything": 1, "cacheable": true});
        assert!(validate_args("set_fact", facts.as_object().unwrap()).is_empty());
    }
}
