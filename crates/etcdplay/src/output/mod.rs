//! Everything the CLI shows a user about a run: Ansible's stream, and Python-style JSON.

pub(crate) mod json;
pub(crate) mod progress;
pub(crate) mod pyjson;
pub(crate) mod stream;
pub(crate) mod timing;
