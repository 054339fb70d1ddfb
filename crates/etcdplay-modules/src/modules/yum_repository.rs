//! `yum_repository`: one repository section of a `.repo` INI file in `reposdir`
//! (`/etc/yum.repos.d/<file or name>.repo`), present or absent. The pure [`RepoFile`] reads the
//! file as Python's `RawConfigParser` does (`key = value` or `key: value`, keys lower-cased,
//! indented continuation lines, `#`/`;` comments dropped), replaces or removes the section and
//! writes it back as that parser writes (`key = value`, continuation lines after a tab, a blank
//! line after each section). As in Ansible, the section is compared in sorted form (the diff
//! shows that form), booleans are written `1`/`0`, `baseurl`/`gpgkey` one per line and
//! `exclude`/`includepkgs` space-separated; the file's mode and owner are the shared file
//! arguments'. One probe reads the file; a file left without sections is deleted.

use serde_json::Value;

use crate::args::Args;
use crate::attrs::Attrs;
use crate::host::Ctx;
use crate::modules::write::{converge_text, TextFile, TextProbe};
use crate::read_ahead::{with_funcs, FirstProbe};
use crate::{Diff, ModuleError, ModuleResult};

/// A `.repo` file: sections in file order, keys in their order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RepoFile {
    pub(crate) sections: Vec<(String, Vec<(String, String)>)>,
}

impl RepoFile {
    pub(crate) fn parse(text: &str) -> RepoFile {
        let mut file = RepoFile::default();
        let mut last_key: Option<usize> = None;
        for raw in text.lines() {
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                last_key = None;
                continue;
            }
            if raw.starts_with([' ', '\t']) {
                if let (Some(i), Some((_, keys))) = (last_key, file.sections.last_mut()) {
                    let v = &mut keys[i].1;
                    v.push('\n');
                    v.push_str(trimmed);
                    continue;
                }
            }
            if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                file.sections.push((name.to_string(), Vec::new()));
                last_key = None;
                continue;
            }
            let Some((_, keys)) = file.sections.last_mut() else {
                continue;
            };
            let split = trimmed
                .find(['=', ':'])
                .map(|i| (&trimmed[..i], &trimmed[i + 1..]))
                .unwrap_or((trimmed, ""));
            let key = split.0.trim().to_lowercase();
            let value = split.1.trim().to_string();
            match keys.iter().position(|(k, _)| *k == key) {
                Some(i) => {
                    keys[i].1 = value;
                    last_key = Some(i);
                }
                None => {
                    keys.push((key, value));
                    last_key = Some(keys.len() - 1);
                }
            }
        }
        file
    }

    /// The file as `RawConfigParser.write` writes it.
    pub(crate) fn write(&self) -> String {
        let mut s = String::new();
        for (name, keys) in &self.sections {
            s.push_str(&format!("[{name}]\n"));
            for (k, v) in keys {
                s.push_str(&format!("{k} = {}\n", v.replace('\n', "\n\t")));
            }
            s.push('\n');
        }
        s
    }

    /// The sorted form Ansible compares and shows in its diff.
    pub(crate) fn dump(&self) -> String {
        let mut sections: Vec<_> = self.sections.iter().collect();
        sections.sort_by(|a, b| a.0.cmp(&b.0));
        let mut s = String::new();
        for (name, keys) in sections {
            s.push_str(&format!("[{name}]\n"));
            let mut keys: Vec<_> = keys.iter().collect();
            keys.sort();
            for (k, v) in keys {
                s.push_str(&format!("{k} = {v}\n"));
            }
            s.push('\n');
        }
        s
    }

    pub(crate) fn remove(&mut self, name: &str) {
        self.sections.retain(|(n, _)| n != name);
    }

    /// Replaces section `name` with `keys` (appended at the end, as Ansible re-adds it).
    pub(crate) fn set(&mut self, name: &str, keys: Vec<(String, String)>) {
        self.remove(name);
        self.sections.push((name.to_string(), keys));
    }
}

