//! The sled store's reminders: each stored with its due time in front of its record, and
//! an entry in the `reminders_due` index (due time, then reminder key) that windows are
//! read from. A reminder written outside a turn goes through its actor's record
//! (`writes.rs`), so a replay after a crash never undoes it.

use std::ops::Bound;

use sled::Tree;

use crate::SledStore;
use crate::keys::{
    SEP, component_key, due_key, reminder_key, reminder_value, split_due_key, split_reminder,
};
use warren_store::{
    ReminderChange, ReminderCursor, ReminderStore, StoreError, StoreFuture, StoredReminder,
};
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
pub(crate) fn apply_changes(
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
    pub(crate) fn put_reminder_now(
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
    pub(crate) fn delete_reminder_now(
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
    pub(crate) fn reminders_due_now(
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
pub(crate) fn stored_reminder(key: &[u8], value: &[u8]) -> Result<StoredReminder, StoreError> {
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

impl ReminderStore for SledStore {
    fn put_reminder(
        &self,
        actor: &ActorId,
        name: &str,
        due_ms: i64,
        record: Vec<u8>,
    ) -> StoreFuture<'_, ()> {
        let written = self.put_reminder_now(actor, name, due_ms, record);
        Box::pin(async move {
            written?;
            self.durable().await
        })
    }

    fn delete_reminder(&self, actor: &ActorId, name: &str) -> StoreFuture<'_, bool> {
        let deleted = self.delete_reminder_now(actor, name);
        Box::pin(async move {
            let existed = deleted?;
            self.durable().await?;
            Ok(existed)
        })
    }

    fn reminder(&self, actor: &ActorId, name: &str) -> StoreFuture<'_, Option<StoredReminder>> {
        let found = self.reminders.get(reminder_key(actor, name));
        let (actor, name) = (actor.clone(), name.to_string());
        Box::pin(async move {
            self.writes.writable()?;
            let Some(value) = found? else { return Ok(None) };
            let (due_ms, record) = split_reminder(&value)?;
            Ok(Some(StoredReminder {
                actor,
                name,
                due_ms,
                record: record.to_vec(),
            }))
        })
    }

    fn actor_reminders(
        &self,
        tenant: &str,
        actor_type: &str,
        id: Option<&str>,
    ) -> StoreFuture<'_, Vec<StoredReminder>> {
        let mut prefix = component_key(tenant, actor_type);
        prefix.push(SEP);
        if let Some(id) = id {
            prefix.extend_from_slice(id.as_bytes());
            prefix.push(SEP);
        }
        Box::pin(async move {
            self.writes.writable()?;
            self.reminders
                .scan_prefix(&prefix)
                .map(|entry| {
                    let (key, value) = entry?;
                    stored_reminder(&key, &value)
                })
                .collect()
        })
    }

    fn reminders_due(
        &self,
        after: Option<ReminderCursor>,
        until_ms: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<StoredReminder>> {
        // Halted, nothing fires: a firing's turn could not store its progress, and would
        // run again at every read of the window until the restart.
        let due = self
            .writes
            .writable()
            .and_then(|()| self.reminders_due_now(after, until_ms, limit));
        Box::pin(async move { due })
    }
}
