//! What opening the store recovers: the tenants' state counters, as a clean shutdown
//! wrote them or counted again from the records after a crash, when the reminder changes
//! the last commits carry are applied again too.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

use dashmap::DashMap;
use sled::Tree;

use crate::keys::SEP;
use crate::{CLEAN, reminders};
use warren_store::StoreError;
use warren_store::record::ActorRecord;
use warren_wire::types::ActorId;

/// State bytes per tenant at open: read from `usage` if `meta` says a clean shutdown
/// wrote it (and no migration ran since), otherwise recovered from the records.
pub(crate) fn tenant_bytes(
    migrated: bool,
    (meta, usage): (&Tree, &Tree),
    actors: &Tree,
    reminder_trees: (&Tree, &Tree),
) -> Result<DashMap<String, AtomicU64>, StoreError> {
    let tenant_bytes = DashMap::new();
    if !migrated && meta.get(CLEAN)?.is_some() {
        for entry in usage.iter() {
            let (tenant, bytes) = entry?;
            let bytes = <[u8; 8]>::try_from(&*bytes)
                .map_err(|_| StoreError::Corrupt("usage counter".into()))?;
            tenant_bytes.insert(
                String::from_utf8_lossy(&tenant).into_owned(),
                AtomicU64::new(u64::from_le_bytes(bytes)),
            );
        }
    } else {
        // After a crash the counters may be behind, and the reminder changes of the
        // last commits may be: count and replay once, from the records.
        for (tenant, bytes) in recover(actors, reminder_trees)? {
            tenant_bytes.insert(tenant, AtomicU64::new(bytes));
        }
    }
    Ok(tenant_bytes)
}

/// After an unclean stop: state bytes per tenant, counted from every record, and the
/// reminder changes each record carries applied again (idempotent: the ones applied
/// before the crash change nothing), so none is lost between its record and the trees.
fn recover(
    actors: &Tree,
    reminder_trees: (&Tree, &Tree),
) -> Result<HashMap<String, u64>, StoreError> {
    let mut usage = HashMap::new();
    let mut replayed = 0usize;
    for entry in actors.iter() {
        let (key, bytes) = entry?;
        let mut parts = key.split(|b| *b == SEP);
        let tenant = parts.next().unwrap_or_default();
        let (record, changes) = ActorRecord::decode_with(&bytes)?;
        *usage
            .entry(String::from_utf8_lossy(tenant).into_owned())
            .or_insert(0) += record.size();
        if !changes.is_empty() {
            let (Some(actor_type), Some(id)) = (parts.next(), parts.next()) else {
                return Err(StoreError::Corrupt("actor record key is malformed".into()));
            };
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let actor = ActorId::new(&text(tenant), &text(actor_type), &text(id));
            reminders::apply_changes(reminder_trees, &actor, &changes)?;
            replayed += 1;
        }
    }
    if replayed > 0 {
        tracing::info!(
            actors = replayed,
            "reminder changes of the last commits applied again after an unclean stop"
        );
    }
    Ok(usage)
}
