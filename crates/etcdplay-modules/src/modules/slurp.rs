//! `slurp`: return a file's content base64-encoded (`content`, `encoding: base64`, `source`),
//! the way playbooks read a remote file into a variable. Read-only. One `base64` of the file on
//! the host; when it cannot be read, the reason (`strerror`'s words in the C locale) gives
//! Ansible's message, as its module tells them apart by `errno`.

use etcdplay_transport::script::sh_quote;

use crate::host::Ctx;
use crate::{ModuleError, ModuleResult};

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let src = ctx.args.req_str("src")?;
    let out = ctx
        .exec(format!("LC_ALL=C base64 -w0 -- {}\n", sh_quote(&src)))
        .await?;
    if out.rc != 0 {
        return Ok(ModuleResult::fail(unreadable_message(
            &src,
            &out.stderr_str(),
        )));
    }
    let mut res = ModuleResult::ok();
    res.set("content", out.stdout_str().trim().to_string())
        .set("encoding", "base64")
        .set("source", src);
    Ok(res)
}

/// Ansible's message for a file `base64` could not read, from its error (`base64: /x: No such
/// file or directory`; a directory opens and fails to read: `base64: read error: Is a
/// directory`).
pub(crate) fn unreadable_message(src: &str, stderr: &str) -> String {
    if stderr.contains("No such file or directory") {
        format!("File not found: {src}")
    } else if stderr.contains("Permission denied") {
        format!("File is not readable: {src}")
    } else if stderr.contains("Is a directory") {
        format!("Source is a directory and must be a file: {src}")
    } else {
        // Ansible's text, braces included: its module forgot the f-string prefix here.
        "Unable to slurp file: {source}".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// coreutils' `base64` errors in the C locale, and what ansible-core 2.19.14's slurp said
    /// for the same cases in its integration target (missing file, file and directory
    /// unreadable for the become user, a directory, a file used as a directory).
    #[test]
    fn errors_of_base64_give_ansibles_messages() {
        let msg = |e: &str| unreadable_message("/t/x", e);
        assert_eq!(
            msg("base64: /t/x: No such file or directory\n"),
            "File not found: /t/x"
        );
        assert_eq!(
            msg("base64: /t/x: Permission denied\n"),
            "File is not readable: /t/x"
        );
        assert_eq!(
            msg("base64: read error: Is a directory\n"),
            "Source is a directory and must be a file: /t/x"
        );
        assert_eq!(
            msg("base64: /t/x: Not a directory\n"),
            "Unable to slurp file: {source}"
        );
    }
}
