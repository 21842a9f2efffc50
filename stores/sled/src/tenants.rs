//! [`TenantStore`] on sled: tenants' records, and deleting a tenant with every entry it
//! owns in the other trees.

use crate::SledStore;
use crate::keys::{SEP, due_key, split_reminder};
use warren_store::{StoreFuture, TenantStore};

impl TenantStore for SledStore {
    fn put_tenant(&self, name: &str, record: Vec<u8>) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        Box::pin(async move {
            self.writes.writable()?;
            self.tenants.insert(name.as_bytes(), record)?;
            self.flush_or_halt().await?;
            Ok(())
        })
    }

    fn tenants(&self) -> StoreFuture<'_, Vec<Vec<u8>>> {
        Box::pin(async move {
            self.tenants
                .iter()
                .values()
                .map(|v| Ok(v?.to_vec()))
                .collect()
        })
    }

    fn delete_tenant(&self, name: &str) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        Box::pin(async move {
            self.writes.writable()?;
            let mut prefix = name.as_bytes().to_vec();
            prefix.push(SEP);
            for (key, value) in self.reminders.scan_prefix(&prefix).flatten() {
                if let Ok((due_ms, _)) = split_reminder(&value) {
                    self.reminders_due.remove(due_key(due_ms, &key))?;
                }
            }
            for tree in [
                &self.actors,
                &self.reminders,
                &self.components,
                &self.component_wasm,
                &self.component_versions,
                &self.component_version_wasm,
            ] {
                for key in tree.scan_prefix(&prefix).keys() {
                    tree.remove(key?)?;
                }
            }
            self.writes.tenant_bytes.remove(&name);
            self.usage.remove(name.as_bytes())?;
            self.tenants.remove(name.as_bytes())?;
            self.flush_or_halt().await?;
            Ok(())
        })
    }
}
