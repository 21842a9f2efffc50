//! How the sled store lays out its keys and reminder values: the byte formats every
//! part of the store (records, reminders, the migration of the first layout) shares.

use warren_store::StoreError;
use warren_wire::types::ActorId;

/// Separates the parts of a key. Tenants, actor types and ids may not contain NUL.
pub(crate) const SEP: u8 = 0;

/// Key of an actor's record: tenant, actor type, actor id.
pub(crate) fn actor_key(actor: &ActorId) -> Vec<u8> {
    record_key(
        actor.tenant.as_bytes(),
        actor.actor_type.as_bytes(),
        actor.id.as_bytes(),
    )
}

/// Key of an actor's record from its parts (also how the migration writes them).
pub(crate) fn record_key(tenant: &[u8], actor_type: &[u8], id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + actor_type.len() + id.len() + 2);
    k.extend_from_slice(tenant);
    k.push(SEP);
    k.extend_from_slice(actor_type);
    k.push(SEP);
    k.extend_from_slice(id);
    k
}

/// Key of a reminder: tenant, actor type, actor id, name.
pub(crate) fn reminder_key(actor: &ActorId, name: &str) -> Vec<u8> {
    let mut k = actor_key(actor);
    k.push(SEP);
    k.extend_from_slice(name.as_bytes());
    k
}

/// Key of a deployed component: tenant, name.
pub(crate) fn component_key(tenant: &str, name: &str) -> Vec<u8> {
    let mut k = tenant.as_bytes().to_vec();
    k.push(SEP);
    k.extend_from_slice(name.as_bytes());
    k
}

/// The prefix of a component's kept versions.
pub(crate) fn versions_prefix(tenant: &str, name: &str) -> Vec<u8> {
    let mut k = component_key(tenant, name);
    k.push(SEP);
    k
}

/// Big-endian, so a component's versions scan in order.
pub(crate) fn version_key(tenant: &str, name: &str, number: u64) -> Vec<u8> {
    let mut k = versions_prefix(tenant, name);
    k.extend_from_slice(&number.to_be_bytes());
    k
}

/// The index key of a reminder: its due time (ordered as an unsigned big-endian number),
/// then its key.
pub(crate) fn due_key(due_ms: i64, reminder_key: &[u8]) -> Vec<u8> {
    let mut k = ((due_ms as u64) ^ (1 << 63)).to_be_bytes().to_vec();
    k.extend_from_slice(reminder_key);
    k
}

pub(crate) fn split_due_key(index: &[u8]) -> Result<(i64, &[u8]), StoreError> {
    let (due, key) = index
        .split_at_checked(8)
        .ok_or_else(|| StoreError::Corrupt("reminder index key is malformed".into()))?;
    let due = u64::from_be_bytes(due.try_into().unwrap_or_default()) ^ (1 << 63);
    Ok((due as i64, key))
}

/// The stored value of a reminder: its due time, then its record.
pub(crate) fn reminder_value(due_ms: i64, record: &[u8]) -> Vec<u8> {
    let mut value = due_ms.to_be_bytes().to_vec();
    value.extend_from_slice(record);
    value
}

/// A stored reminder value: its due time, then its record.
pub(crate) fn split_reminder(value: &[u8]) -> Result<(i64, &[u8]), StoreError> {
    let (due, record) = value
        .split_at_checked(8)
        .ok_or_else(|| StoreError::Corrupt("reminder value is malformed".into()))?;
    Ok((
        i64::from_be_bytes(due.try_into().unwrap_or_default()),
        record,
    ))
}
