//! Test helpers: builds per-host [`Vars`] from the corpus inventory the way the engine would
//! (inventory vars, magic variables, extra vars on top, `hostvars` for every host).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use etcdplay_template::{Precedence, StaticHostVars, VarLayers, Vars};
use serde_json::{json, Map, Value as Json};

pub(crate) fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

pub(crate) fn load_yaml(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn object(value: Option<&Json>) -> Map<String, Json> {
    value.and_then(Json::as_object).cloned().unwrap_or_default()
}

/// Per-host variables for the corpus inventory, rendering as if `play_host` were the only
/// host of the play, with `extra` as `-e` variables.
pub(crate) fn host_vars(play_host: &str, extra: &Map<String, Json>) -> (Vars, Arc<StaticHostVars>) {
    let inventory = load_yaml(&corpus_dir().join("inventory.yml"));
    let all = &inventory["all"];
    // (host, its groups, group vars, host vars)
    type HostEntry = (String, Vec<String>, Map<String, Json>, Map<String, Json>);
    let mut hosts: Vec<HostEntry> = Vec::new();
    let mut groups = Map::new();
    for (group, body) in object(all.get("children")) {
        let mut members = Vec::new();
        for (host, hvars) in object(body.get("hosts")) {
            members.push(Json::from(host.clone()));
            hosts.push((
                host,
                vec![group.clone()],
                object(body.get("vars")),
                hvars.as_object().cloned().unwrap_or_default(),
            ));
        }
        groups.insert(group, Json::Array(members));
    }
    let all_hosts: Vec<Json> = hosts.iter().map(|(h, ..)| Json::from(h.clone())).collect();
    let mut groups_magic = Map::new();
    groups_magic.insert("all".into(), Json::Array(all_hosts));
    groups_magic.insert("ungrouped".into(), json!([]));
    groups_magic.extend(groups);

    let mut source = StaticHostVars::new();
    for (host, group_names, group_vars, own_vars) in &hosts {
        let mut layers = VarLayers::new();
        layers.push(Precedence::InventoryVars, object(all.get("vars")));
        layers.push(Precedence::InventoryVars, group_vars.clone());
        layers.push(Precedence::InventoryVars, own_vars.clone());
        layers.push(Precedence::ExtraVars, extra.clone());
        let mut vars = Vars::from_layers(&layers);
        vars.insert("inventory_hostname", json!(host));
        vars.insert(
            "inventory_hostname_short",
            json!(host.split('.').next().unwrap_or(host)),
        );
        vars.insert("group_names", json!(group_names));
        vars.insert("groups", Json::Object(groups_magic.clone()));
        vars.insert("ansible_play_hosts", json!([play_host]));
        vars.insert("play_hosts", json!([play_host]));
        source.insert(host.clone(), vars);
    }
    let source = Arc::new(source);
    use etcdplay_template::HostVarsSource as _;
    let vars = source
        .host_vars(play_host)
        .unwrap_or_else(|| panic!("{play_host} is not in the corpus inventory"))
        .with_hostvars(source.clone());
    (vars, source)
}
