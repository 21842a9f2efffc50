//! [`ComponentStore`] on sled: a component's record and its bytes in two trees written
//! in one transaction, and its kept versions likewise.

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::SledStore;
use crate::keys::{SEP, component_key, version_key, versions_prefix};
use warren_store::{ComponentRecord, ComponentStore, ComponentVersion, StoreError, StoreFuture};

impl ComponentStore for SledStore {
    fn put_component(&self, record: &ComponentRecord, wasm: Option<&[u8]>) -> StoreFuture<'_, ()> {
        let key = component_key(&record.tenant, &record.name);
        let json = match serde_json::to_vec(record) {
            Ok(j) => j,
            Err(e) => return Box::pin(async move { Err(StoreError::Corrupt(e.to_string())) }),
        };
        let wasm = wasm.map(<[u8]>::to_vec);
        Box::pin(async move {
            self.writes.writable()?;
            (&self.components, &self.component_wasm)
                .transaction(|(records, bytes)| {
                    records.insert(key.as_slice(), json.as_slice())?;
                    if let Some(wasm) = &wasm {
                        bytes.insert(key.as_slice(), wasm.as_slice())?;
                    }
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(|e: TransactionError<()>| StoreError::Io(format!("{e:?}")))?;
            self.flush_or_halt().await?;
            Ok(())
        })
    }

    fn components(&self) -> StoreFuture<'_, Vec<ComponentRecord>> {
        Box::pin(async move {
            self.components
                .iter()
                .values()
                .map(|v| {
                    let v = v?;
                    serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(e.to_string()))
                })
                .collect()
        })
    }

    fn component_wasm(&self, tenant: &str, name: &str) -> StoreFuture<'_, Option<Vec<u8>>> {
        let found = self.component_wasm.get(component_key(tenant, name));
        Box::pin(async move { Ok(found?.map(|v| v.to_vec())) })
    }

    fn remove_component(&self, tenant: &str, name: &str) -> StoreFuture<'_, bool> {
        let key = component_key(tenant, name);
        Box::pin(async move {
            self.writes.writable()?;
            let existed = (&self.components, &self.component_wasm)
                .transaction(|(records, bytes)| {
                    let existed = records.remove(key.as_slice())?.is_some();
                    bytes.remove(key.as_slice())?;
                    Ok::<_, ConflictableTransactionError<()>>(existed)
                })
                .map_err(|e: TransactionError<()>| StoreError::Io(format!("{e:?}")))?;
            // Versions go after the record: a crash in between leaves versions of no
            // component, which a deploy of the same name numbers past.
            let mut prefix = key;
            prefix.push(SEP);
            for tree in [&self.component_versions, &self.component_version_wasm] {
                for k in tree.scan_prefix(&prefix).keys() {
                    tree.remove(k?)?;
                }
            }
            self.flush_or_halt().await?;
            Ok(existed)
        })
    }

    fn put_component_version(
        &self,
        version: &ComponentVersion,
        wasm: &[u8],
    ) -> StoreFuture<'_, ()> {
        let key = version_key(&version.tenant, &version.name, version.number);
        let json = match serde_json::to_vec(version) {
            Ok(j) => j,
            Err(e) => return Box::pin(async move { Err(StoreError::Corrupt(e.to_string())) }),
        };
        let wasm = wasm.to_vec();
        Box::pin(async move {
            self.writes.writable()?;
            (&self.component_versions, &self.component_version_wasm)
                .transaction(|(records, bytes)| {
                    records.insert(key.as_slice(), json.as_slice())?;
                    bytes.insert(key.as_slice(), wasm.as_slice())?;
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(|e: TransactionError<()>| StoreError::Io(format!("{e:?}")))?;
            self.flush_or_halt().await
        })
    }

    fn component_versions(
        &self,
        tenant: &str,
        name: &str,
    ) -> StoreFuture<'_, Vec<ComponentVersion>> {
        let prefix = versions_prefix(tenant, name);
        Box::pin(async move {
            self.component_versions
                .scan_prefix(&prefix)
                .values()
                .map(|v| {
                    let v = v?;
                    serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(e.to_string()))
                })
                .collect()
        })
    }

    fn component_version_wasm(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
    ) -> StoreFuture<'_, Option<Vec<u8>>> {
        let found = self
            .component_version_wasm
            .get(version_key(tenant, name, number));
        Box::pin(async move { Ok(found?.map(|v| v.to_vec())) })
    }

    fn remove_component_version(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
    ) -> StoreFuture<'_, bool> {
        let key = version_key(tenant, name, number);
        Box::pin(async move {
            self.writes.writable()?;
            let existed = (&self.component_versions, &self.component_version_wasm)
                .transaction(|(records, bytes)| {
                    let existed = records.remove(key.as_slice())?.is_some();
                    bytes.remove(key.as_slice())?;
                    Ok::<_, ConflictableTransactionError<()>>(existed)
                })
                .map_err(|e: TransactionError<()>| StoreError::Io(format!("{e:?}")))?;
            self.flush_or_halt().await?;
            Ok(existed)
        })
    }
}
