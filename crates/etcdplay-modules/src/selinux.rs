//! The SELinux arguments of the file-writing modules (`seuser`, `serole`, `setype`,
//! `selevel`). On a host without SELinux they are ignored, as Ansible ignores them; where it
//! is enabled, the path the module reports (`dest`, else `path`) is given that context with
//! `chcon` after the module ran, a change when the context differed. `_default` (the policy's
//! default context) is not looked up: such a part is left as it is.

use etcdplay_transport::script::sh_quote;

use crate::host::Ctx;
use crate::{ModuleError, ModuleResult};

/// The arguments in context order (`user:role:type:level`) with their `chcon` flags.
const PARTS: [(&str, &str); 4] = [
    ("seuser", "-u"),
    ("serole", "-r"),
    ("setype", "-t"),
    ("selevel", "-l"),
];

/// The `chcon` options that give a file whose context is `current` the wanted parts, or
/// `None` when it has them.
pub(crate) fn chcon_options(current: &str, wanted: &[Option<String>; 4]) -> Option<Vec<String>> {
    let have: Vec<&str> = current.trim().splitn(4, ':').collect();
    let mut options = Vec::new();
    for (i, (want, (_, flag))) in wanted.iter().zip(PARTS).enumerate() {
        let Some(want) = want.as_deref().filter(|w| *w != "_default") else {
            continue;
        };
        if have.get(i).copied() != Some(want) {
            options.push(flag.to_string());
            options.push(want.to_string());
        }
    }
    (!options.is_empty()).then_some(options)
}

/// Applies the task's SELinux arguments to the path in `res` (see the module doc).
pub(crate) async fn apply(
    ctx: &Ctx<'_>,
    mut res: ModuleResult,
) -> Result<ModuleResult, ModuleError> {
    let wanted = PARTS.map(|(name, _)| ctx.args.str(name));
    if wanted.iter().all(Option::is_none) || res.failed || res.skipped {
        return Ok(res);
    }
    let Some(path) = ["dest", "path"]
        .iter()
        .find_map(|k| res.data.get(*k).and_then(|v| v.as_str()).map(String::from))
    else {
        return Ok(res);
    };
    let q = sh_quote(&path);
    let out = ctx
        .exec(format!(
            "if command -v selinuxenabled >/dev/null 2>&1 && selinuxenabled; then \
             stat -c %C -- {q}; else echo off; fi\n"
        ))
        .await?;
    let current = out.stdout_str();
    if current.trim() == "off" || current.trim().is_empty() {
        return Ok(res);
    }
    let Some(options) = chcon_options(&current, &wanted) else {
        return Ok(res);
    };
    res.changed = true;
    if !ctx.call.check {
        let words: Vec<String> = options.iter().map(|o| sh_quote(o)).collect();
        if let Err(msg) = ctx
            .change(format!("chcon {} -- {q}", words.join(" ")))
            .await?
        {
            return Ok(ModuleResult::fail(msg));
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_differing_parts_are_set() {
        let want = |t: &str| [None, None, Some(t.to_string()), None];
        let ctx = "system_u:object_r:etc_t:s0";
        assert_eq!(chcon_options(ctx, &want("etc_t")), None);
        assert_eq!(
            chcon_options(ctx, &want("httpd_sys_content_t")),
            Some(vec!["-t".into(), "httpd_sys_content_t".into()])
        );
        assert_eq!(chcon_options(ctx, &want("_default")), None);
        let level = [None, None, None, Some("s0:c1,c2".to_string())];
        assert_eq!(
            chcon_options("u:r:t:s0:c1,c2", &level),
            None,
            "a level holds colons"
        );
    }
}
