//! What a state change is, and how storage fails.

/// One staged change to an actor's state: `Some` writes the value, `None` deletes the key.
pub type StateChange = (String, Option<Vec<u8>>);

/// A change to one reminder of the committing actor, written in the same commit as its
/// state. Records are the runtime's own encoding, opaque to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReminderChange {
    /// Register or replace the reminder `name`, due at `due_ms` (Unix epoch milliseconds).
    Put {
        /// The reminder's name.
        name: String,
        /// When it is next due, in milliseconds since the Unix epoch.
        due_ms: i64,
        /// The reminder as stored (the runtime's encoding, opaque to the store).
        record: Vec<u8>,
    },
    /// Delete the reminder `name` (nothing when there is none).
    Delete {
        /// The reminder's name.
        name: String,
    },
    /// A firing's progress: only while the reminder is still stored as due at
    /// `fired_due_ms` (not replaced or deleted while it fired), move it to `next`
    /// (due time and record) or, for `None`, delete it.
    Advance {
        /// The reminder's name.
        name: String,
        /// The due time that fired, in milliseconds since the Unix epoch.
        fired_due_ms: i64,
        /// The next due time (Unix epoch milliseconds) and the record to store; `None`
        /// deletes the reminder.
        next: Option<(i64, Vec<u8>)>,
    },
}

impl ReminderChange {
    /// The name of the reminder it changes.
    pub fn name(&self) -> &str {
        match self {
            ReminderChange::Put { name, .. }
            | ReminderChange::Delete { name }
            | ReminderChange::Advance { name, .. } => name,
        }
    }
}

/// Errors of the storage layer.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing the storage failed; the message is the backend's.
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// A stored record could not be decoded; the message says what is wrong with it.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// Optimistic concurrency: the actor's state was committed by someone else since it
    /// was loaded.
    #[error("the actor's state moved: expected version {expected}, found {found}")]
    Conflict {
        /// The version the state was loaded at.
        expected: u64,
        /// The version the store holds now.
        found: u64,
    },
    /// The store is shutting down and takes no more requests.
    #[error("the store is shutting down")]
    Closed,
    /// A write may have reached the store only in part (a flush to disk failed, or a
    /// commit stopped between its record and its reminders): the store refuses every
    /// write, and every read of actor records and reminders, until the host restarts and
    /// recovers from what is on disk.
    #[error("the store halted until the host restarts: {0}")]
    Halted(String),
    /// Cluster mode: this host does not hold the actor's partition (any more), so the
    /// database refuses its write; the actor lives on another host now.
    #[error("this host no longer owns partition {partition}; the actor moved")]
    Fenced {
        /// The partition the actor belongs to.
        partition: u32,
    },
    /// A reminder's firing committed with its progress, but the reminder no longer
    /// fires at that due time (another firing moved it on, or it was registered again or
    /// deleted): nothing of the firing's turn is written, so no due time commits twice.
    #[error("reminder {name:?} no longer fires at this due time; the firing was not committed")]
    Fired {
        /// The reminder's name.
        name: String,
    },
}

#[cfg(feature = "sled")]
impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}
