//! The `mode`/`owner`/`group` arguments shared by file-writing modules: comparing them with a
//! path's current state and producing the commands that fix the difference.

use crate::args::Args;
use crate::mode::{format_mode, ModeSpec};
use crate::probe::PathState;
use crate::result_fields::FileFields;
use crate::ModuleError;
use etcdplay_transport::script::sh_quote;

/// Requested attributes of a path; `None` means "leave as it is".
#[derive(Debug, Clone, Default)]
pub(crate) struct Attrs {
    pub(crate) mode: Option<ModeSpec>,
    pub(crate) owner: Option<String>,
    pub(crate) group: Option<String>,
}

/// What applying [`Attrs`] to an existing path takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttrPlan {
    pub(crate) commands: Vec<String>,
    pub(crate) mode: u32,
    pub(crate) owner: String,
    pub(crate) group: String,
}

impl Attrs {
    pub(crate) fn from_args(args: &Args) -> Result<Attrs, ModuleError> {
        Ok(Attrs {
            mode: args.mode("mode")?,
            owner: args.str("owner"),
            group: args.str("group"),
        })
    }

    /// The mode a new file gets: the requested one applied to the default 0644.
    pub(crate) fn new_file_mode(&self) -> Option<u32> {
        self.mode.as_ref().map(|m| m.apply(0o644, false))
    }

    /// The commands that bring the existing path `st` to these attributes (empty: nothing to do).
    pub(crate) fn plan(&self, path: &str, st: &PathState) -> AttrPlan {
        let q = sh_quote(path);
        let mut commands = Vec::new();
        let mut owner = st.owner.clone();
        let mut group = st.group.clone();
        if let Some(o) = &self.owner {
            if !names_match(o, &st.owner, st.uid) {
                commands.push(format!("chown -h -- {} {q}", sh_quote(o)));
                owner = o.clone();
            }
        }
        if let Some(g) = &self.group {
            if !names_match(g, &st.group, st.gid) {
                commands.push(format!("chgrp -h -- {} {q}", sh_quote(g)));
                group = g.clone();
            }
        }
        let mut mode = st.mode;
        // chmod on a symlink would change its target, which is not what "the link's mode" means.
        if let (Some(spec), false) = (&self.mode, st.is_link()) {
            let want = spec.apply(st.mode, st.is_dir());
            // A chown above clears setuid/setgid bits, so a mode holding them is set again.
            let ids_cleared = !commands.is_empty() && want & 0o6000 != 0;
            if want != st.mode & 0o7777 || ids_cleared {
                commands.push(format!("chmod {want:o} -- {q}"));
                mode = want;
            }
        }
        AttrPlan {
            commands,
            mode,
            owner,
            group,
        }
    }
}

impl AttrPlan {
    pub(crate) fn fields(&self) -> FileFields {
        FileFields {
            mode: Some(format_mode(self.mode)),
            owner: Some(self.owner.clone()),
            group: Some(self.group.clone()),
        }
    }
}

/// Whether a requested owner/group (name or numeric id) is what the path has.
fn names_match(wanted: &str, name: &str, id: u32) -> bool {
    wanted == name || wanted.parse::<u32>().is_ok_and(|w| w == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(mode: u32) -> PathState {
        PathState {
            exists: true,
            kind: Some(crate::probe::Kind::File),
            mode,
            uid: 0,
            gid: 0,
            owner: "root".into(),
            group: "root".into(),
            ..PathState::default()
        }
    }

    #[test]
    fn plan_only_changes_what_differs() {
        let a = Attrs {
            mode: Some(ModeSpec::Octal(0o600)),
            owner: Some("0".into()),
            group: Some("etcd".into()),
        };
        let p = a.plan("/etc/x y", &st(0o644));
        assert_eq!(
            p.commands,
            vec![
                "chgrp -h -- etcd '/etc/x y'".to_string(),
                "chmod 600 -- '/etc/x y'".to_string()
            ]
        );
        assert_eq!((p.mode, p.group.as_str()), (0o600, "etcd"));
        let same = Attrs {
            mode: Some(ModeSpec::parse("u=rw,go=r").unwrap()),
            owner: Some("root".into()),
            group: None,
        };
        assert!(same.plan("/x", &st(0o644)).commands.is_empty());
    }
}
