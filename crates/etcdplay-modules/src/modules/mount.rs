//! `mount` (ansible.posix): a mount point's line in fstab and whether it is mounted, with the
//! collection's states: `present` (the line only), `mounted` (the line, the mount point
//! created, mounted; remounted when its line changed), `unmounted`, `absent` (line removed,
//! unmounted, mount point removed), `absent_from_fstab`, `remounted` (always a change) and
//! `ephemeral` (mounted without touching fstab). One probe reads the fstab and
//! `/proc/self/mountinfo`; the pure [`set_entry`]/[`unset_entry`] edit the fstab as the
//! collection does (a line matched by mount point is rewritten only when a field differs,
//! `src name fstype opts dump passno` separated by spaces, space, `&` and `\` escaped).

use std::sync::Arc;

use etcdplay_transport::script::sh_quote;
use etcdplay_transport::ExecOutput;
use serde_json::Value;

use crate::args::Args;
use crate::host::Ctx;
use crate::probe::{decode_b64, section};
use crate::read_ahead::{sections, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::{ModuleError, ModuleResult};

/// A field as fstab writes it: space `\040`, `&` `\046`, backslash `\134`.
pub(crate) fn escape(field: &str) -> String {
    field
        .replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('&', "\\046")
}

/// The fields of the line to write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) src: String,
    pub(crate) name: String,
    pub(crate) fstype: String,
    pub(crate) opts: String,
    pub(crate) dump: String,
    pub(crate) passno: String,
}

impl Entry {
    fn escaped(&self) -> Entry {
        Entry {
            src: escape(&self.src),
            name: escape(&self.name),
            fstype: escape(&self.fstype),
            opts: escape(&self.opts),
            dump: escape(&self.dump),
            passno: escape(&self.passno),
        }
    }

    fn line(&self) -> String {
        format!(
            "{} {} {} {} {} {}\n",
            self.src, self.name, self.fstype, self.opts, self.dump, self.passno
        )
    }
}

/// Whether an fstab line's fields (`src name fstype ...`) are the entry for `name` (for swap,
/// `none` mount points are told apart by `src`).
fn is_entry_for(fields: &[&str], name: &str, src: Option<&str>) -> bool {
    if fields.get(1) != Some(&name) {
        return false;
    }
    let swap = fields.get(1) == Some(&"none") && fields.get(2) == Some(&"swap");
    !(swap && src.is_some_and(|s| fields.first() != Some(&s)))
}

/// The fstab with `e`'s line present; whether it changed.
pub(crate) fn set_entry(text: &str, e: &Entry) -> (String, bool) {
    let want = e.escaped();
    let mut out = String::new();
    let mut exists = false;
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let line = if line.ends_with('\n') {
            line.to_string()
        } else {
            format!("{line}\n")
        };
        let fields: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let usable = !line.trim().is_empty()
            && !line.trim_start().starts_with('#')
            && (4..=6).contains(&fields.len());
        if !usable || !is_entry_for(&fields, &want.name, Some(&e.src)) {
            out.push_str(&line);
            continue;
        }
        exists = true;
        let have = Entry {
            src: fields[0].to_string(),
            name: fields[1].to_string(),
            fstype: fields[2].to_string(),
            opts: fields[3].to_string(),
            dump: fields.get(4).unwrap_or(&"0").to_string(),
            passno: fields.get(5).unwrap_or(&"0").to_string(),
        };
        if have == want {
            out.push_str(&line);
        } else {
            changed = true;
            out.push_str(&want.line());
        }
    }
    if !exists {
        out.push_str(&want.line());
        changed = true;
    }
    (out, changed)
}

/// The fstab without `name`'s line; whether it changed.
pub(crate) fn unset_entry(text: &str, name: &str, src: Option<&str>) -> (String, bool) {
    let name = escape(name);
    let mut out = String::new();
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let candidate =
            !line.trim().is_empty() && !line.trim_start().starts_with('#') && fields.len() == 6;
        if candidate && is_entry_for(&fields, &name, src) {
            changed = true;
        } else {
            out.push_str(line);
        }
    }
    (out, changed)
}

/// Whether `/proc/self/mountinfo` has something mounted on `path` (its fifth field, escaped
/// as the kernel escapes it).
pub(crate) fn is_mounted(mountinfo: &str, path: &str) -> bool {
    let escaped = path
        .replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012");
    let path = escaped.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    mountinfo
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(path))
}

