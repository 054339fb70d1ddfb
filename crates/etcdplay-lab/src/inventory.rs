//! The lab as an Ansible-style YAML inventory: every host in group `etcd`, reached as root with
//! the lab key. Rendered as text (the shape is fixed) so the file reads like a hand-written one.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::LabError;
use crate::host::LabHost;

/// The default place of the lab inventory, relative to the current directory.
pub const DEFAULT_INVENTORY: &str = "inventories/lab.yml";

/// The inventory text for `hosts`.
pub fn render_inventory(hosts: &[LabHost]) -> String {
    let mut out = String::new();
    out.push_str("# Written by `etcdplay lab up`; rewritten on every run.\n");
    if let Some(first) = hosts.first() {
        let _ = writeln!(
            out,
            "# Log in: ssh -i {} root@{}   (or deploy@, with sudo)",
            first.key_path.display(),
            first.ip
        );
    }
    out.push_str("all:\n  children:\n    etcd:\n      hosts:\n");
    for host in hosts {
        let _ = writeln!(out, "        {}:", host.name);
        let _ = writeln!(out, "          ansible_host: {}", host.ip);
        out.push_str("          ansible_user: root\n");
        let _ = writeln!(
            out,
            "          ansible_ssh_private_key_file: {}",
            yaml_string(&host.key_path.to_string_lossy())
        );
    }
    // The lab made the hosts' keys and lists them in its own known_hosts file: checked strictly.
    if let Some(first) = hosts.first() {
        out.push_str("      vars:\n");
        let args = format!(
            "-o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
            first.known_hosts.display()
        );
        let _ = writeln!(
            out,
            "        ansible_ssh_common_args: {}",
            yaml_string(&args)
        );
    }
    out
}

/// Writes the inventory to `path`, creating its directory.
pub fn write_inventory(path: &Path, hosts: &[LabHost]) -> Result<(), LabError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(LabError::io(dir))?;
    }
    std::fs::write(path, render_inventory(hosts)).map_err(LabError::io(path))
}

/// A YAML scalar for arbitrary text: plain when safe, single-quoted otherwise.
fn yaml_string(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+".contains(&b))
        && !text.starts_with(['-', '.']);
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LabConfig;

    #[test]
    fn two_hosts_inventory_text() {
        let config = LabConfig::default();
        let hosts: Vec<LabHost> = (1..=2).map(|k| LabHost::new(k, &config)).collect();
        assert_eq!(
            render_inventory(&hosts),
            "# Written by `etcdplay lab up`; rewritten on every run.\n\
             # Log in: ssh -i /var/lib/etcdplay-lab/ssh/id_ed25519 root@10.213.7.11   (or deploy@, with sudo)\n\
             all:\n  children:\n    etcd:\n      hosts:\n\
             \x20       lab1:\n\
             \x20         ansible_host: 10.213.7.11\n\
             \x20         ansible_user: root\n\
             \x20         ansible_ssh_private_key_file: /var/lib/etcdplay-lab/ssh/id_ed25519\n\
             \x20       lab2:\n\
             \x20         ansible_host: 10.213.7.12\n\
             \x20         ansible_user: root\n\
             \x20         ansible_ssh_private_key_file: /var/lib/etcdplay-lab/ssh/id_ed25519\n\
             \x20     vars:\n\
             \x20       ansible_ssh_common_args: '-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/var/lib/etcdplay-lab/ssh/known_hosts.lab'\n"
        );
    }

    #[test]
    fn odd_key_paths_are_quoted() {
        assert_eq!(yaml_string("/a/b_c.key"), "/a/b_c.key");
        assert_eq!(yaml_string("/a b/it's: key"), "'/a b/it''s: key'");
        assert_eq!(yaml_string("-x"), "'-x'");
        assert_eq!(yaml_string(""), "''");
    }

    #[test]
    fn writes_into_a_new_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("inventories").join("lab.yml");
        let hosts = [LabHost::new(1, &LabConfig::default())];
        write_inventory(&path, &hosts).expect("write");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            render_inventory(&hosts)
        );
    }
}
