//! One file per module. Each `run` reads the host's state in one round trip, decides, and
//! changes the host only outside check mode.

pub(crate) mod accounts;
pub(crate) mod apt;
pub(crate) mod assemble;
pub(crate) mod authorized_key;
pub(crate) mod blockinfile;
pub(crate) mod command;
pub(crate) mod copy;
pub(crate) mod cron;
pub(crate) mod fetch;
pub(crate) mod file;
pub(crate) mod find;
pub(crate) mod get_url;
pub(crate) mod group;
pub(crate) mod hostname;
pub(crate) mod ini_file;
pub(crate) mod known_hosts;
pub(crate) mod lineinfile;
pub(crate) mod locale_gen;
pub(crate) mod modprobe;
pub(crate) mod mount;
pub(crate) mod package;
pub(crate) mod replace;
pub(crate) mod script;
pub(crate) mod slurp;
pub(crate) mod small;
pub(crate) mod stat;
pub(crate) mod sysctl;
pub(crate) mod systemd;
pub(crate) mod timezone;
pub(crate) mod unarchive;
pub(crate) mod uri;
pub(crate) mod user;
pub(crate) mod wait_for;
pub(crate) mod write;
