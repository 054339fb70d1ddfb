//! The variables Ansible adds while it renders a template file, for the template module and
//! `lookup('template')` alike (its `generate_ansible_template_vars`): `template_host` (the
//! control node's name), `template_path` (the source as the task named it), `template_fullpath`,
//! `template_uid` (the file's owner), `template_mtime` and `template_run_date` (as Python prints
//! a naive local `datetime`), and `template_destpath` (the module's `dest`, else None).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde_json::Value as Json;

/// The template variables for the file `fullpath`, named `path` by the task, written to
/// `dest` (the template module) or nowhere (the lookup). A file that cannot be read gives
/// none (rendering it fails with its own error).
pub fn template_file_vars(path: &str, fullpath: &Path, dest: Option<&str>) -> Vec<(String, Json)> {
    let Ok(meta) = std::fs::metadata(fullpath) else {
        return Vec::new();
    };
    let fullpath = std::path::absolute(fullpath).unwrap_or_else(|_| fullpath.to_path_buf());
    let mtime = Timestamp::new(meta.mtime(), meta.mtime_nsec() as i32)
        .map(|t| t.to_zoned(TimeZone::system()))
        .map(|z| python_datetime(&z))
        .unwrap_or_default();
    let uid = match user_name(meta.uid()) {
        Some(name) => Json::from(name),
        None => Json::from(meta.uid()),
    };
    vec![
        ("template_host".into(), Json::from(host_name())),
        ("template_path".into(), Json::from(path)),
        ("template_mtime".into(), Json::from(mtime)),
        ("template_uid".into(), uid),
        (
            "template_run_date".into(),
            Json::from(python_datetime(&Zoned::now())),
        ),
        (
            "template_destpath".into(),
            dest.map_or(Json::Null, Json::from),
        ),
        (
            "template_fullpath".into(),
            Json::from(fullpath.display().to_string()),
        ),
    ]
}

/// Python's `os.uname()[1]`.
fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Python's `str()` of a naive `datetime`: microseconds only when there are some.
fn python_datetime(time: &Zoned) -> String {
    let base = time.strftime("%Y-%m-%d %H:%M:%S").to_string();
    match time.subsec_nanosecond() / 1_000 {
        0 => base,
        micros => format!("{base}.{micros:06}"),
    }
}

/// The account name of `uid` in the control node's `/etc/passwd` (`pwd.getpwuid`).
fn user_name(uid: u32) -> Option<String> {
    let passwd = etcdplay_source::read_text_file(Path::new("/etc/passwd"), 16 << 20).ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 2 && fields[2] == uid.to_string()).then(|| fields[0].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // ansible-core 2.19's special_vars target renders every one of these into a file and
    // checks that each is defined; the lookup gives template_destpath None.
    #[test]
    fn every_template_variable_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("foo.j2");
        std::fs::write(&file, "x").unwrap();
        let vars: std::collections::HashMap<String, Json> =
            template_file_vars("foo.j2", &file, Some("/tmp/out"))
                .into_iter()
                .collect();
        assert_eq!(vars["template_path"], "foo.j2");
        assert_eq!(vars["template_destpath"], "/tmp/out");
        assert_eq!(vars["template_fullpath"], file.display().to_string());
        assert_eq!(vars["template_host"], host_name());
        let mtime = vars["template_mtime"].as_str().unwrap();
        assert!(mtime.len() >= "2026-12-05 05:50:12".len(), "{mtime}");
        assert!(vars.contains_key("template_uid") && vars.contains_key("template_run_date"));
        assert!(template_file_vars("x", &dir.path().join("nope"), None).is_empty());
    }
}
