//! `sysctl`: a kernel parameter's value, set now (`sysctl -w`) and kept across reboots in
//! `sysctl_file` (default `/etc/sysctl.conf`), as Ansible's module does: one probe reads the
//! running value and the file, the pure [`edit_file`] decides the file's new text, and the file
//! is written through the same atomic upload as every other file.

use etcdplay_transport::script::sh_quote;

use crate::host::Ctx;
use crate::probe::{decode_b64, section};
use crate::{ModuleError, ModuleResult};

/// `name = value` set (or, with `value: None`, removed) in a sysctl.conf text. Later lines
/// win in sysctl.conf, so a present entry is changed in place and duplicates are dropped.
pub(crate) fn edit_file(text: &str, name: &str, value: Option<&str>) -> String {
    let mut out = Vec::new();
    let mut placed = false;
    for line in text.lines() {
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim())
            .filter(|k| !k.starts_with(['#', ';']));
        if key == Some(name) {
            if let (Some(v), false) = (value, placed) {
                out.push(format!("{name}={v}"));
                placed = true;
            }
            continue;
        }
        out.push(line.to_string());
    }
    if let (Some(v), false) = (value, placed) {
        out.push(format!("{name}={v}"));
    }
    let mut text = out.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// How sysctl prints a value: whitespace runs as single spaces (`4096 87380 6291456`).
fn normalized(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let name = a.req_str("name")?;
    let present = a.choice("state", &["present", "absent"], "present")? == "present";
    let value = a.str("value").map(|v| normalized(&v));
    if present && value.is_none() {
        return Err(ModuleError::missing("sysctl", "value"));
    }
    let file = a
        .str("sysctl_file")
        .unwrap_or_else(|| "/etc/sysctl.conf".to_string());
    let set_now = a.bool("sysctl_set", true)? && present;
    let reload = a.bool("reload", true)?;
    let ignoreerrors = a.bool("ignoreerrors", false)?;
    let q = sh_quote(&file);
    let s = ctx
        .probe(&format!(
            "{}sysctl -n -- {} 2>/dev/null\n{}ep_b64 {q}\n{}",
            section("now"),
            sh_quote(&name),
            section("file"),
            section("end")
        ))
        .await?;
    let running = normalized(&String::from_utf8_lossy(
        s.get("now").map(Vec::as_slice).unwrap_or_default(),
    ));
    let old = decode_b64(s.get("file")).unwrap_or_default();
    let old_text = String::from_utf8_lossy(&old).into_owned();
    let new_text = edit_file(&old_text, &name, value.as_deref().filter(|_| present));
    let file_changed = new_text != old_text;
    let runtime_changed = set_now && value.as_deref() != Some(running.as_str());
    let mut res = ModuleResult::ok();
    res.changed = file_changed || runtime_changed;
    if !res.changed || ctx.call.check {
        return Ok(res);
    }
    if file_changed {
        ctx.put(
            &file,
            std::sync::Arc::new(new_text.into_bytes()),
            None,
            None,
            None,
        )
        .await?;
    }
    let mut commands = Vec::new();
    if runtime_changed {
        if let Some(v) = &value {
            commands.push(format!("sysctl -q -w {}", sh_quote(&format!("{name}={v}"))));
        }
    }
    if reload && file_changed {
        let e = if ignoreerrors { " -e" } else { "" };
        commands.push(format!("sysctl -q{e} -p {q}"));
    }
    if !commands.is_empty() {
        if let Err(msg) = ctx.change(commands.join(" && ")).await? {
            return Ok(ModuleResult::fail(format!("Failed to set {name}: {msg}")));
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conf_file_is_edited_in_place() {
        let text = "# comment\nnet.ipv4.ip_forward = 0\nvm.swappiness=60\nnet.ipv4.ip_forward=0\n";
        assert_eq!(
            edit_file(text, "net.ipv4.ip_forward", Some("1")),
            "# comment\nnet.ipv4.ip_forward=1\nvm.swappiness=60\n"
        );
        assert_eq!(
            edit_file(text, "fs.file-max", Some("100000")),
            format!("{text}fs.file-max=100000\n")
        );
        assert_eq!(
            edit_file(text, "net.ipv4.ip_forward", None),
            "# comment\nvm.swappiness=60\n"
        );
        assert_eq!(edit_file("", "a.b", Some("1")), "a.b=1\n");
        assert_eq!(normalized(" 4096\t87380  6291456\n"), "4096 87380 6291456");
    }
}
