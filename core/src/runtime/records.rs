//! Small host-wide records that protocol subsystems keep in the store (OPACA's users and
//! containers, Spawn's registrations):
//! not actor state, so no tenant owns them and no quota applies.

use super::{ActorId, Runtime};
use crate::store::StoreError;

/// How often a record write retries after another host moved the area's version.
const MAX_RECORD_ATTEMPTS: u32 = 20;

/// The pseudo-actor a record area lives under; `$` keeps it apart from every tenant.
fn area_id(area: &str) -> ActorId {
    ActorId::new("$system", area, "records")
}

impl Runtime {
    /// Record `key` of `area`.
    pub async fn record(&self, area: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut record = self.0.store.load(&area_id(area)).await?;
        Ok(record.entries.remove(key))
    }

    /// Every record of `area`, sorted by key.
    pub async fn records(&self, area: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let record = self.0.store.load(&area_id(area)).await?;
        Ok(record.entries.into_iter().collect())
    }

    /// Write (or, with `None`, delete) record `key` of `area`, durably.
    pub async fn put_record(
        &self,
        area: &str,
        key: &str,
        value: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        // Writers of one host take turns; a version moved by another host (cluster mode)
        // is read again and the write retried.
        let _writing = self.0.record_writes.lock().await;
        let id = area_id(area);
        let mut attempts = 0;
        loop {
            let version = self.0.store.load(&id).await?.version;
            let change = vec![(key.to_string(), value.clone())];
            match self.0.store.commit(&id, version, change).await {
                Err(StoreError::Conflict { .. }) if attempts < MAX_RECORD_ATTEMPTS => {
                    attempts += 1;
                }
                result => return result.map(drop),
            }
        }
    }
}
