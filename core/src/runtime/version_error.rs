//! Why an operation on a component's kept versions was refused: its own module, so that
//! deploying (`components.rs`) and managing versions (`versions.rs`) both name it without
//! naming each other both ways.

/// Why a version operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    /// The tenant has no component of that name.
    #[error("tenant has no component {0:?}")]
    NoComponent(String),
    /// The component was registered from outside, so it has no kept versions.
    #[error(
        "component {0:?} was registered by an app or a stream, not deployed: it has no versions"
    )]
    External(String),
    /// The component keeps no version of that number.
    #[error("component {name:?} has no version {number}")]
    NoVersion {
        /// The component's name.
        name: String,
        /// The version number asked for.
        number: u64,
    },
    /// A canary share outside 1 to 99 percent.
    #[error("a canary serves 1 to 99 percent of the actors, not {0}")]
    CanaryShare(u8),
    /// A canary of a component with no running version to serve beside.
    #[error("component {0:?} has no version running yet: deploy it without a canary share first")]
    NothingToCanary(String),
    /// The component has no canary to stop.
    #[error("component {0:?} has no canary")]
    NoCanary(String),
    /// The version to delete still serves actors.
    #[error("version {number} of component {name:?} is {role}; it cannot be deleted")]
    InUse {
        /// The component's name.
        name: String,
        /// The version's number.
        number: u64,
        /// What it serves as: `current` or `the running canary`.
        role: &'static str,
    },
}
