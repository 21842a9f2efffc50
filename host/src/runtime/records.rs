//! Small host-wide records that protocol subsystems keep in the store (OPACA's users):
//! not actor state, so no tenant owns them and no quota applies.

use super::{ActorId, Runtime};
use crate::store::StoreError;

/// The pseudo-actor a record area lives under; `$` keeps it apart from every tenant.
fn area_id(area: &str) -> ActorId {
    ActorId::new("$system", area, "records")
}

impl Runtime {
    /// Record `key` of `area`.
    pub fn record(&self, area: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.store.get(&area_id(area), key)
    }

    /// Every record of `area`, sorted by key.
    pub fn records(&self, area: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let id = area_id(area);
        let mut all = Vec::new();
        for key in self.0.store.keys(&id, "")? {
            if let Some(value) = self.0.store.get(&id, &key)? {
                all.push((key, value));
            }
        }
        Ok(all)
    }

    /// Write (or, with `None`, delete) record `key` of `area`, durably.
    pub async fn put_record(
        &self,
        area: &str,
        key: &str,
        value: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        self.0
            .store
            .commit(&area_id(area), vec![(key.to_string(), value)])
            .await
    }
}
