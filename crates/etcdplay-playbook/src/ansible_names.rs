//! Module names Ansible knows without etcdplay running them: the modules and actions of
//! ansible-core 2.19's `ansible.builtin` collection, and any module of another collection named
//! in full (`community.general.x`), which Ansible resolves when that collection is installed.
//! A task using one is not a typo: like a task whose argument a module refuses, it fails when
//! it runs (it may never run: a branch for another distribution), and is a warning until then.
//! A bare name Ansible does not know either stays an error, as in Ansible. The same holds for
//! the lookups `with_<name>` names: ansible-core's, or a collection's named in full.

/// The modules and action plugins of ansible-core 2.19 (`lib/ansible/modules`,
/// `lib/ansible/plugins/action`), by name.
const BUILTIN: &[&str] = &[
    "add_host",
    "apt",
    "apt_key",
    "apt_repository",
    "assemble",
    "assert",
    "async_status",
    "blockinfile",
    "command",
    "copy",
    "cron",
    "deb822_repository",
    "debconf",
    "debug",
    "dnf",
    "dnf5",
    "dpkg_selections",
    "expect",
    "fail",
    "fetch",
    "file",
    "find",
    "gather_facts",
    "get_url",
    "getent",
    "git",
    "group",
    "group_by",
    "hostname",
    "include_vars",
    "iptables",
    "known_hosts",
    "lineinfile",
    "mount_facts",
    "package",
    "package_facts",
    "pause",
    "ping",
    "pip",
    "raw",
    "reboot",
    "replace",
    "rpm_key",
    "script",
    "service",
    "service_facts",
    "set_fact",
    "set_stats",
    "setup",
    "shell",
    "slurp",
    "stat",
    "subversion",
    "systemd",
    "systemd_service",
    "sysvinit",
    "tempfile",
    "template",
    "unarchive",
    "uri",
    "user",
    "validate_argument_spec",
    "wait_for",
    "wait_for_connection",
    "yum_repository",
];

/// Whether Ansible would resolve `name` as a module (see the module documentation).
pub(crate) fn ansible_knows(name: &str) -> bool {
    match builtin_short(name) {
        Some(short) => BUILTIN.contains(&short),
        None => BUILTIN.contains(&name) || is_collection_name(name),
    }
}

/// The lookup plugins of ansible-core 2.19 (`lib/ansible/plugins/lookup`), by name: what
/// `with_<name>` may name besides a lookup of a collection named in full.
const BUILTIN_LOOKUPS: &[&str] = &[
    "config",
    "csvfile",
    "dict",
    "env",
    "file",
    "fileglob",
    "first_found",
    "indexed_items",
    "ini",
    "inventory_hostnames",
    "items",
    "lines",
    "list",
    "nested",
    "password",
    "pipe",
    "random_choice",
    "sequence",
    "subelements",
    "template",
    "together",
    "unvault",
    "url",
    "varnames",
    "vars",
];

/// Whether Ansible knows the lookup `with_<name>` names (`name` as written after `with_`).
pub(crate) fn ansible_knows_lookup(name: &str) -> bool {
    match builtin_short(name) {
        Some(short) => BUILTIN_LOOKUPS.contains(&short),
        None => BUILTIN_LOOKUPS.contains(&name) || is_collection_name(name),
    }
}

/// The short name of `ansible.builtin.x` or `ansible.legacy.x`; `None` for any other name.
pub(crate) fn builtin_short(name: &str) -> Option<&str> {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
}

/// `namespace.collection.module`: three dot-separated identifiers.
fn is_collection_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::ansible_knows;

    #[test]
    fn builtin_and_collection_modules_are_known_typos_are_not() {
        assert!(ansible_knows("dnf"));
        assert!(ansible_knows("ansible.builtin.pip"));
        assert!(ansible_knows("community.general.ufw"));
        assert!(!ansible_knows("copyy"));
        assert!(!ansible_knows("ansible.builtin.nope"));
        assert!(!ansible_knows("win_file"));
    }

    #[test]
    fn builtin_and_collection_lookups_are_known_typos_are_not() {
        use super::ansible_knows_lookup;
        assert!(ansible_knows_lookup("csvfile"));
        assert!(ansible_knows_lookup("ansible.builtin.url"));
        assert!(ansible_knows_lookup("community.general.filetree"));
        assert!(!ansible_knows_lookup("itmes"));
        assert!(!ansible_knows_lookup("ansible.builtin.nope"));
        assert!(!ansible_knows_lookup("flattened.x"));
    }
}
