//! etcd-specific actions the engine runs on the control node: certificates (`etcd_pki`), and
//! (in sibling modules) health and member operations. They live in the engine rather than in
//! etcdplay-modules because they need the inventory's other hosts and the control node's
//! network, not just one host's shell.

pub(crate) mod pki;
