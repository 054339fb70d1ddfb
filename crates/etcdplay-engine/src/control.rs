//! The control node as modules see it: where a task's `src:` is found (the task's search path
//! with `files/` or `templates/`, then the playbook directory, as Ansible searches), template rendering with the
//! host's variables, and local writes for `fetch`.

use std::path::{Path, PathBuf};

use etcdplay_modules::{ControlNode, ModuleError};
use etcdplay_source::{decrypt_if_vaulted, open_regular, read_file, ReadFileError, ReadProblem};
use etcdplay_template::{Templar, Vars};

pub(crate) use crate::checksums::ChecksumCache;
use crate::checksums::MAX_UPLOAD_SOURCE;

/// One task's view of the control node.
pub(crate) struct TaskControl<'a> {
    pub(crate) checksums: &'a ChecksumCache,
    pub(crate) templar: &'a Templar,
    /// The task's variables; their `ansible_search_path` says where relative sources are.
    pub(crate) vars: &'a Vars,
    pub(crate) playbook_dir: &'a Path,
}

/// Shows a path relative to the working directory when it lies below it, so messages name
/// files the way the user would.
pub(crate) fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

impl TaskControl<'_> {
    /// Ansible's search order for a relative `src` (see `etcdplay_source::file_candidates`):
    /// each directory of the task's search path with `<kind>/` and without, then the
    /// playbook's directory.
    pub(crate) fn find(&self, kind: &str, path: &str) -> Result<PathBuf, ModuleError> {
        let p = Path::new(path);
        if p.is_absolute() {
            return if p.exists() {
                Ok(p.to_path_buf())
            } else {
                Err(ModuleError::Control {
                    path: path.to_string(),
                    message: "no such file".into(),
                })
            };
        }
        let mut dirs = self.vars.search_path();
        dirs.push(self.playbook_dir.to_path_buf());
        let candidates = etcdplay_source::file_candidates(&dirs, kind, path, false);
        candidates
            .iter()
            .find(|c| c.exists())
            .cloned()
            .ok_or_else(|| ModuleError::Control {
                path: path.to_string(),
                message: format!(
                    "could not find it in: {}",
                    candidates
                        .iter()
                        .map(|c| shown(c))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }
}

impl ControlNode for TaskControl<'_> {
    fn read_local(&self, path: &str) -> Result<Vec<u8>, ModuleError> {
        let found = self.find("files", path)?;
        read_file(&found, MAX_UPLOAD_SOURCE).map_err(|e| ModuleError::Control {
            path: shown(&found),
            message: e.problem.to_string(),
        })
    }

    fn local_vaulted(&self, path: &str) -> Result<bool, ModuleError> {
        let found = self.find("files", path)?;
        starts_as_vault(&found).map_err(|e| ModuleError::Control {
            path: shown(&found),
            message: e.problem.to_string(),
        })
    }

    fn read_local_decrypted(&self, path: &str) -> Result<Vec<u8>, ModuleError> {
        let found = self.find("files", path)?;
        // Vault text is bounded far below upload sources: read no more than can be decrypted.
        read_file(&found, etcdplay_vault::MAX_VAULT_TEXT as u64)
            .and_then(|bytes| decrypt_if_vaulted(bytes, &found))
            .map(|(bytes, _)| bytes)
            .map_err(|e| ModuleError::Control {
                path: shown(&found),
                message: e.problem.to_string(),
            })
    }

    fn read_local_shared(&self, path: &str) -> Result<std::sync::Arc<Vec<u8>>, ModuleError> {
        let found = self.find("files", path)?;
        self.checksums
            .read_shared(&found)
            .map_err(|e| ModuleError::Control {
                path: shown(&found),
                message: e.problem.to_string(),
            })
    }

    fn local_digest(&self, path: &str) -> Result<(u64, String), ModuleError> {
        let found = self.find("files", path)?;
        self.checksums
            .digest(&found)
            .map_err(|e| ModuleError::Control {
                path: shown(&found),
                message: e.problem.to_string(),
            })
    }

    fn local_md5(&self, path: &str) -> Result<String, ModuleError> {
        let found = self.find("files", path)?;
        self.checksums
            .md5(&found)
            .map_err(|e| ModuleError::Control {
                path: shown(&found),
                message: e.problem.to_string(),
            })
    }

    fn list_local(&self, dir: &str) -> Result<Vec<(String, Vec<u8>)>, ModuleError> {
        let found = self.find("files", dir)?;
        let failed = |path: &Path, message: String| ModuleError::Control {
            path: shown(path),
            message,
        };
        let entries = std::fs::read_dir(&found).map_err(|e| failed(&found, e.to_string()))?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| failed(&found, e.to_string()))?;
            let path = entry.path();
            // `is_file` follows links, as Python's `os.path.isfile` does.
            if !path.is_file() {
                continue;
            }
            let bytes = read_file(&path, MAX_UPLOAD_SOURCE)
                .map_err(|e| failed(&path, e.problem.to_string()))?;
            files.push((entry.file_name().to_string_lossy().into_owned(), bytes));
        }
        Ok(files)
    }

    fn local_tree(
        &self,
        kind: &str,
        path: &str,
        follow: bool,
    ) -> Result<Option<Vec<etcdplay_modules::LocalEntry>>, ModuleError> {
        let found = self.find(kind, path)?;
        if !found.is_dir() {
            return Ok(None);
        }
        etcdplay_modules::local_tree::walk(&found, follow)
            .map(Some)
            .map_err(|message| ModuleError::Control {
                path: shown(&found),
                message,
            })
    }

    fn local_mode(&self, kind: &str, path: &str) -> Result<u32, ModuleError> {
        use std::os::unix::fs::PermissionsExt;
        let found = self.find(kind, path)?;
        std::fs::metadata(&found)
            .map(|m| m.permissions().mode() & 0o7777)
            .map_err(|e| ModuleError::Control {
                path: shown(&found),
                message: e.to_string(),
            })
    }

    fn render_template(
        &self,
        path: &str,
        args: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, ModuleError> {
        let syntax = etcdplay_template::FileSyntax::from_module_args(args).map_err(|e| {
            ModuleError::Control {
                path: path.to_string(),
                message: e.to_string(),
            }
        })?;
        let found = self.find("templates", path)?;
        // Ansible's template action adds `template_host`, `template_path`, ... for the file.
        let dest = args.get("dest").and_then(|d| d.as_str());
        let mut vars = self.vars.clone();
        for (name, value) in etcdplay_template::template_file_vars(path, &found, dest) {
            vars.insert_literal(name, value);
        }
        let display = PathBuf::from(shown(&found));
        // Render from the shown path when it resolves to the same file, so that error messages
        // name the template relative to where the user runs etcdplay.
        let target = if display.is_relative() && display.exists() {
            display
        } else {
            found
        };
        self.templar
            .render_file_with(&target, &vars, &syntax)
            .map_err(|e| ModuleError::Control {
                path: path.to_string(),
                message: e.to_string(),
            })
    }

    fn write_local(&self, path: &str, bytes: &[u8]) -> Result<(), ModuleError> {
        let p = Path::new(path);
        let err = |e: std::io::Error| ModuleError::Control {
            path: path.to_string(),
            message: e.to_string(),
        };
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        // Write beside the destination and rename, like uploads to hosts: no half-written file.
        let tmp = p.with_file_name(format!(
            ".{}.etcdplay-tmp",
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        std::fs::write(&tmp, bytes).map_err(err)?;
        std::fs::rename(&tmp, p).map_err(err)
    }
}

/// Whether the file at `path` begins with the vault header (only those bytes are read: most
/// sources are binaries that are not read at all when the host already has them).
fn starts_as_vault(path: &Path) -> Result<bool, ReadFileError> {
    use std::io::Read;
    let (file, _) = open_regular(path)?;
    let mut head = Vec::with_capacity(etcdplay_vault::codec::HEADER.len());
    file.take(etcdplay_vault::codec::HEADER.len() as u64)
        .read_to_end(&mut head)
        .map_err(|e| ReadFileError {
            path: path.to_path_buf(),
            problem: ReadProblem::Io(e),
        })?;
    Ok(etcdplay_vault::is_vaulted(&head))
}
