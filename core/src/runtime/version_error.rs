//! Why an operation on a component's kept versions was refused: its own module, so that
//! deploying (`components.rs`) and managing versions (`versions.rs`) both name it without
//! naming each other both ways.

/// Why a version operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("tenant has no component {0:?}")]
    NoComponent(String),
    #[error(
        "component {0:?} was registered by an app or a stream, not deployed: it has no versions"
    )]
    External(String),
    #[error("component {name:?} has no version {number}")]
    NoVersion { name: String, number: u64 },
    #[error("a canary serves 1 to 99 percent of the actors, not {0}")]
    CanaryShare(u8),
    #[error("component {0:?} has no version running yet: deploy it without a canary share first")]
    NothingToCanary(String),
    #[error("component {0:?} has no canary")]
    NoCanary(String),
    #[error("version {number} of component {name:?} is {role}; it cannot be deleted")]
    InUse {
        name: String,
        number: u64,
        role: &'static str,
    },
}