/// The fstab the task names, `/etc/fstab` by default.
fn fstab_arg(args: &Args) -> String {
    args.str("fstab")
        .unwrap_or_else(|| "/etc/fstab".to_string())
}

/// `mount`'s probe: the fstab, `/proc/self/mountinfo`, and whether the mount point exists.
pub(crate) struct MountProbe;

impl FirstProbe for MountProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let name = input.args.req_str("path")?;
        Ok(Some(with_funcs(&format!(
            "{}ep_b64 {}\n{}cat /proc/self/mountinfo\n{}[ -e {} ] && echo yes\n{}",
            section("fstab"),
            sh_quote(&fstab_arg(input.args)),
            section("mountinfo"),
            section("exists"),
            sh_quote(&name),
            section("end")
        ))))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let name = a.req_str("path")?;
    const STATES: &[&str] = &[
        "absent",
        "absent_from_fstab",
        "mounted",
        "present",
        "unmounted",
        "remounted",
        "ephemeral",
    ];
    let state = a
        .str("state")
        .ok_or_else(|| ModuleError::missing("mount", "state"))?;
    if !STATES.contains(&state.as_str()) {
        return Err(ctx.bad(
            "state",
            format!("value '{state}' is not one of: {}", STATES.join(", ")),
        ));
    }
    let fstab = fstab_arg(a);
    let boot = a.bool("boot", true)?;
    let mut opts = a.str("opts").unwrap_or_else(|| "defaults".to_string());
    if !boot && !opts.split(',').any(|o| o == "noauto") {
        opts.push_str(",noauto");
    }
    let src = a.str("src");
    let fstype = a.str("fstype");
    if matches!(state.as_str(), "mounted" | "present" | "ephemeral")
        && (src.is_none() || fstype.is_none())
    {
        let missing = if src.is_none() { "src" } else { "fstype" };
        return Err(ctx.bad(
            missing,
            format!("state is {state} but all of the following are missing: {missing}"),
        ));
    }
    let entry = Entry {
        src: src.clone().unwrap_or_default(),
        name: name.clone(),
        fstype: fstype.clone().unwrap_or_default(),
        opts: opts.clone(),
        dump: a.str("dump").unwrap_or_else(|| "0".into()),
        passno: a.str("passno").unwrap_or_else(|| "0".into()),
    };
    let s = ctx.read_probe::<MountProbe>().await?;
    let text = |k: &str| {
        String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default()).into_owned()
    };
    let old = String::from_utf8_lossy(&decode_b64(s.get("fstab")).unwrap_or_default()).into_owned();
    let mounted = is_mounted(&text("mountinfo"), &name);
    let path_exists = text("exists").trim() == "yes";
    let check = ctx.call.check;
    // `-T FILE` when the fstab is not the system's.
    let t = if fstab == "/etc/fstab" {
        String::new()
    } else {
        format!(" -T {}", sh_quote(&fstab))
    };
    let q = sh_quote(&name);
    let mut new_fstab = None;
    let mut commands: Vec<String> = Vec::new();
    let changed = match state.as_str() {
        "present" => {
            let (text, changed) = set_entry(&old, &entry);
            new_fstab = changed.then_some(text);
            changed
        }
        "absent_from_fstab" | "absent" => {
            let (text, changed) = unset_entry(&old, &name, src.as_deref());
            new_fstab = changed.then_some(text);
            if changed && mounted {
                commands.push(format!("umount {q}"));
            }
            if changed && state == "absent" && path_exists {
                commands.push(format!("rmdir {q}"));
            }
            changed
        }
        "unmounted" => {
            if mounted {
                commands.push(format!("umount {q}"));
            }
            mounted
        }
        "remounted" => {
            commands.push(remount(&entry, &t, true));
            true
        }
        "mounted" => {
            let (text, changed) = set_entry(&old, &entry);
            new_fstab = changed.then_some(text);
            if !path_exists {
                commands.push(format!("mkdir -p {q}"));
            }
            if !mounted {
                commands.push(format!("mount{t} {q}"));
            } else if changed {
                commands.push(remount(&entry, &t, false));
            }
            changed || !mounted
        }
        _ => {
            // ephemeral: fstab untouched; mounted with the task's settings.
            if !path_exists {
                commands.push(format!("mkdir -p {q}"));
            }
            let o = if opts == "defaults" {
                String::new()
            } else {
                format!(" -o {}", sh_quote(&opts))
            };
            let how = format!(
                " -t {}{o} {} {q}",
                sh_quote(&entry.fstype),
                sh_quote(&entry.src)
            );
            commands.push(if mounted {
                format!("mount -o remount{how}")
            } else {
                format!("mount{how}")
            });
            true
        }
    };
    let mut res = ModuleResult::ok();
    res.changed = changed;
    // `opts_no_log`: the options may hold credentials (cifs), masked as Ansible masks them.
    let shown_opts = if a.bool("opts_no_log", false)? {
        "********".to_string()
    } else {
        opts.clone()
    };
    res.set("name", name.clone())
        .set("opts", shown_opts)
        .set("dump", entry.dump.clone())
        .set("passno", entry.passno.clone())
        .set("fstab", fstab.clone())
        .set("boot", if boot { "yes" } else { "no" })
        .set("backup_file", "");
    if let Some(s) = &src {
        res.set("src", s.clone());
    }
    if let Some(f) = &fstype {
        res.set("fstype", f.clone());
    }
    if check || !changed {
        return Ok(res);
    }
    let wrote_fstab = new_fstab.is_some();
    if let Some(text) = new_fstab {
        if a.bool("backup", false)? && !old.is_empty() {
            let b = crate::modules::write::backup_file(ctx, &fstab).await?;
            res.set("backup_file", Value::String(b));
        }
        ctx.put(&fstab, Arc::new(text.into_bytes()), None, None, None)
            .await?;
    }
    if !commands.is_empty() {
        if let Err(msg) = ctx.change(commands.join(" && ") + "\n").await? {
            // A line that cannot be mounted must not stay for the next boot.
            if state == "mounted" && wrote_fstab {
                ctx.put(&fstab, Arc::new(old.into_bytes()), None, None, None)
                    .await?;
            }
            return Ok(ModuleResult::fail(format!("Error mounting {name}: {msg}")));
        }
    }
    Ok(res)
}

