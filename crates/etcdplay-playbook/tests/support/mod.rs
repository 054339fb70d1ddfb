//! Shared helpers for the integration tests: loading corpus playbooks by their relative path
//! (so that every origin in a snapshot is machine-independent) and rendering a parsed model as
//! a compact outline that shows only the fields that are set.

#![allow(dead_code, unreachable_pub)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use etcdplay_modules::Registry;
use etcdplay_playbook::{
    load_playbook, Diagnostics, LoadOptions, Play, Playbook, Role, RoleRef, Task, TaskKind,
};

/// The corpus directory, relative to the crate (cargo runs tests from the crate directory).
pub const CORPUS: &str = "tests/corpus";

pub fn corpus(rel: &str) -> PathBuf {
    Path::new(CORPUS).join(rel)
}

pub fn load(rel: &str) -> Result<Playbook, Diagnostics> {
    load_playbook(&corpus(rel), &Registry, &LoadOptions::default())
}

/// [`load`], and the warnings, also when there are errors.
#[allow(dead_code)]
pub fn load_with_warnings(rel: &str) -> (Result<Playbook, Diagnostics>, Diagnostics) {
    etcdplay_playbook::load_playbook_with_warnings(&corpus(rel), &Registry, &LoadOptions::default())
}

/// Diagnostics as text with the corpus prefix removed.
pub fn diag_text(d: &Diagnostics) -> String {
    strip(&d.to_string())
}

pub fn strip(s: &str) -> String {
    s.replace(&format!("{CORPUS}/"), "")
}

/// Compares `actual` with the snapshot file, or rewrites it when `UPDATE_SNAPSHOTS` is set.
pub fn assert_snapshot(rel: &str, actual: &str) {
    let path = corpus(rel);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if expected != actual {
        panic!(
            "snapshot {} differs:\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}

fn set(debug: String) -> Option<String> {
    match debug.as_str() {
        "None" | "[]" | "{}" | "Null" | "\"\"" => None,
        _ => Some(debug),
    }
}

macro_rules! fields {
    ($out:expr, $pad:expr, $obj:expr, $($field:ident),* $(,)?) => {
        $(
            if let Some(v) = set(format!("{:?}", $obj.$field)) {
                let _ = writeln!($out, "{}  {}: {}", $pad, stringify!($field), v);
            }
        )*
    };
}

pub fn render(pb: &Playbook) -> String {
    let mut out = String::new();
    for p in &pb.plays {
        render_play(&mut out, p);
    }
    strip(&out)
}

fn render_play(out: &mut String, p: &Play) {
    let _ = writeln!(out, "PLAY [{}] {}", p.display_name(), p.origin);
    fields!(
        out,
        "",
        p,
        hosts,
        gather_facts,
        become_,
        become_user,
        remote_user,
        connection,
        serial,
        any_errors_fatal,
        max_fail_percentage,
        ignore_errors,
        force_handlers,
        check_mode,
        diff,
        no_log,
        run_once,
        extra,
        vars,
        vars_files,
        environment,
        tags
    );
    if p.strategy != etcdplay_playbook::Strategy::Linear {
        let _ = writeln!(out, "  strategy: {:?}", p.strategy);
    }
    tasks(out, "  ", "pre_tasks", &p.pre_tasks);
    if !p.roles.is_empty() {
        let _ = writeln!(out, "  roles:");
        for r in &p.roles {
            role_ref(out, "    ", r);
        }
    }
    tasks(out, "  ", "tasks", &p.tasks);
    tasks(out, "  ", "post_tasks", &p.post_tasks);
    tasks(out, "  ", "handlers", &p.handlers);
    let names: Vec<String> = p
        .all_handlers()
        .iter()
        .map(|h| h.name.clone().unwrap_or_default())
        .collect();
    if !names.is_empty() {
        let _ = writeln!(out, "  all_handlers: {names:?}");
    }
}

fn role_ref(out: &mut String, pad: &str, r: &RoleRef) {
    let _ = writeln!(out, "{pad}- ROLE {} {}", r.name, r.origin);
    fields!(
        out,
        pad,
        r,
        params,
        when,
        tags,
        become_,
        become_user,
        delegate_to,
        environment,
        extra
    );
    role(out, &format!("{pad}  "), &r.role);
}

fn role(out: &mut String, pad: &str, r: &Role) {
    let _ = writeln!(out, "{pad}role {} at {}", r.name, r.path.display());
    fields!(out, pad, r, defaults, vars, allow_duplicates);
    if !r.dependencies.is_empty() {
        let _ = writeln!(out, "{pad}  dependencies:");
        for d in &r.dependencies {
            role_ref(out, &format!("{pad}    "), d);
        }
    }
    tasks(out, &format!("{pad}  "), "tasks", &r.tasks);
    tasks(out, &format!("{pad}  "), "handlers", &r.handlers);
}

fn tasks(out: &mut String, pad: &str, label: &str, list: &[Task]) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "{pad}{label}:");
    for t in list {
        task(out, &format!("{pad}  "), t);
    }
}

fn task(out: &mut String, pad: &str, t: &Task) {
    let header = format!("[{}]", t.header_name());
    let _ = writeln!(out, "{pad}- TASK {header} {}", t.origin);
    let inner = format!("{pad}    ");
    match &t.kind {
        TaskKind::Module(m) => {
            let _ = writeln!(
                out,
                "{pad}    {} {} @{}",
                m.name,
                serde_json::Value::Object(m.args.clone()),
                m.args_origin
            );
        }
        TaskKind::Block(b) => {
            tasks(out, &inner, "block", &b.block);
            tasks(out, &inner, "rescue", &b.rescue);
            tasks(out, &inner, "always", &b.always);
        }
        TaskKind::IncludeTasks(i) => {
            let _ = writeln!(
                out,
                "{pad}    include_tasks {} static={} apply={:?}",
                i.file, i.is_static, i.apply
            );
            match &i.tasks {
                Some(list) => tasks(out, &inner, "included", list),
                None => {
                    let _ = writeln!(out, "{pad}    (resolved at run time)");
                }
            }
        }
        TaskKind::IncludeRole(i) => {
            let _ = writeln!(
                out,
                "{pad}    include_role {} static={} {:?}",
                i.name, i.is_static, i.selectors
            );
            if let Some(r) = &i.role {
                role(out, &inner, r);
            }
        }
        TaskKind::IncludeVars(v) => {
            let _ = writeln!(
                out,
                "{pad}    include_vars {:?} name={:?} args={:?}",
                v.source, v.name, v.args
            );
        }
        TaskKind::Meta(m) => {
            let _ = writeln!(out, "{pad}    meta {m}");
        }
    }
    fields!(
        out,
        pad,
        t,
        when,
        loop_,
        loop_control,
        register,
        notify,
        listen,
        changed_when,
        failed_when,
        ignore_errors,
        tags,
        become_,
        become_user,
        run_once,
        delegate_to,
        vars,
        environment,
        check_mode,
        diff,
        no_log,
        until,
        retries,
        delay,
        any_errors_fatal,
        throttle,
        timeout,
        remote_user,
        connection,
        extra
    );
}
