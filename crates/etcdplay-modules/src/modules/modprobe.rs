//! `modprobe` (community.general): a kernel module loaded or unloaded now (`modprobe NAME
//! PARAMS`, `modprobe -r NAME`; a module built into the kernel counts as loaded), and with
//! `persistent` loaded at boot (`/etc/modules-load.d/NAME.conf`) with its parameters
//! (`/etc/modprobe.d/NAME.conf`, `options NAME key=value` lines), or no longer: lines naming it
//! elsewhere in those directories are commented out, as the collection does. One probe reads
//! `/proc/modules`, `modules.builtin` and both directories; the pure [`Persistence`] decides
//! which files change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use base64::Engine;
use etcdplay_transport::script::{sh_quote, shlex_split};
use etcdplay_transport::ExecOutput;

use crate::host::Ctx;
use crate::probe::section;
use crate::read_ahead::{sections, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::{ModuleError, ModuleResult};

const LOAD_DIR: &str = "/etc/modules-load.d";
const OPTIONS_DIR: &str = "/etc/modprobe.d";

/// A line that loads `name` at boot: the name alone, maybe with a comment.
fn loads(line: &str, name: &str) -> bool {
    let body = line.split(['#', ';']).next().unwrap_or_default();
    body.trim() == name && line.trim_start().starts_with(name)
}

/// The `key=value` an `options NAME key=value` line sets.
fn option_of<'l>(line: &'l str, name: &str) -> Option<&'l str> {
    let rest = line
        .strip_prefix("options ")?
        .strip_prefix(name)?
        .strip_prefix(' ')?;
    let body = rest.split(['#', ';']).next().unwrap_or_default();
    let value = body.trim_end();
    let (key, val) = value.split_once('=')?;
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    (word(key) && !val.is_empty() && !val.contains(char::is_whitespace)).then_some(value)
}

/// The boot-time files of both directories, by path.
#[derive(Debug, Clone, Default)]
pub(crate) struct Persistence {
    pub(crate) load_files: BTreeMap<String, String>,
    pub(crate) option_files: BTreeMap<String, String>,
}

impl Persistence {
    pub(crate) fn loaded_at_boot(&self, name: &str) -> bool {
        self.load_files
            .values()
            .any(|t| t.lines().any(|l| loads(l, name)))
    }

    pub(crate) fn boot_params(&self, name: &str) -> BTreeSet<String> {
        self.option_files
            .values()
            .flat_map(|t| {
                t.lines()
                    .filter_map(|l| option_of(l, name))
                    .map(str::to_string)
            })
            .collect()
    }

    /// Files to write (path → new text) so that `name` loads at boot with `params`.
    pub(crate) fn enable(&self, name: &str, params: &str) -> BTreeMap<String, String> {
        let mut writes = BTreeMap::new();
        if !self.loaded_at_boot(name) {
            writes.insert(format!("{LOAD_DIR}/{name}.conf"), format!("{name}\n"));
        }
        let wanted: BTreeSet<String> = params.split_whitespace().map(str::to_string).collect();
        if wanted != self.boot_params(name) {
            writes.extend(commented(&self.option_files, |l| {
                option_of(l, name).is_some()
            }));
            let lines: Vec<String> = params
                .split_whitespace()
                .map(|p| format!("options {name} {p}"))
                .collect();
            writes.insert(
                format!("{OPTIONS_DIR}/{name}.conf"),
                format!("{}\n", lines.join("\n")),
            );
        }
        writes
    }

    /// Files to write so that `name` no longer loads at boot nor gets parameters.
    pub(crate) fn disable(&self, name: &str) -> BTreeMap<String, String> {
        let mut writes = commented(&self.load_files, |l| loads(l, name));
        writes.extend(commented(&self.option_files, |l| {
            option_of(l, name).is_some()
        }));
        writes
    }
}

