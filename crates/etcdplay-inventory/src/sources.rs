//! Turning `-i` arguments into inventory data: a `host1,host2,` list, a file (YAML when it reads
//! as a YAML mapping, else INI, as Ansible's plugin order decides), or a directory of such files
//! with Ansible's ignore rules. Dynamic inventory scripts are never run.

use std::path::{Path, PathBuf};

use etcdplay_source::{
    decrypt_if_vaulted, load_yaml_source, read_file, Diagnostic, Diagnostics, NodeValue,
    SourceText, MAX_TEXT_FILE,
};

use crate::address::parse_address;
use crate::ini::parse_ini;
use crate::model::{InventoryData, UNGROUPED};
use crate::yaml_inventory::parse_yaml_inventory;

/// File name endings Ansible skips in an inventory directory (its `INVENTORY_IGNORE_EXTS`).
const IGNORED_ENDINGS: [&str; 12] = [
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];
const YAML_EXTENSIONS: [&str; 3] = ["yml", "yaml", "json"];

/// Where a source's `group_vars/` and `host_vars/` live, if it has any.
pub(crate) fn vars_basedir(source: &str) -> Option<PathBuf> {
    let path = Path::new(source);
    if is_host_list(source) {
        None
    } else if path.is_dir() {
        Some(path.to_path_buf())
    } else {
        Some(path.parent().map_or_else(PathBuf::new, Path::to_path_buf))
    }
}

fn is_host_list(source: &str) -> bool {
    source.contains(',') && !Path::new(source).exists()
}

/// Reads one `-i` source into `data`.
pub(crate) fn parse_source(
    source: &str,
    data: &mut InventoryData,
    diags: &mut Diagnostics,
    warnings: &mut Vec<Diagnostic>,
) {
    if is_host_list(source) {
        return parse_host_list(source, data);
    }
    let path = Path::new(source);
    if !path.exists() {
        diags.push(Diagnostic::whole_file(source, "inventory source not found"));
    } else if path.is_dir() {
        parse_dir(path, data, diags, warnings, 0);
    } else {
        parse_file(path, data, diags, warnings);
    }
}

/// `-i 'a,b:2222,'`: hosts in `ungrouped`, an address's port becoming `ansible_port`.
fn parse_host_list(source: &str, data: &mut InventoryData) {
    data.current_source = None;
    for item in source.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (host, port) = parse_address(item, false).unwrap_or_else(|_| (item.to_string(), None));
        if data.host(&host).is_none() {
            let h = data.add_host(&host, Some(UNGROUPED));
            if let Some(p) = port.filter(|&p| p != 0) {
                data.hosts[h].vars.insert("ansible_port".into(), p.into());
            }
        }
    }
}

fn ignored(name: &str) -> bool {
    name.starts_with('.')
        || matches!(name, "host_vars" | "group_vars" | "vars_plugins")
        || IGNORED_ENDINGS.iter().any(|e| name.ends_with(e))
}

fn parse_dir(
    dir: &Path,
    data: &mut InventoryData,
    diags: &mut Diagnostics,
    warnings: &mut Vec<Diagnostic>,
    depth: usize,
) {
    if depth > 16 {
        return diags.push(Diagnostic::whole_file(
            dir.display().to_string(),
            "inventory directories nested too deeply",
        ));
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            return diags.push(Diagnostic::whole_file(
                dir.display().to_string(),
                format!("cannot read directory: {e}"),
            ))
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names.into_iter().filter(|n| !ignored(n)) {
        let path = dir.join(&name);
        if path.is_dir() {
            parse_dir(&path, data, diags, warnings, depth + 1);
        } else {
            parse_file(&path, data, diags, warnings);
        }
    }
}

fn parse_file(
    path: &Path,
    data: &mut InventoryData,
    diags: &mut Diagnostics,
    warnings: &mut Vec<Diagnostic>,
) {
    let shown = path.display().to_string();
    data.current_source = Some(shown.clone());
    let read = read_file(path, MAX_TEXT_FILE).and_then(|b| decrypt_if_vaulted(b, path));
    let (bytes, vaulted) = match read {
        Ok(read) => read,
        Err(e) => {
            return diags.push(Diagnostic::whole_file(
                shown,
                format!("cannot read inventory file: {}", e.problem),
            ))
        }
    };
    if bytes.starts_with(b"#!") {
        // An inventory script: Ansible would run it; etcdplay never executes inventories.
        return warnings.push(Diagnostic::whole_file(
            shown,
            "skipped: inventory scripts are not supported",
        ));
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return diags.push(Diagnostic::whole_file(
            shown,
            "inventory file is not valid UTF-8",
        ));
    };
    let source = SourceText { text, vaulted };
    let text = &source.text;
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let yaml_candidate = ext.as_deref().is_none_or(|e| YAML_EXTENSIONS.contains(&e));
    if ext.as_deref() == Some("toml") {
        return diags.push(Diagnostic::whole_file(
            shown,
            "TOML inventories are not supported; use INI or YAML",
        ));
    }
    if !yaml_candidate {
        return parse_ini(text, &shown, data, diags);
    }
    let explicit_yaml = ext.is_some();
    match load_yaml_source(&source, &shown) {
        Ok(root) if matches!(root.value, NodeValue::Map(_)) => {
            parse_yaml_inventory(&root, &shown, data, diags)
        }
        // Ansible's yaml plugin refuses an empty file and its ini plugin then reads nothing.
        Ok(root) if root.is_null() => {}
        Ok(root) if explicit_yaml => diags.push(Diagnostic::new(
            shown,
            root.pos.line,
            root.pos.col,
            format!(
                "YAML inventory has invalid structure, it should be a mapping, got a {}",
                root.type_name()
            ),
        )),
        Err(e) if explicit_yaml => diags.push(e.in_file(&shown)),
        yaml => {
            // No extension and not a YAML mapping: read it as INI, which is what such files
            // usually are. When that fails too and the file starts like YAML (`all:`), the YAML
            // error is the one that helps.
            let mut ini_diags = Diagnostics::new();
            parse_ini(text, &shown, data, &mut ini_diags);
            let first = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with(['#', ';']));
            match yaml {
                Err(e) if !ini_diags.is_empty() && first.is_some_and(|l| l.ends_with(':')) => {
                    diags.push(e.in_file(&shown))
                }
                _ => diags.extend(ini_diags),
            }
        }
    }
}
