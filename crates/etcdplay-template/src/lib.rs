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
//! Anything not listed here is meant to behave like ansible-core 2.19; an unlisted
//! difference is a bug.
//!
//! - A missing attribute is reported as `'cfg.port' is undefined` (the whole expression)
//!   where Ansible says `object of type 'dict' has no attribute 'port'`.
//! - `mandatory` without `msg` says `Mandatory variable not defined.` without the name.
//! - Tuples do not exist: `(1, 2)`, `dictsort` and `dict.items()` results print as lists
//!   (`[['a', 1]]`), not tuples (`[('a', 1)]`); iterating them is the same.
//! - Python's `'%s' % value` string formatting is not supported (`'{}'.format(value)` is).
//! - `from_yaml` reads YAML 1.2 (`yes` stays a string); `to_yaml` does not fold long strings at
//!   spaces (flow lists do wrap at 80 columns, as in PyYAML) and writes multi-line strings
//!   double-quoted.
//! - Regular expressions use the `regex` crate: no look-around or back-references, and `$`
//!   without `multiline` matches only at the very end.
//! - The `version` test supports loose comparison only (no `strict`, `semver`, `pep440`).
//! - Lookups: `file`, `env`, `pipe`, `template` only. Filters and tests: the ones registered
//!   in `filters` and `ansible_tests` plus minijinja's built-ins; `ansible.builtin.`,
//!   `ansible.utils.` and `ansible.netcommon.` prefixes are accepted and ignored.
//! - Values are templated when read unless they were added as literal
//!   ([`Vars::insert_literal`], [`VarLayers::push_literal`]): the engine must use those for
//!   results (registered results, templated loop items), which Ansible never re-templates.

mod ansible_tests;
mod error;
mod filters;
mod hostvars;
mod lazy;
mod lookup;
mod methods;
pub mod precedence;
pub mod pyjson;
pub mod pyrepr;
pub mod pyyaml;
mod render;
mod scope;
mod session;
mod templar;
mod vars;

pub use error::{Location, TemplateError};
pub use precedence::{Precedence, VarLayers};
pub use render::is_possibly_template;
pub use templar::{Templar, TemplarOptions};
pub use vars::{HostVarsSource, StaticHostVars, Vars};
