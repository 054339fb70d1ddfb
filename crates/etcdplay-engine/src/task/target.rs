//! Where and as whom a task runs on a host: its `delegate_to`, the connection target from the
//! host's (or the delegate's) connection variables and the task's keywords, and `become`.

use etcdplay_playbook::Task;
use etcdplay_source::parse_bool;
use etcdplay_template::Vars;
use etcdplay_transport::script::shlex_split;
use etcdplay_transport::{parse_ssh_args, Become, BecomeMethod, Secret, SuOptions, SudoOptions};
use serde_json::Value;

use crate::connect::{ConnectTarget, ConnectionKind};
use crate::error::TaskError;
use crate::play::PlayRun;
use crate::scope::TaskScope;

impl PlayRun<'_> {
    /// Variable `name` rendered as text, `None` when it is not set.
    pub(crate) fn var_string(&self, vars: &Vars, name: &str) -> Result<Option<String>, TaskError> {
        match vars.raw(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(self.engine.templar.render_string(s, name, vars)?)),
            Some(other) => Ok(Some(match other {
                Value::Bool(b) => b.to_string(),
                v => v.to_string(),
            })),
        }
    }

    /// Where `host` is reached for this task, after `delegate_to` and connection variables.
    pub(crate) fn target(
        &self,
        host: &str,
        task: &Task,
        vars: &Vars,
        delegate: Option<&str>,
    ) -> Result<ConnectTarget, TaskError> {
        let (name, vars_owned);
        let vars = match delegate {
            Some(d) if d != host => {
                name = d.to_string();
                let known = self.engine.shared.inventory.has_host(d);
                // Ansible's implicit localhost; any other name outside the inventory is a host
                // of its own, reached by that name, with the play's and task's variables but no
                // inventory ones.
                if !known && (d == "localhost" || d == "127.0.0.1") {
                    return Ok(ConnectTarget {
                        host: d.to_string(),
                        address: d.to_string(),
                        port: None,
                        user: None,
                        key_file: None,
                        ssh_settings: Vec::new(),
                        kind: ConnectionKind::Local,
                    });
                }
                vars_owned = self.task_vars(d, &TaskScope::default(), None);
                &vars_owned
            }
            _ => {
                name = host.to_string();
                vars
            }
        };
        // `connection` and `remote_user` are task and play keywords here (blocks do not set them).
        let keywords = TaskScope::default().resolve(task, self.play);
        let connection = keywords
            .connection
            .or(self.var_string(vars, "ansible_connection")?);
        let kind = match connection.as_deref() {
            Some("local") => ConnectionKind::Local,
            None | Some("ssh") | Some("smart") | Some("paramiko") | Some("openssh") => {
                ConnectionKind::Ssh
            }
            Some(other) => {
                return Err(TaskError::Invalid(format!(
                    "connection '{other}' is not supported (ssh or local)"
                )))
            }
        };
        let port = match self
            .var_string(vars, "ansible_port")?
            .or(self.var_string(vars, "ansible_ssh_port")?)
        {
            Some(p) => Some(p.parse::<u16>().map_err(|_| {
                TaskError::Invalid(format!("ansible_port '{p}' is not a port number"))
            })?),
            None => None,
        };
        // Host variables beat keywords, keywords beat the command line (Ansible's order).
        let defaults = &self.engine.options.connection_defaults;
        let user = self
            .var_string(vars, "ansible_user")?
            .or(self.var_string(vars, "ansible_ssh_user")?)
            .or(keywords.remote_user)
            .or_else(|| defaults.remote_user.clone());
        let mut ssh_settings = Vec::new();
        for var in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
            if let Some(text) = self.var_string(vars, var)? {
                let parsed =
                    parse_ssh_args(&text).map_err(|e| TaskError::Invalid(format!("{var}: {e}")))?;
                ssh_settings.extend(parsed);
            }
        }
        Ok(ConnectTarget {
            address: self
                .var_string(vars, "ansible_host")?
                .unwrap_or_else(|| name.clone()),
            host: name,
            port,
            user,
            key_file: self
                .var_string(vars, "ansible_ssh_private_key_file")?
                .or_else(|| defaults.private_key.clone()),
            ssh_settings,
            kind,
        })
    }

    /// The `become` of a task: keyword, else inherited, else play, else `ansible_become`. No
    /// sudo when the login user already is the user to become.
    pub(crate) fn become_of(
        &self,
        task: &Task,
        scope: &TaskScope,
        vars: &Vars,
        target: &ConnectTarget,
    ) -> Result<Option<Become>, TaskError> {
        let origin = task.origin.to_string();
        let keywords = scope.resolve(task, self.play);
        // Host variables beat keywords, keywords beat the command line (Ansible's order).
        let defaults = &self.engine.options.connection_defaults;
        let on = match self
            .var_string(vars, "ansible_become")?
            .and_then(|s| parse_bool(&s))
        {
            Some(b) => b,
            None => self
                .flag(&keywords.become_, vars, &origin)?
                .unwrap_or(defaults.become_),
        };
        if !on {
            return Ok(None);
        }
        let method = match self.var_string(vars, "ansible_become_method")? {
            Some(m) => Some(m),
            None => match keywords.become_method {
                Some(m) => Some(self.engine.templar.render_string(&m, &origin, vars)?),
                None => defaults.become_method.clone(),
            },
        };
        let method = match method.as_deref().map(str::trim) {
            None | Some("sudo") => BecomeMethod::Sudo(self.sudo_options(vars)?),
            Some("su") => BecomeMethod::Su(self.su_options(task, vars)?),
            Some(other) => {
                return Err(TaskError::BecomeMethod {
                    origin,
                    method: other.to_string(),
                })
            }
        };
        // The keyword may be a template (`become_user: "{{ test_user_name }}"`), as Ansible
        // templates every keyword before the task runs.
        let keyword_user = match keywords.become_user {
            Some(u) => Some(self.engine.templar.render_string(&u, &origin, vars)?),
            None => None,
        };
        let user = self
            .var_string(vars, "ansible_become_user")?
            .or(keyword_user)
            .or_else(|| defaults.become_user.clone())
            .unwrap_or_else(|| "root".to_string());
        // Only an ssh login named in the inventory is known to be the become user; any other
        // (ssh's `User`, a local connection, which ignores `ansible_user`) is compared on the
        // host by the transport, never guessed here.
        if target.kind != ConnectionKind::Local && target.user.as_deref() == Some(user.as_str()) {
            return Ok(None);
        }
        Ok(Some(Become { user, method }))
    }

    /// The password of `become_method: sudo`, from the variables Ansible's sudo plugin reads.
    fn sudo_options(&self, vars: &Vars) -> Result<SudoOptions, TaskError> {
        for name in [
            "ansible_become_password",
            "ansible_become_pass",
            "ansible_sudo_password",
            "ansible_sudo_pass",
        ] {
            if let Some(password) = self.var_string(vars, name)? {
                return Ok(SudoOptions {
                    password: Some(Secret::new(password)),
                });
            }
        }
        let defaults = &self.engine.options.connection_defaults;
        Ok(SudoOptions {
            password: defaults.become_password.clone(),
        })
    }

    /// `become_exe`, `become_flags` and the password of `become_method: su`: Ansible's su
    /// plugin reads them from its variables (`ansible_su_*` and `ansible_become_*`) before the
    /// task's and play's keywords.
    fn su_options(&self, task: &Task, vars: &Vars) -> Result<SuOptions, TaskError> {
        let origin = task.origin.to_string();
        let keyword = |key: &str| -> Result<Option<String>, TaskError> {
            match task.extra.get(key).or_else(|| self.play.extra.get(key)) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => {
                    Ok(Some(self.engine.templar.render_string(s, &origin, vars)?))
                }
                Some(other) => Ok(Some(other.to_string())),
            }
        };
        let first_var = |names: &[&str]| -> Result<Option<String>, TaskError> {
            for name in names {
                if let Some(v) = self.var_string(vars, name)? {
                    return Ok(Some(v));
                }
            }
            Ok(None)
        };
        let exe = match first_var(&["ansible_become_exe", "ansible_su_exe"])? {
            Some(exe) => Some(exe),
            None => keyword("become_exe")?,
        };
        let flags = match first_var(&["ansible_become_flags", "ansible_su_flags"])? {
            Some(flags) => Some(flags),
            None => keyword("become_flags")?,
        };
        let flags = match flags {
            Some(text) => shlex_split(&text)
                .map_err(|e| TaskError::Invalid(format!("{origin}: become_flags: {e}")))?,
            None => Vec::new(),
        };
        let password = first_var(&[
            "ansible_become_password",
            "ansible_become_pass",
            "ansible_su_password",
            "ansible_su_pass",
        ])?;
        Ok(SuOptions {
            exe: exe
                .filter(|e| !e.trim().is_empty())
                .unwrap_or_else(|| "su".into()),
            flags,
            password: password.map(Secret::new).or_else(|| {
                self.engine
                    .options
                    .connection_defaults
                    .become_password
                    .clone()
            }),
        })
    }

    /// The task's `delegate_to` (own, else inherited from blocks and roles) rendered with
    /// `vars`, if it has one.
    pub(crate) fn delegate_of(
        &self,
        task: &Task,
        scope: &TaskScope,
        vars: &Vars,
    ) -> Result<Option<String>, TaskError> {
        match scope.resolve(task, self.play).delegate_to {
            Some(d) => Ok(Some(self.engine.templar.render_string(
                &d,
                &task.origin.to_string(),
                vars,
            )?)),
            None => Ok(None),
        }
    }
}
