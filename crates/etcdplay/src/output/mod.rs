//! Everything the CLI shows a user about a run: Ansible's stream, and Python-style JSON.

pub mod pyjson;
pub mod stream;
