//! Ansible-compatible templating for etcdplay, on minijinja.
//!
//! [`Templar`] renders template files (like Ansible's template module), task-argument strings
//! (natively: `"{{ groups.etcds }}"` is a list) and `when:` conditions, with Ansible's filters,
//! tests, lookups and Python-style printing (`True`, `[1, 'a']`). Variables live in [`Vars`]
//! and are templated lazily when read, with cycles reported; [`VarLayers`] merges variable
//! sources in Ansible's precedence order, documented once in [`precedence`].
//!
//! The reference is ansible-core 2.19: `tests/corpus/` holds templates rendered by it, and the
//! test suite compares byte for byte.
//!
//! # Differences from Ansible
//!
//! Listed, with every other layer's, in the repository's `ANSIBLE_COMPAT.md`; an unlisted
//! difference is a bug. One API note for callers:
//!
//! - Values are templated when read unless they were added as literal
//!   ([`Vars::insert_literal`], [`VarLayers::push_literal`]): the engine must use those for
//!   results (registered results, templated loop items), which Ansible never re-templates.

mod ansible_tests;
mod check;
mod error;
mod file_syntax;
mod filters;
mod functions;
mod hostvars;
mod include_path;
mod lazy;
mod lookup;
mod methods;
mod percent;
pub mod precedence;
pub mod pyjson;
mod pyrandom;
pub mod pyrepr;
pub mod pyyaml;
mod render;
mod scope;
mod session;
mod templar;
mod template_vars;
mod vars;

pub use check::TemplateProblem;
pub use error::{Location, TemplateError};
pub use file_syntax::FileSyntax;
pub use precedence::{Precedence, VarLayers};
pub use render::is_possibly_template;
pub use templar::{Templar, TemplarOptions};
pub use template_vars::template_file_vars;
pub use vars::{HostVarsSource, SharedVars, StaticHostVars, Vars};
