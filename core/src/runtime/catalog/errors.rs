//! Why a deploy or a version operation was refused, and what a new version would break.

use super::registry::TypeConflict;
use crate::runtime::backend::LoadError;
use crate::types::StoreError;

/// Why a component was not deployed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The loader refused the bytes.
    #[error(transparent)]
    Invalid(#[from] LoadError),
    /// A tenant or component name is not a valid name.
    #[error("invalid component name: {0}")]
    BadName(String),
    /// The tenant does not exist.
    #[error("tenant {0:?} does not exist")]
    NoTenant(String),
    /// The tenant is at its limit of components.
    #[error("tenant {tenant:?} is at its limit of {max} components")]
    TooMany {
        /// The tenant at its limit.
        tenant: String,
        /// Its limit of components.
        max: u64,
    },
    /// An actor type of the component is another component's.
    #[error(transparent)]
    Conflict(#[from] TypeConflict),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The new version leaves running things without code; deploying with `force`
    /// replaces it anyway.
    #[error(
        "the new version of component {component:?} would break running actors: {breakage}; deploy with force to replace it anyway"
    )]
    Breaking {
        /// The component deployed.
        component: String,
        /// What it would break.
        breakage: Breakage,
    },
    /// A version or canary operation was refused.
    #[error(transparent)]
    Version(#[from] VersionError),
}

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

/// What of the running version a new one leaves without code, one sentence per thing.
#[derive(Debug, Default)]
pub struct Breakage(pub Vec<String>);

impl Breakage {
    /// Whether nothing would break.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Breakage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}