/// The repository arguments that become keys (every one but `name`, `file`, `reposdir`,
/// `state` and the file arguments; `description` is written as `name`).
const KEYS: &[&str] = &[
    "async",
    "bandwidth",
    "baseurl",
    "cost",
    "countme",
    "deltarpm_metadata_percentage",
    "deltarpm_percentage",
    "enabled",
    "enablegroups",
    "exclude",
    "failovermethod",
    "gpgcakey",
    "gpgcheck",
    "gpgkey",
    "http_caching",
    "include",
    "includepkgs",
    "ip_resolve",
    "keepalive",
    "keepcache",
    "metadata_expire",
    "metadata_expire_filter",
    "metalink",
    "mirrorlist",
    "mirrorlist_expire",
    "module_hotfixes",
    "password",
    "priority",
    "protect",
    "proxy",
    "proxy_password",
    "proxy_username",
    "repo_gpgcheck",
    "retries",
    "s3_enabled",
    "skip_if_unavailable",
    "ssl_check_cert_permissions",
    "sslcacert",
    "sslclientcert",
    "sslclientkey",
    "sslverify",
    "throttle",
    "timeout",
    "ui_repoid_vars",
    "username",
];

const BOOLS: &[&str] = &[
    "async",
    "countme",
    "enabled",
    "enablegroups",
    "gpgcheck",
    "keepalive",
    "module_hotfixes",
    "protect",
    "repo_gpgcheck",
    "s3_enabled",
    "skip_if_unavailable",
    "ssl_check_cert_permissions",
    "sslverify",
];