/// `mount -o remount`, or an unmount and mount when the kernel refuses (the options of
/// `remounted` are given on the command line and are not retried that way, as the
/// collection refuses).
fn remount(e: &Entry, t: &str, with_opts: bool) -> String {
    let q = sh_quote(&e.name);
    let o = if with_opts && e.opts != "defaults" {
        sh_quote(&format!("remount,{}", e.opts))
    } else {
        "remount".to_string()
    };
    if with_opts && e.opts != "defaults" {
        format!("mount -o {o}{t} {q}")
    } else {
        format!("{{ mount -o {o}{t} {q} || {{ umount {q} && mount{t} {q}; }}; }}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(opts: &str) -> Entry {
        Entry {
            src: "tmpfs".into(),
            name: "/srv/my data".into(),
            fstype: "tmpfs".into(),
            opts: opts.into(),
            dump: "0".into(),
            passno: "0".into(),
        }
    }

    #[test]
    fn fstab_lines_are_added_changed_and_removed() {
        // A Debian fstab as installed.
        let fstab = "# /etc/fstab: static file system information.\n\
UUID=1234 / ext4 errors=remount-ro 0 1\n\
/dev/sda2 none swap sw 0 0\n";
        let (text, changed) = set_entry(fstab, &entry("size=1m"));
        assert!(changed);
        assert!(
            text.ends_with("tmpfs /srv/my\\040data tmpfs size=1m 0 0\n"),
            "{text}"
        );
        let (again, changed) = set_entry(&text, &entry("size=1m"));
        assert!(!changed && again == text);
        let (bigger, changed) = set_entry(&text, &entry("size=2m"));
        assert!(changed);
        assert_eq!(bigger.lines().count(), 4, "changed in place");
        let (gone, changed) = unset_entry(&bigger, "/srv/my data", None);
        assert!(changed && gone == fstab);
        assert!(!unset_entry(fstab, "/nowhere", None).1);
        // A line without its last newline and without dump/passno is still the entry.
        let (text, changed) = set_entry("tmpfs /srv/my\\040data tmpfs size=1m", &entry("size=1m"));
        assert!(!changed);
        assert_eq!(text, "tmpfs /srv/my\\040data tmpfs size=1m\n");
    }

    #[test]
    fn mountinfo_says_what_is_mounted() {
        let info = "22 1 0:21 / /proc rw - proc proc rw\n\
90 22 0:50 / /srv/my\\040data rw,relatime - tmpfs tmpfs rw,size=1024k\n";
        assert!(is_mounted(info, "/srv/my data"));
        assert!(is_mounted(info, "/srv/my data/"));
        assert!(!is_mounted(info, "/srv"));
    }
}
