//! `systemd` (work in progress).

use crate::host::Ctx;
use crate::{ModuleError, ModuleResult};

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    Err(ModuleError::NotImplemented { module: ctx.module().to_string() })
}
