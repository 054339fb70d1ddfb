//! `pip`: Python packages installed, upgraded or removed with the host's pip, as Ansible's
//! module drives it: the pip found the same way (`executable`, the virtualenv's `bin/pip3` or
//! `bin/pip`, `python3 -m pip` when the interpreter has pip, else `pip3` on the PATH), the same
//! command line (`install`, `install -U`, `install -U --force-reinstall`, `uninstall -y`,
//! `extra_args`, `-e` for `editable`, `-r` for `requirements`), `changed` read from pip's
//! output (`Successfully installed`/`Successfully uninstalled`), or from `pip list` before and
//! after for requirements and VCS URLs. Check mode lists the packages and tests each name's
//! version specifier with the `packaging` that pip itself carries. A missing virtualenv is
//! created with `virtualenv_command`. Every command runs in `chdir` (default: the host's
//! temporary directory), under `umask`, with `PIP_BREAK_SYSTEM_PACKAGES=1` when asked.

use etcdplay_transport::script::{sh_quote, shlex_split};
use etcdplay_transport::ExecRequest;
use serde_json::{json, Value};

use crate::host::Ctx;
use crate::spec::{optional as arg, ArgSpec, ArgType};
use crate::{ModuleError, ModuleResult};

/// Ansible's argument spec (ansible-core 2.19 `pip`).
pub(crate) const PIP: &[ArgSpec] = &[
    arg("state", ArgType::Str),
    arg("name", ArgType::List),
    arg("version", ArgType::Str),
    arg("requirements", ArgType::Str),
    arg("virtualenv", ArgType::Path),
    arg("virtualenv_site_packages", ArgType::Bool),
    arg("virtualenv_command", ArgType::Path),
    arg("virtualenv_python", ArgType::Str),
    arg("extra_args", ArgType::Str),
    arg("editable", ArgType::Bool),
    arg("chdir", ArgType::Path),
    arg("executable", ArgType::Path),
    arg("umask", ArgType::Str),
    arg("break_system_packages", ArgType::Bool),
];

/// Whether `name` starts a package (not a version specifier continuing the previous one).
fn is_package_name(name: &str) -> bool {
    !name.trim_start().starts_with(['<', '>', '=', '!', '~'])
}

/// Ansible's `_recover_package_name`: names split at commas, version-only parts joined back
/// to the package before them (`['django>1.1', '<1.3']` → `['django>1.1,<1.3']`), extras in
/// brackets kept whole.
pub(crate) fn recover_package_names(names: &[String]) -> Vec<String> {
    let parts: Vec<&str> = names.iter().flat_map(|n| n.split(',')).collect();
    let mut packages = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut in_brackets = false;
    for part in parts {
        if is_package_name(part) && !in_brackets && !current.is_empty() {
            packages.push(current.join(","));
            current.clear();
        }
        if part.contains('[') {
            in_brackets = true;
        }
        if in_brackets && part.contains(']') {
            in_brackets = false;
        }
        current.push(part);
    }
    packages.push(current.join(","));
    packages
}

/// Whether a requirement string carries a version specifier (`name>=1`, `name[x]==2`).
fn has_specifier(requirement: &str) -> bool {
    requirement.contains(['<', '>', '=', '!', '~'])
}

