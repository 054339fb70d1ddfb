//! Every problem of a broken inventory is reported at once, each at `file:line:col`, with the
//! exact wording checked here; bad host patterns give typed errors.

use std::fs;
use std::path::Path;

use etcdplay_inventory::{Inventory, PatternError};

/// Loads `files` (name, text) written into a fresh directory, sources named by `sources`, and
/// returns the diagnostics with the directory prefix removed.
fn errors(files: &[(&str, &str)], sources: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = tmp.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    let prefix = format!("{}/", tmp.path().display());
    let sources: Vec<String> = sources
        .iter()
        .map(|s| tmp.path().join(s).display().to_string())
        .collect();
    match Inventory::load(&sources) {
        Ok(_) => panic!("inventory loaded without errors"),
        Err(d) => d.to_string().replace(&prefix, ""),
    }
}

#[test]
fn ini_reports_every_bad_line() {
    let text = "[etcds]\netcd1 badtoken\netcd[01:3]\nweb:\n[bad group]\n[g:weird]\nx\n[ok:vars]\nnovalue\n[ok]\nh1\n\
                [p:children]\nmissing\n[q:vars]\na=1\n  h2 'open\n";
    let want = "\
hosts:2:7: Expected key=value host variable assignment, got: badtoken
hosts:3:1: Invalid host pattern 'etcd[01:3]': host range must specify equal-length begin and end formats
hosts:4:1: Invalid host pattern 'web:' supplied, ending in ':' is not allowed, this character is reserved to provide a port.
hosts:5:1: Invalid section entry: '[bad group]'. Please make sure that there are no spaces in the section entry, and that there are no other invalid characters
hosts:6:1: Section [g:weird] has unknown type: weird
hosts:9:1: Expected key=value, got: novalue
hosts:13:1: Section [p:children] includes undefined group 'missing'.
hosts:14:1: Section [q:vars] not valid for undefined group 'q'.";
    // The last line is in [q:vars], so it is a bad variable line, reported too.
    let got = errors(&[("hosts", text)], &["hosts"]);
    assert_eq!(
        got,
        format!("{want}\nhosts:16:3: Expected key=value, got: h2 'open")
    );
    // A YAML inventory without extension that is broken gets its YAML error too.
    let got = errors(&[("inv", "all:\n  hosts: [a\n")], &["inv"]);
    assert!(
        got.starts_with("inv:3:1: YAML syntax error") && got.lines().count() == 1,
        "{got}"
    );
}

#[test]
fn ini_host_line_quoting_error() {
    let got = errors(&[("inv.ini", "[a]\nh1 x='open\n")], &["inv.ini"]);
    assert_eq!(
        got,
        "inv.ini:2:1: Error parsing host definition 'h1 x='open': No closing quotation"
    );
}

#[test]
fn yaml_reports_typos_and_wrong_types() {
    let text = "\
all:
  children:
    etcds:
      host:
        etcd1:
      vars: [1]
    web:
      hosts:
        w1: [bad]
        5:
        r[1:]:
    bad: [x]
";
    let want = "\
hosts.yml:4:7: unexpected key 'host' in group 'etcds' (did you mean 'hosts'?); only vars, children and hosts are valid
hosts.yml:6:13: Invalid \"vars\" entry for \"etcds\" group, requires a dictionary, found a list instead.
hosts.yml:9:13: host 'w1' in group 'web' must have a mapping of variables or nothing, got a list
hosts.yml:10:9: Host pattern 5 must be a string. Enclose integers/floats in quotation marks.
hosts.yml:11:9: Invalid host pattern 'r[1:]': host range must specify end value
hosts.yml:12:10: group 'bad' must be a mapping with hosts, children or vars (or empty), got a list";
    assert_eq!(errors(&[("hosts.yml", text)], &["hosts.yml"]), want);
}

#[test]
fn group_loops_are_reported() {
    let yaml = "a:\n  children:\n    b:\n      children:\n        a:\n";
    assert_eq!(
        errors(&[("loop.yml", yaml)], &["loop.yml"]),
        "loop.yml:3:5: Adding group 'b' as child to 'a' creates a recursive dependency loop."
    );
    let ini = "[a:children]\nb\n[b:children]\na\n";
    assert_eq!(
        errors(&[("loop.ini", ini)], &["loop.ini"]),
        "loop.ini:4:1: Adding group 'a' as child to 'b' creates a recursive dependency loop."
    );
}