/// The section's keys for the arguments, sorted as Ansible sets them.
pub(crate) fn section_keys(a: &Args) -> Result<Vec<(String, String)>, ModuleError> {
    let mut keys = Vec::new();
    if let Some(d) = a.str("description") {
        keys.push(("name".to_string(), d));
    }
    for &k in KEYS {
        let value = if BOOLS.contains(&k) {
            a.opt_bool(k)?
                .map(|b| if b { "1" } else { "0" }.to_string())
        } else if k == "baseurl" || k == "gpgkey" {
            a.list(k)?.map(|l| l.join("\n"))
        } else if k == "exclude" || k == "includepkgs" {
            a.list(k)?.map(|l| l.join(" "))
        } else {
            a.str(k)
        };
        if let Some(v) = value {
            keys.push((k.to_string(), v));
        }
    }
    keys.sort();
    Ok(keys)
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let name = a.req_str("name")?;
    let present = a.choice("state", &["present", "absent"], "present")? == "present";
    if present {
        if !["baseurl", "mirrorlist", "metalink"]
            .iter()
            .any(|k| a.has(k))
        {
            return Err(ctx.bad(
                "baseurl",
                "state is present but any of the following are missing: baseurl, mirrorlist, metalink",
            ));
        }
        if !a.has("description") {
            return Err(ctx.bad(
                "description",
                "state is present but all of the following are missing: description",
            ));
        }
    }
    let reposdir = a
        .str("reposdir")
        .unwrap_or_else(|| "/etc/yum.repos.d".into());
    let file = a.str("file").unwrap_or_else(|| name.clone());
    let dest = format!("{}/{file}.repo", reposdir.trim_end_matches('/'));
    let attrs = Attrs::from_args(a)?;
    let out = ctx.exec(with_funcs(&TextProbe::body(&dest))).await?;
    let (state, content, parent_exists) = TextProbe::parse(&out).map_err(|m| ctx.protocol(m))?;
    if !parent_exists {
        return Ok(ModuleResult::fail(format!(
            "Repo directory '{reposdir}' does not exist."
        )));
    }
    let old_text = String::from_utf8_lossy(content.as_deref().unwrap_or_default()).into_owned();
    let before = RepoFile::parse(&old_text);
    let mut after = before.clone();
    if present {
        after.set(&name, section_keys(a)?);
    } else {
        after.remove(&name);
    }
    let (dump_before, dump_after) = (before.dump(), after.dump());
    let changed = dump_before != dump_after;
    // Passwords are no_log in Ansible: masked wherever they would be shown.
    let secrets: Vec<String> = ["password", "proxy_password"]
        .iter()
        .filter_map(|k| a.str(k))
        .filter(|v| !v.is_empty())
        .collect();
    let masked = |text: &str| {
        secrets
            .iter()
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "********"))
    };
    let diff = Diff {
        before: Value::String(masked(&dump_before)),
        after: Value::String(masked(&dump_after)),
        before_header: Some(dest.clone()),
        after_header: Some(dest.clone()),
    };
    let mut res = if after.sections.is_empty() {
        let mut res = ModuleResult::ok();
        res.changed = changed;
        if changed && !ctx.call.check && content.is_some() {
            let script = format!("rm -f -- {}\n", etcdplay_transport::script::sh_quote(&dest));
            if let Err(msg) = ctx.change(script).await? {
                return Ok(ModuleResult::fail(format!(
                    "Cannot remove empty repo file {dest}. {msg}"
                )));
            }
        }
        res
    } else {
        let file = TextFile {
            path: dest.clone(),
            state,
            content,
            parent_exists,
        };
        converge_text(ctx, &file, &dest, after.write(), &attrs, false, changed).await?
    };
    res.diff = (ctx.call.diff && (changed || res.changed)).then_some(diff);
    res.set("repo", name)
        .set("state", if present { "present" } else { "absent" });
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A recorded /etc/yum.repos.d/epel.repo (Rocky 9, epel-release 9-7).
    const EPEL: &str = "[epel]\nname=Extra Packages for Enterprise Linux $releasever - $basearch\n# It is much more secure to use the metalink, but if you wish to use a local mirror\n#baseurl=https://download.example/pub/epel/$releasever/Everything/$basearch/\nmetalink=https://mirrors.fedoraproject.org/metalink?repo=epel-$releasever&arch=$basearch&infra=$infra&content=$contentdir\nenabled=1\ngpgcheck=1\ncountme=1\ngpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL-$releasever\n\n[epel-debuginfo]\nname=Extra Packages for Enterprise Linux $releasever - $basearch - Debug\nmetalink=https://mirrors.fedoraproject.org/metalink?repo=epel-debug-$releasever&arch=$basearch\nenabled=0\ngpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL-$releasever\n  file:///etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL-extra\ngpgcheck=1\n";

    fn args(v: serde_json::Value) -> Args {
        Args::parse("yum_repository", v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn repo_files_read_and_write_as_raw_config_parser() {
        let f = RepoFile::parse(EPEL);
        assert_eq!(f.sections.len(), 2);
        assert_eq!(f.sections[0].1[0].0, "name");
        assert_eq!(
            f.sections[1].1[3].1,
            "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL-$releasever\nfile:///etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL-extra"
        );
        let written = f.write();
        assert!(
            written.starts_with("[epel]\nname = Extra Packages"),
            "{written}"
        );
        assert!(written.contains("gpgkey = file:///etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL-$releasever\n\tfile:///etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL-extra\n"), "{written}");
        assert_eq!(
            RepoFile::parse(&written),
            f,
            "written form reads back the same"
        );
    }

    #[test]
    fn sections_are_set_as_ansible_sets_them() {
        // ansible-core 2.19 writes, for
        // yum_repository: name=etcd description="etcd packages" baseurl=[a, b] gpgcheck=no
        //                 exclude=[x, y]
        // the section `[etcd]` with `baseurl = a\n\tb`, `exclude = x y`, `gpgcheck = 0`,
        // `name = etcd packages`, keys sorted.
        let a = args(serde_json::json!({
            "name": "etcd", "description": "etcd packages",
            "baseurl": ["https://a.example/el9", "https://b.example/el9"],
            "gpgcheck": false, "exclude": ["x", "y"]
        }));
        let mut f = RepoFile::parse(EPEL);
        let keys = section_keys(&a).unwrap();
        f.set("etcd", keys.clone());
        assert!(f.write().ends_with("[etcd]\nbaseurl = https://a.example/el9\n\thttps://b.example/el9\nexclude = x y\ngpgcheck = 0\nname = etcd packages\n\n"), "{}", f.write());
        // Setting it again is no change in the compared form.
        let mut again = RepoFile::parse(&f.write());
        let before = again.dump();
        again.set("etcd", keys);
        assert_eq!(before, again.dump());
        again.remove("epel");
        again.remove("epel-debuginfo");
        again.remove("etcd");
        assert!(again.sections.is_empty());
    }
}