/// A VCS URL (`git+https://...`), which pip installs editable.
fn is_vcs_url(name: &str) -> bool {
    ["svn+", "git+", "hg+", "bzr+"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// The task, checked as Ansible's module checks it.
struct PipTask {
    state: String,
    names: Option<Vec<String>>,
    version: Option<String>,
    requirements: Option<String>,
    virtualenv: Option<String>,
    extra_args: Option<String>,
    chdir: Option<String>,
    executable: Option<String>,
    umask: Option<u32>,
    break_system_packages: bool,
}

/// The pip arguments for the task's state.
fn state_args(state: &str) -> &'static [&'static str] {
    match state {
        "absent" => &["uninstall", "-y"],
        "latest" => &["install", "-U"],
        "forcereinstall" => &["install", "-U", "--force-reinstall"],
        _ => &["install"],
    }
}

/// The packages to name on pip's command line (`Err`: Ansible's failure message).
fn packages(names: &[String], version: Option<&str>) -> Result<Vec<String>, String> {
    let mut packages = recover_package_names(names);
    if let Some(version) = version {
        if packages.len() > 1 {
            return Err(
                "'version' argument is ambiguous when installing multiple package \
                        distributions. Please specify version restrictions next to each \
                        package in 'name' argument."
                    .into(),
            );
        }
        if has_specifier(&packages[0]) {
            return Err(
                "The 'version' argument conflicts with any version specifier provided \
                        along with a package name. Please keep the version specifier, but \
                        remove the 'version' argument."
                    .into(),
            );
        }
        let version = version.trim_start();
        let sep = if version.starts_with(|c: char| c.is_ascii_digit()) {
            "=="
        } else {
            " "
        };
        packages[0] = format!("{}{sep}{version}", packages[0]);
    }
    Ok(packages)
}

impl PipTask {
    fn from_ctx(ctx: &Ctx<'_>) -> Result<Result<PipTask, String>, ModuleError> {
        let a = &ctx.args;
        let state = a
            .choice(
                "state",
                &["present", "absent", "latest", "forcereinstall"],
                "present",
            )?
            .to_string();
        let names = a.list("name")?;
        let requirements = a.str("requirements");
        let (virtualenv, executable) = (a.str("virtualenv"), a.str("executable"));
        let problem = match (&names, &requirements) {
            (None, None) => Some("one of the following is required: name, requirements"),
            (Some(_), Some(_)) => Some("parameters are mutually exclusive: name|requirements"),
            _ if virtualenv.is_some() && executable.is_some() => {
                Some("parameters are mutually exclusive: executable|virtualenv")
            }
            _ => None,
        };
        if let Some(problem) = problem {
            return Ok(Err(problem.to_string()));
        }
        let umask = match a.str("umask") {
            None => None,
            Some(u) => match u32::from_str_radix(u.trim(), 8) {
                Ok(v) => Some(v),
                Err(_) => return Ok(Err("umask must be an octal integer".into())),
            },
        };
        let version = a.str("version");
        if state == "latest" && version.is_some() {
            return Ok(Err("version is incompatible with state=latest".into()));
        }
        let chdir = a.str("chdir");
        let virtualenv = match (&virtualenv, &chdir) {
            (Some(env), Some(dir)) if !env.starts_with('/') => Some(format!("{dir}/{env}")),
            _ => virtualenv,
        };
        let mut extra_args = a.str("extra_args");
        if a.bool("editable", false)? {
            let mut words: Vec<String> = extra_args
                .as_deref()
                .map(|e| e.split(' ').map(String::from).collect())
                .unwrap_or_default();
            if !words.iter().any(|w| w == "-e") {
                words.push("-e".into());
                extra_args = Some(words.join(" "));
            }
        }
        Ok(Ok(PipTask {
            state,
            names,
            version,
            requirements,
            virtualenv,
            extra_args,
            chdir,
            executable,
            umask,
            break_system_packages: a.bool("break_system_packages", false)?,
        }))
    }

    /// The shell prefix every command runs under: directory, umask, the virtualenv's `bin`
    /// first on the PATH.
    fn prefix(&self) -> String {
        let mut s = match &self.chdir {
            Some(dir) => format!("cd {} || exit 97\n", sh_quote(dir)),
            None => "cd \"${TMPDIR:-/tmp}\" || exit 97\n".to_string(),
        };
        if let Some(u) = self.umask {
            s.push_str(&format!("umask {u:03o}\n"));
        }
        if let Some(env) = &self.virtualenv {
            s.push_str(&format!("PATH={}/bin:$PATH; export PATH\n", sh_quote(env)));
        }
        s.push_str("LANG=C LC_ALL=C LC_MESSAGES=C; export LANG LC_ALL LC_MESSAGES\n");
        s
    }

    fn request(&self, script: String) -> ExecRequest {
        let mut req = ExecRequest::script(format!("{}{script}", self.prefix()));
        if self.break_system_packages {
            req.env
                .push(("PIP_BREAK_SYSTEM_PACKAGES".into(), "1".into()));
        }
        req
    }

    /// The shell that prints the pip command (one word a line), or fails with Ansible's
    /// message on stderr and exit 3.
    fn find_pip_script(&self) -> String {
        if let Some(exe) = &self.executable {
            if exe.starts_with('/') {
                return format!("printf '%s\\n' {}\n", sh_quote(exe));
            }
            return format!(
                "p=$(command -v {q}) && printf '%s\\n' \"$p\" || {{ echo 'Unable to find any of {e} to use.  pip needs to be installed.' >&2; exit 3; }}\n",
                q = sh_quote(exe),
                e = exe
            );
        }
        if let Some(env) = &self.virtualenv {
            let q = sh_quote(env);
            return format!(
                "for b in pip3 pip; do [ -x {q}/bin/$b ] && {{ printf '%s\\n' {q}/bin/$b; exit 0; }}; done\n\
                 echo 'Unable to find pip in the virtualenv, {env}, under any of these names: pip3, pip. Make sure pip is present in the virtualenv.' >&2; exit 3\n"
            );
        }
        "py=$(command -v python3)\n\
         if [ -n \"$py\" ] && \"$py\" -c 'import importlib.util,sys; sys.exit(0 if importlib.util.find_spec(\"pip\") else 1)' 2>/dev/null; then printf '%s\\n-m\\npip\\n' \"$py\"; exit 0; fi\n\
         p=$(command -v pip3) && { printf '%s\\n' \"$p\"; exit 0; }\n\
         echo 'Unable to find any of pip3 to use.  pip needs to be installed.' >&2; exit 3\n"
            .to_string()
    }
}

/// Python run on the host in check mode: for each requirement (argv), whether `pip list`'s
/// `name==version` lines (stdin) satisfy it, with the `packaging` pip carries. Prints
/// `changed` when one is missing (`present`) or installed (`absent`).
const CHECK_PRESENCE: &str = r#"import re, sys
try:
    from pip._vendor.packaging.requirements import Requirement
except ImportError:
    from packaging.requirements import Requirement
canon = lambda n: re.sub(r"[-_.]+", "-", n).lower()
installed = [l.split("==") for l in sys.stdin.read().split("\n") if "==" in l]
state = sys.argv[1]
for spec in sys.argv[2:]:
    try:
        req = Requirement(spec)
        present = any(canon(n) == canon(req.name) and req.specifier.contains(v, prereleases=True)
                      for n, v in installed)
    except Exception:
        present = False
    if (state == "present" and not present) or (state == "absent" and present):
        print("changed")
        break
"#;

/// Ansible's `_fail` message: `stdout: ...` then `\n:stderr: ...`.
fn failure(out: &str, err: &str) -> String {
    let mut msg = String::new();
    if !out.is_empty() {
        msg.push_str(&format!("stdout: {out}"));
    }
    if !err.is_empty() {
        msg.push_str(&format!("\n:stderr: {err}"));
    }
    msg
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let task = match PipTask::from_ctx(ctx)? {
        Ok(task) => task,
        Err(msg) => return Ok(ModuleResult::fail(msg)),
    };
    let a = &ctx.args;
    let (mut out, mut err) = (String::new(), String::new());
    let mut venv_created = false;
    if let Some(env) = &task.virtualenv {
        let probe = ctx
            .exec(format!("[ -e {}/bin/activate ] && echo yes", sh_quote(env)))
            .await?;
        if !probe.stdout_str().starts_with("yes") {
            if ctx.call.check {
                let mut res = ModuleResult::ok();
                res.changed = true;
                return Ok(res);
            }
            let command = a
                .str("virtualenv_command")
                .unwrap_or_else(|| "virtualenv".into());
            let mut words = match shlex_split(&command) {
                Ok(w) if !w.is_empty() => w,
                _ => {
                    return Ok(ModuleResult::fail(format!(
                        "bad virtualenv_command: {command}"
                    )))
                }
            };
            let is_venv = words.iter().any(|w| w == "venv") || words[0].ends_with("pyvenv");
            if a.bool("virtualenv_site_packages", false)? {
                words.push("--system-site-packages".into());
            }
            match (is_venv, a.str("virtualenv_python")) {
                (false, Some(py)) => words.push(format!("-p{py}")),
                (false, None) => words.push("-p$(command -v python3)".into()),
                (true, Some(_)) => {
                    return Ok(ModuleResult::fail(
                        "virtualenv_python should not be used when using the venv module or \
                         pyvenv as virtualenv_command",
                    ))
                }
                (true, None) => {}
            }
            words.push(env.clone());
            let line: Vec<String> = words
                .iter()
                .map(|w| {
                    if w.starts_with("-p$(") {
                        format!("\"{w}\"")
                    } else {
                        sh_quote(w)
                    }
                })
                .collect();
            let created = ctx.exec_req(task.request(line.join(" "))).await?;
            out.push_str(&created.stdout_str());
            err.push_str(&created.stderr_str());
            if created.rc != 0 {
                let mut fail = ModuleResult::fail(failure(&out, &err));
                fail.set("cmd", line.join(" "));
                return Ok(fail);
            }
            venv_created = true;
        }
    }
    let found = ctx.exec_req(task.request(task.find_pip_script())).await?;
    if found.rc != 0 {
        return Ok(ModuleResult::fail(found.stderr_str().trim().to_string()));
    }
    let pip: Vec<String> = found.stdout_str().lines().map(String::from).collect();
    let mut cmd: Vec<String> = pip.clone();
    cmd.extend(state_args(&task.state).iter().map(|s| s.to_string()));
    if let Some(extra) = &task.extra_args {
        match shlex_split(extra) {
            Ok(words) => cmd.extend(words),
            Err(e) => return Ok(ModuleResult::fail(format!("extra_args: {e}"))),
        }
    }
    let packages = match &task.names {
        Some(names) => match packages(names, task.version.as_deref()) {
            Ok(p) => Some(p),
            Err(msg) => return Ok(ModuleResult::fail(msg)),
        },
        None => None,
    };
    match (&packages, &task.requirements) {
        (Some(p), _) => cmd.extend(p.iter().cloned()),
        (None, Some(r)) => cmd.extend(["-r".to_string(), r.clone()]),
        (None, None) => {}
    }
    let has_vcs = task.names.iter().flatten().any(|n| is_vcs_url(n));
    let pip_words: Vec<String> = pip.iter().map(|w| sh_quote(w)).collect();
    let list_cmd = format!("{} list --format=freeze", pip.join(" "));
    let list = |extra: &str| {
        format!(
            "{p} list --format=freeze{extra} || {p} freeze{extra}\n",
            p = pip_words.join(" ")
        )
    };
    if ctx.call.check {
        let mut res = ModuleResult::ok();
        let trivially = task.extra_args.is_some()
            || task.requirements.is_some()
            || task.state == "latest"
            || packages.is_none();
        if trivially {
            res.changed = true;
            return Ok(res);
        }
        let listed = ctx.exec_req(task.request(list(""))).await?;
        let check = format!(
            "printf '%s' {} | {} -c {} {} {}\n",
            sh_quote(&listed.stdout_str()),
            if pip.len() == 3 {
                sh_quote(&pip[0])
            } else {
                "python3".into()
            },
            sh_quote(CHECK_PRESENCE),
            sh_quote(&task.state),
            packages
                .iter()
                .flatten()
                .map(|p| sh_quote(p))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let decided = ctx.exec(check).await?;
        res.changed = decided.stdout_str().contains("changed");
        res.set("cmd", list_cmd);
        res.set("stdout", format!("{out}{}", listed.stdout_str()));
        res.set("stderr", format!("{err}{}", listed.stderr_str()));
        return Ok(res);
    }
    let before = if task.requirements.is_some() || has_vcs {
        Some(
            ctx.exec_req(task.request(list(" 2>/dev/null")))
                .await?
                .stdout_str(),
        )
    } else {
        None
    };
    let line: Vec<String> = cmd.iter().map(|w| sh_quote(w)).collect();
    let ran = ctx.exec_req(task.request(line.join(" "))).await?;
    let (pip_out, pip_err) = (ran.stdout_str(), ran.stderr_str());
    out.push_str(&pip_out);
    err.push_str(&pip_err);
    let not_installed = task.state == "absent"
        && ran.rc == 1
        && (pip_out.contains("not installed") || pip_err.contains("not installed"));
    if ran.rc != 0 && !not_installed {
        let mut fail = ModuleResult::fail(failure(&out, &err));
        fail.set("cmd", json!(cmd));
        return Ok(fail);
    }
    let changed = if task.state == "absent" {
        pip_out.contains("Successfully uninstalled")
    } else if let Some(before) = before {
        let after = ctx.exec_req(task.request(list(" 2>/dev/null"))).await?;
        before != after.stdout_str()
    } else {
        pip_out.contains("Successfully installed")
    };
    let mut res = ModuleResult::ok();
    res.changed = changed || venv_created;
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::from);
    res.set("cmd", json!(cmd));
    res.set("name", task.names.clone().map_or(Value::Null, |n| json!(n)));
    res.set("version", opt(&task.version));
    res.set("state", task.state.clone());
    res.set("requirements", opt(&task.requirements));
    res.set("virtualenv", opt(&task.virtualenv));
    res.set("stdout", out);
    res.set("stderr", err);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of Ansible's `_recover_package_name` docstring.
    #[test]
    fn package_names_are_recovered_as_ansible_recovers_them() {
        let names: Vec<String> = [
            "django>1.11.1",
            "<1.11.3",
            "ipaddress",
            "simpleproject>1.1.0",
            "<2.0.0",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            recover_package_names(&names),
            [
                "django>1.11.1,<1.11.3",
                "ipaddress",
                "simpleproject>1.1.0,<2.0.0"
            ]
        );
        let names: Vec<String> = [
            "django>1.11.1,<1.11.3,ipaddress",
            "simpleproject>1.1.0,<2.0.0",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            recover_package_names(&names),
            [
                "django>1.11.1,<1.11.3",
                "ipaddress",
                "simpleproject>1.1.0,<2.0.0"
            ]
        );
        assert_eq!(recover_package_names(&["a[x,y]".into()]), ["a[x,y]"]);
    }

    #[test]
    fn versions_join_names_as_ansible_joins_them() {
        assert_eq!(
            packages(&["pkg".into()], Some("1.0")),
            Ok(vec!["pkg==1.0".into()])
        );
        assert_eq!(
            packages(&["pkg".into()], Some(">=1.0")),
            Ok(vec!["pkg >=1.0".into()])
        );
        assert!(packages(&["a".into(), "b".into()], Some("1")).is_err());
        assert!(packages(&["a==2".into()], Some("1")).is_err());
    }

    #[test]
    fn extra_args_are_split_as_shlex_splits_them() {
        assert_eq!(
            shlex_split("--no-index --find-links '/srv/a b' -c \"x\\\"y\"").expect("words"),
            ["--no-index", "--find-links", "/srv/a b", "-c", "x\"y"]
        );
        assert!(shlex_split("'open").is_err());
        assert_eq!(failure("o", "e"), "stdout: o\n:stderr: e");
    }
}
