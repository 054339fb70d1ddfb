//! The per-call context modules work with: parsed arguments plus the host, with `become`
//! applied to every request, so no module can forget it.

use std::collections::BTreeMap;

use etcdplay_transport::{ExecOutput, ExecRequest, PutRequest, Transport};

use crate::args::Args;
use crate::probe::{parse_sections, FUNCS};
use crate::read_ahead::{FirstProbe, ProbeInput};
use crate::{ModuleCall, ModuleError};

/// Whether a path argument's value is one Python's `expandvars`/`expanduser` would change: a
/// leading `~`, or a `$` (a variable that is not set stays as written, as Python leaves it).
fn expandable(value: &str) -> bool {
    value.starts_with('~') || value.contains('$')
}

/// A source that the action reads on the control node (copy's, template's, unarchive's and
/// assemble's `src` without `remote_src`, whose default is yes for assemble only): the host
/// never expands it.
fn read_on_controller(args: &Args, name: &str) -> bool {
    let remote_by_default = args.module == "assemble";
    name == "src"
        && matches!(args.module, "copy" | "template" | "unarchive" | "assemble")
        && !args
            .bool("remote_src", remote_by_default)
            .unwrap_or(remote_by_default)
}

/// A path argument (or one path of a list of paths) the host would expand.
pub(crate) struct ExpandablePath {
    name: &'static str,
    /// Its place in a list of paths (`find`'s `paths`); `None` for a single path.
    index: Option<usize>,
    value: String,
}

/// The path arguments (by the module's spec) that the host would expand (see [`expandable`]),
/// with their values: each costs the request of [`Ctx::expand_paths`] before the module's own
/// first request.
pub(crate) fn expandable_paths(args: &Args) -> Vec<ExpandablePath> {
    use crate::spec::ArgType;
    let mut found = Vec::new();
    for spec in crate::registry::module_arg_spec(args.module) {
        match spec.kind {
            ArgType::Path if !read_on_controller(args, spec.name) => {
                found.extend(args.str(spec.name).map(|value| ExpandablePath {
                    name: spec.name,
                    index: None,
                    value,
                }))
            }
            ArgType::PathList => {
                let items = args.list(spec.name).ok().flatten().unwrap_or_default();
                found.extend(
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, value)| ExpandablePath {
                            name: spec.name,
                            index: Some(i),
                            value,
                        }),
                );
            }
            _ => {}
        }
    }
    found.retain(|p| expandable(&p.value));
    found
}

