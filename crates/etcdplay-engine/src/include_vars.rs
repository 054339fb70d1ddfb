//! `include_vars`: variables loaded from a file, or from every file of a directory, into a
//! host's variables while the play runs.

use std::path::PathBuf;

use etcdplay_playbook::{IncludeVars, Task, VarsSource};
use etcdplay_source::Diagnostic;
use etcdplay_template::{TemplateError, Vars};
use serde_json::{Map, Value};

use crate::events::{HostEvent, HostStatus, TaskKindLabel};
use crate::play::PlayRun;
use crate::scope::TaskScope;
use crate::task::Outcome;

/// Why an `include_vars` task failed on a host.
#[derive(Debug, thiserror::Error)]
enum IncludeVarsError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{origin}: include_vars: could not find '{name}'")]
    NotFound { origin: String, name: String },
    #[error(transparent)]
    ReadDir(#[from] std::io::Error),
    /// The file is not YAML (a diagnostic: where, and what is wrong).
    #[error("{0}")]
    Load(Diagnostic),
    #[error("{}: include_vars needs a mapping", file.display())]
    NotAMapping { file: PathBuf },
}

impl PlayRun<'_> {
    /// `include_vars`: loads a file (or a directory's files) per host into its variables.
    pub(crate) fn include_vars(
        &self,
        task: &Task,
        iv: &IncludeVars,
        scope: &TaskScope,
        hosts: &[String],
    ) {
        let header = format!(
            "{}include_vars",
            task.role
                .as_ref()
                .map(|r| format!("{r} : "))
                .unwrap_or_default()
        );
        self.engine.reporter.task_start(
            TaskKindLabel::Task,
            task.name.as_deref().unwrap_or(&header),
            hosts,
        );
        let mut outcomes = Vec::new();
        for host in hosts {
            let started = std::time::Instant::now();
            let vars = self.task_vars(host, scope, Some(task));
            let origin = task.origin.to_string();
            let loaded = self.load_include_vars(iv, &vars, &origin);
            match loaded {
                Ok(m) => {
                    let shown = serde_json::json!({"changed": false, "ansible_facts": m.clone()});
                    self.engine
                        .shared
                        .update_memory(host, |mem| mem.include_vars.extend(m));
                    self.emit(
                        HostEvent {
                            result: shown,
                            ..HostEvent::new(host, HostStatus::Ok)
                        },
                        started,
                    );
                    outcomes.push((host.clone(), Outcome::Ok));
                }
                Err(e) => {
                    let msg = e.to_string();
                    self.emit(
                        HostEvent {
                            msg: Some(msg.clone()),
                            result: serde_json::json!({"changed": false, "msg": msg}),
                            ..HostEvent::new(host, HostStatus::Failed)
                        },
                        started,
                    );
                    outcomes.push((host.clone(), Outcome::Failed));
                }
            }
        }
        self.settle(&outcomes, scope);
    }

    /// The variables an `include_vars` task loads on a host with `vars`: the file looked up
    /// in the task's role and include directories and beside the playbook, or every file of a
    /// directory in name order; under `name:` when the task gives one.
    fn load_include_vars(
        &self,
        iv: &IncludeVars,
        vars: &Vars,
        origin: &str,
    ) -> Result<Map<String, Value>, IncludeVarsError> {
        let name = match &iv.source {
            VarsSource::File(f) | VarsSource::Dir(f) => {
                self.engine.templar.render_string(f, origin, vars)?
            }
        };
        let mut candidates = Vec::new();
        for dir in &iv.context.search_dirs {
            candidates.push(dir.join("vars").join(&name));
            candidates.push(dir.join(&name));
        }
        candidates.push(self.play.playbook_dir.join(&name));
        let path = candidates.into_iter().find(|p| p.exists()).ok_or_else(|| {
            IncludeVarsError::NotFound {
                origin: origin.to_string(),
                name: name.clone(),
            }
        })?;
        let mut merged = Map::new();
        let files: Vec<PathBuf> = if path.is_dir() {
            let mut v: Vec<_> = std::fs::read_dir(&path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            v.sort();
            v
        } else {
            vec![path]
        };
        for f in files {
            match crate::varsfile::load(&f).map_err(IncludeVarsError::Load)? {
                Value::Object(m) => merged.extend(m),
                Value::Null => {}
                _ => return Err(IncludeVarsError::NotAMapping { file: f }),
            }
        }
        Ok(match &iv.name {
            Some(n) => {
                let mut m = Map::new();
                m.insert(n.clone(), Value::Object(merged));
                m
            }
            None => merged,
        })
    }
}
