//! Following the components another host deployed: the store is the truth, the registry
//! is brought to match it.

use std::collections::HashMap;

use super::{Catalog, CatalogContext, Upgrade};
use crate::types::StoreError;

impl Catalog {
    /// Bring the registry to what the store holds: load what another host deployed,
    /// start or end canaries, and drop what it removed; returns how many components
    /// changed. External components (apps, streams) stay: they live on the host they
    /// connected to.
    pub async fn follow(&self, context: &dyn CatalogContext) -> Result<usize, StoreError> {
        let _changing = self.changes.lock().await;
        let records = self.store.components().await?;
        let mut changed = 0;
        let wanted: HashMap<(&str, &str), &str> = records
            .iter()
            .map(|r| ((r.tenant.as_str(), r.name.as_str()), r.sha256.as_str()))
            .collect();
        for tenant in self.registry.tenants() {
            for component in self.registry.components(&tenant) {
                let key = (component.tenant.as_str(), component.name.as_str());
                if !component.sha256.is_empty() && !wanted.contains_key(&key) {
                    self.registry.remove(&component.tenant, &component.name);
                    changed += 1;
                }
            }
        }
        for record in &records {
            if context.max_components(&record.tenant).is_none() {
                continue;
            }
            let registered = self.registry.component(&record.tenant, &record.name);
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
                    self.registry.set_canary(&record.tenant, &record.name, None);
                    Ok(())
                }
                (true, false, Some(canary)) => {
                    let upgrade = Upgrade::Unchecked;
                    self.start_canary(context, &record.tenant, &record.name, canary, upgrade)
                        .await
                }
                (false, _, _) => self.load_stored(context, record).await.map(drop),
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