/// The script printing each value expanded as Python's `os.path.expanduser(os.path.expandvars
/// (value))` on the host, each followed by a NUL.
fn expansion_script(values: &[ExpandablePath]) -> String {
    let mut script = String::new();
    for ExpandablePath { value, .. } in values {
        script.push_str(&crate::modules::command::expanded_word(
            "__etcdplay_x",
            value,
        ));
        script.push_str("printf '%s\\000' \"$__etcdplay_x\"\n");
    }
    script
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

    /// Ansible's modules expand every path argument on the host, as the user they run as
    /// (`os.path.expanduser(os.path.expandvars(path))`: `$HOME/.ssh`, `~/x`, `~user/x`): one
    /// request, only when some path argument has a `~` or `$` to expand.
    pub(crate) async fn expand_paths(&mut self) -> Result<(), ModuleError> {
        let paths = expandable_paths(&self.args);
        if paths.is_empty() {
            return Ok(());
        }
        let out = self.exec(expansion_script(&paths)).await?;
        let text = out.stdout_str();
        for (path, expanded) in paths.iter().zip(text.split('\0')) {
            match path.index {
                None => self.args.set(path.name, expanded.to_string()),
                Some(i) => {
                    let mut items = self.args.list(path.name)?.unwrap_or_default();
                    if let Some(item) = items.get_mut(i) {
                        *item = expanded.to_string();
                    }
                    self.args.set_list(path.name, items);
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

    /// [`Ctx::probe`] with the host agent's prefill `words` on the request's first line,
    /// where the agent looks for them (a comment to the shell loop).
    pub(crate) async fn probe_hinted(
        &self,
        words: &str,
        script: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, ModuleError> {
        let hint = etcdplay_transport::AGENT_PREFILL_HINT;
        let out = self.exec(format!("{hint}{words}\n{FUNCS}{script}")).await?;
        self.sections_of(out)
    }

    /// Like [`Ctx::probe`], also returning stderr (for modules that act inside the probe).
    pub(crate) async fn probe_with_stderr(
        &self,
        script: &str,
    ) -> Result<(BTreeMap<String, Vec<u8>>, String), ModuleError> {
        let out = self.exec(format!("{FUNCS}{script}")).await?;
        let stderr = out.stderr_str();
        Ok((self.sections_of(out)?, stderr))
    }

    /// A probe's sections; an answer without its `end` is the probe script's failure.
    fn sections_of(&self, out: ExecOutput) -> Result<BTreeMap<String, Vec<u8>>, ModuleError> {
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
        Ok(sections)
    }

    /// Runs a change script and turns a non-zero exit into a module failure message. The
    /// script is the module's own (`Transport::exec_change`: the next task's read-ahead
    /// probes may go with it).
    pub(crate) async fn change(
        &self,
        script: String,
    ) -> Result<Result<ExecOutput, String>, ModuleError> {
        let out = self.host.exec_change(self.task_request(script)).await?;
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
        let req = self.put_request(dest, content, mode, owner, group);
        Ok(self.host.put(req).await?)
    }

    /// `script` to run as the task's become user.
    fn task_request(&self, script: String) -> ExecRequest {
        ExecRequest {
            become_: self.call.become_.cloned(),
            ..ExecRequest::script(script)
        }
    }

    /// The upload of `content` to `dest`, as the task's become user.
    pub(crate) fn put_request(
        &self,
        dest: &str,
        content: std::sync::Arc<Vec<u8>>,
        mode: Option<u32>,
        owner: Option<String>,
        group: Option<String>,
    ) -> PutRequest {
        PutRequest {
            dest: dest.to_string(),
            content,
            mode,
            owner,
            group,
            become_: self.call.become_.cloned(),
        }
    }

    /// The upload `req` (see [`Ctx::put_request`]), then `after` (a script that only reads) in
    /// the same round trip where the transport can; returns `after`'s answer.
    pub(crate) async fn put_then_read(
        &self,
        req: PutRequest,
        after: String,
    ) -> Result<ExecOutput, ModuleError> {
        Ok(self
            .host
            .put_then_read(req, self.task_request(after))
            .await?)
    }

    pub(crate) fn bad(&self, arg: &str, message: impl Into<String>) -> ModuleError {
        ModuleError::bad(self.module(), arg, message)
    }

    pub(crate) fn protocol(&self, message: impl Into<String>) -> ModuleError {
        ModuleError::protocol(self.host.host(), self.module(), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(module: &'static str, given: serde_json::Value) -> Args {
        Args::parse(module, given.as_object().unwrap()).unwrap()
    }

    fn expanded_by_sh(values: &[ExpandablePath], home: &str) -> Vec<String> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(expansion_script(values))
            .env_clear()
            .env("HOME", home)
            .env("PATH", "/usr/bin:/bin")
            .env("SUBDIR", "sub dir")
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut parts: Vec<String> = text.split('\0').map(String::from).collect();
        parts.pop();
        parts
    }

    // ansible-core 2.19's copy target, "Duplicate authorized_keys": `src: $HOME/.ssh/
    // authorized_keys` with `remote_src: yes` is read from root's home on the host (Python:
    // os.path.expanduser(os.path.expandvars(src)) in the module). An unset variable stays as
    // written (os.path.expandvars('$NOPE/x') == '$NOPE/x').
    #[test]
    fn host_paths_expand_variables_and_home_as_python() {
        let a = args(
            "copy",
            json!({"src": "$HOME/.ssh/k", "dest": "~/${SUBDIR}/$NOPE/k", "remote_src": true}),
        );
        let paths = expandable_paths(&a);
        assert_eq!(paths.len(), 2);
        assert_eq!(
            expanded_by_sh(&paths, "/home/u"),
            ["/home/u/.ssh/k", "/home/u/sub dir/$NOPE/k"]
        );
    }

    // Ansible's copy action reads a `src` without `remote_src` on the control node: the host
    // never sees it.
    #[test]
    fn controller_sources_are_not_expanded_on_the_host() {
        let a = args("copy", json!({"src": "$HOME/k", "dest": "/etc/k"}));
        assert!(expandable_paths(&a).is_empty());
        let a = args("file", json!({"path": "/etc/plain"}));
        assert!(expandable_paths(&a).is_empty());
        // assemble reads its fragments on the host unless `remote_src: no`.
        let a = args("assemble", json!({"src": "$HOME/d", "dest": "/etc/k"}));
        assert_eq!(expandable_paths(&a).len(), 1);
        let a = args(
            "assemble",
            json!({"src": "$HOME/d", "dest": "/etc/k", "remote_src": false}),
        );
        assert!(expandable_paths(&a).is_empty());
    }

    // find's `paths` is a list of paths: each entry is expanded on its own.
    #[test]
    fn each_path_of_a_path_list_is_expanded() {
        let a = args("find", json!({"paths": ["/etc", "~/a", "$HOME/b"]}));
        let paths = expandable_paths(&a);
        let places: Vec<Option<usize>> = paths.iter().map(|p| p.index).collect();
        assert_eq!(places, [Some(1), Some(2)]);
        assert_eq!(
            expanded_by_sh(&paths, "/home/u"),
            ["/home/u/a", "/home/u/b"]
        );
    }
}
