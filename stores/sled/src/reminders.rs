//! The sled store's reminders: each stored with its due time in front of its record, and
//! an entry in the `reminders_due` index (due time, then reminder key) that windows are
//! read from.

use std::ops::Bound;

use sled::Tree;

use super::SledStore;
use crate::keys::{SEP, due_key, reminder_key, reminder_value, split_due_key, split_reminder};
use warren_store::{ReminderChange, ReminderCursor, StoreError, StoredReminder};
use warren_wire::types::ActorId;

/// Write a reminder and its due-time index entry. The new index entry goes first and the
/// old one last, so a crash at any point leaves the reminder findable by its due time; an
/// index entry left stale is dropped when a read meets it.
fn put_in(
    (reminders, due): (&Tree, &Tree),
    key: &[u8],
    due_ms: i64,
    record: &[u8],
) -> Result<(), StoreError> {
    due.insert(due_key(due_ms, key), &[])?;
    if let Some(old) = reminders.insert(key, reminder_value(due_ms, record))? {
        let (old_due, _) = split_reminder(&old)?;
        if old_due != due_ms {
            due.remove(due_key(old_due, key))?;
        }
    }
    Ok(())
}

/// Delete a reminder and its index entry; whether it existed. A crash between the two
/// leaves an index entry that the next read drops.
fn delete_in((reminders, due): (&Tree, &Tree), key: &[u8]) -> Result<bool, StoreError> {
    let Some(old) = reminders.remove(key)? else {
        return Ok(false);
    };
    let (old_due, _) = split_reminder(&old)?;
    due.remove(due_key(old_due, key))?;
    Ok(true)
}

/// Apply a commit's reminder changes of `actor`, in order, right after its record (which
/// carries them) was written. Applying them twice changes nothing more: a put writes the
/// same value, a delete finds nothing, an advance finds the reminder already moved.
pub(super) fn apply_changes(
    trees: (&Tree, &Tree),
    actor: &ActorId,
    changes: &[ReminderChange],
) -> Result<(), StoreError> {
    for change in changes {
        match change {
            ReminderChange::Put {
                name,
                due_ms,
                record,
            } => put_in(trees, &reminder_key(actor, name), *due_ms, record)?,
            ReminderChange::Delete { name } => {
                delete_in(trees, &reminder_key(actor, name))?;
            }
            ReminderChange::Advance {
                name,
                fired_due_ms,
                next,
            } => {
                let key = reminder_key(actor, name);
                let stored_due = match trees.0.get(&key)? {
                    Some(value) => Some(split_reminder(&value)?.0),
                    None => None,
                };
                if stored_due != Some(*fired_due_ms) {
                    // Replaced or deleted while it fired: the new registration stands.
                    continue;
                }
                match next {
                    Some((due_ms, record)) => put_in(trees, &key, *due_ms, record)?,
                    None => {
                        delete_in(trees, &key)?;
                    }
                }
            }
        }
    }
    Ok(())
}

impl SledStore {
    /// Write a reminder and its due-time index entry, through the actor's record (see
    /// `ActorWrites::change_reminder`).
    pub(super) fn put_reminder_now(
        &self,
        actor: &ActorId,
        name: &str,
        due_ms: i64,
        record: Vec<u8>,
    ) -> Result<(), StoreError> {
        let change = ReminderChange::Put {
            name: name.to_string(),
            due_ms,
            record,
        };
        self.writes.change_reminder(actor, change).map(drop)
    }

    /// Delete a reminder and its index entry; whether it existed.
    pub(super) fn delete_reminder_now(
        &self,
        actor: &ActorId,
        name: &str,
    ) -> Result<bool, StoreError> {
        let change = ReminderChange::Delete {
            name: name.to_string(),
        };
        self.writes.change_reminder(actor, change)
    }

    /// Up to `limit` reminders due by `until_ms`, after `after`, in due order.
    pub(super) fn reminders_due_now(
        &self,
        after: Option<ReminderCursor>,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredReminder>, StoreError> {
        let from = match &after {
            Some((due_ms, actor, name)) => {
                Bound::Excluded(due_key(*due_ms, &reminder_key(actor, name)))
            }
            None => Bound::Unbounded,
        };
        let to = Bound::Included(due_key(until_ms, &[0xff]));
        let mut due = Vec::new();
        for entry in self.reminders_due.range::<Vec<u8>, _>((from, to)) {
            if due.len() >= limit {
                break;
            }
            let (index, _) = entry?;
            let (index_due, key) = split_due_key(&index)?;
            // An index entry a crash left behind, or one the record moved away from.
            match self.reminders.get(key)? {
                Some(value) if split_reminder(&value)?.0 == index_due => {
                    due.push(stored_reminder(key, &value)?);
                }
                _ => {
                    self.reminders_due.remove(&index)?;
                }
            }
        }
        Ok(due)
    }
}

/// A reminder from its key and stored value.
pub(super) fn stored_reminder(key: &[u8], value: &[u8]) -> Result<StoredReminder, StoreError> {
    let corrupt = || StoreError::Corrupt("reminder key is malformed".into());
    let text = std::str::from_utf8(key).map_err(|_| corrupt())?;
    let mut parts = text.splitn(4, SEP as char);
    let (Some(tenant), Some(actor_type), Some(id), Some(name)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt());
    };
    let (due_ms, record) = split_reminder(value)?;
    Ok(StoredReminder {
        actor: ActorId::new(tenant, actor_type, id),
        name: name.to_string(),
        due_ms,
        record: record.to_vec(),
    })
}
