//! The sled store's reminders: each stored with its due time in front of its record, and
//! an entry in the `reminders_due` index (due time, then reminder key) that windows are
//! read from.

use std::ops::Bound;

use sled::Tree;
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError, Transactional,
    TransactionalTree,
};

use super::{SEP, SledStore, reminder_key};
use crate::store::{ReminderChange, ReminderCursor, StoreError, StoredReminder};
use crate::types::ActorId;

impl SledStore {
    /// Write a reminder and its due-time index entry. The new index entry goes first and
    /// the old one last, so a crash at any point leaves the reminder findable by its due
    /// time; an index entry left stale is dropped when a read meets it.
    pub(super) fn put_reminder_now(
        &self,
        actor: &ActorId,
        name: &str,
        due_ms: i64,
        record: Vec<u8>,
    ) -> Result<(), StoreError> {
        let key = reminder_key(actor, name);
        self.reminders_due.insert(due_key(due_ms, &key), &[])?;
        let old = self
            .reminders
            .insert(&key, reminder_value(due_ms, &record))?;
        if let Some(old) = old {
            let (old_due, _) = split_reminder(&old)?;
            if old_due != due_ms {
                self.reminders_due.remove(due_key(old_due, &key))?;
            }
        }
        Ok(())
    }

    /// Delete a reminder and its index entry; whether it existed. A crash between the two
    /// leaves an index entry that the next read drops.
    pub(super) fn delete_reminder_now(
        &self,
        actor: &ActorId,
        name: &str,
    ) -> Result<bool, StoreError> {
        let key = reminder_key(actor, name);
        let Some(old) = self.reminders.remove(&key)? else {
            return Ok(false);
        };
        let (due_ms, _) = split_reminder(&old)?;
        self.reminders_due.remove(due_key(due_ms, &key))?;
        Ok(true)
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

/// Write an actor's record (`record` at `key`) and its reminder changes in one sled
/// transaction over the record, reminder and due-index trees.
pub(super) fn commit_with_reminders(
    (actors, reminders, due): (&Tree, &Tree, &Tree),
    key: &[u8],
    record: &[u8],
    actor: &ActorId,
    changes: &[ReminderChange],
) -> Result<(), StoreError> {
    (actors, reminders, due)
        .transaction(|(actors, reminders, due)| {
            actors.insert(key, record)?;
            for change in changes {
                apply_change(reminders, due, actor, change)?;
            }
            Ok(())
        })
        .map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        })
}

type TxResult<T> = ConflictableTransactionResult<T, StoreError>;

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// One reminder change inside a transaction, keeping the due index as the plain writes do.
fn apply_change(
    reminders: &TransactionalTree,
    due: &TransactionalTree,
    actor: &ActorId,
    change: &ReminderChange,
) -> TxResult<()> {
    let stored_due = |key: &[u8]| -> TxResult<Option<i64>> {
        match reminders.get(key)? {
            Some(value) => Ok(Some(split_reminder(&value).map_err(abort)?.0)),
            None => Ok(None),
        }
    };
    let put = |key: &[u8], due_ms: i64, record: &[u8]| -> TxResult<()> {
        due.insert(due_key(due_ms, key), &[] as &[u8])?;
        if let Some(old) = reminders.insert(key, reminder_value(due_ms, record))? {
            let (old_due, _) = split_reminder(&old).map_err(abort)?;
            if old_due != due_ms {
                due.remove(due_key(old_due, key))?;
            }
        }
        Ok(())
    };
    let delete = |key: &[u8]| -> TxResult<()> {
        if let Some(old) = reminders.remove(key)? {
            let (old_due, _) = split_reminder(&old).map_err(abort)?;
            due.remove(due_key(old_due, key))?;
        }
        Ok(())
    };
    match change {
        ReminderChange::Put {
            name,
            due_ms,
            record,
        } => put(&reminder_key(actor, name), *due_ms, record),
        ReminderChange::Delete { name } => delete(&reminder_key(actor, name)),
        ReminderChange::Advance {
            name,
            fired_due_ms,
            next,
        } => {
            let key = reminder_key(actor, name);
            if stored_due(&key)? != Some(*fired_due_ms) {
                // Replaced or deleted while it fired: the new registration stands.
                return Ok(());
            }
            match next {
                Some((due_ms, record)) => put(&key, *due_ms, record),
                None => delete(&key),
            }
        }
    }
}

/// The index key of a reminder: its due time (ordered as an unsigned big-endian number),
/// then its key.
pub(in crate::store) fn due_key(due_ms: i64, reminder_key: &[u8]) -> Vec<u8> {
    let mut k = ((due_ms as u64) ^ (1 << 63)).to_be_bytes().to_vec();
    k.extend_from_slice(reminder_key);
    k
}

fn split_due_key(index: &[u8]) -> Result<(i64, &[u8]), StoreError> {
    let (due, key) = index
        .split_at_checked(8)
        .ok_or_else(|| StoreError::Corrupt("reminder index key is malformed".into()))?;
    let due = u64::from_be_bytes(due.try_into().unwrap_or_default()) ^ (1 << 63);
    Ok((due as i64, key))
}

/// The stored value of a reminder: its due time, then its record.
pub(in crate::store) fn reminder_value(due_ms: i64, record: &[u8]) -> Vec<u8> {
    let mut value = due_ms.to_be_bytes().to_vec();
    value.extend_from_slice(record);
    value
}

/// A stored reminder value: its due time, then its record.
pub(super) fn split_reminder(value: &[u8]) -> Result<(i64, &[u8]), StoreError> {
    let (due, record) = value
        .split_at_checked(8)
        .ok_or_else(|| StoreError::Corrupt("reminder value is malformed".into()))?;
    Ok((
        i64::from_be_bytes(due.try_into().unwrap_or_default()),
        record,
    ))
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
