//! Variable precedence across inventory files, inventory-side and playbook-side `group_vars` /
//! `host_vars`. The expected values were printed by ansible-core 2.19 (`ansible-playbook` with a
//! `debug` of each variable) for exactly this layout.

use std::fs;
use std::path::Path;

use etcdplay_inventory::{Inventory, VarSource, VarsDirs};
use serde_json::{json, Value};

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn merge_order_is_ansibles() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(
        root,
        "inv/hosts",
        "h1 ansible_connection=local a=file_host b=file_host\n[g]\nh1\n[g:vars]\na=file_group\nc=file_group\n\
         d=file_group\ne=file_group\n[all:vars]\nf=file_all\n",
    );
    write(root, "inv/host_vars/h1", "b: inv_hv\ng: inv_hv\n");
    write(
        root,
        "inv/group_vars/g",
        "c: inv_gv_g\nd: inv_gv_g\nf: inv_gv_g\n",
    );
    write(
        root,
        "inv/group_vars/all",
        "e: inv_gv_all\nc: inv_gv_all\nh: inv_gv_all\n",
    );
    write(root, "pb/group_vars/g", "d: pb_gv_g\ni: pb_gv_g\n");
    write(
        root,
        "pb/group_vars/all",
        "e: pb_gv_all\nh: pb_gv_all\ni: pb_gv_all\n",
    );
    write(root, "pb/host_vars/h1", "g: pb_hv\n");

    let inv = Inventory::load(&[root.join("inv/hosts").display().to_string()]).unwrap();
    let playbook = VarsDirs::load(&root.join("pb"), &inv).unwrap();
    let pb_layers = playbook.host_layers(&inv, "h1");
    let layers = inv.host_layers("h1").unwrap();
    let merged = layers.merged(Some(&pb_layers));
    let got: Vec<&Value> = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .map(|k| &merged[*k])
        .collect();
    let want = json!([
        "file_host",
        "inv_hv",
        "inv_gv_g",
        "pb_gv_g",
        "pb_gv_all",
        "inv_gv_g",
        "pb_hv",
        "pb_gv_all",
        "pb_gv_g"
    ]);
    assert_eq!(Value::Array(got.into_iter().cloned().collect()), want);

    let order: Vec<VarSource> = layers
        .ordered(Some(&pb_layers))
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        order,
        [
            VarSource::InventoryFileGroups,
            VarSource::InventoryGroupVarsAll,
            VarSource::PlaybookGroupVarsAll,
            VarSource::InventoryGroupVars,
            VarSource::PlaybookGroupVars,
            VarSource::InventoryFileHost,
            VarSource::InventoryHostVars,
            VarSource::PlaybookHostVars,
        ]
    );
    assert_eq!(layers.file_groups["f"], json!("file_all"));
    assert_eq!(layers.dirs.group_vars_all["e"], json!("inv_gv_all"));
    assert_eq!(pb_layers.host_vars["g"], json!("pb_hv"));
    // Without a playbook directory, the inventory layers alone.
    assert_eq!(layers.merged(None)["d"], json!("inv_gv_g"));
}

#[test]
fn magic_group_variables() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "hosts",
        "lonely\n[etcds]\ne1\ne2\n[cluster:children]\netcds\n",
    );
    let inv = Inventory::load(&[tmp.path().join("hosts").display().to_string()]).unwrap();
    assert_eq!(inv.hosts(), ["lonely", "e1", "e2"]);
    assert_eq!(inv.groups(), ["all", "ungrouped", "etcds", "cluster"]);
    assert_eq!(inv.group_names_of("e1").unwrap(), ["cluster", "etcds"]);
    assert_eq!(inv.group_names_of("lonely").unwrap(), ["ungrouped"]);
    assert_eq!(inv.group_names_of("nope"), None);
    assert_eq!(
        Value::Object(inv.groups_map()),
        json!({"all": ["lonely", "e1", "e2"], "ungrouped": ["lonely"], "etcds": ["e1", "e2"], "cluster": ["e1", "e2"]})
    );
    assert!(inv.is_implicit_localhost("localhost"));
    assert!(!inv.is_implicit_localhost("e1"));
    assert_eq!(inv.select("localhost").unwrap(), ["localhost"]);
}

#[test]
fn inventory_file_is_where_a_host_first_appeared() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "inv/a.ini", "[g]\nh1\n");
    write(tmp.path(), "inv/b.yml", "g:\n  hosts:\n    h1:\n    h2:\n");
    let dir = tmp.path().join("inv").display().to_string();
    let inv = Inventory::load(&[dir.clone(), "x1,h2,".into()]).unwrap();
    assert_eq!(
        inv.inventory_file("h1"),
        Some(format!("{dir}/a.ini").as_str())
    );
    assert_eq!(
        inv.inventory_file("h2"),
        Some(format!("{dir}/b.yml").as_str())
    );
    assert_eq!(inv.inventory_file("x1"), None);
    assert_eq!(inv.hosts(), ["x1", "h1", "h2"]);
}

#[test]
fn implicit_localhost_gets_all_vars_and_a_local_connection() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "hosts",
        "[g]\nh1\n[g:vars]\ngv=1\n[all:vars]\nav=file\n",
    );
    write(tmp.path(), "group_vars/all.yml", "dir_all: 1\n");
    write(tmp.path(), "host_vars/localhost.yml", "lh: 1\n");
    let inv = Inventory::load(&[tmp.path().join("hosts").display().to_string()]).unwrap();
    let merged = inv.host_layers("localhost").unwrap().merged(None);
    assert_eq!(
        Value::Object(merged),
        json!({"av": "file", "dir_all": 1, "ansible_connection": "local", "lh": 1})
    );
    assert_eq!(
        inv.group_names_of("localhost").unwrap(),
        Vec::<String>::new()
    );
    assert!(inv.host_layers("elsewhere").is_none());
    assert!(!inv.hosts().contains(&"localhost".to_string()));
}
