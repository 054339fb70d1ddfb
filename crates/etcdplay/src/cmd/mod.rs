//! One module per subcommand; each parses its own options and returns an exit code.

pub(crate) mod alarm;
pub(crate) mod apply;
pub(crate) mod health;
pub(crate) mod inventory;
pub(crate) mod listing;
pub(crate) mod modules;
pub(crate) mod operate;
pub(crate) mod pki;
pub(crate) mod run;
pub(crate) mod syntax_check;
pub(crate) mod vault;
