//! What every parser in etcdplay shares: a YAML loader that keeps the line and column of every
//! node and resolves plain scalars the way Ansible's YAML 1.1 loader does (`yes`, `on`, `0644`),
//! and the `file:line:col: message` diagnostics that let a parser report every problem at once
//! instead of stopping at the first. And the one way a control-node file is read whole
//! ([`read_file`]): regular files only, up to a limit; vault-encrypted files and `!vault`
//! scalars are decrypted with the run's secrets (`etcdplay_vault::session`).

mod catalog;
mod diagnostic;
mod file;
mod flow_indent;
mod fnmatch;
mod node;
mod pyrepr;
mod python_re;
mod scalar;
mod search_path;
mod suggest;
mod yaml;

pub use catalog::ModuleCatalog;
pub use diagnostic::{Diagnostic, Diagnostics};
pub use etcdplay_vault::is_vaulted;
pub use file::{
    decrypt_if_vaulted, open_regular, read_file, read_opened, read_source_text, read_text_file,
    ReadFileError, ReadProblem, SourceText, MAX_TEXT_FILE,
};
pub use fnmatch::fnmatch_regex;
pub use node::{Node, NodeValue, Pos};
pub use pyrepr::{python_float_repr, python_repr_json, python_str_json, python_str_repr};
pub use python_re::{
    compile_python_regex, expand_python_template, python_sub, PyMatchError, PyReError, PyReFlags,
    PyRegex,
};
pub use scalar::{parse_bool, resolve_plain};
pub use search_path::{file_candidates, lexically_normal};
pub use suggest::did_you_mean;
pub use yaml::{load_yaml, load_yaml_file, load_yaml_source, YamlError};
