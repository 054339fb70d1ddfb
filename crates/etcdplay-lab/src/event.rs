//! What the lab reports while it works. The library never prints (only the CLI does): it hands
//! these events to a callback, and the CLI turns them into lines.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One step of `up` or `down` worth telling a waiting user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabEvent {
    /// No base image yet: debootstrap runs (about a minute).
    BuildingBase { mirror: String },
    /// The base image is complete and kept for later runs.
    BaseBuilt { took: Duration },
    /// A host was already running and stays as it is.
    AlreadyUp { host: String },
    /// A host's container is being started.
    Starting { host: String },
    /// A host answers SSH.
    Ready { host: String, took: Duration },
    /// A host's container is being powered off and its network removed.
    Stopping { host: String },
    /// A container did not power off in time and was killed.
    Killed { host: String },
    /// A kernel limit was raised for the lab's hosts (`name: old -> new`).
    LimitRaised { change: String },
}

impl fmt::Display for LabEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabEvent::BuildingBase { mirror } => write!(
                f,
                "building the base image with debootstrap from {mirror} (about a minute, once)"
            ),
            LabEvent::BaseBuilt { took } => write!(f, "base image built in {}s", took.as_secs()),
            LabEvent::AlreadyUp { host } => write!(f, "{host}: already up"),
            LabEvent::Starting { host } => write!(f, "{host}: starting"),
            LabEvent::Ready { host, took } => {
                write!(f, "{host}: answers SSH ({:.1}s)", took.as_secs_f64())
            }
            LabEvent::Stopping { host } => write!(f, "{host}: stopping"),
            LabEvent::LimitRaised { change } => write!(f, "raised {change} for the lab's hosts"),
            LabEvent::Killed { host } => write!(f, "{host}: did not power off in time, killed"),
        }
    }
}

/// The callback that receives events; shared by the hosts booting in parallel.
pub type Progress = Arc<dyn Fn(&LabEvent) + Send + Sync>;

/// A callback that drops every event (tests, library users that want silence).
pub fn quiet() -> Progress {
    Arc::new(|_| {})
}