/// The files in which some line matches, with those lines commented out.
fn commented(
    files: &BTreeMap<String, String>,
    matches: impl Fn(&str) -> bool,
) -> BTreeMap<String, String> {
    files
        .iter()
        .filter(|(_, text)| text.lines().any(&matches))
        .map(|(path, text)| {
            let out: String = text
                .split_inclusive('\n')
                .map(|l| {
                    if matches(l.trim_end_matches('\n')) {
                        format!("#{l}")
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            (path.clone(), out)
        })
        .collect()
}

/// `PATH_B64|CONTENT_B64` lines of the probe.
fn parse_files(text: &str) -> BTreeMap<String, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    text.lines()
        .filter_map(|l| {
            let (p, c) = l.split_once('|')?;
            let p = String::from_utf8(b64.decode(p).ok()?).ok()?;
            let c = String::from_utf8_lossy(&b64.decode(c).ok()?).into_owned();
            Some((p, c))
        })
        .collect()
}

fn list_dir(dir: &str) -> String {
    format!(
        "for f in {dir}/*; do [ -f \"$f\" ] || continue; printf '%s|' \"$(printf '%s' \"$f\" | base64 -w0)\"; base64 -w0 < \"$f\"; echo; done\n"
    )
}

/// `modprobe`'s probe: whether the module is loaded (or built in), and the files of both
/// boot directories (`PATH_B64|CONTENT_B64` lines).
pub(crate) struct ModprobeProbe;

impl FirstProbe for ModprobeProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let name = input.args.req_str("name")?;
        // `/proc/modules` names a module with `_` where its file name may have `-`.
        let kernel_name = format!("{} ", name.replace('-', "_"));
        Ok(Some(with_funcs(&format!(
            "{}grep -q -e {} /proc/modules && echo yes\n\
             grep -q -e {} \"/lib/modules/$(uname -r)/modules.builtin\" 2>/dev/null && echo yes\n\
             {}{}{}{}{}",
            section("loaded"),
            sh_quote(&format!("^{kernel_name}")),
            sh_quote(&format!("/{name}.ko$")),
            section("load_files"),
            list_dir(LOAD_DIR),
            section("option_files"),
            list_dir(OPTIONS_DIR),
            section("end")
        ))))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let name = a.req_str("name")?;
    let present = a.choice("state", &["absent", "present"], "present")? == "present";
    let params = a.str("params").unwrap_or_default();
    let persistent = a.choice("persistent", &["disabled", "present", "absent"], "disabled")?;
    let words = shlex_split(&params).map_err(|m| ctx.bad("params", m))?;
    let s = ctx.read_probe::<ModprobeProbe>().await?;
    let text = |k: &str| {
        String::from_utf8_lossy(s.get(k).map(Vec::as_slice).unwrap_or_default()).into_owned()
    };
    let loaded = text("loaded").contains("yes");
    let boot = Persistence {
        load_files: parse_files(&text("load_files")),
        option_files: parse_files(&text("option_files")),
    };
    let runtime = match (present, loaded) {
        (true, false) => Some(format!(
            "modprobe {} {}",
            sh_quote(&name),
            words
                .iter()
                .map(|w| sh_quote(w))
                .collect::<Vec<_>>()
                .join(" ")
        )),
        (false, true) => Some(format!("modprobe -r {}", sh_quote(&name))),
        _ => None,
    };
    let writes = match persistent.as_str() {
        "present" => boot.enable(&name, &params),
        "absent" => boot.disable(&name),
        _ => BTreeMap::new(),
    };
    let mut res = ModuleResult::ok();
    res.changed = runtime.is_some() || !writes.is_empty();
    res.set("name", name.clone())
        .set("params", params.clone())
        .set("state", if present { "present" } else { "absent" });
    if let Some(cmd) = &runtime {
        // Check mode asks modprobe for a dry run, which still says whether the module exists.
        let cmd = if ctx.call.check {
            cmd.replacen("modprobe ", "modprobe -n ", 1)
        } else {
            cmd.clone()
        };
        if let Err(msg) = ctx.change(cmd).await? {
            let mut fail = ModuleResult::fail(msg.clone());
            fail.set("name", name).set("stderr", msg);
            return Ok(fail);
        }
    }
    if ctx.call.check {
        return Ok(res);
    }
    if !writes.is_empty() {
        if let Err(msg) = ctx
            .change(format!("mkdir -p {LOAD_DIR} {OPTIONS_DIR}\n"))
            .await?
        {
            return Ok(ModuleResult::fail(msg));
        }
    }
    for (path, text) in writes {
        ctx.put(&path, Arc::new(text.into_bytes()), None, None, None)
            .await?;
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn boot_files_are_written_and_commented_as_the_collection_does() {
        let boot = Persistence {
            load_files: files(&[(
                "/etc/modules-load.d/k8s.conf",
                "overlay\nbr_netfilter # k8s\n",
            )]),
            option_files: files(&[(
                "/etc/modprobe.d/old.conf",
                "options dummy numdummies=1\nblacklist x\n",
            )]),
        };
        assert!(boot.loaded_at_boot("br_netfilter") && !boot.loaded_at_boot("dummy"));
        assert_eq!(
            boot.boot_params("dummy"),
            BTreeSet::from(["numdummies=1".to_string()])
        );
        let w = boot.enable("dummy", "numdummies=2");
        assert_eq!(w["/etc/modules-load.d/dummy.conf"], "dummy\n");
        assert_eq!(
            w["/etc/modprobe.d/dummy.conf"],
            "options dummy numdummies=2\n"
        );
        assert_eq!(
            w["/etc/modprobe.d/old.conf"],
            "#options dummy numdummies=1\nblacklist x\n"
        );
        assert!(boot.enable("br_netfilter", "").is_empty(), "already so");
        let w = boot.disable("br_netfilter");
        assert_eq!(
            w["/etc/modules-load.d/k8s.conf"],
            "overlay\n#br_netfilter # k8s\n"
        );
        assert!(boot.disable("nothing").is_empty());
    }
}
