//! What other hosts change in the shared store and this host must follow: tenants (with
//! their tokens and limits), deployed components, and the host-wide records of protocol
//! subsystems ([`Follower`]s: Spawn registrations, OPACA containers). Each host reads the
//! store's view and brings its own in line; each compiles (or finds in its artifact
//! cache) the components it did not deploy itself. A cluster host follows every
//! heartbeat; every host follows the records once at start, which restores what it
//! recorded before.

use std::collections::HashMap;
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
        let _changing = self.0.component_changes.lock().await;
        let records = self.0.store.components().await?;
        let mut changed = 0;
        let wanted: HashMap<(&str, &str), &str> = records
            .iter()
            .map(|r| ((r.tenant.as_str(), r.name.as_str()), r.sha256.as_str()))
            .collect();
        for tenant in self.0.tenancy.list() {
            for component in self.0.registry.components(&tenant.record.name) {
                let key = (component.tenant.as_str(), component.name.as_str());
                // External components (apps, streams) live on the host they connected to.
                if !component.sha256.is_empty() && !wanted.contains_key(&key) {
                    self.0.registry.remove(&component.tenant, &component.name);
                    changed += 1;
                }
            }
        }
        for record in &records {
            if self.0.tenancy.get(&record.tenant).is_none() {
                continue;
            }
            let registered = self.0.registry.component(&record.tenant, &record.name);
            let same_version = registered
                .as_ref()
                .is_some_and(|c| c.sha256 == record.sha256 && c.number == record.number);
            let same_canary = registered.as_ref().is_some_and(|c| {
                c.canary.as_ref().map(|k| (k.number, k.percent))
                    == record.canary.as_ref().map(|k| (k.number, k.percent))
            });
            let followed = match (same_version, same_canary, &record.canary) {
                (true, true, _) => continue,
                (true, false, None) => {
                    self.0
                        .registry
                        .set_canary(&record.tenant, &record.name, None);
                    Ok(())
                }
                (true, false, Some(canary)) => {
                    self.start_canary(
                        &record.tenant,
                        &record.name,
                        canary.number,
                        canary.percent,
                        super::components::Upgrade::Unchecked,
                    )
                    .await
                }
                (false, _, _) => self.load_stored(record).await.map(drop),
            };
            match followed {
                Ok(()) => {
                    tracing::info!(tenant = %record.tenant, name = %record.name, version = record.number, canary = ?record.canary, "component deployed by another host loaded");
                    changed += 1;
                }
                Err(e) => {
                    tracing::error!(tenant = %record.tenant, name = %record.name, error = %e, "component deployed by another host failed to load")
                }
            }
        }
        Ok(changed)
    }
}
