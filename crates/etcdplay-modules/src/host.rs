//! The per-call context modules work with: parsed arguments plus the host, with `become`
//! applied to every request, so no module can forget it.

use std::collections::BTreeMap;

use etcdplay_transport::{ExecOutput, ExecRequest, PutRequest, Transport};

use crate::args::Args;
use crate::probe::{parse_sections, FUNCS};
use crate::read_ahead::{FirstProbe, ProbeInput};
use crate::{ModuleCall, ModuleError};

/// The user of a `~user/...` path (empty for `~` and `~/...`).
fn home_user(path: &str) -> &str {
    path[1..].split('/').next().unwrap_or("")
}

/// A path argument (or one path of a list of paths) that starts with `~`.
pub(crate) struct TildePath {
    name: &'static str,
    /// Its place in a list of paths (`find`'s `paths`); `None` for a single path.
    index: Option<usize>,
    value: String,
}

/// The path arguments (by the module's spec) that start with `~`, with their values: each costs
/// the request of [`Ctx::expand_home_in_paths`] before the module's own first request.
pub(crate) fn tilde_paths(args: &Args) -> Vec<TildePath> {
    use crate::spec::ArgType;
    let mut found = Vec::new();
    for spec in crate::registry::module_arg_spec(args.module) {
        match spec.kind {
            ArgType::Path => found.extend(args.str(spec.name).map(|value| TildePath {
                name: spec.name,
                index: None,
                value,
            })),
            ArgType::PathList => {
                let items = args.list(spec.name).ok().flatten().unwrap_or_default();
                found.extend(items.into_iter().enumerate().map(|(i, value)| TildePath {
                    name: spec.name,
                    index: Some(i),
                    value,
                }));
            }
            _ => {}
        }
    }
    found.retain(|t| t.value.starts_with('~'));
    found
}

pub(crate) struct Ctx<'a> {
    pub(crate) call: ModuleCall<'a>,
    pub(crate) host: &'a dyn Transport,
    pub(crate) args: Args,
}

impl Ctx<'_> {
    pub(crate) fn module(&self) -> &'static str {
        self.args.module
    }

    /// Ansible's modules expand a leading `~` or `~user` in every path argument on the host,
    /// as the user they run as (`os.path.expanduser`): one request learns the home
    /// directories, only when some path argument starts with `~`.
    pub(crate) async fn expand_home_in_paths(&mut self) -> Result<(), ModuleError> {
        let tilde = tilde_paths(&self.args);
        if tilde.is_empty() {
            return Ok(());
        }
        let mut script = String::new();
        for TildePath { value, .. } in &tilde {
            let user = home_user(value);
            script.push_str(&if user.is_empty() {
                "h=${HOME:-$(getent passwd \"$(id -un)\" | cut -d: -f6)}; printf '%s\\n' \"$h\"\n"
                    .to_string()
            } else {
                format!(
                    "getent passwd {} | cut -d: -f6 | grep . || echo\n",
                    etcdplay_transport::script::sh_quote(user)
                )
            });
        }
        let out = self.exec(script).await?;
        let text = out.stdout_str();
        for (t, home) in tilde.iter().zip(text.lines()) {
            // An unknown user keeps the path as written, as expanduser does.
            if home.is_empty() {
                continue;
            }
            let rest = &t.value[1 + home_user(&t.value).len()..];
            let expanded = format!("{}{rest}", home.trim_end_matches('/'));
            match t.index {
                None => self.args.set(t.name, expanded),
                Some(i) => {
                    let mut items = self.args.list(t.name)?.unwrap_or_default();
                    if let Some(item) = items.get_mut(i) {
                        *item = expanded;
                    }
                    self.args.set_list(t.name, items);
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn exec_req(&self, mut req: ExecRequest) -> Result<ExecOutput, ModuleError> {
        req.become_ = self.call.become_.cloned();
        Ok(self.host.exec(req).await?)
    }

    pub(crate) async fn exec(&self, script: String) -> Result<ExecOutput, ModuleError> {
        self.exec_req(ExecRequest::script(script)).await
    }

    /// Sends the module's declared first probe `P` (see [`crate::read_ahead`]) and parses its
    /// answer; `None` when these arguments make the first request act instead.
    pub(crate) async fn read_first<P: FirstProbe>(&self) -> Result<Option<P::Answer>, ModuleError> {
        debug_assert!(
            crate::registry::lookup(self.module())
                .and_then(|m| m.probe)
                .is_some_and(|d| (d.probe_type)() == std::any::type_name::<P>()),
            "{} sends a probe the registry does not declare for it",
            self.module()
        );
        let input = ProbeInput {
            args: &self.args,
            check: self.call.check,
            diff: self.call.diff,
        };
        let Some(script) = crate::read_ahead::declared_script::<P>(&input)? else {
            return Ok(None);
        };
        let out = self.exec(script).await?;
        P::parse(&out).map(Some).map_err(|m| self.protocol(m))
    }

    /// [`Ctx::read_first`] for a module whose declared probe always reads.
    pub(crate) async fn read_probe<P: FirstProbe>(&self) -> Result<P::Answer, ModuleError> {
        self.read_first::<P>()
            .await?
            .ok_or_else(|| self.protocol("no read-only probe for these arguments"))
    }

    /// Runs a probe script (with [`FUNCS`] prepended) and splits its sections.
    pub(crate) async fn probe(
        &self,
        script: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, ModuleError> {
        Ok(self.probe_with_stderr(script).await?.0)
    }

    /// Like [`Ctx::probe`], also returning stderr (for modules that act inside the probe).
    pub(crate) async fn probe_with_stderr(
        &self,
        script: &str,
    ) -> Result<(BTreeMap<String, Vec<u8>>, String), ModuleError> {
        let out = self.exec(format!("{FUNCS}{script}")).await?;
        let sections = parse_sections(&out.stdout);
        if !sections.contains_key("end") {
            return Err(ModuleError::protocol(
                self.host.host(),
                self.module(),
                format!(
                    "probe script failed (rc {}): {}",
                    out.rc,
                    out.stderr_str().trim()
                ),
            ));
        }
        Ok((sections, out.stderr_str()))
    }

    /// Runs a change script and turns a non-zero exit into a module failure message.
    pub(crate) async fn change(
        &self,
        script: String,
    ) -> Result<Result<ExecOutput, String>, ModuleError> {
        let out = self.exec(script).await?;
        if out.rc == 0 {
            Ok(Ok(out))
        } else {
            let err = out.stderr_str();
            Ok(Err(if err.trim().is_empty() {
                format!("command failed with rc {}", out.rc)
            } else {
                err.trim().to_string()
            }))
        }
    }

    pub(crate) async fn put(
        &self,
        dest: &str,
        content: std::sync::Arc<Vec<u8>>,
        mode: Option<u32>,
        owner: Option<String>,
        group: Option<String>,
    ) -> Result<(), ModuleError> {
        let req = PutRequest {
            dest: dest.to_string(),
            content,
            mode,
            owner,
            group,
            become_: self.call.become_.cloned(),
        };
        Ok(self.host.put(req).await?)
    }

    pub(crate) fn bad(&self, arg: &str, message: impl Into<String>) -> ModuleError {
        ModuleError::bad(self.module(), arg, message)
    }

    pub(crate) fn protocol(&self, message: impl Into<String>) -> ModuleError {
        ModuleError::protocol(self.host.host(), self.module(), message)
    }
}
