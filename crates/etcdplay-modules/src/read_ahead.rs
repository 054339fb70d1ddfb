//! The first request a module would send, found without sending it: the engine reads the
//! probes of upcoming tasks ahead in one round trip (`etcdplay_transport::Prefetching`). Only
//! modules whose first request is a read-only probe qualify; the module runs against a
//! [`Capture`] host that records that request and refuses it, which ends the run before
//! anything else happens. Its control node renders no template and hashes no file
//! ([`ProbeOnly`]): no probe depends on the content, and the read-ahead may run before the
//! facts a template needs.

use std::sync::Mutex;

use async_trait::async_trait;
use etcdplay_transport::{Become, ExecOutput, ExecRequest, PutRequest, Transport, TransportError};

use crate::probe::FUNCS;
use crate::{ControlNode, ModuleCall, ModuleError};

/// The probe `call` would send first, if its module reads before it changes. `systemd` with
/// `daemon_reload` qualifies in system scope, where its probe only asks whether a reload is
/// due; `daemon_reexec` and other scopes' reloads run in the first request, so those do not.
pub async fn first_probe(call: ModuleCall<'_>, host: &str) -> Option<ExecRequest> {
    let module = crate::registry::lookup(call.name)?;
    let other_scope = call
        .args
        .get("scope")
        .is_some_and(|s| s.as_str() != Some("system"));
    let reloads_first = call.args.contains_key("daemon_reexec")
        || (call.args.contains_key("daemon_reload") && other_scope);
    if !module.reads_first || reloads_first {
        return None;
    }
    let capture = Capture {
        host: host.to_string(),
        first: Mutex::new(None),
    };
    let control = ProbeOnly;
    let _ = crate::run(
        ModuleCall {
            control: &control,
            ..call
        },
        &capture,
    )
    .await;
    let first = capture
        .first
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())?;
    // Probes come from `Ctx::probe`, which puts the shared functions first; anything else
    // (a `systemd` call without a unit: a bare daemon-reload) is an action. Fact gathering
    // only reads.
    (module.name == "setup" || first.script.starts_with(FUNCS)).then_some(first)
}

/// The control node while a module is run only for its first request: template and source
/// content are not needed for it (nor available yet, before facts), so none is made.
struct ProbeOnly;

impl ControlNode for ProbeOnly {
    fn read_local(&self, _: &str) -> Result<Vec<u8>, ModuleError> {
        Ok(Vec::new())
    }
    fn render_template(
        &self,
        _: &str,
        _: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, ModuleError> {
        Ok(String::new())
    }
    fn local_digest(&self, _: &str) -> Result<(u64, String), ModuleError> {
        Ok((0, String::new()))
    }
    fn local_mode(&self, _: &str, _: &str) -> Result<u32, ModuleError> {
        Ok(0o644)
    }
    fn local_tree(
        &self,
        _: &str,
        _: &str,
        _: bool,
    ) -> Result<Option<Vec<crate::LocalEntry>>, ModuleError> {
        Ok(None)
    }
    fn write_local(&self, path: &str, _: &[u8]) -> Result<(), ModuleError> {
        Err(ModuleError::Control {
            path: path.to_string(),
            message: "read ahead: nothing is written".into(),
        })
    }
    fn read_written(&self, _: &str) -> Result<Option<Vec<u8>>, ModuleError> {
        Ok(None)
    }
}

/// A host that records the first request and answers none.
struct Capture {
    host: String,
    first: Mutex<Option<ExecRequest>>,
}

impl Capture {
    fn refused(&self) -> TransportError {
        TransportError::Io {
            host: self.host.clone(),
            source: std::io::Error::other("read ahead: not sent"),
        }
    }
}

#[async_trait]
impl Transport for Capture {
    fn host(&self) -> &str {
        &self.host
    }
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError> {
        let mut first = self.first.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(request);
        }
        Err(self.refused())
    }
    async fn put(&self, _: PutRequest) -> Result<(), TransportError> {
        Err(self.refused())
    }
    async fn get(&self, _: &str, _: Option<&Become>) -> Result<Vec<u8>, TransportError> {
        Err(self.refused())
    }
    async fn close(&self) -> Result<(), TransportError> {
        Ok(())
    }
}
