//! Changes a run makes to its inventory (Ansible's `add_host` and `group_by`), with the rules
//! of Ansible's inventory manager: a new host joins `all`, variables given are merged over the
//! host's own, groups are created on first use, and the graph is reconciled after any change
//! (new parentless groups under `all`, hosts leaving `ungrouped`, depths for variable order).
//! Each call says whether it changed anything, which is the task's `changed`.

use serde_json::{Map, Value};

use crate::model::ALL;
use crate::Inventory;

impl Inventory {
    /// `add_host`: `name` exists afterwards, with `vars` merged over its variables and in every
    /// group of `groups`. Returns whether the inventory changed.
    pub fn add_dynamic_host(
        &mut self,
        name: &str,
        groups: &[String],
        vars: &Map<String, Value>,
    ) -> bool {
        let data = self.data_mut();
        let mut changed = false;
        let h = match data.host(name) {
            Some(h) => h,
            None => {
                changed = true;
                data.add_host(name, Some(ALL))
            }
        };
        for (key, value) in vars {
            if data.hosts[h].vars.get(key) != Some(value) {
                data.hosts[h].vars.insert(key.clone(), value.clone());
                changed = true;
            }
        }
        for group in groups {
            let g = match data.group(group) {
                Some(g) => g,
                None => {
                    changed = true;
                    data.add_group(group)
                }
            };
            if !data.is_direct_member(g, h) {
                data.add_host(name, Some(g));
                changed = true;
            }
        }
        if changed {
            data.reconcile();
        }
        changed
    }

    /// `group_by`: `host` joins `group` (created if new), which becomes a child of every group
    /// of `parents` (created if new). Returns whether the inventory changed; an unknown host
    /// or a parent that would make a loop of groups is an error.
    pub fn add_dynamic_group(
        &mut self,
        host: &str,
        group: &str,
        parents: &[String],
    ) -> Result<bool, String> {
        let data = self.data_mut();
        let h = data
            .host(host)
            .ok_or_else(|| format!("{host} cannot be matched in inventory"))?;
        let g = data.add_group(group);
        let mut changed = false;
        for parent in parents {
            let p = match data.group(parent) {
                Some(p) => p,
                None => {
                    changed = true;
                    data.add_group(parent)
                }
            };
            if !data.groups[p].children.contains(&g) {
                data.add_child(p, g)?;
                changed = true;
            }
        }
        if !data.is_direct_member(g, h) {
            data.add_host(host, Some(g));
            changed = true;
        }
        if changed {
            data.reconcile();
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What ansible-playbook 2.19 showed for the same changes to an inventory of `web: h1, h2`:
    /// `groups` = {'all': ['newhost', 'h1', 'h2'], 'ungrouped': [], 'web': ['h1', 'h2'],
    /// 'kind_h1': ['h1'], 'dyn': ['newhost', 'h1', 'h2'], 'other-stuff': ['h1', 'h2'],
    /// 'kind_h2': ['h2'], 'added': ['newhost']}; group_names of h1 ['dyn', 'kind_h1',
    /// 'other-stuff', 'web'], of newhost ['added', 'dyn']; each change reported once.
    #[test]
    fn hosts_and_groups_are_added_as_ansible_adds_them() {
        let mut inv = Inventory::load(&["h1,h2".to_string()]).unwrap();
        // An inventory file would put them in `web`; a list puts them in `ungrouped`.
        let web = vec!["web".to_string()];
        for h in ["h1", "h2"] {
            inv.add_dynamic_host(h, &web, &Map::new());
        }
        let parents = vec!["dyn".to_string(), "other-stuff".to_string()];
        assert_eq!(inv.add_dynamic_group("h1", "kind_h1", &parents), Ok(true));
        assert_eq!(inv.add_dynamic_group("h2", "kind_h2", &parents), Ok(true));
        assert_eq!(inv.add_dynamic_group("h1", "kind_h1", &parents), Ok(false));
        let vars = json!({"ansible_connection": "local", "color": "blue"});
        let vars = vars.as_object().unwrap();
        let groups = vec!["added".to_string(), "dyn".to_string()];
        assert!(inv.add_dynamic_host("newhost", &groups, vars));
        assert!(!inv.add_dynamic_host("newhost", &groups, vars));
        let map = inv.groups_map();
        assert_eq!(map["ungrouped"], json!([]));
        assert_eq!(map["dyn"], json!(["newhost", "h1", "h2"]));
        assert_eq!(map["other-stuff"], json!(["h1", "h2"]));
        assert_eq!(map["added"], json!(["newhost"]));
        assert_eq!(
            inv.group_names_of("h1").unwrap(),
            ["dyn", "kind_h1", "other-stuff", "web"]
        );
        assert_eq!(inv.group_names_of("newhost").unwrap(), ["added", "dyn"]);
        assert_eq!(inv.select("dyn:&added").unwrap(), ["newhost"]);
        let layers = inv.host_layers("newhost").unwrap();
        assert_eq!(layers.file_host["color"], "blue");
        assert!(inv.add_dynamic_group("ghost", "g", &[]).is_err());
        assert!(inv
            .add_dynamic_group("h1", "dyn", &["kind_h1".to_string()])
            .unwrap_err()
            .contains("recursive"));
    }
}
