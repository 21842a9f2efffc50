//! What other hosts change in the shared store and this host must follow: tenants (with
//! their tokens and limits), deployed components, and the host-wide records of protocol
//! subsystems ([`Follower`]s: Spawn registrations, OPACA containers). Each host reads the
//! store's view and brings its own in line; each compiles (or finds in its artifact
//! cache) the components it did not deploy itself. A cluster host follows every
//! heartbeat; every host follows the records once at start, which restores what it
//! recorded before.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use super::Runtime;
use crate::store::StoreError;

/// The future of one [`Follower::follow`]: how many things changed here.
pub type FollowFuture<'a> = Pin<Box<dyn Future<Output = Result<usize, StoreError>> + Send + 'a>>;

/// A subsystem outside the core that keeps host-wide records in the store and brings this
/// host in line with them (after tenants and components, which its records may name).
pub trait Follower: Send + Sync + 'static {
    /// Read the records and apply what changed since the last call.
    fn follow(&self) -> FollowFuture<'_>;
}

impl Runtime {
    /// Follow the tenants, components and followers' records the store holds; returns
    /// how many changed here.
    pub async fn follow_store(&self) -> Result<usize, StoreError> {
        Ok(self.follow_tenants().await?
            + self.follow_components().await?
            + self.follow_records().await?)
    }

    /// Follow the followers' records alone (at start, once tenants and components are
    /// loaded); returns how many changed here.
    pub async fn follow_records(&self) -> Result<usize, StoreError> {
        let mut changed = 0;
        for follower in self.followers() {
            changed += follower.follow().await?;
        }
        Ok(changed)
    }

    /// Have [`Runtime::follow_store`] call `follower` too, for as long as it lives.
    pub fn add_follower(&self, follower: Weak<dyn Follower>) {
        self.0
            .followers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(follower);
    }

    /// The followers still alive (the dead ones dropped).
    fn followers(&self) -> Vec<Arc<dyn Follower>> {
        let mut followers = self.0.followers.lock().unwrap_or_else(|p| p.into_inner());
        followers.retain(|f| f.strong_count() > 0);
        followers.iter().filter_map(Weak::upgrade).collect()
    }

    async fn follow_tenants(&self) -> Result<usize, StoreError> {
        let (changed, deleted) = self.0.tenancy.follow().await?;
        // Deleted on another host, which deleted their data too.
        for name in &deleted {
            self.drop_tenant_types(name);
        }
        Ok(changed)
    }

    async fn follow_components(&self) -> Result<usize, StoreError> {
        self.0.catalog.follow(self).await
    }
}
