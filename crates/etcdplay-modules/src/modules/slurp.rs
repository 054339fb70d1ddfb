//! `slurp`: return a file's content base64-encoded (`content`, `encoding: base64`, `source`),
//! the way playbooks read a remote file into a variable. Read-only.

use etcdplay_transport::script::sh_quote;

use crate::host::Ctx;
use crate::probe::{section, PathState};
use crate::{ModuleError, ModuleResult};

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let src = ctx.args.req_str("src")?;
    let q = sh_quote(&src);
    let script = format!(
        "{}ep_stat {q}\n{}ep_b64 {q}\n{}",
        section("stat"),
        section("content"),
        section("end")
    );
    let s = ctx.probe(&script).await?;
    let st = PathState::parse(&String::from_utf8_lossy(
        s.get("stat").map(Vec::as_slice).unwrap_or_default(),
    ))
    .map_err(|m| ctx.protocol(m))?;
    if !st.exists {
        return Ok(ModuleResult::fail(format!("file not found: {src}")));
    }
    if st.is_dir() {
        return Ok(ModuleResult::fail(format!(
            "source is a directory and must be a file: {src}"
        )));
    }
    let content = String::from_utf8_lossy(s.get("content").map(Vec::as_slice).unwrap_or_default())
        .trim()
        .to_string();
    if content.is_empty() && st.size > 0 {
        return Ok(ModuleResult::fail(format!("file is not readable: {src}")));
    }
    let mut res = ModuleResult::ok();
    res.set("content", content)
        .set("encoding", "base64")
        .set("source", src);
    Ok(res)
}
