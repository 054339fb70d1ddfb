//! Simulated hosts, to measure etcdplay's own cost per host at fleet sizes no lab reaches (issue
//! #18: 1,000 and 10,000 hosts). One real host (this machine, in a scratch directory) runs the
//! playbook through a recording transport; then N simulated hosts run it through a transport
//! that answers every request as the recorded host did, with the host's name and the request's
//! random tokens put back. No process and no socket is involved in the replay, so what is
//! measured is the engine, the modules and the templating: CPU and memory per host.

mod playbook;
mod replay;

pub use playbook::{write_project, SimInventory, SimProject};
pub use replay::{normalize, Recording, RecordingConnector, ReplayConnector};