#[test]
fn files_and_vars_dirs() {
    let got = errors(
        &[
            ("a.yml", "all: [unclosed\n"),
            ("b.yaml", "- just\n- a list\n"),
            ("c/hosts", "[g]\nh\n"),
            ("c/group_vars/g.yml", "- not a mapping\n"),
            ("c/host_vars/h", "key: [oops\n"),
        ],
        &["a.yml", "b.yaml", "missing.ini", "c/hosts"],
    );
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 5, "{got}");
    assert!(
        lines[0].starts_with("a.yml:2:1: YAML syntax error: "),
        "{got}"
    );
    assert_eq!(
        lines[1],
        "b.yaml:1:1: YAML inventory has invalid structure, it should be a mapping, got a list"
    );
    assert_eq!(
        lines[2],
        "c/group_vars/g.yml:1:1: Invalid vars file: expected a mapping of variables, got a list"
    );
    assert!(
        lines[3].starts_with("c/host_vars/h:2:1: YAML syntax error: "),
        "{got}"
    );
    assert_eq!(lines[4], "missing.ini: inventory source not found");
}

#[test]
fn inventory_scripts_are_skipped_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("dyn.py"),
        "#!/usr/bin/env python3\nprint('{}')\n",
    )
    .unwrap();
    fs::write(tmp.path().join("static"), "h1\n").unwrap();
    let inv = Inventory::load(&[tmp.path().display().to_string()]).unwrap();
    assert_eq!(inv.hosts(), ["h1"]);
    assert_eq!(inv.warnings().len(), 1);
    assert!(inv.warnings()[0]
        .to_string()
        .ends_with("dyn.py: skipped: inventory scripts are not supported"));
}

fn sample() -> Inventory {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("hosts");
    fs::write(&path, "[etcds]\ne1\ne2\n[web]\nw1\n").unwrap();
    let inv = Inventory::load(&[path.display().to_string()]).unwrap();
    assert!(Path::new(&path).exists());
    inv
}

#[test]
fn pattern_errors_are_typed() {
    let inv = sample();
    assert_eq!(
        inv.select("nomatch"),
        Err(PatternError::NoMatch {
            pattern: "nomatch".into()
        })
    );
    assert_eq!(
        inv.select("nomatch").unwrap_err().to_string(),
        "Could not match supplied host pattern: nomatch"
    );
    assert_eq!(
        inv.select("etcds:!etcds").unwrap_err(),
        PatternError::NoMatch {
            pattern: "etcds:!etcds".into()
        }
    );
    let err = inv.select("~web(").unwrap_err();
    assert!(
        matches!(&err, PatternError::BadRegex { pattern, .. } if pattern == "~web("),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("Invalid host list pattern: ~web(: "),
        "{err}"
    );
    assert_eq!(
        inv.select("etcds[2]").unwrap_err().to_string(),
        "No hosts matched the subscripted pattern 'etcds[2]'"
    );
    assert_eq!(
        inv.select_limited("etcds", Some("web")).unwrap_err().to_string(),
        "Specified inventory, host pattern and/or --limit leaves us with no hosts to target (pattern: etcds, limit: web)"
    );
    assert!(matches!(
        inv.select_limited("all", Some("@/nonexistent/limit")),
        Err(PatternError::LimitFile { .. })
    ));
    assert_eq!(
        inv.unmatched_parts("etcds:nomatch:!gone:w1"),
        ["nomatch", "!gone"]
    );
    assert_eq!(inv.select("etcds:nomatch").unwrap(), ["e1", "e2"]);
}

#[test]
fn limit_file_lists_patterns() {
    let inv = sample();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("retry");
    fs::write(&file, "e2\nw1\n").unwrap();
    assert_eq!(
        inv.select_limited("all", Some(&format!("@{}", file.display())))
            .unwrap(),
        ["e2", "w1"]
    );
}
