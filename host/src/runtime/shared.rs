//! Cluster mode: what other hosts change in the shared store and this host must follow,
//! tenants (with their tokens and limits) and deployed components. Each host reads the
//! store's view and brings its own in line; each compiles (or finds in its artifact
//! cache) the components it did not deploy itself.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::tenants::TenantRecord;
use super::{DEFAULT_TENANT, Runtime};
use crate::store::StoreError;

impl Runtime {
    /// Follow the tenants and components the store holds; returns how many changed here.
    pub async fn follow_store(&self) -> Result<usize, StoreError> {
        Ok(self.follow_tenants().await? + self.follow_components().await?)
    }

    async fn follow_tenants(&self) -> Result<usize, StoreError> {
        let mut changed = 0;
        let mut stored = HashSet::new();
        for bytes in self.0.store.tenants().await? {
            let Ok(record) = serde_json::from_slice::<TenantRecord>(&bytes) else {
                continue;
            };
            stored.insert(record.name.clone());
            let same = self.0.tenants.get(&record.name).is_some_and(|known| {
                serde_json::to_vec(&known.record).is_ok_and(|known| known == bytes)
            });
            if !same {
                let size = self.0.store.tenant_state_size(&record.name).await?;
                self.0.tenants.put(record, &self.0.config.limits, size);
                changed += 1;
            }
        }
        for tenant in self.0.tenants.list() {
            let name = &tenant.record.name;
            if name != DEFAULT_TENANT && !stored.contains(name) {
                // Deleted on another host, which deleted its data too.
                self.0.tenants.remove(name);
                for component in self.0.registry.components(name) {
                    self.0.registry.remove(name, &component.name);
                }
                self.0.scheduler.remove_tenant(name);
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn follow_components(&self) -> Result<usize, StoreError> {
        let records = self.0.store.components().await?;
        let mut changed = 0;
        let wanted: HashMap<(&str, &str), &str> = records
            .iter()
            .map(|r| ((r.tenant.as_str(), r.name.as_str()), r.sha256.as_str()))
            .collect();
        for tenant in self.0.tenants.list() {
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
            let current = self
                .0
                .registry
                .components(&record.tenant)
                .into_iter()
                .any(|c| c.name == record.name && c.sha256 == record.sha256);
            if current || self.0.tenants.get(&record.tenant).is_none() {
                continue;
            }
            let Some(wasm) = self
                .0
                .store
                .component_wasm(&record.tenant, &record.name)
                .await?
            else {
                continue;
            };
            match self
                .install(
                    &record.tenant,
                    Some(&record.name),
                    Arc::new(wasm),
                    record.deployed_at,
                )
                .await
            {
                Ok(info) => {
                    tracing::info!(tenant = %info.tenant, name = %info.name, types = ?info.actor_types, "component deployed by another host loaded");
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
