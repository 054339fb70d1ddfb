//! The connection variables of a host, read from its merged variables with Ansible's names and
//! their older `ansible_ssh_*` aliases. Values are returned raw (they may still be templates such
//! as `"{{ ip }}"`): templating belongs to the engine.

use serde_json::{Map, Value};

/// What the transport needs to reach a host, before templating.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionVars {
    /// `ansible_host` (or `ansible_ssh_host`); absent means "connect to the inventory name".
    pub host: Option<Value>,
    pub port: Option<Value>,
    pub user: Option<Value>,
    /// A path, never the key itself.
    pub private_key_file: Option<Value>,
    pub connection: Option<Value>,
    pub r#become: Option<Value>,
    pub become_user: Option<Value>,
    pub become_method: Option<Value>,
}

impl ConnectionVars {
    /// Picks the connection variables out of a host's merged variables.
    pub fn from_vars(vars: &Map<String, Value>) -> Self {
        let pick = |names: &[&str]| names.iter().find_map(|n| vars.get(*n)).cloned();
        ConnectionVars {
            host: pick(&["ansible_host", "ansible_ssh_host"]),
            port: pick(&["ansible_port", "ansible_ssh_port"]),
            user: pick(&["ansible_user", "ansible_ssh_user"]),
            private_key_file: pick(&["ansible_ssh_private_key_file", "ansible_private_key_file"]),
            connection: pick(&["ansible_connection"]),
            r#become: pick(&["ansible_become"]),
            become_user: pick(&["ansible_become_user"]),
            become_method: pick(&["ansible_become_method"]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_names_win_over_aliases() {
        let vars = json!({"ansible_ssh_host": "old", "ansible_host": "{{ ip }}", "ansible_ssh_port": 2222,
                          "ansible_become": true, "ansible_ssh_private_key_file": "keys/id"});
        let c = ConnectionVars::from_vars(vars.as_object().unwrap());
        assert_eq!(c.host, Some(json!("{{ ip }}")));
        assert_eq!(c.port, Some(json!(2222)));
        assert_eq!(c.r#become, Some(json!(true)));
        assert_eq!(c.private_key_file, Some(json!("keys/id")));
        assert_eq!(c.user, None);
    }
}
